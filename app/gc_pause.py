"""Pausing Python's cyclic garbage collector around bulk work.

A scoring run or a contact import holds hundreds of thousands of long-lived containers
(the graph, facts, cleaned rows), and every full collection walks all of them again: at
100,000 people that cost a scoring run several seconds and an import half a second. Such
work makes little cyclic garbage (reference counting frees the rest at once), so the
collector waits until it ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """No cyclic collection inside the block; a caller that had it off keeps it off."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
