"""Reading a result bundle's ``.tgz`` within limits, before anything in it is trusted.

A bundle comes from a machine we do not control (:mod:`lra.campaign.bundle`). Its members are
checked from their tar headers before any member's contents are read: each is a regular file
(no link, device, folder or FIFO) named as the bundle format names its files (no absolute path,
no ``..``), of a size within its kind's limit, and there are at most :data:`MAX_MEMBERS` of them
holding at most :data:`MAX_TOTAL_BYTES` together. Reading stops at the first header that breaks
a rule, so a member of 1 GiB of zeros (1 MB compressed) is refused at its header: never
decompressed, never held.

The gzip stream is read twice, one 512-byte tar header at a time (parsed by the standard
library's ``tarfile.TarInfo.frombuf``): the first pass checks every header and decompresses the
members' contents only to step over them, dropping them; the second reads the contents, after the
first accepted every header (and checks each header again). ``TarFile.next`` is not used: it
reads a pax or GNU long-name header's body whole into memory before its caller sees the header.
Only the pax records ``tarfile`` writes for a long name (and time and owner records, which are
ignored) are accepted; a pax ``size`` or ``linkpath``, GNU long names and sparse files are
refused. Nothing is ever extracted to disk here.
"""
from __future__ import annotations

import gzip
import hashlib
import re
import tarfile
import zlib
from pathlib import Path

MiB, GiB = 1 << 20, 1 << 30
# The limits, generous for real bundles. The largest real bundle is a GPU slice of the paper
# campaign: at most ~11,200 rows (every key of every experiment at the paper budget), a runs.csv
# row being at most ~50 KB (a curve of 1,001 checks and 10,000 packed validation bits), so the
# largest table (Table V's regularised curriculum, 4,050 rows) is ~200 MB; a probes file ~1 MB
# (1,000 probes of T = 10 steps); a checkpoint of a 2048-member population (the CUDA default)
# of the widest task (random permutation: 100 inputs and outputs, 121 KB of weights per
# member, live rows and archive) ~500 MB plus ~60 MB of curves; a manifest ~2 MB (a key and two
# hashes per row, a provenance per write). Ingest holds a bundle's files in memory, so
# MAX_TOTAL_BYTES is also the most memory one bundle can take.
MAX_MEMBERS = 100_000                       # a row, a probes file, a checkpoint: ~11,200 at most
MAX_TOTAL_BYTES = 4 * GiB                   # all rows (~0.6 GB) + a few stopped populations
MAX_MEMBER_BYTES = {"manifest": 64 * MiB,   # ~2 MB at most
                    "table": 512 * MiB,     # ~200 MB at most
                    "probes": 64 * MiB,     # ~1 MB (30 MB for probes of T = 300)
                    "checkpoint": 768 * MiB}  # ~560 MB at most
MAX_PAX_BYTES = 64 * 1024                   # a pax header: a long name is a few hundred bytes
PAX_KEYWORDS = {"path", "mtime", "atime", "ctime", "uid", "gid", "uname", "gname", "comment"}

BLOCK = tarfile.BLOCKSIZE
CHUNK = 1 << 20
# What the bundle format names its files (lra.campaign.bundle: manifest.json,
# tables/<experiment>/<budget>/runs.csv, tables/<experiment>/<budget>/probes/<key>.json,
# checkpoints/<budget>/<population>.pt). A name segment starts with a letter, digit or
# underscore: no "..", no hidden file, no absolute path. The manifest must then name each file
# exactly where the format puts it (lra.campaign.bundle.verify).
_SEG = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
KINDS = {"manifest": re.compile(r"manifest\.json"),
         "table": re.compile(rf"tables/(?:{_SEG}/){{0,2}}{_SEG}\.csv"),
         "probes": re.compile(rf"tables/(?:{_SEG}/){{0,3}}{_SEG}\.json"),
         "checkpoint": re.compile(rf"checkpoints/(?:{_SEG}/)?{_SEG}\.pt")}
NOT_FILES = {tarfile.SYMTYPE: "a symbolic link", tarfile.LNKTYPE: "a hard link",
             tarfile.CHRTYPE: "a character device", tarfile.BLKTYPE: "a block device",
             tarfile.FIFOTYPE: "a FIFO", tarfile.DIRTYPE: "a folder",
             tarfile.CONTTYPE: "a contiguous file", tarfile.GNUTYPE_SPARSE: "a sparse file",
             tarfile.GNUTYPE_LONGNAME: "a GNU long name", tarfile.GNUTYPE_LONGLINK:
             "a GNU long link", tarfile.XGLTYPE: "a pax global header"}


class BundleRefused(Exception):
    """A bundle that does not verify; the message is one line naming the bundle and the reason."""


