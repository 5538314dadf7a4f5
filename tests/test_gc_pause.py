"""The cyclic collector pause that scoring runs and imports work under."""

from __future__ import annotations

import gc

import pytest

from app.gc_pause import cyclic_gc_paused


def test_the_pause_ends_with_the_block_even_when_it_fails() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), cyclic_gc_paused():
        assert not gc.isenabled()
        raise RuntimeError("worker trouble")
    assert gc.isenabled()
    gc.disable()  # a caller that had it off keeps it off
    try:
        with cyclic_gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
