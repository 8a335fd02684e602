"""Model cards: one YAML file per committed model (matbench-discovery style), written from
the model's own recipe and metrics files, never by hand (``make embedded-model`` and
``make reference-models`` rewrite them; a test fails when one is stale).

    python -m lidiff_helpers.training.model_cards            # (re)write every card
    python -m lidiff_helpers.training.model_cards --check    # exit 1 if a card is stale

Each card holds: the model's name, file, SHA256 and size; the architecture (read from the
model file); the training data (the study files it came from, with their SHA256, and
the frame counts); the recipe (command, key settings, CPU time); the metrics (held-out
test RMSE, lattice constant, barriers where measured, NVT checks); licence, intended use
and known limits. Cards sit beside the models: ``data/models/<stem>.card.yaml``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lidiff_helpers.core import paths

__all__ = ["card_embedded", "card_embedded_v2", "card_reference", "card_sevennet", "cards",
           "main", "stale_cards", "write_cards"]

LICENCE = ("model weights: CC BY 4.0 (trained on the study's CC BY 4.0 data and MPtrj "
           "frames it redistributes; credit Alghamdi et al. 2026 and the dataset); code: MIT")
STUDY = "Alghamdi et al., J. Phys. Energy (2026), doi:10.1088/2515-7655/ae6c5a"


def _architecture(model: Path) -> dict[str, Any]:
    from lidiff_helpers.training.finetune import foundation_architecture

    arch = foundation_architecture(str(model))
    keep = ("hidden_irreps", "num_channels", "max_L", "max_ell", "correlation",
            "num_interactions", "r_max", "num_radial_basis", "MLP_irreps", "pair_repulsion",
            "distance_transform")
    return {"model": "MACE", **{k: arch[k] for k in keep if k in arch}}


def _file(model: Path) -> dict[str, Any]:
    from lidiff_helpers.core.provenance import sha256_file

    rel = model.resolve().relative_to(paths.ROOT) if model.resolve().is_relative_to(paths.ROOT) \
        else model
    return {"file": str(rel), "sha256": sha256_file(model),
            "size_MB": round(model.stat().st_size / 1e6, 2)}


def _data_files(files: dict) -> list[dict]:
    return [{"path": k, "sha256": v} for k, v in sorted(files.items())]


def card_embedded(model: Path = paths.MODELS / "lidiff-embedded.model") -> dict[str, Any]:
    """The embedded foundation model v1's card (``embedded-v1``; from
    ``lidiff-embedded.{recipe,metrics}.json``)."""
    recipe = json.loads(model.with_suffix(".recipe.json").read_text())
    metrics = json.loads(model.with_suffix(".metrics.json").read_text())
    test = {r["kind"]: r for r in metrics["test_set"] if r.get("n_frames")}
    pre = recipe["pretraining_set"]
    return {
        "model_name": "lidiff-embedded", "spec": "embedded-v1", **_file(model),
        "description": "small single-head MACE foundation model committed with lidiff (v1), "
                       "the first offline stand-in for MACE-MPA-0",
        "status": "superseded as the default `embedded` by v2 (lidiff-embedded-v2, distilled "
                  "from SevenNet-0); kept unchanged so that its numbers and the models "
                  "fine-tuned from it stay reproducible",
        "architecture": _architecture(model),
        "training_data": {
            "replay_frames": {"train": pre["replay_train"], "valid": pre["replay_valid"],
                              "source": "the study's MPtrj replay files (PBE, VASP)"},
            "lif_bulk_frames_forces_stress_only": {
                "train": pre["lif_bulk_train_forces_stress_only"],
                "valid": pre["lif_bulk_valid_forces_stress_only"]},
            "interstitial_frames": 0,
            "study_files_read": _data_files(recipe["data_files"])},
        "recipe": {"command": "make embedded-model-v1", "stages": 3,
                   "dtype": recipe["options"].get("default_dtype"),
                   "seed": recipe["options"].get("seed"), "note": recipe.get("note")},
        "metrics": {
            "test_set": {k: {"n_frames": v["n_frames"], "E_rmse_meV_atom": v["E_rmse_meV_atom"],
                             "F_rmse_meV_A": v["F_rmse_meV_A"], "S_rmse_GPa": v["S_rmse_GPa"]}
                         for k, v in test.items()},
            "a0_A": metrics["lattice_constant_A"]["a0_A"],
            "nvt_checks": [{k: r[k] for k in ("temperature_K", "simulated_ps", "status",
                                               "min_distance_A", "mean_T_second_half_K")}
                           for r in metrics.get("stability_runs", [])]},
        "licence": LICENCE,
        "intended_use": "teaching and testing the study's fine-tuning strategies offline; "
                        "the starting point of lidiff's fine-tuned models",
        "known_limits": [
            "not MACE-MPA-0: 32 channels, trained on ~1000 MPtrj frames and bulk LiF only",
            "never saw an interstitial: zero-shot defect forces are poor (test RMSE above)",
            "lattice constant 2.6 % below PBE; knock-off barrier far below DFT (softened)",
            "energies of the LiF frames were not trained (forces and stress only)"],
        "study": STUDY}


def _reference_spec(name: str, folder: Path) -> str:
    """How a reference arm is named to :func:`~lidiff_helpers.simulation.models.get_calculator`
    (:func:`~lidiff_helpers.simulation.models.reference_spec`; another folder's in brackets)."""
    from lidiff_helpers.simulation import models
    from lidiff_helpers.training import reference_models as ref

    return (models.reference_spec(ref.exported(name, folder))
            or f"reference-{name} ({folder.name})")


def card_reference(name: str, folder: Path | None = None) -> dict[str, Any]:
    """A reference fine-tuned model's card (from its recipe and metrics files)."""
    from lidiff_helpers.training import reference_models as ref

    folder = Path(folder or ref.REFERENCE_DIR)
    model = ref.exported(name, folder)
    recipe = json.loads((folder / f"{name}.recipe.json").read_text())
    mfile = folder / f"{name}.metrics.json"
    m = json.loads(mfile.read_text()) if mfile.is_file() else {}
    cfg, data = recipe["config"], recipe["data"]
    metrics = {k: m.get(k) for k in _METRIC_KEYS if k in m}
    found = _foundation_name(cfg)
    return {
        "model_name": _reference_spec(name, folder), **_file(model),
        "description": f"{ref.arm(name).what}: fine-tuned from {found} on the study's "
                       "ft200 composition",
        "architecture": {**_architecture(model), "heads": recipe["effective"].get("heads")},
        "training_data": {
            "n_bulk": cfg["n_bulk"], "n_interstitial": cfg["n_interstitial"],
            "selection": f"{cfg['selection']} (data_seed {cfg['data_seed']}), disjoint from "
                         "the held-out test set",
            "n_valid": len(data.get("valid_hashes", [])),
            **({"extra_train": {k: data["extra_train"].get(k) for k in ("what", "n", "hashes")}}
               if data.get("extra_train") else {}),
            "replay": {k: (f"{len(v)} elements" if k == "elements_filter" else v)
                       for k, v in (data.get("replay") or {}).items()} or None,
            "study_files_read": _data_files(data.get("data_files", {}))},
        "recipe": {"command": "make reference-models", "strategy": cfg["strategy"],
                   "mace_options": {k: cfg[k] for k in ("lr", "ema_decay", "batch_size",
                                                        "default_dtype", "patience", "seed")},
                   "force_mh_ft_lr": cfg["force_mh_ft_lr"], "extra": cfg.get("extra"),
                   "effective": recipe["effective"], "budget": {
                       k: recipe["budget"].get(k) for k in ("cpu_budget_s", "cpu_s_spent",
                                                             "stopped_by", "final_epoch")}},
        "metrics": metrics,
        "licence": LICENCE,
        "intended_use": "teaching the fine-tuning strategies; the fine-tuned models of the "
                        "quick profile's MD, barriers and bulk validation",
        "known_limits": [
            f"fine-tuned from the small embedded model {found}, not from MACE-MPA-0",
            "trained within a CPU budget (see recipe.budget), not to the study's 800 epochs",
            "fixed-cell frames only: the bulk equation of state is not constrained (a0, B)"],
        "study": STUDY}


def _foundation_name(cfg: dict) -> str:
    """How a card names a fine-tuned model's foundation: its spec when still committed
    (``embedded-v1``...), the file name and SHA256 prefix."""
    from lidiff_helpers.simulation.models import committed_spec

    sha = str(cfg.get("foundation_sha256"))
    spec = committed_spec(sha)
    return f"{spec + ' ' if spec else ''}({Path(cfg['foundation']).name}, {sha[:12]})"


def card_embedded_v2(model: Path | None = None) -> dict[str, Any]:
    """The embedded foundation model v2's card (``embedded``; from
    ``lidiff-embedded-v2.{recipe,metrics}.json``: :mod:`lidiff_helpers.training.embedded_v2`
    and :mod:`lidiff_helpers.workflows.embedded_v2_metrics`)."""
    from lidiff_helpers.training import embedded_v2

    model = Path(model or embedded_v2.MODEL)
    recipe = json.loads(model.with_suffix(".recipe.json").read_text())
    mfile = model.with_suffix(".metrics.json")
    m = json.loads(mfile.read_text()) if mfile.is_file() else {}
    ts = recipe["training_set"]
    unmet = [t["quantity"] for t in m.get("targets", []) if t.get("met") is False]
    return {
        "model_name": "lidiff-embedded-v2", "spec": "embedded", **_file(model),
        "description": "small single-head MACE foundation model committed with lidiff (v2), "
                       "distilled from SevenNet-0 on Li-F configurations: the offline "
                       "stand-in for MACE-MPA-0 on which every fine-tuning strategy is "
                       "exercised",
        "architecture": _architecture(model),
        "training_data": {
            "replay_frames": {"train": ts["replay_train"], "valid": ts["replay_valid"],
                              "source": "the study's MPtrj replay files (PBE, VASP)"},
            "distillation_frames": {"train": ts["distillation_train"],
                                    "valid": ts["distillation_valid"],
                                    "teacher": ts["distillation_teacher"],
                                    "teacher_sha256": recipe["teacher"].get("sha256"),
                                    "kinds": ts["distillation_kinds"],
                                    "frames_sha256": ts["distillation_frames_sha256"]},
            "study_lif_dft_frames": ts["study_lif_dft_frames"],
            "study_files_read": _data_files(recipe["data_files"])},
        "recipe": {"command": "make embedded-model", "stages": 2,
                   "cpu_budget_s_stage1": recipe.get("cpu_budget_s"),
                   "stage2_stress_weight": recipe["stage2_options"].get("stress_weight"),
                   "epochs": recipe["stage2_options"].get("max_num_epochs"),
                   "dtype": recipe["options"].get("default_dtype"),
                   "seed": recipe["options"].get("seed")},
        "metrics": ({k: m.get(k) for k in _METRIC_KEYS if k in m} or
                    "not measured yet: python -m lidiff_helpers.workflows.embedded_v2_metrics"),
        "targets_vs_teacher": m.get("targets"),
        "nvt_checks": [{k: r.get(k) for k in ("temperature_K", "simulated_ps", "status",
                                               "done_ps", "min_distance_A")}
                       for r in m.get("stability_long", [])],
        "licence": LICENCE + "; also trained on labels computed by SevenNet-0, whose "
                             "weights are GPL-3.0 (whether a distilled model inherits that "
                             "licence is not settled: check before redistributing it)",
        "intended_use": "teaching and testing the study's fine-tuning strategies offline; "
                        "the default foundation (`embedded`, `auto` without MACE-MPA-0)",
        "known_limits": [
            "not MACE-MPA-0: 32 channels, ~1000 MPtrj frames and 519 SevenNet-0-labelled "
            "Li-F configurations",
            "behaves like SevenNet-0 (its teacher), not like the study's DFT: its errors "
            "include the teacher's",
            "targets missed: " + (", ".join(unmet) if unmet else "none") +
            " (targets_vs_teacher)"],
        "study": STUDY}


#: metrics of a model card, from its metrics file (reference_metrics.measure)
_METRIC_KEYS = ("interstitial_F_rmse_meV_A", "bulk_F_rmse_meV_A", "interstitial_E_rmse_meV_atom",
                "bulk_E_rmse_meV_atom", "interstitial_S_rmse_GPa", "lif_replay_F_rmse_meV_A",
                "replay_F_rmse_meV_A", "a0_A", "B_GPa", "knockoff_collinear_barrier_eV",
                "direct_barrier_eV", "eos_note", "stability_problems")


def card_sevennet() -> dict[str, Any]:
    """SevenNet-0's card: the shipped checkpoint (not a lidiff file), its licence and its
    zero-shot metrics (``data/models/reference/sevennet-0.metrics.json``, where measured)."""
    from lidiff_helpers.simulation import models, sevennet
    from lidiff_helpers.training import reference_models as ref

    ident = models.model_identity(sevennet.NAME)
    mfile = ref.REFERENCE_DIR / f"{sevennet.NAME}.metrics.json"
    m = json.loads(mfile.read_text()) if mfile.is_file() else {}
    return {
        "model_name": sevennet.NAME,
        "file": f"sevenn {sevennet.SEVENN_VERSION} wheel: sevenn/{sevennet.CHECKPOINT}",
        "sha256": ident["sha256"],
        "description": "SevenNet-0 (11Jul2024), universal interatomic potential (NequIP "
                       "architecture, 5 A cutoff) trained on MPtrj: the real foundation "
                       "model lidiff runs offline, zero-shot, and the teacher of the embedded "
                       "model v2",
        "loading": "SHA256 checked, then torch.load(weights_only=True) with only the globals "
                   "the checkpoint needs (lidiff_helpers/simulation/sevennet.py)",
        "training_data": "MPtrj (Materials Project relaxation trajectories, PBE/PBE+U); no "
                         "frame of the study",
        "metrics": {k: m.get(k) for k in _METRIC_KEYS if k in m} or
                   "not measured yet: python -m lidiff_helpers.workflows.reference_metrics "
                   "--arms sevennet-0",
        "licence": sevennet.LICENCE,
        "citation": sevennet.CITATION,
        "intended_use": "zero-shot baseline beside MACE models (notebooks 00, 01, 05); "
                        "teacher of the embedded foundation model v2",
        "known_limits": ["energies on the MPtrj (VASP) reference, not the study's QE one: "
                         "compare after removing a per-atom offset",
                         "1-5 s per force call of 65-217 atoms on one CPU thread",
                         "float32 network"]}


def cards() -> dict[Path, dict]:
    """Card path -> card, for every committed model with a recipe, and SevenNet-0."""
    from lidiff_helpers.training import embedded_v2
    from lidiff_helpers.training import reference_models as ref

    out = {paths.MODELS / "lidiff-embedded.card.yaml": card_embedded(),
           paths.MODELS / "sevennet-0.card.yaml": card_sevennet()}
    if embedded_v2.MODEL.with_suffix(".recipe.json").is_file():
        out[embedded_v2.MODEL.with_suffix(".card.yaml")] = card_embedded_v2()
    # the committed set, the first set (reference-v1) and any set staged in its own folder
    for folder in [ref.REFERENCE_DIR, *sorted(paths.MODELS.glob("reference-*/"))]:
        for a in (*ref.ARMS, ref.SADDLE_ARM):
            if ref.exported(a.name, folder).is_file():
                out[folder / f"{a.name}.card.yaml"] = card_reference(a.name, folder)
    return out


def _yaml(card: dict) -> str:
    import yaml

    text = yaml.safe_dump(json.loads(json.dumps(card, default=str)), sort_keys=False,
                          width=100, allow_unicode=True)
    return "# model card, written by python -m lidiff_helpers.training.model_cards\n" + text


def write_cards() -> list[Path]:
    """(Re)write every card; returns the paths."""
    out = []
    for path, card in cards().items():
        path.write_text(_yaml(card))
        out.append(path)
    return out


def stale_cards() -> list[Path]:
    """Cards missing or differing from what the recipe and metrics files give."""
    return [p for p, c in cards().items() if not p.is_file() or p.read_text() != _yaml(c)]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lidiff_helpers.training.model_cards",
                                 description="write the model cards of the committed models")
    ap.add_argument("--check", action="store_true", help="exit 1 if a card is stale")
    a = ap.parse_args(argv)
    if a.check:
        stale = stale_cards()
        for p in stale:
            print(f"stale model card: {p} (run python -m lidiff_helpers.training.model_cards)")
        return 1 if stale else 0
    for p in write_cards():
        print("wrote", p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
