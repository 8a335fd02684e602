"""Batched NVT: many MD runs advanced together, one model call per step (torch-sim).

The study's grid is many independent systems (5 temperatures x 4 replicas of one model,
plus 400/450 K x 2 replicas per fine-tuned model). With ASE each run evaluates the model
alone; here the runs of a batch are one `torch-sim <https://github.com/TorchSim/torch-sim>`_
state (``SimState``: all atoms concatenated, a system index per atom) and every step makes
one model call for all of them, which is what fills a GPU.

What integrates
---------------
Each run keeps the ASE engine's equations: Martyna-Klein-Tuckerman Nose-Hoover chain NVT
(chain length ``tchain``, ``tloop`` sub-steps, 3 Suzuki-Yoshida weights, masses
Q_0 = 3 N k_B T tau^2 and Q_j = k_B T tau^2, 3N degrees of freedom), velocity Verlet
between the chain's half steps. The pieces are torch-sim's own:
``construct_nose_hoover_chain`` (the chain), ``velocity_verlet`` (momenta, positions and
the batched model call), ``calc_kinetic_energy`` and ``nvt_nose_hoover_invariant``. Every run has its own
chain (a column of the batch's chain variables, integrated together), so replicas at
different temperatures share a batch and each is thermostatted on its own.

Why not torch-sim's ``nvt_nose_hoover`` itself: in torch-sim-atomistic 0.3.0 (the newest
release on the package index used here) it couples all systems of a batch to a single
chain with the summed degrees of freedom and fails for more than one system
(``RuntimeError: expand(torch.DoubleTensor{[2]}, size=[])``; torch-sim issue #262, fixed
upstream after 0.3.0 by per-system chains, the structure used here).

Same files, same guard
----------------------
Every run of a batch is a :class:`lidiff_helpers.simulation.md._Session` as in the ASE
runner: same run folder, ``trajectory/`` (unwrapped positions: torch-sim wraps positions
into the cell, so the engine accumulates minimum-image displacements step by step),
``thermo.csv``, ``checkpoint.npz`` (the chain's positions and momenta are the ASE
thermostat's ``eta``/``p_eta``), ``status.json``, guard and resume. A run that fails its
guard or finishes leaves the batch; the others go on. The integration is in float64 like
the ASE runner's; a float32 model is evaluated in float32 (``dtype``).

Multihead fine-tuned models: torch-sim's MACE wrapper evaluates head 0 (the replay head
``pt_head`` of mace-torch 0.3.16 multihead models), so :func:`batched_model` keeps only
the fine-tuned head first, with mace-torch's ``remove_pt_head`` (what ``mace_select_head``
does).

Reference: R. Gangan, O. Cohen, J. Riebesell et al., TorchSim: an efficient atomistic
simulation engine in PyTorch (2025), arXiv:2508.06628.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from lidiff_helpers.core.errors import MDGuardError, ParameterError
from lidiff_helpers.core.units import KB_EV_PER_K
from lidiff_helpers.simulation.md import (
    _model_identity,
    _Session,
    check_model_covers_structure,
    prepare_run,
)
from lidiff_helpers.simulation.md_definition import MDRun
from lidiff_helpers.simulation.models import WARM_UP_CALLS

__all__ = [
    "BATCH_KEYS",
    "ChainThermostat",
    "batch_groups",
    "batched_model",
    "run_batch_job",
    "run_batched",
    "torchsim_calculator",
]

#: run fields every run of one batch must share (one model, one time step, one chain shape)
BATCH_KEYS = ("model_spec", "dtype", "device", "timestep_fs", "tchain", "tloop")


def batch_groups(runs: Sequence[MDRun], max_batch: int | None = None) -> list[list[MDRun]]:
    """Runs split into batches that may share a model call (same :data:`BATCH_KEYS`),
    at most ``max_batch`` runs each (None: no limit), in the given order."""
    groups: dict[tuple, list[MDRun]] = {}
    for r in runs:
        groups.setdefault(tuple(getattr(r, k) for k in BATCH_KEYS), []).append(r)
    out = []
    for g in groups.values():
        n = len(g) if not max_batch else int(max_batch)
        out += [g[i:i + n] for i in range(0, len(g), n)]
    return out


# ------------------------------------------------------------------------- the model

class _CastModel:
    """A torch-sim model evaluated in its own precision for a float64 state."""

    def __init__(self, inner, dtype):
        self.inner, self.dtype = inner, dtype
        self.z_table = inner.z_table      # the elements, as MACECalculator lists them

    def __call__(self, state) -> dict:
        import torch
        import torch_sim as ts

        s = ts.SimState(positions=state.positions.detach().to(self.dtype),
                        masses=state.masses.detach().to(self.dtype),
                        cell=state.cell.detach().to(self.dtype),
                        pbc=state.pbc, atomic_numbers=state.atomic_numbers,
                        system_idx=state.system_idx)
        return {k: v.to(torch.float64) for k, v in self.inner(s).items()}


def batched_model(spec: str, device: str = "cpu", dtype: str = "float32",
                  head: str | None = None):
    """A torch-sim MACE model of a lidiff model spec, one head, forces only.

    Parameters
    ----------
    spec : model spec (:func:`lidiff_helpers.simulation.models.resolve_spec`)
    device, dtype : torch device and model precision (``float32`` | ``float64``)
    head : head of a multihead model to evaluate (default: the one the ASE calculator
        evaluates, ``Default``: the fine-tuned head)

    Raises
    ------
    ParameterError
        the model is not a MACE model (CHGNet runs with ``engine='ase'``).
    """
    import torch
    from mace.tools.scripts_utils import remove_pt_head
    from torch_sim.models.mace import MaceModel

    from lidiff_helpers.simulation import models

    m = models.resolve_spec(spec)
    if m.kind == "chgnet":
        raise ParameterError(f"model {spec!r} is CHGNet: the batched engine runs MACE models "
                             "only; use engine='ase' for it")
    calc = models.get_calculator(m, device=device, dtype=dtype, head=head, verbose=False)
    module = calc.models[0]
    multihead = len(calc.available_heads) > 1
    if multihead:
        module = remove_pt_head(module, calc.head)   # mace_select_head's function
    tdtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
    inner = MaceModel(model=module, device=torch.device(device), dtype=tdtype,
                      compute_forces=True, compute_stress=False)
    out = _CastModel(inner, tdtype)
    out.head = calc.head if multihead else None
    return out


def torchsim_calculator(model):
    """An ASE calculator evaluating a torch-sim model (float64 state; energy, forces):
    the same potential in both engines, for comparisons of ASE and batched runs."""
    import torch
    import torch_sim as ts
    from ase.calculators.calculator import Calculator, all_changes

    class TorchSimCalculator(Calculator):
        implemented_properties = ["energy", "forces"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            st = ts.io.atoms_to_state(self.atoms, torch.device("cpu"), torch.float64)
            out = model(st)
            self.results = {"energy": float(out["energy"].sum()),
                            "forces": out["forces"].detach().cpu().numpy().astype(float)}

    return TorchSimCalculator()


# ------------------------------------------------------------------------- thermostat

class ChainThermostat:
    """One run's Nose-Hoover chain as the runner sees it: ``_eta`` and ``_p_eta`` (the
    chain's positions and momenta, what checkpoints store) and
    :meth:`get_thermostat_energy` (eV). The engine builds the batch's chain from them and
    copies the chain back into them at saved steps."""

    def __init__(self, tchain: int):
        self._eta = np.zeros(int(tchain))
        self._p_eta = np.zeros(int(tchain))
        self.energy_eV = 0.0

    def get_thermostat_energy(self) -> float:
        """The chain's share of the conserved energy at the last sync, eV."""
        return self.energy_eV


