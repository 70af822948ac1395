"""Per-thread work buffers for the metrics' full-image temporaries (speed only; no value changes).

Allocating fresh multi-MB arrays costs more than the arithmetic (the OS hands back zeroed pages on
every call: ~2 ms per 800x600 float64 array under load, vs ~0.1 ms for a pass over it). Images
above `_MAX_BUFFERED_PIXELS` just allocate, so the buffers never hold more than
~4 x 8 B x 2^21 = 64 MB per thread.
"""
import threading

import numpy as np

_MAX_BUFFERED_PIXELS = 1 << 21
_workspace = threading.local()


def buffer(slot, size, dtype=np.float64):
    """A reusable 1-D work array of `size` for `slot` ("f0".."f2", "i0", "b0"). Its contents are
    garbage; a function may only use the slots it owns while it runs and must not return it."""
    if size > _MAX_BUFFERED_PIXELS:
        return np.empty(size, dtype=dtype)
    buffers = getattr(_workspace, "buffers", None)
    if buffers is None:
        buffers = _workspace.buffers = {}
    array = buffers.get(slot)
    if array is None or array.size != size or array.dtype != dtype:
        array = buffers[slot] = np.empty(size, dtype=dtype)
    return array
