r"""Diffusion coefficients from mean squared displacements (the study's Eq. 2).

Einstein relation
-----------------
The study (Alghamdi et al., J. Phys. Energy 2026, Eq. 2) obtains D from the long-time
slope of the mean squared displacement in three dimensions,

.. math::  \mathrm{MSD}(t) = \langle |\mathbf r(t_0 + t) - \mathbf r(t_0)|^2 \rangle
           \;\to\; 6 D t ,

averaged here over **all** time origins :math:`t_0` with the FFT algorithm
(Calandrini et al., Collection SFN 12, 201 (2011); the same as MDAnalysis
``EinsteinMSD(fft=True)`` and kinisi): :math:`\mathrm{MSD}(m) = S_1(m) - 2 S_2(m)` with
:math:`S_2` the position autocorrelation from one zero-padded FFT and :math:`S_1` from
cumulative sums, :math:`O(n \log n)` in the number of frames (:mod:`lidiff_helpers.analysis.msd`,
re-exported here). Atoms are streamed in chunks, so a paper-scale trajectory (1001 atoms x
90 000 frames, float32 ``numpy.memmap`` from :mod:`lidiff_helpers.io.trajectory`) is never
held in memory at once. Inputs are read by :func:`lidiff_helpers.io.loading.load_trajectory`
(re-exported here).

Units: positions in A, times in ps, so slopes come out in A^2/ps;
1 A^2/ps = 1e-16 cm^2 / 1e-12 s = 1e-4 cm^2/s (:data:`CM2_S_PER_A2_PS`, from
:mod:`lidiff_helpers.core.units`). The factor 6
is the dimension (2 x 3) and is written out, never folded into a conversion constant.

**Coordinates must be unwrapped** (LAMMPS ``xu yu zu``; the compendium's trajectory
format always is). Wrapped coordinates make atoms jump by a box length when they cross
a face and give a meaningless MSD; :func:`check_unwrapped`
(:mod:`lidiff_helpers.analysis.frames`) detects this (a jump of more
than half the cell width between consecutive frames) and every analysis here refuses such
data with :class:`WrappedTrajectoryError`.

Conventions for one interstitial among N_Li lithium atoms
---------------------------------------------------------
In the study's cell (500 Li + 500 F + **one** extra Li), only the defect moves: nearly all
Li sit on their lattice sites for the whole run. With :math:`\Delta\mathbf r_i(t)` the
displacement of Li atom *i* over a lag *t*:

``"defect"`` (default)
    :math:`D_\mathrm{defect} = \sum_i \langle|\Delta\mathbf r_i|^2\rangle / 6t`
    = :math:`N_\mathrm{Li} D_\mathrm{tracer}`: the Li displacement carried by the one
    defect, independent of how many spectator Li the cell holds. This is the magnitude of
    the study's Table 3 (DeePMD: D(450 K) = 6.8e-6 cm^2/s = 0.068 A^2/ps). A knock-off
    moves two Li by a*sqrt(3)/4 = 1.77 A each in the study's cell (sum of squares
    6.25 A^2), so this is one event every ~15 ps. Were 6.8e-6 cm^2/s the per-atom
    average instead, the defect would need 501 times more, one event every ~0.03 ps,
    faster than a Li vibration period (~0.1-0.2 ps): impossible for an activated hop
    (notebook 05 shows the numbers).
``"tracer"``
    :math:`D^* = \frac{1}{N_\mathrm{Li}} \sum_i \langle|\Delta\mathbf r_i|^2\rangle / 6t`,
    the per-atom (self) diffusion coefficient of Li at this defect concentration
    (1/501); what LAMMPS ``compute msd`` on the Li group reports.
``"collective"``
    :math:`D_\sigma = \langle|\sum_i \Delta\mathbf r_i|^2\rangle / 6t` (charge, centre-of-
    mass-of-Li diffusion, here *not* divided by N so that it is on the defect's scale);
    for a single defect it is the diffusion coefficient of the defect itself.

Haven ratio :math:`H_R = D_\mathrm{defect} / D_\sigma` (= :math:`D^*/(D_\sigma/N)`, the
usual definition). Independent random walkers give 1; a correlated interstitialcy
(knock-off) mechanism gives H_R < 1.

Drift: with Nose-Hoover NVT the total momentum is conserved, so each Li hop moves the rest
of the crystal by :math:`-m_\mathrm{Li}\Delta r / M`. Summed over 501 Li this reduces
:math:`|\sum_i\Delta\mathbf r_i|^2` by ~(1 - 0.27)^2 in LiF. By default displacements are
measured relative to the mean displacement of the framework (all atoms not of the
analysed species, i.e. F), which removes this; without framework atoms nothing is removed.

Fit window and uncertainties
----------------------------
MSD points at neighbouring lags are strongly correlated, so the ordinary-least-squares
standard error of the slope is far too small (pymatgen-analysis-diffusion issue 449); it
is reported as ``D_ols_err_cm2_s`` for contrast only. The stated error of one trajectory
is a block estimate: the run of duration T is cut into ``n_blocks`` contiguous,
non-overlapping blocks of duration T_b = T / n_blocks, the MSD of each block is fitted
over the *same* lag window as the whole run, and the error is the standard deviation of
the block values / sqrt(n_blocks). (With the same window in the whole run and in each
block, the whole-run fit uses every time origin of the blocks and a few more, so this
error is slightly conservative.)

Window rule (:func:`default_fit_window_ps`), in terms of the block duration: fit
MSD = 6 D t + c between ``t_start = max(min_start_ps, start_fraction * T_b)`` and
``t_end = end_fraction * T_b`` (defaults 1 ps, 0.1, 0.5; with 5 blocks: 2 % to 10 % of
the run). The start excludes the ballistic and vibrational-plateau regime (Li vibration
periods in LiF are ~0.1-0.2 ps) and the first correlated back-hops; the end keeps every
fitted lag inside one block and away from the noisy tail: the relative noise of a
time-origin-averaged MSD at lag t grows like sqrt(t / T), so long lags add noise, not
information. The window is a parameter of :func:`diffusion_coefficient`.

Across independent replicas :func:`combine_replicas` uses the spread of the replicas.

Bad input is refused before any work with an error naming the input and the problem:
NaN/inf positions (:class:`~lidiff_helpers.core.errors.TrajectoryError`, frame and atom),
a missing or non-positive frame interval (:class:`~lidiff_helpers.core.errors.
ParameterError`), fewer than :data:`MIN_FRAMES_PER_BLOCK` frames per block
(``TrajectoryError``), wrapped positions (``WrappedTrajectoryError``).

Notebook 05's orchestration of many runs lives in
:mod:`lidiff_helpers.workflows.arrhenius_analysis`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from lidiff_helpers.analysis.frames import (
    FrameScan,
    check_finite,
    check_unwrapped,
    framework_drift_A,
    scan_frames,
)
from lidiff_helpers.analysis.msd import MSDResult, msd, msd_direct
from lidiff_helpers.core.deprecation import deprecated_attribute, renamed_keyword
from lidiff_helpers.core.errors import ParameterError, TrajectoryError, WrappedTrajectoryError
from lidiff_helpers.core.units import CM2_S_PER_A2_PS, DIMENSIONS
from lidiff_helpers.io.loading import MANIFEST_KEYS, load_trajectory, read_manifest, species_number
from lidiff_helpers.io.trajectory import Trajectory, is_trajectory

__all__ = [
    "CM2_S_PER_A2_PS",
    "CONVENTIONS",
    "DIMENSIONS",
    "MANIFEST_KEYS",
    "MIN_FRAMES_PER_BLOCK",
    "DiffusionResult",
    "FrameScan",
    "MSDResult",
    "ReplicaAverage",
    "WrappedTrajectoryError",
    "check_unwrapped",
    "combine_replicas",
    "default_fit_window_ps",
    "diffusion_coefficient",
    "fit_msd_slope",
    "framework_drift_A",
    "load_trajectory",
    "msd",
    "msd_direct",
    "read_manifest",
    "scan_frames",
]

#: accepted values of ``convention``
CONVENTIONS = ("defect", "tracer", "collective")
#: fewest frames per block: a fit needs >= 3 lag points inside one block
MIN_FRAMES_PER_BLOCK = 4
#: the atomic number of a species (old private name, kept for callers)
_species_number = species_number


# --------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------

def default_fit_window_ps(duration_ps: float, *, n_blocks: int = 5, min_start_ps: float = 1.0,
                          start_fraction: float = 0.1, end_fraction: float = 0.5
                          ) -> tuple[float, float]:
    """The fit-window rule, in ps, for a run of ``duration_ps`` cut into ``n_blocks`` blocks.

    With the block duration ``T_b = duration_ps / n_blocks``: ``(max(min_start_ps,
    start_fraction * T_b), end_fraction * T_b)``. See the module docstring for why.

    Raises
    ------
    ParameterError
        if the run is too short for the rule (start >= end).
    """
    tb = duration_ps / n_blocks
    t0 = max(float(min_start_ps), start_fraction * tb)
    t1 = end_fraction * tb
    if not t1 > t0:
        raise ParameterError(f"run of {duration_ps:g} ps ({n_blocks} blocks of {tb:g} ps) is too "
                         f"short for the fit-window rule (start {t0:g} ps >= end {t1:g} ps); "
                         "pass fit_window_ps, fewer n_blocks or a smaller min_start_ps")
    return (t0, t1)


def fit_msd_slope(lag_ps: np.ndarray, msd_A2: np.ndarray, window_ps: tuple[float, float]
                  ) -> tuple[float, float, float]:
    """OLS fit ``MSD = slope * t + c`` over ``window_ps``.

    Returns
    -------
    slope_A2_ps, intercept_A2, slope_ols_err_A2_ps
        the OLS standard error treats MSD points as independent, which they are not (it
        underestimates the real uncertainty; see the module docstring).
    """
    sel = (lag_ps >= window_ps[0]) & (lag_ps <= window_ps[1])
    if sel.sum() < 3:
        raise ParameterError(f"fit window {window_ps} ps holds {int(sel.sum())} lag points; "
                         "need >= 3 (longer run or wider window)")
    t, y = lag_ps[sel], msd_A2[sel]
    tm = t.mean()
    sxx = ((t - tm) ** 2).sum()
    slope = float(((t - tm) * (y - y.mean())).sum() / sxx)
    icpt = float(y.mean() - slope * tm)
    resid = y - (slope * t + icpt)
    err = float(math.sqrt((resid ** 2).sum() / max(1, t.size - 2) / sxx))
    return slope, icpt, err


def _D_cm2_s(slope_A2_ps: float) -> float:
    """Einstein relation MSD = 2 d D t with d = 3, converted to cm^2/s."""
    return slope_A2_ps / (2 * DIMENSIONS) * CM2_S_PER_A2_PS



# --------------------------------------------------------------------------------------
# Diffusion coefficient
# --------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class DiffusionResult:
    """Diffusion coefficient of one trajectory, in every convention, with uncertainties.

    Attributes
    ----------
    D_cm2_s, D_err_cm2_s : D in the chosen ``convention`` and its block-estimate error
    convention : ``"defect"``, ``"tracer"`` or ``"collective"`` (module docstring)
    fit_window_ps : (start, end) of the MSD fit, ps
    lag_ps, msd_A2 : the MSD curve of the chosen convention (A^2) at lags (ps)
    D_defect_cm2_s, D_tracer_cm2_s, D_collective_cm2_s : all three conventions
    D_defect_err_cm2_s, D_tracer_err_cm2_s, D_collective_err_cm2_s : their block errors
    fit_intercept_A2 : intercept c of the fit MSD = 6 D t + c, chosen convention, A^2
    haven_ratio, haven_ratio_err : D_defect / D_collective and its propagated error
    D_ols_err_cm2_s : naive OLS error of the chosen convention (too small; for contrast)
    block_D_cm2_s : (n_blocks,) D of each block, chosen convention
    msd_sum_A2, msd_collective_A2 : sum-over-atoms and collective MSD curves (A^2)
    n_atoms : number of atoms of ``species``
    n_frames, frame_interval_ps, duration_ps : the analysed frames (frame interval in ps)
    species : analysed element
    drift_removed : whether the framework drift was subtracted
    info : the trajectory's metadata (model, temperature_K, ...)
    """

    D_cm2_s: float
    D_err_cm2_s: float
    convention: str
    fit_window_ps: tuple
    lag_ps: np.ndarray
    msd_A2: np.ndarray
    D_defect_cm2_s: float
    D_defect_err_cm2_s: float
    D_tracer_cm2_s: float
    D_tracer_err_cm2_s: float
    D_collective_cm2_s: float
    D_collective_err_cm2_s: float
    fit_intercept_A2: float
    haven_ratio: float
    haven_ratio_err: float
    D_ols_err_cm2_s: float
    block_D_cm2_s: np.ndarray
    msd_sum_A2: np.ndarray
    msd_collective_A2: np.ndarray
    n_atoms: int
    n_frames: int
    frame_interval_ps: float
    duration_ps: float
    species: str
    drift_removed: bool
    info: dict = field(default_factory=dict)

    timestep_ps = deprecated_attribute("timestep_ps", "frame_interval_ps")

    def msd_for(self, convention: str) -> np.ndarray:
        """MSD curve (A^2) whose slope / 6 is D in ``convention``."""
        return {"defect": self.msd_sum_A2, "tracer": self.msd_sum_A2 / self.n_atoms,
                "collective": self.msd_collective_A2}[_check_convention(convention)]

    def as_row(self) -> dict:
        """Scalars as a flat dict (units in the keys) for a pandas table."""
        return {"convention": self.convention, "D_cm2_s": self.D_cm2_s,
                "D_err_cm2_s": self.D_err_cm2_s,
                "D_defect_cm2_s": self.D_defect_cm2_s,
                "D_defect_err_cm2_s": self.D_defect_err_cm2_s,
                "D_tracer_cm2_s": self.D_tracer_cm2_s,
                "D_tracer_err_cm2_s": self.D_tracer_err_cm2_s,
                "D_collective_cm2_s": self.D_collective_cm2_s,
                "D_collective_err_cm2_s": self.D_collective_err_cm2_s,
                "haven_ratio": self.haven_ratio, "haven_ratio_err": self.haven_ratio_err,
                "D_ols_err_cm2_s": self.D_ols_err_cm2_s,
                "fit_start_ps": self.fit_window_ps[0], "fit_end_ps": self.fit_window_ps[1],
                "n_atoms": self.n_atoms, "n_frames": self.n_frames,
                "duration_ps": self.duration_ps}


def _check_convention(convention: str) -> str:
    if convention not in CONVENTIONS:
        raise ParameterError(f"unknown convention {convention!r}; choose one of {CONVENTIONS}")
    return convention


def _three_D(res: MSDResult, window) -> tuple[dict, float]:
    s_sum, _, e_sum = fit_msd_slope(res.lag_ps, res.msd_sum_A2, window)
    s_col, _, e_col = fit_msd_slope(res.lag_ps, res.msd_collective_A2, window)
    D = {"defect": _D_cm2_s(s_sum), "tracer": _D_cm2_s(s_sum) / res.n_atoms,
         "collective": _D_cm2_s(s_col)}
    ols = {"defect": _D_cm2_s(e_sum), "tracer": _D_cm2_s(e_sum) / res.n_atoms,
           "collective": _D_cm2_s(e_col)}
    return D, ols


@dataclass(frozen=True, eq=False)
class _Prepared:
    """A validated trajectory ready for the MSD: frames, atoms, drift."""

    positions_A: np.ndarray
    frame_interval_ps: float
    atoms: np.ndarray
    species: str
    drift_A: np.ndarray | None
    info: dict


def _where(trajectory, traj: Trajectory) -> str:
    if traj.path is not None:
        return str(traj.path)
    return "the positions array" if isinstance(trajectory, np.ndarray) else "the trajectory"


def _select_atoms(numbers: np.ndarray, species, where: str) -> tuple[np.ndarray, str]:
    if species is None or not numbers.any():
        return np.arange(numbers.size), "all"
    sel = np.flatnonzero(numbers == species_number(species))
    if sel.size == 0:
        raise ParameterError(f"{where}: no {species} atoms in the trajectory (numbers: "
                             f"{sorted(set(numbers.tolist()))})")
    return sel, str(species)


def _prepare(trajectory, *, species, remove_drift: bool, n_blocks: int, frame_stride: int,
             load_kw: dict) -> _Prepared:
    """Load, validate (interval, frame count, finiteness, unwrapping), select, drift."""
    if n_blocks < 2:
        raise ParameterError(f"n_blocks must be >= 2 for an error estimate, got {n_blocks}")
    if int(frame_stride) < 1:
        raise ParameterError(f"frame_stride must be >= 1, got {frame_stride}")
    traj = load_trajectory(trajectory, **load_kw)
    where = _where(trajectory, traj)
    if not traj.unwrapped and traj.path is not None and is_trajectory(traj.path):
        raise WrappedTrajectoryError(f"{traj.path}: meta.json says the positions are not "
                                     "unwrapped; refusing to compute an MSD")
    dt = float(traj.frame_interval_ps) * frame_stride
    if not (np.isfinite(dt) and dt > 0):
        raise TrajectoryError(f"{where}: frame interval {traj.frame_interval_ps!r} ps; it must "
                              "be a positive time")
    pos = traj.positions_A[::frame_stride] if frame_stride > 1 else traj.positions_A
    need = MIN_FRAMES_PER_BLOCK * n_blocks
    if pos.shape[0] < need:
        raise TrajectoryError(f"{where}: {pos.shape[0]} frames (frame_stride {frame_stride}), "
                              f"too few for an MSD fit with n_blocks = {n_blocks} (need >= "
                              f"{need}: {MIN_FRAMES_PER_BLOCK} per block); a longer run or "
                              "fewer n_blocks")
    sel, sp = _select_atoms(np.asarray(traj.numbers), species, where)
    framework = np.setdiff1d(np.arange(pos.shape[1]), sel) if remove_drift else None
    scan = scan_frames(pos, framework if framework is not None and framework.size else None)
    check_finite(scan, where)
    check_unwrapped(pos, traj.cell_A if np.any(traj.cell_A) else None, scan=scan)
    return _Prepared(positions_A=pos, frame_interval_ps=dt, atoms=sel, species=sp,
                     drift_A=scan.drift_A, info=dict(traj.info))


def _window(fit_window_ps, duration_ps: float, block_duration_ps: float, n_blocks: int,
            rule: dict) -> tuple[float, float]:
    if fit_window_ps is None:
        return default_fit_window_ps(duration_ps, n_blocks=n_blocks, **rule)
    window = (float(fit_window_ps[0]), float(fit_window_ps[1]))
    if not 0 <= window[0] < window[1] <= block_duration_ps:
        raise ParameterError(f"fit window {window} ps must lie inside one of the {n_blocks} "
                             f"blocks (0 <= start < end <= {block_duration_ps:g} ps) so that "
                             "the block error is on the same window; shorten it or use fewer "
                             "n_blocks")
    return window


def _block_D(p: _Prepared, n_blocks: int, window, chunk_atoms) -> dict[str, list[float]]:
    """D of every convention in each of ``n_blocks`` contiguous blocks (same window)."""
    nb = p.positions_A.shape[0] // n_blocks
    max_lag = int(window[1] / p.frame_interval_ps) + 1
    blocks = {c: [] for c in CONVENTIONS}
    for b in range(n_blocks):
        bres = msd(p.positions_A, p.frame_interval_ps, atoms=p.atoms,
                   frames=(b * nb, (b + 1) * nb), drift_A=p.drift_A, collective=True,
                   max_lag=max_lag, chunk_atoms=chunk_atoms)
        bD, _ = _three_D(bres, window)
        for c in CONVENTIONS:
            blocks[c].append(bD[c])
    return blocks


def _haven(D: dict, err: dict) -> tuple[float, float]:
    """Haven ratio D_defect / D_collective and its propagated error."""
    haven = D["defect"] / D["collective"] if D["collective"] > 0 else float("nan")
    rel = math.hypot(err["defect"] / D["defect"] if D["defect"] else 0.0,
                     err["collective"] / D["collective"] if D["collective"] else 0.0)
    return haven, abs(haven) * rel


@renamed_keyword("timestep_ps", "frame_interval_ps")
def diffusion_coefficient(trajectory, species: str | int | None = "Li",
                          convention: str = "defect",
                          fit_window_ps: tuple[float, float] | None = None, *,
                          frame_interval_ps: float | None = None, numbers=None, cell_A=None,
                          remove_drift: bool = True, n_blocks: int = 5, frame_stride: int = 1,
                          min_start_ps: float = 1.0, start_fraction: float = 0.1,
                          end_fraction: float = 0.5, chunk_atoms: int | None = None,
                          lammps_timestep_fs: float | None = None) -> DiffusionResult:
    """Diffusion coefficient of ``species`` from the MSD (Eq. 2 of the study).

    Parameters
    ----------
    trajectory
        positions array (n_frames, n_atoms, 3) in A with ``frame_interval_ps``; a
        :class:`~lidiff_helpers.io.trajectory.Trajectory` or the path of a trajectory
        directory; a LAMMPS text dump as the study wrote it (``dump ... custom 100
        dump.lammpstrj id type xu yu zu``, type 1 = Li) with ``lammps_timestep_fs``; or
        any file ASE reads (with ``frame_interval_ps``). See :func:`load_trajectory`.
    species : element analysed (symbol or atomic number). Ignored when no atomic numbers
        are known (a bare array without ``numbers``): then every atom is analysed.
    convention : ``"defect"`` (default), ``"tracer"`` or ``"collective"``; all three are
        computed and returned, this picks ``D_cm2_s``. See the module docstring.
    fit_window_ps : (start, end) of the linear fit in ps, applied to the whole run and to
        every block (so it must fit inside one block); default
        :func:`default_fit_window_ps` with ``n_blocks``, ``min_start_ps``,
        ``start_fraction``, ``end_fraction`` (fractions of the block duration).
    frame_interval_ps, numbers, cell_A : for array / ASE inputs (see
        :func:`load_trajectory`); ``frame_interval_ps`` was called ``timestep_ps``
        (deprecated keyword).
    remove_drift : measure displacements relative to the mean displacement of the
        framework (atoms not of ``species``), removing the momentum-conserving recoil.
    n_blocks : contiguous blocks for the error estimate (>= 2).
    frame_stride : analyse every ``frame_stride``-th frame.
    chunk_atoms : atoms per FFT chunk (default from a ~192 MB budget).
    lammps_timestep_fs : MD timestep of a LAMMPS dump, fs (required for dumps).

    Returns
    -------
    DiffusionResult

    Raises
    ------
    ParameterError
        for a bad convention, n_blocks, frame interval, species or fit window.
    TrajectoryError
        for NaN/inf positions (naming frame and atom) or too few frames.
    WrappedTrajectoryError
        if the positions are wrapped into the cell.
    """
    _check_convention(convention)
    p = _prepare(trajectory, species=species, remove_drift=remove_drift, n_blocks=n_blocks,
                 frame_stride=frame_stride,
                 load_kw={"frame_interval_ps": frame_interval_ps, "numbers": numbers,
                          "cell_A": cell_A, "lammps_timestep_fs": lammps_timestep_fs})
    dt = p.frame_interval_ps
    n = p.positions_A.shape[0]
    window = _window(fit_window_ps, (n - 1) * dt, (n // n_blocks - 1) * dt, n_blocks,
                     {"min_start_ps": min_start_ps, "start_fraction": start_fraction,
                      "end_fraction": end_fraction})
    full = msd(p.positions_A, dt, atoms=p.atoms, drift_A=p.drift_A, collective=True,
               chunk_atoms=chunk_atoms)
    D, ols = _three_D(full, window)
    blocks = _block_D(p, n_blocks, window, chunk_atoms)
    err = {c: float(np.std(blocks[c], ddof=1) / math.sqrt(n_blocks)) for c in CONVENTIONS}
    haven, haven_err = _haven(D, err)
    msd_curve = {"defect": full.msd_sum_A2, "tracer": full.msd_A2,
                 "collective": full.msd_collective_A2}[convention]
    _, intercept, _ = fit_msd_slope(full.lag_ps, msd_curve, window)
    return DiffusionResult(
        D_cm2_s=D[convention], D_err_cm2_s=err[convention], convention=convention,
        fit_window_ps=window, lag_ps=full.lag_ps, msd_A2=msd_curve,
        D_defect_cm2_s=D["defect"], D_defect_err_cm2_s=err["defect"],
        D_tracer_cm2_s=D["tracer"], D_tracer_err_cm2_s=err["tracer"],
        D_collective_cm2_s=D["collective"], D_collective_err_cm2_s=err["collective"],
        fit_intercept_A2=intercept, haven_ratio=haven, haven_ratio_err=haven_err,
        D_ols_err_cm2_s=ols[convention],
        block_D_cm2_s=np.asarray(blocks[convention]), msd_sum_A2=full.msd_sum_A2,
        msd_collective_A2=full.msd_collective_A2, n_atoms=int(p.atoms.size), n_frames=int(n),
        frame_interval_ps=float(dt), duration_ps=float((n - 1) * dt), species=p.species,
        drift_removed=p.drift_A is not None, info=p.info)


# --------------------------------------------------------------------------------------
# Replicas
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReplicaAverage:
    """D at one temperature from independent replicas.

    Attributes
    ----------
    D_cm2_s : mean of the replicas' D
    D_err_cm2_s : standard error: the larger of the between-replica standard error
        (std / sqrt(n), ddof=1; needs n >= 2) and the within-replica block errors
        combined (sqrt(sum err_i^2) / n)
    n_replicas : number of replicas
    D_replicas_cm2_s : each replica's D
    """

    D_cm2_s: float
    D_err_cm2_s: float
    n_replicas: int
    D_replicas_cm2_s: tuple


def combine_replicas(D_cm2_s: Sequence[float], D_err_cm2_s: Sequence[float] | None = None
                     ) -> ReplicaAverage:
    """Average independent replicas' D (cm^2/s) with a conservative standard error.

    Parameters
    ----------
    D_cm2_s : each replica's D (cm^2/s)
    D_err_cm2_s : each replica's own (block) error, cm^2/s; optional

    Returns
    -------
    ReplicaAverage
    """
    d = np.asarray(D_cm2_s, dtype=float)
    if d.size == 0:
        raise ParameterError("no replicas to combine")
    between = float(np.std(d, ddof=1) / math.sqrt(d.size)) if d.size >= 2 else 0.0
    within = 0.0
    if D_err_cm2_s is not None:
        e = np.asarray(D_err_cm2_s, dtype=float)
        within = float(math.sqrt(np.nansum(e ** 2)) / d.size)
    err = max(between, within) if (d.size >= 2 or D_err_cm2_s is not None) else float("nan")
    return ReplicaAverage(D_cm2_s=float(d.mean()), D_err_cm2_s=err, n_replicas=int(d.size),
                          D_replicas_cm2_s=tuple(float(x) for x in d))