# ------------------------------------------------------------------------- one batch

class _Batch:
    """The active runs as one torch-sim state and one Nose-Hoover chain whose variables
    have a column per run (shape ``[tchain, n_runs]``), and their unwrapped positions.

    torch-sim's chain step (``construct_nose_hoover_chain(...).half_step``) is elementwise
    in the chain variables, the kinetic energy, the degrees of freedom and kT, so per-run
    columns integrate every run's chain at once; its only use of the particle momenta is
    to multiply them by exp(-...), so it is handed ones (one per run) and returns each
    run's scale factor, applied to that run's atoms."""

    def __init__(self, sessions: Sequence[_Session], model, device: str):
        import torch
        import torch_sim as ts
        from ase import units
        from torch_sim.integrators.md import MDState, NoseHooverChain, construct_nose_hoover_chain
        from torch_sim.quantities import calc_kinetic_energy

        self.sessions, self.model = list(sessions), model
        run0 = self.sessions[0].run
        dev, f64 = torch.device(device), torch.float64
        self.dt = torch.tensor(run0.timestep_fs * units.fs, dtype=f64, device=dev)
        atoms = [s.at for s in self.sessions]
        st = ts.io.atoms_to_state(atoms, dev, f64)
        self.bounds = np.concatenate([[0], np.cumsum([len(a) for a in atoms])])
        mom = torch.tensor(np.concatenate([a.get_momenta() for a in atoms]), dtype=f64,
                           device=dev)
        for _ in range(WARM_UP_CALLS):    # a model's first call differs in the last bit
            model(st)                      # (models.WARM_UP_CALLS): never integrate with it
        out = model(st)
        self.state = MDState(positions=st.positions, momenta=mom, energy=out["energy"],
                             forces=out["forces"], masses=st.masses, cell=st.cell,
                             pbc=st.pbc, atomic_numbers=st.atomic_numbers,
                             system_idx=st.system_idx)
        self.unwrapped = st.positions.clone()
        self.inv_cell = torch.linalg.inv(self.state.row_vector_cell)
        col = lambda xs: torch.tensor(xs, dtype=f64, device=dev)
        self.kT = col([KB_EV_PER_K * s.run.temperature_K for s in self.sessions])
        tau = col([s.run.tdamp_fs * units.fs for s in self.sessions])
        dof = col([3.0 * len(a) for a in atoms])                  # 3N, as ASE
        Q = (self.kT * tau ** 2).expand(run0.tchain, -1).clone()
        Q[0] *= dof
        self.fns = construct_nose_hoover_chain(self.dt, run0.tchain, run0.tloop, 3, tau)
        self.chain = NoseHooverChain(
            positions=torch.stack([col(s.thermostat._eta) for s in self.sessions], dim=1),
            momenta=torch.stack([col(s.thermostat._p_eta) for s in self.sessions], dim=1),
            masses=Q, tau=tau, degrees_of_freedom=dof,
            kinetic_energy=calc_kinetic_energy(masses=st.masses, momenta=mom,
                                               system_idx=st.system_idx))
        self.ones = torch.ones(len(self.sessions), dtype=f64, device=dev)
        self.kin_per_K = col([s.kin_per_K for s in self.sessions])
        self._chain_energy = None           # per run, eV: computed at most once per step

    def _half_step(self) -> None:
        scale, self.chain = self.fns.half_step(self.ones.clone(), self.chain, self.kT)
        st = self.state
        st.momenta = st.momenta * scale[st.system_idx].unsqueeze(-1)

    def step(self) -> tuple[np.ndarray, np.ndarray]:
        """One NVT step of every run: (temperatures K, forces and energy finite), one
        entry per run."""
        import torch
        from torch_sim.integrators.md import velocity_verlet
        from torch_sim.quantities import calc_kinetic_energy

        self._half_step()
        before = self.state.positions.clone()
        self.state = st = velocity_verlet(state=self.state, dt=self.dt, model=self.model)
        d = st.positions - before                      # wrapping jumps removed below
        frac = torch.einsum("ni,nij->nj", d, self.inv_cell[st.system_idx])
        self.unwrapped += torch.einsum("ni,nij->nj", frac - torch.round(frac),
                                       st.row_vector_cell[st.system_idx])
        self.chain.kinetic_energy = calc_kinetic_energy(masses=st.masses, momenta=st.momenta,
                                                        system_idx=st.system_idx)
        self._half_step()
        self._chain_energy = None
        ke = self.chain.kinetic_energy       # the chain rescales it with the momenta
        bad = torch.zeros(len(self.sessions), dtype=torch.float64, device=ke.device)
        bad.index_add_(0, st.system_idx, (~torch.isfinite(st.forces).all(dim=1)).double())
        finite = (bad == 0) & torch.isfinite(st.energy)
        both = torch.stack([ke / self.kin_per_K, finite.double()]).cpu().numpy()
        return both[0], both[1].astype(bool)

    def chain_energy_eV(self) -> np.ndarray:
        """Each run's thermostat energy at the current step, eV: torch-sim's
        ``nvt_nose_hoover_invariant`` minus the particles' energies (once per step)."""
        from torch_sim.integrators.nvt import nvt_nose_hoover_invariant
        from torch_sim.quantities import calc_kinetic_energy

        if self._chain_energy is None:
            st = self.state
            st.chain = self.chain
            ke = calc_kinetic_energy(masses=st.masses, momenta=st.momenta,
                                     system_idx=st.system_idx)
            self._chain_energy = (nvt_nose_hoover_invariant(st, self.kT) - st.energy
                                  - ke).cpu().numpy()
        return self._chain_energy

    def sync(self, i: int) -> None:
        """Copy run ``i``'s state into its session: atoms (unwrapped positions, momenta,
        energy and forces), the chain's ``eta``/``p_eta`` and its energy."""
        from ase.calculators.singlepoint import SinglePointCalculator

        s, b, st = self.sessions[i], self.bounds, self.state
        sl = slice(int(b[i]), int(b[i + 1]))
        at = s.at
        at.positions = self.unwrapped[sl].cpu().numpy()
        at.set_momenta(st.momenta[sl].cpu().numpy())
        at.calc = SinglePointCalculator(at, energy=float(st.energy[i]),
                                        forces=st.forces[sl].cpu().numpy())
        s.thermostat._eta[:] = self.chain.positions[:, i].cpu().numpy()
        s.thermostat._p_eta[:] = self.chain.momenta[:, i].cpu().numpy()
        s.thermostat.energy_eV = float(self.chain_energy_eV()[i])


