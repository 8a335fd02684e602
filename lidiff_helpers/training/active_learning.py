"""Active learning with a committee: force deviation (the study's Eq. 4) and selection.

The study builds training data from the foundation model's own trajectories (its
Sections 2.3-2.4 and Table 2). A committee of N models (four in the study: naive
fine-tunes of MACE-MPA-0 on the same data with seeds 1-4) evaluates every candidate
frame; the frame's uncertainty is the largest atomic force deviation of the committee,

    sigma = max_i sqrt( 1/N sum_k | F_i^k - <F_i> |^2 ),   <F_i> = 1/N sum_k F_i^k   (Eq. 4)

with ``F_i^k`` the force on atom i predicted by member k (eV/A). :func:`force_deviation`
computes it (and the mean over atoms) for many frames at once.

Selection
---------
``"bands"`` (the study): "30 % within the 1 sigma range, 60 % within 1.5 sigma and the
rest within 2 sigma". The sigma there cannot be Eq. 4's sigma (a per-frame number with
no range); lidiff reads it as **the standard deviation s of the distribution of the
per-frame deviations (Eq. 4) over the candidate frames of one kind (bulk or
interstitial) in one round, measured from that distribution's mean m**:

* band 1: ``|d - m| <= 1 s``; band 2: ``1 s < |d - m| <= 1.5 s``;
  band 3: ``1.5 s < |d - m| <= 2 s`` (disjoint shells, so the quotas 30/60/10 % add up
  to the frames asked for);
* frames beyond ``2 s`` are never selected (outliers: often unphysical);
* the quotas are of the *selected* frames (largest-remainder rounding, so they add up
  exactly); a band with too few candidates gives its shortfall to the other bands (the
  largest quota first); within a band frames are drawn at random (seeded) or by
  diversity (:func:`lidiff_helpers.training.selection.select_diverse` on per-frame descriptors).

Because the 1-1.5 s shell holds only ~19 % of a normal distribution, the quotas
deliberately over-sample frames whose committee disagreement is unusual for the round.
``side="upper"`` is the one-sided variant (shells of ``d - m`` above the mean, every
frame below the mean counting as band 1) for those who read the study as targeting
only high-uncertainty frames. Band edges and quotas are parameters.

``"trust"`` (DP-GEN): frames with ``lo <= sigma < hi`` (absolute trust levels in eV/A),
at most ``n`` of them drawn at random.

The loop
--------
:func:`run_active_learning`: step 0 samples frames from foundation-model NVT MD of 3x3x3
LiF (216 atoms) and LiF + 1 tetrahedral interstitial Li (217 atoms) at the Table 2
temperatures; then each round trains a committee on the data so far
(:func:`train_committee`, via :mod:`lidiff_helpers.training.finetune`), explores with MD of one
member (:mod:`lidiff_helpers.simulation.md`), computes Eq. 4 on the explored frames, selects,
labels (:mod:`lidiff_helpers.training.labelling`) and adds them, until the mean deviation falls
below a threshold or the round limit. Everything is cached in a work folder and resumes.

The replay of the study (:func:`study_steps`, :func:`replay_datasets`,
:func:`replay_committees`) rebuilds FT1 (156 frames = 16 bulk + 140 interstitial) and
FT2 (144 = 44 + 100) from the published active-learning files and measures committee
disagreement per step, in the shape of Table 2.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from lidiff_helpers.io import data

__all__ = ["ForceDeviation", "force_deviation", "committee_deviation", "allocate_quotas",
           "deviation_bands", "BandSelection", "select_banded", "select_trust",
           "ALConfig", "train_committee", "explore", "run_active_learning", "ALResult",
           "StudyStep", "study_steps", "replay_datasets", "replay_table",
           "replay_committees", "deviation_stats", "register_models"]


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


def deviation_stats(dev: np.ndarray, prefix: str = "dev") -> dict[str, float]:
    """n, mean, std, median, 95th percentile and max of deviations (eV/A)."""
    d = np.asarray(dev, float)
    if d.size == 0:
        return {f"{prefix}_n": 0}
    return {f"{prefix}_n": int(d.size), f"{prefix}_mean_eV_A": float(d.mean()),
            f"{prefix}_std_eV_A": float(d.std()), f"{prefix}_median_eV_A": float(np.median(d)),
            f"{prefix}_p95_eV_A": float(np.percentile(d, 95)),
            f"{prefix}_max_eV_A": float(d.max())}


# ============================================================================ selection

def allocate_quotas(n: int, fractions: Sequence[float]) -> list[int]:
    """Split ``n`` frames by ``fractions`` (largest remainder; the parts add up to ``n``).

    Raises
    ------
    ValueError
        negative fractions or fractions that do not add up to 1.
    """
    fr = np.asarray(fractions, float)
    if (fr < 0).any() or abs(fr.sum() - 1.0) > 1e-6:
        raise ValueError(f"band fractions {list(fractions)} must be >= 0 and add up to 1")
    raw = fr * int(n)
    q = np.floor(raw).astype(int)
    rest = int(n) - int(q.sum())
    order = np.argsort(-(raw - q), kind="stable")
    q[order[:rest]] += 1
    return [int(x) for x in q]


def deviation_bands(dev: np.ndarray, edges_sigma: Sequence[float] = (1.0, 1.5, 2.0),
                    side: str = "both", center: str = "mean"):
    """Band of every frame: 0 = within ``edges[0]`` s of the centre, k = the k-th shell.

    Returns ``(band, m, s)``: band (n_frames,) with -1 beyond the last edge; m the
    centre (mean or median of ``dev``) and s the standard deviation of ``dev``, eV/A.
    See the module docstring for the interpretation.
    """
    d = np.asarray(dev, float)
    e = np.asarray(edges_sigma, float)
    if e.ndim != 1 or len(e) == 0 or (np.diff(e) <= 0).any() or (e <= 0).any():
        raise ValueError(f"band edges {list(edges_sigma)} must be positive and increasing")
    if side not in ("both", "upper"):
        raise ValueError(f"side must be 'both' or 'upper', got {side!r}")
    if center not in ("mean", "median"):
        raise ValueError(f"center must be 'mean' or 'median', got {center!r}")
    if d.size == 0:
        return np.zeros(0, int), float("nan"), float("nan")
    m = float(d.mean() if center == "mean" else np.median(d))
    s = float(d.std())
    if s == 0.0:
        return np.zeros(d.size, int), m, s
    z = (d - m) / s
    z = np.abs(z) if side == "both" else np.maximum(z, 0.0)
    band = np.searchsorted(e, z, side="left")  # z <= e[0] -> 0; e[0] < z <= e[1] -> 1 ...
    band[band >= len(e)] = -1
    return band.astype(int), m, s


@dataclass(frozen=True)
class BandSelection:
    """Outcome of :func:`select_banded` (indices into the candidate array).

    Attributes
    ----------
    indices : selected candidates, sorted
    band_of : band of each selected index
    requested, taken, available : per band: quota, frames taken, candidates in band
    center_eV_A, sigma_eV_A : centre and standard deviation of the deviation distribution
    edges_sigma : band edges in units of sigma
    side : ``both`` or ``upper``
    """

    indices: np.ndarray
    band_of: np.ndarray
    requested: tuple
    taken: tuple
    available: tuple
    center_eV_A: float
    sigma_eV_A: float
    edges_sigma: tuple
    side: str

    def band_limits_eV_A(self) -> list[tuple[float, float]]:
        """Upper/lower deviation limits (eV/A) of each band's outer edge."""
        m, s = self.center_eV_A, self.sigma_eV_A
        return [(m - e * s if self.side == "both" else -np.inf, m + e * s)
                for e in self.edges_sigma]

    def to_dict(self) -> dict:
        return {"indices": [int(i) for i in self.indices],
                "band_of": [int(b) for b in self.band_of], "requested": list(self.requested),
                "taken": list(self.taken), "available": list(self.available),
                "center_eV_A": self.center_eV_A, "sigma_eV_A": self.sigma_eV_A,
                "edges_sigma": list(self.edges_sigma), "side": self.side}


