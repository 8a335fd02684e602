"""The study's MPtrj replay ("pre-training") frames, and the one rule lidiff uses to
filter and subsample them.

The study replays frames of MACE's own pre-training data (MPtrj) in multihead
fine-tuning: ``train_mp_finetuning-MACE_900.xyz`` + ``_100.xyz`` (1000 frames) and
``valid_mp_finetuning-MACE_100.xyz`` (:data:`lidiff_helpers.io.data.REPLAY_FILES`).
A few of them carry atomic forces of 37-197 eV/A: such a frame dominates any squared
loss or RMSE. Every place that reads replay frames goes through :func:`replay_frames`:

* forgetting metrics (replay validation RMSE) and the embedded model's pretraining drop
  frames whose largest atomic force exceeds :data:`MAX_REPLAY_FORCE_EV_A` (10 eV/A);
* multihead fine-tuning replays the study's files *as the study did*
  (``max_force_eV_A=None``), keeping only frames whose elements the foundation knows;
* subsets are drawn by :func:`seeded_subset` (sorted indices of one
  ``numpy.random.default_rng(seed).choice`` without replacement): the same seed gives
  the same frames everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from lidiff_helpers.io import data

__all__ = ["MAX_REPLAY_FORCE_EV_A", "ReplayFrames", "largest_force_eV_A", "replay_frames",
           "seeded_subset"]

#: replay frames with a larger atomic force (eV/A) are dropped where a filter applies
MAX_REPLAY_FORCE_EV_A = 10.0


def largest_force_eV_A(atoms) -> float:
    """Largest atomic reference force of a frame (``REF_forces``), eV/A."""
    return float(np.linalg.norm(atoms.arrays["REF_forces"], axis=1).max())


@dataclass(frozen=True)
class ReplayFrames:
    """Frames kept from the replay files, and what was dropped and why."""

    frames: list
    files: tuple[str, ...]
    #: (source, largest force in eV/A) of the frames over the force limit
    dropped_force: tuple[tuple[str, float], ...] = ()
    #: number of frames with an element outside ``elements``
    dropped_elements: int = 0
    max_force_eV_A: float | None = None
    elements: tuple[int, ...] | None = None

    @property
    def n_read(self) -> int:
        return len(self.frames) + len(self.dropped_force) + self.dropped_elements


def replay_frames(keys: str | Sequence[str], *,
                  max_force_eV_A: float | None = MAX_REPLAY_FORCE_EV_A,
                  elements: Iterable[int] | None = None) -> ReplayFrames:
    """Read the replay files ``keys`` (keys of :data:`~lidiff_helpers.io.data.REPLAY_FILES`,
    in order) and apply the filter.

    Parameters
    ----------
    keys : one key or several (e.g. ``("train_900", "train_100")``)
    max_force_eV_A : drop frames whose largest atomic force exceeds it (eV/A);
        None keeps every frame
    elements : keep only frames made of these atomic numbers (None: all)
    """
    keys = (keys,) if isinstance(keys, str) else tuple(keys)
    unknown = [k for k in keys if k not in data.REPLAY_FILES]
    if unknown:
        raise data.DataError(f"unknown replay file key(s) {unknown}; known: "
                             f"{sorted(data.REPLAY_FILES)}")
    keep = {int(z) for z in elements} if elements is not None else None
    frames, dropped, n_el = [], [], 0
    for key in keys:
        for at in data.read_frames(data.REPLAY_FILES[key], lif=False):
            if keep is not None and not {int(z) for z in at.numbers} <= keep:
                n_el += 1
                continue
            if max_force_eV_A is not None and largest_force_eV_A(at) > max_force_eV_A:
                dropped.append((at.info["source"], round(largest_force_eV_A(at), 1)))
                continue
            frames.append(at)
    return ReplayFrames(frames, tuple(data.REPLAY_FILES[k] for k in keys), tuple(dropped),
                        n_el, max_force_eV_A, tuple(sorted(keep)) if keep else None)


def seeded_subset(frames: Sequence, n: int | None, seed: int) -> list:
    """``n`` frames drawn without replacement with ``default_rng(seed)``, in their
    original order; all of them when ``n`` is None or not smaller than their number."""
    frames = list(frames)
    if n is None or n >= len(frames):
        return frames
    if n < 0:
        raise ValueError(f"cannot draw a negative number of frames (n={n})")
    idx = np.random.default_rng(seed).choice(len(frames), int(n), replace=False)
    return [frames[i] for i in sorted(idx)]
