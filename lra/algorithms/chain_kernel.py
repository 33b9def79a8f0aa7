"""The fused target chain: Algorithm 1, lines 19-26, as one Triton kernel (chapter "The engine").

The chain is strictly serial -- for t = T-1 .. 1, K inner steps, each two (batch x hidden) x
(hidden x hidden) products (d W_hh^T, then tanh(h_new) W_hh) separated by a whole-member norm --
so an eager or CUDA-graphed population spends its time launching tiny kernels. Here one program
owns one population member and runs its whole chain; members with different T, K, gamma, c1 (or
c0 under switch 1), local loss and normalisation mode share one launch. Everything that is not
serial (the forward pass, the top target, the per-step weight gradients, the regulariser's W_hh
term) stays in PyTorch, batched.

Design: why it does not spill
-----------------------------
The first kernel held the whole zero-padded 128 x 128 W_hh and its transpose as register operands
of ``tl.dot``. Triton's FMA dot gives every thread the *whole reduction axis* of its rows and
columns of an operand, so that cost ~14 KB of local memory per thread (34 KB of spill stores) and
every inner step streamed megabytes through it. This kernel keeps no weight in registers:

* Each product is a loop over KC = 16-wide chunks of the reduction axis,
  ``acc += tl.dot(S[:, kc:kc+KC], Wpad[kc:kc+KC, :])`` in true fp32, so an operand costs only
  (rows or columns per thread) x 16 registers. The left operand S (d, then tanh(h_new)) is written
  by the program to a small per-member scratch in global memory and read back after a CTA barrier
  (it stays in L1); the weight chunks are read from a per-member zero-padded copy of W_hh made by
  the wrapper on every call (64 KB per member, L1/L2-resident; product 1 reads it by columns,
  i.e. W_hh^T, product 2 by rows; variants with ``one_w=False`` store W_hh^T apart instead).
* The batch of 20 is split into two row tiles, 16 + 4, that share every weight chunk: no padded
  batch rows are multiplied (padding 20 -> 32 cost 1.6x of the multiply-adds). The output axis is
  padded 100 -> 128 (a power of two), the reduction axis only to 112. Padded rows and columns stay
  exactly zero through the chain (zero weights, zero operands, tanh(0) = 0), so the inner loop
  needs no masks. Multiply-adds per product: 20 x 128 x 112 (was 32 x 128 x 128 -- 1.83x fewer).
* The live state is the two accumulators and two (rows x 128) tiles per row tile (h_bar, z_t);
  the target z_hat_t is read back from ``targets``, where the kernel stored it, at each inner
  step. With 8 warps the register cap of 128 then holds without a spill (two members per SM).
  ptxas reports 0 bytes of stack and spill for every variant at B = 20, H = 100 on sm_90
  (tests/algorithms/test_chain_kernel_compile.py compiles each one on the CPU and fails on any spill; it fails on
  commit cbd54aa's kernel: 16-19 KB stack frame, 40-44 KB spill stores, 46-53 KB spill loads
  per thread as launched, with 16-byte-aligned pointers).

:data:`VARIANTS` lists the launch configurations shipped (warps per member, register cap,
pipelining stages, weight layout); :func:`make_chain` builds the chain of one of them and
:func:`fused_chain` is the default's. The benchmark times each one; the engine can take any of
them by name.

Numerics: IEEE fp32
-------------------
Products are fp32 FMA (``input_precision="ieee"``: no TF32). Divisions are correctly rounded
(``div_rn``), the norm's square root too (``sqrt_rn``); each member computes only its own loss's
gradient. tanh is libdevice's ``__nv_tanhf`` on the GPU -- the CUDA tanhf that torch.tanh calls on
CUDA (max 2 ulp). That matters more than its error bound: targets minus forward activities cancel
to float32 resolution below the top layers, so a tanh that differs from the forward pass's by an
ulp or two moves the weight updates by ~1e-3 (the first kernel's own tanh did: its updates were
10-30x further from float64 than PyTorch's). Triton's interpreter cannot call libdevice, so there
(``TRITON_INTERPRET=1``, the CPU tests) tanh is computed in float64 and rounded once
(:func:`_tanh_interp`), matching torch's correctly rounded CPU tanh; ``kernel_tanh`` exposes the
kernel's tanh so the GPU check can compare it with torch.tanh bit for bit. Multiply-adds may be
contracted into FMAs (more accurate, not less).

:func:`fused_chain` has the signature of :func:`lra.algorithms.lra_diff.hidden_target_chain` (plus
``lengths``) and computes the same numbers; tests/algorithms/test_chain_kernel.py checks every variant in Triton's
interpreter on the CPU, and tests/algorithms/chain_kernel_equivalence.py also runs on CUDA. :func:`available` says
whether it can run here. The wrapper is CUDA-graph capture safe (device tensors only, no host
reads; checked on the meta device). Switch 5 (the released code's regulariser inside the chain)
is not fused: the engine then keeps the PyTorch chain.
"""
from __future__ import annotations

