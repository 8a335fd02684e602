"""Errors of the fine-tuned models: held-out test set by frame kind, and forgetting.

The test-set errors come from :mod:`lidiff_helpers.analysis.parity` (the shared parity code of
notebook 01: energy per atom, force components, Voigt stress; RMSE by ``bulk`` and
``interstitial``), with its resumable prediction cache in each run folder. Models
fine-tuned here use the study's E0s, so no energy offset is removed
(``energy_reference="study"``); a foundation model's offset is handled by
:func:`lidiff_helpers.analysis.parity.decide_energy_offset` and reported.

Forgetting is the force RMSE on the study's MPtrj replay validation frames
(:func:`replay_force_rmse`): through the replay head ``pt_head`` for multihead models,
through the only head otherwise, and only on frames made of elements the model knows
(a naive fine-tune keeps Li and F only).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from lidiff_helpers.analysis import parity
from lidiff_helpers.core.cache import cached_json
from lidiff_helpers.io import replay

__all__ = [
    "evaluate_model",
    "frames_unseen_by",
    "lif_replay_frames",
    "model_elements",
    "model_row",
    "model_sha256",
    "replay_force_rmse",
    "replay_validation_frames",
    "sweep_table",
    "test_frames",
]


def test_frames(n_test: int | None = None, seed: int = 0) -> list:
    """The held-out test frames (:func:`lidiff_helpers.io.data.test_set`), or a seeded
    stratified subset of ``n_test`` of them (:func:`lidiff_helpers.analysis.parity.select_frames`)."""
    from lidiff_helpers.io import data

    return parity.select_frames(data.test_set(), n_test, seed)


test_frames.__test__ = False


def replay_validation_frames(max_force_eV_A: float | None = replay.MAX_REPLAY_FORCE_EV_A, n_frames: int | None = None,
                             seed: int = 0) -> list:
    """The study's MPtrj replay validation frames (valid_mp_finetuning-MACE_100.xyz)
    for the forgetting metric, without the outliers whose largest atomic force exceeds
    ``max_force_eV_A`` (one frame reaches 197 eV/A and would dominate any RMSE; the
    embedded model's pretraining drops the same frames: :mod:`lidiff_helpers.io.replay`).
    None keeps every frame. ``n_frames``: a seeded subset of them (``seeded_subset``)."""
    fr = replay.replay_frames("valid_100", max_force_eV_A=max_force_eV_A).frames
    return replay.seeded_subset(fr, n_frames, seed)


def lif_replay_frames(max_force_eV_A: float | None = replay.MAX_REPLAY_FORCE_EV_A) -> list:
    """Forgetting on one footing: the MPtrj frames made of Li and F only, which every LiF
    model can evaluate (naive fine-tunes keep only Li and F), from the study's three
    replay files, deduplicated (18 frames). All of them are in the 100-frame replay file
    (``train_100``) that the ``N_pt = 100`` multihead arms train on: for those arms they
    are seen frames (callers say so); the validation file's other frames, through the
    replay head, are the multihead arms' unseen check. Force-only (PBE labels)."""
    from lidiff_helpers.io.data import frame_hash

    fr = replay.replay_frames(("train_100", "train_900", "valid_100"),
                              max_force_eV_A=max_force_eV_A, elements=(3, 9)).frames
    out, seen = [], set()
    for a in fr:
        h = frame_hash(a)
        if h not in seen:
            seen.add(h)
            out.append(a)
    return out


def evaluate_model(model: str | Path, frames: Sequence, head: str | None = None,
                   dtype: str = "float64", device: str = "cpu",
                   energy_reference: str | None = "study",
                   cache: str | Path | None = None) -> tuple[list[dict], str]:
    """Parity metrics of a model on labelled LiF frames (rows by kind), and the offset text.

    ``model``: a ``.model`` path or any model spec (``sevennet-0``, ``chgnet``).
    ``energy_reference``: ``study`` (trained with the study's E0s: no offset removed),
    ``foreign``, or None (decide by magnitude). ``cache``: parity's ``.npz`` cache.
    """
    from lidiff_helpers.simulation.models import get_calculator

    calc = get_calculator(str(model), device=device, dtype=dtype, head=head, verbose=False)
    key = f"{model_sha256(model)}:{dtype}:{head}"
    pred = parity.predict(calc, frames, cache=cache, cache_key=key, progress=False)
    off = parity.decide_energy_offset(pred, energy_reference=energy_reference,
                                      e0s=parity.model_e0s(calc))
    return parity.parity_metrics(pred, off), off.short()


def replay_force_rmse(model: str | Path, frames: Iterable, elements: Iterable[int],
                      head: str | None = None, dtype: str = "float64",
                      device: str = "cpu") -> tuple[float, int]:
    """Force RMSE (meV/A) on the replay (MPtrj) frames a model can evaluate: forgetting.

    Only frames made of ``elements`` (the model's atomic numbers) are used; energies are
    not compared (a naive fine-tune has the LiF E0s, not the MPtrj ones). Returns
    ``(rmse_f_meV_A, n_frames)``; NaN and 0 when no frame qualifies.
    """
    from lidiff_helpers.simulation.models import get_calculator

    keep = {int(z) for z in elements}
    fr = [a for a in frames if {int(z) for z in a.numbers} <= keep]
    if not fr:
        return float("nan"), 0
    calc = get_calculator(str(model), device=device, dtype=dtype, head=head, verbose=False)
    pred, ref = [], []
    for a in fr:
        b = a.copy()
        b.calc = calc
        pred.append(np.asarray(b.get_forces(), float))
        ref.append(np.asarray(a.arrays["REF_forces"], float))
    return 1e3 * parity.rmse(np.concatenate(pred), np.concatenate(ref)), len(fr)


def model_sha256(model: str | Path) -> str:
    """SHA256 of a model's weights (a ``.model`` path or a spec such as ``sevennet-0``)."""
    from lidiff_helpers.simulation.models import model_identity

    return str(model_identity(str(model))["sha256"])


def model_elements(model: str | Path) -> frozenset:
    """Atomic numbers a model knows: a MACE file's table, SevenNet-0's type map, CHGNet's
    1-94 (its MPtrj elements)."""
    from lidiff_helpers.simulation import models, sevennet
    from lidiff_helpers.training.finetune import foundation_elements

    m = models.resolve_spec(str(model))
    if m.kind == "sevennet":
        return sevennet.elements()
    if m.kind == "chgnet":
        return frozenset(range(1, 95))
    return foundation_elements(str(m.path))


# ----------------------------------------------------------------------------- sweep table

def frames_unseen_by(workdir: str | Path, frames: Sequence) -> tuple[list, int]:
    """``frames`` without those a run trained or validated on (its ``data.json``).

    lidiff's own selections never touch the held-out test set; the study's Table 1 files
    (selection ``study``) overlap it, so each such arm is tested on the rest. Returns the
    kept frames and how many were left out.
    """
    import json

    from lidiff_helpers.io.data import frame_hash

    man = Path(workdir) / "data.json"
    if not man.is_file():
        return list(frames), 0
    body = json.loads(man.read_text())
    seen = set(body.get("train_hashes", [])) | set(body.get("valid_hashes", []))
    kept = [a for a in frames if (a.info.get("hash") or frame_hash(a)) not in seen]
    return kept, len(frames) - len(kept)


def model_row(model: str | Path, test_frames: Sequence, replay_valid: Sequence,
              head_replay: str | None = None, dtype: str = "float64", device: str = "cpu",
              cache: Path | None = None, energy_reference: str | None = "study") -> dict:
    """Test-set RMSEs (bulk, interstitial) and replay force RMSE of one model, as a row.

    Columns ``{bulk,interstitial}_{E_rmse_meV_atom,F_rmse_meV_A,S_rmse_GPa,n_test}``,
    ``energy_offset``, ``replay_F_rmse_meV_A``, ``replay_n_frames``. Cached in ``cache``
    (JSON) keyed by the model's SHA256, the test and replay frames and the dtype.
    """
    from lidiff_helpers.io.data import frame_hash

    def compute() -> dict:
        rows, offset = evaluate_model(model, test_frames, dtype=dtype, device=device,
                                      energy_reference=energy_reference,
                                      cache=Path(cache).with_suffix(".npz") if cache else None)
        row = {"energy_offset": offset}
        for r in rows:
            if r["kind"] == "all" or not r["n_frames"]:
                continue
            k = r["kind"]
            row.update({f"{k}_E_rmse_meV_atom": r["E_rmse_meV_atom"],
                        f"{k}_F_rmse_meV_A": r["F_rmse_meV_A"],
                        f"{k}_S_rmse_GPa": r["S_rmse_GPa"], f"{k}_n_test": r["n_frames"]})
        rf, n = replay_force_rmse(model, replay_valid, model_elements(model),
                                  head=head_replay, dtype=dtype, device=device)
        row.update({"replay_F_rmse_meV_A": rf, "replay_n_frames": n})
        return row

    key = {"model_sha256": model_sha256(model), "dtype": dtype, "head_replay": head_replay,
           "energy_reference": energy_reference,
           "test": sorted(frame_hash(a) for a in test_frames),
           "replay": sorted(frame_hash(a) for a in replay_valid)}
    if cache is None:
        return compute()
    return cached_json(Path(cache), key, compute)


def sweep_table(results: Sequence, test_frames: Sequence, replay_valid: Sequence,
                dtype: str = "float64", device: str = "cpu", progress: bool = True):
    """One row per fine-tuning run: config, status, test/replay errors, cost, guard columns.

    ``results`` are :class:`lidiff_helpers.training.finetune.FinetuneResult`. Columns with units:
    ``{bulk,interstitial}_{E_rmse_meV_atom,F_rmse_meV_A,S_rmse_GPa}``, ``replay_F_rmse_meV_A``
    (forgetting: force RMSE on the replay validation frames, the replay head for
    multihead models), ``opt_s_per_epoch``, and the confound-guard columns
    (:func:`lidiff_helpers.analysis.confound.guard_columns`). Returns a pandas DataFrame.
    """
    import pandas as pd

    from lidiff_helpers.analysis import confound
    from lidiff_helpers.training.sweeps import epoch_times

    it: Iterable = results
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(results, desc="evaluating models", unit="model")
    rows = []
    for r in it:
        c = r.config
        row = {"run": c.label, "method": c.arm, "strategy": c.strategy,
               "selection": c.selection, "n_bulk": c.n_bulk,
               "n_interstitial": c.n_interstitial, "n_frames": c.n_frames, "n_pt": c.n_pt,
               "seed": c.seed, "status": r.status, "message": r.message}
        if r.ok:
            head = "pt_head" if c.strategy == "multihead" else None
            test, n_out = frames_unseen_by(r.workdir, test_frames)
            row["test_frames_left_out"] = n_out
            row.update(model_row(r.model, test, replay_valid, head, dtype, device,
                                 cache=r.workdir / "evaluation.json"))
            row.update(epoch_times(r.workdir))
            row.update(confound.guard_columns(confound.read_run(r.workdir, c.label)))
        rows.append(row)
    return pd.DataFrame(rows)