def _pick(cands: np.ndarray, k: int, rng, descriptors, seed: int) -> np.ndarray:
    if k <= 0 or len(cands) == 0:
        return np.zeros(0, int)
    if k >= len(cands):
        return np.asarray(cands, int)
    if descriptors is None:
        return np.sort(rng.choice(cands, size=k, replace=False))
    try:
        from lidiff_helpers.training.selection import select_diverse
    except ImportError as exc:  # pragma: no cover - selection.py is part of the package
        raise ImportError("diversity selection needs lidiff_helpers.training.selection."
                          "select_diverse (the fine-tuning issue's module), which is not "
                          f"importable: {exc}") from exc
    sub = select_diverse(np.asarray(descriptors)[cands], int(k), int(seed))
    return np.asarray(cands, int)[np.asarray(sub, int)]


def select_banded(dev: np.ndarray, n: int,
                  fractions: Sequence[float] = (0.3, 0.6, 0.1),
                  edges_sigma: Sequence[float] = (1.0, 1.5, 2.0), side: str = "both",
                  center: str = "mean", seed: int = 0, descriptors: np.ndarray | None = None,
                  redistribute: bool = True) -> BandSelection:
    """The study's banded selection of ``n`` frames (see the module docstring).

    Parameters
    ----------
    dev : per-frame deviations (Eq. 4) of the candidates, eV/A
    n : frames to select
    fractions : share of the selected frames per band (study: 0.3, 0.6, 0.1)
    edges_sigma : outer edge of each band in units of the distribution's std
    side : ``both`` (|d - m|) or ``upper`` (d - m, below-mean frames in band 1)
    center : ``mean`` (study reading) or ``median``
    seed : seed of the random draws (and of K-means for diversity)
    descriptors : (n_candidates, n_features) to pick by diversity within each band
    redistribute : give a band's shortfall to the other bands (largest quota first)
    """
    d = np.asarray(dev, float)
    if len(fractions) != len(edges_sigma):
        raise ValueError(f"{len(fractions)} band fractions for {len(edges_sigma)} band edges")
    if descriptors is not None and len(descriptors) != len(d):
        raise ValueError(f"{len(descriptors)} descriptors for {len(d)} candidates")
    band, m, s = deviation_bands(d, edges_sigma, side, center)
    quotas = allocate_quotas(int(n), fractions)
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(band == k) for k in range(len(quotas))]
    chosen: list[np.ndarray] = []
    taken = []
    for k, q in enumerate(quotas):
        got = _pick(members[k], q, rng, descriptors, seed + k)
        chosen.append(got)
        taken.append(len(got))
    short = int(n) - sum(taken)
    if short > 0 and redistribute:
        for k in sorted(range(len(quotas)), key=lambda j: (-fractions[j], j)):
            if short <= 0:
                break
            spare = np.setdiff1d(members[k], chosen[k])
            extra = _pick(spare, min(short, len(spare)), rng, descriptors, seed + 100 + k)
            chosen[k] = np.sort(np.concatenate([chosen[k], extra]))
            taken[k] += len(extra)
            short -= len(extra)
    idx = np.concatenate(chosen) if chosen else np.zeros(0, int)
    bands = np.concatenate([np.full(len(c), k) for k, c in enumerate(chosen)]) \
        if chosen else np.zeros(0, int)
    order = np.argsort(idx, kind="stable")
    return BandSelection(idx[order].astype(int), bands[order].astype(int), tuple(quotas),
                         tuple(taken), tuple(len(mm) for mm in members), m, s,
                         tuple(float(e) for e in edges_sigma), side)


