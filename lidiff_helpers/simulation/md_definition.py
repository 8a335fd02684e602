"""MD run definitions: what one NVT run simulates (:class:`MDRun`) and the thresholds of
its blow-up guard (:class:`GuardSettings`), validated when they are made.

A definition with a wrong type (a list or a string where a number belongs), a zero or
negative temperature, timestep or length, or lengths that are not a whole number of saved
intervals raises :class:`lidiff_helpers.core.errors.ParameterError` naming the run and
every problem, before any arithmetic on the bad value. The runner is
:mod:`lidiff_helpers.simulation.md`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lidiff_helpers.core.errors import ParameterError

__all__ = ["THERMO_COLUMNS", "MUTABLE_FIELDS", "ENGINES", "GuardSettings", "MDRun"]

#: thermo log columns (units in the names)
THERMO_COLUMNS = ("step", "phase", "time_ps", "temperature_K", "potential_energy_eV",
                  "kinetic_energy_eV", "conserved_energy_eV", "drift_eV_per_atom",
                  "min_distance_A")
_PURPOSES = ("arrhenius", "comparison")
#: MD engines: ``ase`` (one run at a time, :mod:`lidiff_helpers.simulation.md`) or
#: ``batched`` (many runs per model call, torch-sim: :mod:`lidiff_helpers.simulation.md_batched`)
ENGINES = ("ase", "batched")

#: run fields that may change under the same run (folder and name): a longer production
#: extends a finished run; checkpoint cadence, device and engine are bookkeeping (both
#: engines integrate the same Nose-Hoover chain equations with the same thermostat
#: variables, so a run started by one may be continued by the other)
MUTABLE_FIELDS = frozenset({"production_ps", "checkpoint_every_s", "device", "engine"})


@dataclass(frozen=True)
class GuardSettings:
    """Thresholds of the blow-up guard (see :mod:`lidiff_helpers.simulation.md`).

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
    gamma_break : stop when a saved frame's extrapolation grade (D-optimality, the
        MLIP-3 workflow's gamma: :mod:`lidiff_helpers.analysis.dopt`) exceeds this
        (None: no check; MLIP-3's default is 10)
    active_set : the ``.npz`` active set the grade is measured against
        (:meth:`lidiff_helpers.analysis.dopt.ActiveSet.save`); needed with ``gamma_break``
    """

    min_distance_A: float = 0.7
    distance_cutoff_A: float = 3.0
    max_temperature_factor: float = 2.0
    grace_ps: float = 1.0
    max_drift_eV_per_atom: float = 0.05
    gamma_break: float | None = None
    active_set: str | None = None


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
    engine : ``ase`` (ASE's ``NoseHooverChainNVT``, one run per process) or ``batched``
        (torch-sim: every run of a batch advanced by one model call per step)
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
    engine: str = "ase"
    model_sha256: str | None = None
    init_temperature_K: float | None = None
    checkpoint_every_s: float = 300.0
    guard: GuardSettings = field(default_factory=GuardSettings)

    def __post_init__(self):
        bad = _definition_problems(self)
        if bad:
            raise ParameterError(f"MD run {self.name!r}: " + "; ".join(bad))
        if isinstance(self.guard, Mapping):
            object.__setattr__(self, "guard", GuardSettings(**self.guard))
        g = self.guard
        if g.gamma_break is not None and (not g.gamma_break > 1.0 or not g.active_set):
            raise ParameterError(f"MD run {self.name!r}: guard gamma_break={g.gamma_break} "
                                 "needs a value > 1 and an active_set file")

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
        """The run as plain data; guard settings left at None (the optional extrapolation
        check) are omitted, so runs defined before that check keep their definition."""
        d = dataclasses.asdict(self)
        d["guard"] = {k: v for k, v in d["guard"].items() if v is not None}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MDRun:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ParameterError(f"MD run {d.get('name')!r}: unknown fields {unknown}")
        return cls(**dict(d))


#: MDRun fields that must be numbers (int or float) and integers
_NUMBER_FIELDS = ("temperature_K", "timestep_fs", "tdamp_fs", "production_ps",
                  "equilibration_ps", "checkpoint_every_s")
_INTEGER_FIELDS = ("replica", "seed", "tchain", "tloop", "save_every")


def is_number(v) -> bool:
    """An int or float (numpy ones too), not a bool."""
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _definition_problems(run: MDRun) -> list[str]:
    """What is wrong with a run definition: types first, then values, then the step
    arithmetic (only on valid values, so no ZeroDivisionError before the message)."""
    bad = []
    if not isinstance(run.name, str) or not re.fullmatch(r"[A-Za-z0-9_.+-]+", run.name):
        bad.append(f"name {run.name!r} must be a plain folder name ([A-Za-z0-9_.+-])")
    if run.purpose not in _PURPOSES:
        bad.append(f"purpose must be one of {_PURPOSES}, got {run.purpose!r}")
    if run.engine not in ENGINES:
        bad.append(f"engine must be one of {ENGINES}, got {run.engine!r}")
    if run.velocities not in ("maxwell-boltzmann", "file"):
        bad.append(f"velocities must be 'maxwell-boltzmann' or 'file', got {run.velocities!r}")
    bad += [f"{k} must be a number, got {getattr(run, k)!r} ({type(getattr(run, k)).__name__})"
            for k in _NUMBER_FIELDS if not is_number(getattr(run, k))]
    bad += [f"{k} must be an integer, got {getattr(run, k)!r}" for k in _INTEGER_FIELDS
            if not isinstance(getattr(run, k), (int, np.integer)) or isinstance(getattr(run, k),
                                                                                 bool)]
    if run.init_temperature_K is not None and not (is_number(run.init_temperature_K)
                                                   and run.init_temperature_K > 0):
        bad.append(f"init_temperature_K must be None or > 0, got {run.init_temperature_K!r}")
    if bad:
        return bad
    bad += [f"{k} must be > 0, got {getattr(run, k)}" for k in
            ("temperature_K", "timestep_fs", "tdamp_fs", "production_ps")
            if not getattr(run, k) > 0]
    if not run.equilibration_ps >= 0 or run.save_every < 1 or run.checkpoint_every_s < 0:
        bad.append("equilibration_ps and checkpoint_every_s must be >= 0 and save_every >= 1")
    if bad:
        return bad
    for k in ("production_ps", "equilibration_ps"):
        steps = float(getattr(run, k)) * 1000.0 / run.timestep_fs
        if abs(steps / run.save_every - round(steps / run.save_every)) > 1e-6:
            bad.append(f"{k} = {getattr(run, k)} ps is not a whole number of saved "
                       f"intervals ({run.save_every} steps x {run.timestep_fs} fs)")
    return bad
