"""Reader for LAMMPS text dumps as the study wrote them.

The study's MD inputs (``in.lammps`` of ``AlghamdiNada/Li_diffusion_with_MACE``) use
``units metal`` (timestep 0.001 ps = 1 fs), ``pair_coeff * * model.pt Li F`` (type 1 =
Li, type 2 = F) and::

    dump myDump all custom 100 dump.lammpstrj id type xu yu zu

i.e. one frame every 100 steps = 0.1 ps with **unwrapped** Cartesian coordinates (A). A
9 ns run is a sequence of 300 ps restarts (``read_data ../<previous>/out.data``), each
with its own ``dump.lammpstrj`` starting again at step 0 with the previous run's last
frame; :func:`read_lammps_dump` concatenates such a list and drops the repeated frame.

Coordinates are taken, in order of preference, from ``xu yu zu``, ``xsu ysu zsu``
(scaled unwrapped), or ``x y z`` / ``xs ys zs`` together with image flags ``ix iy iz``.
Wrapped coordinates without image flags are refused
(:class:`lidiff_helpers.analysis.diffusion.WrappedTrajectoryError`), never silently analysed.
Only orthogonal boxes are supported (the study's cells are cubic).

A paper-scale dump (90 000 frames x 1001 atoms, ~4 GB of text) is best converted once
to the streaming trajectory format with :func:`convert_lammps_dump` and then read as a
memmap; :func:`read_lammps_dump` holds all positions in memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np

from lidiff_helpers.analysis.diffusion import WrappedTrajectoryError
from lidiff_helpers.io.trajectory import Trajectory, TrajectoryWriter, open_trajectory

__all__ = [
    "STUDY_TYPE_SYMBOLS",
    "DumpFrame",
    "convert_lammps_dump",
    "is_lammps_dump",
    "iter_lammps_dump",
    "read_lammps_dump",
]

#: LAMMPS atom types of the study's inputs (``pair_coeff * * ... Li F``)
STUDY_TYPE_SYMBOLS = {1: "Li", 2: "F"}


@dataclass(frozen=True)
class DumpFrame:
    """One frame of a dump, atoms sorted by id.

    Attributes
    ----------
    step : MD step number (``ITEM: TIMESTEP``)
    ids, types : (n_atoms,) atom ids and LAMMPS types
    positions_A : (n_atoms, 3) unwrapped Cartesian positions, A
    box_lo_A, box_hi_A : (3,) orthogonal box bounds, A
    """

    step: int
    ids: np.ndarray
    types: np.ndarray
    positions_A: np.ndarray
    box_lo_A: np.ndarray
    box_hi_A: np.ndarray


def is_lammps_dump(path: str | os.PathLike) -> bool:
    """True if ``path`` is a file starting with ``ITEM: TIMESTEP``."""
    p = Path(path)
    if not p.is_file():
        return False
    with open(p, "rb") as f:
        return f.readline().strip() == b"ITEM: TIMESTEP"


def _positions(cols: list[str], data: np.ndarray, lo: np.ndarray, hi: np.ndarray,
               where: str) -> np.ndarray:
    ix = {c: i for i, c in enumerate(cols)}
    L = hi - lo

    def take(names):
        return data[:, [ix[c] for c in names]]

    if all(c in ix for c in ("xu", "yu", "zu")):
        return take(("xu", "yu", "zu"))
    if all(c in ix for c in ("xsu", "ysu", "zsu")):
        return lo + take(("xsu", "ysu", "zsu")) * L
    has_img = all(c in ix for c in ("ix", "iy", "iz"))
    if all(c in ix for c in ("x", "y", "z")):
        if not has_img:
            raise WrappedTrajectoryError(
                f"{where}: the dump has wrapped coordinates 'x y z' and no image flags; an MSD "
                "needs unwrapped positions. Dump 'xu yu zu' (as the study did) or add 'ix iy iz'.")
        return take(("x", "y", "z")) + take(("ix", "iy", "iz")) * L
    if all(c in ix for c in ("xs", "ys", "zs")):
        if not has_img:
            raise WrappedTrajectoryError(
                f"{where}: the dump has wrapped scaled coordinates 'xs ys zs' and no image "
                "flags; dump 'xu yu zu' or add 'ix iy iz'.")
        return lo + (take(("xs", "ys", "zs")) + take(("ix", "iy", "iz"))) * L
    raise ValueError(f"{where}: no position columns among {cols} "
                     "(expected xu yu zu, xsu ysu zsu, or x y z / xs ys zs with ix iy iz)")


def iter_lammps_dump(path: str | os.PathLike) -> Iterator[DumpFrame]:
    """Frames of a LAMMPS text dump (``dump custom``), one at a time.

    Raises
    ------
    ValueError
        on a malformed or triclinic frame (names file and step).
    WrappedTrajectoryError
        if the coordinates are wrapped and no image flags are present.
    """
    p = Path(path)
    with open(p, "rb") as f:
        while True:
            line = f.readline()
            if not line:
                return
            if not line.strip():
                continue
            if line.strip() != b"ITEM: TIMESTEP":
                raise ValueError(f"{p}: expected 'ITEM: TIMESTEP', got {line[:60]!r}")
            step = int(f.readline())
            where = f"{p} (step {step})"
            if f.readline().strip() != b"ITEM: NUMBER OF ATOMS":
                raise ValueError(f"{where}: expected 'ITEM: NUMBER OF ATOMS'")
            n = int(f.readline())
            box_hdr = f.readline().decode().split()
            if box_hdr[:3] != ["ITEM:", "BOX", "BOUNDS"]:
                raise ValueError(f"{where}: expected 'ITEM: BOX BOUNDS'")
            if any(t in box_hdr for t in ("xy", "xz", "yz")):
                raise ValueError(f"{where}: triclinic box; only orthogonal boxes are supported")
            bounds = np.array([f.readline().split()[:2] for _ in range(3)], dtype=float)
            atoms_hdr = f.readline().decode().split()
            if atoms_hdr[:2] != ["ITEM:", "ATOMS"]:
                raise ValueError(f"{where}: expected 'ITEM: ATOMS ...'")
            cols = atoms_hdr[2:]
            lines = list(islice(f, n))
            if len(lines) < n:
                raise ValueError(f"{where}: truncated frame ({len(lines)} of {n} atom lines)")
            data = np.array(b" ".join(lines).split(), dtype=np.float64)
            if data.size != n * len(cols):
                raise ValueError(f"{where}: expected {len(cols)} columns per atom line")
            data = data.reshape(n, len(cols))
            if "id" not in cols or "type" not in cols:
                raise ValueError(f"{where}: the dump needs 'id' and 'type' columns, has {cols}")
            order = np.argsort(data[:, cols.index("id")], kind="stable")
            data = data[order]
            lo, hi = bounds[:, 0], bounds[:, 1]
            yield DumpFrame(step=step, ids=data[:, cols.index("id")].astype(np.int64),
                            types=data[:, cols.index("type")].astype(np.int64),
                            positions_A=_positions(cols, data, lo, hi, where),
                            box_lo_A=lo, box_hi_A=hi)


def _frames(paths: Sequence, timestep_fs: float, type_symbols: dict, stride: int,
            max_frames: int | None):
    """Yield (time_ps, positions, numbers, cell) across consecutive restart dumps."""
    from ase.data import atomic_numbers

    ref = None
    t_offset = 0.0
    last_t, last_pos = None, None
    count = 0
    for k, path in enumerate(paths):
        first_of_file = True
        for fr in iter_lammps_dump(path):
            t = fr.step * timestep_fs * 1e-3 + t_offset
            if ref is None:
                try:
                    numbers = np.array([atomic_numbers[type_symbols[int(ty)]]
                                        for ty in fr.types])
                except KeyError as exc:
                    raise ValueError(f"{path}: LAMMPS type {exc} has no element in "
                                     f"type_symbols={type_symbols}") from None
                ref = (fr.ids, fr.types, numbers, np.diag(fr.box_hi_A - fr.box_lo_A))
            elif not (np.array_equal(fr.ids, ref[0]) and np.array_equal(fr.types, ref[1])):
                raise ValueError(f"{path} (step {fr.step}): atom ids/types differ from the "
                                 "first frame")
            if first_of_file and k > 0:
                # a restart: steps start again at 0 from the previous run's last frame
                t_offset = last_t - fr.step * timestep_fs * 1e-3
                t = last_t
                first_of_file = False
                if last_pos is not None and np.allclose(fr.positions_A, last_pos, atol=1e-4):
                    continue
                raise ValueError(f"{path}: first frame is not the previous dump's last frame; "
                                 "pass the restarts in order (each dump must start where the "
                                 "previous ended)")
            first_of_file = False
            last_t, last_pos = t, fr.positions_A
            if count % stride == 0:
                yield t, fr.positions_A, ref[2], ref[3]
            count += 1
            if max_frames is not None and count >= max_frames * stride:
                return


def _as_list(paths) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        return [Path(paths)]
    return [Path(p) for p in paths]


def _check_uniform(time_ps: np.ndarray, where) -> float:
    if time_ps.size < 2:
        return float("nan")
    dts = np.diff(time_ps)
    dt = float(np.median(dts))
    if not np.allclose(dts, dt, rtol=1e-6, atol=1e-9):
        raise ValueError(f"{where}: frames are not evenly spaced in time "
                         f"(intervals {np.unique(np.round(dts, 6))[:5]} ps); the MSD needs a "
                         "constant dump interval")
    return dt


def read_lammps_dump(paths, *, timestep_fs: float = 1.0,
                     type_symbols: dict | None = None, stride: int = 1,
                     max_frames: int | None = None) -> Trajectory:
    """Read one LAMMPS text dump, or consecutive restart dumps, into memory.

    Parameters
    ----------
    paths : a dump file, or a list of dumps of consecutive restarts in order
    timestep_fs : MD timestep in fs (the study: 1 fs, ``timestep 0.001`` in metal units)
    type_symbols : LAMMPS type -> element (default :data:`STUDY_TYPE_SYMBOLS`)
    stride : keep every ``stride``-th frame
    max_frames : stop after this many kept frames

    Returns
    -------
    Trajectory
        positions (n_frames, n_atoms, 3) float32, unwrapped, A; atoms in id order;
        ``timestep_ps`` = time between kept frames; ``info`` names the source files.
    """
    files = _as_list(paths)
    ts, pos = [], []
    numbers = cell = None
    for t, x, numbers, cell in _frames(files, timestep_fs, type_symbols or STUDY_TYPE_SYMBOLS,
                                       stride, max_frames):
        ts.append(t)
        pos.append(x.astype(np.float32))
    if not pos:
        raise ValueError(f"{files}: no frames")
    time_ps = np.asarray(ts)
    dt = _check_uniform(time_ps, files[0])
    return Trajectory(path=files[0], numbers=numbers, cell_A=cell, pbc=(True, True, True),
                      timestep_ps=dt, positions_A=np.stack(pos), time_ps=time_ps, unwrapped=True,
                      info={"source": [str(p) for p in files], "format": "lammps-dump",
                            "timestep_fs": timestep_fs})


def convert_lammps_dump(paths, out_dir: str | os.PathLike, *, timestep_fs: float = 1.0,
                        type_symbols: dict | None = None, stride: int = 1,
                        info: dict | None = None) -> Trajectory:
    """Stream a dump (or restart dumps) into a trajectory directory; return it opened.

    Reuses ``out_dir`` when it already holds a trajectory newer than every dump.
    Memory use is one frame at a time.
    """
    files = _as_list(paths)
    out = Path(out_dir)
    if (out / "meta.json").is_file() and (out / "time_ps.bin").is_file():
        newest = max(p.stat().st_mtime for p in files)
        if (out / "time_ps.bin").stat().st_mtime > newest:
            return open_trajectory(out)
    w = None
    try:
        for t, x, numbers, cell in _frames(files, timestep_fs,
                                           type_symbols or STUDY_TYPE_SYMBOLS, stride, None):
            if w is None:
                meta = {"source": [str(p) for p in files], "format": "lammps-dump",
                        "timestep_fs": timestep_fs, **(info or {})}
                # timestep_ps is fixed after the second frame; write a provisional header
                w = TrajectoryWriter(out, numbers, cell, timestep_ps=0.0, info=meta,
                                     n_frames=0)
            w.append(x, t)
    finally:
        if w is not None:
            w.close()
    if w is None:
        raise ValueError(f"{files}: no frames")
    traj = open_trajectory(out)
    dt = _check_uniform(traj.time_ps, files[0])
    TrajectoryWriter(out, traj.numbers, traj.cell_A, timestep_ps=dt, info=traj.info).close()
    return open_trajectory(out)
