"""Resolve the README's pip install against the package index, without installing or downloading it.

Issue 24: `constraints.txt` once pinned a Triton that PyPI's torch 2.13.0 (a CUDA build on Linux)
cannot run with, so the README's install failed from the public index (ResolutionImpossible)
and worked only where a CPU wheel of torch was already on disk. This check resolves the install
in two ways, each with `pip install --dry-run --ignore-installed --report`, and fails on either:

  cpu     the README's CPU install: PyPI plus PyPI's sibling, PyTorch's CPU wheel index
          (torch 2.13.0+cpu sorts above PyPI's 2.13.0, so pip takes it), with constraints.txt.
          Checked: it resolves, torch is a +cpu build, and nothing from CUDA (nvidia-*, cuda-*)
          comes with it.
  public  PyPI alone with constraints.txt: what a user gets who leaves the CPU index out (torch
          2.13.0's CUDA build and its ~20 CUDA wheels). Checked: it resolves, so no pin in
          constraints.txt conflicts with what torch's CUDA build requires.

pip only ever fetches metadata: `--use-feature=fast-deps` reads each wheel's METADATA through
HTTP range requests (the mirror this project's machines use drops PEP 658's metadata links,
without which --dry-run would download every wheel: GBs for the CUDA build). pip runs with no
configuration of this machine (PIP_CONFIG_FILE=/dev/null, no PIP_* index variables), so a local
wheelhouse cannot stand in for the index unless this script says so.

Where PyTorch's CPU index cannot be reached (machines that reach only a PyPI mirror), the `cpu`
resolution takes the torch CPU wheel from pip's own find-links (pip config, PIP_FIND_LINKS) in
its place and says so: then what is checked is that torch 2.13.0+cpu with the rest of PyPI
resolves, not that PyTorch's index serves it.

  lock    the CPU install once more with the lock of every package's exact version
          (``locks/cpu-<python>-<platform>.txt``, written by ``--write-lock``) as a second
          constraints file. Checked: it resolves, and to exactly the locked set (nothing
          unlocked comes in, nothing locked is left out): the lock is complete and current.
          Skipped, said in one line, where no lock exists for this Python and platform.

It resolves for this interpreter's Python version and platform only.

    python tools/check_install.py                 # the resolutions (a minute or two, network)
    python tools/check_install.py --index-args    # the pip arguments of the CPU index, if it answers
    python tools/check_install.py --write-lock    # (re)write this Python's lock from the cpu route
    python tools/check_install.py --lock-path     # its path, where there is one (make install)
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPI = "https://pypi.org/simple"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
EXTRAS = "book,test"
CUDA_PACKAGE = re.compile(r"^(nvidia-|cuda-)")
SELF = "lra-book"                      # this project: installed editable, never locked


def lock_path(root: Path = ROOT) -> Path:
    """The lock of this interpreter's Python version and platform."""
    import platform
    return root / "locks" / (f"cpu-py{sys.version_info.major}{sys.version_info.minor}-"
                             f"{sys.platform}-{platform.machine()}.txt")


