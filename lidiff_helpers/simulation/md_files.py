"""The files of one MD run folder and who may write them.

``status.json`` (:func:`read_status`), ``thermo.csv`` (:func:`read_thermo`), ``run.json``
(:func:`check_definition`: a restart with other settings is refused), ``checkpoint.npz``
(:func:`save_checkpoint`, :func:`load_checkpoint`: a corrupt file raises
:class:`lidiff_helpers.core.errors.CheckpointError` naming it and how to start over) and
the owner of a running run (:func:`busy_reason`: another live process or Slurm job).
Used by the runner :mod:`lidiff_helpers.simulation.md` and the grid
:mod:`lidiff_helpers.simulation.md_grid`.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

import numpy as np

from lidiff_helpers.core.errors import CheckpointError, ParameterError
from lidiff_helpers.core.provenance import now_utc
from lidiff_helpers.simulation.md_definition import MUTABLE_FIELDS, MDRun

__all__ = ["now_utc", "write_json", "read_status", "read_thermo", "owner", "busy_reason",
           "check_definition", "save_checkpoint", "load_checkpoint"]


def write_json(path: Path, obj) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (a temporary file, then a rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    os.replace(tmp, path)


def read_status(folder: str | os.PathLike) -> dict | None:
    """The ``status.json`` of a run folder, or None if the run never started."""
    p = Path(folder) / "status.json"
    return json.loads(p.read_text()) if p.is_file() else None


def read_thermo(path: str | os.PathLike):
    """A run's thermo log as a pandas DataFrame (columns :data:`THERMO_COLUMNS`)."""
    import pandas as pd

    p = Path(path)
    if p.is_dir():
        p = p / "thermo.csv"
    return pd.read_csv(p)


def owner() -> dict:
    import socket

    job = os.environ.get("SLURM_JOB_ID")
    if job and os.environ.get("SLURM_ARRAY_TASK_ID"):
        job = f"{os.environ.get('SLURM_ARRAY_JOB_ID', job)}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return {"host": socket.gethostname(), "pid": os.getpid(), "slurm_job": job}


def busy_reason(status: dict | None, stale_s: float) -> str | None:
    """Why another live process seems to be running this run (None if none is)."""
    if not status or status.get("status") != "running" or "owner" not in status:
        return None
    me, other = owner(), status["owner"]
    if other.get("host") == me["host"]:
        if other.get("pid") == me["pid"]:
            return None
        try:
            os.kill(int(other["pid"]), 0)
        except ProcessLookupError:
            return None
        except (PermissionError, OSError):
            pass
        return f"process {other['pid']} on this host is still running it"
    if other.get("slurm_job") and other.get("slurm_job") == me["slurm_job"]:
        return None                                   # the same Slurm job, requeued
    updated = _dt.datetime.fromisoformat(status["updated_utc"])
    age = (_dt.datetime.now(_dt.timezone.utc) - updated).total_seconds()
    if age < stale_s:
        return (f"host {other.get('host')} (pid {other.get('pid')}, Slurm job "
                f"{other.get('slurm_job')}) updated it {age:.0f} s ago; it counts as dead "
                f"after {stale_s:.0f} s without an update")
    return None


def check_definition(folder: Path, run: MDRun) -> None:
    p = folder / "run.json"
    new = run.to_dict()
    if p.is_file():
        old = json.loads(p.read_text())
        diff = {k: (old.get(k), v) for k, v in new.items()
                if k not in MUTABLE_FIELDS and old.get(k) != v}
        if diff:
            txt = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in diff.items())
            raise ParameterError(f"MD run {run.name!r} in {folder} was started with other "
                                 "settings "
                             f"({txt}). Pick another name or delete the folder to start over.")
    write_json(p, new)


def save_checkpoint(folder: Path, state: dict) -> None:
    tmp = folder / "checkpoint.tmp.npz"
    np.savez(tmp, **state)
    os.replace(tmp, folder / "checkpoint.npz")


#: what a checkpoint must hold
_CHECKPOINT_KEYS = ("numbers", "positions", "momenta", "masses", "cell", "pbc", "eta",
                    "p_eta", "step", "n_frames", "thermo_bytes")


def load_checkpoint(folder: Path) -> dict | None:
    """The run's checkpoint, or None when there is none.

    Raises
    ------
    CheckpointError
        the file cannot be read or lacks keys (names it and how to start over).
    """
    p = folder / "checkpoint.npz"
    if not p.is_file():
        return None
    how = ("delete it to restart from the beginning of the run (run_md(..., restart=True) "
           "deletes the whole run folder)")
    try:
        with np.load(p, allow_pickle=False) as z:
            ckpt = {k: z[k] for k in z.files}
    except Exception as exc:  # noqa: BLE001 - zip, pickle and format errors alike
        raise CheckpointError(f"checkpoint {p} is corrupt ({type(exc).__name__}: {exc}); "
                              f"{how}") from exc
    missing = [k for k in _CHECKPOINT_KEYS if k not in ckpt]
    if missing:
        raise CheckpointError(f"checkpoint {p} lacks {missing} (corrupt or written by "
                              f"another program); {how}")
    return ckpt
