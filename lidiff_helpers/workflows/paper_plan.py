"""``make paper-plan``: a profile's work resolved without running it (no GPU, no internet).

For notebooks 02-04 of a profile (default ``paper``) this module builds, with the same
functions the notebooks call:

* every ``mace_run_train`` command line of the fine-tuning grid (Table 1) and of the
  active-learning committees (the replay of the study's FT1/FT2 steps and the live loop),
  each with the lr / EMA decay mace will really use (:func:`lidiff_helpers.analysis.
  confound.expected_settings`) and the replay size and fine-tuning duplication it will
  apply (:func:`lidiff_helpers.training.sweeps.planned_replay`);
* every MD run of notebook 04 with its LAMMPS inputs and Slurm job file (written under
  ``<out>/md/lammps/``; the model files they name are what ``mace_create_lammps_model``
  will write once the models exist);
* the Quantum ESPRESSO inputs of active learning (one bulk and one interstitial frame of
  the study's settings, and the number of DFT calculations the loop will need);
* the study data files (present, or missing with their pinned hash and URL) and the
  foundation models (cached, or missing with the command that fetches them);
* the compute it will cost: GPU-hours from the per-step costs the study states
  (:data:`lidiff_helpers.core.reference.STUDY_COSTS`), and for MD with the batched engine
  the published batched cost per atom-step (:data:`~lidiff_helpers.core.reference.
  BATCHED_GPU_COSTS`), each with its source. DFT cost is
  neither stated by the study nor measured here: the plan gives the count.

Nothing is trained, simulated or downloaded. Models that do not exist yet are named by
the path the notebook will give them; run names and hashes are the notebooks' own, so
the plan and a later run agree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from lidiff_helpers.analysis.confound import expected_settings
from lidiff_helpers.core import paths, reference
from lidiff_helpers.core.errors import ModelUnavailableError
from lidiff_helpers.io import data
from lidiff_helpers.simulation.model_set import registered_matches

__all__ = ["plan_data", "plan_models", "plan_finetune",
           "plan_active_learning", "plan_md", "build_plan"]

_COST = reference.STUDY_COSTS
_BATCHED = reference.BATCHED_GPU_COSTS
PLACEHOLDER_SHA = "not-available-yet"


# ----------------------------------------------------------------------------- data

def _needed_by() -> dict[str, list[str]]:
    need: dict[str, list[str]] = {}
    for rel in data.DEEPMD_FILES:
        need.setdefault(rel, []).append("held-out test set (01, 02)")
    d = reference.STUDY_DEEPMD_DIR
    for s in reference.STUDY_TABLE1:
        for f in (s.train_file, s.valid_file):
            if f:
                need.setdefault(f"{d}/{f}", []).append(
                    f"02 Table 1 {s.n_bulk}+{s.n_interstitial}")
    for rel in data.REPLAY_FILES.values():
        need.setdefault(rel, []).append("02 multihead replay")
    for rel in data.MPA0_AL_FILES:
        need.setdefault(rel, []).append("03 FT1/FT2 replay")
    for rel in data.STARTING_STRUCTURES.values():
        need.setdefault(rel, []).append("04 start structures")
    return need


def plan_data() -> list[dict]:
    """Every study file: where it is (or that it is missing), its pinned hash, its URL and
    the notebooks that need it; plus the Table 1 file upstream does not publish."""
    rows = []
    need = _needed_by()
    for rel, pin in data.registry().items():
        try:
            where = data.locate(rel)
        except data.DataIntegrityError as exc:
            where, status = None, f"CORRUPT: {exc}"
        else:
            status = ("present" if where else
                      "missing: upstream only, downloaded when first needed"
                      if data.upstream_only(rel) else "missing")
        rows.append({"file": rel, "pinned_hash": pin, "status": status,
                     "path": str(where) if where else None,
                     "url": f"{data.UPSTREAM_URL}/{rel}", "needed_by": need.get(rel, [])})
    for s in reference.STUDY_TABLE1:
        if s.train_file is None:
            rows.append({"file": f"{reference.STUDY_DEEPMD_DIR}/1600-REF_train.xyz",
                         "pinned_hash": None, "status": "not published upstream",
                         "path": None, "url": None, "note": s.note,
                         "needed_by": [f"02 Table 1 {s.n_bulk}+{s.n_interstitial}"]})
    return rows


# ----------------------------------------------------------------------------- models

def plan_models(specs: Sequence[str]) -> list[dict]:
    """Foundation/extra model specs: cached (path, SHA256) or missing (expected path and
    the command that fetches it). Never downloads."""
    from lidiff_helpers.simulation import models

    rows = []
    for spec in dict.fromkeys(str(s) for s in specs):
        row: dict[str, Any] = {"spec": spec}
        try:
            m = models.resolve_spec(spec, allow_download=False)
            ident = models.model_identity(m)
            row.update(status="available", path=str(m.path) if m.path else None,
                       sha256=ident.get("sha256"), note=m.note)
        except ModelUnavailableError as exc:
            row.update(status="missing", sha256=None, message=str(exc))
            if spec in models.FOUNDATION_MODELS:
                cache, url = models.mace_cache_path(spec)
                row.update(path=str(cache), url=url, fetch_command=models.fetch_command(spec),
                           env=models.USER_WEIGHTS_ENV.get(spec))
        rows.append(row)
    return rows


def _model_path(row: Mapping) -> tuple[str, str]:
    return str(row.get("path") or row["spec"]), str(row.get("sha256") or PLACEHOLDER_SHA)


# ----------------------------------------------------------------------------- 02

def _train_gpu_h(n_frames: int, epochs: int) -> float:
    return n_frames * epochs * _COST["train_gpu_s_per_frame_epoch"].value / 3600.0


def plan_finetune(P, foundation: Mapping, root: Path) -> list[dict]:
    """Notebook 02's runs: label, data, replay, flags, command line, expected lr/EMA and
    the status the run will start with (``missing data`` when a file is not published)."""
    from lidiff_helpers.training import finetune, finetune_data, mace_train, sweeps

    path, sha = _model_path(foundation)
    rows = []
    for c in sweeps.plan_from_params(P, path, foundation_sha256=sha):
        wd = root / c.folder
        files = {"train": wd / "train.xyz", "valid": wd / "valid.xyz",
                 "pt_train": wd / "replay_train.xyz", "pt_valid": wd / "replay_valid.xyz"}
        opts = finetune.build_options(c, files)
        rep = sweeps.planned_replay(c)
        row = {"run": c.label, "folder": str(wd), "n_bulk": c.n_bulk,
               "n_interstitial": c.n_interstitial, "n_pt": c.n_pt, "selection": c.selection,
               "seed": c.seed, "max_num_epochs": c.max_num_epochs, **rep,
               **expected_settings(opts), "lr_requested": c.lr,
               "command": mace_train.command_line(opts, wd), "status": "planned"}
        if c.selection == "study":
            size = finetune_data.study_size(c.n_bulk, c.n_interstitial)
            row.update(train_file=size.train_file, valid_file=size.valid_file)
            if size.train_file is None:
                row["status"] = f"missing data: {size.note}"
        frames = c.n_frames * rep["ft_duplication"] + rep["replay_frames"]
        row["gpu_h_upper"] = (0.0 if row["status"] != "planned"
                              else round(_train_gpu_h(frames, c.max_num_epochs), 2))
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------- 03

def _committee_rows(step: str, foundation: Mapping, folder: Path, n_bulk: int,
                    n_train: int, epochs: int, P) -> list[dict]:
    from lidiff_helpers.training import committee, mace_train

    path, sha = _model_path(foundation)
    files = {"train": folder / "train.xyz", "valid": folder / "valid.xyz"}
    out = []
    for seed in range(1, int(P.committee_size) + 1):
        opts = committee.member_options(
            path, sha, n_bulk, n_train - n_bulk, files, seed, max_num_epochs=epochs,
            patience=P.patience, e0s="study" if P.e0s in ("study", "auto") else P.e0s,
            extra={"default_dtype": P.train_dtype}, device=P.device)
        out.append({"step": step, "seed": seed, "n_train": n_train, "max_num_epochs": epochs,
                    **expected_settings(opts),
                    "command": mace_train.command_line(opts, folder / f"s{seed}"),
                    "gpu_h_upper": round(_train_gpu_h(n_train, epochs), 2)})
    return out


def _live_sizes(P) -> list[tuple[str, int, int, int]]:
    """(step, bulk, train frames, epochs) of the live loop's committees."""
    nb, n = int(P.step0_bulk), int(P.step0_bulk) + int(P.step0_interstitial)
    out = []
    for r in range(1, int(P.n_rounds) + 1):
        out.append((f"round {r}", nb, n, int(P.max_num_epochs)))
        nb += int(P.round_bulk)
        n += int(P.round_bulk) + int(P.round_interstitial)
    if P.train_final:
        out.append(("final", nb, n, int(P.final_max_num_epochs or P.max_num_epochs)))
    return out