def read_lock(path: Path) -> dict[str, str]:
    """name -> version of a lock file (``name==version`` lines; comments and blanks skipped)."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            out[name.strip().lower()] = version.strip()
    return out


def write_lock(path: Path, v: dict[str, str], how: str) -> None:
    from datetime import date
    lines = [f"# Every package of the README's CPU install, at the version pip resolved on "
             f"{date.today().isoformat()},",
             f"# for Python {sys.version_info.major}.{sys.version_info.minor} on {sys.platform} "
             f"(written by `python tools/check_install.py --write-lock`; {how}).",
             "# The exact environment CI tests, used as a second constraints file:",
             f"#   pip install --extra-index-url {CPU_INDEX} -c constraints.txt \\",
             f"#       -c {path.relative_to(ROOT)} -e '.[{EXTRAS}]'"]
    lines += [f"{n}=={v[n]}" for n in sorted(v) if n != SELF]
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def check_lock(rc, report, log, lock: dict[str, str]) -> list[str]:
    if rc != 0:
        return [f"lock: the README's CPU install does not resolve with {lock_path().name}:\n"
                f"{log[-3000:]}"]
    v = {n: ver for n, ver in versions(report).items() if n != SELF}
    extra = sorted(set(v) - set(lock))
    left_out = sorted(set(lock) - set(v))
    problems = []
    if extra:
        problems.append(f"lock: {len(extra)} package(s) come in that the lock does not pin: "
                        f"{', '.join(extra)} (rewrite it: --write-lock)")
    if left_out:
        problems.append(f"lock: {len(left_out)} locked package(s) no longer come in: "
                        f"{', '.join(left_out)} (rewrite it: --write-lock)")
    if not problems:
        print(f"lock   ({lock_path().name}): resolves to exactly its {len(lock)} pinned packages")
    return problems


def reachable(index: str, timeout: float = 10.0) -> bool:
    """Whether an index answers for torch (the CPU index is the one that may be out of reach)."""
    try:
        with urllib.request.urlopen(f"{index}/torch/", timeout=timeout) as r:
            return r.status == 200
    except Exception:
        return False


def index_args() -> list[str]:
    """The arguments that add PyTorch's CPU index to a pip install: none where it does not
    answer (then the CPU wheel must come from pip's own configuration, as on a machine that
    reaches only a PyPI mirror and holds the wheel on disk)."""
    if reachable(CPU_INDEX):
        return ["--extra-index-url", CPU_INDEX]
    print(f"note: {CPU_INDEX} does not answer; torch's CPU wheel must come from pip's "
          f"configuration (`pip config list`: find-links or an index)", file=sys.stderr)
    return []


def pin(name: str) -> str | None:
    """The version constraints.txt pins for a package (None: not pinned)."""
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        m = re.match(rf"\s*{re.escape(name)}\s*==\s*([^\s;#]+)", line)
        if m:
            return m.group(1)
    return None


def configured_find_links() -> list[str]:
    """pip's find-links on this machine (environment and configuration files)."""
    links = os.environ.get("PIP_FIND_LINKS", "").split()
    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        key, _, value = line.partition("=")
        if key.endswith("find-links"):
            links += value.strip().strip("'\"").split()
    return links


def local_cpu_wheel(version: str) -> Path | None:
    """A torch `version`+cpu wheel for this Python in one of pip's find-links folders."""
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    for link in configured_find_links():
        folder = Path(link.removeprefix("file://"))
        if folder.is_dir():
            for wheel in sorted(folder.glob(f"torch-{version}+cpu-{tag}-{tag}-*.whl")):
                return wheel
    return None


