"""Who produced a bundle: optional SSH signatures (``ssh-keygen -Y``), checked by ``lra ingest``.

Hashes and recomputation (:mod:`lra.campaign.bundle`, :mod:`lra.campaign.recompute`) say that a
bundle is undamaged and its numbers genuine; a signature says whose machine sent it. A bundle
``run.tgz`` is signed beside it, with the producer's SSH key, in the namespace
:data:`NAMESPACE`::

    ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n lra-bundle run.tgz      # writes run.tgz.sig

and the keys whose signatures name a producer are listed in the repository's allowed-signers
file (:data:`ALLOWED_SIGNERS`, the format of ssh-keygen(1) ``ALLOWED SIGNERS``: one
``principal namespaces="lra-bundle" ssh-ed25519 AAAA...`` line each). OpenSSH is a well-kept
tool found on every machine that runs git over SSH; nothing here is cryptography of our own.

:func:`check` refuses (one line) a signature that does not verify over the bundle (the bundle
changed after it was signed, or the file is not a signature) or whose allowed signer does not
verify; a bundle that is unsigned, or signed by a key the file does not list, is only said to
be so, unless a signature is required. Without ssh-keygen the signature is not checked, and the
report says so in one phrase.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from lra.campaign.bundle import Bundle

NAMESPACE = "lra-bundle"
ALLOWED_SIGNERS = Path(".lra") / "allowed_signers"


def signature_path(bundle: Path) -> Path:
    return Path(bundle).with_name(Path(bundle).name + ".sig")


def _keygen(*args, data: Path | None = None) -> subprocess.CompletedProcess:
    with open(data, "rb") if data else open("/dev/null", "rb") as stdin:
        return subprocess.run(["ssh-keygen", "-Y", *args], stdin=stdin, capture_output=True,
                              text=True, timeout=60)


def _first_line(out: subprocess.CompletedProcess) -> str:
    text = " ".join((out.stderr or out.stdout or "").split())
    return text[:160] or f"exit status {out.returncode}"


def check(b: Bundle, allowed: Path, required: bool = False) -> str:
    """What ``b``'s signature says (``signed by PRINCIPAL``, ``unsigned``, ...), or refuse it."""
    sig, allowed = signature_path(b.path), Path(allowed)
    unsigned = None
    if not sig.is_file():
        unsigned = f"unsigned (no {sig.name})"
    elif shutil.which("ssh-keygen") is None:
        unsigned = "signature not checked (ssh-keygen not found)"
    if unsigned:
        if required:
            b.refuse(f"a signature is required and it is {unsigned}")
        return unsigned
    good = _keygen("check-novalidate", "-n", NAMESPACE, "-s", str(sig), data=b.path)
    if good.returncode != 0:
        b.refuse(f"its signature {sig.name} does not verify over it (the bundle changed after it "
                 f"was signed, or that file is no SSH signature of namespace {NAMESPACE}: "
                 f"{_first_line(good)})")
    found = _keygen("find-principals", "-s", str(sig), "-f", str(allowed)) \
        if allowed.is_file() else None
    principals = found.stdout.split() if found is not None and found.returncode == 0 else []
    if not principals:
        unknown = f"signed by a key not in {allowed}" if allowed.is_file() else \
            f"signed, but there is no allowed-signers file {allowed}"
        if required:
            b.refuse(f"a signature is required and it is {unknown}")
        return unknown
    for principal in principals:
        out = _keygen("verify", "-f", str(allowed), "-I", principal, "-n", NAMESPACE, "-s",
                      str(sig), data=b.path)
        if out.returncode == 0:
            return f"signed by {principal} ({allowed.name})"
    b.refuse(f"its signature by {principals[0]} does not verify against {allowed} "
             f"({_first_line(out)})")
