"""Short NVT runs with plain ASE dynamics, for structural averages (notebook 01's RDFs).

:func:`nvt_frames` runs Langevin or Nose-Hoover-chain dynamics of a small cell with any
ASE calculator and returns wrapped frames; :func:`nvt_rdf` turns them into partial RDFs
with :func:`lidiff_helpers.analysis.rdf.partial_rdf`. Production MD (resumable, guarded,
unwrapped trajectories) is :mod:`lidiff_helpers.simulation.md`.
"""

from __future__ import annotations

import numpy as np

from lidiff_helpers.analysis.rdf import RDFResult, partial_rdf, rocksalt_a_from_cell
from lidiff_helpers.core.errors import MDGuardError, ParameterError

__all__ = ["nvt_frames", "nvt_rdf"]


def nvt_frames(calc, atoms, temperature_K: float = 300.0, timestep_fs: float = 2.0,
               n_equil_steps: int = 100, n_steps: int = 200, sample_every: int = 10,
               thermostat: str = "langevin", friction_per_fs: float = 0.01,
               tdamp_fs: float = 100.0, seed: int = 0, progress: bool = True) -> list:
    """Frames of a short NVT run (for RDFs), with plain ASE dynamics.

    Parameters
    ----------
    calc : ASE calculator
    atoms : starting structure (copied; velocities drawn from Maxwell-Boltzmann at
        ``temperature_K`` with ``seed``, centre-of-mass motion removed)
    temperature_K : target temperature, K
    timestep_fs : MD time step, fs
    n_equil_steps : steps discarded before sampling
    n_steps : production steps; a frame is kept every ``sample_every`` steps
    thermostat : ``langevin`` (friction ``friction_per_fs``, 1/fs) or ``nose-hoover``
        (Nose-Hoover chain, damping time ``tdamp_fs``)
    progress : tqdm bar over the steps

    Returns
    -------
    list of ASE Atoms (positions wrapped into the cell), ``info["temperature_K"]`` set to
    the instantaneous kinetic temperature.
    """
    from ase import units
    from ase.constraints import FixCom
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    at = atoms.copy()
    at.calc = calc
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(at, temperature_K=temperature_K, rng=rng)
    Stationary(at)
    dt = timestep_fs * units.fs
    if thermostat == "langevin":
        from ase.md.langevin import Langevin

        at.set_constraint(FixCom())  # ASE's recommended replacement of fixcm=True
        dyn = Langevin(at, dt, temperature_K=temperature_K,
                       friction=friction_per_fs / units.fs, fixcm=False, rng=rng)
    elif thermostat in ("nose-hoover", "nosehoover", "nhc"):
        from ase.md.nose_hoover_chain import NoseHooverChainNVT

        dyn = NoseHooverChainNVT(at, dt, temperature_K=temperature_K,
                                 tdamp=tdamp_fs * units.fs)
    else:
        raise ParameterError(f"unknown thermostat {thermostat!r}; use 'langevin' or 'nose-hoover'")
    frames = []
    total = int(n_equil_steps) + int(n_steps)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=f"NVT {temperature_K:g} K", leave=False)
    for step in range(1, total + 1):
        dyn.run(1)
        if bar is not None:
            bar.update(1)
        if step > n_equil_steps and (step - n_equil_steps) % sample_every == 0:
            fr = at.copy()
            fr.calc = None
            fr.set_constraint()
            fr.wrap()
            fr.info["temperature_K"] = float(at.get_temperature())
            frames.append(fr)
    if bar is not None:
        bar.close()
    if not frames:
        raise ParameterError(f"nvt_frames: no frame sampled (n_steps={n_steps}, "
                         f"sample_every={sample_every})")
    temps = [f.info["temperature_K"] for f in frames]
    if not np.isfinite(temps).all() or max(temps) > 20 * temperature_K:
        raise MDGuardError(f"nvt_frames: the run at {temperature_K} K blew up (kinetic "
                           f"temperatures up to {max(temps):.0f} K); the model is unstable")
    return frames


def nvt_rdf(calc, atoms, temperature_K: float = 300.0, timestep_fs: float = 2.0,
            n_equil_steps: int = 100, n_steps: int = 200, sample_every: int = 10,
            thermostat: str = "langevin", friction_per_fs: float = 0.01, seed: int = 0,
            r_max_A: float = 6.0, dr_A: float = 0.02, progress: bool = True) -> RDFResult:
    """Partial RDFs of a short NVT run (:func:`nvt_frames`) started from ``atoms``, a
    perfect rock-salt supercell whose lattice constant is recorded in the result."""
    frames = nvt_frames(calc, atoms, temperature_K=temperature_K, timestep_fs=timestep_fs,
                        n_equil_steps=n_equil_steps, n_steps=n_steps,
                        sample_every=sample_every, thermostat=thermostat,
                        friction_per_fs=friction_per_fs, seed=seed, progress=progress)
    res = partial_rdf(frames, r_max_A=r_max_A, dr_A=dr_A, a_A=rocksalt_a_from_cell(atoms))
    t_mean = float(np.mean([f.info["temperature_K"] for f in frames]))
    return RDFResult(**{**res.__dict__, "temperature_K": t_mean})
