"""IdleCollector: full collections only between calls, and none of them lets garbage stay behind."""

from __future__ import annotations

import gc
import weakref

import pytest

from desktop.runtime.memory import RARE_FULL_COLLECTIONS, IdleCollector


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


@pytest.fixture
def restore_gc():
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    gc.unfreeze()


def test_collects_only_after_a_quiet_moment_without_calls(qtbot, restore_gc):
    calls = ["call-1"]
    collector = IdleCollector(lambda: bool(calls), quiet_s=0.05, every_s=0.0, tick_ms=10)
    collector.start()
    try:
        assert gc.get_threshold()[2] == RARE_FULL_COLLECTIONS
        assert not collector.tick()  # a call is on screen
        calls.clear()
        assert not collector.tick()  # quiet only since now
        qtbot.waitUntil(lambda: collector.collections >= 1, timeout=2000)  # the timer keeps trying
        assert gc.get_freeze_count() > 0  # what survived is left out of later collections
        calls.append("call-2")
        done = collector.collections
        assert not collector.tick() and collector.collections == done
    finally:
        collector.stop()


def test_at_most_one_collection_per_period(restore_gc):
    collector = IdleCollector(lambda: False, quiet_s=0.0, every_s=3600.0)
    assert collector.tick()
    assert not collector.tick()
    assert collector.collections == 1


def test_garbage_frozen_with_the_survivors_is_freed_by_the_next_idle_collection(restore_gc):
    collector = IdleCollector(lambda: False)
    node = Node()
    gone = weakref.ref(node)
    collector.collect()  # node is alive: frozen
    del node
    gc.collect()
    assert gone() is not None  # a frozen cycle is not collected by an ordinary collection …
    collector.collect()
    assert gone() is None  # … but by the next idle collection, which unfreezes first