def resolve(name: str, extra_args: list[str]) -> tuple[int, dict | None, str]:
    """pip's dry-run resolution of the README's install, with no configuration of this machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_DEFAULT_TIMEOUT="60")
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
               "--use-feature=fast-deps", "--report", str(report),
               "--index-url", PYPI, *extra_args, "-c", "constraints.txt", "-e", f".[{EXTRAS}]"]
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        data = json.loads(report.read_text()) if p.returncode == 0 and report.exists() else None
    return p.returncode, data, (p.stdout + p.stderr).strip()


def versions(report: dict) -> dict[str, str]:
    return {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in report["install"]}


def check_cpu(rc, report, log, how) -> list[str]:
    if rc != 0:
        return [f"cpu ({how}): pip could not resolve the README's CPU install:\n{log[-3000:]}"]
    v = versions(report)
    problems = []
    if not v.get("torch", "").endswith("+cpu"):
        problems.append(f"cpu ({how}): torch resolved to {v.get('torch')!r}, not a +cpu build")
    cuda = sorted(n for n in v if CUDA_PACKAGE.match(n))
    if cuda:
        problems.append(f"cpu ({how}): CUDA packages come with it: {', '.join(cuda)}")
    print(f"cpu    ({how}): resolves; {len(v)} packages; torch {v.get('torch')}, "
          f"triton {v.get('triton', '-')}, no CUDA package")
    return problems


def check_public(rc, report, log) -> list[str]:
    if rc != 0:
        return [f"public (PyPI alone): a pin in constraints.txt conflicts with PyPI's torch:\n"
                f"{log[-3000:]}"]
    v = versions(report)
    cuda = sorted(n for n in v if CUDA_PACKAGE.match(n))
    print(f"public (PyPI alone): resolves; {len(v)} packages; torch {v.get('torch')}, "
          f"triton {v.get('triton', '-')}, {len(cuda)} CUDA packages (metadata only, nothing "
          "downloaded)")
    return []


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index-args", action="store_true",
                    help="print the pip arguments that add PyTorch's CPU index (if it answers)")
    ap.add_argument("--lock-path", action="store_true",
                    help="print the path of this Python's lock if there is one (make install)")
    ap.add_argument("--write-lock", action="store_true",
                    help=f"write this Python's lock ({lock_path().relative_to(ROOT)}) from the "
                         "CPU install's resolution")
    args = ap.parse_args(argv)
    if args.index_args:
        print(" ".join(index_args()))
        return 0
    if args.lock_path:
        if lock_path().is_file():
            print(lock_path().relative_to(ROOT))
        return 0
    if not reachable(PYPI):
        print(f"check_install: SKIPPED: {PYPI} does not answer, nothing can be resolved")
        return 0
    torch = pin("torch")
    if reachable(CPU_INDEX):
        cpu_args, how = ["--extra-index-url", CPU_INDEX], f"PyPI + {CPU_INDEX}"
    else:
        wheel = local_cpu_wheel(torch)
        if wheel is None:
            print(f"check_install: FAILED: {CPU_INDEX} does not answer and pip's find-links "
                  f"hold no torch {torch}+cpu wheel for this Python to stand in for it")
            return 1
        stand_in = tempfile.mkdtemp(prefix="torch-cpu-")      # that wheel alone, nothing else
        (Path(stand_in) / wheel.name).symlink_to(wheel)
        cpu_args = ["--find-links", stand_in]
        how = f"PyPI + {wheel.name} standing in for {CPU_INDEX}, which does not answer here"
    print(f"check_install: resolving `pip install -c constraints.txt -e '.[{EXTRAS}]'` for "
          f"Python {sys.version_info.major}.{sys.version_info.minor} on {sys.platform} "
          "(metadata only)", flush=True)
    if args.write_lock:
        rc, report, log = resolve("cpu", cpu_args)
        problems = check_cpu(rc, report, log, how)
        if problems:
            print(f"check_install: FAILED: {problems[0]}")
            return 1
        write_lock(lock_path(), versions(report), how)
        print(f"check_install: wrote {lock_path().relative_to(ROOT)} "
              f"({len(read_lock(lock_path()))} packages)")
        return 0
    lock = read_lock(lock_path()) if lock_path().is_file() else None
    with ThreadPoolExecutor(3) as pool:
        cpu = pool.submit(resolve, "cpu", cpu_args)
        public = pool.submit(resolve, "public", [])
        locked = pool.submit(resolve, "lock", [*cpu_args, "-c", str(lock_path())]) \
            if lock is not None else None
        problems = check_cpu(*cpu.result(), how) + check_public(*public.result())
        if locked is not None:
            problems += check_lock(*locked.result(), lock)
        else:
            print(f"lock   : none for this Python and platform ({lock_path().name}); skipped")
    for p in problems:
        print(f"check_install: FAILED: {p}")
    if not problems:
        print("check_install: OK: the README's CPU install resolves, and constraints.txt "
              "agrees with PyPI's torch")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
