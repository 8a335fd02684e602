"""Notebook 03's MLIP-3 loop and the three-way selection comparison
(lidiff_helpers.training.al_compare, al_extrapolation, workflows.active_learning):
known answers on the tiny MACE model; the whole loop runs in the ci notebook."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest
from test_dopt import _lif  # 2x2x2 LiF, strained and rattled

from lidiff_helpers.core.errors import ParameterError

TINY = Path(__file__).parent / "models" / "tiny-lif.model"


@pytest.fixture(scope="module")
def cfg():
    from lidiff_helpers.training.active_learning import ALConfig

    return ALConfig(eval_dtype="float64")


@pytest.fixture(scope="module")
def frames():
    train = [_lif(a, 0.03, s) for s, a in enumerate((4.0, 4.03, 4.06, 4.1) * 2)]
    pool = [_lif(a, 0.03, 100 + s) for s, a in enumerate((4.02, 4.05, 4.08))]
    pool += [_lif(0.85 * 4.05, 0.03, 200), _lif(4.05, 0.3, 201)]
    return train, pool


def test_extrapolation_picks_the_frames_outside_the_training_span(cfg, frames):
    """Pool: three cells like the training ones and two far from them (compressed by
    15 %, rattled by 0.3 A): with two labels the grade takes exactly the two odd ones."""
    from lidiff_helpers.training.al_compare import _select

    train, pool = frames
    idx, rep = _select("extrapolation", [TINY], train, pool, [0, 1, 2, 3, 4], 2, cfg, 2.0, 0)
    assert idx == [3, 4] and rep["eligible"] == 2 and rep["gamma_max"] > 10
    # a frame already taken is never offered again
    idx, _ = _select("extrapolation", [TINY], train, pool, [0, 1, 2, 4], 2, cfg, 2.0, 0)
    assert idx == [4], "only one eligible frame left: MLIP-3 labels no frame below gamma_select"


def test_random_and_committee_selection_respect_the_pool(cfg, frames):
    from lidiff_helpers.simulation.models import get_committee
    from lidiff_helpers.training.al_compare import _select
    from lidiff_helpers.training.committee import committee_deviation

    train, pool = frames
    a, _ = _select("random", [], train, pool, [0, 2, 3, 4], 3, cfg, 2.0, seed=5)
    b, _ = _select("random", [], train, pool, [0, 2, 3, 4], 3, cfg, 2.0, seed=5)
    assert a == b and len(set(a)) == 3 and set(a) <= {0, 2, 3, 4}
    assert _select("random", [], train, pool, [1], 3, cfg, 2.0, seed=5)[0] == [1]
    two = [TINY, "embedded"]
    idx, rep = _select("committee", two, train, pool, [0, 1, 2, 3, 4], 2, cfg, 2.0, seed=1)
    assert len(idx) == 2 and set(idx) <= set(range(5))
    dev = committee_deviation(get_committee([str(TINY), "embedded"]), pool).max_eV_A
    assert rep["max_dev_mean_eV_A"] == pytest.approx(dev.mean(), rel=1e-6)


def test_evaluation_against_the_labellers_own_labels_is_zero(cfg, frames):
    """A model scored on frames it labelled itself: force RMSE exactly 0; against another
    model's labels: > 0."""
    from lidiff_helpers.training.al_compare import _evaluate
    from lidiff_helpers.training.labelling import SurrogateLabeller

    _, pool = frames
    held = SurrogateLabeller.from_spec(str(TINY)).label(pool[:2] + [_interstitial()])
    got = _evaluate(TINY, held, None, cfg)
    assert got == {"bulk_F_rmse_meV_A": 0.0, "interstitial_F_rmse_meV_A": 0.0}
    other = _evaluate("embedded", held, None, cfg)
    assert other["bulk_F_rmse_meV_A"] > 1 and other["interstitial_F_rmse_meV_A"] > 1


def _interstitial():
    from lidiff_helpers.simulation.structures import lif_supercell

    return lif_supercell(2, interstitial="tetrahedral", a_A=4.05)


class _DFTLike:
    source = "qe:pw.x"

    def label(self, frames):  # a DFT labeller must not be asked to relabel the study
        raise AssertionError("held-out frames of a DFT labeller keep the study's labels")


def test_heldout_frames_carry_the_labellers_labels(study_data_dir):
    from lidiff_helpers.io.data import classify
    from lidiff_helpers.training.al_compare import heldout_frames
    from lidiff_helpers.training.labelling import SurrogateLabeller

    dft = heldout_frames(_DFTLike(), 2, 3, seed=1)
    assert [classify(a) for a in dft] == ["bulk"] * 2 + ["interstitial"] * 3
    assert heldout_frames(_DFTLike(), 2, 3, seed=1)[4].arrays["REF_forces"].tolist() == \
        dft[4].arrays["REF_forces"].tolist()
    sur = heldout_frames(SurrogateLabeller.from_spec(str(TINY), name="tiny"), 2, 3, seed=1)
    assert {a.info["label_source"] for a in sur} == {"surrogate:tiny"}
    np.testing.assert_array_equal(sur[0].positions, dft[0].positions)
    assert not np.allclose(sur[0].arrays["REF_forces"], dft[0].arrays["REF_forces"])
    with pytest.raises(ParameterError, match="21 held-out bulk frames asked for, 20 exist"):
        heldout_frames(_DFTLike(), 21, 0)


