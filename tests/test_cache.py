"""core.cache: the one keyed JSON cache."""

from __future__ import annotations

import pytest
from ase.build import bulk as ase_bulk

from lidiff_helpers.core import cache
from lidiff_helpers.core.cache import cached_call, cached_json, key_value
from lidiff_helpers.simulation.bulk import EOSResult


def test_corrupt_file_is_recomputed(tmp_path):
    p = tmp_path / "r.json"
    p.write_text("{not json")
    assert cached_json(p, {"k": 1}, lambda: {"x": 2}) == {"x": 2}
    assert cached_json(p, {"k": 1}, lambda: {"x": 3}) == {"x": 2}   # now cached


def test_atoms_enter_the_key_by_content():
    a = ase_bulk("Cu", "fcc", a=3.6, cubic=True)
    b = a.copy()
    assert key_value(a) == key_value(b) and key_value(a).startswith("Atoms:Cu4:")
    b.positions[0, 0] += 0.01
    assert key_value(a) != key_value(b)


def test_cached_call_needs_a_result_class(tmp_path):
    def unannotated(calc):
        return {}

    with pytest.raises(TypeError, match="unannotated must be annotated"):
        cached_call(tmp_path / "x.json", "m", unannotated, None)

    def eos(calc) -> EOSResult:
        return EOSResult(4.0, 64.0, 100.0, 4.0, -1.0, 8, (1.0,), (2.0,))

    assert cached_call(tmp_path / "y.json", "m", eos, None).a0_A == 4.0
    assert cached_call(tmp_path / "y.json", "m", eos, None).volumes_A3 == (1.0,)


def test_cached_arrays_keyed_and_atomic(tmp_path):
    import numpy as np

    from lidiff_helpers.core.cache import cached_arrays

    calls = []

    def compute():
        calls.append(1)
        return {"x": np.arange(4.0), "n": 3}

    f = tmp_path / "c.npz"
    a = cached_arrays(f, {"model": "m1"}, compute)
    b = cached_arrays(f, {"model": "m1"}, compute)
    assert len(calls) == 1 and np.array_equal(a["x"], b["x"]) and int(b["n"]) == 3
    cached_arrays(f, {"model": "m2"}, compute)  # another key recomputes
    assert len(calls) == 2
    f.write_bytes(b"not an npz")  # a corrupt file recomputes instead of failing
    assert np.array_equal(cached_arrays(f, {"model": "m2"}, compute)["x"], np.arange(4.0))
    assert len(calls) == 3 and not list(tmp_path.glob("*.tmp.npz"))


@pytest.mark.parametrize("kind", ["json", "arrays"])
def test_two_threads_computing_the_same_entry_both_succeed(tmp_path, kind):
    """Two writers of one entry at once (seen: two fine-tuning runs fitting the same E0s in
    parallel threads): each writes its own temporary file, both get the result, the file
    holds it. With one shared temporary name the second rename failed (FileNotFoundError)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    both_computing = threading.Barrier(2)

    def compute():
        both_computing.wait(10)              # both have missed the cache before either writes
        return {"x": [1.0, 2.0]}

    path = tmp_path / ("e0s.json" if kind == "json" else "e0s.npz")
    fn = cache.cached_json if kind == "json" else cache.cached_arrays
    with ThreadPoolExecutor(2) as ex:
        out = list(ex.map(lambda _: fn(path, {"k": 1}, compute), range(2)))
    assert all(list(o["x"]) == [1.0, 2.0] for o in out)
    assert list(fn(path, {"k": 1}, lambda: {"x": [9.0]})["x"]) == [1.0, 2.0]  # from the file
    assert [p.name for p in tmp_path.iterdir()] == [path.name]               # no leftovers