def _qe_inputs(P, out: Path) -> list[str]:
    from lidiff_helpers.simulation.structures import lif_supercell
    from lidiff_helpers.training.labelling import QuantumEspressoLabeller

    lab = QuantumEspressoLabeller(pseudo_dir=P.qe_pseudo_dir or out / "pseudo",
                                  workdir=out, command=P.qe_command)
    written = []
    for kind, inter in (("bulk", "none"), ("interstitial", "tetrahedral")):
        at = lif_supercell(int(P.n_cells), interstitial=inter)
        written.append(str(lab.write_input(at, out / f"{kind}_example.pwi")))
    return written


def plan_active_learning(P, foundation: Mapping, root: Path, out: Path) -> dict:
    """Notebook 03: the replay committees on the study's step files, the live loop's
    committees, exploration runs, DFT labels and the pw.x inputs."""
    from lidiff_helpers.training import al_study

    steps = al_study.study_steps() if P.replay_train else {}
    replay = []
    for name, s in steps.items():
        epochs = al_study.STUDY_AL_EPOCHS[name] if P.replay_max_num_epochs is None \
            else int(P.replay_max_num_epochs)
        n_b = sum(a.info["kind"] == "bulk" for a in s.train)
        replay += _committee_rows(name, foundation, root / "replay" / name.replace(" ", "_"),
                                  n_b, len(s.train), epochs, P)
    live = []
    for step, nb, n, ep in _live_sizes(P):
        live += _committee_rows(step, foundation, root / "live" / step.replace(" ", "_"),
                                nb, n, ep, P)
    n_bulk_t = len(P.step0_bulk_temperatures_K or P.temperatures_K)
    n_int_t = len(P.step0_interstitial_temperatures_K or P.temperatures_K)
    explore_runs = n_bulk_t + n_int_t + 2 * len(P.temperatures_K) * int(P.n_rounds)
    per_step = (1 + float(P.valid_ratio))
    n_dft = round(per_step * (int(P.step0_bulk) + int(P.step0_interstitial))
                  + per_step * int(P.n_rounds) * (int(P.round_bulk) + int(P.round_interstitial)))
    explore_h = explore_runs * _COST["explore_gpu_h_per_run"].value * P.explore_ps / 600.0
    return {"replay_committees": replay, "live_committees": live,
            "comparison": _comparison(P, live),
            "exploration": {"runs": explore_runs, "ps_per_run": P.explore_ps,
                            "gpu_h": round(explore_h, 1)},
            "dft": {"labeller": P.labeller, "calculations": n_dft,
                    "pseudo_dir": P.qe_pseudo_dir, "qe_command": P.qe_command,
                    "inputs": _qe_inputs(P, out / "qe") if P.labeller == "qe" else [],
                    "core_h": None,
                    "note": "DFT cost is not stated by the study nor measured here"
                    + ("" if P.qe_pseudo_dir or P.labeller != "qe" else
                       "; set qe_pseudo_dir to the folder holding the study's PAW files "
                       "before running")}}


