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
cumulative sums, :math:`O(n \log n)` in the number of frames. Atoms are streamed in
chunks, so a paper-scale trajectory (1001 atoms x 90 000 frames, float32 ``numpy.memmap``
from :mod:`lidiff_helpers.io.trajectory`) is never held in memory at once.

Units: positions in A, times in ps, so slopes come out in A^2/ps;
1 A^2/ps = 1e-16 cm^2 / 1e-12 s = 1e-4 cm^2/s (:data:`CM2_S_PER_A2_PS`). The factor 6
is the dimension (2 x 3) and is written out, never folded into a conversion constant.

**Coordinates must be unwrapped** (LAMMPS ``xu yu zu``; the compendium's trajectory
format always is). Wrapped coordinates make atoms jump by a box length when they cross
a face and give a meaningless MSD; :func:`check_unwrapped` detects this (a jump of more
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
    moves two Li by a*sqrt(3)/4 = 1.74 A each (sum of squares 6.1 A^2), so this is one
    event every ~15 ps. Were 6.8e-6 cm^2/s the per-atom average instead, the defect would
    need 501 times more, one event every ~0.03 ps, faster than a Li vibration period
    (~0.1-0.2 ps): impossible for an activated hop (notebook 05 shows the numbers).
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
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.fft

from lidiff_helpers.io.trajectory import Trajectory, is_trajectory, open_trajectory

__all__ = [
    "CM2_S_PER_A2_PS",
    "CONVENTIONS",
    "SOURCES",
    "DiffusionResult",
    "MSDResult",
    "ReplicaAverage",
    "RunAnalyses",
    "WrappedTrajectoryError",
    "analyse_runs",
    "check_unwrapped",
    "collect_runs",
    "combine_replicas",
    "convention_comparison",
    "default_fit_window_ps",
    "diffusion_coefficient",
    "fit_msd_slope",
    "framework_drift_A",
    "load_trajectory",
    "msd",
    "msd_direct",
    "read_manifest",
    "replica_table",
]

#: 1 A^2/ps in cm^2/s (1e-16 cm^2 per A^2, 1e-12 s per ps)
CM2_S_PER_A2_PS = 1e-16 / 1e-12
#: spatial dimension of the Einstein relation MSD = 2 d D t
DIMENSIONS = 3
#: accepted values of ``convention``
CONVENTIONS = ("defect", "tracer", "collective")

_WORK_BYTES = 192 * 2**20  # working-memory target of one atom chunk of the FFT MSD


class WrappedTrajectoryError(ValueError):
    """Positions are wrapped into the cell (atoms jump by a box length); refusing to analyse."""


# --------------------------------------------------------------------------------------
# MSD engine
# --------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class MSDResult:
    """Mean squared displacement averaged over all time origins.

    Attributes
    ----------
    lag_ps : (n_lags,) lag times in ps (0, dt, 2 dt, ...)
    msd_sum_A2 : (n_lags,) sum over the selected atoms of each atom's MSD, A^2
    n_atoms : number of atoms summed
    msd_collective_A2 : (n_lags,) MSD of the summed displacement |sum_i dr_i|^2, A^2
        (None unless requested)
    msd_per_atom_A2 : (n_lags, n_atoms) each atom's MSD, A^2 (None unless requested)
    n_frames : number of frames analysed (default: n_lags)
    """

    lag_ps: np.ndarray
    msd_sum_A2: np.ndarray
    n_atoms: int
    msd_collective_A2: np.ndarray | None = None
    msd_per_atom_A2: np.ndarray | None = None
    n_frames: int | None = None

    @property
    def msd_A2(self) -> np.ndarray:
        """Per-atom average MSD (A^2): ``msd_sum_A2 / n_atoms``."""
        return self.msd_sum_A2 / self.n_atoms

    @property
    def n_origins(self) -> np.ndarray:
        """Number of time origins averaged at each lag (n_frames - lag index)."""
        n = self.n_frames if self.n_frames is not None else len(self.lag_ps)
        return n - np.arange(len(self.lag_ps))


def _s1_sum(sq: np.ndarray, n_lags: int) -> np.ndarray:
    """S1(m) = sum_{k<n-m} (|x(k)|^2 + |x(k+m)|^2) / (n - m), from |x(k)|^2 (frames first)."""
    n = sq.shape[0]
    c = np.zeros((n + 1,) + sq.shape[1:])
    np.cumsum(sq, axis=0, out=c[1:])
    m = np.arange(n_lags)
    shape = (-1,) + (1,) * (sq.ndim - 1)
    return (c[n - m] + c[n] - c[m]) / (n - m).reshape(shape)


def _fft_len(n: int) -> int:
    return scipy.fft.next_fast_len(2 * n, real=True)


def _workers() -> int:
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "") or len(os.sched_getaffinity(0))))
    except (AttributeError, ValueError):
        return 1


def _read_block(positions_A, f0: int, f1: int, idx: np.ndarray) -> np.ndarray:
    """positions[f0:f1, idx, :] as float64 (contiguous index ranges read as slices)."""
    sel = _index_or_slice(idx)
    blk = positions_A[f0:f1][:, sel, :]
    return np.array(blk, dtype=np.float64)


