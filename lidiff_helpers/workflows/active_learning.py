"""Notebook 03 (the study's Table 2): from the profile's parameters to the replay of the
study's active-learning files, the live loop, the registered models and the summary.
Each function is one step of the notebook.
"""

from __future__ import annotations

from typing import Any

from lidiff_helpers.figures import active_learning as figures_al
from lidiff_helpers.io import data
from lidiff_helpers.simulation import models
from lidiff_helpers.training import active_learning as al
from lidiff_helpers.training import al_study, labelling

__all__ = ["foundation", "study_files", "replay", "live", "live_table", "register",
           "summary"]

#: columns of the live loop's table shown in the notebook
LIVE_COLUMNS = ["step", "added_bulk", "added_interstitial", "added_valid",
                "added_by_temperature", "n_train", "n_valid", "bulk_maxdev_mean_eV_A",
                "interstitial_maxdev_mean_eV_A", "converged"]


def foundation(P, run):
    """The foundation model's spec (recorded in the run's provenance)."""
    spec = models.resolve_spec(P.foundation_model)
    run.add_model(models.model_identity(spec))
    print(f"foundation model: {spec.name} ({spec.path})")
    return spec


def study_files(run):
    """The study's FT1/FT2 files per step (Table 2 shape); saves ``table2_study_steps``."""
    steps = al_study.study_steps()
    datasets = al_study.replay_datasets(steps)
    run.add_data(data.files_used())
    table = al_study.replay_table(steps)
    run.save_table(table, "table2_study_steps")
    print({name: {"train": len(d["train"]), **d["counts"], "valid": len(d["valid"])}
           for name, d in datasets.items()})
    return steps, datasets, table.drop(columns=["train_file", "valid_file"])


def replay(P, run, spec, steps):
    """Committees trained on the study's files per step (when ``replay_train``): their
    disagreement table (saved with its figure) and models; ``(None, {})`` otherwise."""
    if not P.replay_train:
        print("replay_train is off in this profile: Table 2 shape from the files only")
        return None, {}
    table, replay_models, _ = al_study.replay_committees(
        str(spec.path), run.work("active_learning/replay"),
        committee_size=P.replay_committee_size, max_num_epochs=P.replay_max_num_epochs,
        patience=P.patience, n_train_max=P.replay_n_train_max, n_valid_max=P.replay_n_valid_max,
        n_probe_max=P.replay_n_probe_max, seed=P.seed, steps=steps,
        train_extra={"default_dtype": P.train_dtype}, device=P.device,
        n_parallel=P.n_parallel, threads=P.train_threads)
    run.save_table(table, "table2_replay_disagreement")
    run.save_figure(figures_al.plot_replay_disagreement(table), "replay_disagreement_per_step")
    print(table[["step", "probe", "n_train_used", "bulk_maxdev_mean_eV_A",
                 "interstitial_maxdev_mean_eV_A"]].to_string(index=False))
    return table, replay_models


def live(P, run, spec) -> al.ALResult:
    """The live loop with the profile's labeller (recorded when it is a model)."""
    labeller = labelling.make_labeller(
        P.labeller, surrogate_model=P.surrogate_model, foundation=str(spec.path),
        results_dir=run.out, qe_pseudo_dir=P.qe_pseudo_dir, qe_command=P.qe_command,
        workdir=run.work("active_learning/qe"), device=P.device)
    if getattr(labeller, "spec", None):
        run.add_model(models.model_identity(labeller.spec))
    cfg = al.ALConfig.from_params(run.params, threads=P.train_threads)
    print("labels from:", labeller.source)
    return al.run_active_learning(
        cfg, str(spec.path), labeller, run.work("active_learning/live"),
        descriptor_calc=models.get_calculator(spec) if P.diverse else None)


def live_table(run, res: al.ALResult):
    """The live loop per step (saved as ``table2_live_run``), its label note, and the
    columns the notebook shows."""
    table = res.table()
    run.save_table(table, "table2_live_run")
    note = figures_al.label_note(res.label_sources)
    print(note)
    return table, note, table[[c for c in LIVE_COLUMNS if c in table]]


def register(run, res, replay_models, replay_table) -> list[dict]:
    """Register FT1/FT2/AL-live for notebooks 04-05 and record them in the provenance."""
    entries = al_study.register_models(run.out, res, replay_models, replay_table,
                                       profile=run.profile)
    for e in entries:
        run.add_model({"name": e["name"], "sha256": e["sha256"], "path": e["path"]})
        print(e["name"], e["path"])
    return entries


def summary(datasets, replay_table, res: al.ALResult, table, entries) -> dict[str, Any]:
    """Headline numbers of notebook 03 for ``run.save_summary``."""
    common = None
    if replay_table is not None:
        sel = replay_table[replay_table["probe"] == "common"]
        common = sel.set_index("step")["all_maxdev_mean_eV_A"].to_dict()
    return {
        "FT1_frames": {"n": len(datasets["FT1"]["train"]), **datasets["FT1"]["counts"]},
        "FT2_frames": {"n": len(datasets["FT2"]["train"]), **datasets["FT2"]["counts"]},
        "replay_disagreement_common_eV_A": common,
        "live_label_sources": res.label_sources,
        "live_surrogate_labels": res.surrogate,
        "live_n_train": len(res.train), "live_n_valid": len(res.valid),
        "live_rounds": int(table["round"].max()),
        "live_converged": bool(table["converged"].any()),
        "live_mean_maxdev_eV_A": table["mean_maxdev_eV_A"].dropna().tolist()
        if "mean_maxdev_eV_A" in table else [],
        "registered_models": [e["name"] for e in entries],
    }
