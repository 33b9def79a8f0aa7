"""The fused target chain: Algorithm 1, lines 19-26, as one Triton kernel (chapter "The engine").

The chain is strictly serial — T x K steps, each two (batch x hidden) x (hidden x hidden) products —
so an eager or CUDA-graphed population spends its time launching tiny kernels. Here one program
owns one population member and runs its whole chain (every t, every inner step) with W_hh loaded
once and kept on chip; members with different T, K, gamma, c1 (or c0 under switch 1), local loss
and normalisation mode share one launch. Everything that is not serial (the forward pass, the top
target, the per-step weight gradients, the regulariser's W_hh term) stays in PyTorch, batched.

:func:`fused_chain` has the signature of :func:`lra.lra_diff.hidden_target_chain` and computes the
same numbers (fp32, products in IEEE precision — not TF32); the test-suite checks this in Triton's
interpreter (``TRITON_INTERPRET=1``) on the CPU. :func:`available` says whether it can run here.
Switch 5 (the released code's regulariser inside the chain) is not fused: the engine then keeps
the PyTorch chain.
"""
from __future__ import annotations

import os

import torch

try:  # Triton is optional: CPU installs and CI without it use the PyTorch chain
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - exercised where triton is absent
    triton = None


def interpreter() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


def available(device) -> bool:
    """True where the kernel can run: Triton present and either a CUDA device or the interpreter."""
    if triton is None:
        return False
    return torch.device(device).type == "cuda" or interpreter()


def supports(switches) -> bool:
    return not switches.released_regularizer


if triton is not None:
    @triton.jit
    def _loss_grad(diff, n, is_lp):
        mse = 2.0 * diff / n
        lp = 2.0 * diff / (1.0 + diff * diff) / n
        return tl.where(is_lp, lp, mse)

    @triton.jit
    def _tanh(v):
        # tl has no tanh (nor has the interpreter libdevice's). (1 - e) / (1 + e) with
        # e = exp(-2|v|) loses relative precision to cancellation for small |v|, where the odd
        # Taylor series to x^9 is used instead (its error below |v| = 0.3 is under float32's).
        a = tl.abs(v)
        e = tl.exp(-2.0 * a)
        big = (1.0 - e) / (1.0 + e)
        a2 = a * a
        small = a * (1.0 + a2 * (-1.0 / 3.0 + a2 * (2.0 / 15.0 + a2 * (-17.0 / 315.0
                                                                      + a2 * (62.0 / 2835.0)))))
        r = tl.where(a < 0.3, small, big)
        return tl.where(v >= 0, r, -r)

    @triton.jit
    def _chain_kernel(h_ptr, z_ptr, xwb_ptr, w_ptr, top_ptr, tgt_ptr, chk_ptr, dh_ptr,
                      T_ptr, K_ptr, gamma_ptr, c_ptr, mode_ptr, lp_ptr,
                      T_max: tl.constexpr, K_max: tl.constexpr, B: tl.constexpr, H: tl.constexpr,
                      FROM_ORIGINAL: tl.constexpr, BP: tl.constexpr, HP: tl.constexpr):
        p = tl.program_id(0)
        rb = tl.arange(0, BP)
        rh = tl.arange(0, HP)
        bh_mask = (rb[:, None] < B) & (rh[None, :] < H)
        hh_mask = (rh[:, None] < H) & (rh[None, :] < H)
        # W_hh of this member, loaded once: (HP, HP) with zero padding
        W = tl.load(w_ptr + p * H * H + rh[:, None] * H + rh[None, :], mask=hh_mask, other=0.0)
        WT = tl.trans(W)
        T_p = tl.load(T_ptr + p)
        K_p = tl.load(K_ptr + p)
        gamma = tl.load(gamma_ptr + p)
        c = tl.load(c_ptr + p)
        mode = tl.load(mode_ptr + p)
        is_lp = tl.load(lp_ptr + p) != 0
        n = B * H * 1.0
        step = B * H
        base = p * T_max * step
        offs = rb[:, None] * H + rh[None, :]
        z_hat = tl.load(top_ptr + p * step + offs, mask=bh_mask, other=0.0)
        for i in range(0, T_max - 1):
            t = T_max - 1 - i
            live = t <= T_p - 1
            if live:
                h_bar = tl.load(h_ptr + base + (t - 1) * step + offs, mask=bh_mask, other=0.0)
                z_fwd = tl.load(z_ptr + base + t * step + offs, mask=bh_mask, other=0.0)
                xwb = tl.load(xwb_ptr + base + t * step + offs, mask=bh_mask, other=0.0)
                z_t = z_fwd
                for k in range(0, K_max):
                    if k < K_p:
                        if FROM_ORIGINAL:
                            diff = tl.where(k > 0, z_t - z_fwd, z_t - z_hat)
                        else:
                            diff = z_t - z_hat
                        d = _loss_grad(diff, n, is_lp) * (1.0 - z_t * z_t)
                        z_bar = _tanh(h_bar)
                        delta = tl.dot(d, WT, input_precision="ieee") * (1.0 - z_bar * z_bar)
                        delta = tl.where(bh_mask, delta, 0.0)
                        norm = tl.sqrt(tl.sum(tl.sum(delta * delta, axis=1), axis=0))
                        safe = tl.maximum(norm, 1.1754943508222875e-38)
                        clip = tl.where((c > 0) & (norm >= c), c / safe, 1.0)
                        forced = tl.where((c > 0) & (norm > 0), c / safe, 1.0)
                        scale = tl.where(mode == 0, clip, tl.where(mode == 2, forced, 1.0))
                        delta = delta * scale
                        if k == 0:
                            tl.store(dh_ptr + p * T_max + t - 1, norm * scale)
                        h_bar = h_bar - gamma * delta
                        z_t = _tanh(tl.dot(_tanh(h_bar), W, input_precision="ieee") + xwb)
                        z_t = tl.where(bh_mask, z_t, 0.0)
                z_hat = _tanh(h_bar)
                tl.store(tgt_ptr + base + (t - 1) * step + offs, z_hat, mask=bh_mask)
                tl.store(chk_ptr + base + t * step + offs, z_t, mask=bh_mask)


