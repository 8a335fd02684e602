"""Reference models: the CPU-budgeted training (a stand-in trainer with known epochs), the
arms' recipes, the forgetting frames, and every committed model against its records."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from test_finetune import tiny_runs  # noqa: F401  (session fixture: real runs)

from lidiff_helpers.training import mace_train
from lidiff_helpers.training import reference_models as ref

#: a stand-in for mace_run_train: one "epoch" = 0.2 CPU-s, a checkpoint every epoch
#: (every epoch improves), resumes from the newest checkpoint, writes the model when the
#: loop ends; the model text names the newest checkpoint's epoch
FAKE_TRAINER = r'''
import pathlib, re, sys, time
opts = dict(a[2:].split("=", 1) for a in sys.argv[1:] if "=" in a)
maxep = int(opts["max_num_epochs"])
ck = pathlib.Path("checkpoints"); ck.mkdir(exist_ok=True)
eps = [int(re.search(r"_epoch-(\d+)\.pt$", p.name).group(1)) for p in ck.glob("*.pt")]
ep = max(eps) if eps else 0
while ep < maxep:
    t = time.process_time()
    while time.process_time() - t < 0.2:
        pass
    (ck / f"m_run-1_epoch-{ep}.pt").write_text("x")
    eps.append(ep)
    ep += 1
pathlib.Path("m.model").write_text(f"epoch {max(eps)}")
'''


def _train(tmp_path: Path, epochs: int, budget_s: float) -> tuple[Path, Path]:
    """Run the stand-in trainer through budgeted_train in ``tmp_path/run``."""
    script = tmp_path / "fake_train.py"
    script.write_text(FAKE_TRAINER)
    wd = tmp_path / "run"
    wd.mkdir(exist_ok=True)
    cmd = [sys.executable, str(script), f"--max_num_epochs={epochs}", "--restart_latest"]
    mace_train.budgeted_train(cmd, wd, wd / "m.model", wd / "train.log", {},
                              cpu_budget_s=budget_s, poll_s=0.05, progress=False)
    return wd, wd / "m.model"


def test_budget_stops_training_and_keeps_the_newest_checkpoint(tmp_path):
    wd, model = _train(tmp_path, 1000, 0.7)
    st = mace_train.budget_state(wd)
    assert st["stopped_by"] == "budget"
    assert st["cpu_s_spent"] >= 0.7
    assert st["sessions"][0]["ended"] == "budget"
    last = mace_train.latest_checkpoint_epoch(wd)
    # 0.7 CPU-s at 0.2 CPU-s per epoch: a few epochs, far from 1000
    assert 1 <= last <= 6
    # the model is the newest checkpoint's, saved by the final run
    assert st["final_epoch"] == last
    assert model.read_text() == f"epoch {last}"
    assert f"--max_num_epochs={last}" in (wd / "train.log").read_text()
    # a rerun with the budget spent changes nothing
    _train(tmp_path, 1000, 0.7)
    assert len(mace_train.budget_state(wd)["sessions"]) == 1


def test_budget_not_reached_runs_to_the_end(tmp_path):
    wd, model = _train(tmp_path, 3, 100.0)
    st = mace_train.budget_state(wd)
    assert st["stopped_by"] == "finished"
    assert model.read_text() == "epoch 2"
    assert "final_epoch" not in st
    assert 0.5 < st["cpu_s_spent"] < 100.0


def test_budget_spent_before_any_checkpoint_says_so(tmp_path):
    with pytest.raises(mace_train.TrainingError, match="before mace saved a checkpoint"):
        _train(tmp_path, 1000, 0.01)


def test_arms_recipes():
    from lidiff_helpers.training.finetune import build_options

    files = {"train": "t.xyz", "valid": "v.xyz", "pt_train": "p.xyz", "pt_valid": "pv.xyz"}
    opts = {}
    for a in ref.ARMS:
        c = ref.config(a)
        assert (c.n_bulk, c.n_interstitial, c.selection) == (10, 200, "random")
        assert c.default_dtype == "float32" and c.e0s == "fit"
        opts[a.name] = build_options(c, files)
    assert opts["multihead-pt100"]["force_mh_ft_lr"] is True
    assert "force_mh_ft_lr" not in opts["multihead-pt100-mace-default"]
    assert opts["lora"]["lora"] is True and opts["lora"]["foundation_model"]
    assert opts["multihead-pt100-pseudolabel"]["pseudolabel_replay"] is True
    assert opts["scratch"].get("foundation_model") is None
    assert opts["naive"]["multiheads_finetuning"] is False
    # every arm trains on the same frames and validates on the same frames
    assert len({ref.config(a).data_seed for a in ref.ARMS}) == 1
    with pytest.raises(ValueError, match="unknown reference arm"):
        ref.arm("nonsense")


def test_lif_replay_frames_are_li_and_f_only():
    from lidiff_helpers.training import evaluation

    fr = evaluation.lif_replay_frames()
    assert len(fr) == 18
    assert all({int(z) for z in a.numbers} <= {3, 9} for a in fr)


COMMITTED = sorted(ref.REFERENCE_DIR.glob("*.model"))
#: the first set, fine-tuned from embedded-v1 (kept for the soft-vs-good contrast)
COMMITTED_V1 = sorted(ref.V1_DIR.glob("*.model"))


def test_reference_models_are_committed():
    assert {p.stem for p in COMMITTED} >= {"naive", "multihead-pt100"}


@pytest.mark.parametrize("model", COMMITTED + COMMITTED_V1,
                         ids=[f"{p.parent.name}/{p.stem}" for p in COMMITTED + COMMITTED_V1])
def test_committed_model_matches_its_records(model):
    from lidiff_helpers.core.provenance import sha256_file
    from lidiff_helpers.io.data import frame_hash
    from lidiff_helpers.workflows import reference_metrics as rm

    sha = sha256_file(model)
    assert model.stat().st_size <= ref.MAX_MODEL_MB * 1e6
    recipe = json.loads(model.with_suffix(".recipe.json").read_text())
    metrics = json.loads(rm.metrics_path(model.stem, model.parent).read_text())
    assert recipe["model_sha256"] == sha
    assert metrics["model_sha256"] == sha
    # the recorded test RMSE is this file's: recomputed on the fixed subset
    check = metrics["check"]
    assert check["frames"] == [frame_hash(a) for a in rm.check_subset()]
    fresh = rm.check_values(model)["rmse"]
    for kind, rec in check["rmse"].items():
        for key, v in rec.items():
            assert fresh[kind][key] == pytest.approx(v, rel=1e-6, abs=1e-6), (kind, key)


@pytest.mark.parametrize("folder", [ref.REFERENCE_DIR, ref.V1_DIR], ids=["v2", "v1"])
def test_committed_arms_and_their_foundation_row_come_from_the_stated_foundation(folder):
    """In each set, every arm's recipe, the zero-shot foundation row and every card name the
    same foundation file: the committed set's is FOUNDATION_SPEC's (the embedded model v2,
    its row being v2's own metrics file), the first set's embedded-v1's."""
    from lidiff_helpers.simulation import models
    from lidiff_helpers.training import model_cards
    from lidiff_helpers.workflows import reference_metrics as rm

    spec = ref.foundation_spec(folder)
    assert spec == ("embedded" if folder == ref.REFERENCE_DIR else "embedded-v1")
    sha = models.model_identity(models.resolve_spec(spec))["sha256"]
    row = rm.metrics_path(rm.FOUNDATION, folder)
    assert json.loads(row.read_text())["model_sha256"] == sha
    assert rm.load(folder)[0]["name"] == rm.FOUNDATION
    models_in = sorted(folder.glob("*.model"))
    assert {p.stem for p in models_in} >= {a.name for a in ref.ARMS}   # both sets complete
    for model in models_in:
        cfg = json.loads(model.with_suffix(".recipe.json").read_text())["config"]
        assert cfg["foundation_sha256"] == sha, model.stem
        card = model_cards.card_reference(model.stem, folder)
        assert f"{spec} (" in card["description"] and sha[:12] in \
            card["description"], card["description"]
    assert ref.config(ref.ARMS[0], spec).foundation_sha256 == sha


def test_the_committed_foundation_row_is_v2s_own_metrics_file():
    """One file per set of numbers: the committed set's foundation row is the embedded model
    v2's metrics file, another folder's is its own foundation.metrics.json."""
    from lidiff_helpers.training import embedded_v2
    from lidiff_helpers.workflows import reference_metrics as rm

    assert rm.metrics_path(rm.FOUNDATION) == embedded_v2.METRICS
    assert rm.metrics_path(rm.FOUNDATION, ref.V1_DIR) == ref.V1_DIR / "foundation.metrics.json"
    assert not (ref.REFERENCE_DIR / "foundation.metrics.json").exists()


def test_committed_learning_curve_matches_the_committed_models():
    """The committed learning curve: every run trained, within its recorded budget; its
    210-frame points are the committed reference models (same hash and test RMSE)."""
    from lidiff_helpers.workflows import reference_metrics as rm

    lc, source = rm.committed_learning_curve()
    assert not lc.empty, "learning_curve.json is not committed (make reference-models)"
    assert set(lc["status"]) == {"trained"}
    assert sorted(set(lc["n_frames"])) == [10, 30, 110, 210]
    assert set(lc["method"]) == set(ref.LEARNING_CURVE_ARMS)
    assert (lc["train_cpu_s"] <= lc["cpu_budget_s"] * 1.05).all()
    small = lc[lc["n_frames"] < 210]
    assert set(small["cpu_budget_s"]) == {ref.LEARNING_CURVE_CPU_BUDGET_S}
    for r in lc[lc["n_frames"] == 210].to_dict("records"):
        m = json.loads(rm.metrics_path(r["method"], source).read_text())
        assert r["model_sha256"] == m["model_sha256"]
        assert r["interstitial_F_rmse_meV_A"] == m["interstitial_F_rmse_meV_A"]


def test_register_reference_records_the_committed_file(tmp_path):
    import shutil

    from lidiff_helpers.io.model_registry import registered_models

    folder = tmp_path / "reference"
    folder.mkdir()
    with pytest.raises(FileNotFoundError, match="make reference-models"):
        ref.register_reference(tmp_path / "out", ["naive"], folder)
    shutil.copyfile(Path(__file__).parent / "models" / "tiny-lif.model", folder / "naive.model")
    cfg = ref.config(ref.arm("naive")).to_dict()
    (folder / "naive.recipe.json").write_text(json.dumps({"config": cfg}))
    (folder / "naive.metrics.json").write_text(json.dumps({"interstitial_F_rmse_meV_A": 42.0}))
    ref.register_reference(tmp_path / "out", ["naive"], folder)
    (e,) = registered_models(tmp_path / "out")
    assert e["name"] == "reference-naive"
    assert e["interstitial_F_rmse_meV_A"] == 42.0
    assert (e["n_bulk"], e["n_interstitial"], e["strategy"]) == (10, 200, "naive")


def test_reference_spec_resolves_to_the_committed_file():
    from lidiff_helpers.core.errors import ModelUnavailableError
    from lidiff_helpers.simulation import models

    with pytest.raises(ModelUnavailableError, match="make reference-models"):
        models.resolve_spec("reference-no-such-arm")
    for prefix, files in (("reference-", COMMITTED), ("reference-v1-", COMMITTED_V1)):
        for p in files:
            spec = models.resolve_spec(f"{prefix}{p.stem}")
            assert spec.path == p and spec.name == f"{prefix}{p.stem}"
            assert models.committed_spec(models.model_identity(spec)["sha256"]) == spec.name
    with pytest.raises(ModelUnavailableError, match="reference-v1"):
        models.resolve_spec("reference-v1-no-such-arm")


def test_learning_curve_keeps_the_evaluation_before_training():
    """A resumed (or budget-finalised) run evaluates its checkpoint at start with epoch
    None again: epoch -1 must stay the first evaluation, before any training."""
    from lidiff_helpers.training.sweeps import learning_curve

    recs = [{"mode": "eval", "epoch": None, "head": "Default", "rmse_f": 0.160},
            {"mode": "eval", "epoch": 0, "head": "Default", "rmse_f": 0.100},
            {"mode": "eval", "epoch": None, "head": "Default", "rmse_f": 0.090},
            {"mode": "eval", "epoch": 0, "head": "Default", "rmse_f": 0.095}]
    lc = learning_curve(recs).set_index("epoch")["rmse_f_meV_A"]
    assert lc[-1] == pytest.approx(160.0)
    assert lc[0] == pytest.approx(95.0)  # a repeated epoch keeps the later line


def test_reference_learning_curves_figure_draws_every_arm():
    """Notebook 02's reference-models figure: one curve per arm name of ARMS (each with the
    committed naive arm's log), the multihead arms also on the replay-head panel."""
    from lidiff_helpers.figures.finetune import reference_learning_curves

    recs = json.loads((ref.REFERENCE_DIR / "naive.train_log.json").read_text())
    fig = reference_learning_curves({a.name: recs for a in ref.ARMS})
    labels = [ln.get_label() for ln in fig.axes[0].get_lines()]
    assert labels == [a.name for a in ref.ARMS]
    colours = {ln.get_color() for ln in fig.axes[0].get_lines()}
    assert len(colours) == len(ref.ARMS)          # every strategy tells itself apart


def test_train_reports_each_arm_as_it_finishes(monkeypatch, tmp_path):
    """train(on_done=...) is called once per arm as it completes (the CLI exports each arm
    then), and returns the results in the order asked."""
    import threading
    from types import SimpleNamespace

    gate = threading.Event()

    def fake_run(cfg, root, _log, threads, budget):
        if cfg.strategy == "scratch":      # scratch waits until naive has been reported
            assert gate.wait(10)
        return SimpleNamespace(strategy=cfg.strategy, ok=True)

    seen = []

    def on_done(name, result):
        seen.append(name)
        gate.set()

    monkeypatch.setattr(ref, "run_finetune", fake_run)
    out = ref.train(["scratch", "naive"], root=tmp_path, parallel=2, on_done=on_done)
    assert seen == ["naive", "scratch"]            # reported in order of completion
    assert list(out) == ["scratch", "naive"] and out["naive"].strategy == "naive"


def test_learning_curve_runs_get_their_own_budget(monkeypatch, tmp_path):
    """The nine learning-curve runs get LEARNING_CURVE_CPU_BUDGET_S each (or the CLI's
    --lc-cpu-budget-s), the arms CPU_BUDGET_S; the runs use the arms' recipe at 10, 30 and
    110 frames."""
    from types import SimpleNamespace

    budgets = {}

    def fake_run(cfg, root, _log, threads, budget):
        budgets[(cfg.strategy, cfg.n_pt, cfg.n_frames)] = budget
        return SimpleNamespace(ok=True, status="done", workdir=root, message="")

    monkeypatch.setattr(ref, "run_finetune", fake_run)
    ref.train(["naive", "learning-curve"], root=tmp_path, parallel=1)
    assert budgets.pop(("naive", 0, 210)) == ref.CPU_BUDGET_S
    assert sorted(budgets) == sorted((s, n_pt, n) for s, n_pt in
                                     (("naive", 0), ("multihead", 100), ("scratch", 0))
                                     for n in (10, 30, 110))
    assert set(budgets.values()) == {ref.LEARNING_CURVE_CPU_BUDGET_S}
    budgets.clear()
    assert ref.main(["--arms", "learning-curve", "--lc-cpu-budget-s", "12",
                     "--root", str(tmp_path), "--no-export"]) == 0
    assert len(budgets) == 9 and set(budgets.values()) == {12.0}


def test_budget_note_names_each_budget_with_its_frames():
    import pandas as pd

    from lidiff_helpers.workflows.reference_metrics import budget_note

    lc = pd.DataFrame({"n_frames": [10, 30, 110, 210, 110, 210],
                       "cpu_budget_s": [600.0, 600.0, 600.0, 3600.0, None, 3600.0]})
    assert budget_note(lc) == ("CPU budget per run: 600 CPU-s (10-110 frames), "
                               "3600 CPU-s (210 frames)")
    assert budget_note(lc.drop(columns="cpu_budget_s")) == ""


def test_learning_curve_table_has_a_cell_per_method_and_size():
    import pandas as pd

    from lidiff_helpers.workflows.reference_metrics import learning_curve_table

    lc = pd.DataFrame([
        {"method": "naive", "n_frames": 10, "status": "trained",
         "interstitial_F_rmse_meV_A": 90.04, "train_cpu_s": 600.4},
        {"method": "naive", "n_frames": 210, "status": "trained",
         "interstitial_F_rmse_meV_A": 53.24, "train_cpu_s": 3603.0},
        {"method": "scratch", "n_frames": 10, "status": "not trained"}])
    t = learning_curve_table(lc).set_index("model")
    assert list(t.columns) == ["10 frames", "210 frames"]
    assert t.loc["naive", "10 frames"] == "90.0 (600 CPU-s)"
    assert t.loc["naive", "210 frames"] == "53.2 (3603 CPU-s)"
    assert t.loc["scratch", "10 frames"] == "not trained" and t.loc["scratch", "210 frames"] == ""
    assert learning_curve_table(lc.iloc[0:0]).empty


def _lc(values: dict, budget_210: float = 3600.0, stopped: str = "budget"):
    """A learning curve with set errors {(method, n_frames): F RMSE (meV/A)}."""
    import pandas as pd

    return pd.DataFrame([{"method": m, "n_frames": n, "status": "trained",
                          "interstitial_F_rmse_meV_A": v, "epochs_run": n // 10,
                          "cpu_budget_s": budget_210 if n == 210 else 600.0,
                          "stopped_by": stopped} for (m, n), v in values.items()])


def test_learning_curve_reading_compares_at_equal_cpu_only():
    """Set errors give a known reading: the 210-frame column (more CPU) is left out even
    where scratch wins there; ratios are scratch over the better fine-tune."""
    from lidiff_helpers.workflows.reference_metrics import learning_curve_reading

    lc = _lc({("naive", 10): 50.0, ("multihead-pt100", 10): 60.0, ("scratch", 10): 150.0,
              ("naive", 110): 40.0, ("multihead-pt100", 110): 44.0, ("scratch", 110): 80.0,
              ("naive", 210): 30.0, ("multihead-pt100", 210): 35.0, ("scratch", 210): 10.0})
    text = learning_curve_reading(lc, foundation_F_meV_A=55.0)
    assert text.startswith("At equal CPU (10 CPU-minutes per run, the 10-110 frame columns):")
    assert "the from-scratch error is 2.0-3.0 times the better fine-tune's" in text
    assert "naive beats multihead-pt100 at every size" in text
    assert "the better fine-tune improves on the zero-shot foundation's 55.0 meV/A at " \
           "every size (10 frames already reach 50.0)." in text
    assert text.endswith("(all stopped by the budget; 1-11 epochs).")
    # a foundation already better than the small fine-tunes: said, not hidden
    text = learning_curve_reading(lc, foundation_F_meV_A=45.0)
    assert "only 110 frames improve on the zero-shot foundation's 45.0 meV/A." in text
    assert "no fine-tune at these sizes improves" in learning_curve_reading(lc, 30.0)
    # scratch ahead at one size, multihead ahead of naive at one size; runs not all stopped
    lc2 = _lc({("naive", 10): 50.0, ("multihead-pt100", 10): 45.0, ("scratch", 10): 40.0,
               ("naive", 110): 40.0, ("multihead-pt100", 110): 44.0, ("scratch", 110): 80.0},
              stopped="converged")
    text = learning_curve_reading(lc2)
    assert "training from scratch matches or beats every fine-tune at 10 frames (its " \
           "error is 0.9-2.0 times" in text
    assert "naive beats multihead-pt100 at 110 frames only." in text
    assert "converged" not in text
    assert learning_curve_reading(lc2.iloc[0:0]) == ""


def test_reference_error_vs_frames_draws_the_points_and_states_the_budgets(tmp_path):
    """Notebook 02's learning-curve section from a learning_curve.json: one line per
    method through its sizes, the budgets under the axes, the compact table returned."""
    from lidiff_helpers.workflows import finetune_sweeps as nb02

    rows = [{"method": m, "selection": "random", "n_frames": n, "status": "trained",
             "interstitial_F_rmse_meV_A": v, "bulk_F_rmse_meV_A": v / 2,
             "train_cpu_s": 600.0 if n < 210 else 3600.0,
             "cpu_budget_s": 600.0 if n < 210 else 3600.0,
             "valid_curve": [[-1, 150.0], [0, v * 1.5], [1, v * 1.1]]}
            for m, vals in (("naive", (120.0, 80.0, 60.0, 53.0)),
                            ("scratch", (400.0, 200.0, 90.0, 51.0)))
            for n, v in zip((10, 30, 110, 210), vals)]
    (tmp_path / "learning_curve.json").write_text(json.dumps({"rows": rows}))
    saved = {}

    class Run:
        def save_table(self, df, name):
            saved[name] = df

        def save_figure(self, fig, name):
            saved[name] = fig

    t = nb02.reference_error_vs_frames(Run(), tmp_path).set_index("model")
    assert t.loc["scratch", "110 frames"] == "90.0 (600 CPU-s)"
    fig = saved["reference_error_vs_frames"]
    ax = fig.axes[0]
    lines = {c.get_label(): c.lines[0] for c in ax.containers}    # errorbar: data line
    assert list(lines["naive (random)"].get_xdata()) == [10, 30, 110, 210]
    assert list(lines["scratch (random)"].get_ydata()) == [400.0, 200.0, 90.0, 51.0]
    assert "600 CPU-s (10-110 frames), 3600 CPU-s (210 frames)" in \
        " ".join(t.get_text() for t in fig.texts)
    assert len(saved["reference_learning_curve"]) == 2
    by_size = saved["reference_validation_by_size"]
    assert [a.get_title() for a in by_size.axes] == [f"{n} fine-tuning frames"
                                                     for n in (10, 30, 110, 210)]
    scratch_110 = [ln for ln in by_size.axes[2].get_lines()
                   if ln.get_label().startswith("scratch")][0]
    assert list(scratch_110.get_xdata()) == [0, 1, 2]
    assert list(scratch_110.get_ydata()) == pytest.approx([150.0, 135.0, 99.0])
    empty = nb02.reference_error_vs_frames(Run(), tmp_path / "none")
    assert empty.empty


def test_learning_curve_evaluates_real_runs(monkeypatch, tmp_path, tiny_runs):
    """reference_metrics.learning_curve over real (tiny, 1-epoch) mace runs: a row per run
    with its test errors, validation curve (before training + 1 epoch) and model hash;
    the reference arms' rows come from the folder's metrics; the file records the
    command and the budgets."""
    from lidiff_helpers.core.provenance import sha256_file
    from lidiff_helpers.training import evaluation
    from lidiff_helpers.workflows import reference_metrics as rm

    test, rv = evaluation.test_frames(), evaluation.replay_validation_frames()
    monkeypatch.setattr(ref, "learning_curve_configs", lambda foundation: tiny_runs["cfgs"])
    one_each = [next(a for a in test if len(a) == 216), next(a for a in test if len(a) == 217)]
    monkeypatch.setattr(evaluation, "test_frames", lambda: one_each)   # bulk, interstitial
    monkeypatch.setattr(evaluation, "replay_validation_frames", lambda: rv[:2])
    folder = tmp_path / "reference"
    folder.mkdir()
    (folder / "naive.metrics.json").write_text(json.dumps(
        {"name": "naive", "interstitial_F_rmse_meV_A": 53.2, "train_cpu_s": 3603.0,
         "cpu_budget_s": 3600.0, "model_sha256": "x"}))
    (folder / "naive.train_log.json").write_text(json.dumps(
        [{"mode": "eval", "epoch": None, "rmse_f": 0.156},
         {"mode": "eval", "epoch": 0, "rmse_f": 0.080}]))
    lc = rm.learning_curve(tiny_runs["root"], tmp_path / "lc.json", folder)
    assert list(lc["method"]) == ["naive", "multihead-pt10", "naive"]
    assert list(lc["n_frames"]) == [6, 6, 210] and set(lc["status"]) == {"trained"}
    for r, res in zip(lc.to_dict("records")[:2], tiny_runs["results"]):
        assert r["model_sha256"] == sha256_file(res.model)
        assert [e for e, _ in r["valid_curve"]] == [-1, 0] and r["epochs_run"] == 1
        assert 10 < r["interstitial_F_rmse_meV_A"] < 5000
        assert r["interstitial_n_test"] == 1 and r["bulk_n_test"] == 1
    assert lc.iloc[2]["valid_curve"] == [[-1, 156.0], [0, 80.0]]
    body = json.loads((tmp_path / "lc.json").read_text())
    assert body["command"].endswith("--learning-curve")
    assert body["provenance"]["extra"]["learning_curve_cpu_budget_s"] == \
        ref.LEARNING_CURVE_CPU_BUDGET_S


def test_a_crashing_arm_is_reported_failed_and_the_others_go_on(monkeypatch, tmp_path):
    from types import SimpleNamespace

    def fake_run(cfg, root, _log, threads, budget):
        if cfg.strategy == "scratch":
            raise RuntimeError("boom in scratch")
        return SimpleNamespace(ok=True, status="trained")

    seen = {}
    monkeypatch.setattr(ref, "run_finetune", fake_run)
    out = ref.train(["scratch", "naive"], root=tmp_path, parallel=1,
                    on_done=lambda n, r: seen.setdefault(n, r.status))
    assert seen == {"scratch": "failed", "naive": "trained"}
    assert not out["scratch"].ok and "boom in scratch" in out["scratch"].message
    assert out["scratch"].workdir == tmp_path.resolve() / ref.config(ref.arm("scratch")).folder


def test_e0_fits_in_parallel_threads_run_once(monkeypatch):
    """Parallel arms share the E0 fit: the second thread waits and reuses the first's
    (mace's calculator changes torch's process-wide default dtype while loading)."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from lidiff_helpers.training import finetune_data

    calls, inside = [], threading.Semaphore(1)

    def fake_fit(path, frames):
        assert inside.acquire(blocking=False), "two E0 fits at once"
        calls.append(path)
        time.sleep(0.2)
        inside.release()
        return {3: -1.0, 9: -2.0}

    monkeypatch.setattr(finetune_data, "fit_e0s", fake_fit)
    monkeypatch.setattr(finetune_data, "_E0_CACHE", {})
    with ThreadPoolExecutor(2) as ex:
        out = list(ex.map(lambda _: finetune_data._fit_e0s_cached("m", "s", ("h",), ()),
                          range(2)))
    assert out == [{3: -1.0, 9: -2.0}] * 2 and calls == ["m"]


def test_saddle_aware_arm_is_the_naive_recipe_plus_the_dft_path_frames():
    """Issue 26's arm differs from naive only by its extra DFT frames (so any change of its
    barrier is theirs), and stays out of the tables until trained."""
    a = ref.arm("naive-dft-path")
    assert a is ref.SADDLE_ARM and a not in ref.ARMS
    c, n = ref.config(a).to_dict(), ref.config(ref.arm("naive")).to_dict()
    assert c.pop("extra_train") == "dft-path" and c == n


def test_training_from_another_foundation_is_refused_export_before_any_work(monkeypatch,
                                                                             capsys, tmp_path):
    """Arms from another foundation than the committed ones' cannot be exported over them:
    the command stops before training (no train call), naming --no-export and
    --export-dir; another folder takes them."""
    called = []
    monkeypatch.setattr(ref, "train", lambda *a, **k: called.append(1) or {})
    with pytest.raises(SystemExit):
        ref.main(["--arms", "naive", "--foundation", "embedded-v1"])
    err = capsys.readouterr().err
    assert not called and "--no-export" in err and "--export-dir" in err
    with pytest.raises(SystemExit):     # the committed folder by another spelling
        ref.main(["--arms", "naive", "--foundation", "embedded-v1", "--export-dir",
                  str(ref.REFERENCE_DIR / ".." / "reference")])
    assert not called
    assert ref.main(["--arms", "naive", "--foundation", "embedded-v1", "--no-export"]) == 0
    assert called
    called.clear()
    assert ref.main(["--arms", "naive", "--foundation", "embedded-v1", "--export-dir",
                     str(tmp_path / "reference-again")]) == 0
    assert called


def test_zero_shot_table_has_both_embedded_versions_named_by_their_files(tmp_path):
    """Notebook 00's zero-shot table: the committed arms' foundation (v2) named by its
    committed spec, then the first set's (embedded-v1), each with its own file's numbers,
    then the universal potentials and DFT."""
    from lidiff_helpers.simulation import models
    from lidiff_helpers.workflows import reference_metrics as rm

    sha = {v: models.model_identity(models.resolve_spec(v))["sha256"]
           for v in ("embedded", "embedded-v1")}
    folder, v1 = tmp_path / "reference", tmp_path / "reference-v1"
    for f, spec, b in ((folder, "embedded", 0.2123), (v1, "embedded-v1", 0.0361)):
        f.mkdir()
        (f / "foundation.metrics.json").write_text(json.dumps(
            {"name": "foundation", "model_sha256": sha[spec], "what": spec,
             "knockoff_collinear_barrier_eV": b, "a0_A": 4.0}))
    (folder / "sevennet-0.metrics.json").write_text(json.dumps(
        {"name": "sevennet-0", "model_sha256": "x", "knockoff_collinear_barrier_eV": 0.243}))
    t = rm.zero_shot_table(folder, v1=v1)
    assert list(t["model"]) == ["embedded", "embedded-v1", "sevennet-0", "DFT (PBE)"]
    assert list(t["knock-off barrier (eV)"][:3]) == [0.212, 0.036, 0.243]
    assert list(rm.zero_shot_table(folder, v1=tmp_path / "none")["model"]) == \
        ["embedded", "sevennet-0", "DFT (PBE)"]


def test_the_committed_learning_curve_falls_back_to_the_first_sets(monkeypatch, tmp_path):
    """Until the committed set's learning-curve runs are trained, its learning curve is the
    first set's, and the caller is told which folder (so which foundation) it comes from."""
    from lidiff_helpers.workflows import reference_metrics as rm

    now, v1 = tmp_path / "reference", tmp_path / "reference-v1"
    now.mkdir(), v1.mkdir()
    monkeypatch.setattr(ref, "REFERENCE_DIR", now)
    monkeypatch.setattr(ref, "V1_DIR", v1)
    row = {"method": "naive", "selection": "random", "n_frames": 10, "status": "trained"}
    (v1 / "learning_curve.json").write_text(json.dumps({"rows": [row]}))
    lc, source = rm.committed_learning_curve(now)
    assert source == v1 and list(lc["n_frames"]) == [10]
    assert ref.foundation_spec(source) == "embedded-v1"
    (now / "learning_curve.json").write_text(json.dumps({"rows": [row | {"n_frames": 30}]}))
    lc, source = rm.committed_learning_curve(now)
    assert source == now and list(lc["n_frames"]) == [30]
    lc, source = rm.committed_learning_curve(tmp_path / "elsewhere")   # no fallback there
    assert lc.empty and source == tmp_path / "elsewhere"