import os

import torch

try:  # Triton is optional: CPU installs and CI without it use the PyTorch chain
    import triton
    import triton.language as tl
    from triton.language.extra.cuda import libdevice
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


# name -> launch configuration. All split the batch 16 + 4 ("r16+4") and reduce in chunks of
# KC = 16; num_warps: warps per member (one program per member); maxnreg: register cap (128 lets
# two 8-warp members share an SM); num_stages: Triton software-pipelining depth of the chunk loads;
# one_w: one square padded W per member read both ways (else W^T and W stored apart). All are
# spill-free for B = 20, H = 100 on sm_90 (tests/algorithms/test_chain_kernel_compile.py).
VARIANTS: dict[str, dict] = {
    "r16+4w8": dict(KC=16, num_warps=8, num_stages=1, maxnreg=128, one_w=True,
                    description="8 warps per member, <= 128 registers (two members per SM), "
                                "one square padded W (64 KB per member, read by rows and by "
                                "columns)"),
    "r16+4w8s2": dict(KC=16, num_warps=8, num_stages=2, maxnreg=128, one_w=False,
                      description="8 warps, chunk loads software-pipelined (cp.async, 2 stages: "
                                  "hides load latency, for small P), W^T and W stored apart "
                                  "(read by rows; the pipelined column reads of one W spill)"),
    "r16+4w4": dict(KC=16, num_warps=4, num_stages=1, maxnreg=168, one_w=True,
                    description="4 warps per member, <= 168 registers (three members per SM), "
                                "one square padded W"),
    "r16+4w8x2": dict(KC=16, num_warps=8, num_stages=1, maxnreg=128, one_w=False,
                      description="as r16+4w8 with W^T and W stored separately (112 KB per "
                                  "member, both read by rows): more L1 footprint, simpler loads"),
}
DEFAULT_VARIANT = "r16+4w8"


