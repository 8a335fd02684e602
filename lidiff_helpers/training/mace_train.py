"""Running mace-torch's ``mace_run_train``: build arguments, run, resume, read outputs.

lidiff never re-implements training: every model (the embedded foundation model, the
fine-tuned sweeps, the active-learning committees) is trained by the pinned mace-torch
CLI. This module only

* writes extxyz training files with the keys mace expects (``REF_energy``,
  ``REF_forces``, ``REF_stress``),
* builds the argument list from a mapping (``{"max_num_epochs": 5}`` ->
  ``--max_num_epochs=5``),
* runs it in a work directory with its log beside it, skipping a finished run and
  resuming an interrupted one (``--restart_latest``),
* finds the produced ``.model`` file,
* and re-exports the readers of what mace wrote (:mod:`lidiff_helpers.io.mace_logs`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lidiff_helpers.core.errors import TrainingError
from lidiff_helpers.io.mace_logs import mace_log_files, read_mace_results

__all__ = [
    "TrainingError",
    "budget_state",
    "budgeted_train",
    "build_args",
    "latest_checkpoint_epoch",
    "lsq_e0s",
    "mace_log_files",
    "mace_train_executable",
    "newest_epoch",
    "read_mace_results",
    "run_mace_train",
    "write_extxyz",
]


def mace_train_executable() -> str:
    """Path of ``mace_run_train`` in the current environment."""
    exe = Path(sys.executable).with_name("mace_run_train")
    return str(exe) if exe.exists() else (shutil.which("mace_run_train") or "mace_run_train")


def write_extxyz(frames: Iterable, path: str | os.PathLike,
                 info_keep: tuple = ("REF_energy", "REF_stress", "config_type", "config_weight",
                                     "config_energy_weight", "config_forces_weight",
                                     "config_stress_weight", "head")) -> Path:
    """Write frames as extxyz with only REF labels and mace's per-config keys."""
    import ase.io
    from ase import Atoms

    out = []
    for at in frames:
        new = Atoms(numbers=at.numbers, positions=at.positions, cell=at.cell, pbc=at.pbc)
        for k in info_keep:
            if k in at.info:
                v = at.info[k]
                new.info[k] = np.asarray(v, float).ravel() if k == "REF_stress" else v
        if "REF_forces" in at.arrays:
            new.arrays["REF_forces"] = np.asarray(at.arrays["REF_forces"], float)
        out.append(new)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ase.io.write(path, out, format="extxyz")
    return path


def lsq_e0s(frames: Iterable, energy_key: str = "REF_energy") -> dict[int, float]:
    """Per-element reference energies (eV) by least squares, E ~ sum_z n_z E0_z.

    Elements seen in too few frames get the minimum-norm solution of ``lstsq``.
    """
    frames = list(frames)
    zs = sorted({int(z) for at in frames for z in at.numbers})
    col = {z: i for i, z in enumerate(zs)}
    A = np.zeros((len(frames), len(zs)))
    for r, at in enumerate(frames):
        for z, n in zip(*np.unique(at.numbers, return_counts=True)):
            A[r, col[int(z)]] = n
    e = np.array([at.info[energy_key] for at in frames], float)
    sol = np.linalg.lstsq(A, e, rcond=None)[0]
    return {z: float(sol[col[z]]) for z in zs}


def build_args(options: Mapping[str, Any]) -> list[str]:
    """``{"name": "x", "ema": True, "E0s": {3: -1.0}}`` -> ``["--name=x", "--ema", ...]``.

    ``True`` becomes a bare flag for mace's store_true options listed in ``_FLAGS`` and
    ``=True`` otherwise; ``None``/``False`` flags are dropped; dicts are written as
    Python literals (mace parses ``--E0s`` with ``ast.literal_eval``).
    """
    args = []
    for k, v in options.items():
        if v is None:
            continue
        if isinstance(v, bool):
            if k in _FLAGS:
                if v:
                    args.append(f"--{k}")
                continue
            v = str(v)
        elif isinstance(v, Mapping):
            v = repr({kk: vv for kk, vv in v.items()})
        elif isinstance(v, (list, tuple)):
            v = repr(list(v))
        args.append(f"--{k}={v}")
    return args


#: mace_run_train options that are store_true flags (take no value)
_FLAGS = {"ema", "amsgrad", "swa", "stage_two", "restart_latest", "save_cpu", "pair_repulsion",
          "keep_checkpoints", "save_all_checkpoints", "dry_run", "lbfgs", "distributed",
          "compute_avg_num_neighbors_flag"}


def full_options(options: Mapping[str, Any], workdir: str | os.PathLike) -> dict[str, Any]:
    """``options`` as :func:`run_mace_train` passes them: ``--work_dir`` (the run folder)
    and ``--restart_latest`` (resume after interruption) added unless given."""
    opts = dict(options)
    opts.setdefault("work_dir", str(Path(workdir).resolve()))
    opts.setdefault("restart_latest", True)
    return opts


