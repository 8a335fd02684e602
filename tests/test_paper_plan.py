"""``make paper-plan``: the paper profile resolved offline, checked against the study.

Known answers: the study's Table 1 grid and its upstream scripts' flags
(``tests/test_study_grid.py``), mace's multihead lr/EMA override, the study's MD design
(5 temperatures x 4 replicas x 9 ns for the Arrhenius models, 400/450 K x 2 x 3 ns for the
others, 300 ps segments), the study's pw.x settings (110/440 Ry) and stated costs.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from study_known import SCRIPTS, TABLE1_TEXT

from lidiff_helpers.core import reference
from lidiff_helpers.runner import plan as plan_cli


@pytest.fixture(scope="module")
def built(tmp_path_factory, study_data_dir):
    out = tmp_path_factory.mktemp("plan") / "paper-plan"
    assert plan_cli.main(["--profile", "paper", "--out", str(out)]) == 0
    return out, json.loads((out / "plan.json").read_text())


def _args(command: str) -> dict[str, str]:
    out = {}
    for tok in shlex.split(command)[1:]:
        k, _, v = tok[2:].partition("=")
        out[k] = v if _ else "True"
    return out


def test_every_table1_arm_with_the_scripts_flags(built):
    _, plan = built
    rows = plan["finetune"]
    got: dict = {}
    for r in rows:
        got.setdefault((r["n_bulk"], r["n_interstitial"]), set()).add(r["n_pt"])
    assert got == TABLE1_TEXT and len(rows) == 28
    for r in rows:
        a = _args(r["command"])
        assert shlex.split(r["command"])[0] == "mace_run_train"
        assert a["lr"] == "0.005" and a["ema_decay"] == "0.995" and a["device"] == "cuda"
        assert a["seed"] == str(r["seed"]) and a["default_dtype"] == "float64"
        assert a["restart_latest"] == "True" and "force_mh_ft_lr" not in a
        assert a["work_dir"] == r["folder"] and a["train_file"].startswith(r["folder"])
        key = ((r["n_bulk"], r["n_interstitial"]), r["n_pt"])
        if (r["n_bulk"], r["n_interstitial"]) == (200, 1400):
            assert r["status"].startswith("missing data") and r["gpu_h_upper"] == 0
            continue
        assert r["status"] == "planned"
        if key in SCRIPTS:
            train, valid, pt_file, num_samples, epochs = SCRIPTS[key]
            assert (r["train_file"], r["valid_file"]) == (train, valid)
            assert a["max_num_epochs"] == str(epochs)
            assert a["multiheads_finetuning"] == str(pt_file is not None)
            if pt_file:
                assert a["num_samples_pt"] == str(num_samples)
        mh = r["n_pt"] > 0
        # mace's override without --force_mh_ft_lr, as the guard will read it back
        assert (r["lr_effective"], r["ema_decay_effective"]) == \
            ((1e-4, 0.99999) if mh else (0.005, 0.995))
        assert r["replay_frames"] == (reference.STUDY_REPLAY_SETS[r["n_pt"]].train_frames
                                      if mh else 0)
        assert r["ft_duplication"] == (2 if r["n_pt"] == 10000 else 1)


def test_md_grid_lammps_inputs_and_jobs(built):
    out, plan = built
    runs = plan["md"]["runs"]
    arr = [r for r in runs if r["purpose"] == "arrhenius"]
    assert {r["model"] for r in arr} == {"mace-mpa-0", "multihead-pt100-study-10+200-s1",
                                         "multihead-pt1000-study-10+200-s1"}
    assert len(arr) == 3 * 5 * 4
    assert {r["temperature_K"] for r in arr} == set(reference.STUDY_ARRHENIUS_TEMPERATURES_K)
    comp = [r for r in runs if r["purpose"] == "comparison"]
    assert {r["temperature_K"] for r in comp} == {400.0, 450.0}
    assert all(r["production_ps"] == 3000.0 and r["segments"] == 10 + 1 for r in comp)
    assert all(r["production_ps"] == 9000.0 and r["n_atoms"] == 1001 for r in arr)
    models = {r["model"] for r in runs}
    assert {"mace-omat-0", "FT1", "FT2", "AL-live"} <= models
    assert not any(m.endswith("-s2") for m in models)  # registered_where {seed: 1}
    r = arr[0]
    folder = Path(r["lammps_folder"])
    assert (folder / "job.sbatch").is_file() and "#SBATCH" in (folder / "job.sbatch").read_text()
    seg = (folder / "seg_000" / "in.lammps").read_text()
    assert "pair_style" in seg and "mace" in seg and f"{r['temperature_K']:g}" in seg
    assert (out / "md" / "lammps" / "submit_all.sh").is_file()
    # cost: the study's 0.24 A100-s per step of the 1001-atom cell
    assert r["gpu_h"] == pytest.approx(r["steps"] * 0.24 / 3600, rel=1e-3, abs=0.1)


def test_active_learning_commands_and_qe_inputs(built):
    out, plan = built
    al = plan["active_learning"]
    steps = {(r["step"], r["max_num_epochs"]) for r in al["replay_committees"]}
    assert steps == {("step 0", 600), ("FT1 step 1", 600), ("FT1 step 2", 800),
                     ("FT2 step 1", 600)}
    for r in al["replay_committees"] + al["live_committees"]:
        a = _args(r["command"])
        assert (a["energy_weight"], a["forces_weight"], a["stress_weight"]) == \
            ("1.0", "1.0", "10.0")
        assert a["multiheads_finetuning"] == "False" and r["lr_effective"] == 0.005
    assert {r["max_num_epochs"] for r in al["live_committees"]
            if r["step"] == "final"} == {800}
    assert al["exploration"] == {"runs": 4 + 6 + 2 * 4 * 2, "ps_per_run": 600.0,
                                 "gpu_h": 26 * 24.0}
    assert al["dft"]["calculations"] == 2 * (16 + 60) + 2 * 2 * 40
    # the selection comparison: round 0's committee of 4, then 2 rounds of a committee (4)
    # and two single models; 2 rounds x 40 labels x 3 methods, all by pw.x
    cmp = al["comparison"]
    assert cmp["methods"] == ["committee", "extrapolation", "random"]
    assert cmp["trainings"] == 4 + 2 * (4 + 1 + 1) and cmp["dft_calculations"] == 240
    live_max = max(r["gpu_h_upper"] for r in al["live_committees"])
    assert cmp["gpu_h_upper"] == pytest.approx(16 * live_max + 8 * 24.0, abs=0.1)
    pwi = [Path(p) for p in al["dft"]["inputs"]]
    assert len(pwi) == 2 and all(p.is_file() for p in pwi)
    text = pwi[1].read_text().lower()
    assert "ecutwfc" in text and "110" in text and "440" in text and "217" in text


def test_files_models_cost_and_summary(built):
    out, plan = built
    data = {Path(d["file"]).name: d for d in plan["data"]}
    assert data["1600-REF_train.xyz"]["status"] == "not published upstream"
    assert data["200-REF_train.xyz"]["pinned_hash"].startswith("gitsha1:")
    assert data["100-REF_train.xyz"]["status"] == "present"
    assert [m["spec"] for m in plan["models"]] == ["mace-mpa-0", "mace-omat-0"]
    c = plan["cost"]
    assert c["gpu_h_total"] == pytest.approx(sum(c["gpu_h"].values()), abs=0.5)
    assert c["gpu_h"]["fine-tuning (02)"] == pytest.approx(
        sum(r["gpu_h_upper"] for r in plan["finetune"]), abs=0.5)
    assert set(c["sources"]) == set(reference.STUDY_COSTS) | set(reference.BATCHED_GPU_COSTS)
    md = (out / "plan.md").read_text()
    assert "inputs still missing" in md and "1600-REF_train.xyz" in md
    assert sum("| multihead-pt10000-study-" in ln and "REF_train.xyz" in ln
               for ln in md.splitlines()) == 4
    cmds = (out / "finetune_commands.sh").read_text().splitlines()
    assert sum(c.startswith("mace_run_train ") for c in cmds) == 28
    with pytest.raises(SystemExit, match="--overwrite"):
        plan_cli.main(["--profile", "paper", "--out", str(out)])


def test_gpu_profile_plan_batches_the_study_grid_in_about_two_hours(tmp_path, study_data_dir):
    """The gpu profile: 5 T x 4 replicas x 2 models of the 1001-atom cell, batched engine,
    10 + 50 ps: 40,040 atoms x 60,000 steps x 3.02 us = 2.0 GPU-h of MD."""
    out = tmp_path / "gpu-plan"
    assert plan_cli.main(["--profile", "gpu", "--out", str(out)]) == 0
    plan = json.loads((out / "plan.json").read_text())
    runs = plan["md"]["runs"]
    assert len(runs) == 40 and {r["engine"] for r in runs} == {"batched"}
    assert {r["n_atoms"] for r in runs} == {1001} and len({r["model"] for r in runs}) == 2
    assert {r["temperature_K"] for r in runs} == set(reference.STUDY_ARRHENIUS_TEMPERATURES_K)
    assert plan["cost"]["gpu_h"]["production MD (04)"] == pytest.approx(
        40 * 1001 * 60_000 * 3.02e-6 / 3600, rel=0.02)
    assert "| batched |" in (out / "plan.md").read_text()
