"""workflows.md_diffusion: the glue of notebook 04 from profile parameters (no MD here)."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
from test_md import MODELS

from lidiff_helpers.runner import profiles
from lidiff_helpers.workflows import md_diffusion as wf


def _P(**kw):
    return SimpleNamespace(**{**profiles.resolve("04_md_diffusion", "ci"), **kw})


def test_grid_from_the_ci_profile():
    P = _P()
    runs = wf.grid(MODELS, P)
    assert {(r.model, r.temperature_K, r.purpose) for r in runs} == {
        ("embedded", 1000.0, "arrhenius"), ("ft-naive", 1000.0, "comparison")}
    assert all(r.guard.min_distance_A == P.guard_min_distance_A for r in runs)
    assert all(r.save_every == P.save_every and r.dtype == P.md_dtype for r in runs)
    assert list(wf.grid_table(runs)["name"]) == [r.name for r in runs]


def test_summary_and_markdown():
    manifest = [{"name": "a", "status": "done", "failure": None},
                {"name": "b", "status": "failed", "failure": {"check": "temperature"}}]
    stability = pd.DataFrame([{"model": "m", "mean_ms_per_step": 2.0, "mean_ps_per_day": 40.0,
                               "min_distance_A": 1.5}])
    runs_df = pd.DataFrame({"duration_ps": [0.02, 0.01]})
    s = wf.summary(manifest, stability, runs_df, SimpleNamespace(out=__import__("pathlib").Path(
        "/r")))
    assert (s["n_runs"], s["n_done"], s["n_failed"]) == (2, 1, 1)
    assert s["failed_runs"] == {"b": "temperature"} and s["simulated_ps_total"] == 0.03
    md = wf.models_markdown([{**MODELS[0], "source": "foundation_model=embedded"}])
    assert md.startswith("- **embedded** (foundation_model=embedded): `embedded`, SHA256 aaaa")
    assert wf.lammps_inputs_table([], [], None, _P()) is None
