"""Grids of MD runs (notebook 04): the models to run, the runs, the manifest.

:func:`build_grid` turns models x temperatures x replicas into :class:`MDRun` s (paired
replica seeds, the study's start structures, a definition hash in every run name);
:func:`run_grid` runs them through :mod:`lidiff_helpers.core.executor` (local or Slurm)
with :func:`lidiff_helpers.simulation.md.run_job`, and :func:`write_manifest` writes
``<out>/md/manifest.json``, which :func:`lidiff_helpers.analysis.diffusion.read_manifest`
(notebook 05) reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from lidiff_helpers.core.errors import ParameterError
from lidiff_helpers.simulation.md import run_job
from lidiff_helpers.simulation.md_batched import batch_groups, run_batch_job
from lidiff_helpers.simulation.md_definition import ENGINES, MUTABLE_FIELDS, MDRun, is_number
from lidiff_helpers.simulation.md_files import read_status, write_json
from lidiff_helpers.simulation.model_set import models_to_compare

__all__ = ["collect_models", "replica_seed", "build_grid", "definition_hash",
           "write_manifest", "run_grid", "choose_engine"]


def collect_models(out: str | os.PathLike, foundation_model: str,
                   extra_models: Sequence[str] = (), include_registered: bool = True,
                   max_extra_models: int | None = None) -> list[dict]:
    """The models notebook 04 runs, as the grid's dicts (``name``, ``spec``, ``sha256``,
    ``foundation``, ``source``): :func:`lidiff_helpers.simulation.model_set.
    models_to_compare` (one rule for every notebook: same weights SHA256 kept once)."""
    return [m.as_dict() for m in models_to_compare(
        foundation_model, extra_models, out=out, include_registered=include_registered,
        max_extra_models=max_extra_models)]


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

    models = [m.as_dict() if hasattr(m, "as_dict") else m for m in models]
    _check_grid_arguments(
        arrhenius_models=arrhenius_models, arrhenius_temperatures_K=arrhenius_temperatures_K,
        comparison_temperatures_K=comparison_temperatures_K,
        arrhenius_replicas=arrhenius_replicas, comparison_replicas=comparison_replicas,
        arrhenius_production_ps=arrhenius_production_ps,
        comparison_production_ps=comparison_production_ps, equilibration_ps=equilibration_ps,
        foundation_equilibration_ps=foundation_equilibration_ps)
    want = _arrhenius_set(models, arrhenius_models)
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


def _check_grid_arguments(**kw) -> None:
    """Types and signs of :func:`build_grid`'s arguments, before any run is defined.

    Raises
    ------
    ParameterError
        a scalar where a list belongs (``arrhenius_temperatures_K=900``), a temperature
        that is not a positive number, a negative replica count or length.
    """
    bad = []
    for k in ("arrhenius_models", "arrhenius_temperatures_K", "comparison_temperatures_K"):
        v = kw[k]
        if isinstance(v, (str, bytes, Mapping)) or not isinstance(v, (list, tuple)):
            bad.append(f"{k} must be a list, got {v!r} ({type(v).__name__}); write [{v!r}] "
                       "for one value")
    for k in ("arrhenius_temperatures_K", "comparison_temperatures_K"):
        if isinstance(kw[k], (list, tuple)):
            bad += [f"{k} holds {t!r}: temperatures must be numbers > 0 K" for t in kw[k]
                    if not (is_number(t) and t > 0)]
    for k in ("arrhenius_replicas", "comparison_replicas"):
        if not isinstance(kw[k], (int, np.integer)) or isinstance(kw[k], bool) or kw[k] < 0:
            bad.append(f"{k} must be an integer >= 0, got {kw[k]!r}")
    for k in ("arrhenius_production_ps", "comparison_production_ps", "equilibration_ps",
              "foundation_equilibration_ps"):
        if not (is_number(kw[k]) and kw[k] >= 0):
            bad.append(f"{k} must be a number >= 0 ps, got {kw[k]!r}")
    if bad:
        raise ParameterError("MD grid: " + "; ".join(bad))


def _arrhenius_set(models: Sequence[Mapping], arrhenius_models: Sequence[str]) -> set:
    """Display names of the models that get Arrhenius runs (``all``, ``foundation``)."""
    names = [m["name"] for m in models]
    if len(set(names)) != len(names):
        raise ParameterError(f"MD grid: model names must be unique, got {names}")
    want = set(arrhenius_models)
    if "all" in want:
        want = set(names)
    if "foundation" in want:
        want = (want - {"foundation"}) | {m["name"] for m in models if m.get("foundation")}
    unknown = sorted(want - set(names))
    if unknown:
        raise ParameterError(f"arrhenius_models {unknown} are not among the models {names} "
                             "(use a model's display name, 'foundation' or 'all')")
    return want


def definition_hash(run: MDRun) -> str:
    """8 hex digits of the run's physical definition (everything but its name and
    :data:`~lidiff_helpers.simulation.md_definition.MUTABLE_FIELDS`: length, checkpoint
    cadence, device). :func:`build_grid` appends it to run names, so changing a
    parameter (a profile edit, a ``-p`` override) starts new runs in new folders instead
    of being refused by - or silently mixed with - the old ones, which stay untouched."""
    d = {k: v for k, v in run.to_dict().items() if k != "name" and k not in MUTABLE_FIELDS}
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:8]


def write_manifest(out: str | os.PathLike, runs: Sequence[MDRun]) -> list[dict]:
    """Write ``<out>/md/manifest.json``: one entry per run (status read from its folder).

    Keys: ``name, model, model_spec, model_sha256, temperature_K, replica, seed, purpose,
    trajectory, thermo`` (paths relative to ``out``), ``status`` (``pending``,
    ``running``, ``done``, ``failed``), ``failure`` (check, step, time_ps, value,
    threshold, message; or null), ``n_frames, frame_interval_ps`` (between saved frames;
    also written as ``timestep_ps``, its older name, for readers of earlier manifests),
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
            "frame_interval_ps": r.frame_interval_ps,
            "timestep_ps": r.frame_interval_ps,  # deprecated name of frame_interval_ps
            "md_timestep_fs": r.timestep_fs,
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
    write_json(md_dir / "manifest.json", entries)
    return entries