def _next_pow2(n: int, minimum: int = 16) -> int:
    return max(minimum, 1 << (int(n) - 1).bit_length())


def fused_chain(W_hh, h, z, xw_b, z_hat_top, hyper, switches, probe=False, lengths=None):
    """Drop-in replacement for :func:`lra.lra_diff.hidden_target_chain` (see its docstring).

    ``lengths`` (P,) gives each member's own T (default: all T); shorter members are stored
    left-aligned, their top target in ``z_hat_top``.
    """
    if triton is None:
        raise RuntimeError("the fused chain needs Triton (pip install triton)")
    if not supports(switches):
        raise ValueError("the fused chain does not implement switch 5 (released_regularizer)")
    P, T, B, H = z.shape
    dev = z.device
    h, z, xw_b = h.contiguous(), z.contiguous(), xw_b.contiguous()
    targets = torch.zeros_like(z)
    z_check = z.clone()
    dh = torch.zeros(P, T, device=dev, dtype=z.dtype)
    T_p = (torch.full((P,), T, dtype=torch.int32, device=dev) if lengths is None
           else lengths.to(device=dev, dtype=torch.int32))
    idx = (T_p.long() - 1).clamp_min(0)
    targets[torch.arange(P, device=dev), idx] = z_hat_top
    c = (hyper.c0 if switches.single_clip else hyper.c1).to(torch.float32).contiguous()
    _chain_kernel[(P,)](
        h, z, xw_b, W_hh.contiguous(), z_hat_top.contiguous(), targets, z_check, dh,
        T_p, hyper.K.to(torch.int32).contiguous(), hyper.gamma.reshape(P).contiguous(), c,
        hyper.mode.to(torch.int32).contiguous(),
        hyper.log_penalty.reshape(P).to(torch.int32).contiguous(),
        T, hyper.K_max, B, H,
        FROM_ORIGINAL=bool(switches.loss_from_original_activity),
        BP=_next_pow2(B), HP=_next_pow2(H), num_warps=8)
    return targets, z_check, dh


VARIANTS = {"default": dict(description="one program per member, W_hh held on chip")}
DEFAULT_VARIANT = "default"


def make_chain(variant: str):
    if variant not in VARIANTS:
        raise ValueError(f"unknown kernel variant {variant!r}; valid: {', '.join(VARIANTS)}")
    return fused_chain
