"""Streaming trajectory files: unwrapped Cartesian positions (A) on disk, read lazily.

The MD runner (:mod:`lidiff_helpers.simulation.md`) writes, and the diffusion analysis
(:mod:`lidiff_helpers.analysis.diffusion`) reads, one format: a directory holding

``meta.json``
    ``numbers`` (atomic numbers), ``cell_A`` (3x3, A), ``pbc``, ``timestep_ps`` (time
    between *saved* frames, ps), ``n_atoms``, ``dtype`` (``float32``), ``unwrapped``
    (always ``true`` for files written here) and free-form ``info``.
``positions.bin``
    raw little-endian float32, shape (n_frames, n_atoms, 3), unwrapped positions in A,
    appended frame by frame.
``time_ps.bin``
    raw little-endian float64, shape (n_frames,), simulated time of each frame in ps.

Why not ``.traj``/extxyz: a paper-scale run (90 000 frames x 1001 atoms, 1.1 GB float32)
must be appendable in chunks, truncatable to the last checkpoint on resume, and readable
as a ``numpy.memmap`` so that the FFT MSD can stream over atoms without loading it whole.

The number of frames is the length of ``time_ps.bin``; ``positions.bin`` is trimmed to
match on open, so a writer killed mid-frame leaves a readable file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["TrajectoryWriter", "Trajectory", "open_trajectory", "is_trajectory"]

_META = "meta.json"
_POS = "positions.bin"
_TIME = "time_ps.bin"
_POS_DTYPE = np.dtype("<f4")
_TIME_DTYPE = np.dtype("<f8")


def is_trajectory(path: str | os.PathLike) -> bool:
    """True if ``path`` is a directory in this module's trajectory format."""
    p = Path(path)
    return p.is_dir() and (p / _META).is_file() and (p / _POS).exists()


@dataclass(frozen=True)
class Trajectory:
    """A read-only view of a trajectory directory.

    Attributes
    ----------
    path : Path
    numbers : np.ndarray  (n_atoms,) atomic numbers
    cell_A : np.ndarray  (3, 3) cell vectors in A
    timestep_ps : float  time between saved frames in ps
    positions_A : np.memmap  (n_frames, n_atoms, 3) unwrapped positions in A (float32)
    time_ps : np.ndarray  (n_frames,) frame times in ps
    info : dict  free-form metadata written by the producer (model, temperature, ...)
    """

    path: Path
    numbers: np.ndarray
    cell_A: np.ndarray
    pbc: tuple
    timestep_ps: float
    positions_A: np.ndarray
    time_ps: np.ndarray
    unwrapped: bool
    info: dict

    @property
    def n_frames(self) -> int:
        return int(self.time_ps.shape[0])

    @property
    def n_atoms(self) -> int:
        return int(self.numbers.shape[0])

    def atoms(self, frame: int = -1):
        """Frame ``frame`` as an ASE ``Atoms`` (positions unwrapped, not wrapped into the cell)."""
        from ase import Atoms

        return Atoms(numbers=self.numbers, positions=np.asarray(self.positions_A[frame], float),
                     cell=self.cell_A, pbc=self.pbc)


def _read_meta(path: Path) -> dict:
    try:
        return json.loads((path / _META).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path / _META}: not a readable lidiff trajectory header ({exc})") from exc


