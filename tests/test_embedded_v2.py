"""The embedded foundation model v2 (the default ``embedded``): its committed file, recipe and
metrics agree, the recorded numbers are this file's, and its table says which targets it
meets. Recipe mechanics (labels, state, stage 2, targets): tests/test_distillation.py."""

from __future__ import annotations

import json

import pytest

from lidiff_helpers.core.provenance import sha256_file
from lidiff_helpers.training import embedded_v2


def _metrics() -> dict:
    return json.loads(embedded_v2.METRICS.read_text())


def test_committed_v2_file_recipe_and_metrics_agree():
    sha = sha256_file(embedded_v2.MODEL)
    recipe = json.loads(embedded_v2.MODEL.with_suffix(".recipe.json").read_text())
    assert recipe["sha256"] == sha and _metrics()["model_sha256"] == sha
    assert embedded_v2.MODEL.stat().st_size <= 10 * 1024 * 1024
    # no DFT frame of the study's LiF data: its zero-shot errors on the test set are honest
    assert recipe["training_set"]["study_lif_dft_frames"] == 0
    assert recipe["teacher"]["name"] == "sevennet-0"


def test_recorded_test_errors_and_lattice_are_this_files():
    """Recomputed on the fixed test subset and by a fresh 8-atom EOS fit, the recorded
    numbers come back: the metrics describe the committed file."""
    from lidiff_helpers.simulation import bulk, models
    from lidiff_helpers.workflows import reference_metrics as rm

    m = _metrics()
    fresh = rm.check_values(embedded_v2.MODEL)["rmse"]
    for kind, rec in m["check"]["rmse"].items():
        for key, v in rec.items():
            assert fresh[kind][key] == pytest.approx(v, rel=1e-6, abs=1e-6), (kind, key)
    eos = bulk.equation_of_state(models.get_calculator("embedded", dtype="float64",
                                                      verbose=False))
    assert eos.a0_A == pytest.approx(m["a0_A"], abs=1e-4)
    assert eos.B_GPa == pytest.approx(m["B_GPa"], rel=1e-3)


def test_every_recorded_stability_run_passes_the_criteria():
    from lidiff_helpers.training.embedded import stability_problems

    m = _metrics()
    finished = [r for r in m.get("stability_long", []) if r["status"] != "running"]
    assert m.get("stability_long_problems", []) == [p for r in finished
                                                    for p in stability_problems(r)]
    assert m.get("stability_long_problems", []) == []


def test_metrics_table_shows_each_target_and_flags_failures(tmp_path):
    """Known answers: a metrics file with one target met, one missed and one failed NVT
    run gives rows saying so, with the teacher's values beside the model's."""
    rec = {"model_sha256": "a" * 64, "bulk_S_rmse_GPa": 7.6,
           "teacher_metrics": {"bulk_S_rmse_GPa": 4.2},
           "targets": [{"quantity": "a0_A", "model": 3.838, "teacher": 4.088,
                        "target": "within 1 % of teacher", "met": False},
                       {"quantity": "direct_barrier_eV", "model": 0.41, "teacher": 0.43,
                        "target": "within 0.03 of teacher", "met": True}],
           "stability_long": [{"temperature_K": 900.0, "simulated_ps": 20.0, "n_atoms": 217,
                               "status": "done", "min_distance_A": 0.9,
                               "mean_T_second_half_K": 905.0}]}
    f = tmp_path / "m.json"
    f.write_text(json.dumps(rec))
    t = embedded_v2.metrics_table(f).set_index("quantity")
    assert t.loc["relaxed LiF a0 (A)", "met"] == "no"
    assert t.loc["relaxed LiF a0 (A)", "value"] == "3.838"
    assert t.loc["relaxed LiF a0 (A)", "sevennet-0 (teacher)"] == "4.088"
    assert t.loc["direct-hop barrier, CI-NEB (eV)", "met"] == "yes"
    assert t.loc["held-out bulk frames: stress RMSE (GPa)", "sevennet-0 (teacher)"] == "4.200"
    nvt = t.loc["NVT 20 ps at 900 K, 217 atoms"]
    assert nvt["met"] == "no" and nvt["value"].startswith("FAILED: 900 K: closest pair 0.9")
    # an unfinished run is in progress: neither met nor failed
    rec["stability_long"] = [{"temperature_K": 300.0, "simulated_ps": 20.0, "n_atoms": 217,
                              "status": "running", "done_ps": 7.3, "min_distance_A": 1.62,
                              "mean_T_second_half_K": 301.0}]
    f.write_text(json.dumps(rec))
    nvt = embedded_v2.metrics_table(f).set_index("quantity").loc["NVT 20 ps at 300 K, 217 atoms"]
    assert nvt["met"] == "" and nvt["value"].startswith("in progress: 7.3 of 20 ps")
    assert t.loc["model SHA256", "value"] == "a" * 12