def select_trust(dev: np.ndarray, lo_eV_A: float, hi_eV_A: float, n_max: int | None = None,
                 seed: int = 0) -> np.ndarray:
    """DP-GEN trust levels: sorted indices with ``lo <= dev < hi`` (at most ``n_max``,
    drawn at random with ``seed`` when more qualify)."""
    if not lo_eV_A < hi_eV_A:
        raise ValueError(f"trust levels need lo < hi, got lo={lo_eV_A}, hi={hi_eV_A}")
    d = np.asarray(dev, float)
    idx = np.flatnonzero((d >= lo_eV_A) & (d < hi_eV_A))
    if n_max is not None and len(idx) > n_max:
        idx = np.sort(np.random.default_rng(seed).choice(idx, size=int(n_max), replace=False))
    return idx.astype(int)


# ============================================================================ committee

#: loss weights (energy, forces, stress) of the study's active-learning fine-tunes
#: (upstream ``Fine-tuning_with_MACE-MPA-0_data/*/my0.sh``: 1, 1, 10)
STUDY_AL_LOSS_WEIGHTS = (1.0, 1.0, 10.0)


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
    study's isolated-atom QE energies, for DFT labels) or ``foundation`` (the
    foundation model's own E0s, for labels made by a surrogate derived from it).
    Returns the model files, in seed order.
    """
    from lidiff_helpers.core.provenance import sha256_file
    from lidiff_helpers.simulation import models
    from lidiff_helpers.training import finetune
    from lidiff_helpers.training import mace_train as training

    if len(seeds) < 1:
        raise ValueError("train_committee needs at least one seed")
    if e0s not in ("study", "foundation"):
        raise ValueError(f"e0s must be 'study' or 'foundation', got {e0s!r}")
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
    if manifest.is_file():
        old = json.loads(manifest.read_text())
        if {k: old.get(k) for k in hashes} != hashes:
            raise FileExistsError(f"{workdir}: holds a committee trained on other frames; "
                                  "delete it or use another folder")
    for k, frames in (("train", train), ("valid", valid)):
        if not files[k].is_file():
            tmp = files[k].with_suffix(".tmp.xyz")
            training.write_extxyz(frames, tmp)
            tmp.replace(files[k])
    manifest.write_text(json.dumps({**hashes, "label_sources": sorted(
        {str(a.info.get("label_source", "unknown")) for a in list(train) + list(valid)})},
        indent=1))
    n_b = sum((a.info.get("kind") or data.classify(a)) == "bulk" for a in train)
    ew, fw, sw = (float(x) for x in loss_weights)
    base_extra = {"energy_weight": ew, "forces_weight": fw, "stress_weight": sw}
    if e0s == "foundation":
        base_extra["E0s"] = "foundation"
    base_extra.update(dict(extra or {}))
    sha = sha256_file(spec.path)

    def one(seed: int) -> Path:
        cfg = finetune.FinetuneConfig(
            strategy="naive", foundation=str(spec.path), foundation_sha256=sha,
            n_bulk=n_b, n_interstitial=len(train) - n_b, seed=int(seed),
            max_num_epochs=int(max_num_epochs), patience=int(patience), device=device,
            extra=base_extra)
        opts = finetune.build_options(cfg, files, name=f"committee_s{seed}")
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


# ============================================================================ exploration

def explore(model_spec: str, workdir: str | Path, temperatures_K: Sequence[float],
            kinds: Sequence[str] = ("bulk", "interstitial"), n_cells: int = 3,
            production_ps: float = 1.0, equilibration_ps: float = 0.0,
            save_every: int = 10, timestep_fs: float = 1.0, seed: int = 0,
            dtype: str = "float32", device: str = "cpu", progress: bool = True) -> list:
    """NVT MD of ``model_spec`` at each temperature and kind; the saved frames.

    Runs :func:`lidiff_helpers.simulation.md.run_md` (Nose-Hoover chain, guard, resume) from
    :func:`lidiff_helpers.simulation.structures.lif_supercell` (``bulk``: 8 n^3 atoms,
    ``interstitial``: + 1 Li at the tetrahedral site). A run the guard stops keeps its
    frames up to the failure. Returns wrapped ASE frames with ``info`` keys
    ``temperature_K``, ``kind``, ``md_run``, ``md_frame`` and ``source``.
    """
    from lidiff_helpers.io.trajectory import is_trajectory, open_trajectory
    from lidiff_helpers.simulation import md

    workdir = Path(workdir)
    out = []
    jobs = [(float(T), k) for T in temperatures_K for k in kinds]
    for T, kind in jobs:
        if kind not in ("bulk", "interstitial"):
            raise ValueError(f"kind must be 'bulk' or 'interstitial', got {kind!r}")
        site = "none" if kind == "bulk" else "tetrahedral"
        name = f"{kind}-{T:g}K"
        vseed = int(np.random.SeedSequence([int(seed), int(round(T)),
                                            0 if kind == "bulk" else 1]).generate_state(1)[0])
        run = md.MDRun(name=name, model_spec=str(model_spec), model=Path(str(model_spec)).stem,
                       start_structure=f"lif:{int(n_cells)}:{site}", temperature_K=T,
                       seed=vseed, purpose="comparison", production_ps=float(production_ps),
                       equilibration_ps=float(equilibration_ps), timestep_fs=float(timestep_fs),
                       save_every=int(save_every), dtype=dtype, device=device,
                       checkpoint_every_s=60.0)
        st = md.run_md(run, workdir, progress=progress, raise_on_failure=False)
        if st.get("status") == "failed":
            print(f"[active_learning] exploration run {workdir / name} stopped by the MD "
                  f"guard ({(st.get('failure') or {}).get('message', '?')}); using its "
                  f"{st.get('n_frames', 0)} frames before the failure")
        tdir = workdir / name / "trajectory"
        if not is_trajectory(tdir):
            continue
        traj = open_trajectory(tdir)
        first = 1 if equilibration_ps == 0 else 0  # frame 0 of a cold start = the lattice
        for i in range(first, traj.n_frames):
            at = traj.atoms(i)
            at.wrap()
            at.info.update(temperature_K=T, kind=kind, md_run=name, md_frame=i,
                           source=f"{workdir.name}/{name}:{i}")
            out.append(at)
    return out


# ============================================================================ the loop

@dataclass(frozen=True)
class ALConfig:
    """Settings of the live active-learning loop (units in the names).

    Attributes
    ----------
    temperatures_K : MD temperatures of exploration (step 0 and every round)
    n_cells : conventional cells per edge (3: 216 / 217 atoms, as the study)
    explore_ps, equilibration_ps : production / discarded MD per run, ps
    save_every : MD steps between candidate frames
    timestep_fs : MD timestep, fs
    step0_bulk, step0_interstitial : step-0 training frames (study: 16 + 60)
    round_bulk, round_interstitial : training frames added per round (FT1: 0 + 40 per
        step; FT2: 28 + 40 in one step)
    valid_ratio : validation frames per training frame, drawn the same way (study: 1)
    selection : ``bands`` (study) or ``trust`` (DP-GEN)
    band_fractions, band_edges_sigma, band_side : see :func:`select_banded`
    trust_lo_eV_A, trust_hi_eV_A : trust levels for ``trust``
    diverse : pick by descriptor diversity within a band (needs a descriptor model)
    committee_size : N models per committee (study: 4)
    max_num_epochs, patience : committee training (study: 600, 50-100)
    loss_weights : (energy, forces, stress) weights (study: 1, 1, 10)
    e0s : ``study``, ``foundation`` (see :func:`train_committee`) or ``auto``:
        ``foundation`` when the labeller is a surrogate made from the foundation model
        itself (its energies are on the foundation's reference), else ``study``
    train_extra : further mace options
    n_rounds : round limit
    stop_deviation_eV_A : stop when the mean Eq.-4 deviation of a round's candidates is
        below this
    train_final : train a last committee on the final dataset (its members are the
        loop's final models); else the last round's committee is final
    seed : master seed
    md_dtype, eval_dtype : model precision for MD and for committee evaluation
    device : torch device
    n_parallel : committee members trained at the same time
    threads : OMP threads per training process (None: inherit)
    """

    temperatures_K: tuple = (300.0, 400.0, 500.0, 600.0)
    n_cells: int = 3
    explore_ps: float = 1.0
    equilibration_ps: float = 0.0
    save_every: int = 10
    timestep_fs: float = 1.0
    step0_bulk: int = 16
    step0_interstitial: int = 60
    round_bulk: int = 0
    round_interstitial: int = 40
    valid_ratio: float = 1.0
    selection: str = "bands"
    band_fractions: tuple = (0.3, 0.6, 0.1)
    band_edges_sigma: tuple = (1.0, 1.5, 2.0)
    band_side: str = "both"
    trust_lo_eV_A: float = 0.05
    trust_hi_eV_A: float = 0.5
    diverse: bool = False
    committee_size: int = 4
    max_num_epochs: int = 600
    patience: int = 50
    loss_weights: tuple = STUDY_AL_LOSS_WEIGHTS
    e0s: str = "auto"
    train_extra: dict = field(default_factory=dict)
    n_rounds: int = 2
    stop_deviation_eV_A: float = 0.05
    train_final: bool = True
    seed: int = 0
    md_dtype: str = "float32"
    eval_dtype: str = "float32"
    device: str = "cpu"
    n_parallel: int = 1
    threads: int | None = None

    def __post_init__(self):
        for k in ("temperatures_K", "band_fractions", "band_edges_sigma", "loss_weights"):
            object.__setattr__(self, k, tuple(float(x) for x in getattr(self, k)))
        if self.selection not in ("bands", "trust"):
            raise ValueError(f"selection must be 'bands' or 'trust', got {self.selection!r}")
        if self.committee_size < 2:
            raise ValueError("a committee needs at least 2 models")
        if len(self.band_fractions) != len(self.band_edges_sigma):
            raise ValueError("one band fraction per band edge")
        allocate_quotas(1, self.band_fractions)  # validates the fractions
        if not self.temperatures_K:
            raise ValueError("at least one exploration temperature")
        if self.e0s not in ("auto", "study", "foundation"):
            raise ValueError(f"e0s must be auto, study or foundation, got {self.e0s!r}")

    @classmethod
    def from_params(cls, params: Mapping[str, Any], **overrides) -> "ALConfig":
        """Settings from a notebook's parameters: every key named like a field is taken;
        ``train_dtype`` becomes mace's ``default_dtype``; ``overrides`` win."""
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in params.items() if k in names and v is not None}
        if params.get("train_dtype"):
            kw["train_extra"] = {**dict(kw.get("train_extra") or {}),
                                 "default_dtype": params["train_dtype"]}
        kw.update(overrides)
        return cls(**kw)

    @property
    def seeds(self) -> tuple:
        """Committee seeds (the study: 1..4)."""
        return tuple(range(1, self.committee_size + 1))

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))


