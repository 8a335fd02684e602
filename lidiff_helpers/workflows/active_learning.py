"""Notebook 03 (the study's Table 2): from the profile's parameters to the replay of the
study's active-learning files, the live loop, the registered models and the summary.
Each function is one step of the notebook.
"""

from __future__ import annotations

from typing import Any

from lidiff_helpers.core.errors import ParameterError
from lidiff_helpers.figures import active_learning as figures_al
from lidiff_helpers.io import data
from lidiff_helpers.simulation import models
from lidiff_helpers.training import active_learning as al
from lidiff_helpers.training import al_extrapolation as alx
from lidiff_helpers.training import al_study, labelling
from lidiff_helpers.workflows import al_comparison

__all__ = ["foundation", "study_files", "replay", "selections", "live", "live_table",
           "live_figures", "extrapolation", "compare", "register", "summary"]

#: live-loop selection methods (``selection``): the study's bands, DP-GEN's trust levels,
#: MLIP-3's extrapolation grade
SELECTIONS = ("bands", "trust", "extrapolation")

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


def _labeller(P, run, spec):
    """The profile's labeller (recorded in the provenance when it is a model)."""
    labeller = labelling.make_labeller(
        P.labeller, surrogate_model=P.surrogate_model, foundation=str(spec.path),
        results_dir=run.out, qe_pseudo_dir=P.qe_pseudo_dir, qe_command=P.qe_command,
        workdir=run.work("active_learning/qe"), device=P.device)
    if getattr(labeller, "spec", None):
        run.add_model(models.model_identity(labeller.spec))
    return labeller


def selections(P) -> list[str]:
    """The live loops to run, from ``selection`` (one method or a list; the first one's
    final model is registered as ``AL-live``)."""
    sel = [P.selection] if isinstance(P.selection, str) else list(P.selection or [])
    bad = [s for s in sel if s not in SELECTIONS]
    if bad or not sel or len(set(sel)) != len(sel):
        raise ParameterError(f"selection: {P.selection!r}; give one or more distinct "
                             f"methods of {SELECTIONS}")
    return sel


def live(P, run, spec) -> dict:
    """The live loops, one per ``selection`` method, with the profile's labeller: the
    study's committee loop (``bands`` / ``trust``) and the MLIP-3 loop (``extrapolation``,
    thresholds ``gamma_select`` / ``gamma_break``). Returns ``{method: result}``."""
    labeller = _labeller(P, run, spec)
    print("labels from:", labeller.source)
    out: dict = {}
    for i, method in enumerate(selections(P)):
        cfg = al.ALConfig.from_params(run.params, threads=P.train_threads,
                                      selection="bands" if method == "extrapolation"
                                      else method)
        if method == "extrapolation":
            out[method] = alx.run_extrapolation_learning(
                cfg, str(spec.path), labeller, run.work("active_learning/live-extrapolation"),
                gamma_select=P.gamma_select, gamma_break=P.gamma_break)
            continue
        folder = "active_learning/live" if i == 0 else f"active_learning/live-{method}"
        out[method] = al.run_active_learning(
            cfg, str(spec.path), labeller, run.work(folder),
            descriptor_calc=models.get_calculator(spec) if P.diverse else None)
    return out


def _committee_result(lives: dict):
    return next((r for m, r in lives.items() if m != "extrapolation"), None)


def live_table(run, lives: dict):
    """The committee loop per step (saved as ``table2_live_run``), its label note, and the
    columns the notebook shows (``(None, note, message)`` when no committee loop ran)."""
    res = _committee_result(lives)
    note = figures_al.label_note(next(iter(lives.values())).label_sources)
    print(note)
    if res is None:
        return None, note, "no committee loop in this run (selection: extrapolation only)"
    table = res.table()
    run.save_table(table, "table2_live_run")
    return table, note, table[[c for c in LIVE_COLUMNS if c in table]]


def live_figures(run, lives: dict, table, note: str) -> None:
    """The committee loop's deviation histograms and disagreement against round."""
    res = _committee_result(lives)
    if res is None:
        return
    run.save_figure(figures_al.plot_deviation_histograms(res.deviations, note),
                    "deviation_histograms_per_round")
    run.save_figure(figures_al.plot_disagreement_vs_round(table, note),
                    "disagreement_vs_round")