def _comparison(P, live: Sequence[Mapping]) -> dict:
    """The selection comparison (``compare_*``): its trainings (round 0's committee, then
    per round a committee for ``committee``, one model for the others), each bounded by
    the largest live-loop member's cost, its exploration pool and its labels."""
    methods = list(P.compare_methods or [])
    if not methods:
        return {"methods": [], "trainings": 0, "gpu_h_upper": 0.0, "dft_calculations": 0}
    rounds, labels = int(P.compare_rounds), int(P.compare_labels_per_round)
    trainings = int(P.committee_size) + rounds * sum(
        int(P.committee_size) if m == "committee" else 1 for m in methods)
    per = max((r["gpu_h_upper"] for r in live), default=0.0)
    pool_h = 2 * len(P.temperatures_K) * _COST["explore_gpu_h_per_run"].value \
        * P.explore_ps / 600.0
    return {"methods": methods, "rounds": rounds, "labels_per_round": labels,
            "trainings": trainings, "gpu_h_upper": round(trainings * per + pool_h, 1),
            "dft_calculations": rounds * labels * len(methods) if P.labeller == "qe" else 0,
            "heldout": "the study's own DFT labels (no new calculation)"
            if P.labeller == "qe" else "relabelled by the surrogate"}


# ----------------------------------------------------------------------------- 04