# ------------------------------------------------------------------------- the runner

def _check_batch(runs: Sequence[MDRun]) -> None:
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ParameterError(f"batched MD: run names must be unique, got {names}")
    short = [r.name for r in runs if r.tchain < 2]
    if short:
        raise ParameterError(f"batched MD: runs {short} have tchain < 2; torch-sim 0.3.0's "
                             "chain needs at least 2 thermostats (torch-sim issue #266); "
                             "use tchain >= 2 or engine='ase'")
    guarded = [r.name for r in runs if r.guard.gamma_break is not None]
    if guarded:
        raise ParameterError(f"batched MD: runs {guarded} stop at an extrapolation grade "
                             "(guard gamma_break), which needs the model's descriptors of "
                             "each frame: run them with engine='ase'")
    for k in BATCH_KEYS:
        vals = sorted({str(getattr(r, k)) for r in runs})
        if len(vals) > 1:
            raise ParameterError(f"batched MD: the runs of one batch must share {k}, got "
                                 f"{vals} (split them with batch_groups)")


def run_batched(runs: Sequence[MDRun | Mapping], md_dir: str | os.PathLike, *, model=None,
                progress: bool = True, raise_on_failure: bool = True,
                restart: bool = False) -> list[dict]:
    """Run (or resume, or skip) several NVT runs together; returns their status records in
    the order given.

    Parameters
    ----------
    runs : runs sharing :data:`BATCH_KEYS` (model, dtype, device, time step); their
        temperatures, replicas, start structures, sizes and lengths may differ
    md_dir : parent folder; each run lives in ``md_dir / run.name`` (the ASE runner's files)
    model : a torch-sim model to use instead of :func:`batched_model` of the runs' spec
        (tests); it is called with a float64 ``SimState``
    progress : one tqdm bar for the batch (steps of its longest run)
    raise_on_failure : after the batch, raise :class:`MDGuardError` for the first run
        whose guard fired (the other runs are finished first either way)
    restart : delete the runs' files first and start over

    Raises
    ------
    ParameterError
        runs that cannot share a batch, a model without parameters for an element of a
        structure, a run folder holding other settings (before any step).
    """
    runs = [r if isinstance(r, MDRun) else MDRun.from_dict(r) for r in runs]
    if not runs:
        return []
    _check_batch(runs)
    records: dict[str, dict] = {}
    prepared = []
    for r in runs:
        p = prepare_run(r, md_dir, restart=restart)
        if isinstance(p, dict):
            records[r.name] = p
        else:
            prepared.append(p)
    if prepared:
        _integrate_batch(prepared, model, progress, records)
    out = [records[r.name] for r in runs]
    failed = [rec for rec in out if rec and rec.get("status") == "failed"
              and rec["name"] in {p.run.name for p in prepared}]
    if raise_on_failure and failed:
        raise MDGuardError(failed[0]["failure"]["message"], failed[0]["failure"])
    return out


