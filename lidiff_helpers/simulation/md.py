"""NVT molecular dynamics of interstitial Li in LiF: resumable, guarded production runs.

The study's diffusivities (its Eq. 2, MSD = 6 D t, and the Arrhenius law of Eq. 3) come
from long NVT runs: one interstitial Li in 5x5x5 LiF (1001 atoms), Nose-Hoover thermostat
with 0.1 ps damping, 1 fs timestep, coordinates saved unwrapped every 100 steps. Here a
run is an :class:`MDRun` (model, starting structure, temperature, replica seed, lengths)
and :func:`run_md` integrates it with ASE's Nose-Hoover chain (``NoseHooverChainNVT``,
Martyna-Klein-Tuckerman, 3 thermostats, as LAMMPS ``fix nvt``), writing into
``<md_dir>/<run name>/``:

``trajectory/``  unwrapped positions every ``save_every`` steps of production
                 (:mod:`lidiff_helpers.io.trajectory`; time 0 = start of production)
``thermo.csv``   one line per saved step: ``step, phase, time_ps`` (since the start of
                 production, negative while equilibrating), ``temperature_K``,
                 ``potential_energy_eV``, ``kinetic_energy_eV``, ``conserved_energy_eV``
                 (potential + kinetic + thermostat energy), ``drift_eV_per_atom``
                 (conserved energy minus its value at step 0, per atom), ``min_distance_A``
``checkpoint.npz`` positions, momenta, masses, cell, the thermostat's chain variables,
                 the step, the number of frames and thermo bytes written
``status.json``  status (``running``, ``done``, ``failed``), failure, throughput, provenance
``run.json``     the run's definition (a restart with other settings is refused)

Unwrapped coordinates: ASE's integrator keeps positions unwrapped as long as nobody calls
``atoms.wrap()``; nothing here does, and MACE and EMT evaluate unwrapped positions
correctly (tested), so the trajectory is continuous across the periodic boundary.

Resume. A checkpoint is written at a saved step every ``checkpoint_every_s`` of wall time
(and at the end of equilibration and of the run), after flushing the trajectory and the
thermo log. Starting a run again loads the checkpoint, truncates trajectory and thermo log
to it and continues: no missing and no duplicated frames, the thermostat's chain state
restored, and (for a deterministic calculator) a trajectory bitwise identical to an
uninterrupted one. A finished run (``done``, or ``failed``) is skipped; asking for a
longer ``production_ps`` extends a finished run from its last checkpoint, like the
study's chained 300 ps LAMMPS segments. A run that another live process is running
(same host: its pid is alive; another host: its status was updated recently by another
Slurm job) is refused rather than started twice.

Guard (:class:`GuardSettings`). Every step: forces and energy finite (check
``non_finite``), instantaneous temperature below ``max_temperature_factor`` x target and,
after ``grace_ps``, above target / factor (``temperature``). Every saved step: smallest
interatomic distance (``min_distance``) and conserved-energy drift per atom
(``energy_drift``). An exception from the calculator is a failure too
(``calculator_error``). A failing run stops with :class:`MDGuardError` naming the run,
check, step and value; its trajectory up to the last good frame is kept (bad frames are
never written), the offending configuration goes to ``failure.extxyz`` and the run is
marked ``failed``. Only ``KeyboardInterrupt``/kills leave a run resumable.

Grids of runs (:func:`build_grid`, :func:`run_grid`) go through
:mod:`lidiff_helpers.core.executor` and end in ``<out>/md/manifest.json``, which
:func:`lidiff_helpers.analysis.diffusion.read_manifest` (notebook 05) reads.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from lidiff_helpers.core import paths, provenance
from lidiff_helpers.io.trajectory import TrajectoryWriter, open_trajectory

__all__ = ["GuardSettings", "MDRun", "MDGuardError", "THERMO_COLUMNS", "BENCHMARK_RESULTS",
           "min_pair_distance_A", "run_md", "run_job", "collect_models", "build_grid",
           "grid_table", "run_grid", "replica_seed",
           "write_manifest", "read_status", "read_thermo", "runs_table", "stability_table",
           "plot_runs"]

#: thermo log columns (units in the names)
THERMO_COLUMNS = ("step", "phase", "time_ps", "temperature_K", "potential_energy_eV",
                  "kinetic_energy_eV", "conserved_energy_eV", "drift_eV_per_atom",
                  "min_distance_A")
#: the MD benchmark's results (``benchmarks/bench_md.py`` writes it)
BENCHMARK_RESULTS = paths.ROOT / "benchmarks" / "RESULTS_md.md"
_PURPOSES = ("arrhenius", "comparison")
_KB_EV_K = 8.617333262e-5


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class GuardSettings:
    """Thresholds of the blow-up guard (see the module docstring).

    Attributes
    ----------
    min_distance_A : smallest allowed interatomic distance, A (Li-F bonds are ~2.0 A,
        the interstitial's nearest neighbours 1.77 A)
    distance_cutoff_A : neighbour search radius for the distance check, A; a distance
        above it is reported as the cutoff
    max_temperature_factor : instantaneous temperature must stay below factor x target
        (and above target / factor once ``grace_ps`` has passed)
    grace_ps : simulated time before the lower temperature bound applies (a perfect
        lattice given Maxwell-Boltzmann velocities drops to ~T/2 at first), ps
    max_drift_eV_per_atom : largest |conserved energy - its value at step 0| per atom, eV
    """

    min_distance_A: float = 0.7
    distance_cutoff_A: float = 3.0
    max_temperature_factor: float = 2.0
    grace_ps: float = 1.0
    max_drift_eV_per_atom: float = 0.05


@dataclass(frozen=True)
class MDRun:
    """One NVT run: what to simulate and how (all lengths in ps, timestep in fs).

    Attributes
    ----------
    name : unique run name (folder name under ``md_dir``)
    model_spec : model spec for :func:`lidiff_helpers.simulation.models.get_calculator`
    model : display name (manifest ``model``)
    start_structure : spec of :func:`lidiff_helpers.simulation.structures.load_start_structure`
    temperature_K : thermostat target, K
    replica : replica index (its own velocities)
    seed : seed of the initial Maxwell-Boltzmann velocities
    purpose : ``arrhenius`` or ``comparison``
    production_ps, equilibration_ps : simulated time saved / discarded before it, ps
    timestep_fs : integration timestep, fs (study: 1 fs)
    tdamp_fs : thermostat damping time, fs (study: LAMMPS ``fix nvt ... 0.1`` = 100 fs)
    tchain, tloop : Nose-Hoover chain length and sub-steps (LAMMPS default chain: 3)
    save_every : steps between saved frames (study: 100)
    velocities : ``maxwell-boltzmann`` (drawn at :attr:`initial_temperature_K` with
        ``seed``) or ``file`` (the start structure's own, e.g. the study's ``.data``)
    init_temperature_K : Maxwell-Boltzmann temperature of the initial velocities, K
        (None: ``temperature_K``). A perfect lattice started at T drops to about T/2 at
        once (equipartition) and the thermostat heats it back within a few damping times;
        2 x T shortens that, but keep it below the guard's ``max_temperature_factor`` x T.
    dtype, device : model precision and torch device
    model_sha256 : SHA256 of the model file; when given, a run refuses a different file
    checkpoint_every_s : wall time between checkpoints, s (0: at every saved step)
    guard : :class:`GuardSettings`
    """

    name: str
    model_spec: str
    model: str
    start_structure: str
    temperature_K: float
    replica: int = 0
    seed: int = 0
    purpose: str = "arrhenius"
    production_ps: float = 1.0
    equilibration_ps: float = 0.0
    timestep_fs: float = 1.0
    tdamp_fs: float = 100.0
    tchain: int = 3
    tloop: int = 1
    save_every: int = 100
    velocities: str = "maxwell-boltzmann"
    dtype: str = "float32"
    device: str = "cpu"
    model_sha256: str | None = None
    init_temperature_K: float | None = None
    checkpoint_every_s: float = 300.0
    guard: GuardSettings = field(default_factory=GuardSettings)

    def __post_init__(self):
        bad = []
        if not re.fullmatch(r"[A-Za-z0-9_.+-]+", self.name):
            bad.append(f"name {self.name!r} must be a plain folder name ([A-Za-z0-9_.+-])")
        if self.purpose not in _PURPOSES:
            bad.append(f"purpose must be one of {_PURPOSES}, got {self.purpose!r}")
        if self.velocities not in ("maxwell-boltzmann", "file"):
            bad.append(f"velocities must be 'maxwell-boltzmann' or 'file', got {self.velocities!r}")
        for k in ("temperature_K", "timestep_fs", "tdamp_fs", "production_ps"):
            if not float(getattr(self, k)) > 0:
                bad.append(f"{k} must be > 0, got {getattr(self, k)}")
        if self.equilibration_ps < 0 or self.save_every < 1:
            bad.append("equilibration_ps must be >= 0 and save_every >= 1")
        for k in ("production_ps", "equilibration_ps"):
            steps = float(getattr(self, k)) * 1000.0 / self.timestep_fs
            if abs(steps / self.save_every - round(steps / self.save_every)) > 1e-6:
                bad.append(f"{k} = {getattr(self, k)} ps is not a whole number of saved "
                           f"intervals ({self.save_every} steps x {self.timestep_fs} fs)")
        if bad:
            raise ValueError(f"MD run {self.name!r}: " + "; ".join(bad))
        if isinstance(self.guard, Mapping):
            object.__setattr__(self, "guard", GuardSettings(**self.guard))

    @property
    def initial_temperature_K(self) -> float:
        """Temperature of the initial Maxwell-Boltzmann velocities, K."""
        if self.init_temperature_K is not None:
            return float(self.init_temperature_K)
        return float(self.temperature_K)

    @property
    def n_equilibration_steps(self) -> int:
        return int(round(self.equilibration_ps * 1000.0 / self.timestep_fs))

    @property
    def n_production_steps(self) -> int:
        return int(round(self.production_ps * 1000.0 / self.timestep_fs))

    @property
    def n_steps(self) -> int:
        return self.n_equilibration_steps + self.n_production_steps

    @property
    def frame_interval_ps(self) -> float:
        """Time between saved frames, ps."""
        return self.save_every * self.timestep_fs / 1000.0

    @property
    def n_frames(self) -> int:
        """Frames of a complete run (production start and every ``save_every`` steps)."""
        return self.n_production_steps // self.save_every + 1

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "MDRun":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"MD run {d.get('name')!r}: unknown fields {unknown}")
        return cls(**dict(d))


class MDGuardError(RuntimeError):
    """A run blew up: names the run, the check, the step and the value."""

    def __init__(self, message: str, failure: dict):
        super().__init__(message)
        self.failure = failure


def min_pair_distance_A(atoms, cutoff_A: float = 3.0) -> float:
    """Smallest interatomic distance (minimum image, unwrapped positions fine), A.

    Returns ``cutoff_A`` when no pair is closer than it.
    """
    try:
        from matscipy.neighbours import neighbour_list
    except ImportError:  # pragma: no cover - mace-torch installs matscipy
        from ase.neighborlist import neighbor_list as neighbour_list
    d = neighbour_list("d", atoms, float(cutoff_A))
    return float(d.min()) if len(d) else float(cutoff_A)


# ------------------------------------------------------------------------- files

def _write_json(path: Path, obj) -> None:
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


def _owner() -> dict:
    import socket

    job = os.environ.get("SLURM_JOB_ID")
    if job and os.environ.get("SLURM_ARRAY_TASK_ID"):
        job = f"{os.environ.get('SLURM_ARRAY_JOB_ID', job)}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return {"host": socket.gethostname(), "pid": os.getpid(), "slurm_job": job}


def _busy(status: dict | None, stale_s: float) -> str | None:
    """Why another live process seems to be running this run (None if none is)."""
    if not status or status.get("status") != "running" or "owner" not in status:
        return None
    me, other = _owner(), status["owner"]
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


#: run fields that may change under the same run (folder and name): a longer production
#: extends a finished run; checkpoint cadence and device are bookkeeping
_MUTABLE_FIELDS = frozenset({"production_ps", "checkpoint_every_s", "device"})


def _check_definition(folder: Path, run: MDRun) -> None:
    p = folder / "run.json"
    new = run.to_dict()
    if p.is_file():
        old = json.loads(p.read_text())
        diff = {k: (old.get(k), v) for k, v in new.items()
                if k not in _MUTABLE_FIELDS and old.get(k) != v}
        if diff:
            txt = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in diff.items())
            raise ValueError(f"MD run {run.name!r} in {folder} was started with other settings "
                             f"({txt}). Pick another name or delete the folder to start over.")
    _write_json(p, new)


def _save_checkpoint(folder: Path, state: dict) -> None:
    tmp = folder / "checkpoint.tmp.npz"
    np.savez(tmp, **state)
    os.replace(tmp, folder / "checkpoint.npz")


def _load_checkpoint(folder: Path) -> dict | None:
    p = folder / "checkpoint.npz"
    if not p.is_file():
        return None
    with np.load(p) as z:
        return {k: z[k] for k in z.files}


def _thermostat(dyn):
    th = getattr(dyn, "_thermostat", None)
    if th is None or not hasattr(th, "_eta") or not hasattr(th, "_p_eta"):
        raise RuntimeError("this ASE version's NoseHooverChainNVT keeps no _thermostat._eta/"
                           "_p_eta; checkpoints cannot restore the thermostat (ase 3.29 does)")
    return th


# ------------------------------------------------------------------------- runner

_CALCULATORS: dict = {}


def _calculator(run: MDRun):
    """A cached calculator per (spec, device, dtype): one model load per process."""
    from lidiff_helpers.simulation import models

    key = (run.model_spec, run.device, run.dtype)
    if key not in _CALCULATORS:
        _CALCULATORS[key] = models.get_calculator(run.model_spec, device=run.device,
                                                  dtype=run.dtype)
    return _CALCULATORS[key]


def _model_identity(run: MDRun, calculator) -> dict:
    if calculator is not None:
        return {"spec": run.model_spec, "name": run.model, "kind": type(calculator).__name__,
                "path": None, "sha256": run.model_sha256, "note": "calculator given directly"}
    from lidiff_helpers.simulation import models

    ident = models.model_identity(run.model_spec)
    if run.model_sha256 and ident["sha256"] != run.model_sha256:
        raise ValueError(f"MD run {run.name!r}: model {run.model_spec} has SHA256 "
                         f"{ident['sha256']}, the run was defined for {run.model_sha256} "
                         "(the model file changed; retrain/restore it or define a new run)")
    return ident


def _initial_state(run: MDRun, atoms):
    """Atoms with velocities, plus a description of the start (fresh runs only)."""
    from ase import units
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    from lidiff_helpers.simulation.structures import StartStructure, load_start_structure

    if atoms is not None:
        start = StartStructure(run.start_structure, atoms, None, "Atoms object given to run_md")
    else:
        start = load_start_structure(run.start_structure)
    at = start.atoms.copy()
    at.calc = None
    if run.velocities == "file":
        if start.velocities_A_ps is None:
            raise ValueError(f"MD run {run.name!r}: velocities='file' but start structure "
                             f"{run.start_structure!r} holds no velocities")
        at.set_velocities(start.velocities_A_ps / (1000.0 * units.fs))
        vel_from = f"file ({run.start_structure})"
    else:
        thermalize_momenta(at, run.initial_temperature_K, rng=np.random.default_rng(run.seed))
        Stationary(at)
        vel_from = f"maxwell-boltzmann {run.initial_temperature_K:g} K, seed {run.seed}"
    return at, start, vel_from


def run_md(run: MDRun | Mapping, md_dir: str | os.PathLike, *, calculator=None, atoms=None,
           progress: bool = True, raise_on_failure: bool = True, restart: bool = False) -> dict:
    """Run (or resume, or skip) one NVT run; returns its status record.

    Parameters
    ----------
    run : the run (or its dict)
    md_dir : parent folder; the run lives in ``md_dir / run.name``
    calculator : an ASE calculator to use instead of loading ``run.model_spec`` (tests)
    atoms : starting ``Atoms`` to use instead of ``run.start_structure`` (fresh runs only;
        ``start_structure`` is then only a label)
    progress : show a tqdm bar (simulated ps, ps/day)
    raise_on_failure : raise :class:`MDGuardError` when the guard fires (else return the
        ``failed`` status record)
    restart : delete the run's files first and start over

    Raises
    ------
    MDGuardError
        a guard check failed (message names run, check, step, value and threshold).
    ValueError
        the folder holds a run with other settings, or the model file changed.
    """
    from ase import units
    from ase.md.nose_hoover_chain import NoseHooverChainNVT

    run = run if isinstance(run, MDRun) else MDRun.from_dict(run)
    folder = Path(md_dir) / run.name
    if restart and folder.exists():
        import shutil

        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _check_definition(folder, run)
    status = read_status(folder)
    if status and status["status"] == "failed":
        print(f"[md] {run.name}: skipped, failed earlier ({status['failure']['message']}); "
              "restart=True to run it again")
        return status
    if status and status["status"] == "done" and status["n_frames"] >= run.n_frames:
        print(f"[md] {run.name}: skipped, already done ({status['n_frames']} frames)")
        return status
    busy = _busy(status, max(3 * run.checkpoint_every_s, 900.0))
    if busy:
        raise RuntimeError(f"MD run {run.name!r} in {folder} is already running: {busy}. "
                           "Wait for it, or stop it; starting it twice would corrupt it.")

    ckpt = _load_checkpoint(folder)
    ident = _model_identity(run, calculator)
    if ckpt is not None:
        from ase import Atoms

        at = Atoms(numbers=ckpt["numbers"], positions=ckpt["positions"], cell=ckpt["cell"],
                   pbc=ckpt["pbc"])
        at.set_masses(ckpt["masses"])
        at.set_momenta(ckpt["momenta"])
        start_info = dict(status.get("start", {})) if status else {}
        step, n_frames = int(ckpt["step"]), int(ckpt["n_frames"])
        acc = {k: float(ckpt[k]) if k in ckpt else 0.0 for k in (
            "e_ref", "min_seen", "wall_s", "cpu_s", "steps_timed", "max_drift", "t_sum",
            "t_count")}
        thermo_bytes = int(ckpt["thermo_bytes"])
    else:
        at, start, vel_from = _initial_state(run, atoms)
        start_info = {"spec": run.start_structure, "description": start.description,
                      "sha256": start.sha256, "velocities_from": vel_from}
        step, n_frames, thermo_bytes = 0, 0, 0
        acc = {"e_ref": np.nan, "min_seen": np.inf, "wall_s": 0.0, "cpu_s": 0.0,
               "steps_timed": 0.0, "max_drift": 0.0, "t_sum": 0.0, "t_count": 0.0}
    at.calc = calculator if calculator is not None else _calculator(run)
    n_atoms = len(at)
    dyn = NoseHooverChainNVT(at, timestep=run.timestep_fs * units.fs,
                             temperature_K=run.temperature_K, tdamp=run.tdamp_fs * units.fs,
                             tchain=run.tchain, tloop=run.tloop)
    thermostat = _thermostat(dyn)
    if ckpt is not None:
        thermostat._eta[:] = ckpt["eta"]
        thermostat._p_eta[:] = ckpt["p_eta"]

    prov = provenance.record(parameters=run.to_dict(), models=[ident],
                             data_files={start_info.get("spec", ""): start_info.get("sha256")}
                             if start_info.get("sha256") else None)
    base = {"name": run.name, "run": run.to_dict(), "model_identity": ident, "n_atoms": n_atoms,
            "start": start_info, "n_frames_expected": run.n_frames,
            "frame_interval_ps": run.frame_interval_ps, "started_utc":
            (status or {}).get("started_utc", _now()), "provenance": prov}

    def record(state: str, failure: dict | None = None, note: str | None = None) -> dict:
        ms = 1000.0 * acc["wall_s"] / acc["steps_timed"] if acc["steps_timed"] else None
        rec = {**base, "status": state, "failure": failure, "n_frames": writer.n_frames,
               "step": step, "n_steps": run.n_steps,
               "ms_per_step": ms,
               "cpu_ms_per_step": (1000.0 * acc["cpu_s"] / acc["steps_timed"]
                                   if acc["steps_timed"] else None),
               "ps_per_day": (86400.0 * 1000.0 / ms * run.timestep_fs / 1000.0) if ms else None,
               "min_distance_A": None if not np.isfinite(acc["min_seen"]) else acc["min_seen"],
               "max_abs_drift_eV_per_atom": acc["max_drift"],
               "mean_temperature_K": acc["t_sum"] / acc["t_count"] if acc["t_count"] else None,
               "updated_utc": _now(), "owner": _owner(), "note": note}
        _write_json(folder / "status.json", rec)
        return rec

    writer = TrajectoryWriter(
        folder / "trajectory", at.numbers, at.cell.array, run.frame_interval_ps, pbc=at.pbc,
        info={"model": run.model, "model_spec": run.model_spec, "temperature_K":
              run.temperature_K, "replica": run.replica, "purpose": run.purpose, "run": run.name,
              "start_structure": run.start_structure, "equilibration_ps": run.equilibration_ps},
        n_frames=n_frames)
    thermo_path = folder / "thermo.csv"
    if thermo_bytes == 0 or not thermo_path.is_file():
        thermo_path.write_text(",".join(THERMO_COLUMNS) + "\n")
    else:
        with open(thermo_path, "r+b") as f:
            f.truncate(thermo_bytes)
    thermo = open(thermo_path, "ab")

    n_eq, n_total, dt_ps = run.n_equilibration_steps, run.n_steps, run.timestep_fs / 1000.0
    g, t0 = run.guard, run.temperature_K
    t_hi, t_lo = g.max_temperature_factor * t0, t0 / g.max_temperature_factor
    grace_steps = int(round(g.grace_ps / dt_ps))
    masses_kin = 1.5 * n_atoms * _KB_EV_K

    def fail(check: str, value, threshold, detail: str) -> dict:
        tp = (step - n_eq) * dt_ps
        msg = (f"MD run {run.name!r}: guard '{check}' failed at step {step} "
               f"(t = {tp:.4f} ps from production start): {detail}. Last good frame: "
               f"{writer.n_frames - 1} of {folder / 'trajectory'} (kept); configuration "
               f"written to {folder / 'failure.extxyz'}")
        failure = {"check": check, "step": int(step), "time_ps": tp,
                   "time_from_start_ps": step * dt_ps, "value": value, "threshold": threshold,
                   "message": msg}
        writer.close()
        thermo.close()
        try:
            import ase.io

            bad = at.copy()
            bad.calc = None
            ase.io.write(folder / "failure.extxyz", bad)
        except Exception:  # noqa: BLE001 - the report must not fail on a NaN frame
            pass
        rec = record("failed", failure)
        print(f"[md] FAILED {msg}")
        if raise_on_failure:
            raise MDGuardError(msg, failure)
        return rec

    def save_point() -> dict | None:
        """Thermo line, distance and drift checks, frame. Returns a failure record or None."""
        epot = at.get_potential_energy()
        ekin = at.get_kinetic_energy()
        econs = epot + ekin + thermostat.get_thermostat_energy()
        if not np.isfinite(acc["e_ref"]):
            acc["e_ref"] = econs
        drift = (econs - acc["e_ref"]) / n_atoms
        dmin = min_pair_distance_A(at, g.distance_cutoff_A)
        acc["min_seen"] = min(acc["min_seen"], dmin)
        acc["max_drift"] = max(acc["max_drift"], abs(drift))
        phase = "production" if step >= n_eq else "equilibration"
        thermo.write((f"{step},{phase},{(step - n_eq) * dt_ps:.6f},{ekin / masses_kin:.4f},"
                      f"{epot:.8f},{ekin:.8f},{econs:.8f},{drift:.3e},{dmin:.4f}\n").encode())
        if dmin < g.min_distance_A:
            return fail("min_distance", dmin, g.min_distance_A,
                        f"atoms {dmin:.3f} A apart (threshold {g.min_distance_A} A)")
        if not abs(drift) <= g.max_drift_eV_per_atom:
            return fail("energy_drift", drift, g.max_drift_eV_per_atom,
                        f"conserved energy drifted {drift:+.4g} eV/atom since step 0 "
                        f"(threshold {g.max_drift_eV_per_atom} eV/atom)")
        if step >= n_eq:
            writer.append(at.positions, (step - n_eq) * dt_ps)
        return None

    record("running", note="started" if ckpt is None else f"resumed at step {step}")
    fresh_step = step
    if ckpt is None:
        f0 = at.get_forces()
        if not (np.isfinite(f0).all() and np.isfinite(at.get_potential_energy())):
            return fail("non_finite", None, None, "forces or energy not finite")
        out = save_point()
        if out is not None:
            return out

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=round(n_total * dt_ps, 6), initial=round(step * dt_ps, 6), unit="ps",
                   desc=run.name, mininterval=2.0, dynamic_ncols=True,
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.3f}/{total:.3f} ps "
                              "[{elapsed}<{remaining}{postfix}]")
    t_start = t_ckpt = time.perf_counter()
    c_start = time.process_time()
    wall0, cpu0, steps0 = acc["wall_s"], acc["cpu_s"], acc["steps_timed"]
    try:
        while step < n_total:
            step += 1
            try:
                dyn.step()
                # the step's last force call was at the current positions: read the
                # calculator's results directly (no second state comparison per step)
                res = at.calc.results
                forces, epot = res.get("forces"), res.get("energy")
                if forces is None or epot is None:
                    forces, epot = at.get_forces(), at.get_potential_energy()
            except Exception as exc:  # noqa: BLE001 - a blown-up geometry can crash the model
                return fail("calculator_error", None, None, f"{type(exc).__name__}: {exc}")
            if not (np.isfinite(epot) and np.isfinite(forces).all()):
                return fail("non_finite", None, None, "forces or energy not finite (NaN/inf)")
            temp = at.get_kinetic_energy() / masses_kin
            if step >= n_eq:
                acc["t_sum"] += temp
                acc["t_count"] += 1
            if not temp <= t_hi or (step >= grace_steps and temp < t_lo):
                return fail("temperature", temp, [t_lo, t_hi],
                            f"instantaneous temperature {temp:.1f} K outside "
                            f"[{t_lo:.0f}, {t_hi:.0f}] K (target {t0:g} K)")
            if step % run.save_every:
                continue
            out = save_point()
            if out is not None:
                return out
            now = time.perf_counter()
            acc["wall_s"] = wall0 + (now - t_start)
            acc["cpu_s"] = cpu0 + (time.process_time() - c_start)
            acc["steps_timed"] = steps0 + (step - fresh_step)
            if bar is not None:
                bar.update(round(step * dt_ps - bar.n, 6))
                ms = 1000.0 * (now - t_start) / max(step - fresh_step, 1)
                bar.set_postfix_str(f"{86400.0 / ms * run.timestep_fs:.1f} ps/day, "
                                    f"T={temp:.0f} K", refresh=False)
            if step in (n_eq, n_total) or now - t_ckpt >= run.checkpoint_every_s:
                writer.flush()
                thermo.flush()
                os.fsync(thermo.fileno())
                _save_checkpoint(folder, {
                    "numbers": at.numbers, "positions": at.positions, "momenta": at.get_momenta(),
                    "masses": at.get_masses(), "cell": at.cell.array, "pbc": at.pbc,
                    "eta": thermostat._eta, "p_eta": thermostat._p_eta, "step": step,
                    "n_frames": writer.n_frames, "thermo_bytes": thermo.tell(), **acc})
                if step < n_total:
                    record("running", note=f"checkpoint at step {step}")
                t_ckpt = now
    finally:
        if bar is not None:
            bar.close()
        writer.close()
        if not thermo.closed:
            thermo.close()
    rec = record("done")
    print(f"[md] {run.name}: done, {rec['n_frames']} frames, "
          f"{rec['ms_per_step']:.1f} ms/step, {rec['ps_per_day']:.1f} ps/day")
    return rec


def run_job(run: Mapping, md_dir: str, n_threads: int | None = None,
            progress: bool = True) -> dict:
    """Executor entry point (picklable): one run, guard failures returned not raised."""
    if n_threads:
        import torch

        torch.set_num_threads(int(n_threads))
    return run_md(MDRun.from_dict(run), md_dir, progress=progress, raise_on_failure=False)


# ------------------------------------------------------------------------- grids

def collect_models(out: str | os.PathLike, foundation_model: str,
                   extra_models: Sequence[str] = (), include_registered: bool = True,
                   max_extra_models: int | None = None) -> list[dict]:
    """The models notebook 04 runs: the foundation model, ``extra_models`` specs and the
    models notebooks 02/03 registered in ``out`` (:mod:`lidiff_helpers.io.model_registry`).

    Returns dicts ``name`` (display), ``spec`` (resolved: a foundation name or a file
    path, so a later ``auto`` cannot silently switch models), ``sha256``, ``foundation``,
    ``source``; at most ``max_extra_models`` besides the foundation (None: all).
    """
    from lidiff_helpers.io import model_registry as registry
    from lidiff_helpers.simulation import models

    named = {"embedded", "chgnet", *models.FOUNDATION_MODELS}

    def entry(spec, source, foundation=False, name=None):
        m = models.resolve_spec(spec)
        ident = models.model_identity(m)
        return {"name": name or m.name, "spec": m.name if m.name in named else str(m.path),
                "sha256": ident["sha256"], "foundation": foundation, "source": source}

    out_list = [entry(foundation_model, f"foundation_model={foundation_model}", True)]
    extras = [entry(s, "extra_models") for s in extra_models or ()]
    if include_registered:
        extras += [entry(e["path"], f"registered by {e['notebook']}", name=e["name"])
                   for e in registry.registered_models(out)]
    seen = {out_list[0]["name"]}
    for e in extras:
        if e["name"] in seen:
            continue
        if max_extra_models is not None and len(out_list) - 1 >= int(max_extra_models):
            print(f"[md] not running {e['name']} ({e['source']}): max_extra_models = "
                  f"{max_extra_models}")
            continue
        seen.add(e["name"])
        out_list.append(e)
    return out_list


def grid_table(runs: Sequence[MDRun]):
    """The grid as a DataFrame (one row per run)."""
    import pandas as pd

    cols = ["name", "model", "purpose", "temperature_K", "replica", "seed", "start_structure",
            "velocities", "equilibration_ps", "production_ps", "timestep_fs", "save_every",
            "dtype", "device"]
    return pd.DataFrame([{k: getattr(r, k) for k in cols} for r in runs])


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", str(text)).strip("-") or "model"


def replica_seed(seed: int, temperature_K: float, replica: int) -> int:
    """Velocity seed of (temperature, replica), the same for every model (paired runs)."""
    ss = np.random.SeedSequence([int(seed), int(replica), int(round(float(temperature_K) * 1000))])
    return int(ss.generate_state(1)[0])


def build_grid(models: Sequence[Mapping[str, Any]], *, arrhenius_models: Sequence[str],
               arrhenius_temperatures_K: Sequence[float], arrhenius_replicas: int,
               arrhenius_production_ps: float, comparison_temperatures_K: Sequence[float],
               comparison_replicas: int, comparison_production_ps: float,
               start_structure: str, equilibration_ps: float,
               foundation_equilibration_ps: float, seed: int, **settings) -> list[MDRun]:
    """The runs of notebook 04: Arrhenius runs and strategy-comparison runs.

    Parameters
    ----------
    models : dicts with ``name`` (display), ``spec``, optional ``sha256`` and
        ``foundation`` (True for the foundation model)
    arrhenius_models : names (or ``foundation``, or ``all``) that get Arrhenius runs at
        every ``arrhenius_temperatures_K`` x ``arrhenius_replicas``
    comparison_temperatures_K, comparison_replicas : every model runs these, except where
        it already has Arrhenius runs at that temperature (those are longer and at least
        as many, and serve the comparison)
    start_structure : a :func:`lidiff_helpers.simulation.structures.load_start_structure` spec for
        every run, or ``study``: the study's published equilibrated structure of that
        (temperature, replica) with its velocities when it exists, else the nearest
        published one with fresh Maxwell-Boltzmann velocities
        (:func:`lidiff_helpers.simulation.structures.study_start_structure`)
    equilibration_ps, foundation_equilibration_ps : discarded NVT time before production
        (study: 100 ps for fine-tuned models, 300 ps for MACE-MPA-0)
    seed : master seed; a replica's velocities depend on (seed, temperature, replica)
        only, so every model starts a given replica identically
    settings : further :class:`MDRun` fields (timestep_fs, tdamp_fs, save_every, dtype,
        device, checkpoint_every_s, guard...)
    """
    from lidiff_helpers.simulation.structures import study_start_structure

    names = [m["name"] for m in models]
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be unique, got {names}")
    want = set(arrhenius_models)
    if "all" in want:
        want = set(names)
    if "foundation" in want:
        want = (want - {"foundation"}) | {m["name"] for m in models if m.get("foundation")}
    unknown = sorted(want - set(names))
    if unknown:
        raise ValueError(f"arrhenius_models {unknown} are not among the models {names} "
                         "(use a model's display name, 'foundation' or 'all')")
    runs = []
    for m in models:
        plan = []
        if m["name"] in want:
            plan += [("arrhenius", float(t), r, arrhenius_production_ps)
                     for t in arrhenius_temperatures_K for r in range(int(arrhenius_replicas))]
        done_t = {t for p, t, _, _ in plan}
        plan += [("comparison", float(t), r, comparison_production_ps)
                 for t in comparison_temperatures_K if float(t) not in done_t
                 for r in range(int(comparison_replicas))]
        for purpose, t, r, prod in plan:
            if start_structure == "study":
                spec, exact = study_start_structure(t, r)
                vel = "file" if exact else "maxwell-boltzmann"
            else:
                spec, vel = start_structure, "maxwell-boltzmann"
            eq = foundation_equilibration_ps if m.get("foundation") else equilibration_ps
            run = MDRun(
                name=f"{_slug(m['name'])}_{t:g}K_r{r}_{purpose}", model_spec=str(m["spec"]),
                model=m["name"], start_structure=spec, temperature_K=t, replica=r,
                seed=replica_seed(seed, t, r), purpose=purpose, production_ps=float(prod),
                equilibration_ps=float(eq), velocities=vel, model_sha256=m.get("sha256"),
                **settings)
            runs.append(replace(run, name=f"{run.name}-{definition_hash(run)}"))
    return runs


def definition_hash(run: MDRun) -> str:
    """8 hex digits of the run's physical definition (everything but its name and
    :data:`_MUTABLE_FIELDS`: length, checkpoint cadence, device). :func:`build_grid` appends it to run names, so changing a
    parameter (a profile edit, a ``-p`` override) starts new runs in new folders instead
    of being refused by - or silently mixed with - the old ones, which stay untouched."""
    d = {k: v for k, v in run.to_dict().items() if k != "name" and k not in _MUTABLE_FIELDS}
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:8]


def write_manifest(out: str | os.PathLike, runs: Sequence[MDRun]) -> list[dict]:
    """Write ``<out>/md/manifest.json``: one entry per run (status read from its folder).

    Keys: ``name, model, model_spec, model_sha256, temperature_K, replica, seed, purpose,
    trajectory, thermo`` (paths relative to ``out``), ``status`` (``pending``,
    ``running``, ``done``, ``failed``), ``failure`` (check, step, time_ps, value,
    threshold, message; or null), ``n_frames, timestep_ps`` (between saved frames),
    ``md_timestep_fs, duration_ps, equilibration_ps, production_ps, start_structure,
    start_description, velocities_from, n_atoms, ms_per_step, ps_per_day,
    min_distance_A, max_abs_drift_eV_per_atom, mean_temperature_K, time_to_failure_ps``
    and ``provenance``.
    """
    out = Path(out)
    md_dir = out / "md"
    md_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for r in runs:
        st = read_status(md_dir / r.name) or {}
        ident = st.get("model_identity", {})
        start = st.get("start", {})
        fail = st.get("failure")
        n = int(st.get("n_frames", 0))
        entries.append({
            "name": r.name, "model": r.model, "model_spec": r.model_spec,
            "model_sha256": ident.get("sha256", r.model_sha256),
            "temperature_K": r.temperature_K, "replica": r.replica, "seed": r.seed,
            "purpose": r.purpose,
            "trajectory": f"md/{r.name}/trajectory", "thermo": f"md/{r.name}/thermo.csv",
            "status": st.get("status", "pending"), "failure": fail, "n_frames": n,
            "timestep_ps": r.frame_interval_ps, "md_timestep_fs": r.timestep_fs,
            "duration_ps": max(n - 1, 0) * r.frame_interval_ps,
            "equilibration_ps": r.equilibration_ps, "production_ps": r.production_ps,
            "start_structure": r.start_structure,
            "start_description": start.get("description"),
            "velocities_from": start.get("velocities_from"), "n_atoms": st.get("n_atoms"),
            "ms_per_step": st.get("ms_per_step"), "ps_per_day": st.get("ps_per_day"),
            "min_distance_A": st.get("min_distance_A"),
            "max_abs_drift_eV_per_atom": st.get("max_abs_drift_eV_per_atom"),
            "mean_temperature_K": st.get("mean_temperature_K"),
            "time_to_failure_ps": fail["time_from_start_ps"] if fail else None,
            "provenance": {k: st.get("provenance", {}).get(k) for k in
                           ("created_utc", "packages", "git", "python", "platform",
                            "data_files")} | {"model": ident, "updated_utc": st.get("updated_utc")},
        })
    _write_json(md_dir / "manifest.json", entries)
    return entries


def run_grid(runs: Sequence[MDRun], out: str | os.PathLike, executor=None,
             n_threads: int | None = None, progress: bool = True) -> list[dict]:
    """Run every run through ``executor`` (default: sequential, this process); returns the
    manifest entries (also written to ``<out>/md/manifest.json``).

    Guard failures are recorded in the manifest, not raised; any other job error is
    printed (with its traceback) and the run stays ``running``/``pending`` (resumable).
    """
    from lidiff_helpers.core.executor import JobFailure, get_executor

    executor = executor or get_executor("local")
    md_dir = Path(out) / "md"
    write_manifest(out, runs)
    jobs = [{"run": r.to_dict(), "md_dir": str(md_dir), "n_threads": n_threads,
             "progress": progress} for r in runs]
    for res in executor.map(run_job, jobs):
        if isinstance(res, JobFailure):
            print(f"[md] ERROR in run {res.kwargs['run']['name']}: {res.error}: {res.message}\n"
                  f"{res.traceback}")
    return write_manifest(out, runs)


# ------------------------------------------------------------------------- reports

def runs_table(manifest: Sequence[Mapping]):
    """One row per run: model, T, replica, purpose, status, frames, throughput, stability."""
    import pandas as pd

    cols = ["model", "temperature_K", "replica", "purpose", "status", "n_frames",
            "duration_ps", "ms_per_step", "ps_per_day", "min_distance_A",
            "max_abs_drift_eV_per_atom", "mean_temperature_K", "time_to_failure_ps"]
    df = pd.DataFrame(list(manifest))
    df["failed_check"] = [f["check"] if f else None for f in df["failure"]]
    return df[cols + ["failed_check"]]


def stability_table(manifest: Sequence[Mapping]):
    """Stability per model: runs, done, failed, failed checks, time to failure (ps),
    smallest distance seen (A), largest drift (eV/atom), simulated time (ps)."""
    import pandas as pd

    df = runs_table(manifest)
    rows = []
    for model, g in df.groupby("model", sort=False):
        f = g[g["status"] == "failed"]
        rows.append({
            "model": model, "runs": len(g), "done": int((g["status"] == "done").sum()),
            "failed": len(f),
            "failed_checks": ", ".join(sorted(set(f["failed_check"].dropna()))) or "-",
            "mean_time_to_failure_ps": f["time_to_failure_ps"].mean() if len(f) else None,
            "min_distance_A": g["min_distance_A"].min(),
            "max_abs_drift_eV_per_atom": g["max_abs_drift_eV_per_atom"].max(),
            "simulated_ps": g["duration_ps"].sum(),
            "mean_ms_per_step": g["ms_per_step"].mean(),
            "mean_ps_per_day": g["ps_per_day"].mean(),
        })
    return pd.DataFrame(rows)


def plot_runs(manifest: Sequence[Mapping], out: str | os.PathLike, species: str = "Li",
              max_points: int = 2000):
    """Figure: temperature, conserved-energy drift and the summed squared displacement
    of ``species`` from its start, sum_i |r_i(t) - r_i(0)|^2 (A^2; a hop of the
    interstitial mechanism shows as a step), per run versus production time."""
    import matplotlib.pyplot as plt
    from ase.data import atomic_numbers

    out = Path(out)
    fig, ax = plt.subplots(3, 1, figsize=(7, 8), sharex=True)
    z = atomic_numbers[species]
    for e in manifest:
        if e["status"] == "pending" or not (out / e["thermo"]).is_file():
            continue
        lab = f"{e['model']} {e['temperature_K']:g} K r{e['replica']}" + \
            (" (failed)" if e["status"] == "failed" else "")
        th = read_thermo(out / e["thermo"])
        ax[0].plot(th["time_ps"], th["temperature_K"], lw=0.8, label=lab)
        ax[1].plot(th["time_ps"], th["drift_eV_per_atom"], lw=0.8)
        if e["n_frames"] > 1:
            tr = open_trajectory(out / e["trajectory"])
            stride = max(1, tr.n_frames // max_points)
            sel = tr.numbers == z
            pos = np.asarray(tr.positions_A[::stride][:, sel], dtype=float)
            ax[2].plot(tr.time_ps[::stride], ((pos - pos[0]) ** 2).sum(axis=(1, 2)), lw=0.8)
    ax[0].set_ylabel("T / K")
    ax[1].set_ylabel("conserved-energy drift / eV atom$^{-1}$")
    ax[2].set_ylabel(f"$\\sum_{{{species}}} |r(t)-r(0)|^2$ / A$^2$")
    ax[2].set_xlabel("t / ps (from production start)")
    ax[0].legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return fig
