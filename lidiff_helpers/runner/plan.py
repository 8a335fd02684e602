"""``python -m lidiff_helpers.runner.plan --profile paper`` (``make paper-plan``).

Resolves a profile's fine-tuning, active-learning and MD work without running it
(:mod:`lidiff_helpers.workflows.paper_plan`) and writes, under ``results/<profile>-plan/``:

* ``plan.json``: everything, machine-readable (commands, runs, files, models, cost);
* ``plan.md``: the summary to read before a cluster run;
* ``finetune_commands.sh`` and ``active_learning_commands.sh``: the ``mace_run_train``
  command lines, one per line (the notebooks run the same ones, in their run folders);
* ``md/lammps/``: every MD run's LAMMPS inputs, ``run_segments.sh`` and ``job.sbatch``,
  and ``submit_all.sh``; ``qe/``: example pw.x inputs with the study's settings.

An existing plan folder is replaced only with ``--overwrite`` (``make paper-plan`` passes
it: the plan is derived from the code and the profile, never a result).
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from lidiff_helpers.core import paths

__all__ = ["write_plan", "plan_markdown", "main"]


def _table(rows: Sequence[Mapping], cols: Sequence[str]) -> list[str]:
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join("" if r.get(c) is None else str(r.get(c))
                                     for c in cols) + " |")
    return out


def _missing_inputs(plan: Mapping) -> list[str]:
    out = []
    for m in plan["models"]:
        if m["status"] != "available":
            how = m.get("fetch_command") or "see the message in plan.json"
            env = f", or set {m['env']}=/path/to/the/file" if m.get("env") else ""
            out.append(f"- model **{m['spec']}**: missing; expected at `{m.get('path')}`. "
                       f"Fetch with `{how}`{env}.")
    for d in plan["data"]:
        if d["status"] != "present":
            out.append(f"- data `{d['file']}`: {d['status']}"
                       + (f" (pinned `{d['pinned_hash']}`, {d['url']})" if d["url"] else
                          f" ({d.get('note', '')})"))
    dft = plan["active_learning"]["dft"]
    if dft["labeller"] == "qe" and not dft["pseudo_dir"]:
        out.append("- notebook 03 `qe_pseudo_dir` is not set: the live loop's pw.x runs need "
                   "the study's PAW files (Li.pbe-s-kjpaw_psl.1.0.0.UPF, "
                   "F.pbe-n-kjpaw_psl.1.0.0.UPF)")
    return out or ["- nothing: every model and data file is available"]


def plan_markdown(plan: Mapping) -> str:
    """The human-readable summary of a plan (``plan.md``)."""
    cost, prov = plan["cost"], plan["provenance"]
    commit = (prov.get("git") or {}).get("commit", "?")
    lines = [f"# lidiff plan: profile `{plan['profile']}`", "",
             f"Made by `python -m lidiff_helpers.runner.plan --profile {plan['profile']}` at "
             f"commit {str(commit)[:12]} ({prov.get('created_utc')}); nothing was run. "
             "Run folders and names below are the ones the notebooks will use.", "",
             "## Before a cluster run: inputs still missing", "", *_missing_inputs(plan), "",
             "## Compute (GPU-hours)", ""]
    lines += [f"- {k}: {v:,.1f}" for k, v in cost["gpu_h"].items()]
    lines += [f"- **total: {cost['gpu_h_total']:,.1f} GPU-h**; DFT: "
              f"{cost['dft_calculations']} pw.x calculations (cost not stated by the study, "
              "not measured here)", f"- {cost['note']}", "", "Per-step costs used:", ""]
    lines += [f"- {k} = {v['value']:.4g} {v['unit']}: {v['source']}"
              for k, v in cost["sources"].items()]
    ft = plan["finetune"]
    lines += ["", f"## Notebook 02: {len(ft)} fine-tuning runs (Table 1)", "",
              "`replay_frames`: what mace replays (the study's files whole; "
              "`num_samples_pt` is unused with a file); `ft_duplication`: mace's repetition "
              "of the fine-tuning frames; `lr_effective`/`ema_decay_effective`: what mace "
              "trains with (multihead without `--force_mh_ft_lr`: 1e-4 / 0.99999). Command "
              "lines: `finetune_commands.sh`.", ""]
    lines += _table(ft, ["run", "train_file", "valid_file", "n_pt", "replay_frames",
                         "num_samples_pt", "ft_duplication", "max_num_epochs", "lr_effective",
                         "ema_decay_effective", "gpu_h_upper", "status"])
    al = plan["active_learning"]
    lines += ["", "## Notebook 03: active learning", "",
              f"- replay committees on the study's step files: {len(al['replay_committees'])}"
              f" mace_run_train runs; live-loop committees: {len(al['live_committees'])} "
              "(command lines: `active_learning_commands.sh`)",
              f"- exploration MD: {al['exploration']['runs']} runs x "
              f"{al['exploration']['ps_per_run']:g} ps",
              f"- DFT labels: {al['dft']['calculations']} pw.x calculations "
              f"({al['dft']['labeller']}); example inputs: "
              + ", ".join(f"`{Path(p).name}`" for p in al["dft"]["inputs"]), ""]
    lines += _table(al["replay_committees"] + al["live_committees"],
                    ["step", "seed", "n_train", "max_num_epochs", "lr_effective",
                     "gpu_h_upper"])
    md = plan["md"]
    lines += ["", f"## Notebook 04: {len(md['runs'])} MD runs", "",
              f"LAMMPS inputs and Slurm job files: `md/lammps/<run>/` (`run_segments.sh`, "
              f"`job.sbatch`); submit all with `{Path(md['submit_all']).name}`; the model "
              "files they name are written by `mace_create_lammps_model` once the models "
              "exist (multihead models with their fine-tuned head selected first).", ""]
    lines += _table(md["runs"], ["run", "model", "purpose", "engine", "temperature_K",
                                 "replica", "production_ps", "n_atoms", "segments", "gpu_h"])
    return "\n".join(lines) + "\n"


def write_plan(plan: Mapping, out: str | Path) -> Path:
    """Write ``plan.json``, ``plan.md`` and the command files into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "plan.json").write_text(json.dumps(plan, indent=1, default=str) + "\n")
    (out / "plan.md").write_text(plan_markdown(plan))
    (out / "finetune_commands.sh").write_text(
        "\n".join(["#!/bin/bash", "# lidiff plan: notebook 02's mace_run_train runs"]
                  + [f"# {r['run']} ({r['status']})\n{r['command']}"
                     for r in plan["finetune"]]) + "\n")
    al = plan["active_learning"]
    (out / "active_learning_commands.sh").write_text(
        "\n".join(["#!/bin/bash", "# lidiff plan: notebook 03's committee members"]
                  + [f"# {r['step']} seed {r['seed']}\n{r['command']}"
                     for r in al["replay_committees"] + al["live_committees"]]) + "\n")
    return out / "plan.md"