if triton is not None:
    @triton.jit
    def _tanh_interp(v):
        # The interpreter's tanh (it cannot call libdevice): float64 arithmetic (numpy's) rounded
        # once to float32 -- correctly rounded but for double-rounding ties, like torch.tanh on
        # the CPU (<= 0.51 ulp measured), so the CPU tests compare like with like. Below
        # |v| = 2^-10 the cubic Taylor term is exact to float32 and avoids 1 - e cancellation.
        x = v.to(tl.float64)
        a = tl.abs(x)
        e = tl.exp(-2.0 * a)
        big = (1.0 - e) / (1.0 + e)
        small = a - a * a * a / 3.0
        r = tl.where(a < 0.0009765625, small, big)
        return tl.where(x < 0, -r, r).to(tl.float32)

    @triton.jit
    def _tanh(v, INTERP: tl.constexpr):
        if INTERP:
            return _tanh_interp(v)
        else:
            return libdevice.tanh(v)

    @triton.jit
    def _tanh_kernel(x_ptr, y_ptr, N, BLOCK: tl.constexpr, INTERP: tl.constexpr):
        r = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        tl.store(y_ptr + r, _tanh(tl.load(x_ptr + r, mask=r < N, other=0.0), INTERP), mask=r < N)

    @triton.jit
    def _loss_grad(diff, n, is_lp):
        # dL/dz of MSE (2 d / n) or of the log penalty (2 d / (1 + d^2) / n), correctly rounded;
        # is_lp is one member's flag, so only its own loss is computed
        if is_lp:
            g = tl.math.div_rn(tl.math.div_rn(2.0 * diff, 1.0 + diff * diff), n)
        else:
            g = tl.math.div_rn(2.0 * diff, n)
        return g

    @triton.jit
    def _product2(s_ptr, w_ptr, r0, r1, rn, R0: tl.constexpr, R1: tl.constexpr,
                  HP: tl.constexpr, KP: tl.constexpr, KC: tl.constexpr, TRANS: tl.constexpr):
        # S[r0] @ Wpad and S[r1] @ Wpad, sharing each KC-row chunk of Wpad (TRANS: of Wpad^T,
        # read as KC-column chunks of Wpad, the square (HP x HP) copy shared by both products)
        rk = tl.arange(0, KC)
        acc0 = tl.zeros((R0, HP), dtype=tl.float32)
        acc1 = tl.zeros((R1, HP), dtype=tl.float32)
        for kc in range(0, KP, KC):
            if TRANS:
                w = tl.trans(tl.load(w_ptr + rn[:, None] * HP + (kc + rk)[None, :]))
            else:
                w = tl.load(w_ptr + (kc + rk)[:, None] * HP + rn[None, :])
            a0 = tl.load(s_ptr + r0[:, None] * HP + (kc + rk)[None, :])
            a1 = tl.load(s_ptr + r1[:, None] * HP + (kc + rk)[None, :])
            acc0 = tl.dot(a0, w, acc0, input_precision="ieee")
            acc1 = tl.dot(a1, w, acc1, input_precision="ieee")
        return acc0, acc1

    @triton.jit
    def _d_tile(z_t, z_hat, z_fwd_ptrs, mask, k, n, is_lp, FROM_ORIGINAL: tl.constexpr):
        # d = dL/dz * (1 - z^2) of one row tile (switch 3: against the original activity at k > 0)
        if FROM_ORIGINAL:
            if k > 0:
                diff = z_t - tl.load(z_fwd_ptrs, mask=mask, other=0.0)
            else:
                diff = z_t - z_hat
        else:
            diff = z_t - z_hat
        return _loss_grad(diff, n, is_lp) * (1.0 - z_t * z_t)

    @triton.jit
    def _chain_kernel(h_ptr, z_ptr, xwb_ptr, wp_ptr, top_ptr, tgt_ptr, chk_ptr, dh_ptr, s_ptr,
                      T_ptr, K_ptr, gamma_ptr, c_ptr, mode_ptr, lp_ptr,
                      T_max: tl.constexpr, K_max: tl.constexpr,
                      B: tl.constexpr, H: tl.constexpr, R0: tl.constexpr, R1: tl.constexpr,
                      HP: tl.constexpr, KP: tl.constexpr, KC: tl.constexpr,
                      ONE_W: tl.constexpr, FROM_ORIGINAL: tl.constexpr,
                      PROBE: tl.constexpr, INTERP: tl.constexpr):
        # One program = one member's whole chain (Algorithm 1 lines 19-26). Rows r0 (R0 of them)
        # and r1 (R1, padded rows masked) of every (B x H) state are two register tiles.
        p = tl.program_id(0).to(tl.int64)
        r0 = tl.arange(0, R0)
        r1 = R0 + tl.arange(0, R1)
        rn = tl.arange(0, HP)
        m0 = (r0[:, None] < B) & (rn[None, :] < H)
        m1 = (r1[:, None] < B) & (rn[None, :] < H)
        o0 = r0[:, None] * H + rn[None, :]
        o1 = r1[:, None] * H + rn[None, :]
        so0 = r0[:, None] * HP + rn[None, :]
        so1 = r1[:, None] * HP + rn[None, :]
        T_p = tl.load(T_ptr + p)
        K_p = tl.load(K_ptr + p)
        gamma = tl.load(gamma_ptr + p)
        c = tl.load(c_ptr + p)
        mode = tl.load(mode_ptr + p)
        is_lp = tl.load(lp_ptr + p) != 0
        n = (B * H) * 1.0
        step = B * H
        base = p * T_max * step
        if ONE_W:   # one square padded W_hh, read by columns for product 1
            w_T = wp_ptr + p * (HP * HP)
            w_N = w_T
        else:       # W_hh^T then W_hh, each (KP x HP), read by rows
            w_T = wp_ptr + p * (2 * KP * HP)
            w_N = w_T + KP * HP
        s_d = s_ptr + p * (2 * (R0 + R1) * HP)    # scratch: d
        s_a = s_d + (R0 + R1) * HP                # scratch: tanh(h_new)
        # the target z_hat_t of each step is read back from targets[t] where it was stored
        # (not held in registers: that keeps 8 warps under 128 registers)
        tl.store(tgt_ptr + base + (T_p - 1) * step + o0,
                 tl.load(top_ptr + p * step + o0, mask=m0, other=0.0), mask=m0)
        tl.store(tgt_ptr + base + (T_p - 1) * step + o1,
                 tl.load(top_ptr + p * step + o1, mask=m1, other=0.0), mask=m1)
        for i in range(0, T_max - 1):
            t = T_p - 1 - i                       # t = T_p - 1 .. 1; shorter members idle
            if t >= 1:
                tl.debug_barrier()                # targets[t] stored by every thread
                h0 = tl.load(h_ptr + base + (t - 1) * step + o0, mask=m0, other=0.0)
                h1 = tl.load(h_ptr + base + (t - 1) * step + o1, mask=m1, other=0.0)
                z0 = tl.load(z_ptr + base + t * step + o0, mask=m0, other=0.0)
                z1 = tl.load(z_ptr + base + t * step + o1, mask=m1, other=0.0)
                for k in range(0, K_max):
                    if k < K_p:
                        zh0 = tl.load(tgt_ptr + base + t * step + o0, mask=m0, other=0.0)
                        zh1 = tl.load(tgt_ptr + base + t * step + o1, mask=m1, other=0.0)
                        tl.store(s_d + so0, _d_tile(z0, zh0, z_ptr + base + t * step + o0, m0,
                                                     k, n, is_lp, FROM_ORIGINAL))
                        tl.store(s_d + so1, _d_tile(z1, zh1, z_ptr + base + t * step + o1, m1,
                                                     k, n, is_lp, FROM_ORIGINAL))
                        tl.debug_barrier()
                        acc0, acc1 = _product2(s_d, w_T, r0, r1, rn, R0, R1, HP, KP, KC, ONE_W)
                        zb0 = _tanh(h0, INTERP)
                        zb1 = _tanh(h1, INTERP)
                        delta0 = acc0 * (1.0 - zb0 * zb0)
                        delta1 = acc1 * (1.0 - zb1 * zb1)
                        norm = tl.math.sqrt_rn(tl.sum(tl.sum(delta0 * delta0, axis=1), axis=0)
                                               + tl.sum(tl.sum(delta1 * delta1, axis=1), axis=0))
                        safe = tl.maximum(norm, 1.1754943508222875e-38)
                        cs = tl.math.div_rn(c, safe)
                        clip = tl.where((c > 0) & (norm >= c), cs, 1.0)
                        forced = tl.where((c > 0) & (norm > 0), cs, 1.0)
                        scale = tl.where(mode == 0, clip, tl.where(mode == 2, forced, 1.0))
                        if PROBE:
                            if k == 0:
                                tl.store(dh_ptr + p * T_max + t - 1, norm * scale)
                        h0 = h0 - gamma * (delta0 * scale)
                        h1 = h1 - gamma * (delta1 * scale)
                        tl.store(s_a + so0, _tanh(h0, INTERP))
                        tl.store(s_a + so1, _tanh(h1, INTERP))
                        tl.debug_barrier()
                        acc0, acc1 = _product2(s_a, w_N, r0, r1, rn, R0, R1, HP, KP, KC, False)
                        x0 = tl.load(xwb_ptr + base + t * step + o0, mask=m0, other=0.0)
                        x1 = tl.load(xwb_ptr + base + t * step + o1, mask=m1, other=0.0)
                        z0 = _tanh(acc0 + x0, INTERP)
                        z1 = _tanh(acc1 + x1, INTERP)
                tl.store(tgt_ptr + base + (t - 1) * step + o0, _tanh(h0, INTERP), mask=m0)
                tl.store(tgt_ptr + base + (t - 1) * step + o1, _tanh(h1, INTERP), mask=m1)
                tl.store(chk_ptr + base + t * step + o0, z0, mask=m0)
                tl.store(chk_ptr + base + t * step + o1, z1, mask=m1)


