"""Fine-tuning runs: the study's flags, option names across mace versions, replay files,
and (slow) real mace_run_train runs that load, predict, skip and resume."""

from __future__ import annotations

import ast
import json
import os
import shlex
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from lidiff_helpers.core import paths
from lidiff_helpers.io import data
from lidiff_helpers import finetune
from lidiff_helpers.training import mace_train as training

TINY = paths.ROOT / "tests" / "models" / "tiny-lif.model"

#: the non-path flags of the study's ft200_pt1000/0_model/ft200pt1000.sh (mace 0.3.12),
#: verbatim; paths (name, train/valid/pt files, foundation) are compared separately
STUDY_MULTIHEAD = """
    --loss='universal' --E0s='{3: -202.82202355577203, 9: -803.8441491412796}'
    --energy_weight=1 --forces_weight=10 --compute_stress=True --stress_weight=1
    --energy_key='REF_energy' --forces_key='REF_forces' --stress_key='REF_stress'
    --multiheads_finetuning=True --num_samples=1000 --eval_interval=1
    --error_table='PerAtomMAE' --model="MACE" --num_interactions=2 --correlation=3
    --max_ell=3 --r_max=6.0 --max_L=1 --num_channels=128 --num_radial_basis=8
    --MLP_irreps="16x0e" --scaling='rms_forces_scaling' --lr=0.005 --weight_decay=1e-8
    --ema --ema_decay=0.995 --scheduler_patience=5 --batch_size=2 --valid_batch_size=2
    --pair_repulsion --distance_transform="Agnesi" --max_num_epochs=800 --patience=50
    --amsgrad --device=cuda --seed=1 --clip_grad=100 --restart_latest
    --default_dtype="float64" --num_workers=4 --plot_frequency=50 --enable_cueq=True
    --save_cpu --distributed
"""
#: ft700_pt0/0_model/ft700_pt0.sh: the same without replay, multihead off
STUDY_NAIVE = (STUDY_MULTIHEAD.replace("--multiheads_finetuning=True --num_samples=1000",
                                       "--multiheads_finetuning=False"))


def _flags(text_or_args) -> dict[str, str]:
    toks = shlex.split(text_or_args) if isinstance(text_or_args, str) else text_or_args
    out = {}
    for t in toks:
        k, _, v = t[2:].partition("=")
        out[k] = v if _ else "<flag>"
    return out