def _md_models(P04, foundation_rows: Sequence[Mapping], finetune_rows: Sequence[Mapping],
               al: Mapping | None, al_root: Path, P02=None) -> list[dict]:
    """The model records notebook 04 will compare (registered ones named by the files
    notebooks 02/03 will write, and the committed reference models notebook 02 registers),
    filtered as notebook 04 filters them (``registered_where``, ``max_extra_models``)."""
    out = _md_model_records(P04, foundation_rows, finetune_rows, al, al_root, P02)
    n = P04.max_extra_models
    return out if n is None else out[:len(foundation_rows) + int(n)]


def _md_model_records(P04, foundation_rows, finetune_rows, al, al_root, P02) -> list[dict]:
    out = []
    for i, r in enumerate(foundation_rows):
        out.append({"name": r["spec"], "spec": _model_path(r)[0], "sha256": r.get("sha256"),
                    "foundation": i == 0, "source": "foundation" if i == 0 else "extra"})
    where = dict(P04.registered_where or {}) if P04.include_registered else None
    if where is None:
        return out
    from lidiff_helpers.simulation import models
    from lidiff_helpers.training.reference_models import exported

    for arm in getattr(P02, "register_reference", None) or []:
        out.append({"name": f"reference-{arm}", "spec": str(exported(arm)),
                    "sha256": models.model_identity(str(exported(arm)))["sha256"],
                    "foundation": False, "source": "02 (committed reference model)"})
    registers_live = getattr(P02, "register", True) is not False
    for r in finetune_rows if registers_live else ():
        if r["status"] == "planned" and registered_matches(r, where):
            out.append({"name": r["run"], "spec": str(Path(r["folder"]) / "model.model"),
                        "sha256": None, "foundation": False, "source": "02 (planned)"})
    for name, step in (("FT1", "FT1_step_2"), ("FT2", "FT2_step_1")):
        if al and al["replay_committees"]:
            out.append({"name": name, "spec": str(al_root / "replay" / step / "s1" /
                                                  "committee_s1.model"),
                        "sha256": None, "foundation": False, "source": "03 (planned)"})
    if al and any(r["step"] == "final" for r in al["live_committees"]):
        out.append({"name": "AL-live", "spec": str(al_root / "live" / "final" / "s1" /
                                                   "committee_s1.model"),
                    "sha256": None, "foundation": False, "source": "03 (planned)"})
    return out


@lru_cache(maxsize=32)
def _n_atoms(start_structure: str) -> int:
    from lidiff_helpers.simulation.structures import load_start_structure

    return len(load_start_structure(start_structure).atoms)