@dataclass
class ALResult:
    """What :func:`run_active_learning` produced.

    Attributes
    ----------
    records : one dict per step/round (see :meth:`table`)
    train, valid : the final labelled datasets
    final_models : model files of the final committee
    deviations : per round, the candidates' Eq. 4 deviations, kinds, temperatures and the
        selected indices (for histograms)
    label_sources : distinct ``label_source`` of the data (``surrogate:...`` or DFT)
    workdir : the cache folder
    """

    records: list
    train: list
    valid: list
    final_models: list
    deviations: list
    label_sources: list
    workdir: Path

    def table(self):
        """The per-round record as a pandas DataFrame (Table 2 of the live run)."""
        import pandas as pd

        return pd.DataFrame(self.records)

    @property
    def surrogate(self) -> bool:
        return any(s.startswith("surrogate:") for s in self.label_sources)


def _read_xyz(path: Path) -> list:
    import ase.io

    frames = ase.io.read(path, index=":", format="extxyz")
    for at in frames:
        if "REF_forces" not in at.arrays and "forces" in at.arrays:
            at.arrays["REF_forces"] = at.arrays.pop("forces")
        if "REF_stress" in at.info:
            at.info["REF_stress"] = np.asarray(at.info["REF_stress"], float).reshape(3, 3)
    return frames


