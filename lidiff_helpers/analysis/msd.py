r"""Mean squared displacement over all time origins: the FFT engine of the diffusion analysis.

:math:`\mathrm{MSD}(m) = S_1(m) - 2 S_2(m)` with :math:`S_2` the position autocorrelation
from one zero-padded FFT and :math:`S_1` from cumulative sums, :math:`O(n \log n)` in the
number of frames (Calandrini et al., Collection SFN 12, 201 (2011); the same as MDAnalysis
``EinsteinMSD(fft=True)`` and kinisi). Atoms are streamed in chunks, so a paper-scale
trajectory (1001 atoms x 90 000 frames, float32 ``numpy.memmap``) is never held in memory
at once. Positions in A, times in ps. See :mod:`lidiff_helpers.analysis.diffusion` for
how D is obtained from it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.fft

from lidiff_helpers.analysis.frames import index_or_slice
from lidiff_helpers.core.deprecation import renamed_keyword
from lidiff_helpers.core.errors import ParameterError

__all__ = ["MSDResult", "msd", "msd_direct"]

_WORK_BYTES = 192 * 2**20  # working-memory target of one atom chunk of the FFT MSD


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
    blk = positions_A[f0:f1][:, index_or_slice(idx), :]
    return np.array(blk, dtype=np.float64)


def _check_interval(frame_interval_ps) -> float:
    dt = float(frame_interval_ps)
    if not (np.isfinite(dt) and dt > 0):
        raise ParameterError(f"frame_interval_ps must be a positive time in ps, got "
                             f"{frame_interval_ps!r}")
    return dt


@dataclass
class _Sums:
    """Running sums over atom chunks of the FFT MSD."""

    sq: np.ndarray           # (n,) sum over atoms of |x|^2 per frame
    power: np.ndarray        # (nfft/2+1,) summed power spectrum
    coll: np.ndarray | None  # (n, 3) summed displacement (collective)
    per: np.ndarray | None   # (n_lags, n_atoms) per-atom MSD


def _add_chunk(sums: _Sums, x: np.ndarray, c0: int, nfft: int, n_lags: int,
               workers: int) -> None:
    """Add one chunk of centred positions x (n, c, 3) to the running sums."""
    n = x.shape[0]
    if sums.coll is not None:
        sums.coll += x.sum(axis=1)
    sq = np.einsum("fcd,fcd->fc", x, x)                 # (n, c)
    sums.sq += sq.sum(axis=1)
    xt = np.ascontiguousarray(x.transpose(1, 2, 0))     # (c, 3, n)
    spec = scipy.fft.rfft(xt, n=nfft, axis=-1, workers=workers)
    del xt
    power = (spec.real ** 2 + spec.imag ** 2).sum(axis=1)  # (c, nfft/2+1)
    del spec
    sums.power += power.sum(axis=0)
    if sums.per is not None:
        s2 = scipy.fft.irfft(power, n=nfft, axis=-1, workers=workers)[:, :n_lags].T
        sums.per[:, c0:c0 + x.shape[1]] = (_s1_sum(sq, n_lags)
                                           - 2.0 * s2 / (n - np.arange(n_lags))[:, None])


@renamed_keyword("timestep_ps", "frame_interval_ps")
def msd(positions_A, frame_interval_ps: float, *,
        atoms: Sequence[int] | np.ndarray | None = None, frames: tuple[int, int] | None = None,
        drift_A: np.ndarray | None = None, collective: bool = False, per_atom: bool = False,
        max_lag: int | None = None, chunk_atoms: int | None = None,
        workers: int | None = None) -> MSDResult:
    """Mean squared displacement over all time origins, FFT algorithm, streamed over atoms.

    Parameters
    ----------
    positions_A : array (n_frames, n_atoms, 3)
        **Unwrapped** Cartesian positions in A; any dtype, may be a ``numpy.memmap``
        (only ``chunk_atoms`` atoms are read into memory at a time, as float64).
    frame_interval_ps : float
        Time between frames in ps (old keyword ``timestep_ps``, deprecated).
    atoms : indices of the atoms to analyse (default all).
    frames : ``(start, stop)`` frame range to analyse (default all frames).
    drift_A : array (n_frames, 3), optional
        A displacement subtracted from every atom at every frame (e.g. the framework's
        centre-of-mass drift, :func:`~lidiff_helpers.analysis.frames.framework_drift_A`),
        indexed like ``positions_A``.
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
    dt = _check_interval(frame_interval_ps)
    n_total = int(positions_A.shape[0])
    f0, f1 = (0, n_total) if frames is None else (int(frames[0]), int(frames[1]))
    n = f1 - f0
    if n < 2:
        raise ParameterError(f"need at least 2 frames for an MSD, got {n}")
    idx = np.arange(positions_A.shape[1]) if atoms is None else np.asarray(atoms, dtype=int)
    if idx.size == 0:
        raise ParameterError("no atoms selected for the MSD")
    n_lags = n if max_lag is None else min(n, int(max_lag) + 1)
    nfft = _fft_len(n)
    workers = workers or _workers()
    if chunk_atoms is None:
        # block (n,3) f8 + padded spectrum (nfft/2+1,3) c16 + temporaries per atom
        per_atom_bytes = 3 * 8 * n + 3 * 16 * (nfft // 2 + 1) * 2
        chunk_atoms = max(1, min(idx.size, _WORK_BYTES // per_atom_bytes))
    drift = None if drift_A is None else np.asarray(drift_A, dtype=np.float64)[f0:f1]
    sums = _Sums(sq=np.zeros(n), power=np.zeros(nfft // 2 + 1),
                 coll=np.zeros((n, 3)) if collective else None,
                 per=np.empty((n_lags, idx.size)) if per_atom else None)
    for c0 in range(0, idx.size, chunk_atoms):
        x = _read_block(positions_A, f0, f1, idx[c0:c0 + chunk_atoms])  # (n, c, 3)
        if drift is not None:
            x -= drift[:, None, :]
        x -= x.mean(axis=0)
        _add_chunk(sums, x, c0, nfft, n_lags, workers)
    lags = np.arange(n_lags)
    s2 = scipy.fft.irfft(sums.power, n=nfft, workers=workers)[:n_lags] / (n - lags)
    msd_sum = _s1_sum(sums.sq, n_lags) - 2.0 * s2
    msd_sum[0] = 0.0
    msd_coll = None
    if sums.coll is not None:
        msd_coll = msd(sums.coll[:, None, :], dt, max_lag=n_lags - 1,
                       workers=workers).msd_sum_A2
    if sums.per is not None:
        sums.per[0] = 0.0
    return MSDResult(lag_ps=lags * dt, msd_sum_A2=msd_sum, n_atoms=int(idx.size),
                     msd_collective_A2=msd_coll, msd_per_atom_A2=sums.per, n_frames=n)


@renamed_keyword("timestep_ps", "frame_interval_ps")
def msd_direct(positions_A, frame_interval_ps: float, *, collective: bool = False) -> MSDResult:
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
    return MSDResult(lag_ps=np.arange(n) * float(frame_interval_ps),
                     msd_sum_A2=per.sum(axis=1), n_atoms=x.shape[1],
                     msd_collective_A2=coll if collective else None, msd_per_atom_A2=per)