def _same(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return ast.literal_eval(a) == ast.literal_eval(b)
    except (ValueError, SyntaxError):
        try:
            return float(a) == float(b)
        except ValueError:
            return False


def _paper_cfg(strategy="multihead", n_pt=1000, **kw):
    return finetune.FinetuneConfig(strategy=strategy, foundation=str(TINY),
                                   foundation_sha256="0" * 64, n_bulk=10, n_interstitial=200,
                                   n_pt=n_pt, device="cuda", **kw)


FILES = {"train": "/d/train.xyz", "valid": "/d/valid.xyz", "pt_train": "/d/pt.xyz",
         "pt_valid": "/d/ptv.xyz"}
PATH_KEYS = {"name", "train_file", "valid_file", "pt_train_file", "pt_valid_file",
             "foundation_model", "work_dir"}


@pytest.mark.parametrize("strategy,n_pt,script", [("multihead", 1000, STUDY_MULTIHEAD),
                                                  ("naive", 0, STUDY_NAIVE)])
def test_paper_flags_are_the_studys(strategy, n_pt, script):
    opts = finetune.build_options(_paper_cfg(strategy, n_pt), FILES)
    ours = _flags(training.build_args(opts))
    study = _flags(script)
    study["num_samples_pt"] = study.pop("num_samples", None) or None
    study = {k: v for k, v in study.items() if v is not None}
    # run_mace_train adds --restart_latest; cluster-only flags are not passed
    only_study = set(study) - set(ours) - PATH_KEYS
    assert only_study == {"restart_latest", "enable_cueq", "distributed"}
    only_ours = set(ours) - set(study) - PATH_KEYS
    assert only_ours <= {"real_pt_data_ratio_threshold"}
    diff = {k: (ours[k], study[k]) for k in set(ours) & set(study) - {"num_workers"}
            if not _same(ours[k], study[k])}
    assert diff == {}
    # and the installed mace-torch parses them to the study's values
    from mace.tools.arg_parser import build_default_arg_parser

    a = build_default_arg_parser().parse_args(training.build_args(opts))
    assert (a.lr, a.ema, a.ema_decay, a.weight_decay, a.batch_size) == (0.005, True, 0.995,
                                                                        1e-8, 2)
    assert (a.loss, a.energy_weight, a.forces_weight, a.stress_weight) == ("universal", 1, 10, 1)
    assert (a.max_num_epochs, a.patience, a.amsgrad, a.clip_grad) == (800, 50, True, 100)
    assert (a.default_dtype, a.pair_repulsion, a.distance_transform) == ("float64", True, "Agnesi")
    assert ast.literal_eval(a.E0s) == {3: data.E0S_EV["Li"], 9: data.E0S_EV["F"]}
    assert a.multiheads_finetuning is (strategy == "multihead")
    assert a.force_mh_ft_lr is False  # the study did not pass it


def test_study_replay_files_and_epochs():
    assert finetune.STUDY_REPLAY[100][0] == "train_100"
    assert finetune.STUDY_REPLAY[1000][0] == "train_900"
    cfgs = finetune.plan_sweep(TINY, [[10, 200]], [0, 100, 10000], include_scratch=True)
    ep = {c.arm: c.max_num_epochs for c in cfgs}
    assert ep == {"naive": 800, "multihead-pt100": 800, "multihead-pt10000": 400,
                  "scratch": 800}
    assert len({c.folder for c in cfgs}) == len(cfgs)


def test_option_names_are_mapped_across_versions():
    new = {"num_samples_pt", "lr"}
    old = {"num_samples", "lr"}
    assert finetune.map_option_names({"num_samples": 5, "lr": 1}, new) == {"num_samples_pt": 5,
                                                                           "lr": 1}
    assert finetune.map_option_names({"num_samples_pt": 5}, old) == {"num_samples": 5}
    assert finetune.map_option_names({"real_pt_data_ratio_threshold": 0.0}, old) == {}
    with pytest.raises(ValueError, match="lr_typo"):
        finetune.map_option_names({"lr_typo": 1}, new)
    assert "num_samples_pt" in finetune.mace_option_names()  # the installed version


def test_force_mh_ft_lr_is_passed_when_asked():
    opts = finetune.build_options(_paper_cfg(force_mh_ft_lr=True), FILES)
    assert opts["force_mh_ft_lr"] is True and opts["num_samples_pt"] == 1000
    pool = finetune.build_options(_paper_cfg(n_pt=50, replay_source="pool"), FILES)
    assert pool["num_samples_pt"] == 50


def test_scratch_rebuilds_the_foundation_architecture():
    opts = finetune.build_options(_paper_cfg("scratch", 0), FILES)
    assert "foundation_model" not in opts and opts["multiheads_finetuning"] is False
    assert (opts["hidden_irreps"], opts["r_max"], opts["max_ell"], opts["correlation"],
            opts["num_radial_basis"], opts["num_interactions"]) == ("8x0e", 4.0, 1, 2, 4, 2)
    assert "num_channels" not in opts and "max_L" not in opts  # would override hidden_irreps
    assert opts["lr"] == 0.005 and opts["pair_repulsion"] is True
    assert opts["distance_transform"] == "None"  # the tiny model has none; the study's Agnesi
    # is the foundation's business, not added to a from-scratch copy


def test_config_validation():
    with pytest.raises(ValueError, match="n_pt must be > 0"):
        _paper_cfg("multihead", 0)
    with pytest.raises(ValueError, match="only multihead"):
        _paper_cfg("naive", 100)
    with pytest.raises(ValueError, match="unknown strategy"):
        _paper_cfg("lora", 0)
    c = _paper_cfg()
    assert finetune.FinetuneConfig.from_dict(c.to_dict()) == c


@pytest.mark.usefixtures("study_data_dir")
def test_replay_frames_follow_the_study_files():
    tr, va, info = finetune.replay_frames(100)
    assert len(tr) == 100 and len(va) == 100 and info["files"] == [data.REPLAY_FILES["train_100"]]
    tr, _, _ = finetune.replay_frames(1000)
    assert len(tr) == 900  # the study's "1000" replay file holds 900 training frames
    a, _, _ = finetune.replay_frames(37, "pool", seed=3)
    b, _, _ = finetune.replay_frames(37, "pool", seed=3)
    assert len(a) == 37 and [x.info["source"] for x in a] == [x.info["source"] for x in b]
    lif, va, info = finetune.replay_frames(10, "pool", seed=0, elements={3, 9})
    assert all(set(x.numbers) <= {3, 9} for x in lif + va) and info["dropped_valid"] > 90
    _, v5, _ = finetune.replay_frames(100, n_valid=5, seed=1)
    _, v5b, _ = finetune.replay_frames(100, n_valid=5, seed=1)
    assert len(v5) == 5 and [x.info["source"] for x in v5] == [x.info["source"] for x in v5b]


@pytest.mark.usefixtures("study_data_dir")
def test_forgetting_frames_drop_the_force_outliers():
    from lidiff_helpers.training import evaluation

    fr = evaluation.replay_validation_frames()
    fmax = [np.linalg.norm(a.arrays["REF_forces"], axis=1).max() for a in fr]
    assert 90 <= len(fr) < 100 and max(fmax) <= 10.0
    assert len(evaluation.replay_validation_frames(None)) == 100


@pytest.mark.usefixtures("study_data_dir")
def test_pt10000_without_upstream_file_says_so(monkeypatch, tmp_path):
    import pooch

    def refuse(*a, **k):
        raise ConnectionError("network disabled in test")

    monkeypatch.setattr(pooch, "retrieve", refuse)
    monkeypatch.setattr(paths, "CACHE", tmp_path)
    with pytest.raises(data.DataUnavailableError, match="REF_10000"):
        finetune.replay_frames(10000)
    with pytest.raises(data.DataError, match="REF_10000"):
        finetune.replay_frames(5000, "pool")


@pytest.mark.usefixtures("study_data_dir")
def test_missing_data_is_a_status_not_a_crash(tmp_path):
    cfg = finetune.plan_sweep(TINY, [[10, 700]], [0], epochs=1)[0]
    res = finetune.run_finetune(cfg, tmp_path)
    assert res.status == "missing data" and not res.ok
    assert "upstream-only" in res.message and "700-REF_train.xyz" in res.message


def test_changed_config_in_same_folder_is_refused(tmp_path):
    cfg = finetune.plan_sweep(TINY, [[2, 4]], [0], epochs=1)[0]
    wd = tmp_path / cfg.folder
    wd.mkdir()
    (wd / "config.json").write_text(json.dumps({**cfg.to_dict(), "lr": 1.0}))
    with pytest.raises(FileExistsError, match="config.json differs"):
        finetune.run_finetune(cfg, tmp_path)


def test_learning_curve_reads_mace_results(tmp_path):
    res = tmp_path / "results"
    res.mkdir()
    lines = [
        {"mode": "eval", "epoch": None, "head": "Default", "rmse_f": 0.30, "rmse_e_per_atom": 0.01,
         "rmse_stress": 0.001, "mae_f": 0.2, "time": 1.0},
        {"mode": "opt", "epoch": 0, "loss": 1.0, "time": 2.0},
        {"mode": "opt", "epoch": 0, "loss": 1.0, "time": 3.0},
        {"mode": "eval", "epoch": 0, "head": "Default", "rmse_f": 0.20, "time": 1.0},
        {"mode": "eval", "epoch": 0, "head": "Default", "rmse_f": 0.10, "time": 1.0},  # resumed
        {"mode": "opt", "epoch": 1, "loss": 1.0, "time": 7.0},
    ]
    (res / "model_run-1_train.txt").write_text(
        "\n".join(json.dumps(x) for x in lines) + '\n{"mode": "eval", "epo')
    lc = finetune.learning_curve(tmp_path)
    assert lc["epoch"].tolist() == [-1, 0]
    assert lc["rmse_f_meV_A"].tolist() == pytest.approx([300.0, 100.0])
    t = finetune.epoch_times(tmp_path)
    assert t["n_epochs"] == 2 and t["opt_s_per_epoch"] == pytest.approx(6.0)


# ----------------------------------------------------------------------------- real runs

@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory, study_data_dir):
    """A naive and a multihead fine-tune of the tiny model: 1 epoch, 6 frames, real mace.

    The folder is fixed per session, so test modules importing this fixture (each gets
    its own instance) find the runs finished and skip them.
    """
    root = tmp_path_factory.getbasetemp() / "finetune-tiny"
    cfgs = finetune.plan_sweep(TINY, [[2, 4]], [0, 10], epochs=1, n_valid_bulk=1,
                               n_valid_interstitial=2, replay_source="pool")
    t0 = time.time()
    res = finetune.run_sweep(cfgs, root, threads=2, progress=False)
    return {"root": root, "cfgs": cfgs, "results": res, "wall_s": time.time() - t0}