def _write_xyz(frames: Sequence, path: Path) -> None:
    import ase.io
    from ase import Atoms

    out = []
    for at in frames:
        new = Atoms(numbers=at.numbers, positions=at.positions, cell=at.cell, pbc=at.pbc)
        for k, v in at.info.items():
            if isinstance(v, (str, int, float, np.integer, np.floating)):
                new.info[k] = v
        new.info["REF_stress"] = np.asarray(at.info["REF_stress"], float).ravel()
        new.arrays["REF_forces"] = np.asarray(at.arrays["REF_forces"], float)
        out.append(new)
    tmp = path.with_suffix(".tmp.xyz")
    ase.io.write(tmp, out, format="extxyz")
    tmp.replace(path)


def _split(frames: list, n_train: int, rng) -> tuple[list, list]:
    order = rng.permutation(len(frames))
    tr = sorted(order[:n_train].tolist())
    va = sorted(order[n_train:].tolist())
    return [frames[i] for i in tr], [frames[i] for i in va]


def _counts(frames: Sequence, by: str) -> dict:
    out: dict = {}
    for a in frames:
        k = a.info.get(by)
        k = f"{float(k):g}K" if by == "temperature_K" else str(k)
        out[k] = out.get(k, 0) + 1
    return dict(sorted(out.items()))


