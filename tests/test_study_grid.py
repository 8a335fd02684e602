"""The paper profile of notebook 02 against the study's Table 1 and its upstream scripts.

Known answers transcribed from the study (Table 1: "10 + 200 = 210: {0, 100, 1000}", ...)
and from the upstream scripts ``Fine-tuning_with_DeePMD_data/ft<size>_pt<N>/<k>_model/*.sh``
at the pinned commit (train/valid files, replay file, ``--num_samples``,
``--max_num_epochs``, ``--seed``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from study_known import SCRIPTS, TABLE1_TEXT  # tests/ is on sys.path (rootdir conftest)

from lidiff_helpers.analysis import confound
from lidiff_helpers.core import paths, reference
from lidiff_helpers.io import data
from lidiff_helpers.runner import profiles
from lidiff_helpers.training import evaluation, finetune, finetune_data, sweeps

TINY = paths.ROOT / "tests" / "models" / "tiny-lif.model"


class _P:
    def __init__(self, d):
        self.__dict__.update(d)


def _paper_configs():
    p = profiles.resolve("02_finetune_sweeps", "paper")
    p.update(seed=20260101, device="cuda")
    return sweeps.plan_from_params(_P(p), TINY)


def test_reference_table1_is_the_studys_grid():
    got = {(s.n_bulk, s.n_interstitial): set(s.n_pt_values) for s in reference.STUDY_TABLE1}
    assert got == TABLE1_TEXT
    by_size = {(s.n_bulk, s.n_interstitial): s for s in reference.STUDY_TABLE1}
    for (size, _), (train, valid, *_rest) in SCRIPTS.items():
        if size == (200, 1400):
            assert by_size[size].train_file is None  # not published upstream
            assert "1600-REF_train.xyz" in by_size[size].note
        else:
            assert by_size[size].train_file == train
        assert by_size[size].valid_file == valid
    assert reference.STUDY_REPLAY_SETS[1000].train_frames == 900


def test_paper_profile_plans_exactly_table1_with_the_scripts_flags():
    cfgs = _paper_configs()
    got: dict = {}
    for c in cfgs:
        got.setdefault((c.n_bulk, c.n_interstitial), set()).add(c.n_pt)
        assert c.selection == "study" and c.replay_source == "study"
        assert (c.lr, c.ema_decay, c.force_mh_ft_lr, c.e0s) == (0.005, 0.995, False, "study")
        assert c.default_dtype == "float64" and c.pt_ratio_threshold == 0.1
    assert got == TABLE1_TEXT
    assert len(cfgs) == 2 * sum(len(v) for v in TABLE1_TEXT.values())  # seeds 1 and 2
    assert {c.seed for c in cfgs} == set(reference.STUDY_FT_SEEDS)
    for c in cfgs:
        key = ((c.n_bulk, c.n_interstitial), c.n_pt)
        if key not in SCRIPTS:
            continue  # no published script (110 frames; 210 with N_pt 0 and 100)
        _train, _valid, pt_file, num_samples, epochs = SCRIPTS[key]
        assert c.max_num_epochs == epochs, key
        opts = finetune.build_options(c, {"train": "t.xyz", "valid": "v.xyz",
                                          "pt_train": "p.xyz", "pt_valid": "pv.xyz"})
        assert opts["multiheads_finetuning"] is (pt_file is not None)
        if pt_file:
            assert finetune_data.STUDY_REPLAY[c.n_pt][0] == {
                Path(v).name: k for k, v in data.REPLAY_FILES.items()}[pt_file]
            assert opts["num_samples_pt"] == num_samples


def test_planned_replay_is_what_mace_trains_on():
    rows = {(r["n_bulk"], r["n_pt"]): r for r in sweeps.plan_table(_paper_configs())
            .query("seed == 1").to_dict("records")}
    assert rows[(10, 1000)]["replay_frames"] == 900  # "1000" = 900 + 100 validation
    assert rows[(10, 100)]["replay_frames"] == 100 and rows[(10, 100)]["num_samples_pt"] == 200
    # --num_samples=1000 with the 10 000-frame file: all 10 000 replayed, and mace doubles
    # the 710 and 800 frame sets (ratio 0.071 and 0.08 < 0.1)
    assert rows[(10, 10000)]["replay_frames"] == 10000
    assert rows[(10, 10000)]["ft_duplication"] == 2
    assert rows[(100, 10000)]["ft_duplication"] == 2
    assert rows[(10, 1000)]["ft_duplication"] == 1 and rows[(10, 0)]["replay_frames"] == 0


@pytest.mark.parametrize("n_ft,n_pt,threshold,dup", [
    (710, 10000, 0.1, 2), (800, 10000, 0.1, 2), (110, 900, 0.1, 1), (50, 1000, 0.1, 3),
    (710, 10000, 0.0, 1), (210, 100, 0.1, 1)])
def test_effective_replay_follows_maces_rule(n_ft, n_pt, threshold, dup):
    eff = finetune_data.effective_replay(n_ft, n_pt, threshold)
    assert eff == {"replay_frames": n_pt, "ft_duplication": dup,
                   "ft_frames_effective": n_ft * dup}


def test_confound_guard_reads_the_effective_replay_size():
    log = ("===========VERIFYING SETTINGS===========\nUsing heads: ['Default', 'pt_head']\n"
           "Ratio of the number of configurations in the training set and the in the "
           "pt_train_file is 0.071, increasing the number of configurations in the "
           "fine-tuning heads by 1\n"
           "Total number of configurations in pretraining: train=10000, valid=100\n")
    got = confound.read_log(log)
    assert got["replay_frames"] == 10000 and got["ft_duplication"] == 2


def test_study_selection_needs_a_table1_size_and_the_study_replay():
    with pytest.raises(ValueError, match="not a size of the study's Table 1.*10\\+200"):
        finetune.FinetuneConfig(strategy="naive", foundation=str(TINY),
                                foundation_sha256="0" * 64, n_bulk=4, n_interstitial=36,
                                selection="study")
    with pytest.raises(ValueError, match="replay_source must be 'study'"):
        finetune.FinetuneConfig(strategy="multihead", foundation=str(TINY),
                                foundation_sha256="0" * 64, n_bulk=10, n_interstitial=200,
                                n_pt=100, selection="study", replay_source="pool")


@pytest.mark.usefixtures("study_data_dir")
def test_study_sets_are_the_studys_files():
    train, valid, info = finetune_data.study_sets(10, 100)
    assert [a.info["source"] for a in train] == [
        a.info["source"] for a in data.read_frames("100-REF_train.xyz")]
    assert len(train) == 110 and info["n_train_distinct"] == 108  # duplicates kept
    assert len(valid) == 105 and info["valid_file"] == "100-REF_valid.xyz"
    assert info["in_lidiff_test_set"] == {"train": 16, "valid": 15}


@pytest.mark.usefixtures("study_data_dir")
def test_study_sets_offline_and_unpublished(monkeypatch, tmp_path):
    import pooch

    monkeypatch.setattr(pooch, "retrieve",
                        lambda *a, **k: (_ for _ in ()).throw(ConnectionError("offline")))
    monkeypatch.setattr(paths, "CACHE", tmp_path)
    with pytest.raises(data.DataUnavailableError,
                       match="200-REF_train.xyz.*upstream only.*git blob 4abad0e2"):
        finetune_data.study_sets(10, 200)
    with pytest.raises(data.DataUnavailableError, match="200\\+1400.*1600-REF_train.xyz"):
        finetune_data.study_sets(200, 1400)


@pytest.mark.usefixtures("study_data_dir")
def test_800_set_nesting_check(monkeypatch):
    frames = data.read_frames("100-REF_train.xyz")
    for a in frames:
        a.info["hash"] = data.frame_hash(a)
    bulk = [a for a in frames if a.info["kind"] == "bulk"]
    inter = [a for a in frames if a.info["kind"] == "interstitial"]
    small, bulk, inter = bulk[:5] + inter[:50], bulk[5:], inter[50:]
    monkeypatch.setattr(finetune_data, "_read_set", lambda *a, **k: small)
    size = finetune_data.study_size(100, 700)
    assert finetune_data._nesting(size, small + bulk).startswith("ok: 55 of the 55 frames")
    assert finetune_data._nesting(size, small[1:] + bulk).startswith("VIOLATED")
    assert finetune_data._nesting(size, small + inter).startswith("VIOLATED")


def test_git_pinned_file_is_verified(monkeypatch, tmp_path, study_data_dir):
    rel = "Fine-tuning_with_DeePMD_data/10-REF_train.xyz"
    (tmp_path / rel).parent.mkdir(parents=True)
    shutil.copy(Path(study_data_dir) / rel, tmp_path / rel)
    monkeypatch.setenv("LIDIFF_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(data, "_VERIFIED", {})
    reg = dict(data.registry())
    reg[rel] = "gitsha1:8f5186d32be0d664e09c2b1a6169aa98952388c7"  # the upstream tree's id
    monkeypatch.setattr(data, "registry", lambda: reg)
    assert data.fetch(rel) == tmp_path / rel
    assert data.upstream_only(rel)
    with open(tmp_path / rel, "a") as f:
        f.write(" ")
    with pytest.raises(data.DataIntegrityError, match="git blob id .* does not match"):
        data.fetch(rel)


def test_sweep_table_tests_each_arm_on_frames_it_never_saw(tmp_path, study_data_dir):
    frames = data.read_frames("100-REF_valid.xyz")[:6]
    hashes = [data.frame_hash(a) for a in frames]
    (tmp_path / "data.json").write_text(json.dumps({"train_hashes": hashes[:2],
                                                    "valid_hashes": hashes[5:]}))
    kept, n_out = evaluation.frames_unseen_by(tmp_path, frames)
    assert n_out == 3 and [data.frame_hash(a) for a in kept] == hashes[2:5]
    assert evaluation.frames_unseen_by(tmp_path / "none", frames)[1] == 0


def test_paper_md_runs_the_studys_arrhenius_grid_for_the_210_frame_models():
    p = profiles.resolve("04_md_diffusion", "paper")
    assert tuple(p["arrhenius_temperatures_K"]) == reference.STUDY_ARRHENIUS_TEMPERATURES_K
    assert p["arrhenius_replicas"] == reference.STUDY_ARRHENIUS_REPLICAS
    assert p["arrhenius_production_ps"] == reference.STUDY_ARRHENIUS_PS
    assert tuple(p["comparison_temperatures_K"]) == reference.STUDY_COMPARISON_TEMPERATURES_K
    assert p["comparison_replicas"] == reference.STUDY_COMPARISON_REPLICAS
    assert p["comparison_production_ps"] == reference.STUDY_COMPARISON_PS
    assert p["registered_where"] == {"seed": 1}
    # the names must be models notebook 02's paper profile registers (seed 1)
    labels = {c.label for c in _paper_configs() if c.seed == 1}
    fine_tuned = [m for m in p["arrhenius_models"] if m != "foundation"]
    assert "foundation" in p["arrhenius_models"] and set(fine_tuned) <= labels
    assert {(c.n_bulk, c.n_interstitial, c.n_pt) for c in _paper_configs()
            if c.label in fine_tuned} == {(10, 200, 100), (10, 200, 1000)}
    assert "ft200_pt1000" in reference.STUDY_MD_RUNS["arrhenius"]


def test_registered_models_filtered_by_metadata():
    from lidiff_helpers.simulation.model_set import models_to_compare

    emb = paths.ROOT / "data" / "models" / "lidiff-embedded.model"
    reg = [{"name": "a-s1", "path": str(emb), "seed": 1, "notebook": "02"},
           {"name": "a-s2", "path": str(emb), "seed": 2, "notebook": "02"},
           {"name": "al", "path": str(emb), "notebook": "03"}]
    names = [m.label for m in models_to_compare(str(TINY), [], registered=reg)]
    assert names[1:] == ["a-s1"]  # same weights listed once: the first wins
    got = models_to_compare(str(TINY), [], registered=reg, registered_where={"seed": 2})
    assert [m.label for m in got][1:] == ["a-s2"]
    got = models_to_compare(str(TINY), [], registered=reg[2:], registered_where={"seed": 2})
    assert [m.label for m in got][1:] == ["al"]  # no seed in its metadata: kept