def member_kind(name: str) -> str | None:
    """The kind of bundle file ``name`` is (a key of :data:`MAX_MEMBER_BYTES`), or None."""
    return next((k for k, pattern in KINDS.items() if pattern.fullmatch(name)), None)


def _size(n: int) -> str:
    return f"{n / GiB:.1f} GiB" if n >= GiB else f"{n / MiB:.1f} MiB" if n >= MiB else f"{n} bytes"


class _Reader:
    """One pass over the members of the bundle at ``path``."""

    def __init__(self, path: Path, stream):
        self.path, self.stream = path, stream

    def refuse(self, why: str):
        raise BundleRefused(f"bundle {self.path}: {why}")

    def exact(self, n: int) -> bytes:
        data = self.stream.read(n)
        if len(data) != n:
            self.refuse("not a readable bundle (the archive is truncated)")
        return data

    def skip(self, n: int) -> None:
        while n:
            chunk = self.stream.read(min(n, CHUNK))
            if not chunk:
                self.refuse("not a readable bundle (the archive is truncated)")
            n -= len(chunk)

    def pax_name(self, size: int) -> str | None:
        """The name a pax header gives the next member (None: its own); refuses any record but
        those tarfile writes for a long name, times and owners."""
        if size > MAX_PAX_BYTES:
            self.refuse(f"unsafe member: a pax header of {size} bytes (at most {MAX_PAX_BYTES})")
        body = self.exact(-(-size // BLOCK) * BLOCK)[:size]
        records, pos = {}, 0
        while pos < len(body):
            space = body.find(b" ", pos)
            length = int(body[pos:space]) if space > pos else 0
            record = body[space + 1:pos + length]
            if length <= 0 or pos + length > len(body) or not record.endswith(b"\n") \
                    or b"=" not in record:
                self.refuse("not a readable bundle (a malformed pax header)")
            key, _, value = record[:-1].partition(b"=")
            key = key.decode("ascii", "replace")
            if key not in PAX_KEYWORDS:
                self.refuse(f"unsafe member: a pax header sets {key!r}")
            records[key] = value.decode("utf-8")
            pos += length
        return records.get("path")

    def walk(self, collect: bool) -> dict[str, bytes]:
        """Check every header; with ``collect`` also read the members' contents."""
        files: dict[str, bytes] = {}
        seen, total, name_from_pax = set(), 0, None
        while True:
            block = self.exact(BLOCK)
            if block == tarfile.NUL * BLOCK:      # the end of the archive
                if name_from_pax is not None:
                    self.refuse("not a readable bundle (a pax header without its member)")
                return files
            info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
            if info.type == tarfile.XHDTYPE:
                name_from_pax = self.pax_name(info.size)
                continue
            name, name_from_pax = (name_from_pax or info.name), None
            if info.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
                self.refuse(f"unsafe member {name!r}: "
                            f"{NOT_FILES.get(info.type, f'of tar type {info.type!r}')}, "
                            "not a regular file")
            kind = member_kind(name)
            if kind is None:
                self.refuse(f"unsafe member {name!r}: not a file of a bundle (manifest.json, "
                            "tables/EXPERIMENT/BUDGET/runs.csv or probes/KEY.json, "
                            "checkpoints/BUDGET/POPULATION.pt)")
            if name in seen:
                self.refuse(f"unsafe member {name!r}: in the archive twice")
            seen.add(name)
            if len(seen) > MAX_MEMBERS:
                self.refuse(f"more than {MAX_MEMBERS} members")
            if info.size > MAX_MEMBER_BYTES[kind]:
                self.refuse(f"member {name!r} holds {_size(info.size)}, more than a {kind} "
                            f"file may ({_size(MAX_MEMBER_BYTES[kind])})")
            total += info.size
            if total > MAX_TOTAL_BYTES:
                self.refuse(f"its members hold more than {_size(MAX_TOTAL_BYTES)}")
            if collect:
                files[name] = self.exact(info.size)
                self.skip(-info.size % BLOCK)
            else:
                self.skip(-(-info.size // BLOCK) * BLOCK)


def read_members(path: Path) -> tuple[dict[str, bytes], str]:
    """({name: contents} of the bundle at ``path``, the sha256 of its file), after every tar
    header passed the checks above; raises :class:`BundleRefused` (one line)."""
    path = Path(path)
    try:
        for collect in (False, True):
            with gzip.open(path, "rb") as stream:
                files = _Reader(path, stream).walk(collect)
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(CHUNK), b""):
                digest.update(chunk)
    except BundleRefused:
        raise
    except (OSError, EOFError, zlib.error, tarfile.TarError, ValueError) as e:
        raise BundleRefused(f"bundle {path}: not a readable bundle ({type(e).__name__}: "
                            f"{' '.join(str(e).split())[:160]})") from None
    return files, digest.hexdigest()
