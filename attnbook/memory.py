"""Count the memory that PyTorch operators use: peak bytes of live tensors, and bytes read and written.

Chapter 6 measures how attention's memory grows with the sequence length. The resident set size
that :mod:`attnbook.bench` reads depends on the allocator, the BLAS library and the operating
system; the count here depends only on which tensors the operators create, so it prints the same
numbers on every machine (for the same PyTorch version).

:class:`TensorMemoryCounter` is a ``TorchDispatchMode``: while it is active, every PyTorch operator
call passes through it (forward *and* backward, since autograd's operators are dispatched too). It
keeps

* ``live_bytes`` / ``peak_bytes``: the bytes of tensor storage created while the counter is
  active and still alive, and the largest value that sum reached. A storage is counted once,
  however many views point into it, and is subtracted when Python frees it. Tensors that existed
  before (the inputs) are not counted: this is the *extra* memory of the call.
* ``bytes_read`` / ``bytes_written``: a simple model of memory traffic, in which every operator
  reads all its input tensors from memory and writes all its outputs to memory (no cache, no
  fusion). Views (reshape, transpose, slicing) move nothing; ``torch.empty`` writes nothing.

What it cannot see: memory that an operator allocates privately inside its C++ kernel and frees
before returning (e.g. the per-thread tiles of PyTorch's fused CPU attention kernel). For code
written with PyTorch operators, such as the book's attention functions, it sees everything.
"""

from __future__ import annotations

import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

_NO_WRITE = {"empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided"}  # allocate only


def _tensors(tree) -> list[torch.Tensor]:
    return [x for x in tree_flatten(tree)[0] if isinstance(x, torch.Tensor)]


def _nbytes(x: torch.Tensor) -> int:
    return x.numel() * x.element_size()


class TensorMemoryCounter(TorchDispatchMode):
    """Peak bytes of tensors alive at once, and bytes read and written, by the operators run inside ``with``.

    Example::

        with TensorMemoryCounter() as counter:
            out = attnbook.scaled_dot_product_attention(q, k, v)
        counter.peak_bytes, counter.bytes_read, counter.bytes_written
    """

    def __init__(self):
        super().__init__()
        self.live_bytes = 0  # bytes of storages created here and still alive
        self.peak_bytes = 0  # the largest live_bytes seen
        self.bytes_read = 0
        self.bytes_written = 0
        self._sizes: dict[int, int] = {}  # id(storage) -> bytes, for the storages being counted

    def _release(self, key: int) -> None:
        self.live_bytes -= self._sizes.pop(key)

    def _track(self, storage) -> None:
        key = id(storage)  # PyTorch keeps one Python object per storage while the storage lives
        if key not in self._sizes:
            self._sizes[key] = storage.nbytes()
            self.live_bytes += storage.nbytes()
            self.peak_bytes = max(self.peak_bytes, self.live_bytes)
            weakref.finalize(storage, self._release, key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        inputs = _tensors((args, kwargs))
        out = func(*args, **kwargs)
        outputs = _tensors(out)
        input_storages = {x.untyped_storage().data_ptr() for x in inputs}
        aliases_input = any(x.untyped_storage().data_ptr() in input_storages for x in outputs)
        is_view = func.is_view or (aliases_input and not func._schema.is_mutable)
        if not is_view:
            self.bytes_read += sum(_nbytes(x) for x in inputs)
            if func.overloadpacket.__name__ not in _NO_WRITE:
                self.bytes_written += sum(_nbytes(x) for x in outputs)
        for x in outputs:
            if x.untyped_storage().data_ptr() not in input_storages:  # new memory, not an input's
                self._track(x.untyped_storage())
        return out


def measure_tensor_memory(fn, *args, **kwargs) -> dict:
    """Run ``fn(*args, **kwargs)`` under a :class:`TensorMemoryCounter`.

    Returns ``{"peak_bytes", "bytes_read", "bytes_written"}``. The result of ``fn`` is freed
    before returning (it is counted in the peak while it exists).
    """
    with TensorMemoryCounter() as counter:
        result = fn(*args, **kwargs)
        del result
    return {"peak_bytes": counter.peak_bytes, "bytes_read": counter.bytes_read,
            "bytes_written": counter.bytes_written}