# issue acceptance test: real mace_run_train, ~30-45 s on a quiet 2-core machine (measured)
def test_ci_runs_train_load_and_predict(tiny_runs):
    from lidiff_helpers.simulation.models import get_calculator

    res = tiny_runs["results"]
    assert [r.status for r in res] in (["trained"] * 2, ["skipped"] * 2), [r.message for r in res]
    frame = data.test_set("interstitial")[0]
    for r in res:
        assert (r.workdir / "config.json").is_file() and (r.workdir / "done.json").is_file()
        calc = get_calculator(r.model, dtype="float64", verbose=False)
        at = frame.copy()
        at.calc = calc
        f = at.get_forces()
        assert f.shape == (217, 3) and np.isfinite(f).all()
        assert np.isfinite(at.get_potential_energy())
        assert calc.head == "Default"
    mh = get_calculator(res[1].model, head="pt_head", verbose=False)
    assert set(mh.available_heads) == {"Default", "pt_head"}
    manifest = json.loads((res[1].workdir / "data.json").read_text())
    assert manifest["replay"]["n_train"] == 10
    assert not set(manifest["train_hashes"]) & data.test_hashes()
    # one epoch of naive fine-tuning (lr 0.005) already fits its own training frames better
    # than the foundation did (measured: 643.1 -> 638.6 meV/A; deterministic, seeded)
    before = _train_force_rmse_meV_A(TINY, res[0].workdir)
    after = _train_force_rmse_meV_A(res[0].model, res[0].workdir)
    assert after < before - 1.0, (before, after)