def test_compare_refuses_bad_settings_before_work(cfg, tmp_path):
    from lidiff_helpers.training.al_compare import compare_selection

    kw = dict(step0_dir=tmp_path / "s0", heldout=[])
    with pytest.raises(ParameterError, match="committe"):
        compare_selection(cfg, "embedded", _DFTLike(), tmp_path, methods=["committe"], **kw)
    with pytest.raises(ParameterError, match="n_labels"):
        compare_selection(cfg, "embedded", _DFTLike(), tmp_path, n_labels=0, **kw)
    assert not (tmp_path / "s0").exists()


def test_selection_parameter_is_one_or_more_known_methods():
    from lidiff_helpers.workflows.active_learning import selections

    def p(v):
        return types.SimpleNamespace(selection=v)

    assert selections(p(["bands", "extrapolation"])) == ["bands", "extrapolation"]
    assert selections(p("trust")) == ["trust"]
    for bad in ([], ["bands", "bands"], ["maxvol"]):
        with pytest.raises(ParameterError, match="selection"):
            selections(p(bad))


def test_extrapolation_loop_refuses_a_folder_of_other_settings(tmp_path, cfg):
    from lidiff_helpers.training.active_learning import _config_guard

    def guard(gamma_break):
        _config_guard(tmp_path, cfg, "sha", "lab",
                      extra={"gamma_select": 2.0, "gamma_break": gamma_break})

    guard(10.0)
    guard(10.0)  # same: resumes
    with pytest.raises(FileExistsError, match="gamma_break"):
        guard(20.0)


def test_comparison_and_gamma_figures_draw_what_they_say():
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from lidiff_helpers.figures.active_learning import plot_gamma_history, plot_selection_comparison

    rows = [{"method": "foundation (no fine-tuning)", "round": 0, "n_labelled": 0,
             "bulk_F_rmse_meV_A": 45.0, "interstitial_F_rmse_meV_A": 55.0, "barrier_eV": np.nan}]
    rows += [{"method": m, "round": r, "n_labelled": 2 * r, "bulk_F_rmse_meV_A": 50 - r,
              "interstitial_F_rmse_meV_A": 60 - r, "barrier_eV": np.nan}
             for m in ("committee", "extrapolation", "random") for r in range(3)]
    fig = plot_selection_comparison(pd.DataFrame(rows))
    assert len(fig.axes) == 2, "no barrier measured: no barrier panel"
    assert [ln.get_label() for ln in fig.axes[0].lines] == [
        "foundation (no fine-tuning)", "committee", "extrapolation", "random"]
    assert list(fig.axes[1].lines[0].get_ydata()) == [55.0, 55.0]  # dashed reference
    assert list(fig.axes[1].lines[3].get_ydata()) == [60, 59, 58]
    rounds = [{"round": 1, "grades": np.array([0.5, 3.0, 12.0]), "selected": [1],
               "gamma_select": 2.0, "gamma_break": 10.0, "crossed": ["bulk-300K"]}]
    ax = plot_gamma_history(rounds).axes[0]
    levels = sorted(ln.get_ydata()[0] for ln in ax.lines if "gamma_" in ln.get_label())
    assert levels == [2.0, 10.0] and ax.get_yscale() == "log"


