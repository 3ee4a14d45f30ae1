"""The list endpoints' rendered-item caches keep what polls read and forget what they no longer read, so
a long-lived server's memory stops growing once its lists stop growing (issue 15's soak)."""

from __future__ import annotations

from slipstream.storage.raw_rows import RenderedRows


def test_an_item_still_polled_survives_any_number_of_generations():
    cache = RenderedRows(max_entries=8)
    cache.put(("polled",), b"p")
    for serial in range(100):
        assert cache.get(("polled",)) == b"p"
        cache.put(("once", serial), b"x")

    assert cache.get(("polled",)) == b"p"


def test_superseded_renderings_are_dropped_and_the_size_stays_bounded():
    cache = RenderedRows(max_entries=8)
    for state in ("queued", "running", "success"):
        cache.put(("run_1", state), state.encode())
    for serial in range(50):
        cache.put(("run", serial, "success"), b"x")
        assert len(cache) <= 8

    assert cache.get(("run_1", "queued")) is None
    assert cache.get(("run_1", "running")) is None


def test_a_hit_in_the_older_generation_moves_to_the_newer():
    cache = RenderedRows(max_entries=4)
    cache.put(("a",), b"a")
    cache.put(("b",), b"b")
    cache.put(("c",), b"c")  # ("a",) and ("b",) are now the older generation

    assert cache.get(("a",)) == b"a"  # moved to the newer generation
    cache.put(("d",), b"d")  # the newer is full again: the older, holding ("b",), is dropped

    assert cache.get(("a",)) == b"a"
    assert cache.get(("b",)) is None
