"""The embedded foundation model: a miniature MACE foundation model made by lidiff.

Why: MACE-MPA-0 weights cannot be downloaded on offline machines (and CI), yet every
notebook must run end to end and the study's fine-tuning strategies (naive, multihead
replay, committees) must be exercised exactly as with MACE-MPA-0. So the compendium
pretrains its own small MACE with ``mace_run_train`` on:

1. the study's MPtrj replay frames (``train_mp_finetuning-MACE_900/100.xyz`` for
   training, ``valid_mp_finetuning-MACE_100.xyz`` for validation; 85 elements; the
   frames' ``head=pbe_mp`` tag is dropped: the model has one head, like MACE-MPA-0),
   **filtered**: frames whose largest atomic force exceeds
   :data:`MAX_FORCE_EV_A` are dropped (the replay set holds outliers up to 144 eV/A
   while the 99th percentile of |F| is 0.6 eV/A; a handful of such frames dominate a
   squared loss). The Huber-based ``universal`` loss adds robustness to the rest.
2. bulk LiF DFT frames of the study (216 atoms, never an interstitial frame and never
   a frame of the held-out test set), with **forces and stress only**
   (``config_energy_weight = 0``): their Quantum ESPRESSO total energies are on a
   different reference from the VASP MPtrj energies, while forces and stresses are
   reference-free. This is the "widen its pretraining honestly with LiF bulk DFT
   frames" option of the issue: like MACE-MPA-0 the model then knows bulk LiF near
   equilibrium, and fine-tuning is what teaches it the interstitial defect.

E0s are fitted by least squares on the filtered replay training frames (the QE LiF
energies are excluded from that fit). Recipe, seed and hyperparameters are in
:func:`pretraining_options`; ``make embedded-model`` reruns it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from . import data, paths, training
from .provenance import sha256_file

__all__ = ["MAX_FORCE_EV_A", "EMBEDDED_MODEL", "build_pretraining_set",
           "pretraining_options", "train_embedded"]

#: replay frames with any |F| above this (eV/A) are excluded from pretraining
MAX_FORCE_EV_A = 10.0
#: bulk LiF DFT frames (forces + stress) in pretraining; 216-atom frames dominate the
#: cost of an epoch on CPU (a batch of 4 costs ~10x a batch of MPtrj frames)
N_LIF_BULK = 30
#: the committed model file
EMBEDDED_MODEL = paths.MODELS / "lidiff-embedded.model"
EMBEDDED_METRICS = paths.MODELS / "lidiff-embedded.metrics.json"


def _max_force(at) -> float:
    return float(np.linalg.norm(at.arrays["REF_forces"], axis=1).max())


def build_pretraining_set(workdir: Path, max_force_eV_A: float = MAX_FORCE_EV_A,
                          n_lif_bulk: int | None = None, seed: int = 0) -> dict:
    """Write ``train.xyz`` / ``valid.xyz`` for pretraining; return a summary dict.

    Parameters
    ----------
    workdir : output folder
    max_force_eV_A : replay frames with a larger atomic force are dropped
    n_lif_bulk : number of bulk LiF DFT frames (non-test, forces + stress only) added to
        training; None = all available (95)
    seed : seed of the LiF bulk draw
    """
    workdir = Path(workdir)
    train, valid, dropped = [], [], []
    for key, dest in (("train_900", train), ("train_100", train), ("valid_100", valid)):
        for at in data.read_frames(data.REPLAY_FILES[key], lif=False):
            at.info.pop("head", None)
            if _max_force(at) > max_force_eV_A:
                dropped.append((at.info["source"], round(_max_force(at), 1)))
                continue
            dest.append(at)
    e0s = training.lsq_e0s(train)
    pool = data.lif_pool("deepmd")
    held = data.test_hashes()
    bulk = [a for a in pool.frames if a.info["kind"] == "bulk" and a.info["hash"] not in held]
    if n_lif_bulk is not None:
        rng = np.random.default_rng(seed)
        bulk = [bulk[i] for i in sorted(rng.choice(len(bulk), n_lif_bulk, replace=False))]
    lif = []
    for at in bulk:
        at = at.copy()
        at.info["config_energy_weight"] = 0.0
        lif.append(at)
    training.write_extxyz(train + lif, workdir / "train.xyz")
    training.write_extxyz(valid, workdir / "valid.xyz")
    summary = {"replay_train": len(train), "replay_valid": len(valid),
               "lif_bulk_forces_stress_only": len(lif), "dropped_outliers": dropped,
               "max_force_eV_A": max_force_eV_A, "E0s_lsq_eV": e0s,
               "lif_bulk_hashes": [a.info["hash"] for a in lif]}
    (workdir / "pretraining_set.json").write_text(json.dumps(summary, indent=1))
    return summary


def pretraining_options(workdir: Path, e0s: dict, epochs: int = 40, seed: int = 1,
                        channels: int = 32, r_max_A: float = 5.0) -> dict:
    """mace_run_train options of the embedded model (float32, one head, ZBL repulsion)."""
    return {
        "name": "lidiff-embedded", "seed": seed, "device": "cpu", "default_dtype": "float32",
        "train_file": str(workdir / "train.xyz"), "valid_file": str(workdir / "valid.xyz"),
        "energy_key": "REF_energy", "forces_key": "REF_forces", "stress_key": "REF_stress",
        "E0s": {int(k): float(v) for k, v in e0s.items()},
        "model": "MACE", "hidden_irreps": f"{channels}x0e", "r_max": r_max_A,
        "num_radial_basis": 8, "max_ell": 3, "correlation": 3, "num_interactions": 2,
        "pair_repulsion": True, "distance_transform": "Agnesi",
        "loss": "universal", "energy_weight": 1.0, "forces_weight": 10.0,
        "stress_weight": 10.0, "compute_stress": True, "error_table": "PerAtomRMSEstressvirials",
        "lr": 0.01, "batch_size": 4, "valid_batch_size": 8, "max_num_epochs": epochs,
        "scheduler_patience": 5, "patience": 15, "ema": True, "ema_decay": 0.99,
        "amsgrad": True, "clip_grad": 100, "eval_interval": 1, "save_cpu": True,
        "num_workers": 0,
    }


def train_embedded(workdir: Path, out: Path = EMBEDDED_MODEL, epochs: int = 25,
                   seed: int = 1, channels: int = 32, threads: int = 2,
                   n_lif_bulk: int | None = N_LIF_BULK) -> Path:
    """Build the pretraining set, train with mace_run_train, copy the model to ``out``."""
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    summary = build_pretraining_set(workdir, n_lif_bulk=n_lif_bulk, seed=seed)
    opts = pretraining_options(workdir, summary["E0s_lsq_eV"], epochs=epochs, seed=seed,
                               channels=channels)
    t0 = time.time()
    model = training.run_mace_train(opts, workdir, threads=threads)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(model, out)
    rec = {"model": out.name, "sha256": sha256_file(out), "train_wall_s": round(time.time() - t0),
           "options": opts, "pretraining_set": {k: v for k, v in summary.items()
                                                 if k != "lif_bulk_hashes"},
           "data_files": data.files_used()}
    out.with_suffix(".recipe.json").write_text(json.dumps(rec, indent=1, default=str))
    return out


if __name__ == "__main__":  # make embedded-model
    ap = argparse.ArgumentParser(description="retrain the embedded foundation model")
    ap.add_argument("--out", default=str(EMBEDDED_MODEL))
    ap.add_argument("--workdir", default=str(paths.RESULTS / "embedded-training"))
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--n-lif-bulk", type=int, default=N_LIF_BULK)
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    print(train_embedded(Path(a.workdir), Path(a.out), a.epochs, a.seed, a.channels,
                         n_lif_bulk=a.n_lif_bulk))
