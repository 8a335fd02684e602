r"""A committee of models: force deviation (the study's Eq. 4) and committee training.

    sigma = max_i sqrt( 1/N sum_k | F_i^k - <F_i> |^2 ),   <F_i> = 1/N sum_k F_i^k   (Eq. 4)

with ``F_i^k`` the force on atom i predicted by member k (eV/A). :func:`force_deviation`
computes it (and the mean over atoms) for many frames at once; :func:`train_committee`
trains the members with ``mace_run_train`` (the study's active-learning flags).
See :mod:`lidiff_helpers.training.active_learning` for the loop that uses them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from lidiff_helpers.io import data

__all__ = ["ForceDeviation", "force_deviation", "committee_deviation", "cached_deviation",
           "deviation_stats",
           "STUDY_AL_LOSS_WEIGHTS", "member_options", "train_committee"]


# ============================================================================ Eq. 4

@dataclass(frozen=True)
class ForceDeviation:
    """Committee force deviation per frame (Eq. 4), eV/A.

    Attributes
    ----------
    max_eV_A : (n_frames,) Eq. 4: the largest atomic deviation of each frame
    mean_eV_A : (n_frames,) the mean over atoms of the atomic deviation
    argmax_atom : (n_frames,) index of the atom with the largest deviation
    n_models : committee size N
    """

    max_eV_A: np.ndarray
    mean_eV_A: np.ndarray
    argmax_atom: np.ndarray
    n_models: int

    def __len__(self) -> int:
        return len(self.max_eV_A)


def _atomic_deviation(f: np.ndarray) -> np.ndarray:
    """(n_frames, n_models, n_atoms, 3) -> (n_frames, n_atoms) sqrt(<|F - <F>|^2>)."""
    mean = f.mean(axis=1, keepdims=True)
    return np.sqrt(((f - mean) ** 2).sum(axis=-1).mean(axis=1))


def force_deviation(forces: np.ndarray | Sequence[np.ndarray]) -> ForceDeviation:
    """Eq. 4 for many frames at once.

    Parameters
    ----------
    forces : array (n_frames, n_models, n_atoms, 3), or one frame (n_models, n_atoms, 3),
        or a list of per-frame (n_models, n_atoms, 3) arrays (frames may differ in
        n_atoms, e.g. 216 and 217; frames of equal shape are evaluated together), eV/A

    Raises
    ------
    ValueError
        wrong shape, fewer than two models, or non-finite forces (naming the frame).
    """
    if isinstance(forces, np.ndarray) or (not isinstance(forces, (list, tuple))):
        f = np.asarray(forces, float)
        if f.ndim == 3:
            f = f[None]
        if f.ndim != 4 or f.shape[-1] != 3:
            raise ValueError(f"forces must be (n_frames, n_models, n_atoms, 3), got {f.shape}")
        if f.shape[1] < 2:
            raise ValueError(f"a committee needs at least 2 models, got {f.shape[1]}")
        bad = ~np.isfinite(f).all(axis=(1, 2, 3))
        if bad.any():
            raise ValueError(f"non-finite forces in frame {int(np.flatnonzero(bad)[0])}")
        dev = _atomic_deviation(f)
        return ForceDeviation(dev.max(axis=1), dev.mean(axis=1), dev.argmax(axis=1),
                              int(f.shape[1]))
    frames = [np.asarray(x, float) for x in forces]
    if not frames:
        return ForceDeviation(np.zeros(0), np.zeros(0), np.zeros(0, int), 0)
    for i, x in enumerate(frames):
        if x.ndim != 3 or x.shape[-1] != 3:
            raise ValueError(f"frame {i}: forces must be (n_models, n_atoms, 3), got {x.shape}")
    n_models = {x.shape[0] for x in frames}
    if len(n_models) != 1:
        raise ValueError(f"frames have different committee sizes {sorted(n_models)}")
    mx, mn, am = np.zeros(len(frames)), np.zeros(len(frames)), np.zeros(len(frames), int)
    by_shape: dict[tuple, list[int]] = {}
    for i, x in enumerate(frames):
        by_shape.setdefault(x.shape, []).append(i)
    for idx in by_shape.values():
        try:
            part = force_deviation(np.stack([frames[i] for i in idx]))
        except ValueError as exc:
            raise ValueError(f"{exc} (of the frames with shape "
                             f"{frames[idx[0]].shape}: list index {idx})") from exc
        mx[idx], mn[idx], am[idx] = part.max_eV_A, part.mean_eV_A, part.argmax_atom
    return ForceDeviation(mx, mn, am, n_models.pop())


def committee_deviation(committee, frames: Sequence, progress: bool = False) -> ForceDeviation:
    """Eq. 4 of a :class:`lidiff_helpers.simulation.models.Committee` on ASE frames."""
    it: Iterable = frames
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(frames, desc="committee forces", unit="frame")
    return force_deviation([committee.forces_per_model(at) for at in it])


def cached_deviation(committee_models: Sequence, frames: Sequence, path, *,
                     device: str = "cpu", dtype: str = "float64",
                     progress: bool = False) -> ForceDeviation:
    """:func:`committee_deviation` of the committee (model files) on ``frames``, cached in
    the ``.npz`` file ``path`` under a key of the models' SHA256 and the frames' content
    hashes (:func:`lidiff_helpers.core.cache.cached_arrays`)."""
    from lidiff_helpers.core.cache import cached_arrays
    from lidiff_helpers.core.provenance import sha256_file
    from lidiff_helpers.simulation import models

    key = {"models": [sha256_file(p) for p in committee_models], "dtype": dtype,
           "frames": [data.frame_hash(a) for a in frames]}

    def compute():
        com = models.get_committee([str(p) for p in committee_models], device=device,
                                   dtype=dtype)
        dev = committee_deviation(com, frames, progress=progress)
        return {"max_eV_A": dev.max_eV_A, "mean_eV_A": dev.mean_eV_A,
                "argmax_atom": dev.argmax_atom, "n_models": dev.n_models}

    z = cached_arrays(path, key, compute)
    return ForceDeviation(z["max_eV_A"], z["mean_eV_A"], z["argmax_atom"], int(z["n_models"]))


def deviation_stats(dev: np.ndarray, prefix: str = "dev") -> dict[str, float]:
    """n, mean, std, median, 95th percentile and max of deviations (eV/A)."""
    d = np.asarray(dev, float)
    if d.size == 0:
        return {f"{prefix}_n": 0}
    return {f"{prefix}_n": int(d.size), f"{prefix}_mean_eV_A": float(d.mean()),
            f"{prefix}_std_eV_A": float(d.std()), f"{prefix}_median_eV_A": float(np.median(d)),
            f"{prefix}_p95_eV_A": float(np.percentile(d, 95)),
            f"{prefix}_max_eV_A": float(d.max())}


# ============================================================================ committee

#: loss weights (energy, forces, stress) of the study's active-learning fine-tunes
#: (upstream ``Fine-tuning_with_MACE-MPA-0_data/*/my0.sh``: 1, 1, 10)
STUDY_AL_LOSS_WEIGHTS = (1.0, 1.0, 10.0)


def member_options(foundation_path: str, foundation_sha256: str, n_bulk: int,
                   n_interstitial: int, files: Mapping[str, str | Path], seed: int, *,
                   max_num_epochs: int = 600, patience: int = 50,
                   loss_weights: Sequence[float] = STUDY_AL_LOSS_WEIGHTS,
                   e0s: str | Mapping = "study", extra: Mapping[str, Any] | None = None,
                   device: str = "cpu") -> dict:
    """``mace_run_train`` options of one committee member: a naive fine-tune with the
    study's flags (:func:`lidiff_helpers.training.finetune.build_options`) and the
    active-learning loss weights; ``e0s="foundation"`` keeps the foundation's E0s, a
    mapping (atomic number -> eV) sets them."""
    from lidiff_helpers.training import finetune

    ew, fw, sw = (float(x) for x in loss_weights)
    base_extra: dict[str, Any] = {"energy_weight": ew, "forces_weight": fw,
                                  "stress_weight": sw}
    if isinstance(e0s, Mapping):
        base_extra["E0s"] = {int(z): float(v) for z, v in e0s.items()}
    elif e0s == "foundation":
        base_extra["E0s"] = "foundation"
    base_extra.update(dict(extra or {}))
    cfg = finetune.FinetuneConfig(
        strategy="naive", foundation=str(foundation_path), foundation_sha256=foundation_sha256,
        n_bulk=int(n_bulk), n_interstitial=int(n_interstitial), seed=int(seed),
        max_num_epochs=int(max_num_epochs), patience=int(patience), device=device,
        extra=base_extra)
    return finetune.build_options(cfg, files, name=f"committee_s{seed}")


def train_committee(train: Sequence, valid: Sequence, foundation: str, workdir: str | Path,
                    seeds: Sequence[int] = (1, 2, 3, 4), max_num_epochs: int = 600,
                    patience: int = 50, loss_weights: Sequence[float] = STUDY_AL_LOSS_WEIGHTS,
                    e0s: str = "study", extra: Mapping[str, Any] | None = None,
                    device: str = "cpu", n_parallel: int = 1, threads: int | None = None,
                    progress: bool = True) -> list[Path]:
    """Naive fine-tunes of ``foundation`` on the same frames with different seeds.

    Uses :func:`lidiff_helpers.training.finetune.build_options` (the study's flags) with the
    active-learning loss weights and :func:`lidiff_helpers.training.mace_train.run_mace_train`
    (finished members are skipped, interrupted ones resume). ``e0s``: ``study`` (the
    study's isolated-atom QE energies, for DFT labels), ``foundation`` (the
    foundation model's own E0s, for labels made by a surrogate derived from it) or
    ``fit`` (per-element E0s that put the foundation's interaction energies on the labels'
    reference, :func:`lidiff_helpers.training.finetune_data.fit_e0s` on the training and
    validation frames: for labels of another model, whatever its energy reference).
    Returns the model files, in seed order.
    """
    from lidiff_helpers.core.provenance import sha256_file
    from lidiff_helpers.simulation import models
    from lidiff_helpers.training import mace_train as training

    if len(seeds) < 1:
        raise ValueError("train_committee needs at least one seed")
    if e0s not in ("study", "foundation", "fit"):
        raise ValueError(f"e0s must be 'study', 'foundation' or 'fit', got {e0s!r}")
    if not train or not valid:
        raise ValueError(f"{workdir}: committee needs training and validation frames "
                         f"(got {len(train)} and {len(valid)})")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    spec = models.resolve_spec(foundation)
    files = {"train": workdir / "train.xyz", "valid": workdir / "valid.xyz"}
    manifest = workdir / "data.json"
    hashes = {"train": [data.frame_hash(a) for a in train],
              "valid": [data.frame_hash(a) for a in valid]}
    e0_values: str | dict = e0s
    if e0s == "fit":
        from lidiff_helpers.training.finetune_data import fit_e0s

        e0_values = {str(z): v for z, v in fit_e0s(spec.path, list(train) + list(valid)).items()}
    if manifest.is_file():
        old = json.loads(manifest.read_text())
        if _same_e0s(old.get("e0s"), e0_values):
            e0_values = old["e0s"]  # a fit from re-read frames differs in the last digits
        if {k: old.get(k) for k in hashes} != hashes or old.get("e0s") != e0_values:
            raise FileExistsError(f"{workdir}: holds a committee trained on other frames or "
                                  "with other E0s (made before E0s were recorded?); delete "
                                  "it or use another folder")
    for k, frames in (("train", train), ("valid", valid)):
        if not files[k].is_file():
            tmp = files[k].with_suffix(".tmp.xyz")
            training.write_extxyz(frames, tmp)
            tmp.replace(files[k])
    manifest.write_text(json.dumps({**hashes, "label_sources": sorted(
        {str(a.info.get("label_source", "unknown")) for a in list(train) + list(valid)}),
        "e0s": e0_values}, indent=1))
    n_b = sum((a.info.get("kind") or data.classify(a)) == "bulk" for a in train)
    sha = sha256_file(spec.path)

    def one(seed: int) -> Path:
        opts = member_options(str(spec.path), sha, n_b, len(train) - n_b, files, seed,
                              max_num_epochs=max_num_epochs, patience=patience,
                              loss_weights=loss_weights, e0s=e0_values, extra=extra,
                              device=device)
        return training.run_mace_train(opts, workdir / f"s{seed}", threads=threads)

    if n_parallel > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(int(n_parallel)) as pool:
            return list(pool.map(one, seeds))
    it: Iterable = seeds
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(list(seeds), desc=f"committee {workdir.name}", unit="model")
    return [one(s) for s in it]




def _same_e0s(a, b, tol_eV: float = 1e-5) -> bool:
    """Two E0 settings agree: the same name, or fitted values within ``tol_eV``."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(abs(a[k] - b[k]) <= tol_eV for k in a)
    return a == b


def resolve_e0s(e0s: str, labeller, foundation_sha256: str) -> str:
    """``auto`` made concrete, so that the E0s match the labels' energy reference:
    ``study`` (the study's isolated-atom QE energies) for DFT labels, as the study;
    ``foundation`` for a surrogate that is the foundation itself; ``fit`` for another
    model (a fine-tune on the study's labels sits on the QE reference, SevenNet-0 or
    CHGNet on an MPtrj-like one, the embedded foundation's E0s on neither: measured on
    SevenNet-0 labels with the foundation's E0s, a 1.2 eV/atom energy offset to absorb
    took a two-epoch fine-tune's validation forces from 53 to 93 meV/A MAE). Other values
    unchanged."""
    if e0s != "auto":
        return e0s
    spec = getattr(labeller, "spec", None)
    if spec is None:
        return "study"
    from lidiff_helpers.simulation import models

    same = models.model_identity(spec)["sha256"] == foundation_sha256
    return "foundation" if same else "fit"
