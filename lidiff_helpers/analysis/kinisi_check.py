r"""D cross-checked with kinisi: its Bayesian estimate beside lidiff's block-error D.

kinisi (McCluskey et al., JOSS 9, 5984 (2024); J. Chem. Theory Comput. 21, 1742 (2025),
doi:10.1021/acs.jctc.4c01249) fits the Einstein relation MSD = 6 D* t + c by Bayesian
regression with the covariance of the MSD at overlapping lags modelled from the data,
and samples the posterior of D* with emcee. Here it is run through its own API
(:meth:`kinisi.analyze.DiffusionAnalyzer.from_ase` on the frames as ASE ``Atoms``, then
``diffusion(start_dt, ...)``); nothing of its estimator is reimplemented.

Conventions
-----------
kinisi's MSD is the **per-atom** mean over the selected species (Li), drift-corrected
against the mean displacement of every other atom (F), so its D is the tracer (self)
coefficient :math:`D^*`: lidiff's ``"tracer"`` convention
(:mod:`lidiff_helpers.analysis.diffusion`, same drift correction). The study's
magnitude, lidiff's default ``"defect"`` convention, is the sum over Li of the MSD / 6t,
so :math:`D_\mathrm{defect} = N_\mathrm{Li} D^*` with :math:`N_\mathrm{Li}` the number of
Li atoms in the cell (33 in the quick 65-atom cell, 501 in the study's): every sample of
kinisi's posterior is multiplied by :math:`N_\mathrm{Li}`, so the interval maps too.

Estimate and interval: the posterior median of D* and its central 95 % credible interval
(2.5th and 97.5th percentiles, :data:`CREDIBLE_INTERVAL_PERCENTILES`), and the
posterior standard deviation. kinisi fits every lag from ``start_dt_ps`` to the end of the
run (its number of independent samples at lag t is N x T / t, which assumes the lags go
to the run length; a shorter range would inflate its variances), lidiff fits its window
(:func:`~lidiff_helpers.analysis.diffusion.default_fit_window_ps`). The lags handed to
kinisi are at most ``max_lags`` (default 200), evenly spaced from ``start_dt_ps`` to the run
length, so that kinisi's per-lag loops stay cheap on long runs.

Agreement (:func:`kinisi_table`): lidiff's interval D +- :data:`AGREEMENT_SIGMA` x its
block error (about 95 %) overlaps kinisi's 95 % credible interval, both in the defect
convention. The event-based D from hop counts
(:attr:`~lidiff_helpers.analysis.hops.HopAnalysis.D_event_sum_cm2_s`, sum over site
changes of |jump|^2 / 6T, comparable to the defect convention) is the third column when
hop analyses are given.

Reproducibility: kinisi seeds NumPy's global generator from ``random_state`` (emcee copies
that state), so ``seed`` fixes the numbers; the global state is restored afterwards.
Cost (one thread, measured): a 1 ps quick run (101 frames, 65 atoms) takes 0.9-1.3 s after
kinisi's ~1.1 s import, most of it the MCMC (``n_samples`` = 500, ``n_burn`` = 500, 32
walkers, thin 10: 1600 posterior samples); a 1000 ps synthetic run (4001 frames, 65 atoms)
~3 s.

Bad input stops before kinisi runs, naming the input and the problem: no atomic numbers
or no cell (kinisi needs both), too few frames or lags after ``start_dt_ps``, more
positions than :data:`MAX_KINISI_POSITIONS` at the requested ``frame_stride``, and every
check of :func:`~lidiff_helpers.analysis.diffusion.diffusion_coefficient` (non-finite or
wrapped positions, no atom of the species, bad frame interval).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lidiff_helpers.analysis.diffusion import (
    MIN_FRAMES_PER_BLOCK,
    DiffusionResult,
    _prepare,
    _where,
)
from lidiff_helpers.core.errors import InputError, ParameterError, TrajectoryError
from lidiff_helpers.io.loading import load_trajectory, species_number
from lidiff_helpers.io.trajectory import Trajectory

__all__ = [
    "AGREEMENT_SIGMA",
    "CREDIBLE_INTERVAL_PERCENTILES",
    "MAX_KINISI_POSITIONS",
    "MIN_KINISI_FRAMES",
    "MIN_KINISI_LAGS",
    "KinisiEstimate",
    "kinisi_diffusion",
    "kinisi_table",
]

#: central credible interval of kinisi's posterior reported, percentiles (95 %)
CREDIBLE_INTERVAL_PERCENTILES = (2.5, 97.5)
#: lidiff's interval for the agreement test: D +- this x block error (about 95 %)
AGREEMENT_SIGMA = 2.0
#: fewest frames for kinisi (the frame count lidiff's two-block check asks for)
MIN_KINISI_FRAMES = 2 * MIN_FRAMES_PER_BLOCK
#: fewest lags from ``start_dt_ps`` to the end of the run for a kinisi fit
MIN_KINISI_LAGS = 3
#: most frames x atoms handed to kinisi (its parser holds several float64 copies)
MAX_KINISI_POSITIONS = 10_000_000


@dataclass(frozen=True)
class KinisiEstimate:
    """kinisi's D of one trajectory, as the tracer D* and mapped to the defect convention.

    Attributes
    ----------
    D_star_cm2_s : posterior median of kinisi's tracer (per-atom) D*, cm^2/s
    D_star_ci_cm2_s : (low, high) central credible interval of D*
        (:data:`CREDIBLE_INTERVAL_PERCENTILES`, 95 %), cm^2/s
    D_star_std_cm2_s : posterior standard deviation of D*, cm^2/s
    n_atoms : number of atoms of ``species`` (N_Li)
    D_defect_cm2_s, D_defect_ci_cm2_s, D_defect_std_cm2_s : the same x ``n_atoms``
        (lidiff's ``"defect"`` convention), cm^2/s
    species : analysed element
    start_dt_ps, end_dt_ps : fitted lags (start of the diffusive regime, run length), ps
    n_lags : lags handed to kinisi
    frame_interval_ps : time between analysed frames, ps; frame_stride : frames skipped
    n_posterior_samples : posterior samples of D*
    seed : random seed of the MCMC
    kinisi_version : kinisi's ``__version__``
    """

    D_star_cm2_s: float
    D_star_ci_cm2_s: tuple
    D_star_std_cm2_s: float
    n_atoms: int
    D_defect_cm2_s: float
    D_defect_ci_cm2_s: tuple
    D_defect_std_cm2_s: float
    species: str
    start_dt_ps: float
    end_dt_ps: float
    n_lags: int
    frame_interval_ps: float
    frame_stride: int
    n_posterior_samples: int
    seed: int
    kinisi_version: str

    def as_row(self) -> dict:
        """Scalars as a flat dict (units in the keys) for a pandas table."""
        return {"kinisi_D_star_cm2_s": self.D_star_cm2_s,
                "kinisi_D_star_low_cm2_s": self.D_star_ci_cm2_s[0],
                "kinisi_D_star_high_cm2_s": self.D_star_ci_cm2_s[1],
                "n_atoms": self.n_atoms,
                "kinisi_D_defect_cm2_s": self.D_defect_cm2_s,
                "kinisi_D_defect_low_cm2_s": self.D_defect_ci_cm2_s[0],
                "kinisi_D_defect_high_cm2_s": self.D_defect_ci_cm2_s[1],
                "kinisi_D_defect_std_cm2_s": self.D_defect_std_cm2_s,
                "kinisi_start_dt_ps": self.start_dt_ps, "kinisi_n_lags": self.n_lags,
                "kinisi_frame_stride": self.frame_stride,
                "kinisi_version": self.kinisi_version}


# --------------------------------------------------------------------------------------
# Input checks (all before kinisi runs)
# --------------------------------------------------------------------------------------

def _stride(frame_stride, n_frames: int, n_atoms: int, where: str) -> int:
    """The frame stride: given (checked against the size limit) or the smallest that fits."""
    need = math.ceil(n_frames * n_atoms / MAX_KINISI_POSITIONS)
    if frame_stride is None:
        return max(1, need)
    s = int(frame_stride)
    if s < 1:
        raise ParameterError(f"frame_stride must be >= 1, got {frame_stride}")
    if math.ceil(n_frames / s) * n_atoms > MAX_KINISI_POSITIONS:
        raise ParameterError(f"{where}: {n_frames} frames x {n_atoms} atoms at frame_stride "
                             f"{s} exceed MAX_KINISI_POSITIONS = {MAX_KINISI_POSITIONS} for "
                             f"kinisi; use frame_stride >= {need} (or None for automatic)")
    return s


def _lags(n_frames: int, dt_ps: float, start_dt_ps: float, max_lags: int,
          where: str) -> np.ndarray:
    """Lag indices (frames) from ``start_dt_ps`` to the run length, at most ``max_lags``."""
    start = float(start_dt_ps)
    if not (np.isfinite(start) and start > 0):
        raise ParameterError(f"start_dt_ps must be a positive time in ps, got {start_dt_ps!r}")
    if int(max_lags) < MIN_KINISI_LAGS:
        raise ParameterError(f"max_lags must be >= {MIN_KINISI_LAGS}, got {max_lags}")
    k0, k1 = max(1, math.ceil(start / dt_ps - 1e-9)), n_frames - 1
    if k1 - k0 + 1 < MIN_KINISI_LAGS:
        raise TrajectoryError(f"{where}: {n_frames} frames of {dt_ps:g} ps leave "
                              f"{max(0, k1 - k0 + 1)} lag(s) from start_dt_ps = {start:g} ps to "
                              f"the end of the run ({k1 * dt_ps:g} ps); kinisi needs >= "
                              f"{MIN_KINISI_LAGS}: a longer run or an earlier start_dt_ps")
    return np.unique(np.round(np.linspace(k0, k1, min(int(max_lags), k1 - k0 + 1)))).astype(int)


def _checked_input(trajectory, species, frame_stride, load_kw: dict):
    """(prepared trajectory, loaded trajectory, stride): every lidiff check, and kinisi's."""
    traj = load_trajectory(trajectory, **load_kw)
    where = _where(trajectory, traj)
    if not np.asarray(traj.numbers).any():
        raise ParameterError(f"{where}: no atomic numbers; kinisi selects atoms by element, "
                             "pass numbers (atomic numbers, n_atoms)")
    cell = np.asarray(traj.cell_A, dtype=float)
    if cell.shape != (3, 3) or abs(np.linalg.det(cell)) < 1e-6:
        raise ParameterError(f"{where}: no cell (cell_A {cell.tolist()}); kinisi needs the "
                             "simulation cell in A, pass cell_A")
    n_total = int(traj.positions_A.shape[0])
    stride = _stride(frame_stride, n_total, int(traj.positions_A.shape[1]), where)
    if math.ceil(n_total / stride) < MIN_KINISI_FRAMES:
        raise TrajectoryError(f"{where}: {n_total} frames (frame_stride {stride}), too few "
                              f"for kinisi (need >= {MIN_KINISI_FRAMES})")
    p = _prepare(traj, species=species, remove_drift=True, n_blocks=2, frame_stride=stride,
                 load_kw={})
    return p, traj, stride


# --------------------------------------------------------------------------------------
# kinisi
# --------------------------------------------------------------------------------------

def _lag_times_ps(lags: np.ndarray, dt_ps: float) -> np.ndarray:
    """Lag times that kinisi maps back to exactly ``lags`` (it truncates t / dt to int)."""
    t = lags * dt_ps
    for _ in range(4):
        low = (t / dt_ps).astype(int) < lags
        if not low.any():
            break
        t[low] = np.nextafter(t[low], np.inf)
    return t


def _kinisi_samples(positions_A, traj, symbol: str, dt_ps: float, lags: np.ndarray,
                    seed: int, mcmc: dict) -> np.ndarray:
    """Posterior samples of D* (cm^2/s) from kinisi's DiffusionAnalyzer (seeded)."""
    import scipp as sc
    from ase import Atoms
    from kinisi.analyze import DiffusionAnalyzer

    numbers, cell = np.asarray(traj.numbers), np.asarray(traj.cell_A, dtype=float)
    frames = [Atoms(numbers=numbers, positions=np.asarray(x, dtype=float), cell=cell, pbc=True)
              for x in positions_A]
    dt = sc.array(dims=["time interval"], values=_lag_times_ps(lags, dt_ps), unit="ps")
    analyzer = DiffusionAnalyzer.from_ase(frames, specie=symbol,
                                          time_step=sc.scalar(float(dt_ps), unit="ps"),
                                          step_skip=sc.scalar(1.0), dt=dt, progress=False)
    state = np.random.get_state()  # kinisi seeds NumPy's global generator
    try:
        analyzer.diffusion(sc.scalar(float(lags[0] * dt_ps), unit="ps"), progress=False,
                           random_state=np.random.RandomState(int(seed)), **mcmc)
    finally:
        np.random.set_state(state)
    return np.asarray(sc.to_unit(analyzer.D, "cm^2/s").values, dtype=float)


def kinisi_diffusion(trajectory, species: str | int = "Li", *, start_dt_ps: float,
                     frame_interval_ps: float | None = None, numbers=None, cell_A=None,
                     frame_stride: int | None = None, max_lags: int = 200, seed: int = 0,
                     n_samples: int = 500, n_walkers: int = 32, n_burn: int = 500,
                     n_thin: int = 10, lammps_timestep_fs: float | None = None
                     ) -> KinisiEstimate:
    """kinisi's tracer D* of ``species`` and the same in lidiff's defect convention.

    Parameters
    ----------
    trajectory
        anything :func:`lidiff_helpers.io.loading.load_trajectory` reads: an unwrapped
        positions array (n_frames, n_atoms, 3) in A with ``frame_interval_ps``,
        ``numbers`` and ``cell_A``; a Trajectory or trajectory directory; a LAMMPS dump
        (with ``lammps_timestep_fs``).
    species : element whose D is estimated (symbol or atomic number); every other atom
        is the framework whose mean displacement is removed (as lidiff does).
    start_dt_ps : start of the diffusive regime, ps: kinisi fits lags from here to the
        end of the run (e.g. ``DiffusionResult.fit_window_ps[0]``).
    frame_interval_ps, numbers, cell_A, lammps_timestep_fs : see :func:`load_trajectory`.
    frame_stride : analyse every n-th frame; None: 1, or the smallest stride keeping
        frames x atoms <= :data:`MAX_KINISI_POSITIONS`.
    max_lags : most lags handed to kinisi (evenly spaced, start_dt_ps to the run length).
    seed : seed of kinisi's MCMC (same input and seed give the same numbers).
    n_samples, n_walkers, n_burn, n_thin : kinisi's MCMC settings (its defaults are
        1000, 32, 500, 10; half the samples give 1600 posterior samples in ~1 s on a quick
        run and the same median and interval; a shorter burn-in (250) did not: on a 1 ps
        run the upper end of the interval came out ~5x too high).

    Returns
    -------
    KinisiEstimate

    Raises
    ------
    ParameterError
        no atomic numbers, no cell, no atom of ``species``, a bad ``start_dt_ps``,
        ``frame_stride`` or ``max_lags``, or too many positions for kinisi.
    TrajectoryError
        non-finite positions, too few frames or too few lags after ``start_dt_ps``.
    WrappedTrajectoryError
        wrapped coordinates.
    """
    import kinisi
    from ase.data import chemical_symbols

    p, traj, stride = _checked_input(trajectory, species, frame_stride,
                                     {"frame_interval_ps": frame_interval_ps,
                                      "numbers": numbers, "cell_A": cell_A,
                                      "lammps_timestep_fs": lammps_timestep_fs})
    dt, n = p.frame_interval_ps, int(p.positions_A.shape[0])
    lags = _lags(n, dt, start_dt_ps, max_lags, _where(trajectory, traj))
    D = _kinisi_samples(p.positions_A, traj, chemical_symbols[species_number(species)], dt,
                        lags, seed, {"n_samples": int(n_samples), "n_walkers": int(n_walkers),
                                     "n_burn": int(n_burn), "n_thin": int(n_thin)})
    n_at = int(p.atoms.size)
    lo, hi = (float(x) for x in np.percentile(D, CREDIBLE_INTERVAL_PERCENTILES))
    med, std = float(np.median(D)), float(np.std(D, ddof=1))
    return KinisiEstimate(
        D_star_cm2_s=med, D_star_ci_cm2_s=(lo, hi), D_star_std_cm2_s=std, n_atoms=n_at,
        D_defect_cm2_s=n_at * med, D_defect_ci_cm2_s=(n_at * lo, n_at * hi),
        D_defect_std_cm2_s=n_at * std, species=p.species, start_dt_ps=float(lags[0] * dt),
        end_dt_ps=float(lags[-1] * dt), n_lags=int(lags.size), frame_interval_ps=float(dt),
        frame_stride=stride, n_posterior_samples=int(D.size), seed=int(seed),
        kinisi_version=str(kinisi.__version__))


# --------------------------------------------------------------------------------------
# Table
# --------------------------------------------------------------------------------------

def _lidiff_columns(res: DiffusionResult) -> dict:
    D, err = res.D_defect_cm2_s, res.D_defect_err_cm2_s
    return {"temperature_K": res.info.get("temperature_K"), "model": res.info.get("model"),
            "lidiff_D_defect_cm2_s": D, "lidiff_D_defect_err_cm2_s": err,
            "lidiff_low_cm2_s": D - AGREEMENT_SIGMA * err,
            "lidiff_high_cm2_s": D + AGREEMENT_SIGMA * err,
            "lidiff_fit_start_ps": res.fit_window_ps[0], "lidiff_fit_end_ps": res.fit_window_ps[1]}


def _event_columns(hop) -> dict:
    if hop is None:
        return {"D_event_sum_cm2_s": float("nan"), "D_event_sum_err_cm2_s": float("nan")}
    return {"D_event_sum_cm2_s": hop.D_event_sum_cm2_s,
            "D_event_sum_err_cm2_s": hop.D_event_sum_err_cm2_s}


def _kinisi_row(res: DiffusionResult, trajectory, seed: int, kinisi_kw: dict) -> dict:
    """kinisi on ``trajectory`` with lidiff's species, frame stride and fit start."""
    import time

    traj = load_trajectory(trajectory)
    lidiff_stride = max(1, round(res.frame_interval_ps / traj.frame_interval_ps))
    stride = max(lidiff_stride, _stride(None, traj.positions_A.shape[0],
                                        traj.positions_A.shape[1], ""))
    t0 = time.perf_counter()
    est = kinisi_diffusion(traj, res.species, start_dt_ps=res.fit_window_ps[0],
                           frame_stride=stride, seed=seed, **kinisi_kw)
    lo, hi = est.D_defect_ci_cm2_s
    lid = _lidiff_columns(res)
    agree = bool(lid["lidiff_low_cm2_s"] <= hi and lo <= lid["lidiff_high_cm2_s"])
    return {**est.as_row(), "agree": agree, "kinisi_wall_s": time.perf_counter() - t0}


def _label(trajectory) -> str:
    if isinstance(trajectory, Trajectory):
        return str(trajectory.path) if trajectory.path is not None else "in-memory trajectory"
    return str(trajectory)


def kinisi_table(results: Sequence[DiffusionResult], trajectories: Sequence, *,
                 hops: Sequence | None = None, seed: int = 0, **kinisi_kw):
    """lidiff's D (defect convention) beside kinisi's and the event-based D, one row a run.

    Parameters
    ----------
    results : lidiff's :class:`~lidiff_helpers.analysis.diffusion.DiffusionResult` of
        each run (any ``convention``: the defect columns are used)
    trajectories : the same runs as Trajectory objects or trajectory paths (what
        ``results`` were computed from); kinisi uses the result's species, fit start and
        frame stride (coarser only if the run exceeds :data:`MAX_KINISI_POSITIONS`)
    hops : optional :class:`~lidiff_helpers.analysis.hops.HopAnalysis` (or None) per run:
        the event-based D (``D_event_sum_cm2_s``, comparable to the defect convention)
    seed : kinisi's MCMC seed
    kinisi_kw : further arguments of :func:`kinisi_diffusion` (``max_lags``, MCMC sizes)

    Returns
    -------
    pandas.DataFrame
        per run: ``lidiff_D_defect_cm2_s`` +- ``lidiff_D_defect_err_cm2_s`` and the interval
        +- :data:`AGREEMENT_SIGMA` x err; kinisi's D* and its 95 % credible interval, the same
        x ``n_atoms`` (``kinisi_D_defect_*``); ``agree`` (the intervals overlap); the
        event-based D and its Poisson error; ``kinisi_error`` where kinisi could not run.
    """
    import pandas as pd

    hops = [None] * len(results) if hops is None else list(hops)
    if not len(results) == len(trajectories) == len(hops):
        raise ParameterError(f"{len(results)} results, {len(trajectories)} trajectories and "
                             f"{len(hops)} hop analyses: give one of each per run")
    rows = []
    for res, traj, hop in zip(results, trajectories, hops):
        row = {**_lidiff_columns(res), **_event_columns(hop)}
        try:
            row.update(_kinisi_row(res, traj, seed, kinisi_kw))
        except InputError:
            raise
        except (ValueError, RuntimeError, np.linalg.LinAlgError) as exc:
            row["kinisi_error"] = f"{type(exc).__name__}: {exc}"
        rows.append({**row, "trajectory": _label(traj)})
    return pd.DataFrame(rows)
