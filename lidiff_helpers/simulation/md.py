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

Bad input stops before the first step: a run definition with a wrong type or a zero or
negative temperature, timestep or length (:class:`ParameterError`), a model without
parameters for an element of the structure (:func:`check_model_covers_structure`), an
unreadable checkpoint (:class:`CheckpointError`, naming the file and how to restart).

Grids of runs (:func:`lidiff_helpers.simulation.md_grid.build_grid`,
:func:`~lidiff_helpers.simulation.md_grid.run_grid`) live in
:mod:`lidiff_helpers.simulation.md_grid`; their tables in
:mod:`lidiff_helpers.workflows.md_diffusion` and their figure in
:mod:`lidiff_helpers.figures.md`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lidiff_helpers.core import paths, provenance
from lidiff_helpers.core.errors import CheckpointError, MDGuardError, ParameterError
from lidiff_helpers.core.units import KB_EV_PER_K
from lidiff_helpers.io.trajectory import TrajectoryWriter, ensure_same_file
from lidiff_helpers.simulation.md_definition import THERMO_COLUMNS, GuardSettings, MDRun
from lidiff_helpers.simulation.md_files import (
    busy_reason,
    check_definition,
    load_checkpoint,
    now_utc,
    owner,
    read_status,
    read_thermo,
    save_checkpoint,
    write_json,
)

__all__ = [
    "BENCHMARK_RESULTS",
    "THERMO_COLUMNS",
    "GuardSettings",
    "MDGuardError",
    "MDRun",
    "PreparedRun",
    "check_model_covers_structure",
    "min_pair_distance_A",
    "prepare_run",
    "read_status",
    "read_thermo",
    "run_job",
    "run_md",
]