def main(argv: Sequence[str] | None = None) -> int:
    from types import SimpleNamespace

    from lidiff_helpers.runner import profiles
    from lidiff_helpers.workflows.paper_plan import build_plan

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="paper")
    ap.add_argument("--out", default=None, help="default: results/<profile>-plan")
    ap.add_argument("--overwrite", action="store_true",
                    help="replace an existing plan folder")
    a = ap.parse_args(argv)
    out = Path(a.out) if a.out else paths.RESULTS / f"{a.profile}-plan"
    if out.exists() and any(out.iterdir()):
        if not a.overwrite:
            raise SystemExit(f"{out} exists; pass --overwrite to replace the plan")
        shutil.rmtree(out)
    P = [SimpleNamespace(**profiles.resolve(nb, a.profile))
         for nb in ("02_finetune_sweeps", "03_active_learning", "04_md_diffusion")]
    plan = build_plan(*P, profile=a.profile, out=out)
    md = write_plan(plan, out)
    c = plan["cost"]
    print(f"plan of profile {a.profile}: {len(plan['finetune'])} fine-tuning runs, "
          f"{len(plan['md']['runs'])} MD runs, {c['gpu_h_total']:,.0f} GPU-h, "
          f"{c['dft_calculations']} DFT calculations -> {md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
