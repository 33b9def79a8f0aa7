"""What the ``lra`` command's subcommands share: the one-line usage error (exit status 2), the
checks of their input, the book's notebooks and their parameters, and the CPU threads to use."""
from __future__ import annotations

import argparse
import os
import re
import subprocess
from pathlib import Path

from lra.campaign.store import repo_root

EXIT_BAD_INPUT = 2


class UsageError(Exception):
    pass


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        raise UsageError(message)


def book_dir() -> Path:
    return repo_root() / "book"


def notebooks() -> dict[str, Path]:
    return {p.stem: p for p in sorted(book_dir().glob("*.ipynb"))}


def resolve_notebook(name: str) -> Path:
    nbs = notebooks()
    stem = Path(name).stem
    if stem not in nbs:
        raise UsageError(f"unknown notebook {name!r}; valid notebooks: {', '.join(nbs)}")
    return nbs[stem]


def parse_duration(text: str) -> float:
    """'90s', '12m', '1h30m', '2h', or plain seconds; must be positive."""
    t = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", t):
        value = float(t)
    else:
        m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", t)
        if not t or not m or not any(m.groups()):
            raise UsageError(f"bad duration {text!r}; use e.g. 90s, 12m, 1h30m")
        h, mi, s = (int(g or 0) for g in m.groups())
        value = h * 3600 + mi * 60 + s
    if not value > 0:
        raise UsageError(f"bad duration {text!r}: the time limit must be positive")
    return value


def check_device(device: str, here: bool = True) -> None:
    """A syntactically valid device that this machine's PyTorch can also use (``here=False``:
    the name only, for jobs that run elsewhere)."""
    from lra.campaign.params import ParameterError, validate
    try:
        validate(device=device)
    except ParameterError as e:
        raise UsageError(str(e)) from None
    if here and device.startswith("cuda"):
        import torch
        if not torch.cuda.is_available():
            why = ("this PyTorch build has no CUDA support" if torch.version.cuda is None
                   else "no CUDA device is visible")
            raise UsageError(f"device {device!r} requested but {why}; use --device cpu or auto")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise UsageError(f"device {device!r} requested but only "
                             f"{torch.cuda.device_count()} CUDA device(s) exist")


def check_kernel(name: str) -> None:
    from jupyter_client.kernelspec import KernelSpecManager
    specs = KernelSpecManager().find_kernel_specs()
    if name not in specs:
        raise UsageError(f"unknown Jupyter kernel {name!r}; installed kernels: "
                         f"{', '.join(sorted(specs)) or '(none)'}")


def check_output_path(out: Path, notebook: Path) -> Path:
    """Refuse to write the executed notebook over the project's own files."""
    root = repo_root().resolve()
    target = out.expanduser().resolve()
    if target.is_dir():
        raise UsageError(f"-o {out}: is a directory; give a file name ending in .ipynb")
    if target == notebook.resolve():
        raise UsageError(f"-o {out}: would overwrite the chapter itself")
    for protected in ("book", "results", "lra", "tests"):
        d = root / protected
        if target == d or d in target.parents:
            raise UsageError(f"-o {out}: refusing to write under {protected}/ (the project's "
                             "files); write to runs/ (the default) or outside the checkout")
    if root in target.parents and target.exists():
        tracked = subprocess.run(["git", "ls-files", "--error-unmatch", str(target)], cwd=root,
                                 capture_output=True, text=True)
        if tracked.returncode == 0:
            raise UsageError(f"-o {out}: refusing to overwrite a file tracked by git")
    return target


def check_checkpoints(folder: Path) -> None:
    """Every in-flight checkpoint must read as one (lra.engine.checkpoints.read: tensors and plain
    data only, nothing unpickled that could run code; a torn one is reported before anything
    runs)."""
    if not folder.is_dir():
        return
    from lra.engine.checkpoints import CheckpointError, read
    for ck in sorted(folder.glob("*.pt")):
        try:
            read(ck)
        except CheckpointError as e:
            raise UsageError(f"checkpoint {ck} is unreadable ({one_line(e)[:200]}); delete it "
                             "to start that population afresh") from None


def physical_cores() -> int:
    """Physical cores this process may use (logical CPUs when the topology is unknown)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 1
    cores = set()
    try:
        phys = core = None
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("physical id"):
                phys = line.split(":")[1].strip()
            elif line.startswith("core id"):
                core = line.split(":")[1].strip()
                cores.add((phys, core))
    except OSError:
        pass
    return max(1, min(usable, len(cores) if cores else usable))


def default_threads(cap: int = 4) -> tuple[int, str]:
    """min(physical cores, 4), less the cores other processes keep busy (1-minute load
    average), at least 1: more threads than free cores makes PyTorch much slower, not faster."""
    cores = physical_cores()
    try:
        busy = int(os.getloadavg()[0] + 0.5)
    except (AttributeError, OSError):
        busy = 0
    n = max(1, min(cap, cores, cores - busy))
    return n, f"{cores} physical core(s), load {busy}"


def notebook_parameters(path: Path) -> dict:
    import papermill as pm
    return pm.inspect_notebook(str(path))


def default_type(param: dict) -> str | None:
    """The type of a parameter's default value in the notebook ("int", "bool", ...)."""
    import ast
    inferred = param.get("inferred_type_name")
    if inferred and inferred != "None":
        return inferred
    try:
        value = ast.literal_eval(param.get("default", ""))
    except (ValueError, SyntaxError):
        return None
    return None if value is None else type(value).__name__


def one_line(e) -> str:
    return " ".join(str(e).split())
