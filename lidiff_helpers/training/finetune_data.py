"""Data of a fine-tuning run besides the LiF frames: the replayed MPtrj frames of
multihead fine-tuning (the study's files, :mod:`lidiff_helpers.io.replay`) and the E0s
that put a foundation model's interaction energies on the reference of the DFT frames.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lidiff_helpers.io import data, replay

__all__ = ["STUDY_REPLAY", "replay_frames", "fit_e0s"]

#: the study's replay files per N_pt: (pt_train_file key, the --num_samples it passed)
STUDY_REPLAY = {100: ("train_100", 200), 1000: ("train_900", 1000),
                10000: ("train_10000", 1000)}
#: fitted E0s per (model path, model SHA256, frame hashes), for the life of the process
_E0_CACHE: dict[tuple, dict] = {}


def replay_frames(n_pt: int, source: str = "study", seed: int = 0,
                  elements: Iterable[int] | None = None,
                  n_valid: int | None = None) -> tuple[list, list, dict]:
    """Replay ("pre-training") frames for multihead fine-tuning.

    Parameters
    ----------
    n_pt : number of replay training frames
    source : ``study`` = the study's file for N_pt in :data:`STUDY_REPLAY` (100 ->
        train_100, 1000 -> train_900 (900 frames), 10000 -> the upstream-only 10 000
        frame file); otherwise, and for ``pool``, a seeded draw of ``n_pt`` frames from
        train_900 + train_100
    seed : seed of the draw
    elements : keep only frames made of these elements (a foundation model that does not
        know an element cannot replay it); None = all
    n_valid : keep a seeded subset of this many replay validation frames (None = all)

    Returns
    -------
    (train, valid, info) : frames, the study's replay validation frames
        (valid_mp_finetuning-MACE_100), and a dict recording files and dropped frames.

    Raises
    ------
    lidiff_helpers.io.data.DataUnavailableError
        N_pt = 10 000 needs the upstream-only ``REF_10000_mp_finetuning-MACE_run-1.xyz``.
    lidiff_helpers.io.data.DataError
        more frames asked for than the local replay files hold.
    """
    keep = set(elements) if elements is not None else None
    # the study's replay files as the study used them: no force filter
    info: dict[str, Any] = {"n_pt_requested": n_pt, "source": source}
    study_file = source == "study" and n_pt in STUDY_REPLAY
    if study_file:
        key = STUDY_REPLAY[n_pt][0]
        try:
            got = replay.replay_frames(key, max_force_eV_A=None, elements=keep)
        except data.DataUnavailableError as exc:
            raise data.DataUnavailableError(
                f"multihead fine-tuning with N_pt = {n_pt} replays the study's "
                f"{data.REPLAY_FILES[key]}, which is not available: {exc}") from exc
        train = got.frames
        info["files"] = [data.REPLAY_FILES[key]]
    else:
        got = replay.replay_frames(("train_900", "train_100"), max_force_eV_A=None,
                                   elements=keep)
        cands = got.frames
        if n_pt > len(cands):
            raise data.DataError(
                f"asked for {n_pt} replay frames but the local replay files (train_900 + "
                f"train_100) hold {len(cands)} usable ones"
                + (f" made of elements {sorted(keep)}" if keep else "")
                + "; N_pt = 10000 needs the upstream-only "
                + Path(data.REPLAY_FILES["train_10000"]).name)
        train = replay.seeded_subset(cands, n_pt, seed)
        info["files"] = [data.REPLAY_FILES["train_900"], data.REPLAY_FILES["train_100"]]
    gv = replay.replay_frames("valid_100", max_force_eV_A=None, elements=keep)
    valid = replay.seeded_subset(gv.frames, n_valid, seed + 1)  # seed + 1: not the train draw
    info.update(n_train=len(train), n_valid=len(valid),
                dropped_train=got.dropped_elements if study_file else None,
                dropped_valid=gv.dropped_elements,
                elements_filter=sorted(keep) if keep else None)
    if not train or not valid:
        raise data.DataError(f"no replay frames left after keeping elements {sorted(keep)} "
                             "(the foundation model knows too few elements)")
    return train, valid, info


def fit_e0s(foundation_path: str | Path, frames: Sequence,
            dtype: str = "float64") -> dict[int, float]:
    """E0s (eV) that put the foundation's interaction energies on the frames' reference.

    Least squares over the frames of ``E_ref - (E_model - sum_z n_z E0_model,z)`` =
    ``sum_z n_z E0_z``; LiF needs bulk and interstitial frames (two compositions) for a
    unique Li/F split.
    """
    from ase.data import atomic_numbers

    from lidiff_helpers.analysis import parity
    from lidiff_helpers.simulation.models import get_calculator

    calc = get_calculator(str(foundation_path), dtype=dtype, verbose=False)
    e0_model = {atomic_numbers[k]: v for k, v in (parity.model_e0s(calc) or {}).items()}
    zs = sorted({int(z) for at in frames for z in at.numbers})
    if any(z not in e0_model for z in zs):
        raise ValueError(f"{foundation_path}: no stored E0 for some of elements {zs}")
    a = np.zeros((len(frames), len(zs)))
    b = np.zeros(len(frames))
    for i, at in enumerate(frames):
        x = at.copy()
        x.calc = calc
        counts = {z: int((at.numbers == z).sum()) for z in zs}
        inter = x.get_potential_energy() - sum(n * e0_model[z] for z, n in counts.items())
        a[i] = [counts[z] for z in zs]
        b[i] = float(at.info["REF_energy"]) - inter
    if np.linalg.matrix_rank(a) < len(zs):
        raise ValueError("fit_e0s: the frames hold too few distinct compositions to fit "
                         f"one E0 per element {zs} (LiF needs bulk and interstitial frames)")
    sol = np.linalg.lstsq(a, b, rcond=None)[0]
    return {z: float(v) for z, v in zip(zs, sol)}


def _fit_e0s_cached(path: str, sha: str, hashes: tuple, frames: tuple) -> dict[int, float]:
    key = (path, sha, hashes)
    if key not in _E0_CACHE:
        _E0_CACHE[key] = fit_e0s(path, list(frames))
    return _E0_CACHE[key]

