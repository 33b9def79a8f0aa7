"""The held-out sets of a population (validation and test) and their batched evaluation.

Book chapter "The engine and its performance". Every data stream (one per distinct seed) has its
fixed validation set (:func:`lra.tasks.validation_symbols`), which selects a run's best check and
decides *solved*, and its test set (:func:`lra.tasks.heldout_symbols`), its own stream, on which
the network of the best check and the final network are judged without the bias of selection.
Each is built on first use and kept on the device. Evaluation runs every given member in one
batched pass, in chunks sized by memory, and keeps only the running hidden state (no history), so
it costs a fraction of the training it checks; the caller reads the result from the device once.

A population whose recurrent weights never move (the readout-only control: every member of a seed
shares that seed's frozen reservoir) computes each stream's last hidden states once
(``frozen=True``) and only the readout at every check.
"""
from __future__ import annotations

import torch

from lra.tasks import HELDOUT_SETS


def last_state(params, sym: torch.Tensor, h_init_quirk: bool = False) -> torch.Tensor:
    """The last hidden state z_{T-1} of every member for symbol sequences sym (P, T, N), keeping
    only the running state (validation needs nothing else): (P, N, H).

    For a one-hot x_t, x_t W_xh + b_h is row sym_t of the table W_xh + b_h: the bias is added to
    the n_in rows of the table once rather than to N gathered rows at every step (the same
    additions, so the same numbers). Each step writes into one of two buffers allocated once per
    call (a step's tensors are tens of MB at N = 10,000: fresh ones at every step cost page
    faults), and ``baddbmm_``/``tanh_`` in place compute what their out-of-place forms do (ATen's
    out-of-place ``baddbmm`` copies its input into the result and runs the same in-place kernel).
    """
    P, T, N = sym.shape
    n_in, H = params.W_xh.shape[1:]
    table = (params.W_xh + params.b_h.unsqueeze(1)).reshape(P * n_in, H)
    base = (torch.arange(P, device=sym.device) * n_in).view(-1, 1)
    h = torch.empty(P, N, H, dtype=table.dtype, device=table.device)
    z = torch.empty_like(h) if T > 1 or h_init_quirk else None
    started = False
    for t in range(T):
        torch.index_select(table, 0, (base + sym[:, t]).reshape(-1), out=h.view(P * N, H))
        if t == 0 and h_init_quirk:
            # released code: h0 = x_0 W_xh + b_h fed to W_hh as the state before step 0
            z.copy_(h)
            started = True
        if started:
            h.baddbmm_(z, params.W_hh)
        h.tanh_()
        started = True
        if t < T - 1:
            h, z = z, h              # z <- this step's state; h: the buffer for the next step
    return h

class ValidationSet:
    """The held-out symbols and labels of each data stream of a population, and which samples
    a set of members gets right.

    ``stream_seeds`` are the population's distinct seeds (stream s is seed ``stream_seeds[s]``);
    ``role`` is ``"validation"`` or ``"test"`` (:data:`lra.tasks.HELDOUT_SETS`). With ``frozen``
    every member of a stream is taken to share that stream's recurrent weights (W_xh, W_hh, b_h)
    for good: their last states are computed once, from the first rows asked about.
    """

    def __init__(self, task: str, T: int, stream_seeds, size: int, device: torch.device,
                 role: str = "validation", frozen: bool = False):
        self.task, self.T, self.stream_seeds = task, T, list(stream_seeds)
        self.size, self.device, self.role, self.frozen = size, device, role, frozen
        self._symbols = HELDOUT_SETS[role]
        self._data = None
        self._states = {}                # frozen: stream -> last states (N, H)

    def data(self):
        """(symbols (S, T, N), labels (S, N)) on the device; built on first use."""
        if self._data is None:
            sets = [self._symbols(self.task, self.T, s, self.size) for s in self.stream_seeds]
            sym = torch.stack([x for x, _ in sets]).to(self.device)  # (S, T, N)
            self._data = sym, torch.stack([y for _, y in sets]).to(self.device)
        return self._data

    def _frozen_states(self, params, streams: torch.Tensor, idx: torch.Tensor, h0_quirk: bool):
        """Last states of the rows ``idx`` from the per-stream cache (computed when missing)."""
        sym, _ = self.data()
        wanted = streams.tolist()
        new = [s for s in dict.fromkeys(wanted) if s not in self._states]
        if new:
            first = [idx[wanted.index(s)] for s in new]
            rows = torch.stack(first)
            z = last_state(params.select(rows), sym[torch.tensor(new, device=sym.device)], h0_quirk)
            for s, zs in zip(new, z):
                self._states[s] = zs
        return torch.stack([self._states[s] for s in wanted])

    @torch.no_grad()
    def correct(self, params, stream_of: torch.Tensor, rows: torch.Tensor, h0_quirk: bool = False,
                chunk_bytes: int | None = None) -> torch.Tensor:
        """(len(rows), N) bool device tensor: which samples each of the rows ``rows`` of
        ``params`` gets right; ``stream_of`` gives each row's data stream (on the device) and
        ``h0_quirk`` selects the released code's initial state (:func:`last_state`)."""
        sym, lab = self.data()
        N, H = sym.shape[2], params.W_hh.shape[1]
        if chunk_bytes is None:
            # a chunk's hidden states and their temporaries: large on a GPU, small on a CPU
            chunk_bytes = (2 << 30) if self.device.type == "cuda" else (256 << 20)
        step = max(1, chunk_bytes // (N * H * 4 * 4))
        out = []
        for i in range(0, len(rows), step):
            idx = rows[i:i + step]
            p = params.select(idx)
            streams = stream_of[idx]
            if self.frozen:
                z = self._frozen_states(params, streams, idx, h0_quirk)
            else:
                z = last_state(p, sym[streams], h0_quirk)
            logits = torch.baddbmm(p.b_y.unsqueeze(1), z, p.W_hy)
            out.append(logits.argmax(-1) == lab[streams])
        return torch.cat(out) if out else torch.zeros(0, N, dtype=torch.bool, device=self.device)
