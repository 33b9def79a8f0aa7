"""Checkpoints of a population: written atomically, resumed exactly.

Book chapter "The engine and its performance". A checkpoint holds everything the rest of a run
depends on: the live rows' weights and algorithm state, the archive of compacted-out members, the
freeze and divergence flags, each member's results so far, every data stream's generator state,
the probes and the training segments. A run resumed from it ends exactly as an uninterrupted one
(``tests/test_resume.py``, ``tests/test_compaction.py``). Its *fingerprint* (a hash of what
defines the run) refuses a checkpoint of another run at the same path.
"""
from __future__ import annotations

import hashlib
import json
import os

import torch

from lra.engine.results import MemberResult


def atomic_save(obj, path: str) -> None:
    """torch.save to a temporary file, fsync, then rename: a reader never sees half a file."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as fh:
        torch.save(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def fingerprint(trainer) -> str:
    """SHA-256 of what defines the trainer's run (algorithm, configurations, task, seeds,
    protocol): a checkpoint resumes only the run it was written by."""
    desc = dict(algorithm=trainer.algorithm.name, configs=trainer._config_reprs,
                switches=repr(getattr(trainer.algorithm, "switches", None)), task=trainer.task,
                T=trainer.T, seeds=trainer.seeds, batch=trainer.batch, cap=trainer.max_iterations,
                check=trainer.check_every, val=trainer.validation_size, patience=trainer.patience,
                probe=trainer.probe_every, quirk=trainer.validation_h0_quirk)
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()


def save(trainer) -> None:
    """Write the trainer's checkpoint to ``trainer.checkpoint_path`` (nothing without a path)."""
    if not trainer.checkpoint_path:
        return
    atomic_save(dict(fingerprint=fingerprint(trainer), iteration=trainer.iteration,
                     member_ids=list(trainer.member_ids),
                     params=trainer.params.state_dict(),
                     archive=None if trainer._archive is None else trainer._archive.state_dict(),
                     state={k: (v.detach().cpu() if torch.is_tensor(v) else v)
                            for k, v in trainer.state.items()},
                     active=trainer.active.cpu(), diverged=trainer.diverged.cpu(),
                     results=[vars(r) for r in trainer.results], since_best=trainer.since_best,
                     generators=[g.get_state() for g in trainer.generators],
                     probes=trainer.probes, segments=trainer.segments), trainer.checkpoint_path)


def load(trainer) -> bool:
    """Resume the trainer from ``trainer.checkpoint_path``; False when there is none.

    A freshly built trainer holds every member; the checkpoint of a compacted population names
    its live members, whose rows are selected first. An unreadable file, or one of another run,
    raises RuntimeError (never silently restarts, never resumes the wrong run).
    """
    path = trainer.checkpoint_path
    if not path or not os.path.exists(path):
        return False
    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
        if not isinstance(ck, dict) or "fingerprint" not in ck:
            raise ValueError("not a checkpoint of this program")
    except Exception as e:  # a torn or foreign file must not be silently ignored
        raise RuntimeError(f"checkpoint {path} is unreadable ({e}); "
                           "delete it to start this population afresh") from None
    if ck.get("fingerprint") != fingerprint(trainer):
        raise RuntimeError(f"checkpoint {path} belongs to another run; "
                           "delete it or choose another path")
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
    trainer.results = [MemberResult(**r) for r in ck["results"]]
    trainer.since_best = ck["since_best"]
    for g, s in zip(trainer.generators, ck["generators"]):
        g.set_state(s)
    trainer.probes = ck["probes"]
    trainer.iteration = ck["iteration"]
    trainer.segments = ck.get("segments", [])
    trainer._graph = None
    return True
