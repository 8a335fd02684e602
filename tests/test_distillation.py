"""Distillation frames and teacher labels (training/distillation.py), v2 targets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lidiff_helpers.core import units
from lidiff_helpers.core.errors import LabellingError, ParameterError
from lidiff_helpers.training import distillation as d
from lidiff_helpers.training import embedded_v2

TINY = Path(__file__).parent / "models" / "tiny-lif.model"
SMALL = {"bulk-strain": {"n": 2, "n_cells": 1}, "bulk-thermal": {"n": 2, "n_cells": 1},
         "bulk-thermal-216": {"n": 1, "n_cells": 1}, "interstitial": {"n": 2, "n_cells": 1},
         "interstitial-217": {"n": 1, "n_cells": 2}, "vacancy": {"n": 3, "n_cells": 1},
         "path": {"n_per_mechanism": 1, "n_cells": 2}, "contact": {"n": 2, "n_cells": 1}}


def test_thermal_sigma_is_the_debye_waller_value_and_scales_as_sqrt_T():
    # B = 8 pi^2 <u_x^2> at the reference temperature
    s = d.thermal_sigma_A("Li", units.LIF_DEBYE_WALLER_T_K)
    assert 8 * np.pi ** 2 * s ** 2 == pytest.approx(units.LIF_DEBYE_WALLER_B_A2["Li"])
    assert d.thermal_sigma_A("F", 4 * 295.0) == pytest.approx(2 * d.thermal_sigma_A("F", 295.0))


def test_thermal_rattle_has_the_set_spread():
    from ase.build import bulk

    at = bulk("LiF", "rocksalt", a=4.08, cubic=True).repeat(6)
    r = d.thermal_rattle(at, 900.0, np.random.default_rng(0))
    du = (r.positions - at.positions)[np.array(at.get_chemical_symbols()) == "Li"]
    assert du.std() == pytest.approx(d.thermal_sigma_A("Li", 900.0), rel=0.05)


def test_frames_are_deterministic_tagged_and_never_overlapping():
    a, b = d.distillation_frames(3, SMALL), d.distillation_frames(3, SMALL)
    assert d.frames_hash(a) == d.frames_hash(b)
    assert d.frames_hash(a) != d.frames_hash(d.distillation_frames(4, SMALL))
    kinds = {at.info["config_type"] for at in a}
    assert {"bulk-strain", "bulk-thermal", "interstitial", "vacancy-Li", "vacancy-F",
            "vacancy-frenkel", "path-knockoff-collinear", "path-direct", "contact"} <= kinds
    n = {k: len(at) for at in a for k in [at.info["config_type"]]}
    assert n["vacancy-Li"] == n["vacancy-F"] == 7 and n["path-direct"] == 65
    assert all(at.info["min_distance_A"] > 0.5 for at in a)


def test_split_is_stratified_and_seeded():
    fr = d.distillation_frames(0, {**SMALL, "bulk-thermal": {"n": 10, "n_cells": 1}})
    tr, va = d.split_train_valid(fr, 0.2, seed=1)
    assert len(tr) + len(va) == len(fr)
    assert {a.info["config_type"] for a in va} == {a.info["config_type"] for a in fr}
    assert d.frames_hash(va) == d.frames_hash(d.split_train_valid(fr, 0.2, seed=1)[1])
    with pytest.raises(ParameterError, match="valid_fraction"):
        d.split_train_valid(fr, 1.5)


def test_labels_resume_per_chunk_and_refuse_another_teacher(tmp_path, monkeypatch):
    from lidiff_helpers.training.labelling import SurrogateLabeller

    fr = d.distillation_frames(0, SMALL)[:5]
    calls = []
    orig = SurrogateLabeller.label

    def counting(self, frames, progress=False):
        calls.append(len(frames))
        return orig(self, frames, progress)

    monkeypatch.setattr(SurrogateLabeller, "label", counting)
    first = d.label_frames(fr, tmp_path, teacher=str(TINY), chunk=2, progress=False)
    assert calls == [2, 2, 1]
    chunks = sorted(tmp_path.glob("chunk-*.xyz"))
    chunks[1].unlink()
    calls.clear()
    again = d.label_frames(fr, tmp_path, teacher=str(TINY), chunk=2, progress=False)
    assert calls == [2]
    for x, y in zip(first, again):
        np.testing.assert_allclose(x.arrays["REF_forces"], y.arrays["REF_forces"], atol=1e-6)
        assert x.info["REF_energy"] == pytest.approx(y.info["REF_energy"])
        assert x.info["config_type"] == y.info["config_type"]
    with pytest.raises(LabellingError, match="labels of teacher"):
        d.label_frames(fr, tmp_path, teacher="embedded", chunk=2, progress=False)


def test_targets_compare_with_the_teacher():
    t = embedded_v2.targets(
        {"bulk_F_rmse_meV_A": 95.0, "interstitial_F_rmse_meV_A": 130.0,
         "knockoff_collinear_barrier_eV": 0.22, "direct_barrier_eV": 0.40, "a0_A": 4.10,
         "B_GPa": 60.0},
        {"bulk_F_rmse_meV_A": 81.0, "interstitial_F_rmse_meV_A": 97.0,
         "knockoff_collinear_barrier_eV": 0.245, "direct_barrier_eV": 0.45, "a0_A": 4.06,
         "B_GPa": 70.0})
    met = dict(zip(t["quantity"], t["met"]))
    assert met == {"bulk_F_rmse_meV_A": True, "interstitial_F_rmse_meV_A": False,
                   "knockoff_collinear_barrier_eV": True, "direct_barrier_eV": False,
                   "a0_A": True, "B_GPa": True}


def test_training_state_is_saved_and_restored_only_for_the_same_options(tmp_path):
    """Same options (paths aside): restored once into an empty run folder; other options
    or other data file names: not."""
    import json

    from lidiff_helpers.training import mace_train

    run, state = tmp_path / "run", tmp_path / "state"
    (run / "checkpoints").mkdir(parents=True)
    opts = {"name": "x", "max_num_epochs": 5, "train_file": str(tmp_path / "t.xyz")}
    (run / "options.json").write_text(json.dumps(
        json.loads(json.dumps(mace_train.full_options(opts, tmp_path / "new"), default=str))))
    (run / "budget.json").write_text('{"cpu_s_spent": 12.0}')
    for e in (0, 3):
        (run / "checkpoints" / f"x_run-1_epoch-{e}.pt").write_bytes(b"%d" % e)
    assert embedded_v2.save_state(run, state).name == "x_run-1_epoch-3.pt"
    assert sorted(p.name for p in state.iterdir()) == ["budget.json", "options.json",
                                                      "x_run-1_epoch-3.pt"]
    new = tmp_path / "new"
    assert not embedded_v2.restore_state(new, {**opts, "max_num_epochs": 6}, state)
    assert embedded_v2.restore_state(new, opts, state)
    assert (new / "checkpoints" / "x_run-1_epoch-3.pt").read_bytes() == b"3"
    assert json.loads((new / "budget.json").read_text())["cpu_s_spent"] == 12.0
    assert not embedded_v2.restore_state(new, opts, state)   # a run folder is never replaced
    # another checkout (other absolute paths, same file names): restored
    moved = {**opts, "train_file": "/elsewhere/clone/results/t.xyz"}
    assert embedded_v2.restore_state(tmp_path / "clone" / "run", moved, state)
    assert not embedded_v2.restore_state(tmp_path / "other", {**opts, "train_file": "u.xyz"},
                                         state)


def test_progress_of_the_unfinished_training_gets_one_row_per_checkpoint(tmp_path,
                                                                          monkeypatch):
    """measure_state: the committed checkpoint's epoch and CPU, its measured quantities and
    which targets they meet; the same checkpoint measured again replaces its row."""
    import json

    from lidiff_helpers.workflows import embedded_v2_metrics as em

    state = tmp_path / "state"
    state.mkdir()
    (state / "budget.json").write_text('{"cpu_s_spent": 5000.0}')
    (state / "x_run-1_epoch-7.pt").write_bytes(b"7")
    teacher = {"bulk_F_rmse_meV_A": 80.0, "interstitial_F_rmse_meV_A": 100.0,
               "knockoff_collinear_barrier_eV": 0.245, "direct_barrier_eV": 0.5,
               "a0_A": 4.15, "B_GPa": 60.0}
    mine = {"bulk_F_rmse_meV_A": 90.0, "interstitial_F_rmse_meV_A": 150.0,
            "knockoff_collinear_barrier_eV": 0.23, "direct_barrier_eV": 0.6, "a0_A": 4.16,
            "B_GPa": 80.0, "model_sha256": "ab" * 32}
    monkeypatch.setattr(em, "export_state", lambda out, state: out)
    monkeypatch.setattr(em.rm, "measure",
                        lambda name, **kw: teacher if name == "sevennet-0" else mine)
    row = em.measure_state(state, tmp_path / "w")
    assert row["epoch"] == 7 and row["cpu_s_spent"] == 5000.0
    assert row["targets_met"] == {"bulk_F_rmse_meV_A": True,
                                  "interstitial_F_rmse_meV_A": False,
                                  "knockoff_collinear_barrier_eV": True,
                                  "direct_barrier_eV": False, "a0_A": True, "B_GPa": False}
    em.measure_state(state, tmp_path / "w")
    assert len(json.loads((state / "progress.json").read_text())) == 1


def test_stage_two_continues_from_the_newest_stage_one_checkpoint_with_more_stress_weight(
        tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(embedded_v2.training, "run_mace_train",
                        lambda opts, wd, threads=None: calls.append((opts, wd)) or wd / "m")
    ck = tmp_path / "run" / "checkpoints"
    ck.mkdir(parents=True)
    for e in (2, 9):
        (ck / f"x_run-1_epoch-{e}.pt").write_bytes(b"%d" % e)
    model, opts2 = embedded_v2._stage2({"stress_weight": 10.0, "max_num_epochs": 80},
                                       tmp_path, 1)
    assert opts2["stress_weight"] == 100.0 and opts2["max_num_epochs"] == 9 + 6
    assert [p.name for p in (tmp_path / "stage2" / "checkpoints").iterdir()] == \
        ["x_run-1_epoch-9.pt"]
    assert model == tmp_path / "stage2" / "m"
    (ck / "x_run-1_epoch-9.pt").unlink()
    (ck / "x_run-1_epoch-2.pt").unlink()
    with pytest.raises(embedded_v2.training.TrainingError, match="no checkpoint"):
        embedded_v2._stage2({}, tmp_path, 1)