def test_foundation_contrast_figure_draws_each_arms_barrier_per_foundation():
    """A bar per arm and foundation at its barrier, each foundation's zero-shot barrier and
    DFT as horizontal lines."""
    from lidiff_helpers.figures.finetune import foundation_contrast as figure
    from lidiff_helpers.workflows import reference_metrics as rm

    def rec(name, b):
        return {"name": name, "knockoff_collinear_barrier_eV": b,
                "interstitial_F_rmse_meV_A": 50.0}

    t = rm.foundation_contrast({"soft": [rec("foundation", 0.04), rec("naive", 0.15)],
                                "good": [rec("foundation", 0.20), rec("naive", 0.19),
                                         rec("lora", 0.21)]})
    ax = figure(t, dft_eV=0.157).axes[0]
    bars = {c.get_label(): [round(r.get_height(), 3) for r in c] for c in ax.containers}
    assert bars["fine-tuned from soft"][0] == 0.15 and bars["fine-tuned from good"] == [0.19,
                                                                                      0.21]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["naive", "lora"]
    lines = {ln.get_label(): ln.get_ydata()[0] for ln in ax.get_lines()}
    assert lines == {"soft zero-shot": 0.04, "good zero-shot": 0.20,
                     "DFT, the study's level of theory": 0.157}


