"""Is a training step safe to capture in a CUDA graph? A check that runs without a GPU.

Book chapter "The engine and its performance". A CUDA graph records the kernels of one training
iteration and replays them; anything in the step that talks to the host breaks capture (PyTorch
raises "Cannot copy between CPU and CUDA tensors during CUDA graph capture", or "operation not
permitted when stream is capturing") or, worse, is silently baked into the graph as a constant.
Those are:

* a host-to-device copy: a Python scalar written into a device tensor (``t[0] = False`` makes a
  CPU ``scalar_tensor`` and copies it), ``torch.tensor(data)`` built inside the step, a CPU tensor
  moved with ``.to(device)``;
* a device-to-host synchronisation: ``.item()``, ``bool(t)``, ``.tolist()``, ``nonzero``,
  boolean-mask indexing, ``masked_select``, ``repeat_interleave`` without ``output_size``,
  ``unique``, ``equal``;
* an operation mixing a (non-scalar) CPU tensor with device tensors.

:class:`CaptureSafetyMode` is a ``TorchDispatchMode`` that records every such operation while the
step runs. Run the step with its tensors on a stand-in device (``"meta"``: shapes only, no data,
so any read of a value also raises) and every host interaction shows up as a CPU tensor among meta
tensors or as one of the ops above. ``tests/engine/test_capture_safety.py`` runs every algorithm and
released-code switch through it; ``scripts/gpu_selftest.py`` then captures the same steps on a
real GPU.
"""
from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode

# Operations that synchronise with the host or create a tensor from host data.
HOST_OPS = {
    "aten._local_scalar_dense", "aten.item", "aten.is_nonzero", "aten.equal",
    "aten.nonzero", "aten.nonzero_static", "aten.masked_select", "aten.unique_consecutive",
    "aten._unique2", "aten.unique_dim", "aten.scalar_tensor", "aten.lift_fresh",
    "aten.lift_fresh_copy", "aten._assert_async",
}


def _name(func) -> str:
    return str(func.overloadpacket) if hasattr(func, "overloadpacket") else str(func)


def _tensors(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            yield from _tensors(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _tensors(o)


class CaptureSafetyMode(TorchDispatchMode):
    """Record host interactions of the code run under it; ``device`` is the stand-in device type.

    ``violations`` lists (op, reason) pairs; :meth:`report` formats them. Use::

        with CaptureSafetyMode("meta") as mode:
            step()
        assert not mode.violations, mode.report()
    """

    def __init__(self, device: str = "meta"):
        super().__init__()
        self.device = device
        self.violations: list[tuple[str, str]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = _name(func)
        tensors = list(_tensors(args)) + list(_tensors(kwargs))
        on_device = any(t.device.type == self.device for t in tensors)
        if name in HOST_OPS:
            self.violations.append((name, "synchronises with the host or copies host data"))
        elif name == "aten.repeat_interleave" and kwargs.get("output_size") is None \
                and any(t.dtype in (torch.int64, torch.int32) for t in tensors[:1]):
            self.violations.append((name, "output size read back from the device"))
        elif name in ("aten.index", "aten.index_put", "aten.index_put_", "aten._index_put_impl_") \
                and any(t.dtype == torch.bool for t in tensors[1:]):
            self.violations.append((name, "boolean-mask indexing synchronises"))
        cpu = [t for t in tensors if t.device.type == "cpu" and t.dim() > 0]
        if on_device and cpu:
            self.violations.append((name, f"takes a CPU tensor of shape {tuple(cpu[0].shape)} "
                                          f"beside {self.device} tensors"))
        target = kwargs.get("device")
        if name in ("aten._to_copy", "aten.copy_", "aten.to") and tensors:
            devs = {t.device.type for t in tensors}
            if target is not None:
                devs.add(torch.device(target).type)
            if len(devs) > 1:
                self.violations.append((name, f"copies between devices {sorted(devs)}"))
        return func(*args, **kwargs)

    def report(self) -> str:
        if not self.violations:
            return "no host interaction"
        seen: dict[tuple, int] = {}
        for v in self.violations:
            seen[v] = seen.get(v, 0) + 1
        return "\n".join(f"{op}: {why} (x{n})" for (op, why), n in seen.items())