def _select_round(cfg: ALConfig, cands: list, dev: ForceDeviation, seed: int,
                  descriptors: np.ndarray | None) -> tuple[list, list, dict]:
    """Select train and valid frames of one round, per kind; returns them + a report."""
    rng = np.random.default_rng(seed)
    kinds = np.array([a.info["kind"] for a in cands])
    chosen_tr, chosen_va, report = [], [], {}
    for kind, n_tr in (("bulk", cfg.round_bulk), ("interstitial", cfg.round_interstitial)):
        if n_tr <= 0:
            continue
        n_va = int(round(cfg.valid_ratio * n_tr))
        idx = np.flatnonzero(kinds == kind)
        d = dev.max_eV_A[idx]
        desc = descriptors[idx] if descriptors is not None else None
        if cfg.selection == "bands":
            sel = select_banded(d, n_tr + n_va, cfg.band_fractions, cfg.band_edges_sigma,
                                cfg.band_side, seed=seed, descriptors=desc)
            pick = idx[sel.indices]
            report[kind] = sel.to_dict()
            report[kind]["indices"] = [int(i) for i in pick]
        else:
            sub = select_trust(d, cfg.trust_lo_eV_A, cfg.trust_hi_eV_A, n_tr + n_va, seed)
            pick = idx[sub]
            report[kind] = {"indices": [int(i) for i in pick], "lo_eV_A": cfg.trust_lo_eV_A,
                            "hi_eV_A": cfg.trust_hi_eV_A,
                            "available": int(((d >= cfg.trust_lo_eV_A)
                                              & (d < cfg.trust_hi_eV_A)).sum())}
        frames = [cands[i] for i in pick]
        for at, i in zip(frames, pick):
            at.info["deviation_eV_A"] = float(dev.max_eV_A[i])
        tr, va = _split(frames, min(n_tr, len(frames)), rng)
        chosen_tr += tr
        chosen_va += va
        report[kind]["n_train"], report[kind]["n_valid"] = len(tr), len(va)
        if len(frames) < n_tr + n_va:
            report[kind]["shortfall"] = n_tr + n_va - len(frames)
    return chosen_tr, chosen_va, report


def _config_guard(workdir: Path, cfg: ALConfig, foundation_sha: str, labeller: str) -> None:
    body = {"config": cfg.to_dict(), "foundation_sha256": foundation_sha, "labeller": labeller}
    path = workdir / "config.json"
    if path.is_file():
        old = json.loads(path.read_text())
        ignore = {"n_rounds", "stop_deviation_eV_A", "train_final", "n_parallel", "threads"}
        a = {k: v for k, v in old["config"].items() if k not in ignore}
        b = {k: v for k, v in body["config"].items() if k not in ignore}
        diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        if diff or old.get("foundation_sha256") != foundation_sha \
                or old.get("labeller") != labeller:
            raise FileExistsError(f"{workdir}: holds an active-learning run with other "
                                  f"settings ({diff or 'foundation model or labeller'}); "
                                  "delete it or choose another folder")
    path.write_text(json.dumps(body, indent=1))


