"""Replay of the study's active learning (Table 2): its published FT1/FT2 files as
datasets, committee disagreement per step, and the registration of the notebook's
final models (FT1, FT2, AL-live) for notebooks 04 and 05.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from lidiff_helpers.io import data
from lidiff_helpers.training.active_learning import ALResult
from lidiff_helpers.training.committee import (
    cached_deviation,
    deviation_stats,
    train_committee,
)

__all__ = ["STUDY_AL_STEPS", "STUDY_AL_EPOCHS", "STUDY_SIZES", "StudyStep", "study_steps",
           "replay_datasets", "replay_table", "replay_committees", "register_models"]


# ============================================================================ replay

#: the study's active-learning files: step -> (train file, valid file, parent step)
STUDY_AL_STEPS = {
    "step 0": ("Fine-tuning_with_MACE-MPA-0_data/step_0/train.xyz",
               "Fine-tuning_with_MACE-MPA-0_data/step_0/valid.xyz", None),
    "FT1 step 1": ("Fine-tuning_with_MACE-MPA-0_data/a_step_1/1_train.xyz",
                   "Fine-tuning_with_MACE-MPA-0_data/a_step_1/1_valid.xyz", "step 0"),
    "FT1 step 2": ("Fine-tuning_with_MACE-MPA-0_data/a_step_2/2_train.xyz",
                   "Fine-tuning_with_MACE-MPA-0_data/a_step_1/1_valid.xyz", "FT1 step 1"),
    "FT2 step 1": ("Fine-tuning_with_MACE-MPA-0_data/b_step_1/1_train.xyz",
                   "Fine-tuning_with_MACE-MPA-0_data/b_step_1/1_valid.xyz", "step 0"),
}
#: epochs of the study's committee members per step, from its training scripts
#: (upstream ``Fine-tuning_with_MACE-MPA-0_data/<step>/*/my0.sh``: step_0 600,
#: a_step_2 800, b_step_1 600); the text says 800 for FT1 and FT2 alike. ``a_step_1`` has
#: no published script: lidiff uses its neighbours' 600.
STUDY_AL_EPOCHS = {"step 0": 600, "FT1 step 1": 600, "FT1 step 2": 800, "FT2 step 1": 600}
#: the study's published sizes (Table 2 / Sec. 2.4): dataset -> (bulk, interstitial)
STUDY_SIZES = {"FT1": (16, 140), "FT2": (44, 100)}


@dataclass(frozen=True)
class StudyStep:
    """One step of the study's active learning, rebuilt from its files.

    Attributes
    ----------
    name : ``step 0``, ``FT1 step 1``, ``FT1 step 2``, ``FT2 step 1``
    train, valid : the step's training and validation frames
    added : training frames new at this step (relative to ``parent``)
    parent : the previous step (None for step 0)
    train_file, valid_file : study files read
    """

    name: str
    train: tuple
    valid: tuple
    added: tuple
    parent: str | None
    train_file: str
    valid_file: str


def study_steps() -> dict[str, StudyStep]:
    """The study's steps, each checked to extend its parent (hash-by-hash).

    ``FT1 step 2``'s own validation file (``a_step_2/2_valid.xyz`` in the study's
    script) is not published; ``a_step_1/1_valid.xyz`` stands in.

    Raises
    ------
    lidiff_helpers.io.data.DataError
        a step's training file does not contain all of its parent's frames, or shares
        frames with its validation file.
    """
    out: dict[str, StudyStep] = {}
    for name, (ftr, fva, parent) in STUDY_AL_STEPS.items():
        tr = data.read_frames(ftr)
        va = data.read_frames(fva)
        for a in tr + va:
            a.info["hash"] = data.frame_hash(a)
        th = {a.info["hash"] for a in tr}
        if th & {a.info["hash"] for a in va}:
            raise data.DataError(f"{name}: {ftr} and {fva} share frames")
        if parent is None:
            added = tr
        else:
            ph = {a.info["hash"] for a in out[parent].train}
            if not ph <= th:
                raise data.DataError(f"{name}: {ftr} lacks {len(ph - th)} frames of "
                                     f"{out[parent].train_file} (not an extension of it)")
            added = [a for a in tr if a.info["hash"] not in ph]
        out[name] = StudyStep(name, tuple(tr), tuple(va), tuple(added), parent, ftr, fva)
    return out


def replay_datasets(steps: Mapping[str, StudyStep] | None = None) -> dict[str, dict]:
    """FT1 and FT2 built from the step files' increments, checked against the study.

    FT1 = step 0 + the frames added at FT1 step 1 + those added at FT1 step 2
    (= ``a_step_2/2_train.xyz``); FT2 = step 0 + the frames added at FT2 step 1
    (= ``b_step_1/1_train.xyz``). Returns ``{"FT1": {"train", "valid", "counts"}, ...}``.

    Raises
    ------
    lidiff_helpers.io.data.DataError
        the increments do not rebuild the published file, or the bulk/interstitial
        counts differ from the study's (FT1 16 + 140, FT2 44 + 100).
    """
    steps = steps or study_steps()
    recipe = {"FT1": ["step 0", "FT1 step 1", "FT1 step 2"], "FT2": ["step 0", "FT2 step 1"]}
    out = {}
    for ds, parts in recipe.items():
        frames = [a for p in parts for a in steps[p].added]
        final = steps[parts[-1]]
        if sorted(a.info["hash"] for a in frames) != sorted(a.info["hash"] for a in final.train):
            raise data.DataError(f"{ds}: the increments of {parts} do not rebuild "
                                 f"{final.train_file}")
        counts = {"bulk": sum(a.info["kind"] == "bulk" for a in frames),
                  "interstitial": sum(a.info["kind"] == "interstitial" for a in frames)}
        if (counts["bulk"], counts["interstitial"]) != STUDY_SIZES[ds]:
            raise data.DataError(f"{ds}: {counts} frames, the study reports "
                                 f"{STUDY_SIZES[ds][0]} bulk + {STUDY_SIZES[ds][1]} "
                                 "interstitial")
        out[ds] = {"train": frames, "valid": list(final.valid), "counts": counts,
                   "steps": parts}
    return out


def replay_table(steps: Mapping[str, StudyStep] | None = None):
    """Table 2 in shape, from the files: frames added and totals per step and kind."""
    import pandas as pd

    steps = steps or study_steps()
    rows = []
    for s in steps.values():
        k = lambda fr, kind: sum(a.info["kind"] == kind for a in fr)
        rows.append({"dataset": "FT1 and FT2" if s.name == "step 0" else s.name.split()[0],
                     "step": s.name, "added_bulk": k(s.added, "bulk"),
                     "added_interstitial": k(s.added, "interstitial"),
                     "train_bulk": k(s.train, "bulk"),
                     "train_interstitial": k(s.train, "interstitial"),
                     "n_train": len(s.train), "n_valid": len(s.valid),
                     "train_file": s.train_file, "valid_file": s.valid_file})
    return pd.DataFrame(rows)


def _subset(frames: Sequence, n_max: int | None, seed: int) -> list:
    """At most ``n_max`` frames, keeping the bulk/interstitial proportion (seeded)."""
    frames = list(frames)
    if n_max is None or len(frames) <= n_max:
        return frames
    rng = np.random.default_rng(seed)
    out = []
    for kind in ("bulk", "interstitial"):
        fr = [a for a in frames if a.info["kind"] == kind]
        n = int(round(n_max * len(fr) / len(frames)))
        if fr:
            n = max(1, min(n, len(fr)))
        out += [fr[i] for i in sorted(rng.choice(len(fr), size=n, replace=False))] if n else []
    return out


def replay_committees(foundation: str, workdir: str | Path, committee_size: int = 4,
                      max_num_epochs: int | None = 600, patience: int = 50,
                      n_train_max: int | None = None, n_valid_max: int | None = None,
                      n_probe_max: int | None = None, seed: int = 0,
                      steps: Mapping[str, StudyStep] | None = None,
                      train_extra: Mapping[str, Any] | None = None, device: str = "cpu",
                      eval_dtype: str = "float32", n_parallel: int = 1,
                      threads: int | None = None, progress: bool = True):
    """Train a committee on every study step and measure its disagreement (Eq. 4).

    Each committee (seeds 1..N, study loss weights, study E0s) is evaluated on two
    probe sets: ``next`` = the frames the study added after that step (those its own
    step committee selected: step 0 -> FT1 step 1 and FT2 step 1 additions, FT1 step 1
    -> FT1 step 2 additions), and ``common`` = the FT2 validation frames (44 bulk + 100
    interstitial, never trained on; the same for every step, so steps compare).

    ``max_num_epochs``: epochs of every member; None = per step as the study's scripts
    (:data:`STUDY_AL_EPOCHS`).

    Returns ``(table, models, deviations)``: a DataFrame (one row per step and probe
    set: sizes and Eq. 4 statistics per kind), ``{step: [model files]}``, and
    ``{(step, probe): (ForceDeviation, kinds)}`` for histograms.
    """
    import pandas as pd


    steps = steps or study_steps()
    workdir = Path(workdir)
    common = _subset(steps["FT2 step 1"].valid, n_probe_max, seed + 7)
    nxt = {"step 0": list(steps["FT1 step 1"].added) + list(steps["FT2 step 1"].added),
           "FT1 step 1": list(steps["FT1 step 2"].added)}
    rows, trained, devs = [], {}, {}
    for i, (name, s) in enumerate(steps.items()):
        tr = _subset(s.train, n_train_max, seed + i)
        va = _subset(s.valid, n_valid_max, seed + 100 + i)
        folder = workdir / name.replace(" ", "_")
        epochs = STUDY_AL_EPOCHS[name] if max_num_epochs is None else int(max_num_epochs)
        paths_ = train_committee(tr, va, foundation, folder, seeds=range(1, committee_size + 1),
                                 max_num_epochs=epochs, patience=patience,
                                 e0s="study", extra=train_extra, device=device,
                                 n_parallel=n_parallel, threads=threads, progress=progress)
        trained[name] = paths_
        probes = {"common": common}
        if name in nxt:
            probes["next"] = _subset(nxt[name], n_probe_max, seed + 200 + i)
        for probe, frames in probes.items():
            dev = cached_deviation(paths_, frames, folder / f"deviation_{probe}.npz",
                                   device=device, dtype=eval_dtype, progress=progress)
            kinds = np.array([a.info["kind"] for a in frames])
            devs[(name, probe)] = (dev, kinds)
            row = {"step": name, "probe": probe, "n_train_used": len(tr),
                   "n_train_study": len(s.train), "n_valid_used": len(va),
                   "committee_size": committee_size, "max_num_epochs": epochs}
            for kind in ("bulk", "interstitial"):
                row.update(deviation_stats(dev.max_eV_A[kinds == kind], f"{kind}_maxdev"))
            row["all_maxdev_mean_eV_A"] = float(dev.max_eV_A.mean())
            rows.append(row)
    return pd.DataFrame(rows), trained, devs


# ============================================================================ registry

def register_models(out: str | Path, live: ALResult | None = None,
                    replay_models: Mapping[str, Sequence] | None = None, replay_table_=None,
                    profile: str = "quick") -> list[dict]:
    """Register the notebook's final models for notebooks 04 and 05 (the study's Fig. 3d).

    ``FT1`` / ``FT2``: seed-1 member of the committee trained on the study's
    ``FT1 step 2`` / ``FT2 step 1`` files (the study's FT1 and FT2 training sets);
    ``AL-live``: seed-1 member of the live loop's final committee (meta says whether
    its labels were surrogate). Meta records the training set, committee files,
    profile and whether settings were reduced (every profile but ``paper``).
    """
    from lidiff_helpers.io.model_registry import register_model

    entries = []
    reduced = profile != "paper"
    for name, step in (("FT1", "FT1 step 2"), ("FT2", "FT2 step 1")):
        paths_ = list((replay_models or {}).get(step, []))
        if not paths_:
            continue
        meta: dict[str, Any] = {
            "kind": "replay of the study's active-learning data", "study_label": name,
            "step": step, "train_file": STUDY_AL_STEPS[step][0],
            "valid_file": STUDY_AL_STEPS[step][1], "labels": "study DFT (Quantum ESPRESSO)",
            "committee_members": [str(p) for p in paths_], "profile": profile,
            "reduced_settings": reduced}
        if replay_table_ is not None:
            row = replay_table_[(replay_table_["step"] == step)
                                & (replay_table_["probe"] == "common")]
            if len(row):
                meta.update(n_train_used=int(row["n_train_used"].iloc[0]),
                            n_train_study=int(row["n_train_study"].iloc[0]),
                            max_num_epochs=int(row["max_num_epochs"].iloc[0]))
        entries.append(register_model(out, name, paths_[0], "03_active_learning", meta))
    if live is not None and live.final_models:
        meta = {"kind": "live active-learning loop", "label_sources": live.label_sources,
                "surrogate_labels": live.surrogate, "n_train": len(live.train),
                "n_valid": len(live.valid),
                "committee_members": [str(p) for p in live.final_models],
                "profile": profile, "reduced_settings": reduced}
        entries.append(register_model(out, "AL-live", live.final_models[0],
                                      "03_active_learning", meta))
    return entries