def test_foundation_contrast_says_whether_each_arm_keeps_raises_or_lowers_the_barrier():
    """Known answers: against a soft foundation (0.04 eV) an arm at 0.15 raises the barrier
    and one at 0.05 keeps it; against a good one (0.20 eV) an arm at 0.15 lowers it and one
    at 0.215 keeps it (within BARRIER_KEPT_EV); zero-shot baselines are left out."""
    from lidiff_helpers.workflows import reference_metrics as rm

    def rec(name, b, f=100.0):
        return {"name": name, "knockoff_collinear_barrier_eV": b,
                "interstitial_F_rmse_meV_A": f}

    t = rm.foundation_contrast({
        "soft": [rec("foundation", 0.04, 156.0), rec("sevennet-0", 0.24), rec("naive", 0.15),
                 rec("lora", 0.05)],
        "good": [rec("embedded-v2", 0.20, 121.0), rec("naive", 0.15), rec("lora", 0.215),
                 rec("scratch", 0.30)],
        "empty": []})
    assert list(t["model"]) == ["(the foundation)", "naive", "lora"] * 2 + ["scratch"]
    assert list(t["barrier"]) == ["", "raises", "keeps", "", "lowers", "keeps",
                                  rm.RANDOM_START]   # random weights: no verdict
    assert t["barrier_change_eV"].tolist() == pytest.approx([0, 0.11, 0.01, 0, -0.05, 0.015,
                                                             0.10])
    assert t.loc[0, "interstitial_F_rmse_meV_A"] == 156.0
    assert rm.BARRIER_KEPT_EV == 0.02
