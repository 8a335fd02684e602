"""The embedded foundation model v1 (``embedded-v1``): recipe hygiene, usability (stability,
lattice), metrics. v2 (the default ``embedded``): tests/test_embedded_v2.py."""

from __future__ import annotations

import json

import pytest

from lidiff_helpers.core import units
from lidiff_helpers.core.provenance import sha256_file
from lidiff_helpers.io import data
from lidiff_helpers.simulation import models
from lidiff_helpers.training import embedded


def test_pretraining_set_has_no_interstitial_and_no_test_frame(tmp_path, study_data_dir):
    s = embedded.build_pretraining_set(tmp_path)
    pool = data.lif_pool("deepmd").by_hash()
    lif = s["lif_bulk_train_hashes"] + s["lif_bulk_valid_hashes"]
    assert lif and all(pool[h].info["kind"] == "bulk" for h in lif)
    assert not set(lif) & data.test_hashes()
    assert not set(s["lif_bulk_train_hashes"]) & set(s["lif_bulk_valid_hashes"])
    # the outliers are gone: nothing above the stated threshold remains
    import ase.io
    import numpy as np

    for name in ("train.xyz", "valid.xyz"):
        for at in ase.io.read(tmp_path / name, ":"):
            assert np.linalg.norm(at.arrays["REF_forces"], axis=1).max() <= embedded.MAX_FORCE_EV_A
            assert len(at) != 217 or (at.numbers == 3).sum() != (at.numbers == 9).sum() + 1
    assert len(s["dropped_outliers"]) >= 2  # the 144 and 113 eV/A frames


def test_metrics_file_matches_committed_model():
    rec = json.loads(embedded.EMBEDDED_METRICS.read_text())
    assert rec["sha256"] == sha256_file(embedded.EMBEDDED_MODEL)
    assert embedded.EMBEDDED_MODEL.stat().st_size <= 10 * 1024 * 1024


def test_lattice_constant_within_3_percent_of_pbe():
    from lidiff_helpers.simulation import bulk

    a0 = bulk.relaxed_lattice_constant(models.get_calculator("embedded-v1"))
    assert abs(a0 - 4.06) / 4.06 < 0.03, a0


# 900 K collapsed after 0.3 ps with the stage-2 model (fa759f4f, interstitial 1.09 A from a
# lattice Li); stage 3 (CHGNet close contacts) is what fixed it (metrics file)
_T900 = 900.0


def test_short_nvt_stability_900K(tmp_path):
    """ci version of the documented criterion (:func:`embedded.stability_problems`: finished,
    no pair closer than 1.2 A, mean T of the second half within 10 % of the target) at the
    hardest temperature: 0.5 ps of NVT at 900 K, 217 atoms (a lattice started at T needs
    ~0.25 ps to reach T under the 100 fs Nose-Hoover damping: measured, 0.2 + 0.2 ps gave a
    second-half mean of 750 K). The same run is recorded in the metrics file (0.5 ps runs);
    300/600/900 K over 20 ps are the slow test below and the committed records."""
    (r,) = embedded.stability_check(workdir=tmp_path, temperatures_K=(_T900,),
                                    production_ps=0.5)
    assert r["status"] == "done", r
    assert r["done_ps"] == pytest.approx(0.5)
    assert not embedded.stability_problems(r), r
    assert units.STABILITY_MAX_TEMPERATURE_DEVIATION == 0.10  # the documented criterion
    # the committed model is named by its spec, not by this checkout's path: the run
    # folder (committed for v2's 20 ps runs) continues in another clone
    (folder,) = (tmp_path / sha256_file(embedded.EMBEDDED_MODEL)[:12]).iterdir()
    assert json.loads((folder / "run.json").read_text())["model_spec"] == "embedded-v1"


def test_stability_record_of_an_unfinished_run_reports_how_far_it_got(tmp_path):
    """Known answers from a hand-written run folder (status ``running``, 5 saved steps):
    time reached, smallest pair over the saved steps, mean T of the second half of the
    rows; stability_progress finds it by the model's SHA256 and skips runs never started."""
    import pandas as pd

    model = embedded.EMBEDDED_MODEL
    folder = tmp_path / sha256_file(model)[:12] / "stability-600K-20ps"
    folder.mkdir(parents=True)
    (folder / "status.json").write_text(json.dumps({
        "run": {"temperature_K": 600.0, "production_ps": 20.0, "equilibration_ps": 0.0},
        "status": "running", "failure": None, "ms_per_step": 380.0, "n_atoms": 217,
        "min_distance_A": 1.9}))
    pd.DataFrame({"step": [0, 100, 200, 300, 400], "phase": ["production"] * 5,
                  "time_ps": [0.0, 0.1, 0.2, 0.3, 0.4],
                  "temperature_K": [600.0, 300.0, 500.0, 700.0, 580.0],
                  "min_distance_A": [1.8, 1.6, 1.45, 1.7, 1.5]}).to_csv(folder / "thermo.csv",
                                                                       index=False)
    (r,) = embedded.stability_progress(model, tmp_path, (300.0, 600.0), 20.0)
    assert r["status"] == "running" and r["done_ps"] == pytest.approx(0.4)
    assert r["simulated_ps"] == 20.0 and r["min_distance_A"] == pytest.approx(1.45)
    assert r["mean_T_second_half_K"] == pytest.approx((500.0 + 700.0 + 580.0) / 3)