def command_line(options: Mapping[str, Any], workdir: str | os.PathLike) -> str:
    """The ``mace_run_train ...`` command :func:`run_mace_train` runs in ``workdir``
    (shell-quoted, executable by name)."""
    import shlex

    return shlex.join(["mace_run_train", *build_args(full_options(options, workdir))])


def run_mace_train(options: Mapping[str, Any], workdir: str | os.PathLike, *,
                   threads: int | None = None, log_name: str = "train.log",
                   progress: bool = True, cpu_budget_s: float | None = None) -> Path:
    """Run ``mace_run_train`` with ``options`` in ``workdir``; return the model path.

    A finished run (``<name>.model`` present and ``options.json`` identical) is skipped;
    an interrupted one resumes from its latest checkpoint (``--restart_latest``).
    Different options in an existing ``workdir`` are refused (no silent overwrite).
    ``cpu_budget_s``: stop training when the run has used this much CPU time (s, summed
    over every session, :func:`budgeted_train`), then save the best checkpoint's model.

    Raises
    ------
    TrainingError
        if mace_run_train exits non-zero, quoting the end of its log.
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    opts = full_options(options, workdir)
    name = opts["name"]
    model = workdir / f"{name}.model"
    saved = workdir / "options.json"
    blob = json.loads(json.dumps(opts, default=str))
    if saved.exists():
        old = json.loads(saved.read_text())
        if old != blob:
            diff = sorted(k for k in set(old) | set(blob) if old.get(k) != blob.get(k))
            raise FileExistsError(f"{workdir}: holds a run with different options ({diff}); "
                                  "choose another folder or delete it")
        if model.exists():
            return model
    saved.write_text(json.dumps(blob, indent=1))
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
        env["MKL_NUM_THREADS"] = str(threads)
    cmd = [mace_train_executable(), *build_args(opts)]
    (workdir / "command.txt").write_text(" ".join(cmd) + "\n")
    log = workdir / log_name
    if cpu_budget_s is not None:
        return budgeted_train(cmd, workdir, model, log, env, cpu_budget_s, progress=progress)
    with open(log, "a") as f:
        f.write(f"\n# lidiff: {' '.join(cmd)}\n")
        f.flush()
        proc = subprocess.run(cmd, cwd=workdir, stdout=f, stderr=subprocess.STDOUT, env=env)
    _check_finished(proc.returncode, model, log, workdir)
    return model


def _check_finished(returncode: int, model: Path, log: Path, workdir: Path) -> None:
    if returncode != 0 or not model.exists():
        tail = "\n".join(log.read_text().splitlines()[-25:])
        raise TrainingError(f"mace_run_train failed in {workdir} (exit {returncode}); "
                            f"log {log}:\n{tail}")


# ----------------------------------------------------------------------------- CPU budget

#: the budget record of a run folder (:func:`budgeted_train`)
BUDGET_FILE = "budget.json"


def latest_checkpoint_epoch(workdir: str | os.PathLike) -> int | None:
    """Epoch of the newest checkpoint mace saved in ``workdir/checkpoints`` (mace saves one
    each time the validation loss improves), or None."""
    return newest_epoch(Path(workdir) / "checkpoints")


def newest_epoch(folder: str | os.PathLike) -> int | None:
    """Epoch of the newest mace checkpoint file (``*_epoch-N.pt``) in ``folder``, or None."""
    import re

    found = [int(m.group(1)) for p in Path(folder).glob("*.pt")
             if (m := re.search(r"_epoch-(\d+)\.pt$", p.name))]
    return max(found) if found else None


def _tree_cpu_s(proc) -> float:
    """CPU seconds (user + system) of a live process and its live children (psutil)."""
    import psutil

    total = 0.0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def budget_state(workdir: str | os.PathLike) -> dict:
    """The run's budget record: ``cpu_budget_s``, ``cpu_s_spent`` (every session),
    ``sessions`` (one entry each: CPU s, wall s, how it ended), ``stopped_by``
    (``budget`` | ``finished`` | None while running or interrupted)."""
    f = Path(workdir) / BUDGET_FILE
    return json.loads(f.read_text()) if f.is_file() else {}


def _write_state(workdir: Path, state: dict) -> None:
    tmp = workdir / (BUDGET_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(workdir / BUDGET_FILE)


def budgeted_train(cmd: list[str], workdir: Path, model: Path, log: Path, env: dict,
                   cpu_budget_s: float, poll_s: float = 5.0, progress: bool = True) -> Path:
    """Run the mace command until it finishes (early stopping or ``max_num_epochs``) or has
    used ``cpu_budget_s`` CPU seconds in all sessions, whichever comes first.

    The CPU time of the mace process tree is read every ``poll_s`` seconds and added to
    ``budget.json`` (so a killed session still counts what it used). When the budget is
    spent, mace is stopped and run once more with ``--max_num_epochs`` set to its newest
    checkpoint's epoch: it then only loads that checkpoint (the best validation loss so
    far, EMA weights), evaluates and saves ``model``. A rerun after the budget is spent
    does only that last step.
    """
    state = budget_state(workdir) or {"cpu_budget_s": float(cpu_budget_s), "cpu_s_spent": 0.0,
                                      "sessions": [], "stopped_by": None}
    for old in state["sessions"]:  # a session killed without cleanup (SIGKILL, SIGTERM)
        if old.get("ended") == "running":
            old["ended"] = "killed"
    if state["cpu_budget_s"] != float(cpu_budget_s):
        state["budget_changes"] = [*state.get("budget_changes", []), state["cpu_budget_s"]]
        state["cpu_budget_s"] = float(cpu_budget_s)
    if float(state["cpu_s_spent"]) < cpu_budget_s and state.get("stopped_by") != "finished":
        _train_session(cmd, workdir, model, log, env, state, poll_s, progress)
    else:
        state["stopped_by"] = state.get("stopped_by") or "budget"
        _write_state(workdir, state)
    if not model.exists():
        _save_newest_checkpoint(cmd, workdir, model, log, env, state)
    return model


def _train_session(cmd: list[str], workdir: Path, model: Path, log: Path, env: dict,
                   state: dict, poll_s: float, progress: bool) -> None:
    """One session of :func:`budgeted_train`: mace runs until it ends or the budget is
    spent; ``state`` (and ``budget.json``) records the CPU time and how it ended."""
    import time

    import psutil

    budget, spent0 = float(state["cpu_budget_s"]), float(state["cpu_s_spent"])
    t0 = time.time()
    session = {"start": time.strftime("%Y-%m-%d %H:%M:%S"), "cpu_s": 0.0, "wall_s": 0.0,
               "ended": "running"}
    state["sessions"].append(session)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=round(budget), initial=round(spent0), unit="CPU-s",
                   desc=f"training {workdir.name}")
    with open(log, "a") as f:
        f.write(f"\n# lidiff (CPU budget {budget:.0f} s, {spent0:.0f} s spent): "
                f"{' '.join(cmd)}\n")
        f.flush()
        proc = subprocess.Popen(cmd, cwd=workdir, stdout=f, stderr=subprocess.STDOUT, env=env)
        ps, cpu = psutil.Process(proc.pid), 0.0
        try:
            while proc.poll() is None:
                time.sleep(poll_s)
                cpu = max(cpu, _tree_cpu_s(ps))
                session.update(cpu_s=round(cpu, 1), wall_s=round(time.time() - t0, 1))
                state["cpu_s_spent"] = round(spent0 + cpu, 1)
                _write_state(workdir, state)
                if bar is not None:
                    bar.n = min(round(spent0 + cpu), bar.total)
                    bar.refresh()
                if spent0 + cpu >= budget:
                    _stop(proc)
                    session["ended"] = "budget"
                    break
        finally:
            if proc.poll() is None:
                _stop(proc)
                session["ended"] = "interrupted"
                _write_state(workdir, state)
            if bar is not None:
                bar.close()
    session["wall_s"] = round(time.time() - t0, 1)
    if session["ended"] == "running":
        session["ended"] = "finished" if proc.returncode == 0 else f"exit {proc.returncode}"
    state["stopped_by"] = {"finished": "finished", "budget": "budget"}.get(session["ended"])
    _write_state(workdir, state)
    if session["ended"].startswith("exit"):
        _check_finished(proc.returncode, model, log, workdir)


def _stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _save_newest_checkpoint(cmd: list[str], workdir: Path, model: Path, log: Path,
                            env: dict, state: dict) -> None:
    """Budget spent: rerun mace with ``--max_num_epochs`` = the newest checkpoint's epoch,
    which loads that checkpoint, evaluates it and saves ``model``."""
    epoch = latest_checkpoint_epoch(workdir)
    if epoch is None:
        raise TrainingError(f"{workdir}: the CPU budget ({state['cpu_budget_s']:.0f} s) was "
                            "spent before mace saved a checkpoint; raise the budget")
    final = [a for a in cmd if not a.startswith("--max_num_epochs=")]
    final.append(f"--max_num_epochs={epoch}")
    with open(log, "a") as f:
        f.write(f"\n# lidiff: budget spent; saving the epoch-{epoch} checkpoint: "
                f"{' '.join(final)}\n")
        f.flush()
        proc = subprocess.run(final, cwd=workdir, stdout=f, stderr=subprocess.STDOUT, env=env)
    _check_finished(proc.returncode, model, log, workdir)
    state["final_epoch"] = epoch
    _write_state(workdir, state)
