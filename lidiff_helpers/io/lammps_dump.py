"""Reader for LAMMPS text dumps as the study wrote them.

The study's MD inputs (``in.lammps`` of ``AlghamdiNada/Li_diffusion_with_MACE``) use
``units metal`` (timestep 0.001 ps = 1 fs, :data:`STUDY_TIMESTEP_FS`), ``pair_coeff * *
model.pt Li F`` (type 1 = Li, type 2 = F) and::

    dump myDump all custom 100 dump.lammpstrj id type xu yu zu

i.e. one frame every 100 steps = 0.1 ps with **unwrapped** Cartesian coordinates (A). A
9 ns run is a sequence of 300 ps restarts (``read_data ../<previous>/out.data``), each
with its own ``dump.lammpstrj`` starting again at step 0 with the previous run's last
frame; :func:`read_lammps_dump` concatenates such a list and drops the repeated frame.

A dump records step numbers, not times: the MD timestep is an argument
(``timestep_fs``, required; pass :data:`STUDY_TIMESTEP_FS` for the study's inputs) and
is recorded in the result's ``info``.

Coordinates are taken, in order of preference, from ``xu yu zu``, ``xsu ysu zsu``
(scaled unwrapped), or ``x y z`` / ``xs ys zs`` together with image flags ``ix iy iz``.
Wrapped coordinates without image flags are refused
(:class:`lidiff_helpers.core.errors.WrappedTrajectoryError`), never silently analysed.
Only orthogonal boxes are supported (the study's cells are cubic). Malformed step, box
or atom lines and non-finite coordinates are a
:class:`~lidiff_helpers.core.errors.TrajectoryError` naming the file, line and step.

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

from lidiff_helpers.core.errors import ParameterError, TrajectoryError, WrappedTrajectoryError
from lidiff_helpers.io.trajectory import Trajectory, TrajectoryWriter, open_trajectory

__all__ = [
    "STUDY_TIMESTEP_FS",
    "STUDY_TYPE_SYMBOLS",
    "DumpFrame",
    "convert_lammps_dump",
    "is_lammps_dump",
    "iter_lammps_dump",
    "read_lammps_dump",
]

#: LAMMPS atom types of the study's inputs (``pair_coeff * * ... Li F``)
STUDY_TYPE_SYMBOLS = {1: "Li", 2: "F"}
#: MD timestep of the study's inputs (``units metal``, ``timestep 0.001``), fs
STUDY_TIMESTEP_FS = 1.0


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
    raise TrajectoryError(f"{where}: no position columns among {cols} "
                          "(expected xu yu zu, xsu ysu zsu, or x y z / xs ys zs with ix iy iz)")


class _Lines:
    """A dump file read line by line, counting lines for error messages."""

    def __init__(self, f, path: Path):
        self.f, self.path, self.line, self.step = f, path, 0, None

    def where(self) -> str:
        step = "" if self.step is None else f", step {self.step}"
        return f"{self.path}, line {self.line}{step}"

    def next(self, what: str) -> bytes:
        raw = self.f.readline()
        self.line += 1
        if not raw:
            raise TrajectoryError(f"{self.where()}: file ends where {what} was expected "
                                  "(truncated dump)")
        return raw.strip()

    def expect(self, header: bytes) -> bytes:
        got = self.next(f"'{header.decode()}'")
        if not got.startswith(header):
            raise TrajectoryError(f"{self.where()}: expected '{header.decode()}', got "
                                  f"{got[:60]!r}")
        return got

    def integer(self, what: str) -> int:
        got = self.next(what)
        try:
            return int(got)
        except ValueError:
            raise TrajectoryError(f"{self.where()}: malformed {what} line {got[:60]!r} "
                                  "(expected one integer)") from None


def _read_box(lines: _Lines) -> tuple[np.ndarray, np.ndarray]:
    hdr = lines.expect(b"ITEM: BOX BOUNDS").decode().split()
    if any(t in hdr for t in ("xy", "xz", "yz")):
        raise TrajectoryError(f"{lines.where()}: triclinic box; only orthogonal boxes are "
                              "supported")
    bounds = np.empty((3, 2))
    for ax in range(3):
        got = lines.next("a box bounds line")
        try:
            bounds[ax] = [float(v) for v in got.split()[:2]]
            ok = len(got.split()) >= 2 and np.all(np.isfinite(bounds[ax])) \
                and bounds[ax, 1] > bounds[ax, 0]
        except ValueError:
            ok = False
        if not ok:
            raise TrajectoryError(f"{lines.where()}: malformed box bounds line {got[:60]!r} "
                                  f"for {'xyz'[ax]} (expected 'lo hi' with lo < hi, A)")
    return bounds[:, 0], bounds[:, 1]


def _bad_atom_line(lines: _Lines, raw: list[bytes], first: int, cols: list[str]):
    """The error for the first atom line that is not ``len(cols)`` numbers."""
    for i, got in enumerate(raw):
        try:
            ok = len([float(v) for v in got.split()]) == len(cols)
        except ValueError:
            ok = False
        if not ok:
            return TrajectoryError(f"{lines.path}, line {first + i}, step {lines.step}: "
                                   f"malformed atom line {got.strip()[:60]!r} (expected "
                                   f"{len(cols)} numbers: {' '.join(cols)})")
    return TrajectoryError(f"{lines.where()}: malformed atom lines")


def _read_atoms(lines: _Lines, n: int) -> tuple[list[str], np.ndarray]:
    cols = lines.expect(b"ITEM: ATOMS").decode().split()[2:]
    if "id" not in cols or "type" not in cols:
        raise TrajectoryError(f"{lines.where()}: the dump needs 'id' and 'type' columns, "
                              f"has {cols}")
    first = lines.line + 1
    raw = list(islice(lines.f, n))
    lines.line += len(raw)
    if len(raw) < n:
        raise TrajectoryError(f"{lines.where()}: truncated frame ({len(raw)} of {n} atom "
                              "lines)")
    try:
        data = np.array(b" ".join(raw).split(), dtype=np.float64)
    except ValueError:
        data = None
    if data is None or data.size != n * len(cols):
        raise _bad_atom_line(lines, raw, first, cols)
    data = data.reshape(n, len(cols))
    bad = np.flatnonzero(~np.isfinite(data).all(axis=1))
    if bad.size:
        raise TrajectoryError(f"{lines.path}, line {first + int(bad[0])}, step {lines.step}: "
                              f"non-finite value (NaN or inf) in an atom line "
                              f"({bad.size} such atoms in this frame): the MD run diverged "
                              "or the dump is corrupt")
    return cols, data


def iter_lammps_dump(path: str | os.PathLike) -> Iterator[DumpFrame]:
    """Frames of a LAMMPS text dump (``dump custom``), one at a time.

    Raises
    ------
    TrajectoryError
        on a malformed, truncated or triclinic frame, or non-finite coordinates (names
        file, line and step).
    WrappedTrajectoryError
        if the coordinates are wrapped and no image flags are present.
    """
    p = Path(path)
    with open(p, "rb") as f:
        lines = _Lines(f, p)
        while True:
            raw = f.readline()
            lines.line += 1
            if not raw:
                return
            if not raw.strip():
                continue
            if raw.strip() != b"ITEM: TIMESTEP":
                raise TrajectoryError(f"{lines.where()}: expected 'ITEM: TIMESTEP', got "
                                      f"{raw[:60]!r}")
            lines.step = None
            lines.step = lines.integer("step")
            lines.expect(b"ITEM: NUMBER OF ATOMS")
            n = lines.integer("number of atoms")
            lo, hi = _read_box(lines)
            cols, data = _read_atoms(lines, n)
            data = data[np.argsort(data[:, cols.index("id")], kind="stable")]
            yield DumpFrame(step=lines.step, ids=data[:, cols.index("id")].astype(np.int64),
                            types=data[:, cols.index("type")].astype(np.int64),
                            positions_A=_positions(cols, data, lo, hi,
                                                   f"{p} (step {lines.step})"),
                            box_lo_A=lo, box_hi_A=hi)


def _numbers(path, types: np.ndarray, type_symbols: dict) -> np.ndarray:
    from ase.data import atomic_numbers

    try:
        return np.array([atomic_numbers[type_symbols[int(ty)]] for ty in types])
    except KeyError as exc:
        raise TrajectoryError(f"{path}: LAMMPS type {exc} has no element in "
                              f"type_symbols={type_symbols}") from None


def _frames(paths: Sequence, timestep_fs: float, type_symbols: dict, stride: int,
            max_frames: int | None):
    """Yield (time_ps, positions, numbers, cell) across consecutive restart dumps."""
    ref = None
    t_offset = 0.0
    last_t, last_pos = None, None
    count = 0
    for k, path in enumerate(paths):
        first_of_file = True
        for fr in iter_lammps_dump(path):
            t = fr.step * timestep_fs * 1e-3 + t_offset
            if ref is None:
                ref = (fr.ids, fr.types, _numbers(path, fr.types, type_symbols),
                       np.diag(fr.box_hi_A - fr.box_lo_A))
            elif not (np.array_equal(fr.ids, ref[0]) and np.array_equal(fr.types, ref[1])):
                raise TrajectoryError(f"{path} (step {fr.step}): atom ids/types differ from "
                                      "the first frame")
            if first_of_file and k > 0:
                # a restart: steps start again at 0 from the previous run's last frame
                t_offset = last_t - fr.step * timestep_fs * 1e-3
                t = last_t
                first_of_file = False
                if last_pos is not None and np.allclose(fr.positions_A, last_pos, atol=1e-4):
                    continue
                raise TrajectoryError(f"{path}: first frame is not the previous dump's last "
                                      "frame; pass the restarts in order (each dump must start "
                                      "where the previous ended)")
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


def _check_timestep(timestep_fs, files) -> float:
    if timestep_fs is None:
        raise ParameterError(f"{files[0]}: a LAMMPS dump records step numbers, not times; "
                             "pass timestep_fs (the MD timestep in fs; the study's inputs: "
                             f"STUDY_TIMESTEP_FS = {STUDY_TIMESTEP_FS:g} fs)")
    ts = float(timestep_fs)
    if not (np.isfinite(ts) and ts > 0):
        raise ParameterError(f"{files[0]}: timestep_fs must be a positive number of fs, got "
                             f"{timestep_fs!r}")
    return ts


def _check_uniform(time_ps: np.ndarray, where) -> float:
    if time_ps.size < 2:
        raise TrajectoryError(f"{where}: {time_ps.size} frame(s); a frame interval (and an "
                              "MSD) needs at least 2")
    dts = np.diff(time_ps)
    dt = float(np.median(dts))
    if not np.allclose(dts, dt, rtol=1e-6, atol=1e-9):
        raise TrajectoryError(f"{where}: frames are not evenly spaced in time "
                              f"(intervals {np.unique(np.round(dts, 6))[:5]} ps); the MSD "
                              "needs a constant dump interval")
    return dt


def read_lammps_dump(paths, *, timestep_fs: float | None = None,
                     type_symbols: dict | None = None, stride: int = 1,
                     max_frames: int | None = None) -> Trajectory:
    """Read one LAMMPS text dump, or consecutive restart dumps, into memory.

    Parameters
    ----------
    paths : a dump file, or a list of dumps of consecutive restarts in order
    timestep_fs : MD timestep in fs, required (the study: :data:`STUDY_TIMESTEP_FS`,
        ``timestep 0.001`` in metal units); recorded in ``info``
    type_symbols : LAMMPS type -> element (default :data:`STUDY_TYPE_SYMBOLS`)
    stride : keep every ``stride``-th frame
    max_frames : stop after this many kept frames

    Returns
    -------
    Trajectory
        positions (n_frames, n_atoms, 3) float32, unwrapped, A; atoms in id order;
        ``frame_interval_ps`` = time between kept frames; ``info`` names the source
        files and ``timestep_fs``.
    """
    files = _as_list(paths)
    ts_fs = _check_timestep(timestep_fs, files)
    ts, pos = [], []
    numbers = cell = None
    for t, x, numbers, cell in _frames(files, ts_fs, type_symbols or STUDY_TYPE_SYMBOLS,
                                       stride, max_frames):
        ts.append(t)
        pos.append(x.astype(np.float32))
    if not pos:
        raise TrajectoryError(f"{files}: no frames")
    time_ps = np.asarray(ts)
    dt = _check_uniform(time_ps, files[0])
    return Trajectory(path=files[0], numbers=numbers, cell_A=cell, pbc=(True, True, True),
                      frame_interval_ps=dt, positions_A=np.stack(pos), time_ps=time_ps,
                      unwrapped=True, info={"source": [str(p) for p in files],
                                            "format": "lammps-dump", "timestep_fs": ts_fs})


def convert_lammps_dump(paths, out_dir: str | os.PathLike, *, timestep_fs: float | None = None,
                        type_symbols: dict | None = None, stride: int = 1,
                        info: dict | None = None) -> Trajectory:
    """Stream a dump (or restart dumps) into a trajectory directory; return it opened.

    ``timestep_fs`` is required, as for :func:`read_lammps_dump`. Reuses ``out_dir`` when
    it already holds a trajectory newer than every dump. Memory use is one frame at a time.
    """
    files = _as_list(paths)
    ts_fs = _check_timestep(timestep_fs, files)
    out = Path(out_dir)
    if (out / "meta.json").is_file() and (out / "time_ps.bin").is_file():
        newest = max(p.stat().st_mtime for p in files)
        if (out / "time_ps.bin").stat().st_mtime > newest:
            return open_trajectory(out)
    w = None
    times = []
    meta = {"source": [str(p) for p in files], "format": "lammps-dump",
            "timestep_fs": ts_fs, **(info or {})}
    try:
        for t, x, numbers, cell in _frames(files, ts_fs, type_symbols or STUDY_TYPE_SYMBOLS,
                                           stride, None):
            if w is None:
                # the frame interval is known at the end; a provisional header until then
                w = TrajectoryWriter(out, numbers, cell, 0.0, info=meta, n_frames=0)
            w.append(x, t)
            times.append(t)
    finally:
        if w is not None:
            w.close()
    if w is None:
        raise TrajectoryError(f"{files}: no frames")
    dt = _check_uniform(np.asarray(times), files[0])
    TrajectoryWriter(out, numbers, cell, dt, info=meta).close()
    return open_trajectory(out)