def run_active_learning(cfg: ALConfig, foundation: str, labeller, workdir: str | Path,
                        descriptor_calc=None, progress: bool = True) -> ALResult:
    """The live loop (see the module docstring); cached in ``workdir`` and resumable.

    Parameters
    ----------
    cfg : settings
    foundation : model spec of the foundation model (step-0 MD, committee start)
    labeller : an object with ``label(frames)`` and ``source``
        (:mod:`lidiff_helpers.training.labelling`)
    workdir : cache folder (``step_0/``, ``round_01/``..., ``final/``)
    descriptor_calc : MACE calculator for descriptors when ``cfg.diverse``

    Returns
    -------
    ALResult; ``records`` hold per step: frames added per kind and temperature, the
    deviation statistics of the candidates per kind, dataset sizes and whether the
    deviation threshold was reached.
    """
    from lidiff_helpers.simulation import models

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    fspec = models.resolve_spec(foundation)
    ident = models.model_identity(fspec)
    _config_guard(workdir, cfg, ident["sha256"], str(labeller.source))
    if cfg.e0s == "auto":
        spec = getattr(labeller, "spec", None)
        same = spec is not None and models.model_identity(spec)["sha256"] == ident["sha256"]
        cfg = dataclasses.replace(cfg, e0s="foundation" if same else "study")
        print(f"[active_learning] e0s=auto -> {cfg.e0s} (labels from {labeller.source})")
    records: list[dict] = []
    deviations: list[dict] = []

    # ---------------------------------------------------------------- step 0
    s0 = workdir / "step_0"
    s0.mkdir(exist_ok=True)
    t0 = time.time()
    if not (s0 / "train.xyz").is_file():
        cands = explore(str(fspec.path), s0 / "md", cfg.temperatures_K, n_cells=cfg.n_cells,
                        production_ps=cfg.explore_ps, equilibration_ps=cfg.equilibration_ps,
                        save_every=cfg.save_every, timestep_fs=cfg.timestep_fs,
                        seed=cfg.seed, dtype=cfg.md_dtype, device=cfg.device,
                        progress=progress)
        rng = np.random.default_rng([cfg.seed, 0])
        tr, va = [], []
        for kind, n in (("bulk", cfg.step0_bulk), ("interstitial", cfg.step0_interstitial)):
            pool = [a for a in cands if a.info["kind"] == kind]
            n_va = int(round(cfg.valid_ratio * n))
            if n + n_va > len(pool):
                raise ValueError(f"{s0}: step 0 needs {n} + {n_va} {kind} frames but the "
                                 f"foundation-model MD gave {len(pool)}; lengthen explore_ps "
                                 "or lower save_every")
            pick = rng.choice(len(pool), size=n + n_va, replace=False)
            tr += [pool[i] for i in sorted(pick[:n])]
            va += [pool[i] for i in sorted(pick[n:])]
        tr = labeller.label(tr)
        va = labeller.label(va)
        for at in tr + va:
            at.info["al_step"] = 0
        _write_xyz(va, s0 / "valid.xyz")
        _write_xyz(tr, s0 / "train.xyz")
    train = _read_xyz(s0 / "train.xyz")
    valid = _read_xyz(s0 / "valid.xyz")
    records.append({"step": "step 0", "round": 0, "explored_with": ident["name"],
                    "added_bulk": _counts(train, "kind").get("bulk", 0),
                    "added_interstitial": _counts(train, "kind").get("interstitial", 0),
                    "added_valid": len(valid),
                    "added_by_temperature": json.dumps(_counts(train, "temperature_K")),
                    "n_train": len(train), "n_valid": len(valid), "converged": False,
                    "wall_s": round(time.time() - t0, 1)})

    # ---------------------------------------------------------------- rounds
    committee_models: list[Path] = []
    last_cands: list = []
    stop = False
    for r in range(1, int(cfg.n_rounds) + 1):
        t0 = time.time()
        rd = workdir / f"round_{r:02d}"
        rd.mkdir(exist_ok=True)
        committee_models = train_committee(
            train, valid, str(fspec.path), rd / "committee", seeds=cfg.seeds,
            max_num_epochs=cfg.max_num_epochs, patience=cfg.patience,
            loss_weights=cfg.loss_weights, e0s=cfg.e0s, extra=cfg.train_extra,
            device=cfg.device, n_parallel=cfg.n_parallel, threads=cfg.threads,
            progress=progress)
        cands = explore(str(committee_models[0]), rd / "md", cfg.temperatures_K,
                        n_cells=cfg.n_cells, production_ps=cfg.explore_ps,
                        equilibration_ps=cfg.equilibration_ps, save_every=cfg.save_every,
                        timestep_fs=cfg.timestep_fs, seed=cfg.seed + r, dtype=cfg.md_dtype,
                        device=cfg.device, progress=progress)
        last_cands = cands
        devfile = rd / "deviation.npz"
        if devfile.is_file():
            z = np.load(devfile)
            dev = ForceDeviation(z["max_eV_A"], z["mean_eV_A"], z["argmax_atom"],
                                 int(z["n_models"]))
        else:
            com = models.get_committee([str(p) for p in committee_models], device=cfg.device,
                                       dtype=cfg.eval_dtype)
            dev = committee_deviation(com, cands, progress=progress)
            np.savez(devfile, max_eV_A=dev.max_eV_A, mean_eV_A=dev.mean_eV_A,
                     argmax_atom=dev.argmax_atom, n_models=dev.n_models)
        if len(dev) != len(cands):
            raise RuntimeError(f"{devfile}: {len(dev)} deviations for {len(cands)} explored "
                               "frames (stale cache? delete the file)")
        kinds = np.array([a.info["kind"] for a in cands])
        temps = np.array([a.info["temperature_K"] for a in cands])
        rec: dict[str, Any] = {"step": f"round {r}", "round": r,
                               "explored_with": committee_models[0].stem}
        for kind in ("bulk", "interstitial"):
            rec.update(deviation_stats(dev.max_eV_A[kinds == kind], f"{kind}_maxdev"))
            rec.update(deviation_stats(dev.mean_eV_A[kinds == kind], f"{kind}_meandev"))
        mean_dev = float(dev.max_eV_A.mean()) if len(dev) else float("nan")
        rec["mean_maxdev_eV_A"] = mean_dev
        stop = bool(len(dev)) and mean_dev < cfg.stop_deviation_eV_A
        entry = {"round": r, "max_eV_A": dev.max_eV_A, "kind": kinds,
                 "temperature_K": temps, "selected": np.zeros(0, int), "selection": {}}
        if stop:
            rec.update(added_bulk=0, added_interstitial=0, added_valid=0,
                       added_by_temperature="{}", converged=True)
        else:
            selfile = rd / "selection.json"
            if (rd / "train_added.xyz").is_file() and selfile.is_file():
                add_tr = _read_xyz(rd / "train_added.xyz")
                add_va = _read_xyz(rd / "valid_added.xyz") \
                    if (rd / "valid_added.xyz").is_file() else []
                report = json.loads(selfile.read_text())
            else:
                desc = None
                if cfg.diverse:
                    if descriptor_calc is None:
                        raise ValueError("diverse selection needs descriptor_calc (a MACE "
                                         "calculator, e.g. the foundation model)")
                    from lidiff_helpers.training.selection import frame_descriptors

                    desc = frame_descriptors(cands, descriptor_calc, progress=progress)
                sel_tr, sel_va, report = _select_round(cfg, cands, dev,
                                                       int(cfg.seed * 1000 + r), desc)
                add_tr = labeller.label(sel_tr)
                add_va = labeller.label(sel_va)
                for at in add_tr + add_va:
                    at.info["al_step"] = r
                selfile.write_text(json.dumps(report, indent=1))
                if add_va:
                    _write_xyz(add_va, rd / "valid_added.xyz")
                _write_xyz(add_tr, rd / "train_added.xyz")
            entry["selected"] = np.array(sorted(i for k in report.values()
                                                for i in k.get("indices", [])), int)
            entry["selection"] = report
            train = train + add_tr
            valid = valid + add_va
            kc = _counts(add_tr, "kind")
            rec.update(added_bulk=kc.get("bulk", 0), added_interstitial=kc.get("interstitial", 0),
                       added_valid=len(add_va),
                       added_by_temperature=json.dumps(_counts(add_tr, "temperature_K")),
                       converged=False)
        rec.update(n_train=len(train), n_valid=len(valid), wall_s=round(time.time() - t0, 1))
        records.append(rec)
        deviations.append(entry)
        if stop:
            break

    # ---------------------------------------------------------------- final committee
    final_models = list(committee_models)
    if cfg.train_final and not stop:
        t0 = time.time()
        final_models = train_committee(
            train, valid, str(fspec.path), workdir / "final" / "committee", seeds=cfg.seeds,
            max_num_epochs=cfg.max_num_epochs, patience=cfg.patience,
            loss_weights=cfg.loss_weights, e0s=cfg.e0s, extra=cfg.train_extra,
            device=cfg.device, n_parallel=cfg.n_parallel, threads=cfg.threads,
            progress=progress)
        rec = {"step": "final", "round": len(records), "explored_with": "-"}
        if last_cands:
            com = models.get_committee([str(p) for p in final_models], device=cfg.device,
                                       dtype=cfg.eval_dtype)
            dev = committee_deviation(com, last_cands, progress=progress)
            kinds = np.array([a.info["kind"] for a in last_cands])
            for kind in ("bulk", "interstitial"):
                rec.update(deviation_stats(dev.max_eV_A[kinds == kind], f"{kind}_maxdev"))
                rec.update(deviation_stats(dev.mean_eV_A[kinds == kind], f"{kind}_meandev"))
            rec["mean_maxdev_eV_A"] = float(dev.max_eV_A.mean())
            rec["note"] = "final committee evaluated on the last round's explored frames"
        rec.update(added_bulk=0, added_interstitial=0, added_valid=0,
                   added_by_temperature="{}", n_train=len(train), n_valid=len(valid),
                   converged=False, wall_s=round(time.time() - t0, 1))
        records.append(rec)
    from lidiff_helpers.training.labelling import label_sources

    return ALResult(records, train, valid, [Path(p) for p in final_models], deviations,
                    label_sources(train + valid), workdir)


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
                      max_num_epochs: int = 600, patience: int = 50,
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

    Returns ``(table, models, deviations)``: a DataFrame (one row per step and probe
    set: sizes and Eq. 4 statistics per kind), ``{step: [model files]}``, and
    ``{(step, probe): (ForceDeviation, kinds)}`` for histograms.
    """
    import pandas as pd

    from lidiff_helpers.simulation import models as _models

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
        paths_ = train_committee(tr, va, foundation, folder, seeds=range(1, committee_size + 1),
                                 max_num_epochs=max_num_epochs, patience=patience,
                                 e0s="study", extra=train_extra, device=device,
                                 n_parallel=n_parallel, threads=threads, progress=progress)
        trained[name] = paths_
        com = _models.get_committee([str(p) for p in paths_], device=device, dtype=eval_dtype)
        probes = {"common": common}
        if name in nxt:
            probes["next"] = _subset(nxt[name], n_probe_max, seed + 200 + i)
        for probe, frames in probes.items():
            cache = folder / f"deviation_{probe}.npz"
            hashes = np.array([data.frame_hash(a) for a in frames])
            if cache.is_file() and np.array_equal(np.load(cache)["hashes"], hashes):
                z = np.load(cache)
                dev = ForceDeviation(z["max_eV_A"], z["mean_eV_A"], z["argmax_atom"],
                                     int(z["n_models"]))
            else:
                dev = committee_deviation(com, frames, progress=progress)
                np.savez(cache, hashes=hashes, max_eV_A=dev.max_eV_A, mean_eV_A=dev.mean_eV_A,
                         argmax_atom=dev.argmax_atom, n_models=dev.n_models)
            kinds = np.array([a.info["kind"] for a in frames])
            devs[(name, probe)] = (dev, kinds)
            row = {"step": name, "probe": probe, "n_train_used": len(tr),
                   "n_train_study": len(s.train), "n_valid_used": len(va),
                   "committee_size": committee_size, "max_num_epochs": max_num_epochs}
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
