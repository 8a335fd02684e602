"""The confound guard: effective settings read from mace logs; mismatched arms flagged."""

from __future__ import annotations

import json

import pytest

from lidiff_helpers.analysis import confound

# lines of a real mace-torch 0.3.16 log: multihead fine-tuning without --force_mh_ft_lr
# (lidiff run "mh2", tiny model, 2 epochs), verbatim
MULTIHEAD_LOG = """\
2026-11-21 04:32:23.032 INFO: ===========VERIFYING SETTINGS===========
2026-11-21 04:32:23.032 INFO: MACE version: 0.3.16
2026-11-21 04:32:23.378 INFO: Using foundation model /work/main/tests/models/tiny-lif.model as initial checkpoint.
2026-11-21 04:32:23.378 INFO: Multihead finetuning mode, setting learning rate to 0.0001 and EMA to True. To use a different learning rate, set --force_mh_ft_lr=True.
2026-11-21 04:32:23.378 INFO: Using multiheads finetuning mode, setting learning rate to 0.0001 and EMA to True
2026-11-21 04:32:23.378 INFO: ===========LOADING INPUT DATA===========
2026-11-21 04:32:23.378 INFO: Using heads: ['Default', 'pt_head']
2026-11-21 04:32:23.531 INFO: Atomic Energies used (z: eV) for head Default: {3: -202.82202355577203, 9: -803.8441491412796}
2026-11-21 04:32:23.531 INFO: Atomic Energies used (z: eV) for head pt_head: {3: -202.82202355577203, 9: -803.8441491412796}
2026-11-21 04:32:26.360 INFO: Batch size: 2
2026-11-21 04:32:26.360 INFO: Using Exponential Moving Average with decay: 0.99999
2026-11-21 04:32:26.366 INFO: Number of gradient updates: 22
2026-11-21 04:32:26.366 INFO: Learning rate: 0.0001, weight decay: 1e-08
2026-11-21 04:32:26.366 INFO: UniversalLoss(energy_weight=1.000, forces_weight=10.000, stress_weight=1.000)
2026-11-21 04:32:26.373 WARNING: Cannot find checkpoint with tag 'mh2_run-1' in '/tmp/ft_exp/mh2/checkpoints'
2026-11-21 04:32:26.373 INFO: Started training, reporting errors on validation set
2026-11-21 04:32:33.269 INFO: Epoch 0: head: pt_head, loss=1.83589125, MAE_E_per_atom=300208.08 meV, MAE_F=    0.08 meV / A, MAE_stress=    0.30 meV / A^3
2026-11-21 04:32:33.620 INFO: Epoch 0: head: Default, loss=0.04888152, MAE_E_per_atom= 4583.71 meV, MAE_F=  522.51 meV / A, MAE_stress=   24.70 meV / A^3
2026-11-21 04:32:37.383 INFO: Epoch 1: head: pt_head, loss=1.83589173, MAE_E_per_atom=300208.16 meV, MAE_F=    0.08 meV / A, MAE_stress=    0.30 meV / A^3
2026-11-21 04:32:37.773 INFO: Epoch 1: head: Default, loss=0.04887320, MAE_E_per_atom= 4583.56 meV, MAE_F=  522.35 meV / A, MAE_stress=   24.70 meV / A^3
2026-11-21 04:32:37.797 INFO: Training complete
2026-11-21 04:32:37.799 INFO: Loading checkpoint: /tmp/ft_exp/mh2/checkpoints/mh2_run-1_epoch-1.pt
2026-11-21 04:32:37.836 INFO: Loaded Stage one model from epoch 1 for evaluation
"""
# the same run's naive twin (--multiheads_finetuning=False), verbatim lines
NAIVE_LOG = """\
2026-11-21 04:30:31.996 INFO: ===========VERIFYING SETTINGS===========
2026-11-21 04:30:31.996 INFO: MACE version: 0.3.16
2026-11-21 04:30:32.221 INFO: Using heads: ['Default']
2026-11-21 04:30:32.281 INFO: Atomic Energies used (z: eV) for head Default: {3: -202.82202355577203, 9: -803.8441491412796}
2026-11-21 04:30:33.919 INFO: Batch size: 2
2026-11-21 04:30:33.919 INFO: Using Exponential Moving Average with decay: 0.995
2026-11-21 04:30:33.919 INFO: Learning rate: 0.005, weight decay: 1e-08
2026-11-21 04:30:33.919 INFO: UniversalLoss(energy_weight=1.000, forces_weight=10.000, stress_weight=1.000)
2026-11-21 04:30:33.921 INFO: Started training, reporting errors on validation set
2026-11-21 04:30:42.271 INFO: Loading checkpoint: /tmp/ft_exp/naive/checkpoints/naive_run-1_epoch-0.pt
2026-11-21 04:30:42.289 INFO: Loaded Stage one model from epoch 0 for evaluation
"""
# mace-torch's wording when it switches multihead off, and when it duplicates frames
SWITCHED_OFF = ("2026-01-01 00:00:00.000 WARNING: Using multiheads finetuning with a foundation"
                " model that is not a Materials Project model, need to provied a path to a "
                "pretraining file with --pt_train_file.\n")
DUPLICATED = ("2026-01-01 00:00:00.000 WARNING: Ratio of the number of configurations in the "
              "training set and the in the pt_train_file is 0.011, increasing the number of "
              "configurations in the fine-tuning heads by 9\n")