#: the MD benchmark's results (``benchmarks/bench_md.py`` writes it)
BENCHMARK_RESULTS = paths.BENCHMARKS / "RESULTS_md.md"


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
        raise ParameterError(f"MD run {run.name!r}: model {run.model_spec} has SHA256 "
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
            raise ParameterError(f"MD run {run.name!r}: velocities='file' but start structure "
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
    ParameterError
        the folder holds a run with other settings, the model file changed, or the
        model's elements do not cover the structure's (checked before any step).
    CheckpointError
        the run's ``checkpoint.npz`` cannot be read (the message says how to restart).
    """
    run = run if isinstance(run, MDRun) else MDRun.from_dict(run)
    prepared = prepare_run(run, md_dir, atoms=atoms, restart=restart)
    if isinstance(prepared, dict):
        return prepared
    ident = _model_identity(run, calculator)
    prepared.atoms.calc = calculator if calculator is not None else _calculator(run)
    check_model_covers_structure(prepared.atoms.calc, prepared.atoms, f"MD run {run.name!r}",
                                 run.model_spec)
    from lidiff_helpers.simulation.models import warm_up

    warm_up(prepared.atoms)
    session = _Session(run, prepared.folder, prepared.atoms, prepared.checkpoint,
                       raise_on_failure)
    session.open(ident, prepared.start_info, prepared.status)
    return session.integrate(progress)


@dataclass
class PreparedRun:
    """A run ready to integrate (:func:`prepare_run`): its folder, checkpoint (None for a
    fresh run), atoms (positions and momenta at the checkpoint or the start), the
    start's description and the previous status record."""

    run: MDRun
    folder: Path
    checkpoint: dict | None
    atoms: object
    start_info: dict
    status: dict | None


def prepare_run(run: MDRun, md_dir: str | os.PathLike, *, atoms=None,
                restart: bool = False) -> PreparedRun | dict:
    """Everything :func:`run_md` does before the model is involved: the folder (a restart
    with other settings refused), skip decisions, the checkpoint or the initial state.

    Returns the status record when the run is skipped (done or failed earlier), else a
    :class:`PreparedRun`. Shared by the ASE runner and the batched engine
    (:mod:`lidiff_helpers.simulation.md_batched`)."""
    folder = Path(md_dir) / run.name
    status, skipped = _prepare_folder(run, folder, restart)
    if skipped:
        return status
    ckpt = load_checkpoint(folder)
    if ckpt is not None:
        at, start_info = _restored_atoms(ckpt), dict((status or {}).get("start", {}))
    else:
        at, start, vel_from = _initial_state(run, atoms)
        start_info = {"spec": run.start_structure, "description": start.description,
                      "sha256": start.sha256, "velocities_from": vel_from}
    return PreparedRun(run, folder, ckpt, at, start_info, status)


def check_model_covers_structure(calc, atoms, what: str, model: str = "") -> None:
    """Refuse a model that has no parameters for some element of ``atoms``.

    Only calculators that list their elements are checked (MACE: ``z_table``); others
    (EMT, test potentials) pass.

    Raises
    ------
    ParameterError
        naming ``what`` (the run), the model, the missing elements and the model's ones.
    """
    from ase.data import chemical_symbols

    zs = getattr(getattr(calc, "z_table", None), "zs", None)
    if zs is None:
        return
    missing = sorted(set(int(z) for z in atoms.numbers) - set(int(z) for z in zs))
    if missing:
        have = [chemical_symbols[int(z)] for z in zs]
        raise ParameterError(
            f"{what}: model {model or type(calc).__name__} has no parameters for "
            f"{[chemical_symbols[z] for z in missing]} in the structure (the model covers "
            f"{have}); choose a model trained on these elements")


def _prepare_folder(run: MDRun, folder: Path, restart: bool) -> tuple[dict | None, bool]:
    """Create (or clear) the run folder and decide whether to skip: (status, skipped)."""
    if restart and folder.exists():
        import shutil

        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    check_definition(folder, run)
    status = read_status(folder)
    if status and status["status"] == "failed":
        print(f"[md] {run.name}: skipped, failed earlier ({status['failure']['message']}); "
              "restart=True to run it again")
        return status, True
    if status and status["status"] == "done" and status["n_frames"] >= run.n_frames:
        print(f"[md] {run.name}: skipped, already done ({status['n_frames']} frames)")
        return status, True
    busy = busy_reason(status, max(3 * run.checkpoint_every_s, 900.0))
    if busy:
        raise RuntimeError(f"MD run {run.name!r} in {folder} is already running: {busy}. "
                           "Wait for it, or stop it; starting it twice would corrupt it.")
    return status, False


def _restored_atoms(ckpt: dict):
    """The Atoms (positions, momenta, masses, cell) saved in a checkpoint."""
    from ase import Atoms

    at = Atoms(numbers=ckpt["numbers"], positions=ckpt["positions"], cell=ckpt["cell"],
               pbc=ckpt["pbc"])
    at.set_masses(ckpt["masses"])
    at.set_momenta(ckpt["momenta"])
    return at


#: accumulators of a run (saved in checkpoints): energy reference, smallest distance,
#: timing, largest drift and the production temperature sum
_ACC_KEYS = ("e_ref", "min_seen", "wall_s", "cpu_s", "steps_timed", "max_drift", "t_sum",
             "t_count")


class _Session:
    """One run while it integrates: atoms, thermostat, open outputs, guard, counters.

    Private to :func:`run_md`; its methods are the runner's steps (open the outputs,
    record the status, one saved point, one checkpoint, the loop).
    """

    def __init__(self, run: MDRun, folder: Path, atoms, ckpt: dict | None,
                 raise_on_failure: bool, thermostat=None):
        """``thermostat``: None for ASE's ``NoseHooverChainNVT`` stepped by :meth:`advance`;
        the batched engine passes its per-run chain (``_eta``, ``_p_eta``,
        ``get_thermostat_energy()``), steps all runs itself and calls :meth:`check_step`
        and :meth:`tick`."""
        from ase import units
        from ase.md.nose_hoover_chain import NoseHooverChainNVT

        self.run, self.folder, self.at, self.fresh = run, folder, atoms, ckpt is None
        self.raise_on_failure = raise_on_failure
        self.n_atoms = len(atoms)
        self.before_fail = None          # the batched engine's sync of ``at``
        self.bar = None                  # progress bar, from begin()
        if thermostat is None:
            self.dyn = NoseHooverChainNVT(atoms, timestep=run.timestep_fs * units.fs,
                                          temperature_K=run.temperature_K,
                                          tdamp=run.tdamp_fs * units.fs, tchain=run.tchain,
                                          tloop=run.tloop)
            self.thermostat = _thermostat(self.dyn)
        else:
            self.dyn, self.thermostat = None, thermostat
        if ckpt is None:
            self.step, self.n_frames0, self.thermo_bytes = 0, 0, 0
            self.acc = {"e_ref": np.nan, "min_seen": np.inf, "wall_s": 0.0, "cpu_s": 0.0,
                        "steps_timed": 0.0, "max_drift": 0.0, "t_sum": 0.0, "t_count": 0.0}
        else:
            self.thermostat._eta[:] = ckpt["eta"]
            self.thermostat._p_eta[:] = ckpt["p_eta"]
            self.step, self.n_frames0 = int(ckpt["step"]), int(ckpt["n_frames"])
            self.thermo_bytes = int(ckpt["thermo_bytes"])
            self.acc = {k: float(ckpt[k]) if k in ckpt else 0.0 for k in _ACC_KEYS}
            if "max_gamma" in ckpt:  # runs with the extrapolation guard
                self.acc["max_gamma"] = float(ckpt["max_gamma"])
        g, t0 = run.guard, run.temperature_K
        self.dt_ps = run.timestep_fs / 1000.0
        self.t_hi, self.t_lo = g.max_temperature_factor * t0, t0 / g.max_temperature_factor
        self.grace_steps = int(round(g.grace_ps / self.dt_ps))
        self.kin_per_K = 1.5 * self.n_atoms * KB_EV_PER_K   # E_kin = 3/2 N k_B T

    # -- outputs -------------------------------------------------------------------
    def open(self, ident: dict, start_info: dict, status: dict | None) -> None:
        """Open the trajectory and the thermo log (truncated to the checkpoint)."""
        run, at = self.run, self.at
        prov = provenance.record(parameters=run.to_dict(), models=[ident],
                                 data_files={start_info.get("spec", ""): start_info.get("sha256")}
                                 if start_info.get("sha256") else None)
        self.base = {"name": run.name, "run": run.to_dict(), "model_identity": ident,
                     "n_atoms": self.n_atoms, "start": start_info,
                     "n_frames_expected": run.n_frames, "frame_interval_ps": run.frame_interval_ps,
                     "started_utc": (status or {}).get("started_utc", now_utc()),
                     "provenance": prov}
        self.writer = TrajectoryWriter(
            self.folder / "trajectory", at.numbers, at.cell.array, run.frame_interval_ps,
            pbc=at.pbc, info={"model": run.model, "model_spec": run.model_spec,
                              "temperature_K": run.temperature_K, "replica": run.replica,
                              "purpose": run.purpose, "run": run.name,
                              "start_structure": run.start_structure,
                              "equilibration_ps": run.equilibration_ps},
            n_frames=self.n_frames0)
        thermo_path = self.folder / "thermo.csv"
        if self.thermo_bytes == 0 or not thermo_path.is_file():
            thermo_path.write_text(",".join(THERMO_COLUMNS) + "\n")
        else:
            if thermo_path.stat().st_size < self.thermo_bytes:
                raise CheckpointError(
                    f"{thermo_path}: {thermo_path.stat().st_size} bytes but the checkpoint "
                    f"was written after {self.thermo_bytes}: the file was cut or replaced "
                    "since (e.g. by `git stash` or `git checkout` while the run was writing); "
                    "restore it or move the run folder away and start it afresh")
            with open(thermo_path, "r+b") as f:
                f.truncate(self.thermo_bytes)
        self.thermo = open(thermo_path.absolute(), "ab")

    def close(self) -> None:
        self.writer.close()
        if not self.thermo.closed:
            self.thermo.close()

    def record(self, state: str, failure: dict | None = None, note: str | None = None) -> dict:
        """Write ``status.json`` (status, counters, throughput) and return it."""
        acc, run = self.acc, self.run
        ms = 1000.0 * acc["wall_s"] / acc["steps_timed"] if acc["steps_timed"] else None
        rec = {**self.base, "status": state, "failure": failure,
               "n_frames": self.writer.n_frames, "step": self.step, "n_steps": run.n_steps,
               "ms_per_step": ms,
               "cpu_ms_per_step": (1000.0 * acc["cpu_s"] / acc["steps_timed"]
                                   if acc["steps_timed"] else None),
               "ps_per_day": (86400.0 * 1000.0 / ms * run.timestep_fs / 1000.0) if ms else None,
               "min_distance_A": None if not np.isfinite(acc["min_seen"]) else acc["min_seen"],
               "max_abs_drift_eV_per_atom": acc["max_drift"],
               "max_extrapolation_grade": acc.get("max_gamma"),
               "mean_temperature_K": acc["t_sum"] / acc["t_count"] if acc["t_count"] else None,
               "updated_utc": now_utc(), "owner": owner(), "note": note}
        write_json(self.folder / "status.json", rec)
        return rec

    # -- guard ---------------------------------------------------------------------
    def fail(self, check: str, value, threshold, detail: str) -> dict:
        """Stop the run: failure record, ``failure.extxyz``, raise or return."""
        if self.before_fail is not None:
            self.before_fail()
        run, folder, step = self.run, self.folder, self.step
        tp = (step - run.n_equilibration_steps) * self.dt_ps
        msg = (f"MD run {run.name!r}: guard '{check}' failed at step {step} "
               f"(t = {tp:.4f} ps from production start): {detail}. Last good frame: "
               f"{self.writer.n_frames - 1} of {folder / 'trajectory'} (kept); configuration "
               f"written to {folder / 'failure.extxyz'}")
        failure = {"check": check, "step": int(step), "time_ps": tp,
                   "time_from_start_ps": step * self.dt_ps, "value": value,
                   "threshold": threshold, "message": msg}
        self.close()
        try:
            import ase.io

            bad = self.at.copy()
            bad.calc = None
            ase.io.write(folder / "failure.extxyz", bad)
        except Exception:  # noqa: BLE001 - the report must not fail on a NaN frame
            pass
        rec = self.record("failed", failure)
        print(f"[md] FAILED {msg}")
        if self.raise_on_failure:
            raise MDGuardError(msg, failure)
        return rec

    def save_point(self) -> dict | None:
        """Thermo line, distance and drift checks, frame. Returns a failure record or None."""
        at, acc, g, step = self.at, self.acc, self.run.guard, self.step
        n_eq = self.run.n_equilibration_steps
        epot = at.get_potential_energy()
        ekin = at.get_kinetic_energy()
        econs = epot + ekin + self.thermostat.get_thermostat_energy()
        if not np.isfinite(acc["e_ref"]):
            acc["e_ref"] = econs
        drift = (econs - acc["e_ref"]) / self.n_atoms
        dmin = min_pair_distance_A(at, g.distance_cutoff_A)
        acc["min_seen"] = min(acc["min_seen"], dmin)
        acc["max_drift"] = max(acc["max_drift"], abs(drift))
        phase = "production" if step >= n_eq else "equilibration"
        self.thermo.write((f"{step},{phase},{(step - n_eq) * self.dt_ps:.6f},"
                           f"{ekin / self.kin_per_K:.4f},{epot:.8f},{ekin:.8f},{econs:.8f},"
                           f"{drift:.3e},{dmin:.4f}\n").encode())
        if dmin < g.min_distance_A:
            return self.fail("min_distance", dmin, g.min_distance_A,
                             f"atoms {dmin:.3f} A apart (threshold {g.min_distance_A} A)")
        if not abs(drift) <= g.max_drift_eV_per_atom:
            return self.fail("energy_drift", drift, g.max_drift_eV_per_atom,
                             f"conserved energy drifted {drift:+.4g} eV/atom since step 0 "
                             f"(threshold {g.max_drift_eV_per_atom} eV/atom)")
        if g.gamma_break is not None:
            gamma = self.extrapolation_grade()
            acc["max_gamma"] = max(acc.get("max_gamma", 0.0), gamma)
            if gamma > g.gamma_break:
                return self.fail("extrapolation", gamma, g.gamma_break,
                                 f"extrapolation grade {gamma:.3g} above gamma_break "
                                 f"{g.gamma_break:g} (active set {g.active_set})")
        if step >= n_eq:
            self.writer.append(at.positions, (step - n_eq) * self.dt_ps)
        return None

    def extrapolation_grade(self) -> float:
        """The current configuration's extrapolation grade (D-optimality) against the
        guard's active set, from the MD model's own descriptors."""
        from lidiff_helpers.analysis.dopt import ActiveSet
        from lidiff_helpers.simulation.descriptors import mace_descriptors

        if getattr(self, "_active_set", None) is None:
            self._active_set = ActiveSet.load(self.run.guard.active_set,
                                              model_sha256=self.run.model_sha256)
        d = mace_descriptors(self.at.calc, [self.at])
        return float(self._active_set.grade(d.features, d.numbers).per_config[0])

    def advance(self) -> tuple[dict | None, float]:
        """One MD step with the per-step guard: (failure record or None, temperature K)."""
        at = self.at
        self.step += 1
        try:
            self.dyn.step()
            # the step's last force call was at the current positions: read the
            # calculator's results directly (no second state comparison per step)
            res = at.calc.results
            forces, epot = res.get("forces"), res.get("energy")
            if forces is None or epot is None:
                forces, epot = at.get_forces(), at.get_potential_energy()
        except Exception as exc:  # noqa: BLE001 - a blown-up geometry can crash the model
            return self.fail("calculator_error", None, None, f"{type(exc).__name__}: {exc}"), 0.0
        return self.check_step(bool(np.isfinite(epot) and np.isfinite(forces).all()),
                               at.get_kinetic_energy() / self.kin_per_K)

    def check_step(self, finite: bool, temp: float) -> tuple[dict | None, float]:
        """The per-step guard after step :attr:`step`: finite forces and energy, the
        temperature ``temp`` (K) inside its bounds. (failure record or None, temp)"""
        if not finite:
            return self.fail("non_finite", None, None,
                             "forces or energy not finite (NaN/inf)"), 0.0
        if self.step >= self.run.n_equilibration_steps:
            self.acc["t_sum"] += temp
            self.acc["t_count"] += 1
        if not temp <= self.t_hi or (self.step >= self.grace_steps and temp < self.t_lo):
            return self.fail("temperature", temp, [self.t_lo, self.t_hi],
                             f"instantaneous temperature {temp:.1f} K outside "
                             f"[{self.t_lo:.0f}, {self.t_hi:.0f}] K (target "
                             f"{self.run.temperature_K:g} K)"), temp
        return None, temp

    def checkpoint(self) -> None:
        """Flush the outputs and write ``checkpoint.npz`` at the current (saved) step."""
        at, th = self.at, self.thermostat
        self.writer.flush()
        self.thermo.flush()
        os.fsync(self.thermo.fileno())
        ensure_same_file(self.thermo, CheckpointError)
        save_checkpoint(self.folder, {
            "numbers": at.numbers, "positions": at.positions, "momenta": at.get_momenta(),
            "masses": at.get_masses(), "cell": at.cell.array, "pbc": at.pbc,
            "eta": th._eta, "p_eta": th._p_eta, "step": self.step,
            "n_frames": self.writer.n_frames, "thermo_bytes": self.thermo.tell(), **self.acc})
        if self.step < self.run.n_steps:
            self.record("running", note=f"checkpoint at step {self.step}")

    def _bar(self, progress: bool):
        if not progress:
            return None
        from tqdm import tqdm

        return tqdm(total=round(self.run.n_steps * self.dt_ps, 6),
                    initial=round(self.step * self.dt_ps, 6), unit="ps", desc=self.run.name,
                    mininterval=2.0, dynamic_ncols=True,
                    bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.3f}/{total:.3f} ps "
                               "[{elapsed}<{remaining}{postfix}]")

    # -- the loop ------------------------------------------------------------------
    def begin(self, progress: bool) -> dict | None:
        """Status ``running``, the start point of a fresh run, timers and the progress
        bar. Returns a failure record (the start is already bad) or None."""
        self.record("running", note="started" if self.fresh else f"resumed at step {self.step}")
        if self.fresh:
            f0 = self.at.get_forces()
            if not (np.isfinite(f0).all() and np.isfinite(self.at.get_potential_energy())):
                return self.fail("non_finite", None, None, "forces or energy not finite")
            out = self.save_point()
            if out is not None:
                return out
        self.bar = self._bar(progress)
        acc = self.acc
        self.timer = {"step0": self.step, "t0": time.perf_counter(), "c0": time.process_time(),
                      "wall0": acc["wall_s"], "cpu0": acc["cpu_s"],
                      "steps0": acc["steps_timed"], "t_ckpt": time.perf_counter()}
        return None

    def tick(self, temp: float) -> dict | None:
        """After a guarded step: at a saved step the thermo line, frame, timing, progress
        and (when due) a checkpoint. Returns a failure record or None."""
        run, acc, tm = self.run, self.acc, self.timer
        if self.step % run.save_every:
            return None
        out = self.save_point()
        if out is not None:
            return out
        now = time.perf_counter()
        acc["wall_s"] = tm["wall0"] + (now - tm["t0"])
        acc["cpu_s"] = tm["cpu0"] + (time.process_time() - tm["c0"])
        acc["steps_timed"] = tm["steps0"] + (self.step - tm["step0"])
        if self.bar is not None:
            self.bar.update(round(self.step * self.dt_ps - self.bar.n, 6))
            ms = 1000.0 * (now - tm["t0"]) / max(self.step - tm["step0"], 1)
            self.bar.set_postfix_str(f"{86400.0 / ms * run.timestep_fs:.1f} ps/day, "
                                     f"T={temp:.0f} K", refresh=False)
        if (self.step in (run.n_equilibration_steps, run.n_steps)
                or now - tm["t_ckpt"] >= run.checkpoint_every_s):
            self.checkpoint()
            tm["t_ckpt"] = now
        return None

    def stop(self) -> None:
        """Close the progress bar and the outputs (also after a failure or a kill)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.close()

    def finish(self) -> dict:
        """Mark the run ``done``; returns its record."""
        self.stop()
        rec = self.record("done")
        print(f"[md] {self.run.name}: done, {rec['n_frames']} frames, "
              f"{rec['ms_per_step']:.1f} ms/step, {rec['ps_per_day']:.1f} ps/day")
        return rec

    def integrate(self, progress: bool) -> dict:
        """Start point (fresh runs), then step until ``n_steps``; returns the record."""
        out = self.begin(progress)
        if out is not None:
            return out
        try:
            while self.step < self.run.n_steps:
                out, temp = self.advance()
                if out is None:
                    out = self.tick(temp)
                if out is not None:
                    return out
        finally:
            self.stop()
        return self.finish()


def run_job(run: Mapping, md_dir: str, n_threads: int | None = None,
            progress: bool = True) -> dict:
    """Executor entry point (picklable): one run, guard failures returned not raised."""
    if n_threads:
        import torch

        torch.set_num_threads(int(n_threads))
    return run_md(MDRun.from_dict(run), md_dir, progress=progress, raise_on_failure=False)