def _integrate_batch(prepared, model, progress: bool, records: dict) -> None:
    run0 = prepared[0].run
    given = model
    model = model if model is not None else batched_model(run0.model_spec, run0.device,
                                                          run0.dtype)
    for p in prepared:                      # every run checked before any file is opened
        check_model_covers_structure(model, p.atoms, f"MD run {p.run.name!r}",
                                     p.run.model_spec)
    sessions = []
    for p in prepared:
        ident = _model_identity(p.run, given)
        if given is None and getattr(model, "head", None):
            ident = {**ident, "head": model.head}
        s = _Session(p.run, p.folder, p.atoms, p.checkpoint, raise_on_failure=False,
                     thermostat=ChainThermostat(p.run.tchain))
        s.open(ident, p.start_info, p.status)
        sessions.append(s)
    names = [s.run.name for s in sessions]
    for s in sessions:                      # provenance: the runs that shared model calls
        s.base["batch"] = {"engine": "torch-sim " + _torchsim_version(), "runs": names,
                           "n_atoms_total": int(sum(x.n_atoms for x in sessions))}
    batch = _Batch(sessions, model, run0.device)
    active = []
    for i, s in enumerate(sessions):
        batch.sync(i)
        if _goes_on(s, s.begin(progress=False), records):
            active.append(s)
    bar = _bar(active, progress)
    try:
        while active:
            if batch.sessions != active:
                batch = _Batch(active, model, run0.device)
            for i, s in enumerate(active):
                s.before_fail = (lambda b=batch, j=i: b.sync(j))
            try:
                temps, finite = batch.step()
            except Exception as exc:  # noqa: BLE001 - a blown-up geometry can crash the model
                for s in active:
                    s.step += 1
                    records[s.run.name] = s.fail("calculator_error", None, None,
                                                 f"{type(exc).__name__}: {exc}")
                break
            still = []
            for i, s in enumerate(active):
                s.step += 1
                out, temp = s.check_step(bool(finite[i]), float(temps[i]))
                if out is None and s.step % s.run.save_every == 0:
                    batch.sync(i)
                    out = s.tick(temp)
                if _goes_on(s, out, records):
                    still.append(s)
            if bar is not None:
                bar.update(1)
            if len(still) != len(active):
                for s in still:
                    batch.sync(active.index(s))
            active = still
    finally:
        if bar is not None:
            bar.close()
        for s in sessions:
            s.stop()


def _goes_on(s: _Session, failure: dict | None, records: dict) -> bool:
    """Record a run that failed (``failure``) or has finished; True if it goes on."""
    if failure is not None:
        records[s.run.name] = failure
        return False
    if s.step >= s.run.n_steps:
        records[s.run.name] = s.finish()
        return False
    return True


def _torchsim_version() -> str:
    from importlib.metadata import version

    return version("torch-sim-atomistic")


def _bar(active, progress: bool):
    if not progress or not active:
        return None
    from tqdm import tqdm

    total = max(s.run.n_steps for s in active)
    first = min(s.step for s in active)
    return tqdm(total=total, initial=first, unit="step", mininterval=2.0,
                desc=f"batched MD, {len(active)} runs", dynamic_ncols=True)


def run_batch_job(runs: Sequence[Mapping], md_dir: str, n_threads: int | None = None,
                  progress: bool = True) -> list[dict]:
    """Executor entry point (picklable): one batch, guard failures returned not raised."""
    if n_threads:
        import torch

        torch.set_num_threads(int(n_threads))
    return run_batched([MDRun.from_dict(r) for r in runs], md_dir, progress=progress,
                       raise_on_failure=False)