def msd(positions_A, timestep_ps: float, *, atoms: Sequence[int] | np.ndarray | None = None,
        frames: tuple[int, int] | None = None, drift_A: np.ndarray | None = None,
        collective: bool = False, per_atom: bool = False, max_lag: int | None = None,
        chunk_atoms: int | None = None, workers: int | None = None) -> MSDResult:
    """Mean squared displacement over all time origins, FFT algorithm, streamed over atoms.

    Parameters
    ----------
    positions_A : array (n_frames, n_atoms, 3)
        **Unwrapped** Cartesian positions in A; any dtype, may be a ``numpy.memmap``
        (only ``chunk_atoms`` atoms are read into memory at a time, as float64).
    timestep_ps : float
        Time between frames in ps.
    atoms : indices of the atoms to analyse (default all).
    frames : ``(start, stop)`` frame range to analyse (default all frames).
    drift_A : array (n_frames, 3), optional
        A displacement subtracted from every atom at every frame (e.g. the framework's
        centre-of-mass drift, :func:`framework_drift_A`), indexed like ``positions_A``.
    collective : also compute the MSD of the summed displacement, |sum_i dr_i(t)|^2.
    per_atom : also return each atom's MSD (memory n_lags x n_atoms x 8 bytes).
    max_lag : largest lag index returned (default n_frames - 1).
    chunk_atoms : atoms per chunk (default: ~192 MB of working memory).
    workers : threads for ``scipy.fft`` (default ``OMP_NUM_THREADS`` or the CPU count).

    Returns
    -------
    MSDResult
        lags (ps) and MSD (A^2): sum over atoms, per-atom mean, optionally collective and
        per-atom curves.

    Notes
    -----
    MSD(m) = S1(m) - 2 S2(m) per atom, with S2 from ``irfft(|rfft(x, 2n)|^2)`` (zero
    padding avoids circular wrap-around) and S1 from cumulative sums of |x|^2. Both are
    linear in the atom, so the sum over atoms needs only one inverse FFT. Each atom's
    positions are centred on their mean first (MSD is translation invariant), which keeps
    the cancellation S1 - 2 S2 accurate to ~1e-13 relative.
    """
    n_total = int(positions_A.shape[0])
    f0, f1 = (0, n_total) if frames is None else (int(frames[0]), int(frames[1]))
    n = f1 - f0
    if n < 2:
        raise ValueError(f"need at least 2 frames for an MSD, got {n}")
    idx = np.arange(positions_A.shape[1]) if atoms is None else np.asarray(atoms, dtype=int)
    if idx.size == 0:
        raise ValueError("no atoms selected")
    n_lags = n if max_lag is None else min(n, int(max_lag) + 1)
    nfft = _fft_len(n)
    workers = workers or _workers()
    if chunk_atoms is None:
        # block (n,3) f8 + padded spectrum (nfft/2+1,3) c16 + temporaries per atom
        per_atom_bytes = 3 * 8 * n + 3 * 16 * (nfft // 2 + 1) * 2
        chunk_atoms = max(1, min(idx.size, _WORK_BYTES // per_atom_bytes))
    drift = None if drift_A is None else np.asarray(drift_A, dtype=np.float64)[f0:f1]

    sq_sum = np.zeros(n)
    power_sum = np.zeros(nfft // 2 + 1)
    coll = np.zeros((n, 3)) if collective else None
    per = np.empty((n_lags, idx.size)) if per_atom else None
    for c0 in range(0, idx.size, chunk_atoms):
        sel = idx[c0:c0 + chunk_atoms]
        x = _read_block(positions_A, f0, f1, sel)            # (n, c, 3)
        if drift is not None:
            x -= drift[:, None, :]
        x -= x.mean(axis=0)
        if coll is not None:
            coll += x.sum(axis=1)
        sq = np.einsum("fcd,fcd->fc", x, x)                 # (n, c)
        sq_sum += sq.sum(axis=1)
        xt = np.ascontiguousarray(x.transpose(1, 2, 0))     # (c, 3, n)
        del x
        spec = scipy.fft.rfft(xt, n=nfft, axis=-1, workers=workers)
        del xt
        power = (spec.real ** 2 + spec.imag ** 2).sum(axis=1)  # (c, nfft/2+1)
        del spec
        power_sum += power.sum(axis=0)
        if per is not None:
            s2 = scipy.fft.irfft(power, n=nfft, axis=-1, workers=workers)[:, :n_lags].T
            per[:, c0:c0 + sel.size] = (_s1_sum(sq, n_lags)
                                        - 2.0 * s2 / (n - np.arange(n_lags))[:, None])
    lags = np.arange(n_lags)
    s2 = scipy.fft.irfft(power_sum, n=nfft, workers=workers)[:n_lags] / (n - lags)
    msd_sum = _s1_sum(sq_sum, n_lags) - 2.0 * s2
    msd_sum[0] = 0.0
    msd_coll = None
    if coll is not None:
        msd_coll = msd(coll[:, None, :], timestep_ps, max_lag=n_lags - 1,
                       workers=workers).msd_sum_A2
    if per is not None:
        per[0] = 0.0
    return MSDResult(lag_ps=lags * float(timestep_ps), msd_sum_A2=msd_sum, n_atoms=int(idx.size),
                     msd_collective_A2=msd_coll, msd_per_atom_A2=per, n_frames=n)


def msd_direct(positions_A, timestep_ps: float, *, collective: bool = False) -> MSDResult:
    """Reference O(n^2) MSD over all time origins (for tests and tiny inputs only).

    Same inputs and outputs as :func:`msd` (all atoms, all frames).
    """
    x = np.asarray(positions_A, dtype=np.float64)
    n = x.shape[0]
    per = np.zeros((n, x.shape[1]))
    coll = np.zeros(n)
    for m in range(1, n):
        d = x[m:] - x[:n - m]
        per[m] = (d ** 2).sum(axis=2).mean(axis=0)
        coll[m] = (d.sum(axis=1) ** 2).sum(axis=1).mean()
    return MSDResult(lag_ps=np.arange(n) * float(timestep_ps), msd_sum_A2=per.sum(axis=1),
                     n_atoms=x.shape[1], msd_collective_A2=coll if collective else None,
                     msd_per_atom_A2=per)


# --------------------------------------------------------------------------------------
# Unwrapping check and framework drift (one sequential pass over frames)
# --------------------------------------------------------------------------------------

def _cell_widths_A(cell_A) -> np.ndarray | None:
    if cell_A is None:
        return None
    cell = np.asarray(cell_A, dtype=float)
    if cell.shape == (3,):
        cell = np.diag(cell)
    vol = abs(np.linalg.det(cell))
    if vol <= 0:
        return None
    return np.array([vol / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3]))
                     for i in range(3)])


def _index_or_slice(idx: np.ndarray):
    """A slice for a contiguous ascending index array (views instead of copies)."""
    if idx.size and idx[-1] - idx[0] + 1 == idx.size and np.all(np.diff(idx) == 1):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


def _frame_pass(positions_A, framework: np.ndarray | None, chunk_frames: int = 2048):
    """One streaming pass: framework mean positions per frame, largest frame-to-frame jumps.

    Returns ``(com (n_frames, 3) or None, max_jump (3,), where [(frame, atom)] * 3,
    extent (3,))``; ``where`` locates each axis's largest jump.
    """
    n = positions_A.shape[0]
    com = np.empty((n, 3)) if framework is not None and framework.size else None
    fw = _index_or_slice(np.asarray(framework)) if com is not None else None
    max_jump = np.zeros(3)
    where = [(0, 0)] * 3
    lo = np.full(3, np.inf)
    hi = np.full(3, -np.inf)
    for s in range(0, n, chunk_frames):
        s0 = max(0, s - 1)  # overlap one frame with the previous chunk for the jumps
        blk = np.asarray(positions_A[s0:s + chunk_frames])
        new = blk[s - s0:]
        lo = np.minimum(lo, new.min(axis=(0, 1)))
        hi = np.maximum(hi, new.max(axis=(0, 1)))
        if com is not None:
            com[s:s + new.shape[0]] = new[:, fw, :].mean(axis=1, dtype=np.float64)
        if blk.shape[0] > 1:
            jump = blk[1:] - blk[:-1]
            np.abs(jump, out=jump)
            m = jump.max(axis=(0, 1))
            for ax in np.flatnonzero(m > max_jump):
                j = jump[..., ax]
                k = int(np.argmax(j))
                max_jump[ax] = float(j.flat[k])
                f, a = np.unravel_index(k, j.shape)
                where[ax] = (int(f) + s0, int(a))
    return com, max_jump, where, hi - lo


def check_unwrapped(positions_A, cell_A=None, *, max_jump_fraction: float = 0.5,
                    _pass=None) -> float:
    """Refuse wrapped coordinates: raise if an atom jumps by ~a box length between frames.

    Parameters
    ----------
    positions_A : (n_frames, n_atoms, 3) positions in A (array or memmap)
    cell_A : (3, 3) cell in A, or None. Without a cell the spatial extent of all
        positions stands in for the box (adequate for crystals and random walks of
        many steps).
    max_jump_fraction : a frame-to-frame move larger than this fraction of the cell width
        (perpendicular distance between faces) along x, y or z is taken as a wrap.

    Returns
    -------
    float
        the largest frame-to-frame displacement component found (A).

    Raises
    ------
    WrappedTrajectoryError
        naming the frame, atom and jump, and how to get unwrapped coordinates.
    """
    _, max_jump, where, extent = _pass if _pass is not None else _frame_pass(positions_A, None)
    widths = _cell_widths_A(cell_A)
    ref = widths if widths is not None else extent
    for ax in range(3):
        if ref[ax] > 0 and max_jump[ax] > max_jump_fraction * ref[ax]:
            f, a = where[ax]
            raise WrappedTrajectoryError(
                f"atom {a} moves {max_jump[ax]:.2f} A along {'xyz'[ax]} between frames {f} and "
                f"{f + 1}, more than {max_jump_fraction:g} x the "
                f"{'cell width' if widths is not None else 'extent of all positions'} "
                f"({ref[ax]:.2f} A): the coordinates look wrapped into the cell. The MSD "
                "needs unwrapped positions: dump 'xu yu zu' in LAMMPS (or x y z with ix iy iz), "
                "or write lidiff trajectories (always unwrapped).")
    return float(max_jump.max())


def framework_drift_A(positions_A, framework_atoms: Sequence[int] | np.ndarray) -> np.ndarray:
    """Mean displacement of the framework atoms from frame 0, (n_frames, 3) in A."""
    com, *_ = _frame_pass(positions_A, np.asarray(framework_atoms, dtype=int))
    return com - com[0]


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
    ValueError
        if the run is too short for the rule (start >= end).
    """
    tb = duration_ps / n_blocks
    t0 = max(float(min_start_ps), start_fraction * tb)
    t1 = end_fraction * tb
    if not t1 > t0:
        raise ValueError(f"run of {duration_ps:g} ps ({n_blocks} blocks of {tb:g} ps) is too "
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
        raise ValueError(f"fit window {window_ps} ps holds {int(sel.sum())} lag points; "
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
# Trajectory inputs
# --------------------------------------------------------------------------------------

def load_trajectory(source, *, timestep_ps: float | None = None, numbers=None, cell_A=None,
                    lammps_timestep_fs: float = 1.0, lammps_type_symbols: dict | None = None
                    ) -> Trajectory:
    """Any supported input as a :class:`lidiff_helpers.io.trajectory.Trajectory`.

    Parameters
    ----------
    source
        a :class:`Trajectory`; an array (n_frames, n_atoms, 3) of unwrapped positions in A
        (then ``timestep_ps`` is required); a lidiff trajectory directory; a LAMMPS text
        dump (or a list of dumps of consecutive restarts, see
        :func:`lidiff_helpers.io.lammps_dump.read_lammps_dump`); or any file ASE can read
        (then ``timestep_ps`` is required).
    timestep_ps : time between frames in ps (arrays and ASE files).
    numbers : atomic numbers (n_atoms,) for arrays (default: none, every atom analysed).
    cell_A : (3, 3) cell in A for arrays (enables the strict unwrapping check).
    lammps_timestep_fs : MD timestep of a LAMMPS dump in fs (the study: 1 fs).
    lammps_type_symbols : LAMMPS type -> element (default ``{1: "Li", 2: "F"}``).
    """
    if isinstance(source, Trajectory):
        return source
    if isinstance(source, np.ndarray):
        if timestep_ps is None:
            raise ValueError("an array input needs timestep_ps (time between frames, ps)")
        if source.ndim != 3 or source.shape[2] != 3:
            raise ValueError(f"positions must be (n_frames, n_atoms, 3), got {source.shape}")
        nat = source.shape[1]
        nums = np.zeros(nat, dtype=int) if numbers is None else np.asarray(numbers, dtype=int)
        cell = np.zeros((3, 3)) if cell_A is None else np.asarray(cell_A, dtype=float)
        return Trajectory(path=None, numbers=nums, cell_A=cell, pbc=(cell_A is not None,) * 3,
                          timestep_ps=float(timestep_ps), positions_A=source,
                          time_ps=np.arange(source.shape[0]) * float(timestep_ps),
                          unwrapped=True, info={})
    from lidiff_helpers.io import lammps_dump

    if isinstance(source, (list, tuple)):
        return lammps_dump.read_lammps_dump(source, timestep_fs=lammps_timestep_fs,
                                            type_symbols=lammps_type_symbols)
    p = Path(source)
    if is_trajectory(p):
        return open_trajectory(p)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such trajectory")
    if lammps_dump.is_lammps_dump(p):
        return lammps_dump.read_lammps_dump(p, timestep_fs=lammps_timestep_fs,
                                            type_symbols=lammps_type_symbols)
    import ase.io

    frames = ase.io.read(p, index=":")
    if timestep_ps is None:
        raise ValueError(f"{p}: an ASE-readable file carries no reliable frame interval; "
                         "pass timestep_ps")
    pos = np.stack([a.get_positions() for a in frames])
    a0 = frames[0]
    return Trajectory(path=p, numbers=a0.get_atomic_numbers(), cell_A=np.asarray(a0.cell[:]),
                      pbc=tuple(bool(x) for x in a0.pbc), timestep_ps=float(timestep_ps),
                      positions_A=pos, time_ps=np.arange(len(frames)) * float(timestep_ps),
                      unwrapped=False, info=dict(a0.info))


def _species_number(species) -> int:
    if isinstance(species, (int, np.integer)):
        return int(species)
    from ase.data import atomic_numbers

    try:
        return atomic_numbers[str(species)]
    except KeyError:
        raise ValueError(f"unknown species {species!r}") from None


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
    n_frames, timestep_ps, duration_ps : the analysed frames
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
    timestep_ps: float
    duration_ps: float
    species: str
    drift_removed: bool
    info: dict = field(default_factory=dict)

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
        raise ValueError(f"unknown convention {convention!r}; choose one of {CONVENTIONS}")
    return convention


def _three_D(res: MSDResult, window) -> tuple[dict, float]:
    s_sum, _, e_sum = fit_msd_slope(res.lag_ps, res.msd_sum_A2, window)
    s_col, _, e_col = fit_msd_slope(res.lag_ps, res.msd_collective_A2, window)
    D = {"defect": _D_cm2_s(s_sum), "tracer": _D_cm2_s(s_sum) / res.n_atoms,
         "collective": _D_cm2_s(s_col)}
    ols = {"defect": _D_cm2_s(e_sum), "tracer": _D_cm2_s(e_sum) / res.n_atoms,
           "collective": _D_cm2_s(e_col)}
    return D, ols


def diffusion_coefficient(trajectory, species: str | int | None = "Li",
                          convention: str = "defect",
                          fit_window_ps: tuple[float, float] | None = None, *,
                          timestep_ps: float | None = None, numbers=None, cell_A=None,
                          remove_drift: bool = True, n_blocks: int = 5, frame_stride: int = 1,
                          min_start_ps: float = 1.0, start_fraction: float = 0.1,
                          end_fraction: float = 0.5, chunk_atoms: int | None = None,
                          lammps_timestep_fs: float = 1.0) -> DiffusionResult:
    """Diffusion coefficient of ``species`` from the MSD (Eq. 2 of the study).

    Parameters
    ----------
    trajectory
        positions array (n_frames, n_atoms, 3) in A with ``timestep_ps``; a
        :class:`~lidiff_helpers.io.trajectory.Trajectory` or the path of a trajectory
        directory; a LAMMPS text dump as the study wrote it (``dump ... custom 100
        dump.lammpstrj id type xu yu zu``, 1 fs timestep, type 1 = Li); or any file ASE
        reads (with ``timestep_ps``). See :func:`load_trajectory`.
    species : element analysed (symbol or atomic number). Ignored when no atomic numbers
        are known (a bare array without ``numbers``): then every atom is analysed.
    convention : ``"defect"`` (default), ``"tracer"`` or ``"collective"``; all three are
        computed and returned, this picks ``D_cm2_s``. See the module docstring.
    fit_window_ps : (start, end) of the linear fit in ps, applied to the whole run and to
        every block (so it must fit inside one block); default
        :func:`default_fit_window_ps` with ``n_blocks``, ``min_start_ps``,
        ``start_fraction``, ``end_fraction`` (fractions of the block duration).
    timestep_ps, numbers, cell_A : for array / ASE inputs (see :func:`load_trajectory`).
    remove_drift : measure displacements relative to the mean displacement of the
        framework (atoms not of ``species``), removing the momentum-conserving recoil.
    n_blocks : contiguous blocks for the error estimate (>= 2).
    frame_stride : analyse every ``frame_stride``-th frame.
    chunk_atoms : atoms per FFT chunk (default from a ~192 MB budget).
    lammps_timestep_fs : MD timestep of a LAMMPS dump, fs.

    Returns
    -------
    DiffusionResult

    Raises
    ------
    WrappedTrajectoryError
        if the positions are wrapped into the cell.
    """
    _check_convention(convention)
    if n_blocks < 2:
        raise ValueError("n_blocks must be >= 2 for an error estimate")
    traj = load_trajectory(trajectory, timestep_ps=timestep_ps, numbers=numbers, cell_A=cell_A,
                           lammps_timestep_fs=lammps_timestep_fs)
    pos = traj.positions_A
    if not traj.unwrapped and traj.path is not None and is_trajectory(traj.path):
        raise WrappedTrajectoryError(f"{traj.path}: meta.json says the positions are not "
                                     "unwrapped; refusing to compute an MSD")
    if frame_stride > 1:
        pos = pos[::frame_stride]
    dt = traj.timestep_ps * frame_stride
    nums = np.asarray(traj.numbers)
    if species is None or not nums.any():
        sel = np.arange(pos.shape[1])
        sp = "all"
    else:
        z = _species_number(species)
        sel = np.flatnonzero(nums == z)
        sp = str(species)
        if sel.size == 0:
            raise ValueError(f"no {species} atoms in the trajectory (numbers: "
                             f"{sorted(set(nums.tolist()))})")
    frame_work = np.setdiff1d(np.arange(pos.shape[1]), sel) if remove_drift else None
    if frame_work is not None and frame_work.size == 0:
        frame_work = None
    fp = _frame_pass(pos, frame_work)
    check_unwrapped(pos, traj.cell_A if np.any(traj.cell_A) else None, _pass=fp)
    drift = None if fp[0] is None else fp[0] - fp[0][0]

    n = pos.shape[0]
    duration = (n - 1) * dt
    nb = n // n_blocks
    block_duration = (nb - 1) * dt
    if fit_window_ps is None:
        window = default_fit_window_ps(duration, n_blocks=n_blocks, min_start_ps=min_start_ps,
                                       start_fraction=start_fraction,
                                       end_fraction=end_fraction)
    else:
        window = (float(fit_window_ps[0]), float(fit_window_ps[1]))
        if not 0 <= window[0] < window[1] <= block_duration:
            raise ValueError(f"fit window {window} ps must lie inside one of the {n_blocks} "
                             f"blocks (0 <= start < end <= {block_duration:g} ps) so that the "
                             "block error is on the same window; shorten it or use fewer "
                             "n_blocks")
    max_lag = int(window[1] / dt) + 1
    full = msd(pos, dt, atoms=sel, drift_A=drift, collective=True, chunk_atoms=chunk_atoms)
    D, ols = _three_D(full, window)

    blocks = {c: [] for c in CONVENTIONS}
    for b in range(n_blocks):
        bres = msd(pos, dt, atoms=sel, frames=(b * nb, (b + 1) * nb), drift_A=drift,
                   collective=True, max_lag=max_lag, chunk_atoms=chunk_atoms)
        bD, _ = _three_D(bres, window)
        for c in CONVENTIONS:
            blocks[c].append(bD[c])
    err = {c: float(np.std(blocks[c], ddof=1) / math.sqrt(n_blocks)) for c in CONVENTIONS}
    haven = D["defect"] / D["collective"] if D["collective"] > 0 else float("nan")
    haven_err = abs(haven) * math.hypot(err["defect"] / D["defect"] if D["defect"] else 0.0,
                                        err["collective"] / D["collective"]
                                        if D["collective"] else 0.0)
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
        msd_collective_A2=full.msd_collective_A2, n_atoms=int(sel.size), n_frames=int(n),
        timestep_ps=float(dt), duration_ps=float(duration), species=sp,
        drift_removed=drift is not None, info=dict(traj.info))


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
        raise ValueError("no replicas")
    between = float(np.std(d, ddof=1) / math.sqrt(d.size)) if d.size >= 2 else 0.0
    within = 0.0
    if D_err_cm2_s is not None:
        e = np.asarray(D_err_cm2_s, dtype=float)
        within = float(math.sqrt(np.nansum(e ** 2)) / d.size)
    err = max(between, within) if (d.size >= 2 or D_err_cm2_s is not None) else float("nan")
    return ReplicaAverage(D_cm2_s=float(d.mean()), D_err_cm2_s=err, n_replicas=int(d.size),
                          D_replicas_cm2_s=tuple(float(x) for x in d))


# --------------------------------------------------------------------------------------
# Many runs: the MD manifest, per-run analysis, replica averages
# --------------------------------------------------------------------------------------

#: keys every manifest entry must have
MANIFEST_KEYS = ("model", "temperature_K", "replica", "trajectory", "status", "purpose")


def read_manifest(path: str | os.PathLike, *, base_dir: str | os.PathLike | None = None,
                  only_done: bool = True) -> list[dict]:
    """Runs listed in an MD manifest (a JSON list), trajectory paths made absolute.

    Each entry has at least ``model`` (str), ``temperature_K`` (float), ``replica``
    (int), ``trajectory`` (path, absolute or relative to ``base_dir``; default the
    manifest's grandparent, the results folder of ``results/<tag>/md/manifest.json``),
    ``status`` and ``purpose`` (``arrhenius`` or ``comparison``). With ``only_done`` only
    ``status == "done"`` runs are returned.
    """
    import json

    p = Path(path)
    entries = json.loads(p.read_text())
    if not isinstance(entries, list):
        raise TypeError(f"{p}: expected a JSON list of runs")
    base = p.parent.parent if base_dir is None else Path(base_dir)
    out = []
    for i, e in enumerate(entries):
        missing = [k for k in MANIFEST_KEYS if k not in e]
        if missing:
            raise ValueError(f"{p}: run {i} lacks {missing}")
        if only_done and e["status"] != "done":
            continue
        t = Path(e["trajectory"])
        out.append({**e, "trajectory": str(t if t.is_absolute() else base / t),
                    "temperature_K": float(e["temperature_K"]), "replica": int(e["replica"])})
    return out


@dataclass(frozen=True, eq=False)
class RunAnalyses:
    """Per-run diffusion (and hop) analysis of many trajectories.

    Attributes
    ----------
    table : pandas.DataFrame, one row per analysed run (model, temperature_K, replica,
        purpose, every D of :meth:`DiffusionResult.as_row`, hop counts and event D)
    results : row index -> DiffusionResult
    hops : row index -> HopAnalysis (runs where hop detection ran)
    skipped : [(run, reason)] runs that could not be analysed
    """

    table: object
    results: dict
    hops: dict
    skipped: list


def analyse_runs(runs: Sequence[dict], *, convention: str = "defect",
                 fit_window_ps: tuple[float, float] | None = None, n_blocks: int = 5,
                 min_start_ps: float = 1.0, start_fraction: float = 0.1,
                 end_fraction: float = 0.5, frame_stride: int = 1, species: str = "Li",
                 hop_settings: dict | None = None) -> RunAnalyses:
    """:func:`diffusion_coefficient` (and optionally hop detection) for every run.

    Parameters
    ----------
    runs : manifest-like entries (``model``, ``temperature_K``, ``replica``,
        ``trajectory``, ``purpose``)
    convention, fit_window_ps, n_blocks, min_start_ps, start_fraction, end_fraction,
    frame_stride, species : passed to :func:`diffusion_coefficient`
    hop_settings : keyword arguments of :func:`lidiff_helpers.analysis.hops.detect_hops`, or None
        to skip hop detection

    Wrapped trajectories raise :class:`WrappedTrajectoryError`; runs too short for the
    fit window (or otherwise unreadable) are listed in ``skipped`` with the reason.
    """
    import pandas as pd

    from lidiff_helpers.analysis import hops as _hops

    rows, results, hop_res, skipped = [], {}, {}, []
    for run in runs:
        try:
            res = diffusion_coefficient(run["trajectory"], species=species,
                                        convention=convention, fit_window_ps=fit_window_ps,
                                        n_blocks=n_blocks, min_start_ps=min_start_ps,
                                        start_fraction=start_fraction,
                                        end_fraction=end_fraction, frame_stride=frame_stride)
        except WrappedTrajectoryError:
            raise
        except (ValueError, FileNotFoundError) as exc:
            skipped.append((dict(run), str(exc)))
            continue
        row = {"model": str(run["model"]), "temperature_K": float(run["temperature_K"]),
               "replica": int(run.get("replica", 0)), "purpose": run.get("purpose", ""),
               **res.as_row(), "trajectory": str(run["trajectory"])}
        k = len(rows)
        if hop_settings is not None:
            try:
                h = _hops.detect_hops(run["trajectory"], species=species,
                                      frame_stride=frame_stride, **hop_settings)
                hop_res[k] = h
                row.update({f"n_{kind}": n for kind, n in h.counts.items()})
                row.update({"D_event_sum_cm2_s": h.D_event_sum_cm2_s,
                            "D_event_defect_cm2_s": h.D_event_defect_cm2_s,
                            "mean_n_interstitial": float(np.mean(h.n_interstitial))})
            except ValueError as exc:
                row["hop_error"] = str(exc)
        if "D_defect_true_cm2_s" in res.info:
            row["D_defect_true_cm2_s"] = float(res.info["D_defect_true_cm2_s"])
        rows.append(row)
        results[k] = res
    return RunAnalyses(table=pd.DataFrame(rows), results=results, hops=hop_res, skipped=skipped)


def replica_table(table, *, D_col: str = "D_cm2_s", err_col: str = "D_err_cm2_s",
                  by: Sequence[str] = ("model", "temperature_K")):
    """Average replicas per (model, temperature) with :func:`combine_replicas`.

    Returns
    -------
    pandas.DataFrame
        ``by`` columns, ``D_cm2_s``, ``D_err_cm2_s``, ``n_replicas``, ``D_replicas_cm2_s``.
    """
    import pandas as pd

    rows = []
    for key, g in table.groupby(list(by), sort=True):
        avg = combine_replicas(g[D_col].to_numpy(), g[err_col].to_numpy())
        rows.append({**dict(zip(by, key)), "D_cm2_s": avg.D_cm2_s,
                     "D_err_cm2_s": avg.D_err_cm2_s, "n_replicas": avg.n_replicas,
                     "D_replicas_cm2_s": " ".join(f"{d:.3g}" for d in avg.D_replicas_cm2_s)})
    return pd.DataFrame(rows, columns=[*by, "D_cm2_s", "D_err_cm2_s", "n_replicas",
                                       "D_replicas_cm2_s"])


def convention_comparison(table, reference_D_cm2_s: float, *, temperature_K: float,
                          sum_sq_jump_A2: float, reference_n_Li: int):
    """What each convention implies for the hop rate, next to a published D.

    For each model at ``temperature_K`` (replica means) and for the published value read
    in each convention, the implied time between events
    ``sum_sq_jump_A2 / (6 D_defect)``, where D_defect is the D of the whole defect (a
    published D read as per-atom is multiplied by the number of Li).

    Parameters
    ----------
    table : per-run table of :func:`analyse_runs`
    reference_D_cm2_s : the published D at ``temperature_K`` (the study's DeePMD value)
    temperature_K : K; the closest analysed temperature is used
    sum_sq_jump_A2 : sum of squared atom jumps per event (a knock-off: 2 (a sqrt(3)/4)^2)
    reference_n_Li : number of Li in the published cell (the study: 501)

    Returns
    -------
    pandas.DataFrame
        one row per (source, convention): ``D_cm2_s``, ratio to the reference and the
        implied ``event_interval_ps``.
    """
    import pandas as pd

    def interval(D_defect):
        return sum_sq_jump_A2 / (2 * DIMENSIONS * D_defect / CM2_S_PER_A2_PS) \
            if D_defect > 0 else float("inf")

    rows = []
    Ts = np.unique(table["temperature_K"]) if len(table) else np.array([])
    if Ts.size:
        T = float(Ts[np.argmin(np.abs(Ts - temperature_K))])
        for model, g in table[table["temperature_K"] == T].groupby("model"):
            n_li = float(g["n_atoms"].mean())
            for conv in CONVENTIONS:
                D = float(g[f"D_{conv}_cm2_s"].mean())
                D_def = D * n_li if conv == "tracer" else D
                rows.append({"source": f"{model} @ {T:g} K", "convention": conv, "D_cm2_s": D,
                             "ratio_to_reference": D / reference_D_cm2_s,
                             "event_interval_ps": interval(D_def), "n_Li": n_li})
        n_li = float(reference_n_Li)
        for conv, D_def in (("defect", reference_D_cm2_s),
                            ("tracer", reference_D_cm2_s * n_li)):
            rows.append({"source": f"study DeePMD {temperature_K:g} K read as '{conv}'",
                         "convention": conv, "D_cm2_s": reference_D_cm2_s,
                         "ratio_to_reference": 1.0, "event_interval_ps": interval(D_def),
                         "n_Li": n_li})
    return pd.DataFrame(rows)


#: values of ``source`` accepted by :func:`collect_runs`
SOURCES = ("auto", "manifest", "trajectories", "synthetic")


def _usable(run: dict, fit_rule: dict) -> str | None:
    """Why a run cannot be fitted with ``fit_rule`` (None if it can)."""
    try:
        traj = load_trajectory(run["trajectory"])
    except (OSError, ValueError) as exc:
        return str(exc)
    stride = int(fit_rule.get("frame_stride", 1))
    n = traj.n_frames // stride if hasattr(traj, "n_frames") else len(traj.positions_A) // stride
    dt = traj.timestep_ps * stride
    rule = {k: v for k, v in fit_rule.items() if k != "frame_stride"}
    try:
        t0, t1 = default_fit_window_ps((n - 1) * dt, **rule)
    except ValueError as exc:
        return str(exc)
    if (t1 - t0) / dt < 3:
        return f"fit window {t0:g}-{t1:g} ps holds fewer than 3 frames of {dt:g} ps"
    return None


def collect_runs(source: str, *, manifest_path: str | os.PathLike,
                 trajectories: Sequence | None, synthetic_dir: str | os.PathLike,
                 synthetic_settings: dict, fit_rule: dict | None = None
                 ) -> tuple[list[dict], str, str]:
    """The runs notebook 05 analyses, where they came from, and why.

    Parameters
    ----------
    source : ``auto`` (trajectories if given, else the MD manifest's finished runs that
        are long enough for ``fit_rule``, else synthetic), ``manifest``, ``trajectories``
        or ``synthetic``
    manifest_path : the MD notebook's ``md/manifest.json``
    trajectories : manifest-like dicts, or paths of trajectories whose ``info`` holds
        ``model`` and ``temperature_K``
    synthetic_dir : where synthetic trajectories are written (and reused)
    synthetic_settings : keyword arguments of
        :func:`lidiff_helpers.analysis.hops.write_synthetic_runs` (with ``temperatures_K``)
    fit_rule : keyword arguments of :func:`default_fit_window_ps` (and ``frame_stride``)
        used by ``auto`` to drop manifest runs too short to fit

    Returns
    -------
    (runs, used_source, note)
        ``used_source`` is ``manifest``, ``trajectories`` or ``synthetic``; ``note``
        says why (e.g. which manifest runs were too short).

    Raises
    ------
    FileNotFoundError / ValueError
        when an explicitly requested source has no runs.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if source in ("auto", "trajectories") and trajectories:
        runs = []
        for i, t in enumerate(trajectories):
            if isinstance(t, dict):
                runs.append({"replica": 0, "purpose": "arrhenius", "status": "done", **t})
                continue
            info = load_trajectory(t).info
            if "temperature_K" not in info:
                raise ValueError(f"{t}: no temperature_K in the trajectory's info; pass a dict "
                                 "with model, temperature_K, replica, trajectory")
            runs.append({"model": str(info.get("model", "unknown")),
                         "temperature_K": float(info["temperature_K"]),
                         "replica": int(info.get("replica", i)), "trajectory": str(t),
                         "status": "done", "purpose": info.get("purpose", "arrhenius")})
        return runs, "trajectories", f"{len(runs)} trajectories given as a parameter"
    if source == "trajectories":
        raise ValueError("source='trajectories' but the trajectories parameter is empty")
    mp = Path(manifest_path)
    note = f"no MD manifest at {mp}"
    if source in ("auto", "manifest"):
        runs = read_manifest(mp) if mp.is_file() else []
        if runs and source == "auto" and fit_rule is not None:
            why = {i: _usable(r, fit_rule) for i, r in enumerate(runs)}
            bad = {i: w for i, w in why.items() if w}
            if bad:
                note = (f"{len(bad)} of {len(runs)} manifest runs unusable, e.g. "
                        f"{runs[min(bad)]['trajectory']}: {bad[min(bad)]}")
            runs = [r for i, r in enumerate(runs) if i not in bad]
        elif mp.is_file():
            note = f"{mp} lists no finished runs"
        if runs:
            return runs, "manifest", f"{len(runs)} finished runs from {mp}"
        if source == "manifest":
            raise FileNotFoundError(f"{mp}: no manifest with finished runs (run the MD "
                                    "notebook first, or use source='synthetic')")
    from lidiff_helpers.analysis.hops import write_synthetic_runs

    runs = write_synthetic_runs(synthetic_dir, **synthetic_settings)
    return runs, "synthetic", ("requested" if source == "synthetic" else note) + \
        f"; {len(runs)} synthetic runs with known D"
