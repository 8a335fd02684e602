"""Streaming trajectory files: unwrapped Cartesian positions (A) on disk, read lazily.

The MD runner (:mod:`lidiff_helpers.simulation.md`) writes, and the diffusion analysis
(:mod:`lidiff_helpers.analysis.diffusion`) reads, one format: a directory holding

``meta.json``
    ``format`` (``lidiff-trajectory-2``), ``numbers`` (atomic numbers), ``n_atoms``,
    ``cell_A`` (3x3, A), ``pbc``, ``frame_interval_ps`` (time between *saved* frames, ps;
    called ``timestep_ps`` in format ``lidiff-trajectory-1``, which is still read),
    ``dtype`` (``float32``), ``unwrapped`` (always ``true`` for files written here) and
    free-form ``info``.
``positions.bin``
    raw little-endian float32, shape (n_frames, n_atoms, 3), unwrapped positions in A,
    appended frame by frame.
``time_ps.bin``
    raw little-endian float64, shape (n_frames,), simulated time of each frame in ps.

Why not ``.traj``/extxyz: a paper-scale run (90 000 frames x 1001 atoms, 1.1 GB float32)
must be appendable in chunks, truncatable to the last checkpoint on resume, and readable
as a ``numpy.memmap`` so that the FFT MSD can stream over atoms without loading it whole.

Validation
----------
:func:`open_trajectory` refuses a header that lacks a key, has an unknown ``format``, or
whose ``n_atoms`` disagrees with ``numbers`` (:class:`~lidiff_helpers.core.errors.
TrajectoryError`, naming the file and the problem).

An incomplete last frame (``positions.bin`` or ``time_ps.bin`` ends inside a frame, or one
holds more frames than the other) is what a writer killed mid-frame leaves, and what a
reader sees while an MD run is still appending. It is **reported, never dropped
silently**: by default the complete frames are returned with an
:class:`IncompleteFrameWarning` naming the file and frame, and the count is recorded in
:attr:`Trajectory.n_incomplete_frames`; with ``strict=True`` it is a
:class:`~lidiff_helpers.core.errors.TrajectoryError`. (A warning rather than an error by
default because resumable MD truncates to its last checkpoint anyway, and a run in
progress must stay readable.) :class:`TrajectoryWriter` repairs it on resume.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lidiff_helpers.core.deprecation import deprecated_attribute, renamed_keyword
from lidiff_helpers.core.errors import TrajectoryError

__all__ = [
    "FORMAT",
    "KNOWN_FORMATS",
    "IncompleteFrameWarning",
    "Trajectory",
    "TrajectoryWriter",
    "ensure_same_file",
    "is_trajectory",
    "open_trajectory",
]

#: format written by :class:`TrajectoryWriter`
FORMAT = "lidiff-trajectory-2"
#: formats :func:`open_trajectory` reads (1: frame interval stored as ``timestep_ps``)
KNOWN_FORMATS = ("lidiff-trajectory-1", FORMAT)
#: keys every header must have (besides the frame interval, under its name of the format)
HEADER_KEYS = ("format", "numbers", "n_atoms", "cell_A")

_META = "meta.json"
_POS = "positions.bin"
_TIME = "time_ps.bin"
_POS_DTYPE = np.dtype("<f4")
_TIME_DTYPE = np.dtype("<f8")


class IncompleteFrameWarning(UserWarning):
    """A trajectory ends inside a frame; the complete frames were read."""


def is_trajectory(path: str | os.PathLike) -> bool:
    """True if ``path`` is a directory in this module's trajectory format."""
    p = Path(path)
    return p.is_dir() and (p / _META).is_file() and (p / _POS).exists()


