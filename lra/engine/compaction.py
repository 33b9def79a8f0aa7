"""Compaction: finished members leave the population's tensors, so that they stop costing.

Book chapter "The engine and its performance". With ``compact=True`` a
:class:`lra.engine.trainer.PopulationTrainer` drops, at a check, the rows of members that stopped
(solved, out of patience, diverged): every operation is batched per member, so removing rows
changes no other member's numbers. The trainer's ``member_ids`` maps the remaining rows to the
original members; the weights of the members dropped stay in an *archive* of every member
(original numbering), from which :func:`full_params` rebuilds the whole population's weights.
"""
from __future__ import annotations

import torch


def _write_rows(dst, src, member_ids, device) -> None:
    """Write the live rows ``src`` into the full-population weights ``dst`` at ``member_ids``."""
    idx = torch.tensor(member_ids, dtype=torch.long, device=device)
    for (_, d), (_, s) in zip(dst.items(), src.items()):
        d[idx] = s


def full_params(params, archive, member_ids, device):
    """Every member's weights (original numbering): the archive with the live rows written in
    (``params`` itself while nothing was compacted out)."""
    if archive is None:
        return params
    out = archive.clone()
    _write_rows(out, params, member_ids, device)
    return out


def compact(trainer) -> None:
    """Drop the rows of the trainer's members that stopped (at a check).

    Nothing is dropped while every member runs or once every member stopped (the run then ends
    at this check). The step's buffers are reallocated and its CUDA graph, if any, captured anew
    for the new shapes (``trainer.recaptures`` counts compactions).
    """
    keep_rows = [i for i, m in enumerate(trainer.member_ids)
                 if trainer.results[m].stop_reason == "running"]
    if len(keep_rows) == len(trainer.member_ids) or not keep_rows:
        return
    if trainer._archive is None:
        trainer._archive = trainer.params.clone()
    else:
        _write_rows(trainer._archive, trainer.params, trainer.member_ids, trainer.device)
    rows = torch.tensor(keep_rows, dtype=torch.long, device=trainer.device)
    P = len(trainer.member_ids)
    trainer.params = trainer.params.select(rows)
    # per-member state has the population as its first dimension; anything else is shared
    trainer.state = {k: (v[rows] if torch.is_tensor(v) and v.dim() and v.shape[0] == P else v)
                     for k, v in trainer.state.items()}
    trainer.algorithm.select(keep_rows)
    trainer.active = trainer.active[rows]
    trainer.diverged = trainer.diverged[rows]
    trainer.member_ids = [trainer.member_ids[i] for i in keep_rows]
    trainer._alloc_buffers()
    trainer._graph = None
    trainer.recaptures += 1