def plan_md(P, models: Sequence[Mapping], out: Path) -> dict:
    """Notebook 04's grid (the notebook's own builder), its LAMMPS inputs and Slurm job
    files under ``out``, and its GPU cost from the study's stated cost per step."""
    from lidiff_helpers.simulation.lammps_inputs import write_lammps_grid
    from lidiff_helpers.workflows import md_diffusion

    runs = md_diffusion.grid(models, P)
    files = {m["name"]: out / "models" / f"{Path(m['spec']).name}-lammps.pt" for m in models}
    written = write_lammps_grid(runs, out, files, lmp_command=P.lammps_command,
                                slurm=P.slurm_resources if P.executor == "slurm" else None)
    per_atom_step = {"ase": _COST["md_gpu_s_per_step_1001_atoms"].value / 1001,
                     "batched": _BATCHED["md_batched_gpu_s_per_atom_step"].value}
    rows = []
    for r, w in zip(runs, written):
        n_atoms = _n_atoms(r.start_structure)
        rows.append({"run": r.name, "model": r.model, "purpose": r.purpose, "engine": r.engine,
                     "temperature_K": r.temperature_K, "replica": r.replica,
                     "production_ps": r.production_ps, "equilibration_ps": r.equilibration_ps,
                     "steps": r.n_steps, "segments": len(w["segments"]),
                     "lammps_folder": str(w["folder"]),
                     "sbatch": str(w["sbatch"]) if w["sbatch"] else None,
                     "n_atoms": n_atoms,
                     "gpu_h": round(r.n_steps * n_atoms * per_atom_step[r.engine] / 3600.0,
                                    2)})
    return {"runs": rows, "model_files": {k: str(v) for k, v in files.items()},
            "executor": P.executor, "slurm_resources": P.slurm_resources,
            "submit_all": str(out / "submit_all.sh")}


# ----------------------------------------------------------------------------- all

def build_plan(P02, P03, P04, profile: str, out: str | os.PathLike) -> dict:
    """The whole plan (JSON-ready) of notebooks 02, 03 and 04 with parameters ``P02``,
    ``P03``, ``P04`` (their resolved ``run.p`` for ``profile``); writes the LAMMPS, Slurm
    and pw.x inputs under ``out``."""
    from lidiff_helpers.core import provenance

    out = Path(out)
    results = paths.RESULTS / profile
    found = plan_models([P02.foundation_model, *P04.extra_models])
    ft = plan_finetune(P02, found[0], results / "finetune")
    al = plan_active_learning(P03, found[0], results / "active_learning", out)
    md = plan_md(P04, _md_models(P04, found, ft, al, results / "active_learning", P02),
                 out / "md" / "lammps")
    gpu = {"fine-tuning (02)": sum(r["gpu_h_upper"] for r in ft),
           "active learning committees (03)": sum(
               r["gpu_h_upper"] for r in al["replay_committees"] + al["live_committees"]),
           "active learning exploration MD (03)": al["exploration"]["gpu_h"],
           "selection comparison (03)": al["comparison"]["gpu_h_upper"],
           "production MD (04)": sum(r["gpu_h"] for r in md["runs"])}
    return {"profile": profile, "out": str(out), "data": plan_data(), "models": found,
            "finetune": ft, "active_learning": al, "md": md,
            "cost": {"gpu_h": {k: round(v, 1) for k, v in gpu.items()},
                     "gpu_h_total": round(sum(gpu.values()), 1),
                     "dft_calculations": (al["dft"]["calculations"]
                                          if al["dft"]["labeller"] == "qe" else 0)
                     + al["comparison"]["dft_calculations"],
                     "sources": {k: {"value": c.value, "unit": c.unit, "source": c.source}
                                 for k, c in {**_COST, **_BATCHED}.items()},
                     "note": "training: upper bounds at max_num_epochs (early stopping "
                             "shortens them); MD: runs with engine 'ase' at the study's A100 "
                             "LAMMPS cost per step (one run per GPU), runs with engine "
                             "'batched' at the published batched MACE cost per atom-step "
                             "(all runs of a batch share one GPU: its wall time is the sum)"},
            "provenance": provenance.record(
                notebook="paper-plan", profile=profile,
                parameters={"02": vars(P02), "03": vars(P03), "04": vars(P04)},
                models=[{"name": r["spec"], "sha256": r.get("sha256")} for r in found],
                data_files=data.files_used())}