def _train_force_rmse_meV_A(model, workdir) -> float:
    """Force RMSE (meV/A) of ``model`` on the LiF training frames of a run folder."""
    import ase.io

    from lidiff_helpers.simulation.models import get_calculator

    calc = get_calculator(str(model), dtype="float64", verbose=False)
    err = []
    for at in ase.io.read(workdir / "train.xyz", ":"):
        x = at.copy()
        x.calc = calc
        err.append(x.get_forces() - at.arrays["REF_forces"])
    return 1e3 * float(np.sqrt(np.mean(np.concatenate(err) ** 2)))


# issue acceptance test: real mace_run_train (one multihead run, ~40 CPU-s)
def test_multihead_learns_and_keeps_per_head_e0s(tmp_path, study_data_dir):
    """Multihead fine-tuning at the naive lr (``force_mh_ft_lr``) with E0s fitted to the
    data: the fine-tuned head predicts its training frames better than the foundation and
    carries the fitted E0s; the replay head keeps the foundation's E0s."""
    from lidiff_helpers.analysis import parity
    from lidiff_helpers.simulation.models import get_calculator

    cfg = finetune.plan_sweep(TINY, [[2, 4]], [10], epochs=1, n_valid_bulk=1,
                              n_valid_interstitial=2, replay_source="pool", e0s="fit",
                              force_mh_ft_lr=True)[0]
    res = finetune.run_finetune(cfg, tmp_path, threads=2)
    assert res.status == "trained", res.message
    before = _train_force_rmse_meV_A(TINY, res.workdir)
    after = _train_force_rmse_meV_A(res.model, res.workdir)
    assert after < before - 3.0, (before, after)  # measured: 643.1 -> 634.0 meV/A
    opts = json.loads((res.workdir / "options.json").read_text())
    fitted = {int(k): v for k, v in opts["E0s"].items()}  # what lidiff passed to mace
    foundation = parity.model_e0s(get_calculator(TINY, verbose=False))
    default = parity.model_e0s(get_calculator(res.model, head="Default", verbose=False))
    replay_head = parity.model_e0s(get_calculator(res.model, head="pt_head", verbose=False))
    assert replay_head == pytest.approx(foundation, abs=1e-9)
    assert default == pytest.approx(
        {"Li": fitted[3], "F": fitted[9]}, abs=1e-6)
    assert abs(default["F"] - foundation["F"]) > 0.1  # the fit moved them: a real check


