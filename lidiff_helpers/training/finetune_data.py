"""Data of a fine-tuning run: the study's own Table 1 training and validation files
(:func:`study_sets`), the replayed MPtrj frames of multihead fine-tuning (the study's
files, :mod:`lidiff_helpers.io.replay`), what mace will actually replay
(:func:`effective_replay`), and the E0s that put a foundation model's interaction
energies on the reference of the DFT frames.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lidiff_helpers.core import reference
from lidiff_helpers.io import data, replay

__all__ = ["STUDY_REPLAY", "replay_frames", "fit_e0s", "study_size", "study_sets",
           "effective_replay"]

_REPLAY_KEY = {Path(v).name: k for k, v in data.REPLAY_FILES.items()}
#: the study's replay files per N_pt: (pt_train_file key, the --num_samples it passed)
STUDY_REPLAY = {n: (_REPLAY_KEY[r.train_file], r.num_samples)
                for n, r in reference.STUDY_REPLAY_SETS.items()}


def study_size(n_bulk: int, n_interstitial: int) -> reference.Table1Size:
    """The study's Table 1 size with this composition.

    Raises
    ------
    lidiff_helpers.core.errors.DataError
        naming the composition and the study's sizes when it is not one of them.
    """
    for s in reference.STUDY_TABLE1:
        if (s.n_bulk, s.n_interstitial) == (int(n_bulk), int(n_interstitial)):
            return s
    sizes = ", ".join(f"{s.n_bulk}+{s.n_interstitial}" for s in reference.STUDY_TABLE1)
    raise data.DataError(f"{n_bulk} bulk + {n_interstitial} interstitial frames is not a "
                         f"size of the study's Table 1 (selection 'study' trains on the "
                         f"study's own files: {sizes})")


def _read_set(name: str, n_bulk: int, n_interstitial: int | None) -> list:
    frames = data.read_frames(f"{reference.STUDY_DEEPMD_DIR}/{name}")
    for a in frames:
        a.info["hash"] = data.frame_hash(a)
    got = (sum(a.info["kind"] == "bulk" for a in frames),
           sum(a.info["kind"] == "interstitial" for a in frames))
    if n_interstitial is not None and got != (n_bulk, n_interstitial):
        raise data.DataError(f"{name}: holds {got[0]} bulk + {got[1]} interstitial frames, "
                             f"the study's Table 1 says {n_bulk} + {n_interstitial}")
    return frames


def _nesting(size: reference.Table1Size, train: Sequence) -> str:
    """The 800 set must be the 710 set + 90 bulk frames (the study's text): checked."""
    if (size.n_bulk, size.n_interstitial) != (100, 700):
        return "not applicable"
    try:
        small = _read_set("700-REF_train.xyz", 10, 700)
    except data.DataUnavailableError as exc:
        return f"not checked: {exc}"
    big = {a.info["hash"] for a in train}
    missing = [a for a in small if a.info["hash"] not in big]
    extra = [a for a in train if a.info["hash"] not in {b.info["hash"] for b in small}]
    kinds = sorted({a.info["kind"] for a in extra})
    ok = not missing and kinds == ["bulk"]
    return (f"{'ok' if ok else 'VIOLATED'}: {len(small) - len(missing)} of the "
            f"{len(small)} frames of 700-REF_train.xyz are in the 800 set; its "
            f"{len(extra)} other frames are {kinds}")


def study_sets(n_bulk: int, n_interstitial: int) -> tuple[list, list, dict]:
    """The study's own training and validation frames of a Table 1 size (as its scripts
    passed them to ``mace_run_train``: files used whole, duplicates included).

    Returns ``(train, valid, info)``; ``info`` names the files, the 800-set nesting check
    and how many frames are also in lidiff's held-out test set (the study's files overlap
    each other; :func:`lidiff_helpers.training.evaluation.sweep_table` leaves those out of
    each arm's test set).

    Raises
    ------
    lidiff_helpers.core.errors.DataUnavailableError
        the size's training file is upstream only and cannot be fetched, or upstream does
        not publish it (1600 frames).
    lidiff_helpers.core.errors.DataError
        a file's composition differs from Table 1.
    """
    size = study_size(n_bulk, n_interstitial)
    if size.train_file is None:
        raise data.DataUnavailableError(
            f"Table 1 size {size.n_bulk}+{size.n_interstitial}: {size.note}")
    train = _read_set(size.train_file, size.n_bulk, size.n_interstitial)
    valid = _read_set(size.valid_file, 0, None)
    held = data.test_hashes()
    info = {"train_file": size.train_file, "valid_file": size.valid_file,
            "n_train": len(train), "n_valid": len(valid),
            "n_train_distinct": len({a.info["hash"] for a in train}),
            "nesting_800_in_710": _nesting(size, train),
            "in_lidiff_test_set": {"train": sum(a.info["hash"] in held for a in train),
                                   "valid": sum(a.info["hash"] in held for a in valid)}}
    return train, valid, info


def effective_replay(n_finetune_frames: int, n_replay_frames: int,
                     threshold: float | None = reference.MACE_PT_RATIO_THRESHOLD) -> dict:
    """What ``mace_run_train --multiheads_finetuning=True`` will train on, by its own rule.

    mace (0.3.12 hard-coded, 0.3.16 ``--real_pt_data_ratio_threshold``) replays every
    frame of ``--pt_train_file`` (``--num_samples`` is not used then) and, when
    ratio = fine-tuning frames / replay frames < threshold, appends int(threshold / ratio)
    more copies of the fine-tuning frames. Returns ``replay_frames``, ``ft_duplication``
    (factor, 1 = none) and ``ft_frames_effective``.
    """
    dup = 1
    if threshold and n_replay_frames > 0:
        ratio = n_finetune_frames / n_replay_frames
        if ratio < threshold:
            dup = 1 + int(threshold / ratio)
    return {"replay_frames": int(n_replay_frames), "ft_duplication": dup,
            "ft_frames_effective": int(n_finetune_frames) * dup}
#: fitted E0s per (model path, model SHA256, frame hashes), for the life of the process
_E0_CACHE: dict[tuple, dict] = {}
#: fits run one at a time: parallel runs (reference_models.train's threads) fit the same
#: E0s, and mace's calculator sets torch's process-wide default dtype while it loads
_E0_LOCK = threading.Lock()


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
    with _E0_LOCK:
        if key not in _E0_CACHE:
            _E0_CACHE[key] = fit_e0s(path, list(frames))
        return _E0_CACHE[key]

