"""Frame selection: diversity (PCA + K-means) picks one frame per cluster; no subset
ever holds a held-out test frame."""

from __future__ import annotations

import numpy as np
import pytest

from lidiff_helpers.io import data
from lidiff_helpers.training import selection


def _clusters(n_clusters=6, sizes=None, dim=12, seed=0, spread=0.05):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=5.0, size=(n_clusters, dim))
    sizes = sizes or [20] * n_clusters
    x = np.concatenate([c + spread * rng.normal(size=(n, dim)) for c, n in zip(centres, sizes)])
    labels = np.repeat(np.arange(n_clusters), sizes)
    perm = rng.permutation(len(x))
    return x[perm], labels[perm]


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_diverse_picks_one_frame_per_cluster(seed):
    x, lab = _clusters(seed=seed)
    idx = selection.select_diverse(x, 6, seed=seed)
    assert len(idx) == 6 and len(set(idx)) == 6
    assert sorted(lab[idx]) == list(range(6))


def test_diverse_unequal_clusters_still_one_each():
    # a big cluster must not take two picks from a small one
    x, lab = _clusters(n_clusters=5, sizes=[200, 3, 40, 2, 10], seed=3)
    idx = selection.select_diverse(x, 5, seed=11)
    assert sorted(lab[idx]) == [0, 1, 2, 3, 4]


def test_diverse_picks_the_frame_nearest_each_centre():
    # two tight pairs: the chosen frames are members, never an average of them
    x = np.array([[0.0, 0.0], [0.0, 0.1], [10.0, 10.0], [10.0, 10.1]])
    idx = selection.select_diverse(x, 2, seed=0)
    assert {int(i) // 2 for i in idx} == {0, 1}


def test_random_picks_of_clusters_would_miss_some():
    """Control: the test above is not trivially satisfied (a random draw misses clusters)."""
    x, lab = _clusters(n_clusters=6, sizes=[100, 100, 100, 2, 2, 2], seed=5)
    rng = np.random.default_rng(0)
    hits = [len(set(lab[rng.choice(len(x), 6, replace=False)])) for _ in range(50)]
    assert np.mean(hits) < 5
    assert len(set(lab[selection.select_diverse(x, 6, seed=0)])) == 6


def test_diverse_edge_cases_and_determinism():
    x, _ = _clusters(seed=2)
    np.testing.assert_array_equal(selection.select_diverse(x, 4, 3),
                                  selection.select_diverse(x, 4, 3))
    np.testing.assert_array_equal(selection.select_diverse(x[:5], 9, 0), np.arange(5))
    assert len(selection.select_diverse(x, 0, 0)) == 0
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(selection.SelectionError, match="NaN"):
        selection.select_diverse(bad, 3, 0)
    with pytest.raises(selection.SelectionError, match="2-D"):
        selection.select_diverse(x[:, 0], 3, 0)


def test_pca_keeps_the_rank_of_the_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 2)) @ rng.normal(size=(2, 8))  # rank 2 in 8-D
    assert selection.pca_reduce(x).shape == (50, 2)
    assert selection.pca_reduce(x, n_components=1).shape == (50, 1)


def _fake_descriptors():
    pool = data.lif_pool("deepmd")
    rng = np.random.default_rng(0)
    return {h: rng.normal(size=6) for h in pool.hashes}


@pytest.mark.usefixtures("study_data_dir")
@pytest.mark.parametrize("sel", ["random", "diverse"])
def test_subsets_keep_composition_and_exclusions(sel):
    valid = selection.validation_subset(5, 20, seed=9)
    vh = {a.info["hash"] for a in valid}
    fr = selection.select_subset(sel, 10, 40, seed=4, descriptors=_fake_descriptors(),
                                 exclude=vh)
    kinds = [a.info["kind"] for a in fr]
    assert kinds.count("bulk") == 10 and kinds.count("interstitial") == 40
    hs = {a.info["hash"] for a in fr}
    assert len(hs) == 50 and not hs & vh


@pytest.mark.usefixtures("study_data_dir")
def test_no_training_subset_ever_contains_a_test_frame():
    held = data.test_hashes()
    desc = _fake_descriptors()
    for seed in range(3):
        for nb, ni in ((10, 100), (95, 0), (0, 456), (20, 300)):
            for sel in ("random", "diverse"):
                fr = selection.select_subset(sel, nb, ni, seed=seed, descriptors=desc)
                assert not {a.info["hash"] for a in fr} & held, (sel, nb, ni, seed)


@pytest.mark.usefixtures("study_data_dir")
def test_too_large_subset_names_the_upstream_files():
    with pytest.raises(data.DataError, match="upstream-only"):
        selection.select_subset("diverse", 10, 457, seed=0, descriptors=_fake_descriptors())
    with pytest.raises(data.DataError, match="upstream-only"):
        selection.select_subset("random", 96, 10, seed=0)


@pytest.mark.usefixtures("study_data_dir")
def test_test_frames_are_refused():
    test = data.test_set()[:2]
    with pytest.raises(selection.SelectionError, match="held-out test"):
        selection.check_disjoint_from_test(test)
    with pytest.raises(selection.SelectionError, match="descriptors"):
        selection.select_subset("diverse", 1, 1, seed=0)
    with pytest.raises(selection.SelectionError, match="unknown selection"):
        selection.select_subset("fps", 1, 1, seed=0)


@pytest.mark.usefixtures("study_data_dir")
def test_pool_max_bounds_the_candidates():
    need = selection.diverse_candidate_hashes(seed=2, pool_max=30)
    kinds = [data.lif_pool().by_hash()[h].info["kind"] for h in need]
    assert kinds.count("bulk") == 30 and kinds.count("interstitial") == 30
    desc = {h: v for h, v in _fake_descriptors().items() if h in set(need)}
    fr = selection.select_subset("diverse", 3, 12, seed=2, descriptors=desc, pool_max=30)
    assert {a.info["hash"] for a in fr} <= set(need) and len(fr) == 15


@pytest.mark.usefixtures("study_data_dir")
def test_real_mace_descriptors_are_cached(tmp_path, monkeypatch):
    from lidiff_helpers.core import paths

    tiny = str(paths.ROOT / "tests" / "models" / "tiny-lif.model")
    hs = selection.diverse_candidate_hashes(seed=0, pool_max=2)
    got = selection.pool_descriptors(tiny, tmp_path, hashes=hs)
    x = np.stack([got[h] for h in hs])
    # per species (Li, F): mean and std of 2 layers x 8 invariant channels
    assert x.shape == (4, 2 * 2 * 16) and np.isfinite(x).all()
    bulk = [data.lif_pool().by_hash()[h].info["kind"] == "bulk" for h in hs]
    assert not np.allclose(x[bulk.index(True)], x[bulk.index(False)])

    def boom(*a, **k):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(selection, "frame_descriptors", boom)
    again = selection.pool_descriptors(tiny, tmp_path, hashes=hs)
    np.testing.assert_array_equal(np.stack([again[h] for h in hs]), x)