def test_documentation_block_reports_each_methods_start_and_end(tmp_path):
    """The generated blocks read the committed result: start and end per method, labels,
    summed CPU; a missing file says which command writes it."""
    import json

    from lidiff_helpers.workflows import al_comparison

    rows = []
    for m, end in (("committee", 40.0), ("extrapolation", 35.0), ("random", 45.0)):
        for r, (n, f, cpu) in enumerate(((0, 60.0, 10.0), (4, end, 20.0))):
            rows.append({"method": m, "round": r, "n_labelled": n, "bulk_F_rmse_meV_A": 30.0,
                         "interstitial_F_rmse_meV_A": f, "barrier_eV": 0.2 + r / 100,
                         "cpu_select_s": 1.0 * r, "cpu_train_s": cpu})
    settings = {k: 1 for k in al_comparison.SETTINGS}
    body = {"command": "python -m lidiff_helpers.runner.al_comparison", "profile": "quick",
            "labeller": "sevennet-0", "settings": settings, "rows": rows,
            "foundation": {"name": "lidiff-embedded", "sha256": "ab" * 32},
            "provenance": {"created_utc": "2026-12-06T23:00:00+00:00"}}
    path = tmp_path / "c.json"
    path.write_text(json.dumps(body))
    assert "ends worse than the foundation" not in al_comparison.findings(path)
    body["rows"].insert(0, {"method": "foundation (no fine-tuning)", "round": 0,
                            "n_labelled": 0, "bulk_F_rmse_meV_A": 20.0,
                            "interstitial_F_rmse_meV_A": 30.0, "barrier_eV": 0.25,
                            "cpu_select_s": 0.0, "cpu_train_s": 0.0})
    path.write_text(json.dumps(body))
    assert "every method ends worse than the foundation without fine-tuning (30 meV/A)" \
        in al_comparison.findings(path)
    text = al_comparison.block(path)
    assert "| extrapolation | 4 | 30.0 -> 30.0 | 60.0 -> 35.0 | 0.200 -> 0.210 | 1 | 30 |" \
        in text
    s = al_comparison.findings(path)
    assert "from 60 meV/A" in s and "random 45 meV/A after 4 labels for 31 CPU-s" in s
    assert "Not computed yet" in al_comparison.block(tmp_path / "missing.json")


def test_e0s_follow_the_energy_reference_of_the_labels(tmp_path):
    """auto: DFT labels -> the study's E0s; the foundation labelling itself -> its own;
    another model -> E0s fitted to its labels; a committee trained with ``fit`` starts
    with (almost) no energy error on labels whose reference is 500 eV/atom away."""
    import json

    from lidiff_helpers.simulation.models import model_identity
    from lidiff_helpers.training.committee import member_options, resolve_e0s
    from lidiff_helpers.training.finetune_data import fit_e0s
    from lidiff_helpers.training.labelling import SurrogateLabeller

    tiny = model_identity(str(TINY))["sha256"]
    emb = SurrogateLabeller.from_spec("embedded")
    assert resolve_e0s("auto", _DFTLike(), tiny) == "study"
    assert resolve_e0s("auto", emb, model_identity("embedded")["sha256"]) == "foundation"
    assert resolve_e0s("auto", emb, tiny) == "fit"
    assert resolve_e0s("study", emb, tiny) == "study"
    # fit: labels of the embedded model shifted by -500 eV per Li and -503 eV per F
    frames = emb.label([_lif(4.05, 0.05, 1), _interstitial()])
    for a in frames:
        a.info["REF_energy"] += -500.0 * (a.numbers == 3).sum() - 503.0 * (a.numbers == 9).sum()
    fit = fit_e0s("embedded", frames)
    from lidiff_helpers.analysis import parity
    from lidiff_helpers.simulation.models import get_calculator

    own = parity.model_e0s(get_calculator("embedded", verbose=False))
    assert fit[3] == pytest.approx(own["Li"] - 500.0, abs=1e-6)
    assert fit[9] == pytest.approx(own["F"] - 503.0, abs=1e-6)
    opts = member_options("embedded", "x" * 64, 1, 1, {"train": "t.xyz", "valid": "v.xyz"}, 1,
                          e0s=fit)
    assert json.loads(json.dumps(opts["E0s"])) == {"3": fit[3], "9": fit[9]}


def test_committed_comparison_is_shown_only_for_its_own_settings_and_foundation(tmp_path):
    """compare_source committed/auto: the committed result replaces the live run only when
    every recorded setting and the foundation file's SHA256 match this run's; otherwise
    the reason names what differs (and a missing file, the command that writes it)."""
    import json

    from lidiff_helpers.runner import profiles
    from lidiff_helpers.simulation import models
    from lidiff_helpers.workflows import al_comparison

    params = profiles.resolve("03_active_learning", "quick", {})
    assert params["compare_source"] == "auto"
    spec = models.resolve_spec("embedded")
    rows = [{"method": "random", "round": 0, "n_labelled": 0, "bulk_F_rmse_meV_A": 30.0,
             "interstitial_F_rmse_meV_A": 60.0}]
    body = {"settings": {k: params.get(k) for k in al_comparison.SETTINGS}, "rows": rows,
            "foundation_sha256": models.model_identity(spec)["sha256"]}
    path = tmp_path / "c.json"
    path.write_text(json.dumps(body))
    table, rec = al_comparison.committed(params, spec, path)
    assert list(table["interstitial_F_rmse_meV_A"]) == [60.0] and rec["rows"] == rows
    table, why = al_comparison.committed({**params, "seed": 7}, spec, path)
    assert table is None and "other settings (seed)" in why
    table, why = al_comparison.committed(params, models.resolve_spec("embedded-v1"), path)
    assert table is None and "not this run's embedded-v1" in why
    table, why = al_comparison.committed(params, spec, tmp_path / "missing.json")
    assert table is None and "python -m lidiff_helpers.runner.al_comparison" in why