def test_reads_lr_ema_heads_e0s_from_a_real_multihead_log():
    p = confound.read_log(MULTIHEAD_LOG)
    assert p["lr"] == 1e-4 and p["ema_decay"] == 0.99999 and p["ema"]
    assert p["heads"] == ("Default", "pt_head") and p["lr_overridden"]
    assert p["e0s"]["Default"] == {3: -202.82202355577203, 9: -803.8441491412796}
    assert p["best_epoch"] == 1 and p["batch_size"] == 2 and p["weight_decay"] == 1e-8
    assert p["loss"].startswith("UniversalLoss(") and p["mace_version"] == "0.3.16"
    assert not p["resumed"] and p["ft_duplication"] == 1


def test_reads_a_naive_log_and_the_silent_switches():
    p = confound.read_log(NAIVE_LOG)
    assert (p["lr"], p["ema_decay"], p["heads"], p["lr_overridden"]) == (0.005, 0.995,
                                                                       ("Default",), False)
    q = confound.read_log(NAIVE_LOG.replace("INFO: Using heads", SWITCHED_OFF + "x INFO: Using heads"))
    assert q["multihead_switched_off"]
    r = confound.read_log(NAIVE_LOG + DUPLICATED)
    assert r["ft_duplication"] == 10


def test_resume_is_detected_from_a_second_session():
    resumed = NAIVE_LOG.replace(
        "INFO: Started training",
        "INFO: Loading checkpoint: /x/checkpoints/naive_run-1_epoch-0.pt\nx INFO: Started training")
    assert confound.read_log(NAIVE_LOG + resumed)["resumed"]
    assert confound.read_log(NAIVE_LOG + resumed)["sessions"] == 2


def _settings(run, log, **kw):
    p = confound.read_log(log)
    fields = {k: p[k] for k in ("lr", "ema", "ema_decay", "weight_decay", "batch_size", "loss",
                                "heads", "e0s", "best_epoch", "ft_duplication",
                                "lr_overridden", "multihead_switched_off", "resumed")}
    fields["multihead"] = "pt_head" in p["heads"]
    fields.update(dtype="float64", max_num_epochs=800)
    fields.update(kw)
    return confound.EffectiveSettings(run=run, **fields)


def _vars(method="naive", selection="random", data="10+100", seed=1):
    return {"method": method, "selection": selection, "data": data, "seed": seed,
            "foundation": "abc"}


def test_flags_the_lr_ema_confound_of_multihead_arms():
    arms = {"naive": (_vars(), _settings("naive", NAIVE_LOG)),
            "mh100": (_vars("multihead-pt100"), _settings("mh100", MULTIHEAD_LOG))}
    df = confound.find_confounds(arms)
    assert len(df) == 1 and df.loc[0, "variable"] == "method" and df.loc[0, "confounded"]
    d = df.loc[0, "differences"]
    assert "lr: 0.0001 vs 0.005" in d and "ema_decay: 0.99999 vs 0.995" in d
    assert "heads" not in d  # a pt_head is what multihead means, not a confound


def test_clean_pairs_pass_and_unpaired_arms_are_not_compared():
    same = _settings("a", NAIVE_LOG)
    arms = {"a": (_vars(), same), "b": (_vars(selection="diverse"), same),
            "c": (_vars(selection="diverse", data="10+200"), same)}
    df = confound.find_confounds(arms)
    assert set(zip(df.arm_a, df.arm_b)) == {("a", "b"), ("b", "c")}  # a-c differ twice
    assert not df.confounded.any()


def test_flags_hidden_differences_between_data_arms():
    # two multihead arms compared on data size; one had its frames duplicated by mace,
    # the other ran fewer epochs: both are confounds of the data comparison
    a = _settings("a", MULTIHEAD_LOG)
    b = _settings("b", MULTIHEAD_LOG + DUPLICATED, max_num_epochs=400)
    arms = {"a": (_vars("multihead-pt100"), a), "b": (_vars("multihead-pt100", data="10+200"), b)}
    row = confound.find_confounds(arms).iloc[0]
    assert row.variable == "data" and row.confounded
    assert "ft_duplication: 1 vs 10" in row.differences
    assert "max_num_epochs: 800 vs 400" in row.differences


def test_guard_columns_and_notes():
    s = _settings("mh", MULTIHEAD_LOG, requested={"lr": 0.005, "ema_decay": 0.995})
    cols = confound.guard_columns(s)
    assert cols["lr_effective"] == 1e-4 and cols["heads"] == "Default+pt_head"
    assert "0.005 -> 0.0001" in cols["guard_notes"]
    assert json.loads(cols["E0s_Default_eV"]) == {"3": -202.822024, "9": -803.844149}


def test_missing_log_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no mace log"):
        confound.read_run(tmp_path)


from test_finetune import tiny_runs  # noqa: F401  (session fixture: real runs)


# issue acceptance test: real mace_run_train, ~30-45 s on a quiet 2-core machine (measured)
def test_guard_on_real_runs(tiny_runs):  # noqa: F811
    from lidiff_helpers.analysis import confound as cg

    res = tiny_runs["results"]
    arms = {r.config.label: (cg.arm_variables(r.config), cg.read_run(r.workdir, r.config.label))
            for r in res}
    naive, mh = (arms[r.config.label][1] for r in res)
    assert (naive.lr, naive.ema_decay, naive.heads) == (0.005, 0.995, ("Default",))
    assert (mh.lr, mh.ema_decay, mh.heads) == (1e-4, 0.99999, ("Default", "pt_head"))
    assert mh.lr_overridden and mh.epochs_run == 1 and mh.best_epoch == 0
    assert naive.e0s_default == mh.e0s_default
    df = cg.find_confounds(arms)
    assert df.confounded.tolist() == [True] and "lr: " in df.differences[0]
