"""Device-independent memory measures of a training step, for ``tools/benchmark.py``.

* :class:`LiveTensorBytes`: the peak bytes of tensor storages allocated inside
  the context and alive at the same time. This is what a caching GPU allocator's
  ``max_memory_allocated`` counts above what existed before (less its block
  rounding), measured on any device, without the allocator, page-cache and
  fragmentation effects that make a CPU's resident-set peak noisy.
* :func:`saved_tensor_bytes`: the bytes autograd saves for backward, each
  storage counted once, parameters and buffers excluded.
"""

import weakref
from contextlib import contextmanager
from typing import Dict, Iterable, Iterator

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class LiveTensorBytes(TorchDispatchMode):
    """Track the storages that operators allocate inside this context.

    A storage counts from the operator call that creates it until it is
    freed; outputs that alias an input (views, in-place and ``out=`` results)
    allocate nothing. ``peak`` is the largest total alive at once, ``live``
    the total alive now.
    """

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._alive: Dict[int, int] = {}

    def _free(self, key: int) -> None:
        self.live -= self._alive.pop(key, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        returns = func._schema.returns
        outs = out if isinstance(out, (tuple, list)) else (out,)
        for i, t in enumerate(outs):
            aliases = i < len(returns) and returns[i].alias_info is not None
            for leaf in tree_leaves(t):
                if aliases or not isinstance(leaf, torch.Tensor):
                    continue
                storage = leaf.untyped_storage()
                key, nbytes = storage.data_ptr(), storage.nbytes()
                if nbytes == 0 or key in self._alive:
                    continue
                self._alive[key] = nbytes
                self.live += nbytes
                self.peak = max(self.peak, self.live)
                weakref.finalize(storage, self._free, key)
        return out


@contextmanager
def saved_tensor_bytes(exclude: Iterable[torch.Tensor] = ()) -> Iterator[Dict[str, int]]:
    """Count the bytes autograd saves for backward inside the context.

    Args:
        exclude: Tensors whose storages are not counted (parameters and
            buffers: they exist whatever autograd saves).

    Yields:
        A dict whose ``'bytes'`` holds the total once the context exits,
        each storage counted once.
    """
    skip = {t.untyped_storage().data_ptr() for t in exclude}
    storages: Dict[int, int] = {}
    result = {'bytes': 0}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in skip:
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield result
    result['bytes'] = sum(storages.values())
