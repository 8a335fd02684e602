"""Notebook 05's glue (lidiff_helpers.workflows.arrhenius_analysis): from the profile's
parameters to runs, tables and summary, on small synthetic runs with a known D."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from lidiff_helpers.analysis.hops import knockoff_sum_sq_jump_A2
from lidiff_helpers.core.errors import DataUnavailableError, ParameterError
from lidiff_helpers.core.units import LIF_A_STUDY_A
from lidiff_helpers.runner import profiles
from lidiff_helpers.workflows import arrhenius_analysis as wf

SMALL = {"source": "synthetic", "synthetic_temperatures_K": [450.0, 550.0],
         "synthetic_replicas": 1, "synthetic_duration_ps": 300.0, "synthetic_n_cells": 2,
         "fit_min_start_ps": 0.2, "seed": 3}


@pytest.fixture(scope="module")
def notebook(tmp_path_factory):
    P = SimpleNamespace(**profiles.resolve("05_arrhenius_analysis", "ci", SMALL))
    d = tmp_path_factory.mktemp("wf05")
    sel = wf.select_runs(P, manifest_path=d / "md" / "manifest.json",
                         synthetic_dir=d / "synthetic")
    analyses = wf.analyse(P, sel.runs)
    tables = wf.arrhenius_tables(analyses)
    return P, sel, analyses, tables


def test_profile_declares_the_renamed_frame_interval():
    params = profiles.resolve("05_arrhenius_analysis", "ci", {})
    assert params["synthetic_frame_interval_ps"] == pytest.approx(0.1)
    assert "synthetic_timestep_ps" not in params


def test_synthetic_runs_selected_and_analysed(notebook):
    _, sel, analyses, _ = notebook
    assert sel.synthetic and sel.source == "synthetic" and "requested" in sel.message
    assert list(sel.overview()["temperature_K"]) == [450.0, 550.0]
    tab = analyses.table
    assert len(tab) == 2 and not analyses.skipped
    # the known D (the study's DeePMD law) is recovered within the block error
    dev = np.abs(tab["D_defect_cm2_s"] - tab["D_defect_true_cm2_s"])
    assert np.all(dev < 4 * tab["D_defect_err_cm2_s"])
    np.testing.assert_allclose(tab["lattice_constant_A"], LIF_A_STUDY_A, rtol=1e-9)
    assert set(wf.hop_table(analyses).columns) >= {"n_knockoff", "D_event_sum_cm2_s"}


def test_conventions_use_the_analysed_cell(notebook):
    _, _, analyses, _ = notebook
    conv = wf.conventions_table(analyses, temperature_K=450.0)
    assert np.allclose(conv["sum_sq_jump_A2"], knockoff_sum_sq_jump_A2(LIF_A_STUDY_A))
    assert knockoff_sum_sq_jump_A2(LIF_A_STUDY_A) == pytest.approx(2 * 3 / 16 * 4.083428 ** 2)
    study = conv[conv["source"].str.startswith("study")].set_index("convention")
    # read as the defect's D: one knock-off every ~15 ps; read per atom: 501x more often
    assert study.loc["defect", "event_interval_ps"] == pytest.approx(15.3, rel=0.02)
    assert study.loc["tracer", "event_interval_ps"] == pytest.approx(
        study.loc["defect", "event_interval_ps"] / 501)


def test_tables_and_summary(notebook):
    P, sel, analyses, tables = notebook
    assert list(tables.fits) == [wf.SYNTHETIC_MODEL]
    assert tables.table3.iloc[0]["study_model"].lower() == "deepmd"
    s = wf.summary(sel, analyses, tables, P)
    json.dumps(s)  # the summary is written as JSON
    assert s["source"] == "synthetic" and s["synthetic"] is True and s["n_runs"] == 2
    assert s["n_skipped"] == 0 and s["n_knockoff"] == int(analyses.table["n_knockoff"].sum())
    assert 0 <= s["D_defect_max_rel_dev_from_true"] < 0.5
    assert math.isfinite(s[f"{wf.SYNTHETIC_MODEL}: Ea_eV"])
    assert set(s) >= {f"{wf.SYNTHETIC_MODEL}: D_450K_cm2_s", "haven_ratio_mean"}
    # Table 3's D(450 K) is the replicas' mean at 450 K (the study's way), the fit apart
    tab = analyses.table
    runs450 = tab[(tab["temperature_K"] == 450.0) & (tab["purpose"] == "arrhenius")]
    row = tables.table3.set_index("model").loc[wf.SYNTHETIC_MODEL]
    assert row["D_450K_cm2_s"] == pytest.approx(runs450["D_cm2_s"].mean(), rel=1e-12)
    assert row["D_450K_n_replicas"] == len(runs450)
    fit = tables.fits[wf.SYNTHETIC_MODEL]
    assert row["D_450K_fit_cm2_s"] == pytest.approx(fit.predict(450.0).D_cm2_s, rel=1e-12)
    assert s[f"{wf.SYNTHETIC_MODEL}: D_450K_cm2_s"] == pytest.approx(row["D_450K_cm2_s"])
    assert s[f"{wf.SYNTHETIC_MODEL}: D_450K_fit_cm2_s"] == pytest.approx(row["D_450K_fit_cm2_s"])
    assert f"{wf.SYNTHETIC_MODEL}: D_500K_cm2_s" not in s      # no run at 500 K: no value


def test_bad_source_and_empty_trajectories(tmp_path):
    kw = {"manifest_path": tmp_path / "m.json", "trajectories": [], "synthetic_dir": tmp_path,
          "synthetic_settings": {}}
    with pytest.raises(ParameterError, match="source must be one of"):
        wf.collect_runs("everything", **kw)
    with pytest.raises(ParameterError, match="trajectories parameter is empty"):
        wf.collect_runs("trajectories", **kw)
    with pytest.raises(FileNotFoundError, match="no manifest with finished runs"):
        wf.collect_runs("manifest", **kw)


def test_auto_never_falls_back_to_synthetic(tmp_path):
    """``auto`` with no trajectories and no manifest stops and names what it looked for;
    it writes no synthetic trajectories."""
    synth = tmp_path / "synthetic"
    kw = {"manifest_path": tmp_path / "md" / "manifest.json", "trajectories": [],
          "synthetic_dir": synth, "synthetic_settings": {"temperatures_K": [450.0]}}
    with pytest.raises(DataUnavailableError) as e:
        wf.collect_runs("auto", **kw)
    msg = str(e.value)
    assert str(tmp_path / "md" / "manifest.json") in msg
    assert "trajectories parameter is empty" in msg and "source='synthetic'" in msg
    assert not synth.exists() or not any(synth.iterdir())
    # an empty manifest: the same error, saying the manifest lists no usable runs
    (tmp_path / "md").mkdir()
    (tmp_path / "md" / "manifest.json").write_text("[]")
    with pytest.raises(DataUnavailableError, match="no runs to analyse"):
        wf.collect_runs("auto", **kw)


def test_profiles_name_their_source():
    """quick and paper analyse the MD of notebook 04 (its manifest); only ci is synthetic."""
    src = {name: profiles.resolve("05_arrhenius_analysis", name, {})["source"]
           for name in ("ci", "quick", "paper")}
    assert src == {"ci": "synthetic", "quick": "manifest", "paper": "manifest"}


def test_every_table_says_its_data_source(notebook, tmp_path):
    _, sel, analyses, tables = notebook
    frames = {"D_per_run": analyses.table, "D_conventions_vs_study": wf.conventions_table(
        analyses), "D_by_temperature": tables.by_temperature,
        "arrhenius_runs": tables.arrhenius_runs, "table3": tables.table3,
        "hop_counts": wf.hop_table(analyses)}
    for name, df in frames.items():
        assert df.columns[0] == wf.DATA_SOURCE_COLUMN, name
        assert set(df[wf.DATA_SOURCE_COLUMN]) == {"synthetic"}, name
        df.to_csv(tmp_path / f"{name}.csv", index=False)       # in the file itself
        assert "synthetic" in (tmp_path / f"{name}.csv").read_text().splitlines()[1], name
    files = sel.data_files(tmp_path / "md" / "manifest.json")
    assert len(files) == 1 and "not MD" in next(iter(files.values()))
    assert next(iter(files)).startswith("synthetic:")


def test_every_figure_of_notebook_05_says_synthetic():
    """Each figure call of the notebook passes ``synthetic=selection.synthetic`` and the
    figures put SYNTHETIC into their titles (figures.diffusion.title)."""
    import ast

    import nbformat

    from lidiff_helpers.core import paths
    from lidiff_helpers.figures import diffusion as fd

    nb = nbformat.read(paths.ROOT / "notebooks" / "05_arrhenius_analysis.ipynb", 4)
    calls = [n for c in nb.cells if c.cell_type == "code" and "figures_diffusion" in c.source
             for n in ast.walk(ast.parse(c.source)) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Attribute) and n.func.attr.startswith("plot_")]
    assert len(calls) >= 6
    for call in calls:
        kw = {k.arg: ast.unparse(k.value) for k in call.keywords}
        assert kw.get("synthetic") == "selection.synthetic", ast.unparse(call)
    assert fd.title("x", True).startswith("SYNTHETIC") and fd.title("x", False) == "x"


def test_lammps_dump_in_a_manifest_uses_its_recorded_timestep(tmp_path):
    """A LAMMPS run of the grid (manifest entry with ``md_timestep_fs``) is analysed with
    that timestep; without it the run is skipped with a message that names it."""
    from test_diffusion import _write_dump

    from lidiff_helpers.synthetic.trajectories import synthetic_interstitial_run

    run = synthetic_interstitial_run(500, 1.2e-5, duration_ps=120, n_cells=2, seed=7)
    dump = tmp_path / "dump.lammpstrj"
    _write_dump(dump, run.positions_A().astype(np.float64), np.arange(1, run.numbers.size + 1),
                np.where(run.numbers == 3, 1, 2), run.cell_A[0, 0])
    entry = {"model": "m", "temperature_K": 500.0, "replica": 0, "trajectory": str(dump)}
    got = wf.analyse_runs([{**entry, "md_timestep_fs": 1.0}], n_blocks=2, min_start_ps=5.0)
    assert not got.skipped and len(got.table) == 1
    assert got.table["D_cm2_s"].iloc[0] > 0
    missing = wf.analyse_runs([entry], n_blocks=2, min_start_ps=5.0)
    assert len(missing.table) == 0 and "timestep_fs" in missing.skipped[0][1]


def test_a_model_without_a_fit_gets_a_row_saying_why():
    """Known answer (quick on the embedded model v2 hit it: 1 ps runs at 65 atoms see
    few hops): a model whose D is <= 0 at all but one temperature cannot be fitted; Table
    3 still has its fit columns (NaN) and a row naming the model and the reason, and a
    fitted model beside it keeps its Ea."""
    import pandas as pd

    from lidiff_helpers.analysis import arrhenius

    T = [800.0, 900.0, 1000.0]
    D_ok = [arrhenius.arrhenius_D_cm2_s(t, 0.2, 1e-3) for t in T]
    table = pd.DataFrame({"model": ["good"] * 3 + ["short"] * 3, "temperature_K": T * 2,
                          "replica": 0, "purpose": "arrhenius",
                          "D_cm2_s": D_ok + [-1e-6, 2e-6, -3e-7],
                          "D_err_cm2_s": [1e-7] * 3 + [1e-6] * 3})
    t3 = wf.arrhenius_tables(SimpleNamespace(table=table)).table3
    rows = t3.set_index("model")
    assert rows.loc["good", "Ea_eV"] == pytest.approx(0.2, abs=1e-6)
    assert rows.loc["short", "Ea"].startswith("no fit: D > 0 at 1 of 3 temperature(s)")
    assert math.isnan(rows.loc["short", "Ea_eV"])
    assert list(t3["model"])[:2] == ["good", "short"]   # before the study's rows
    only = wf.arrhenius_tables(SimpleNamespace(table=table[table["model"] == "short"])).table3
    assert "Ea_eV" in only and only["model"].iloc[0] == "short"