def kernel_tanh(x: torch.Tensor) -> torch.Tensor:
    """The chain kernel's tanh applied to a float32 tensor (to compare with torch.tanh)."""
    x = x.contiguous().float()
    y = torch.empty_like(x)
    _tanh_kernel[(triton.cdiv(x.numel(), 1024),)](x, y, x.numel(), BLOCK=1024,
                                                  INTERP=interpreter())
    return y


def _next_pow2(n: int, minimum: int = 16) -> int:
    return max(minimum, 1 << (int(n) - 1).bit_length())


def geometry(B: int, H: int, variant: str) -> dict:
    """The padded shapes a variant uses for batch B and hidden size H: HP output columns, the
    reduction padded to KP = KC * ceil(H / KC), the rows in two tiles R0 + R1 (R0 the largest
    power of two below B, R1 the rest rounded up to a power of two: 20 = 16 + 4)."""
    if B < 2:
        raise ValueError("the fused chain needs a batch of at least 2")
    KC = VARIANTS[variant]["KC"]
    R0 = 1 << (int(B - 1).bit_length() - 1)
    R1 = _next_pow2(B - R0, 1)
    return dict(HP=_next_pow2(H), KC=KC, KP=-(-H // KC) * KC, R0=R0, R1=R1, SR=R0 + R1)


def padded_weights(W_hh: torch.Tensor, KP: int, HP: int, one: bool = False) -> torch.Tensor:
    """Every member's weights zero-padded (device tensors only): (P, 2, KP, HP) holding W_hh^T
    and W_hh, or with ``one`` the single square (P, HP, HP) W_hh both products read."""
    P, H, _ = W_hh.shape
    if one:
        wp = torch.zeros(P, HP, HP, device=W_hh.device, dtype=torch.float32)
        wp[:, :H, :H] = W_hh
        return wp
    wp = torch.zeros(P, 2, KP, HP, device=W_hh.device, dtype=torch.float32)
    wp[:, 0, :H, :H] = W_hh.transpose(1, 2)
    wp[:, 1, :H, :H] = W_hh
    return wp


def launch_spec(variant: str, B: int, H: int, T: int, K_max: int, from_original: bool,
                probe: bool, interp: bool = None):
    """(kernel, constexprs, launch options) of one variant for one chain shape; used by the
    launch below and by tests/algorithms/test_chain_kernel_compile.py (which compiles it for sm_90 on the CPU)."""
    v = VARIANTS[variant]
    g = geometry(B, H, variant)
    const = dict(T_max=int(T), K_max=int(K_max), B=int(B), H=int(H), HP=g["HP"], KP=g["KP"],
                 KC=g["KC"], FROM_ORIGINAL=bool(from_original), PROBE=bool(probe),
                 INTERP=interpreter() if interp is None else bool(interp))
    opts = dict(num_warps=v["num_warps"], num_stages=v["num_stages"])
    if v.get("maxnreg"):
        opts["maxnreg"] = v["maxnreg"]
    const.update(R0=g["R0"], R1=g["R1"], ONE_W=bool(v["one_w"]))
    return _chain_kernel, const, opts


def make_chain(variant: str = None):
    """The chain of one variant (see :data:`VARIANTS`), with :func:`fused_chain`'s signature."""
    variant = variant or DEFAULT_VARIANT
    info = VARIANTS[variant]

    def chain(W_hh, h, z, xw_b, z_hat_top, hyper, switches, probe=False, lengths=None):
        if triton is None:
            raise RuntimeError("the fused chain needs Triton (pip install triton)")
        if not supports(switches):
            raise ValueError("the fused chain does not implement switch 5 (released_regularizer)")
        P, T, B, H = z.shape
        dev = z.device
        g = geometry(B, H, variant)
        h, z, xw_b = h.contiguous(), z.contiguous(), xw_b.contiguous()
        targets = torch.zeros_like(z)
        z_check = z.clone()
        dh = torch.zeros(P, T, device=dev, dtype=z.dtype)
        scratch = torch.zeros(P, 2, g["SR"], g["HP"], device=dev, dtype=torch.float32)
        T_p = (torch.full((P,), T, dtype=torch.int32, device=dev) if lengths is None
               else lengths.to(device=dev, dtype=torch.int32))
        c = (hyper.c0 if switches.single_clip else hyper.c1).to(torch.float32).contiguous()
        kernel, const, opts = launch_spec(
            variant, B, H, T, hyper.K_max, switches.loss_from_original_activity, probe)
        wp = padded_weights(W_hh, g["KP"], g["HP"], const.get("ONE_W", False))
        kernel[(P,)](
            h, z, xw_b, wp, z_hat_top.contiguous(), targets, z_check, dh, scratch,
            T_p, hyper.K.to(torch.int32).contiguous(), hyper.gamma.reshape(P).contiguous(), c,
            hyper.mode.to(torch.int32).contiguous(),
            hyper.log_penalty.reshape(P).to(torch.int32).contiguous(),
            **const, **opts)
        return targets, z_check, dh

    chain.__name__ = f"fused_chain_{variant}"
    chain.variant = variant
    chain.__doc__ = f"The fused chain, variant {variant!r}: {info['description']}."
    return chain


_default_chain = make_chain(DEFAULT_VARIANT)


def fused_chain(W_hh, h, z, xw_b, z_hat_top, hyper, switches, probe=False, lengths=None):
    """Drop-in replacement for :func:`lra.algorithms.lra_diff.hidden_target_chain` (see its docstring), the
    default variant.

    ``lengths`` (P,) gives each member's own T (default: all T); shorter members are stored
    left-aligned, their top target in ``z_hat_top``.
    """
    return _default_chain(W_hh, h, z, xw_b, z_hat_top, hyper, switches, probe, lengths)