@pytest.mark.slow
@pytest.mark.parametrize("temperature_K", [300.0, 600.0, _T900])
def test_20ps_nvt_stability(tmp_path, temperature_K):
    (r,) = embedded.stability_check(workdir=tmp_path, temperatures_K=(temperature_K,),
                                    production_ps=20.0)
    assert not embedded.stability_problems(r), r


def test_stability_criteria_catch_each_failure():
    ok = {"temperature_K": 600.0, "status": "done", "failure": None, "min_distance_A": 1.5,
          "mean_T_second_half_K": 590.0}
    assert embedded.stability_problems(ok) == []
    for bad, word in [({"status": "failed", "failure": "min distance"}, "status"),
                      ({"min_distance_A": 1.1}, "closest pair"),
                      ({"mean_T_second_half_K": 530.0}, "mean T"),
                      ({"mean_T_second_half_K": None}, "mean T")]:
        (msg,) = embedded.stability_problems({**ok, **bad})
        assert word in msg and "600 K" in msg



def test_close_contact_frames_are_seeded_stoichiometric_bulk_with_the_stated_contacts():
    import numpy as np

    a = embedded.close_contact_frames(16, seed=3)
    b = embedded.close_contact_frames(16, seed=3)
    assert all(np.array_equal(x.positions, y.positions) for x, y in zip(a, b))
    assert not np.array_equal(a[0].positions, embedded.close_contact_frames(1, seed=4)[0].positions)
    for at in a:
        assert len(at) == 64 and (at.numbers == 3).sum() == (at.numbers == 9).sum() == 32
        kind = at.info["contact"]
        if kind == "hot":
            continue
        lo, hi = embedded.CONTACTS[kind]
        assert lo <= at.info["pair_distance_A"] <= hi
        # the pushed pair is really there, with the right species, at that distance
        sa, sb = kind.split("-")
        d = at.get_all_distances(mic=True)
        sym = np.array(at.get_chemical_symbols())
        sub = d[np.ix_(sym == sa, sym == sb)]
        assert np.isclose(sub, at.info["pair_distance_A"], atol=1e-6).any()
    assert {at.info["contact"] for at in a} == set(embedded.CONTACTS)


def test_embedded_model_has_a_repulsive_wall():
    """Stage 3 (CHGNet close contacts) exists because the stage-2 model had none: its Li-Li
    dimer was 0.5 eV at 1.0 A and lower at 1.0 than at 1.4 A (measured, see the module
    docstring). The committed v1 must rise monotonically towards short distances."""
    calc = models.get_calculator("embedded-v1", dtype="float64", verbose=False)
    curves = embedded.dimer_curves(calc, distances_A=(1.0, 1.2, 1.4, 1.6))
    for pair, c in curves.items():
        e = [c[k] for k in ("1", "1.2", "1.4", "1.6")]
        assert all(x > y for x, y in zip(e, e[1:])), (pair, c)
    assert curves["Li-Li"]["1.2"] > 2.0 and curves["Li-F"]["1"] > 5.0, curves


def test_metrics_table_reads_the_committed_metrics_and_flags_failed_runs(tmp_path):
    t = embedded.metrics_table()
    rec = json.loads(embedded.EMBEDDED_METRICS.read_text())
    row = dict(zip(t["quantity"], t["value"]))
    assert row["model SHA256"] == rec["sha256"][:12]
    assert row["relaxed LiF a0 (A)"].startswith(f"{rec['lattice_constant_A']['a0_A']:.3f}")
    # a failed stability run is shown as failed, with the reason
    rec["stability_runs"] = [{"temperature_K": 900.0, "simulated_ps": 20.0, "status": "failed",
                              "failure": "min distance", "min_distance_A": 1.09,
                              "mean_T_second_half_K": 880.0, "n_atoms": 217}]
    p = tmp_path / "m.json"
    p.write_text(json.dumps(rec))
    (v,) = embedded.metrics_table(p).query("quantity.str.startswith('NVT')")["value"]
    assert v.startswith("FAILED") and "1.09 A" in v and "closest pair" in v


def test_metrics_file_records_the_20ps_stability_runs():
    """The issue's acceptance runs (20 ps NVT, 217 atoms, 300/600/900 K, committed model)
    are recorded in the metrics file and meet the criteria. Rerun them with the slow test
    above or `python -m lidiff_helpers.embedded --stability-only --stability-ps 20`."""
    rec = json.loads(embedded.EMBEDDED_METRICS.read_text())
    long = {r["temperature_K"]: r for r in rec.get("stability_runs", [])
            if r["simulated_ps"] >= 20.0}
    assert sorted(long) == [300.0, 600.0, 900.0], sorted(long)
    for r in long.values():
        assert r["n_atoms"] == 217
        assert not embedded.stability_problems(r), r
