"""The validation set of a population and its batched evaluation.

Book chapter "The engine and its performance". Every data stream (one per distinct seed) has its
fixed validation set (:func:`lra.tasks.validation_symbols`), built on first use and kept on the
device. Validation runs every live member in one batched pass, in chunks sized by memory, and
keeps only the running hidden state (validation needs no history), so it costs a fraction of the
training it checks; the caller reads the result from the device once per check.
"""
from __future__ import annotations

import torch

from lra.tasks import validation_symbols


def last_state(params, sym: torch.Tensor, h_init_quirk: bool = False) -> torch.Tensor:
    """The last hidden state z_{T-1} of every member for symbol sequences sym (P, T, N), keeping
    only the running state (validation needs nothing else): (P, N, H)."""
    P, T, N = sym.shape
    rows = torch.arange(P, device=sym.device).view(-1, 1)
    b = params.b_h.unsqueeze(1)
    z = None
    for t in range(T):
        xw = params.W_xh[rows, sym[:, t]]                       # (P, N, H): one-hot @ W_xh
        if t == 0 and h_init_quirk:
            # released code: h0 = x_0 W_xh + b_h fed to W_hh as the state before step 0
            z = xw + b
        h = xw + b if z is None else torch.baddbmm(xw + b, z, params.W_hh)
        z = torch.tanh(h)
    return z


class ValidationSet:
    """The validation symbols and labels of each data stream of a population, and which samples
    a set of members gets right.

    ``stream_seeds`` are the population's distinct seeds (stream s is seed ``stream_seeds[s]``).
    """

    def __init__(self, task: str, T: int, stream_seeds, size: int, device: torch.device):
        self.task, self.T, self.stream_seeds = task, T, list(stream_seeds)
        self.size, self.device = size, device
        self._data = None

    def data(self):
        """(symbols (S, T, N), labels (S, N)) on the device; built on first use."""
        if self._data is None:
            sets = [validation_symbols(self.task, self.T, s, self.size)
                    for s in self.stream_seeds]
            sym = torch.stack([x for x, _ in sets]).to(self.device)  # (S, T, N)
            self._data = sym, torch.stack([y for _, y in sets]).to(self.device)
        return self._data

    @torch.no_grad()
    def correct(self, params, stream_of: torch.Tensor, rows: torch.Tensor, h0_quirk: bool = False,
                chunk_bytes: int | None = None) -> torch.Tensor:
        """(len(rows), N) bool device tensor: which validation samples each of the rows ``rows``
        of ``params`` gets right; ``stream_of`` gives each row's data stream (on the device) and
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
            z = last_state(p, sym[streams], h0_quirk)
            logits = torch.baddbmm(p.b_y.unsqueeze(1), z, p.W_hy)
            out.append(logits.argmax(-1) == lab[streams])
        return torch.cat(out) if out else torch.zeros(0, N, dtype=torch.bool, device=self.device)