# issue acceptance test: real mace_run_train, ~30-45 s on a quiet 2-core machine (measured)
def test_rerun_skips(tiny_runs):
    t0 = time.time()
    again = finetune.run_sweep(tiny_runs["cfgs"], tiny_runs["root"], progress=False)
    assert [r.status for r in again] == ["skipped", "skipped"]
    assert time.time() - t0 < 5
    assert [r.model for r in again] == [r.model for r in tiny_runs["results"]]


# issue acceptance test: real mace_run_train, ~30-45 s on a quiet 2-core machine (measured)
def test_interrupted_run_resumes(tmp_path, study_data_dir):
    from lidiff_helpers.analysis import confound

    cfg = finetune.plan_sweep(TINY, [[2, 4]], [0], epochs=3, n_valid_bulk=1,
                              n_valid_interstitial=2)[0]
    cfg_json = tmp_path / "cfg.json"
    cfg_json.write_text(json.dumps(cfg.to_dict()))
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    cmd = [sys.executable, "-m", "lidiff_helpers.finetune", "run", str(cfg_json),
           "--root", str(tmp_path / "runs")]
    proc = subprocess.Popen(cmd, start_new_session=True, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = tmp_path / "runs" / cfg.folder / "checkpoints"
    deadline = time.time() + 600
    while not list(ckpt.glob("*_epoch-0.pt")) and time.time() < deadline:
        assert proc.poll() is None, "training ended before it could be interrupted"
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    wd = tmp_path / "runs" / cfg.folder
    assert not (wd / "model.model").exists()
    res = finetune.run_finetune(cfg, tmp_path / "runs", threads=2)
    assert res.status == "resumed" and res.ok
    s = confound.read_run(wd)
    assert s.resumed and s.epochs_run == 3
    assert finetune.learning_curve(wd).query("head == 'Default'")["epoch"].tolist() == [-1, 0, 1, 2]


@pytest.mark.usefixtures("study_data_dir")
def test_diverse_run_data_asks_only_for_its_candidates(tmp_path):
    cfg = finetune.plan_sweep(TINY, [[3, 10]], [0], ["diverse"], epochs=1, n_valid_bulk=2,
                              n_valid_interstitial=5, diverse_pool_max=25)[0]
    asked = []
    rng = np.random.default_rng(0)

    def fake(hashes):
        asked.extend(hashes)
        return {h: rng.normal(size=4) for h in hashes}

    files = finetune.prepare_data(cfg, tmp_path / "run", fake)
    man = json.loads((tmp_path / "run" / "data.json").read_text())
    assert len(asked) == 50 and set(man["train_hashes"]) <= set(asked)
    assert not set(man["train_hashes"]) & set(man["valid_hashes"])
    assert not set(man["train_hashes"] + man["valid_hashes"]) & data.test_hashes()
    assert len(data.read_frames(files["train"], lif=True)) == 13


@pytest.mark.usefixtures("study_data_dir")
def test_fit_e0s_recovers_a_known_reference():
    """Labels built as model interaction energy + known E0s give those E0s back."""
    from lidiff_helpers.analysis import parity
    from lidiff_helpers.simulation.models import get_calculator

    calc = get_calculator(str(TINY), verbose=False)
    e0_model = {3: parity.model_e0s(calc)["Li"], 9: parity.model_e0s(calc)["F"]}
    target = {3: -1.234, 9: -5.678}
    frames = []
    for at in data.training_subset(1, 1, seed=0):
        x = at.copy()
        x.calc = calc
        inter = x.get_potential_energy() - sum(e0_model[int(z)] for z in at.numbers)
        y = at.copy()
        y.info["REF_energy"] = inter + sum(target[int(z)] for z in at.numbers)
        frames.append(y)
    fit = finetune.fit_e0s(TINY, frames)
    assert fit == pytest.approx(target, abs=1e-6)
    with pytest.raises(ValueError, match="compositions"):
        finetune.fit_e0s(TINY, frames[:1])


def test_extra_dft_frames_join_the_training_set_and_a_changed_set_is_refused(tmp_path,
                                                                              monkeypatch):
    """extra_train='dft-path': every finished pw.x run at the study's settings in the
    committed state joins the training frames (not the validation frames), recorded in
    data.json; runs at other cutoffs do not; when the state gains a run, the old folder is
    refused instead of silently reused; configs without extra frames keep their folder
    names (the key is absent from their dict)."""
    from lidiff_helpers.simulation.structures import lif_supercell
    from lidiff_helpers.training import labelling

    state = tmp_path / "state"

    def fake_run(name, at, **cutoffs):
        lab = labelling.QuantumEspressoLabeller(pseudo_dir=tmp_path, workdir=state, **cutoffs)
        folder = state / "paths" / name
        lab.write_input(at, folder / "espresso.pwi")
        np.savez(folder / "labels.npz", energy_eV=-1.0e4, forces_eV_A=np.zeros((len(at), 3)),
                 stress_eV_A3=np.zeros(6))

    at = lif_supercell(1, interstitial="tetrahedral")
    fake_run("a", at)
    fake_run("low-cutoff", at, ecutwfc_Ry=60.0, ecutrho_Ry=240.0)
    monkeypatch.setattr(labelling, "DFT_STATE", state)
    plain = finetune.plan_sweep(TINY, [[2, 4]], [0], epochs=1, n_valid_bulk=2,
                                n_valid_interstitial=3)[0]
    cfg = finetune.FinetuneConfig(**{**plain.to_dict(), "extra_train": "dft-path"})
    assert "extra_train" not in plain.to_dict() and cfg.folder != plain.folder
    files = finetune.prepare_data(cfg, tmp_path / "run")
    man = json.loads((tmp_path / "run" / "data.json").read_text())
    assert man["extra_train"]["n"] == 1 and man["extra_train"]["sources"] == ["paths/a"]
    from ase.io import read

    train = read(files["train"], ":")
    assert len(train) == len(man["train_hashes"]) + 1 and len(train[-1]) == len(at)
    assert train[-1].info["REF_energy"] == -1.0e4
    assert man["extra_train"]["hashes"][0] not in man["valid_hashes"]
    assert finetune.prepare_data(cfg, tmp_path / "run") == files      # unchanged: reused
    moved = at.copy()
    moved.positions[-1] += 0.1
    fake_run("b", moved)
    with pytest.raises(FileExistsError, match="1 extra frames"):
        finetune.prepare_data(cfg, tmp_path / "run")
    with pytest.raises(ValueError, match="extra_train"):
        finetune.FinetuneConfig(**{**plain.to_dict(), "extra_train": "saddles"})
