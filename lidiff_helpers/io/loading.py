"""Trajectory input dispatch and the MD manifest: any supported input as a Trajectory.

:func:`load_trajectory` turns a positions array, a lidiff trajectory directory
(:mod:`lidiff_helpers.io.trajectory`), a LAMMPS text dump or a list of restart dumps
(:mod:`lidiff_helpers.io.lammps_dump`), or any file ASE reads into one
:class:`~lidiff_helpers.io.trajectory.Trajectory`. It only *reads*: whether the positions
are unwrapped and long enough is checked by the analysis
(:mod:`lidiff_helpers.analysis.diffusion`). :func:`read_manifest` reads the MD notebook's
list of runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from lidiff_helpers.core.deprecation import renamed_keyword
from lidiff_helpers.core.errors import InputError, ParameterError, TrajectoryError
from lidiff_helpers.io import lammps_dump
from lidiff_helpers.io.trajectory import Trajectory, is_trajectory, open_trajectory

__all__ = ["MANIFEST_KEYS", "load_trajectory", "read_manifest", "species_number"]

#: keys every manifest entry must have
MANIFEST_KEYS = ("model", "temperature_K", "replica", "trajectory", "status", "purpose")


def _frame_interval(frame_interval_ps, where: str) -> float:
    if frame_interval_ps is None:
        raise ParameterError(f"{where} carries no reliable frame interval; pass "
                             "frame_interval_ps (time between frames, ps)")
    dt = float(frame_interval_ps)
    if not (np.isfinite(dt) and dt > 0):
        raise ParameterError(f"{where}: frame_interval_ps must be a positive time in ps, "
                             f"got {frame_interval_ps!r}")
    return dt


def _from_array(source: np.ndarray, frame_interval_ps, numbers, cell_A) -> Trajectory:
    dt = _frame_interval(frame_interval_ps, "an array input")
    if source.ndim != 3 or source.shape[2] != 3:
        raise ParameterError(f"positions must be (n_frames, n_atoms, 3), got {source.shape}")
    nat = source.shape[1]
    nums = np.zeros(nat, dtype=int) if numbers is None else np.asarray(numbers, dtype=int)
    if nums.shape != (nat,):
        raise ParameterError(f"numbers has {nums.size} entries for {nat} atoms")
    cell = np.zeros((3, 3)) if cell_A is None else np.asarray(cell_A, dtype=float)
    return Trajectory(path=None, numbers=nums, cell_A=cell, pbc=(cell_A is not None,) * 3,
                      frame_interval_ps=dt, positions_A=source,
                      time_ps=np.arange(source.shape[0]) * dt, unwrapped=True, info={})


def _from_ase(p: Path, frame_interval_ps) -> Trajectory:
    import ase.io

    dt = _frame_interval(frame_interval_ps, f"{p}: an ASE-readable file")
    try:
        frames = ase.io.read(p, index=":")
    except Exception as exc:  # ASE raises many kinds for unknown or corrupt files
        raise TrajectoryError(f"{p}: not a lidiff trajectory, LAMMPS dump or file ASE can "
                              f"read ({type(exc).__name__}: {exc})") from exc
    pos = np.stack([a.get_positions() for a in frames])
    a0 = frames[0]
    return Trajectory(path=p, numbers=a0.get_atomic_numbers(), cell_A=np.asarray(a0.cell[:]),
                      pbc=tuple(bool(x) for x in a0.pbc), frame_interval_ps=dt,
                      positions_A=pos, time_ps=np.arange(len(frames)) * dt,
                      unwrapped=False, info=dict(a0.info))


@renamed_keyword("timestep_ps", "frame_interval_ps")
def load_trajectory(source, *, frame_interval_ps: float | None = None, numbers=None,
                    cell_A=None, lammps_timestep_fs: float | None = None,
                    lammps_type_symbols: dict | None = None) -> Trajectory:
    """Any supported input as a :class:`lidiff_helpers.io.trajectory.Trajectory`.

    Parameters
    ----------
    source
        a :class:`Trajectory`; an array (n_frames, n_atoms, 3) of unwrapped positions in A
        (then ``frame_interval_ps`` is required); a lidiff trajectory directory; a LAMMPS
        text dump (or a list of dumps of consecutive restarts, see
        :func:`lidiff_helpers.io.lammps_dump.read_lammps_dump`; then
        ``lammps_timestep_fs`` is required); or any file ASE can read (then
        ``frame_interval_ps`` is required).
    frame_interval_ps : time between frames in ps (arrays and ASE files); old name
        ``timestep_ps`` (deprecated).
    numbers : atomic numbers (n_atoms,) for arrays (default: none, every atom analysed).
    cell_A : (3, 3) cell in A for arrays (enables the strict unwrapping check).
    lammps_timestep_fs : MD timestep of a LAMMPS dump in fs (the study:
        :data:`lidiff_helpers.io.lammps_dump.STUDY_TIMESTEP_FS` = 1 fs).
    lammps_type_symbols : LAMMPS type -> element (default ``{1: "Li", 2: "F"}``).

    Raises
    ------
    FileNotFoundError
        for a path that does not exist.
    ParameterError, TrajectoryError
        for a missing or non-positive frame interval or timestep, or an unreadable file.
    """
    if isinstance(source, Trajectory):
        return source
    if isinstance(source, np.ndarray):
        return _from_array(source, frame_interval_ps, numbers, cell_A)
    if isinstance(source, (list, tuple)):
        bad = [type(x).__name__ for x in source if not isinstance(x, (str, os.PathLike))]
        if bad or not source:
            raise InputError(
                f"trajectory given as a {type(source).__name__} of "
                f"{', '.join(sorted(set(bad))) or 'nothing'}: a list or tuple must hold the "
                "paths of LAMMPS dumps of consecutive restarts. Give positions as one "
                "array (n_frames, n_atoms, 3) in A with frame_interval_ps=..., a "
                "Trajectory, a trajectory folder, a LAMMPS dump or a file ASE reads")
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
    return _from_ase(p, frame_interval_ps)


def species_number(species) -> int:
    """Atomic number of ``species`` (a symbol such as ``"Li"`` or an atomic number)."""
    if isinstance(species, (int, np.integer)):
        return int(species)
    from ase.data import atomic_numbers

    try:
        return atomic_numbers[str(species)]
    except KeyError:
        raise ParameterError(f"unknown species {species!r} (an element symbol such as 'Li' "
                             "or an atomic number)") from None


def read_manifest(path: str | os.PathLike, *, base_dir: str | os.PathLike | None = None,
                  only_done: bool = True) -> list[dict]:
    """Runs listed in an MD manifest (a JSON list), trajectory paths made absolute.

    Each entry has at least ``model`` (str), ``temperature_K`` (float), ``replica``
    (int), ``trajectory`` (path, absolute or relative to ``base_dir``; default the
    manifest's grandparent, the results folder of ``results/<tag>/md/manifest.json``),
    ``status`` and ``purpose`` (``arrhenius`` or ``comparison``). With ``only_done`` only
    ``status == "done"`` runs are returned.

    Raises
    ------
    InputError
        naming the manifest and the run for a malformed file or entry.
    """
    p = Path(path)
    try:
        entries = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{p}: not valid JSON ({exc})") from None
    if not isinstance(entries, list):
        raise InputError(f"{p}: expected a JSON list of runs")
    base = p.parent.parent if base_dir is None else Path(base_dir)
    out = []
    for i, e in enumerate(entries):
        missing = [k for k in MANIFEST_KEYS if k not in e]
        if missing:
            raise InputError(f"{p}: run {i} lacks {missing}")
        if only_done and e["status"] != "done":
            continue
        t = Path(e["trajectory"])
        out.append({**e, "trajectory": str(t if t.is_absolute() else base / t),
                    "temperature_K": float(e["temperature_K"]), "replica": int(e["replica"])})
    return out
