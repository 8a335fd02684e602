"""Active learning: Eq. 4 on hand-made forces, banded and trust-level selection, the
replay of the study's FT1/FT2 datasets and one live round with a tiny committee."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lidiff_helpers.training import active_learning as al
from lidiff_helpers.training import al_study

TINY = Path(__file__).parent / "models" / "tiny-lif.model"


# ----------------------------------------------------------------------------- Eq. 4

def test_committee_that_agrees_has_zero_deviation():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(5, 216, 3))
    forces = np.repeat(f[:, None], 4, axis=1)  # (frames, models, atoms, 3), all equal
    dev = al.force_deviation(forces)
    assert dev.n_models == 4 and len(dev) == 5
    np.testing.assert_array_equal(dev.max_eV_A, 0.0)
    np.testing.assert_array_equal(dev.mean_eV_A, 0.0)


def test_eq4_hand_computed():
    # two models, two atoms: atom 0 F = (+1,0,0) / (-1,0,0) -> mean 0, sqrt((1+1)/2) = 1
    # atom 1 F = (0,0,0) / (0,0,4) -> mean (0,0,2), sqrt((4+4)/2) = 2
    f = np.array([[[1.0, 0, 0], [0, 0, 0]],
                  [[-1.0, 0, 0], [0, 0, 4.0]]])
    dev = al.force_deviation(f)
    assert dev.max_eV_A[0] == pytest.approx(2.0)
    assert dev.mean_eV_A[0] == pytest.approx(1.5)
    assert dev.argmax_atom[0] == 1
    # three models, one atom, x = 0, 3, 6: mean 3, sqrt((9 + 0 + 9) / 3) = sqrt(6)
    g = np.array([[[0.0, 0, 0]], [[3.0, 0, 0]], [[6.0, 0, 0]]])
    assert al.force_deviation(g).max_eV_A[0] == pytest.approx(np.sqrt(6.0))
    # a force common to all members does not change the deviation
    shifted = f + np.array([0.3, -2.0, 5.0])
    assert al.force_deviation(shifted).max_eV_A[0] == pytest.approx(2.0)


def test_eq4_vectorised_equals_per_frame_and_mixed_atom_counts():
    rng = np.random.default_rng(1)
    batch = rng.normal(size=(6, 3, 10, 3))
    whole = al.force_deviation(batch)
    for i in range(6):
        one = al.force_deviation(batch[i])
        assert whole.max_eV_A[i] == pytest.approx(one.max_eV_A[0])
        assert whole.mean_eV_A[i] == pytest.approx(one.mean_eV_A[0])
    mixed = [rng.normal(size=(3, 216, 3)), rng.normal(size=(3, 217, 3)),
             rng.normal(size=(3, 216, 3))]
    dev = al.force_deviation(mixed)
    for i, x in enumerate(mixed):
        assert dev.max_eV_A[i] == pytest.approx(al.force_deviation(x).max_eV_A[0])


def test_eq4_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 2 models"):
        al.force_deviation(np.zeros((1, 1, 4, 3)))
    bad = np.zeros((3, 2, 4, 3))
    bad[2, 1, 0, 0] = np.nan
    with pytest.raises(ValueError, match="frame 2"):
        al.force_deviation(bad)
    with pytest.raises(ValueError, match="must be"):
        al.force_deviation(np.zeros((2, 4, 2)))


# ----------------------------------------------------------------------------- selection

def test_quotas_add_up_by_largest_remainder():
    assert al.allocate_quotas(40, (0.3, 0.6, 0.1)) == [12, 24, 4]
    assert al.allocate_quotas(7, (0.3, 0.6, 0.1)) == [2, 4, 1]
    assert al.allocate_quotas(68, (0.3, 0.6, 0.1)) == [20, 41, 7]
    with pytest.raises(ValueError, match="add up to 1"):
        al.allocate_quotas(10, (0.3, 0.6))


def test_banded_selection_gives_requested_fractions():
    rng = np.random.default_rng(3)
    dev = rng.normal(0.10, 0.02, size=5000).clip(min=0)
    sel = al.select_banded(dev, 200, (0.3, 0.6, 0.1), (1.0, 1.5, 2.0), seed=5)
    assert sel.requested == (60, 120, 20) and sel.taken == (60, 120, 20)
    assert len(np.unique(sel.indices)) == 200
    # check every selected frame's band independently of the implementation
    z = np.abs(dev[sel.indices] - dev.mean()) / dev.std()
    expect = np.where(z <= 1.0, 0, np.where(z <= 1.5, 1, np.where(z <= 2.0, 2, -1)))
    np.testing.assert_array_equal(sel.band_of, expect)
    counts = np.bincount(sel.band_of, minlength=3) / 200
    np.testing.assert_allclose(counts, [0.3, 0.6, 0.1])
    assert (z <= 2.0).all()  # nothing beyond the outermost edge
    # same seed, same frames; other seed, other frames
    again = al.select_banded(dev, 200, seed=5)
    np.testing.assert_array_equal(sel.indices, again.indices)
    assert not np.array_equal(sel.indices, al.select_banded(dev, 200, seed=6).indices)


def test_banded_selection_odd_size_and_shortfall_redistributed():
    rng = np.random.default_rng(4)
    dev = rng.normal(1.0, 0.1, size=400)
    sel = al.select_banded(dev, 7)
    assert sel.taken == (2, 4, 1)
    # a distribution with only two values: everything is within 1 sigma -> band 1 only
    two = np.r_[np.zeros(50), np.ones(50)]
    s2 = al.select_banded(two, 10)
    assert s2.available == (100, 0, 0) and s2.requested == (3, 6, 1)
    assert len(s2.indices) == 10 and s2.taken == (10, 0, 0)
    s3 = al.select_banded(two, 10, redistribute=False)
    assert len(s3.indices) == 3


def test_upper_side_bands():
    dev = np.array([0.0, 1.0, 2.0, 3.0, 4.0])  # mean 2, std sqrt(2)
    band, m, s = al.deviation_bands(dev, (1.0, 1.5, 2.0), side="upper")
    assert m == pytest.approx(2.0) and s == pytest.approx(np.sqrt(2.0))
    # z = (d - 2)/1.414: -1.41 -0.71 0 0.71 1.41 -> below-mean frames count as band 0
    np.testing.assert_array_equal(band, [0, 0, 0, 0, 1])
    both, _, _ = al.deviation_bands(dev, (1.0, 1.5, 2.0), side="both")
    np.testing.assert_array_equal(both, [1, 0, 0, 0, 1])


def test_trust_levels_exact():
    dev = np.array([0.01, 0.05, 0.10, 0.20, 0.30, 0.049999, 0.199999])
    np.testing.assert_array_equal(al.select_trust(dev, 0.05, 0.20), [1, 2, 6])
    sub = al.select_trust(dev, 0.0, 1.0, n_max=3, seed=1)
    assert len(sub) == 3 and set(sub) <= set(range(7))
    with pytest.raises(ValueError, match="lo < hi"):
        al.select_trust(dev, 0.2, 0.1)


def test_diversity_inside_bands():
    rng = np.random.default_rng(7)
    dev = rng.normal(0.1, 0.02, size=300)
    desc = rng.normal(size=(300, 5))
    sel = al.select_banded(dev, 20, seed=2, descriptors=desc)
    assert sel.taken == (6, 12, 2) and len(np.unique(sel.indices)) == 20
    z = np.abs(dev[sel.indices] - dev.mean()) / dev.std()
    assert (z <= 2.0).all()


# ----------------------------------------------------------------------------- replay

def test_replay_builds_ft1_ft2_with_study_sizes(study_data_dir):
    steps = al_study.study_steps()
    ds = al_study.replay_datasets(steps)
    assert len(ds["FT1"]["train"]) == 156 and ds["FT1"]["counts"] == {"bulk": 16,
                                                                      "interstitial": 140}
    assert len(ds["FT2"]["train"]) == 144 and ds["FT2"]["counts"] == {"bulk": 44,
                                                                      "interstitial": 100}
    t = al_study.replay_table(steps).set_index("step")
    assert t.loc["step 0", ["added_bulk", "added_interstitial"]].tolist() == [16, 60]
    assert t.loc["FT1 step 1", ["added_bulk", "added_interstitial"]].tolist() == [0, 40]
    assert t.loc["FT1 step 2", ["added_bulk", "added_interstitial"]].tolist() == [0, 40]
    assert t.loc["FT2 step 1", ["added_bulk", "added_interstitial"]].tolist() == [28, 40]
    # FT2's interstitial additions are the frames FT1 added at its step 1
    h = lambda fr: {a.info["hash"] for a in fr}
    ft2_int = {a.info["hash"] for a in steps["FT2 step 1"].added
               if a.info["kind"] == "interstitial"}
    assert ft2_int == h(steps["FT1 step 1"].added)
    # training and validation frames never overlap
    for d in ds.values():
        assert not h(d["train"]) & h(d["valid"])


# ----------------------------------------------------------------------------- live round

# issue acceptance test: real mace_run_train, ~30-45 s on a quiet 2-core machine (measured)
def test_one_live_round_with_surrogate_labeller(tmp_path, study_data_dir):
    from lidiff_helpers.training.labelling import SurrogateLabeller

    lab = SurrogateLabeller.from_spec(str(TINY), name="tiny-lif")
    cfg = al.ALConfig(temperatures_K=(300.0,), explore_ps=0.02, save_every=2,
                      step0_bulk=2, step0_interstitial=2, round_bulk=1, round_interstitial=2,
                      valid_ratio=1.0, committee_size=2, max_num_epochs=1, patience=5,
                      e0s="foundation", n_rounds=1, stop_deviation_eV_A=0.0,
                      train_final=False, seed=3, n_parallel=2, threads=1,
                      train_extra={"default_dtype": "float32"})
    res = al.run_active_learning(cfg, str(TINY), lab, tmp_path / "al", progress=False)
    t = res.table().set_index("step")
    assert t.loc["step 0", "n_train"] == 4 and t.loc["step 0", "n_valid"] == 4
    r1 = t.loc["round 1"]
    assert (r1["added_bulk"], r1["added_interstitial"], r1["added_valid"]) == (1, 2, 3)
    assert r1["n_train"] == 7 and r1["n_valid"] == 7
    assert len(res.train) == 7 and len(res.valid) == 7
    assert res.label_sources == ["surrogate:tiny-lif"] and res.surrogate
    assert len(res.final_models) == 2 and all(p.is_file() for p in res.final_models)
    # 10 candidates per kind (0.02 ps / 2 steps, frame 0 skipped), deviations finite
    d = res.deviations[0]
    assert len(d["max_eV_A"]) == 20 and np.isfinite(d["max_eV_A"]).all()
    assert (d["max_eV_A"] > 0).all()  # two seeds disagree
    kinds = [a.info["kind"] for a in res.train]
    assert kinds.count("bulk") == 3 and kinds.count("interstitial") == 4
    # a rerun reads everything from the cache
    again = al.run_active_learning(cfg, str(TINY), lab, tmp_path / "al", progress=False)
    assert again.table()["n_train"].tolist() == res.table()["n_train"].tolist()
    with pytest.raises(FileExistsError, match="other settings"):
        al.run_active_learning(al.ALConfig(**{**cfg.to_dict(), "seed": 4}), str(TINY), lab,
                               tmp_path / "al", progress=False)


def test_round_figures_carry_their_labels_and_the_label_note():
    import pandas as pd

    from lidiff_helpers.figures import active_learning as figures_al

    t = pd.DataFrame({"step": ["step 0", "round 1", "round 2"],
                      "interstitial_maxdev_mean_eV_A": [0.3, 0.2, 0.1],
                      "interstitial_maxdev_p95_eV_A": [0.5, 0.4, 0.2]})
    fig = figures_al.plot_disagreement_vs_round(t, "labels: SURROGATE")
    ax = fig.axes[0]
    assert ax.get_title() == "Committee disagreement against round"
    assert [x.get_text() for x in ax.get_xticklabels()] == ["round 1", "round 2"]
    assert any("SURROGATE" in x.get_text() for x in fig.texts)
    r = pd.DataFrame({"step": ["step_0", "a_step_1"], "probe": ["common", "common"],
                      "bulk_maxdev_mean_eV_A": [0.2, 0.1],
                      "interstitial_maxdev_mean_eV_A": [0.3, 0.2]})
    fig = figures_al.plot_replay_disagreement(r)
    assert "Replay" in fig.axes[0].get_title()
    assert [p.get_height() for p in fig.axes[0].patches] == [0.2, 0.1, 0.3, 0.2]


def test_paper_profile_runs_active_learning_as_the_study():
    """Table 2 and the upstream scripts: ~600 ps exploration, step-0 temperatures per kind,
    equal frames per temperature, committee epochs 600 with FT1's final ones 800."""
    from lidiff_helpers.runner import profiles

    p = profiles.resolve("03_active_learning", "paper")
    cfg = al.ALConfig.from_params(p)
    assert cfg.explore_ps == 600.0 and cfg.n_cells == 3 and cfg.committee_size == 4
    assert cfg.step0_temperatures("bulk") == (300.0, 400.0, 500.0, 600.0)
    assert cfg.step0_temperatures("interstitial") == (300.0, 350.0, 400.0, 450.0, 500.0,
                                                      600.0)
    assert cfg.temperatures_K == (300.0, 400.0, 500.0, 600.0)  # steps 1-2
    assert cfg.step0_stratified and (cfg.step0_bulk, cfg.step0_interstitial) == (16, 60)
    # Table 2 per temperature: 4 bulk at each of 4 temperatures, 10 interstitial at 6
    assert al.allocate_quotas(16, [1 / 4] * 4) == [4] * 4
    assert al.allocate_quotas(60, [1 / 6] * 6) == [10] * 6
    assert cfg.max_num_epochs == 600 and cfg.final_max_num_epochs == 800
    assert p["replay_max_num_epochs"] is None  # per step, as the scripts
    assert al_study.STUDY_AL_EPOCHS == {"step 0": 600, "FT1 step 1": 600, "FT1 step 2": 800,
                                        "FT2 step 1": 600}
    # quick and ci keep one draw per kind over temperatures_K
    q = al.ALConfig.from_params(profiles.resolve("03_active_learning", "quick"))
    assert not q.step0_stratified and q.step0_temperatures("bulk") == q.temperatures_K


