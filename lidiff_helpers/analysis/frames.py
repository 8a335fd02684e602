"""One streaming pass over a trajectory's frames: unwrapping check, drift, finiteness.

:func:`scan_frames` reads the frames once, in chunks (a paper-scale ``numpy.memmap`` is
never loaded whole), and returns a :class:`FrameScan`: the framework's mean position per
frame (for removing the momentum-conserving recoil), the largest frame-to-frame jump per
axis and where it happened (for :func:`check_unwrapped`), the spatial extent, and the
first non-finite coordinate (for :func:`check_finite`). Used by
:mod:`lidiff_helpers.analysis.diffusion` and :mod:`lidiff_helpers.analysis.hops`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lidiff_helpers.core.errors import TrajectoryError, WrappedTrajectoryError

__all__ = ["FrameScan", "check_finite", "check_unwrapped", "framework_drift_A",
           "index_or_slice", "scan_frames"]


@dataclass(frozen=True, eq=False)
class FrameScan:
    """What one pass over the frames found.

    Attributes
    ----------
    framework_mean_A : (n_frames, 3) mean position of the framework atoms, A (None
        without framework atoms)
    max_jump_A : (3,) largest frame-to-frame displacement component per axis, A
    max_jump_at : per axis, (frame, atom) of that jump (between frame and frame + 1)
    extent_A : (3,) spatial extent of all positions, A
    non_finite_at : (frame, atom) of the first NaN/inf coordinate, or None
    """

    framework_mean_A: np.ndarray | None
    max_jump_A: np.ndarray
    max_jump_at: tuple
    extent_A: np.ndarray
    non_finite_at: tuple | None = None

    @property
    def drift_A(self) -> np.ndarray | None:
        """Framework displacement from frame 0, (n_frames, 3) A, or None."""
        c = self.framework_mean_A
        return None if c is None else c - c[0]


def index_or_slice(idx: np.ndarray):
    """A slice for a contiguous ascending index array (views instead of copies)."""
    if idx.size and idx[-1] - idx[0] + 1 == idx.size and np.all(np.diff(idx) == 1):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


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


def _first_non_finite(new: np.ndarray, s: int) -> tuple | None:
    bad = ~np.isfinite(new).all(axis=2)
    if not bad.any():
        return None
    f, a = np.unravel_index(int(np.argmax(bad)), bad.shape)
    return (int(f) + s, int(a))


def scan_frames(positions_A, framework: np.ndarray | None = None,
                chunk_frames: int = 2048) -> FrameScan:
    """One streaming pass over ``positions_A`` (n_frames, n_atoms, 3), A; see the module."""
    n = positions_A.shape[0]
    com = np.empty((n, 3)) if framework is not None and framework.size else None
    fw = index_or_slice(np.asarray(framework)) if com is not None else None
    max_jump = np.zeros(3)
    where = [(0, 0)] * 3
    lo = np.full(3, np.inf)
    hi = np.full(3, -np.inf)
    bad = None
    for s in range(0, n, chunk_frames):
        s0 = max(0, s - 1)  # overlap one frame with the previous chunk for the jumps
        blk = np.asarray(positions_A[s0:s + chunk_frames])
        new = blk[s - s0:]
        if bad is None:
            bad = _first_non_finite(new, s)
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
    return FrameScan(framework_mean_A=com, max_jump_A=max_jump, max_jump_at=tuple(where),
                     extent_A=hi - lo, non_finite_at=bad)


def check_finite(scan: FrameScan, where: str) -> None:
    """Raise :class:`TrajectoryError` naming ``where``, frame and atom of a NaN/inf."""
    if scan.non_finite_at is not None:
        f, a = scan.non_finite_at
        raise TrajectoryError(f"{where}: non-finite position (NaN or inf) of atom {a} at frame "
                              f"{f}; the MD run diverged or the file is corrupt (an MSD over "
                              "it would be NaN)")


def check_unwrapped(positions_A, cell_A=None, *, max_jump_fraction: float = 0.5,
                    scan: FrameScan | None = None) -> float:
    """Refuse wrapped coordinates: raise if an atom jumps by ~a box length between frames.

    Parameters
    ----------
    positions_A : (n_frames, n_atoms, 3) positions in A (array or memmap)
    cell_A : (3, 3) cell in A, or None. Without a cell the spatial extent of all
        positions stands in for the box (adequate for crystals and random walks of
        many steps).
    max_jump_fraction : a frame-to-frame move larger than this fraction of the cell width
        (perpendicular distance between faces) along x, y or z is taken as a wrap.
    scan : a :func:`scan_frames` result of ``positions_A`` (saves a pass)

    Returns
    -------
    float
        the largest frame-to-frame displacement component found (A).

    Raises
    ------
    WrappedTrajectoryError
        naming the frame, atom and jump, and how to get unwrapped coordinates.
    """
    scan = scan if scan is not None else scan_frames(positions_A)
    widths = _cell_widths_A(cell_A)
    ref = widths if widths is not None else scan.extent_A
    for ax in range(3):
        if ref[ax] > 0 and scan.max_jump_A[ax] > max_jump_fraction * ref[ax]:
            f, a = scan.max_jump_at[ax]
            raise WrappedTrajectoryError(
                f"atom {a} moves {scan.max_jump_A[ax]:.2f} A along {'xyz'[ax]} between frames "
                f"{f} and {f + 1}, more than {max_jump_fraction:g} x the "
                f"{'cell width' if widths is not None else 'extent of all positions'} "
                f"({ref[ax]:.2f} A): the coordinates look wrapped into the cell. The MSD "
                "needs unwrapped positions: dump 'xu yu zu' in LAMMPS (or x y z with ix iy iz), "
                "or write lidiff trajectories (always unwrapped).")
    return float(scan.max_jump_A.max())


def framework_drift_A(positions_A, framework_atoms: Sequence[int] | np.ndarray) -> np.ndarray:
    """Mean displacement of the framework atoms from frame 0, (n_frames, 3) in A."""
    return scan_frames(positions_A, np.asarray(framework_atoms, dtype=int)).drift_A