def extrapolation(run, lives: dict):
    """The MLIP-3 loop per round (saved as ``al_extrapolation_rounds``) and its grade
    figure; a one-line message when ``selection`` has no ``extrapolation``."""
    res = lives.get("extrapolation")
    if res is None:
        return "selection has no 'extrapolation': the MLIP-3 loop did not run"
    table = res.table()
    run.save_table(table, "al_extrapolation_rounds")
    run.save_figure(figures_al.plot_gamma_history(
        res.rounds, figures_al.label_note(res.label_sources)), "extrapolation_grade_per_round")
    return table


def compare(P, run, spec):
    """Committee, extrapolation grade and random selection on one candidate pool and label
    budget (:mod:`lidiff_helpers.training.al_compare`); saves ``al_selection_comparison``
    and its figure; a message when ``compare_methods`` is empty.

    ``compare_source``: ``live`` runs it; ``committed`` shows the committed result
    (:func:`lidiff_helpers.workflows.al_comparison.committed`: made by its command with the
    same settings from the same foundation file, labels by SevenNet-0) and refuses when it
    does not match; ``auto`` shows it when it matches, else runs it live."""
    if not P.compare_methods:
        return "compare_methods is empty in this profile: no comparison"
    if P.compare_source not in ("live", "committed", "auto"):
        raise ParameterError(f"compare_source: {P.compare_source!r}; give live, committed "
                             "or auto")
    if P.compare_source != "live":
        table, rec = al_comparison.committed(run.params, spec)
        if table is not None:
            print(f"the committed comparison ({al_comparison.RESULT.name}, "
                  f"{rec['provenance']['created_utc'][:10]}, `{rec['command']}`): the same "
                  f"settings and foundation as this run, labels by {rec['labeller']}; "
                  "-p compare_source live reruns it here")
            run.add_model(rec["labeller_identity"])
            _save_comparison(run, table, [rec["label_source"]])
            return table
        if P.compare_source == "committed":
            raise ParameterError(f"compare_source committed: {rec}")
        print(f"compare_source auto: {rec}; running the comparison live")
    labeller = _labeller(P, run, spec)
    table = al_comparison.comparison(run.params, spec, labeller,
                                     run.work("active_learning/compare"),
                                     step0_dir=run.work("active_learning/live") / "step_0")
    _save_comparison(run, table, [labeller.source])
    return table


def _save_comparison(run, table, label_sources) -> None:
    run.save_table(table, "al_selection_comparison")
    run.save_figure(figures_al.plot_selection_comparison(
        table, figures_al.label_note(label_sources)), "al_selection_comparison")


def register(run, lives: dict, replay_models, replay_table) -> list[dict]:
    """Register FT1/FT2/AL-live (the first ``selection`` method's final model) for
    notebooks 04-05 and record them in the provenance."""
    entries = al_study.register_models(run.out, next(iter(lives.values())), replay_models,
                                       replay_table, profile=run.profile)
    for e in entries:
        run.add_model({"name": e["name"], "sha256": e["sha256"], "path": e["path"]})
        print(e["name"], e["path"])
    return entries


def summary(datasets, replay_table, lives: dict, table, entries, comparison=None
            ) -> dict[str, Any]:
    """Headline numbers of notebook 03 for ``run.save_summary``."""
    common = None
    if replay_table is not None:
        sel = replay_table[replay_table["probe"] == "common"]
        common = sel.set_index("step")["all_maxdev_mean_eV_A"].to_dict()
    first = next(iter(lives.values()))
    out: dict[str, Any] = {
        "FT1_frames": {"n": len(datasets["FT1"]["train"]), **datasets["FT1"]["counts"]},
        "FT2_frames": {"n": len(datasets["FT2"]["train"]), **datasets["FT2"]["counts"]},
        "replay_disagreement_common_eV_A": common,
        "live_selection": list(lives), "live_label_sources": first.label_sources,
        "live_surrogate_labels": first.surrogate,
        "live_n_train": len(first.train), "live_n_valid": len(first.valid),
        "registered_models": [e["name"] for e in entries],
    }
    if table is not None:
        out.update(live_rounds=int(table["round"].max()),
                   live_converged=bool(table["converged"].any()),
                   live_mean_maxdev_eV_A=table["mean_maxdev_eV_A"].dropna().tolist()
                   if "mean_maxdev_eV_A" in table else [])
    x = lives.get("extrapolation")
    if x is not None:
        out["extrapolation_rounds"] = [{"round": e["round"], "crossed": e["crossed"],
                                        "n_selected": len(e["selected"]),
                                        "gamma_max": float(max(e["grades"], default=0.0))}
                                       for e in x.rounds]
    if comparison is not None and not isinstance(comparison, str):
        last = comparison.sort_values("round").groupby("method").tail(1)
        out["selection_comparison"] = last.to_dict(orient="records")
    return out