def test_step0_temperatures_are_validated():
    with pytest.raises(ValueError, match="step0_bulk_temperatures_K"):
        al.ALConfig(step0_bulk_temperatures_K=[300, -5])
    with pytest.raises(ValueError, match="step0_interstitial_temperatures_K"):
        al.ALConfig(step0_interstitial_temperatures_K=[])


def test_replay_uses_the_studys_epochs_per_step(monkeypatch, tmp_path, study_data_dir):
    """``max_num_epochs=None``: each step's committee gets the epochs of the study's script."""
    used = {}

    def fake_train(tr, va, foundation, folder, **kw):
        used[folder.name] = kw["max_num_epochs"]
        return [folder / "m1.model", folder / "m2.model"]

    def fake_dev(models, frames, path, **kw):
        n = len(frames)
        return al.ForceDeviation(np.full(n, 0.1), np.full(n, 0.05), np.zeros(n, int), 2)

    monkeypatch.setattr(al_study, "train_committee", fake_train)
    monkeypatch.setattr(al_study, "cached_deviation", fake_dev)
    table, _, _ = al_study.replay_committees("unused.model", tmp_path, committee_size=2,
                                             max_num_epochs=None, n_train_max=4,
                                             n_valid_max=2, n_probe_max=3, progress=False)
    assert used == {"step_0": 600, "FT1_step_1": 600, "FT1_step_2": 800, "FT2_step_1": 600}
    assert sorted(set(table["max_num_epochs"])) == [600, 800]