@dataclass(frozen=True)
class Trajectory:
    """A read-only view of a trajectory directory.

    Attributes
    ----------
    path : Path (None for in-memory arrays)
    numbers : np.ndarray  (n_atoms,) atomic numbers
    cell_A : np.ndarray  (3, 3) cell vectors in A
    pbc : tuple of 3 bool
    frame_interval_ps : float  time between saved frames in ps
    positions_A : np.memmap  (n_frames, n_atoms, 3) unwrapped positions in A (float32)
    time_ps : np.ndarray  (n_frames,) frame times in ps
    unwrapped : bool  whether the positions are unwrapped
    info : dict  free-form metadata written by the producer (model, temperature, ...)
    n_incomplete_frames : frames at the end left out because they were incomplete
    """

    path: Path | None
    numbers: np.ndarray
    cell_A: np.ndarray
    pbc: tuple
    frame_interval_ps: float
    positions_A: np.ndarray
    time_ps: np.ndarray
    unwrapped: bool
    info: dict
    n_incomplete_frames: int = 0

    timestep_ps = deprecated_attribute("timestep_ps", "frame_interval_ps")

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
    """The header of ``path``, validated (keys, format, n_atoms against numbers)."""
    f = path / _META
    try:
        meta = json.loads(f.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise TrajectoryError(f"{f}: not a readable lidiff trajectory header ({exc})") from exc
    if not isinstance(meta, dict):
        raise TrajectoryError(f"{f}: the header is not a JSON object")
    missing = [k for k in HEADER_KEYS if k not in meta]
    if missing:
        raise TrajectoryError(f"{f}: header lacks {missing} (a lidiff trajectory header has "
                              f"{list(HEADER_KEYS)} and frame_interval_ps)")
    if meta["format"] not in KNOWN_FORMATS:
        raise TrajectoryError(f"{f}: unknown format {meta['format']!r}; this version reads "
                              f"{list(KNOWN_FORMATS)}")
    key = "timestep_ps" if meta["format"] == "lidiff-trajectory-1" else "frame_interval_ps"
    if key not in meta:
        raise TrajectoryError(f"{f}: header lacks {key!r} (time between saved frames, ps)")
    try:
        numbers = [int(z) for z in meta["numbers"]]
        n_atoms = int(meta["n_atoms"])
        cell = np.asarray(meta["cell_A"], dtype=float).reshape(3, 3)
        dt = float(meta[key])
    except (TypeError, ValueError) as exc:
        raise TrajectoryError(f"{f}: malformed header value ({exc})") from None
    if n_atoms != len(numbers):
        raise TrajectoryError(f"{f}: n_atoms = {n_atoms} but numbers lists {len(numbers)} "
                              "atoms")
    return {**meta, "numbers": numbers, "n_atoms": n_atoms, "cell_A": cell,
            "frame_interval_ps": dt}


def _frame_counts(path: Path, n_atoms: int) -> tuple[int, int]:
    """(complete frames, frames with partial data beyond them) from the file sizes."""
    frame_bytes = n_atoms * 3 * _POS_DTYPE.itemsize
    pos_bytes = (path / _POS).stat().st_size if (path / _POS).exists() else 0
    t_bytes = (path / _TIME).stat().st_size if (path / _TIME).exists() else 0
    n = min(pos_bytes // frame_bytes, t_bytes // _TIME_DTYPE.itemsize) if frame_bytes else 0
    started = max(math.ceil(pos_bytes / frame_bytes) if frame_bytes else 0,
                  math.ceil(t_bytes / _TIME_DTYPE.itemsize))
    return int(n), int(started - n)


def open_trajectory(path: str | os.PathLike, *, strict: bool = False) -> Trajectory:
    """Open a trajectory directory lazily (positions are a ``numpy.memmap``).

    Parameters
    ----------
    path : the trajectory directory
    strict : an incomplete last frame is an error (default: a warning, see the module
        docstring)

    Raises
    ------
    FileNotFoundError
        if ``path`` is not a trajectory directory.
    TrajectoryError
        for a malformed header, or (``strict``) an incomplete last frame.
    """
    p = Path(path)
    if not is_trajectory(p):
        raise FileNotFoundError(f"{p}: not a lidiff trajectory (expected {_META} and {_POS} "
                                "inside)")
    meta = _read_meta(p)
    n_atoms = meta["n_atoms"]
    n, partial = _frame_counts(p, n_atoms)
    if partial:
        msg = (f"{p}: frame {n} is incomplete ({_POS} or {_TIME} ends inside it, or one "
               f"holds more frames than the other); {n} complete frames")
        if strict:
            raise TrajectoryError(msg)
        warnings.warn(msg + " read, the incomplete one left out", IncompleteFrameWarning,
                      stacklevel=2)
    time_ps = (np.fromfile(p / _TIME, dtype=_TIME_DTYPE, count=n) if n else np.zeros(0))
    if n:
        pos = np.memmap(p / _POS, dtype=_POS_DTYPE, mode="r", shape=(n, n_atoms, 3))
    else:
        pos = np.zeros((0, n_atoms, 3), dtype=_POS_DTYPE)
    return Trajectory(path=p, numbers=np.asarray(meta["numbers"], dtype=int),
                      cell_A=meta["cell_A"],
                      pbc=tuple(bool(x) for x in meta.get("pbc", (True, True, True))),
                      frame_interval_ps=meta["frame_interval_ps"], positions_A=pos,
                      time_ps=time_ps, unwrapped=bool(meta.get("unwrapped", True)),
                      info=dict(meta.get("info", {})), n_incomplete_frames=partial)


def ensure_same_file(f, error: type[Exception]) -> None:
    """Raise ``error`` if the open file ``f`` is no longer the file at its path (deleted
    or replaced, e.g. by ``git stash``/``git checkout`` while a run appends to it: what
    is written goes to a file nobody can read)."""
    try:
        same = os.path.samestat(os.fstat(f.fileno()), os.stat(f.name))
    except FileNotFoundError:
        same = False
    if not same:
        raise error(f"{f.name}: replaced or deleted while this run was writing to it (e.g. by "
                    "`git stash` or `git checkout`); the output since then is lost: stop "
                    "touching the run folder while it runs, then restart the run (it resumes "
                    "from its last checkpoint)")


class TrajectoryWriter:
    """Append-only writer for the trajectory directory format.

    Parameters
    ----------
    path : directory to create or append to
    numbers : atomic numbers (n_atoms,)
    cell_A : (3, 3) cell in A
    frame_interval_ps : time between saved frames in ps (old keyword: ``timestep_ps``,
        deprecated)
    pbc : periodic flags
    info : metadata stored in ``meta.json``
    n_frames : if given, truncate an existing trajectory to this many frames first
        (used on resume so frames written after the last checkpoint are dropped, never
        duplicated). An incomplete last frame is always dropped.
    """

    @renamed_keyword("timestep_ps", "frame_interval_ps")
    def __init__(self, path: str | os.PathLike, numbers, cell_A, frame_interval_ps: float,
                 pbc=(True, True, True), info: dict | None = None, n_frames: int | None = None):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.n_atoms = len(numbers)
        meta = {"format": FORMAT, "numbers": [int(z) for z in numbers],
                "n_atoms": self.n_atoms, "cell_A": np.asarray(cell_A, float).tolist(),
                "pbc": [bool(x) for x in pbc], "frame_interval_ps": float(frame_interval_ps),
                "dtype": "float32", "unwrapped": True, "info": info or {}}
        if (self.path / _META).exists():
            old = _read_meta(self.path)
            if old["numbers"] != meta["numbers"]:
                raise TrajectoryError(f"{self.path}: existing trajectory has different atoms; "
                                      "refusing to append (move it away or pick another run "
                                      "name)")
        (self.path / _META).write_text(json.dumps(meta, indent=1))
        for name in (_POS, _TIME):
            (self.path / name).touch()
        current, _ = _frame_counts(self.path, self.n_atoms)
        if n_frames is not None and current < int(n_frames):
            raise TrajectoryError(
                f"{self.path}: {current} complete frames on disk but the checkpoint was "
                f"written after frame {int(n_frames)}: the files were cut or replaced since "
                "(e.g. by `git stash` or `git checkout` while the run was writing); restore "
                "them or move the run folder away and start it afresh")
        keep = current if n_frames is None else int(n_frames)
        self._truncate(keep)
        self.n_frames = keep
        # absolute names: ensure_same_file compares them with the open files at checkpoints
        self._fpos = open((self.path / _POS).absolute(), "ab")  # noqa: SIM115 - closed by close()
        self._ftime = open((self.path / _TIME).absolute(), "ab")  # noqa: SIM115 - closed by close()

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
            raise TrajectoryError(f"{self.path}: frame {self.n_frames} has shape {pos.shape}, "
                                  f"expected ({self.n_atoms}, 3)")
        self._fpos.write(pos.tobytes())
        self._ftime.write(np.asarray([time_ps], dtype=_TIME_DTYPE).tobytes())
        self.n_frames += 1

    def flush(self) -> None:
        """Flush to disk (call at checkpoints). Raises :class:`TrajectoryError` when a
        file was replaced under the writer (its frames since then went to a deleted file),
        so that no checkpoint claims frames the directory does not hold."""
        for f in (self._fpos, self._ftime):
            f.flush()
            os.fsync(f.fileno())
            ensure_same_file(f, TrajectoryError)

    def close(self) -> None:
        if not self._fpos.closed:
            self.flush()
            self._fpos.close()
            self._ftime.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
