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

The replay of the study (:mod:`lidiff_helpers.training.al_study`: ``study_steps``,
``replay_datasets``, ``replay_committees``) rebuilds FT1 (156 frames = 16 bulk + 140 interstitial) and
FT2 (144 = 44 + 100) from the published active-learning files and measures committee
disagreement per step, in the shape of Table 2.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from lidiff_helpers.core.errors import ParameterError
from lidiff_helpers.training.al_selection import (  # noqa: F401  (re-exported)
    BandSelection,
    allocate_quotas,
    deviation_bands,
    select_banded,
    select_trust,
)
from lidiff_helpers.training.committee import (  # noqa: F401  (re-exported)
    STUDY_AL_LOSS_WEIGHTS, ForceDeviation, cached_deviation, committee_deviation,
    deviation_stats, force_deviation, resolve_e0s, train_committee)

__all__ = ["ForceDeviation", "force_deviation", "committee_deviation", "allocate_quotas",
           "deviation_bands", "BandSelection", "select_banded", "select_trust",
           "ALConfig", "train_committee", "explore", "run_active_learning", "ALResult",
           "deviation_stats"]


# ============================================================================ exploration

def explore(model_spec: str, workdir: str | Path, temperatures_K: Sequence[float],
            kinds: Sequence[str] = ("bulk", "interstitial"), n_cells: int = 3,
            production_ps: float = 1.0, equilibration_ps: float = 0.0,
            save_every: int = 10, timestep_fs: float = 1.0, seed: int = 0,
            dtype: str = "float32", device: str = "cpu", progress: bool = True,
            guard: dict | None = None) -> list:
    """NVT MD of ``model_spec`` at each temperature and kind; the saved frames.

    ``guard``: further MD guard settings (e.g. ``{"gamma_break": 10, "active_set": path}``,
    the extrapolation stop of :mod:`lidiff_helpers.training.al_extrapolation`); a run that
    stops at ``gamma_break`` also contributes the configuration that crossed it
    (``info["md_frame"] = "break"``).

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
                       checkpoint_every_s=60.0, **({"guard": dict(guard)} if guard else {}))
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
        if (st.get("failure") or {}).get("check") == "extrapolation":
            import ase.io

            at = ase.io.read(workdir / name / "failure.extxyz")
            at.wrap()
            at.info = {"temperature_K": T, "kind": kind, "md_run": name, "md_frame": "break",
                       "source": f"{workdir.name}/{name}:break"}
            out.append(at)
    return out


# ============================================================================ the loop

@dataclass(frozen=True)
class ALConfig:
    """Settings of the live active-learning loop (units in the names).

    Attributes
    ----------
    temperatures_K : MD temperatures of exploration (every round; step 0 too unless set below)
    step0_bulk_temperatures_K, step0_interstitial_temperatures_K : step-0 exploration
        temperatures per kind (None: ``temperatures_K``); the study's Table 2: bulk at
        300/400/500/600 K, interstitial at 300/350/400/450/500/600 K
    step0_stratified : draw the step-0 frames of a kind equally over its temperatures
        (largest remainder), as Table 2 does (4 bulk and 10 interstitial per temperature);
        False: one draw from all of the kind's frames
    n_cells : conventional cells per edge (3: 216 / 217 atoms, as the study)
    explore_ps, equilibration_ps : production / discarded MD per run, ps
    save_every : MD steps between candidate frames
    timestep_fs : MD timestep, fs
    step0_bulk, step0_interstitial : step-0 training frames (study: 16 + 60)
    round_bulk, round_interstitial : training frames added per round (FT1: 0 + 40 per
        step; FT2: 28 + 40 in one step)
    valid_ratio : validation frames per training frame, drawn the same way (study: 1)
    selection : ``bands`` (study) or ``trust`` (DP-GEN) (MLIP-3's grade: :mod:`al_extrapolation`)
    band_fractions, band_edges_sigma, band_side : see :func:`select_banded`
    trust_lo_eV_A, trust_hi_eV_A : trust levels for ``trust``
    diverse : pick by descriptor diversity within a band (needs a descriptor model)
    committee_size : N models per committee (study: 4)
    max_num_epochs, patience : committee training (study: 600, 50-100)
    loss_weights : (energy, forces, stress) weights (study: 1, 1, 10)
    e0s : ``study``, ``foundation``, ``fit`` (see :func:`train_committee`) or ``auto``
        (:func:`lidiff_helpers.training.committee.resolve_e0s`)
    train_extra : further mace options
    n_rounds : round limit
    stop_deviation_eV_A : stop when the mean Eq.-4 deviation of a round's candidates is
        below this
    train_final : train a last committee on the final dataset (its members are the
        loop's final models); else the last round's committee is final
    final_max_num_epochs : epochs of that final committee (None: ``max_num_epochs``; the
        study's FT1 members trained 800, its step-0 and FT2 members 600)
    seed : master seed
    md_dtype, eval_dtype : model precision for MD and for committee evaluation
    device : torch device
    n_parallel : committee members trained at the same time
    threads : OMP threads per training process (None: inherit)
    """

    temperatures_K: tuple = (300.0, 400.0, 500.0, 600.0)
    step0_bulk_temperatures_K: tuple | None = None
    step0_interstitial_temperatures_K: tuple | None = None
    step0_stratified: bool = False
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
    final_max_num_epochs: int | None = None
    seed: int = 0
    md_dtype: str = "float32"
    eval_dtype: str = "float32"
    device: str = "cpu"
    n_parallel: int = 1
    threads: int | None = None

    def __post_init__(self):
        for k in ("temperatures_K", "band_fractions", "band_edges_sigma", "loss_weights"):
            object.__setattr__(self, k, tuple(float(x) for x in getattr(self, k)))
        for k in ("step0_bulk_temperatures_K", "step0_interstitial_temperatures_K"):
            v = getattr(self, k)
            if v is not None:
                if not v or any(float(x) <= 0 for x in v):
                    raise ParameterError(f"{k} must be a non-empty list of positive "
                                         f"temperatures in K (or null), got {v!r}")
                object.__setattr__(self, k, tuple(float(x) for x in v))
        if self.selection not in ("bands", "trust"):
            raise ValueError(f"selection must be 'bands' or 'trust', got {self.selection!r}")
        if self.committee_size < 2:
            raise ValueError("a committee needs at least 2 models")
        if len(self.band_fractions) != len(self.band_edges_sigma):
            raise ValueError("one band fraction per band edge")
        allocate_quotas(1, self.band_fractions)  # validates the fractions
        if not self.temperatures_K:
            raise ValueError("at least one exploration temperature")
        if self.e0s not in ("auto", "study", "foundation", "fit"):
            raise ValueError(f"e0s must be auto, study, foundation or fit, got {self.e0s!r}")

    @classmethod
    def from_params(cls, params: Mapping[str, Any], **overrides) -> "ALConfig":
        """Settings from a notebook's parameters: every key named like a field is taken
        (a ``selection`` list gives its first committee method, else ``bands``);
        ``train_dtype`` becomes mace's ``default_dtype``; ``overrides`` win."""
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in params.items() if k in names and v is not None}
        if isinstance(kw.get("selection"), (list, tuple)):
            kw["selection"] = next((m for m in kw["selection"] if m != "extrapolation"), "bands")
        if params.get("train_dtype"):
            kw["train_extra"] = {**dict(kw.get("train_extra") or {}),
                                 "default_dtype": params["train_dtype"]}
        kw.update(overrides)
        return cls(**kw)

    def step0_temperatures(self, kind: str) -> tuple:
        """Step-0 exploration temperatures of ``kind`` (K)."""
        got = getattr(self, f"step0_{kind}_temperatures_K")
        return self.temperatures_K if got is None else got

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


def _config_guard(workdir: Path, cfg: ALConfig, foundation_sha: str, labeller: str,
                  extra: Mapping[str, Any] | None = None) -> None:
    """Refuse a cache folder made with other settings (``extra``: a loop's own ones)."""
    body = {"config": {**cfg.to_dict(), **dict(extra or {})},
            "foundation_sha256": foundation_sha, "labeller": labeller}
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
    from lidiff_helpers.training.labelling import label_sources

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    fspec = models.resolve_spec(foundation)
    ident = models.model_identity(fspec)
    _config_guard(workdir, cfg, ident["sha256"], str(labeller.source))
    if cfg.e0s == "auto":
        cfg = dataclasses.replace(cfg, e0s=resolve_e0s(cfg.e0s, labeller, ident["sha256"]))
        print(f"[active_learning] e0s=auto -> {cfg.e0s} (labels from {labeller.source})")
    train, valid, rec0 = _step0(cfg, str(fspec.path), ident["name"], labeller,
                                workdir / "step_0", progress)
    records, deviations = [rec0], []
    committee_models: list[Path] = []
    last_cands: list = []
    stop = False
    for r in range(1, int(cfg.n_rounds) + 1):
        rnd = _round(cfg, r, str(fspec.path), labeller, workdir / f"round_{r:02d}", train,
                     valid, descriptor_calc, progress)
        train, valid, committee_models, last_cands = (rnd["train"], rnd["valid"],
                                                      rnd["models"], rnd["candidates"])
        records.append(rnd["record"])
        deviations.append(rnd["entry"])
        stop = rnd["record"]["converged"]
        if stop:
            break
    final_models = list(committee_models)
    if cfg.train_final and not stop:
        final_models, rec = _final_committee(cfg, str(fspec.path), workdir, train, valid,
                                             last_cands, len(records), progress)
        records.append(rec)
    return ALResult(records, train, valid, [Path(p) for p in final_models], deviations,
                    label_sources(train + valid), workdir)


def _train_round_committee(cfg: ALConfig, foundation_path: str, train, valid, folder: Path,
                           progress: bool) -> list[Path]:
    return train_committee(
        train, valid, foundation_path, folder, seeds=cfg.seeds,
        max_num_epochs=cfg.max_num_epochs, patience=cfg.patience,
        loss_weights=cfg.loss_weights, e0s=cfg.e0s, extra=cfg.train_extra,
        device=cfg.device, n_parallel=cfg.n_parallel, threads=cfg.threads, progress=progress)


def _explore(cfg: ALConfig, model_path: str, folder: Path, seed: int, progress: bool,
             temperatures_K: Sequence[float] | None = None,
             kinds: Sequence[str] = ("bulk", "interstitial")) -> list:
    """:func:`explore` with the loop's MD settings (temperatures: ``cfg.temperatures_K``)."""
    temps = cfg.temperatures_K if temperatures_K is None else temperatures_K
    return explore(model_path, folder, temps, kinds=kinds, n_cells=cfg.n_cells,
                   production_ps=cfg.explore_ps, equilibration_ps=cfg.equilibration_ps,
                   save_every=cfg.save_every, timestep_fs=cfg.timestep_fs, seed=seed,
                   dtype=cfg.md_dtype, device=cfg.device, progress=progress)


def _step0(cfg: ALConfig, foundation_path: str, foundation_name: str, labeller, s0: Path,
           progress: bool) -> tuple[list, list, dict]:
    """Step 0: frames of foundation-model MD, drawn per kind, labelled (cached in ``s0``)."""
    s0.mkdir(exist_ok=True)
    t0 = time.time()
    if not (s0 / "train.xyz").is_file():
        rng = np.random.default_rng([cfg.seed, 0])
        tr, va = [], []
        for kind, n in (("bulk", cfg.step0_bulk), ("interstitial", cfg.step0_interstitial)):
            temps = cfg.step0_temperatures(kind)
            cands = _explore(cfg, foundation_path, s0 / "md", cfg.seed, progress,
                             temperatures_K=temps, kinds=(kind,))
            groups = ([[a for a in cands if a.info["temperature_K"] == T] for T in temps]
                      if cfg.step0_stratified else [cands])
            quotas = allocate_quotas(n, [1.0 / len(groups)] * len(groups))
            for pool, n_g in zip(groups, quotas):
                t_g, v_g = _draw(pool, n_g, cfg.valid_ratio, rng, f"{s0}: step 0, {kind}")
                tr += t_g
                va += v_g
        tr = labeller.label(tr)
        va = labeller.label(va)
        for at in tr + va:
            at.info["al_step"] = 0
        _write_xyz(va, s0 / "valid.xyz")
        _write_xyz(tr, s0 / "train.xyz")
    train = _read_xyz(s0 / "train.xyz")
    valid = _read_xyz(s0 / "valid.xyz")
    record = {"step": "step 0", "round": 0, "explored_with": foundation_name,
              "added_bulk": _counts(train, "kind").get("bulk", 0),
              "added_interstitial": _counts(train, "kind").get("interstitial", 0),
              "added_valid": len(valid),
              "added_by_temperature": json.dumps(_counts(train, "temperature_K")),
              "n_train": len(train), "n_valid": len(valid), "converged": False,
              "wall_s": round(time.time() - t0, 1)}
    return train, valid, record


def _draw(pool: list, n: int, valid_ratio: float, rng, what: str) -> tuple[list, list]:
    """``n`` training and ``round(valid_ratio * n)`` validation frames drawn from ``pool``
    without replacement, each in the pool's order."""
    n_va = int(round(valid_ratio * n))
    if n + n_va > len(pool):
        raise ValueError(f"{what}: needs {n} + {n_va} frames but the foundation-model MD "
                         f"gave {len(pool)}; lengthen explore_ps or lower save_every")
    pick = rng.choice(len(pool), size=n + n_va, replace=False)
    return [pool[i] for i in sorted(pick[:n])], [pool[i] for i in sorted(pick[n:])]


def _deviation_record(dev: ForceDeviation, kinds: np.ndarray) -> dict[str, Any]:
    rec: dict[str, Any] = {}
    for kind in ("bulk", "interstitial"):
        rec.update(deviation_stats(dev.max_eV_A[kinds == kind], f"{kind}_maxdev"))
        rec.update(deviation_stats(dev.mean_eV_A[kinds == kind], f"{kind}_meandev"))
    rec["mean_maxdev_eV_A"] = float(dev.max_eV_A.mean()) if len(dev) else float("nan")
    return rec


def _round(cfg: ALConfig, r: int, foundation_path: str, labeller, rd: Path, train: list,
           valid: list, descriptor_calc, progress: bool) -> dict[str, Any]:
    """One round: train a committee, explore with member 1, Eq. 4, select, label, add."""
    t0 = time.time()
    rd.mkdir(exist_ok=True)
    committee_models = _train_round_committee(cfg, foundation_path, train, valid,
                                              rd / "committee", progress)
    cands = _explore(cfg, str(committee_models[0]), rd / "md", cfg.seed + r, progress)
    dev = cached_deviation(committee_models, cands, rd / "deviation.npz", device=cfg.device,
                           dtype=cfg.eval_dtype, progress=progress)  # Eq. 4
    kinds = np.array([a.info["kind"] for a in cands])
    temps = np.array([a.info["temperature_K"] for a in cands])
    rec: dict[str, Any] = {"step": f"round {r}", "round": r,
                           "explored_with": committee_models[0].stem,
                           **_deviation_record(dev, kinds)}
    stop = bool(len(dev)) and rec["mean_maxdev_eV_A"] < cfg.stop_deviation_eV_A
    entry = {"round": r, "max_eV_A": dev.max_eV_A, "kind": kinds,
             "temperature_K": temps, "selected": np.zeros(0, int), "selection": {}}
    if stop:
        rec.update(added_bulk=0, added_interstitial=0, added_valid=0,
                   added_by_temperature="{}", converged=True)
    else:
        add_tr, add_va, report = _selected_frames(cfg, r, rd, cands, dev, labeller,
                                                  descriptor_calc, progress)
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
    return {"train": train, "valid": valid, "models": committee_models, "candidates": cands,
            "record": rec, "entry": entry}


def _selected_frames(cfg: ALConfig, r: int, rd: Path, cands: list, dev: ForceDeviation,
                     labeller, descriptor_calc, progress: bool) -> tuple[list, list, dict]:
    """The round's selected and labelled frames (cached in ``rd``) and the selection report."""
    selfile = rd / "selection.json"
    if (rd / "train_added.xyz").is_file() and selfile.is_file():
        add_va = _read_xyz(rd / "valid_added.xyz") if (rd / "valid_added.xyz").is_file() \
            else []
        return _read_xyz(rd / "train_added.xyz"), add_va, json.loads(selfile.read_text())
    desc = None
    if cfg.diverse:
        if descriptor_calc is None:
            raise ValueError("diverse selection needs descriptor_calc (a MACE "
                             "calculator, e.g. the foundation model)")
        from lidiff_helpers.training.selection import frame_descriptors

        desc = frame_descriptors(cands, descriptor_calc, progress=progress)
    sel_tr, sel_va, report = _select_round(cfg, cands, dev, int(cfg.seed * 1000 + r), desc)
    add_tr = labeller.label(sel_tr)
    add_va = labeller.label(sel_va)
    for at in add_tr + add_va:
        at.info["al_step"] = r
    selfile.write_text(json.dumps(report, indent=1))
    if add_va:
        _write_xyz(add_va, rd / "valid_added.xyz")
    _write_xyz(add_tr, rd / "train_added.xyz")
    return _selected_frames(cfg, r, rd, cands, dev, labeller, descriptor_calc, progress)


def _final_committee(cfg: ALConfig, foundation_path: str, workdir: Path, train: list,
                     valid: list, last_cands: list, n_records: int,
                     progress: bool) -> tuple[list, dict]:
    """A committee trained on the final dataset, evaluated on the last round's frames."""
    from lidiff_helpers.simulation import models

    t0 = time.time()
    final_cfg = cfg if cfg.final_max_num_epochs is None else dataclasses.replace(
        cfg, max_num_epochs=int(cfg.final_max_num_epochs))
    final_models = _train_round_committee(final_cfg, foundation_path, train, valid,
                                          workdir / "final" / "committee", progress)
    rec: dict[str, Any] = {"step": "final", "round": n_records, "explored_with": "-"}
    if last_cands:
        com = models.get_committee([str(p) for p in final_models], device=cfg.device,
                                   dtype=cfg.eval_dtype)
        dev = committee_deviation(com, last_cands, progress=progress)
        rec.update(_deviation_record(dev, np.array([a.info["kind"] for a in last_cands])))
        rec["note"] = "final committee evaluated on the last round's explored frames"
    rec.update(added_bulk=0, added_interstitial=0, added_valid=0,
               added_by_temperature="{}", n_train=len(train), n_valid=len(valid),
               converged=False, wall_s=round(time.time() - t0, 1))
    return final_models, rec


