"""The learning rules (wing 2 of 5: ground <- algorithms <- engine <- campaign <- analysis <- faces).

One module per rule, each a population step (``train_step`` over P members at once) beside the
equations it implements: :mod:`bptt` (eq. 3), :mod:`tptt` (target propagation through time),
:mod:`lra_diff` (Algorithms 1-2, with the released code's switches), :mod:`readout` (the
readout-only control), :mod:`optim` (plain SGD per member), :mod:`chain_kernel` (Algorithm 1's
target chain fused into one Triton kernel), :mod:`reference` (short single-network versions
written with autograd, what the tests and chapters compare against) and :mod:`released_script`
(the released script's step, as that script computes it).

May import: the ground (:mod:`lra.tasks`, :mod:`lra.model`) and this wing. Nothing here knows
about populations over time, stored rows or the book.
"""