def open_trajectory(path: str | os.PathLike) -> Trajectory:
    """Open a trajectory directory lazily (positions are a ``numpy.memmap``).

    Raises
    ------
    FileNotFoundError
        if ``path`` is not a trajectory directory.
    """
    p = Path(path)
    if not is_trajectory(p):
        raise FileNotFoundError(f"{p}: not a lidiff trajectory (expected {_META} and {_POS} inside)")
    meta = _read_meta(p)
    n_atoms = int(meta["n_atoms"])
    t_bytes = (p / _TIME).stat().st_size if (p / _TIME).exists() else 0
    n_t = t_bytes // _TIME_DTYPE.itemsize
    frame_bytes = n_atoms * 3 * _POS_DTYPE.itemsize
    n_pos = (p / _POS).stat().st_size // frame_bytes
    n = int(min(n_t, n_pos))
    time_ps = (np.fromfile(p / _TIME, dtype=_TIME_DTYPE, count=n) if n else np.zeros(0))
    if n:
        pos = np.memmap(p / _POS, dtype=_POS_DTYPE, mode="r", shape=(n, n_atoms, 3))
    else:
        pos = np.zeros((0, n_atoms, 3), dtype=_POS_DTYPE)
    return Trajectory(path=p, numbers=np.asarray(meta["numbers"], dtype=int),
                      cell_A=np.asarray(meta["cell_A"], dtype=float),
                      pbc=tuple(bool(x) for x in meta.get("pbc", (True, True, True))),
                      timestep_ps=float(meta["timestep_ps"]), positions_A=pos, time_ps=time_ps,
                      unwrapped=bool(meta.get("unwrapped", True)), info=dict(meta.get("info", {})))


class TrajectoryWriter:
    """Append-only writer for the trajectory directory format.

    Parameters
    ----------
    path : directory to create or append to
    numbers : atomic numbers (n_atoms,)
    cell_A : (3, 3) cell in A
    timestep_ps : time between saved frames in ps
    pbc : periodic flags
    info : metadata stored in ``meta.json``
    n_frames : if given, truncate an existing trajectory to this many frames first
        (used on resume so frames written after the last checkpoint are dropped, never
        duplicated).
    """

    def __init__(self, path: str | os.PathLike, numbers, cell_A, timestep_ps: float,
                 pbc=(True, True, True), info: dict | None = None, n_frames: int | None = None):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.n_atoms = int(len(numbers))
        meta = {"format": "lidiff-trajectory-1", "numbers": [int(z) for z in numbers],
                "n_atoms": self.n_atoms, "cell_A": np.asarray(cell_A, float).tolist(),
                "pbc": [bool(x) for x in pbc], "timestep_ps": float(timestep_ps),
                "dtype": "float32", "unwrapped": True, "info": info or {}}
        if (self.path / _META).exists():
            old = _read_meta(self.path)
            if old["numbers"] != meta["numbers"]:
                raise ValueError(f"{self.path}: existing trajectory has different atoms; "
                                 "refusing to append (move it away or pick another run name)")
        (self.path / _META).write_text(json.dumps(meta, indent=1))
        for name in (_POS, _TIME):
            (self.path / name).touch()
        current = open_trajectory(self.path).n_frames
        keep = current if n_frames is None else min(int(n_frames), current)
        self._truncate(keep)
        self.n_frames = keep
        self._fpos = open(self.path / _POS, "ab")
        self._ftime = open(self.path / _TIME, "ab")

    def _truncate(self, n: int) -> None:
        frame_bytes = self.n_atoms * 3 * _POS_DTYPE.itemsize
        with open(self.path / _POS, "r+b") as f:
            f.truncate(n * frame_bytes)
        with open(self.path / _TIME, "r+b") as f:
            f.truncate(n * _TIME_DTYPE.itemsize)

    def append(self, positions_A, time_ps: float) -> None:
        """Append one frame of unwrapped positions (A) at time ``time_ps`` (ps)."""
        pos = np.ascontiguousarray(positions_A, dtype=_POS_DTYPE)
        if pos.shape != (self.n_atoms, 3):
            raise ValueError(f"{self.path}: frame has shape {pos.shape}, expected ({self.n_atoms}, 3)")
        self._fpos.write(pos.tobytes())
        self._ftime.write(np.asarray([time_ps], dtype=_TIME_DTYPE).tobytes())
        self.n_frames += 1

    def flush(self) -> None:
        """Flush to disk (call at checkpoints)."""
        for f in (self._fpos, self._ftime):
            f.flush()
            os.fsync(f.fileno())

    def close(self) -> None:
        if not self._fpos.closed:
            self.flush()
            self._fpos.close()
            self._ftime.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
