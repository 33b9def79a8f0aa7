"""Checkpoints of a population: written atomically, resumed exactly, read without unpickling code.

Book chapter "The engine and its performance". A checkpoint holds everything the rest of a run
depends on: the live rows' weights and algorithm state, the archive of compacted-out members, the
freeze and divergence flags, each member's results so far, every data stream's generator state,
the probes and the training segments. A run resumed from it ends exactly as an uninterrupted one
(``tests/engine/test_resume.py``, ``tests/engine/test_compaction.py``). Its *fingerprint* (a hash
of what defines the run) refuses a checkpoint of another run at the same path.

A checkpoint may come from another machine (a result bundle carries the populations it stopped),
so it is data, never code: :func:`read` accepts only a zip of stored (uncompressed) records that
``torch.load(weights_only=True)`` turns into tensors and plain values (no class, no function of
this or any program is unpickled), and :func:`check` holds it to the schema of what :func:`save`
writes: exactly :data:`KEYS`, tensors of the expected dtypes and consistent shapes, the members'
results as dicts of the :class:`MemberResult` fields with plain values. :func:`load` then checks
that it fits the population being resumed (:func:`check_fits`: shapes, generators, state) before
it changes anything. Every refusal is one line.

A checkpoint also says which code wrote it and which rows it feeds: ``code_version`` (the
campaign's :func:`lra.campaign.store.code_version`) and ``rows`` (``{experiment: [row keys]}``),
taken from the trainer's ``code_version`` and ``rows_fed`` where the campaign set them (the
trainer's own module is hashed into the code version, so they are not its parameters; the
engine cannot compute the version itself, which is the campaign's). The campaign resumes a
checkpoint only when its code version is the current code's, and removes one whose rows are all
stored (:mod:`lra.campaign.population_checkpoints`). A checkpoint of older code lacks both; one
whose code is established by other means is stamped with :func:`stamp` (``stamp`` then says
how it was established: ``tools/stamp_checkpoint.py``).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import re
import zipfile
from dataclasses import fields

import torch

from lra.engine.results import MemberResult
from lra.engine.tempfiles import atomic_write
from lra.model import RNNParams

# Every entry :func:`save` writes. member_ids, archive and segments came later than the others:
# a checkpoint of older code may lack them (it resumes as a population never compacted);
# code_version and rows later still (a bare trainer, as in the engine's tests, writes neither),
# stamp only by :func:`stamp`.
KEYS = ("fingerprint", "iteration", "member_ids", "params", "archive", "state", "active",
        "diverged", "results", "since_best", "generators", "probes", "segments",
        "code_version", "rows", "stamp")
OPTIONAL_KEYS = ("member_ids", "archive", "segments", "code_version", "rows", "stamp")
CODE_VERSION = re.compile(r"[0-9a-f]{12}")     # lra.campaign.store.code_version's form
# The weights' dimensions by name (lra.model.RNNParams): P members (the live rows in params,
# every member in the archive), H hidden units, I inputs, O outputs.
PARAM_DIMS = {"W_xh": ("P", "I", "H"), "W_hh": ("P", "H", "H"), "W_hy": ("P", "H", "O"),
              "b_h": ("P", "H"), "b_y": ("P", "O")}
assert list(PARAM_DIMS) == [f.name for f in fields(RNNParams)], "PARAM_DIMS: RNNParams changed"
FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
# an algorithm's state and the probes: floating tensors, generator states (uint8), flags, counts
STATE_DTYPES = FLOATS + (torch.uint8, torch.bool, torch.int32, torch.int64)
PLAIN = (type(None), bool, int, float, str)
MAX_DEPTH = 8       # lists in lists: a curve is a list of tuples (depth 2)


def atomic_save(obj, path: str) -> None:
    """torch.save to a temporary file, fsync, then rename: a reader never sees half a file
    (lra.engine.tempfiles: named by host and token; removed if the write fails)."""
    atomic_write(path, lambda fh: torch.save(obj, fh))


def fingerprint(trainer) -> str:
    """SHA-256 of what defines the trainer's run (algorithm, configurations, task, seeds,
    protocol): a checkpoint resumes only the run it was written by."""
    desc = dict(algorithm=trainer.algorithm.name, configs=trainer._config_reprs,
                switches=repr(getattr(trainer.algorithm, "switches", None)), task=trainer.task,
                T=trainer.T, seeds=trainer.seeds, batch=trainer.batch, cap=trainer.max_iterations,
                check=trainer.check_every, val=trainer.validation_size, patience=trainer.patience,
                probe=trainer.probe_every, quirk=trainer.validation_h0_quirk)
    if getattr(trainer, "stop_when_one_solves", False):   # absent before the option: unchanged
        desc["stop_when_one_solves"] = True
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()


def save(trainer) -> None:
    """Write the trainer's checkpoint to ``trainer.checkpoint_path`` (nothing without a path).

    Only tensors and plain values (dicts, lists, tuples, str, int, float, bool, None): what
    :func:`read` accepts; a generator's state is a uint8 tensor (``torch.Generator.get_state``).
    """
    if not trainer.checkpoint_path:
        return
    names = [f.name for f in fields(MemberResult)]
    written_by = {key: getattr(trainer, attr) for key, attr in (("code_version", "code_version"),
                                                                ("rows", "rows_fed"))
                  if getattr(trainer, attr, None) is not None}
    atomic_save(dict(fingerprint=fingerprint(trainer), iteration=int(trainer.iteration),
                     member_ids=[int(m) for m in trainer.member_ids],
                     params=trainer.params.state_dict(),
                     archive=None if trainer._archive is None else trainer._archive.state_dict(),
                     state={k: (v.detach().cpu() if torch.is_tensor(v) else v)
                            for k, v in trainer.state.items()},
                     active=trainer.active.cpu(), diverged=trainer.diverged.cpu(),
                     results=[{n: getattr(r, n) for n in names} for r in trainer.results],
                     since_best=[int(n) for n in trainer.since_best],
                     generators=[g.get_state() for g in trainer.generators],
                     probes=trainer.probes, segments=trainer.segments, **written_by),
                trainer.checkpoint_path)


def stamp(path, code_version: str, evidence: str) -> dict:
    """Record in the checkpoint at ``path`` (one without a code version: older code's) that
    ``code_version`` wrote it, and ``evidence``: how that is known. Rewritten atomically;
    returns the checkpoint. Raises :class:`CheckpointError` for a file :func:`read` refuses, a
    version not of the code version's form, empty evidence, or a checkpoint already saying
    which code wrote it."""
    ck = read(path)
    if not CODE_VERSION.fullmatch(code_version or ""):
        _fail(f"{code_version!r} is not a code version (12 hex digits)")
    if not (evidence or "").strip():
        _fail("no evidence: say how the code version is known")
    if ck.get("code_version"):
        _fail(f"it already says code version {ck['code_version']} wrote it")
    ck.update(code_version=code_version, stamp=" ".join(evidence.split()))
    check(ck)
    atomic_save(ck, str(path))
    return ck


# ----------------------------------------------------------------------------- reading safely
class CheckpointError(ValueError):
    """A file that is not a checkpoint this program resumes; the message is one line."""


def _fail(why: str):
    raise CheckpointError(why)


def _one_line(e: BaseException) -> str:
    return " ".join(f"{type(e).__name__}: {e}".split())[:200]


def _check_zip(source) -> None:
    """torch.save writes a zip of stored records: refuse compressed records (their size is the
    zip's word, not the file's) and records claiming more bytes than the file holds."""
    try:
        size = len(source) if isinstance(source, bytes) else os.path.getsize(source)
        with zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source) as z:
            infos = z.infolist()
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, ValueError) as e:
        _fail(f"not a zip archive as torch.save writes ({_one_line(e)})")
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED or info.file_size != info.compress_size:
            _fail(f"its record {info.filename!r} is compressed; torch.save stores records as "
                  "they are")
    if sum(i.file_size for i in infos) > size:
        _fail("its records claim more bytes than the file holds")


def read(source) -> dict:
    """The checkpoint in ``source`` (a path or the file's bytes), checked by :func:`check`.

    Read with ``torch.load(weights_only=True)``: tensors and plain values only, so nothing in
    the file can run code. Raises :class:`CheckpointError` (one line) for anything else.
    """
    _check_zip(source)
    try:
        ck = torch.load(io.BytesIO(source) if isinstance(source, bytes) else source,
                        map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL ([\w.]+)", str(e))
        _fail(f"it holds {found.group(1) if found else 'an object'}, which is neither a tensor "
              "nor plain data: read with weights_only=True, nothing in it runs")
    except Exception as e:          # a torn file, a foreign format
        _fail(_one_line(e))
    try:
        check(ck)
    except CheckpointError:
        raise
    except Exception as e:          # (check tests types first: this is a safety net)
        _fail(f"malformed ({_one_line(e)})")
    return ck


def _kind(v) -> str:
    return type(v).__name__


def _tensor(v, what: str, dtypes, dim: int | None = None) -> torch.Tensor:
    if type(v) is not torch.Tensor:
        _fail(f"{what} is a {_kind(v)}, not a tensor")
    if v.layout != torch.strided or v.is_quantized or v.requires_grad or v.is_meta:
        _fail(f"{what} is not a plain tensor")
    if v.dtype not in dtypes:
        _fail(f"{what} has dtype {v.dtype}, not {' or '.join(str(d) for d in dtypes)}")
    if dim is not None and v.dim() != dim:
        _fail(f"{what} has {v.dim()} dimensions, not {dim}")
    if any(st == 0 and n > 1 for st, n in zip(v.stride(), v.shape)):
        _fail(f"{what} has overlapping elements")
    return v


def _plain(v, what: str, depth: int = 0) -> None:
    """``v`` is plain data: None, bool, int, float, str, and lists, tuples and str-keyed dicts
    of them."""
    t = type(v)
    if t in PLAIN:
        return
    if depth >= MAX_DEPTH:
        _fail(f"{what} is nested deeper than {MAX_DEPTH}")
    if t is list or t is tuple:
        for x in v:
            if type(x) not in PLAIN:
                _plain(x, what, depth + 1)
    elif t is dict:
        for k, x in v.items():
            if type(k) is not str:
                _fail(f"{what} has a key of type {_kind(k)}")
            _plain(x, f"{what}: {k}", depth + 1)
    else:
        _fail(f"{what} is a {_kind(v)}, not plain data")


_TYPE_NAMES = {"bool": (bool,), "int": (int,), "float": (float, int), "str": (str,),
               "None": (type(None),), "list": (list,), "tuple": (tuple,), "dict": (dict,)}


def _annotation_types(annotation) -> tuple | None:
    """The exact types a dataclass field's annotation admits (``float | None`` -> float, int,
    NoneType), or None when it names something else (then any plain data)."""
    text = annotation if isinstance(annotation, str) else (
        annotation.__name__ if isinstance(annotation, type) else str(annotation))
    text = text.replace("typing.", "").replace(" ", "")
    if text.startswith("Optional[") and text.endswith("]"):
        text = text[len("Optional["):-1] + "|None"
    out = ()
    for part in text.split("|"):
        base = part.split("[")[0]
        base = {"List": "list", "Dict": "dict", "Tuple": "tuple"}.get(base, base)
        if base not in _TYPE_NAMES:
            return None
        out += _TYPE_NAMES[base]
    return out


def result_schema() -> dict[str, tuple | None]:
    """Each :class:`MemberResult` field and the exact types its value may have in a checkpoint
    (from ``dataclasses.fields``: a field added to MemberResult is accepted, and a checkpoint
    without it resumes with its default)."""
    return {f.name: _annotation_types(f.type) for f in fields(MemberResult)}


def _results(results, schema) -> None:
    if type(results) is not list or not results:
        _fail("its results are not a list of members")
    for i, r in enumerate(results):
        if type(r) is not dict:
            _fail(f"result {i} is a {_kind(r)}, not a dict")
        for k, v in r.items():
            if k not in schema:
                _fail(f"result {i} has a field {k!r} that MemberResult does not")
            if schema[k] is not None and type(v) not in schema[k]:
                _fail(f"result {i}: {k} is a {_kind(v)}")
            _plain(v, f"result {i}: {k}")


def _weights(d, what: str, sizes: dict) -> None:
    if type(d) is not dict or set(d) != set(PARAM_DIMS):
        _fail(f"{what} are not the weights {', '.join(PARAM_DIMS)}")
    for name, dims in PARAM_DIMS.items():
        t = _tensor(d[name], f"{what} {name}", FLOATS, len(dims))
        for dim, n in zip(dims, t.shape):
            if sizes.setdefault(dim, n) != n:
                _fail(f"{what} {name} has shape {tuple(t.shape)}: its {dim} is not "
                      f"{sizes[dim]} as elsewhere")


def _int_list(v, what: str, low: int = 0, high: int | None = None) -> list:
    if type(v) is not list or any(type(x) is not int or x < low or (high is not None and x >= high)
                                  for x in v):
        _fail(f"{what} is not a list of integers in [{low}, {high if high is not None else ''})")
    return v


def check(ck) -> None:
    """``ck`` has the schema of what :func:`save` writes (whatever population it belongs to):
    exactly :data:`KEYS` (less the optional ones), weights of consistent shapes, one result,
    patience counter and archived row per member, flags per live row, generator states as uint8
    tensors, plain probes and segments. Raises :class:`CheckpointError`."""
    if type(ck) is not dict:
        _fail(f"it holds a {_kind(ck)}, not a checkpoint of this program")
    unknown = [k for k in ck if k not in KEYS]
    if unknown:
        _fail(f"it holds an entry {unknown[0]!r} that no checkpoint of this program has")
    missing = [k for k in KEYS if k not in ck and k not in OPTIONAL_KEYS]
    if missing:
        _fail(f"it has no {missing[0]!r}")
    if type(ck["fingerprint"]) is not str or not re.fullmatch(r"[0-9a-f]{64}", ck["fingerprint"]):
        _fail("its fingerprint is not a sha256")
    if type(ck["iteration"]) is not int or ck["iteration"] < 0:
        _fail("its iteration is not a count")
    _results(ck["results"], result_schema())
    P = len(ck["results"])
    ids = _int_list(ck.get("member_ids", list(range(P))), "member_ids", 0, P)
    if not ids or any(a >= b for a, b in zip(ids, ids[1:])):
        _fail("member_ids are not increasing member numbers")
    if len(_int_list(ck["since_best"], "since_best")) != P:
        _fail(f"since_best has {len(ck['since_best'])} counts for {P} members")
    sizes = {"P": len(ids)}
    _weights(ck["params"], "params", sizes)
    if ck.get("archive") is not None:
        _weights(ck["archive"], "archive", {**sizes, "P": P})
    elif len(ids) < P:
        _fail("a compacted population without the archive of its members' weights")
    for name, dtypes in (("active", FLOATS), ("diverged", (torch.bool,))):
        if len(_tensor(ck[name], name, dtypes, 1)) != len(ids):
            _fail(f"{name} has {len(ck[name])} rows, params {len(ids)}")
    if type(ck["state"]) is not dict:
        _fail("its algorithm state is not a dict")
    for k, v in ck["state"].items():
        if type(k) is not str:
            _fail(f"its algorithm state has a key of type {_kind(k)}")
        if type(v) not in PLAIN:
            _tensor(v, f"state {k}", STATE_DTYPES)
    if type(ck["generators"]) is not list or not ck["generators"]:
        _fail("its generator states are not a list")
    for i, g in enumerate(ck["generators"]):
        _tensor(g, f"generator state {i}", (torch.uint8,), 1)
    if type(ck["probes"]) is not list:
        _fail("its probes are not a list")
    for i, p in enumerate(ck["probes"]):
        if type(p) is not dict or type(p.get("iteration")) is not int:
            _fail(f"probe {i} is not a dict with an iteration")
        for k, v in p.items():
            if type(k) is not str:
                _fail(f"probe {i} has a key of type {_kind(k)}")
            if type(v) not in PLAIN:
                _tensor(v, f"probe {i}: {k}", FLOATS)
    segments = ck.get("segments", [])
    if type(segments) is not list or any(type(s) is not dict for s in segments):
        _fail("its segments are not a list of dicts")
    _plain(segments, "segments")
    if "code_version" in ck and (type(ck["code_version"]) is not str
                                 or not CODE_VERSION.fullmatch(ck["code_version"])):
        _fail("its code_version is not a code version (12 hex digits)")
    if "stamp" in ck and type(ck["stamp"]) is not str:
        _fail("its stamp is not a text")
    rows = ck.get("rows", {})
    if type(rows) is not dict or any(
            type(e) is not str or type(keys) is not list or any(type(k) is not str for k in keys)
            for e, keys in rows.items()):
        _fail("its rows are not a dict of experiment -> row keys")


def check_fits(ck: dict, trainer) -> list[MemberResult]:
    """The checked checkpoint ``ck`` fits ``trainer``'s population: as many members, its live
    rows among the trainer's, weights, flags, algorithm state and generator states of the
    trainer's shapes and dtypes (per-member state with one row per live member, uint8 state a
    generator's), an iteration within the cap. Returns the members' results. Raises :class:`CheckpointError`."""
    P, live = len(trainer.seeds), len(trainer.member_ids)
    if len(ck["results"]) != P:
        _fail(f"it holds {len(ck['results'])} members, this population {P}")
    ids = ck.get("member_ids", list(range(P)))
    if not set(ids) <= set(trainer.member_ids):
        _fail("its live members are not among this population's")
    for what, rows, d in (("params", len(ids), ck["params"]), ("archive", P, ck.get("archive"))):
        for k, dst in (trainer.params.items() if d is not None else ()):
            want = (rows, *dst.shape[1:])
            if tuple(d[k].shape) != want or d[k].dtype != dst.dtype:
                _fail(f"{what} {k} is {d[k].dtype} {tuple(d[k].shape)}, this population's "
                      f"{dst.dtype} {want}")
    if ck["active"].dtype != trainer.active.dtype:
        _fail(f"active is {ck['active'].dtype}, this population's {trainer.active.dtype}")
    if ck["iteration"] > trainer.max_iterations:
        _fail(f"its iteration {ck['iteration']} is past the cap {trainer.max_iterations}")
    if len(ck["generators"]) != len(trainer.generators):
        _fail(f"it holds {len(ck['generators'])} data streams, this population "
              f"{len(trainer.generators)}")
    for g, s in zip(trainer.generators, ck["generators"]):
        if s.shape != g.get_state().shape:
            _fail(f"a generator state has {s.numel()} bytes, not {g.get_state().numel()}")
    for k, v in trainer.state.items():
        if k not in ck["state"]:
            _fail(f"its algorithm state has no {k!r}")
        got = ck["state"][k]
        if torch.is_tensor(v):
            want = (len(ids), *v.shape[1:]) if v.dim() and v.shape[0] == live else tuple(v.shape)
            if not torch.is_tensor(got) or got.dtype != v.dtype or tuple(got.shape) != want:
                _fail(f"state {k} is not a {v.dtype} tensor of shape {want}")
        elif type(got) is not type(v):
            _fail(f"state {k} is a {_kind(got)}, not a {_kind(v)}")
    cpu_state = torch.Generator().get_state().shape     # an algorithm's own generator (TPTT's)
    for k, v in ck["state"].items():
        if torch.is_tensor(v) and v.dtype == torch.uint8 and v.shape != cpu_state:
            _fail(f"state {k} is not a generator state of {cpu_state[0]} bytes")
    return [MemberResult(**r) for r in ck["results"]]


def load(trainer) -> bool:
    """Resume the trainer from ``trainer.checkpoint_path``; False when there is none.

    A freshly built trainer holds every member; the checkpoint of a compacted population names
    its live members, whose rows are selected first. A file that is not a checkpoint of this
    program (:func:`read`), one of another run, or one that does not fit this population raises
    RuntimeError (one line) before the trainer changes: never silently restarts, never resumes
    the wrong run, never runs code from the file.
    """
    path = trainer.checkpoint_path
    if not path or not os.path.exists(path):
        return False
    try:
        ck = read(path)
    except CheckpointError as e:     # a torn, foreign or unsafe file must not be ignored
        raise RuntimeError(f"checkpoint {path} is unreadable ({e}); "
                           "delete it to start this population afresh") from None
    if ck["fingerprint"] != fingerprint(trainer):
        raise RuntimeError(f"checkpoint {path} belongs to another run; "
                           "delete it or choose another path")
    try:
        results = check_fits(ck, trainer)
    except Exception as e:
        raise RuntimeError(f"checkpoint {path} does not fit this population ({e}); "
                           "delete it to start this population afresh") from None
    ids = ck.get("member_ids", list(range(len(trainer.seeds))))
    if ids != trainer.member_ids:
        # rebuild the live rows of a compacted population
        trainer.algorithm.select([trainer.member_ids.index(m) for m in ids])
        trainer.params = trainer.params.select(
            torch.tensor([trainer.member_ids.index(m) for m in ids], dtype=torch.long,
                         device=trainer.device))
        trainer.member_ids = list(ids)
        trainer._alloc_buffers()
        trainer.state = trainer.algorithm.init_state(trainer.params,
                                                     [trainer.seeds[m] for m in ids])
        trainer.active = trainer.active[:len(ids)].clone()
        trainer.diverged = trainer.diverged[:len(ids)].clone()
    for k, dst in trainer.params.items():
        dst.copy_(ck["params"][k].to(trainer.device))
    if ck.get("archive") is not None:
        trainer._archive = type(trainer.params)(**{k: v.to(trainer.device)
                                                   for k, v in ck["archive"].items()})
    for k, v in ck["state"].items():
        if torch.is_tensor(v) and k in trainer.state and torch.is_tensor(trainer.state[k]) \
                and trainer.state[k].shape == v.shape:
            trainer.state[k].copy_(v.to(trainer.device))
        else:
            trainer.state[k] = v.to(trainer.device) if torch.is_tensor(v) else v
    trainer.active.copy_(ck["active"].to(trainer.device))
    trainer.diverged.copy_(ck["diverged"].to(trainer.device))
    trainer.results = results
    trainer.since_best = list(ck["since_best"])
    for g, s in zip(trainer.generators, ck["generators"]):
        g.set_state(s)
    trainer.probes = ck["probes"]
    trainer.iteration = ck["iteration"]
    trainer.segments = ck.get("segments", [])
    trainer._graph = None
    return True