def run_grid(runs: Sequence[MDRun], out: str | os.PathLike, executor=None,
             n_threads: int | None = None, progress: bool = True,
             max_batch: int | None = None) -> list[dict]:
    """Run every run through ``executor`` (default: sequential, this process); returns the
    manifest entries (also written to ``<out>/md/manifest.json``).

    Runs with ``engine='ase'`` are one job each (:func:`lidiff_helpers.simulation.md.
    run_job`); runs with ``engine='batched'`` are grouped into batches of at most
    ``max_batch`` runs sharing a model (:func:`lidiff_helpers.simulation.md_batched.
    batch_groups`), one job per batch (:func:`~lidiff_helpers.simulation.md_batched.
    run_batch_job`).

    Guard failures are recorded in the manifest, not raised; any other job error is
    printed (with its traceback) and the run stays ``running``/``pending`` (resumable).
    """
    from lidiff_helpers.core.executor import JobFailure, get_executor

    executor = executor or get_executor("local")
    md_dir = Path(out) / "md"
    write_manifest(out, runs)
    single = [r for r in runs if r.engine == "ase"]
    jobs = [{"run": r.to_dict(), "md_dir": str(md_dir), "n_threads": n_threads,
             "progress": progress} for r in single]
    for res in executor.map(run_job, jobs):
        if isinstance(res, JobFailure):
            print(f"[md] ERROR in run {res.kwargs['run']['name']}: {res.error}: {res.message}\n"
                  f"{res.traceback}")
    batches = batch_groups([r for r in runs if r.engine == "batched"], max_batch)
    jobs = [{"runs": [r.to_dict() for r in b], "md_dir": str(md_dir), "n_threads": n_threads,
             "progress": progress} for b in batches]
    for res in executor.map(run_batch_job, jobs):
        if isinstance(res, JobFailure):
            names = [r["name"] for r in res.kwargs["runs"]]
            print(f"[md] ERROR in batch {names}: {res.error}: {res.message}\n{res.traceback}")
    return write_manifest(out, runs)


def choose_engine(engine: str, device: str | None) -> str:
    """The MD engine of a profile setting: ``ase`` | ``batched`` as given, ``auto``:
    ``batched`` on a GPU (``cuda...``), ``ase`` on CPU, where the benchmark
    (``benchmarks/bench_md_batched.py``) measured no gain from batching."""
    if engine in ENGINES:
        return engine
    if engine != "auto":
        raise ParameterError(f"md_engine must be 'ase', 'batched' or 'auto', got {engine!r}")
    return "batched" if str(device or "cpu").startswith("cuda") else "ase"
