"""The confound guard: what mace-torch *actually* did in each training run.

mace-torch changes settings behind the user's back in fine-tuning (read from
``mace/cli/run_train.py`` of 0.3.12 and 0.3.16):

* multihead fine-tuning without ``--force_mh_ft_lr=True`` sets the learning rate to
  1e-4, switches EMA on and sets its decay to 0.99999, whatever was asked
  (log line "Multihead finetuning mode, setting learning rate to 0.0001 ...");
* with a foundation model that is not one of mace's named MP models and no
  ``--pt_train_file``, multihead fine-tuning is switched off (warning "Using multiheads
  finetuning with a foundation model that is not a Materials Project model ...");
* mace >= 0.3.13 duplicates the fine-tuning frames when they are fewer than
  ``--real_pt_data_ratio_threshold`` (0.1) of the replay frames ("increasing the number
  of configurations in the fine-tuning heads by N");
* multihead mode forces the ``universal`` loss.

So two arms of a sweep meant to differ only in, say, the replay set can also differ in
learning rate and EMA decay. :func:`read_run` reads a run's mace log and results file
and records the *effective* learning rate, EMA decay, heads, E0s, loss, epochs run and
best epoch; :func:`find_confounds` compares every pair of arms that differ in exactly
one declared variable and flags any other difference.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from lidiff_helpers.io.mace_logs import mace_log_files, read_mace_results

__all__ = [
    "SETTINGS_COMPARED",
    "EffectiveSettings",
    "arm_variables",
    "arms_from_results",
    "find_confounds",
    "guard_columns",
    "expected_settings",
    "read_log",
    "read_run",
]

#: effective settings compared between arms
SETTINGS_COMPARED = ("lr", "ema", "ema_decay", "weight_decay", "batch_size", "loss",
                     "max_num_epochs", "dtype", "e0s_default", "multihead", "ft_duplication")
#: differences a compared variable implies (not confounds)
_IMPLIED = {"method": {"heads", "multihead"}}


@dataclass(frozen=True)
class EffectiveSettings:
    """What a mace run did, read from its own log (values as mace logged them).

    Attributes
    ----------
    run : run label
    mace_version : as logged
    lr : effective learning rate
    ema : EMA used
    ema_decay : effective EMA decay (None without EMA)
    weight_decay, batch_size : as logged
    loss : loss function as logged (e.g. ``UniversalLoss(energy_weight=1.000, ...)``)
    heads : heads of the trained model
    multihead : multihead fine-tuning was on
    e0s : head -> {Z: E0 / eV} as used
    dtype : default dtype
    max_num_epochs : requested epochs
    epochs_run : epochs trained (from the results file)
    best_epoch : epoch of the checkpoint mace kept (None if unknown)
    ft_duplication : factor by which mace duplicated the fine-tuning frames (1 = none)
    replay_frames : replay (pt_head) training frames mace loaded (None: not multihead or
        not logged); the effective replay size, whatever ``--num_samples`` said
    lr_overridden : mace replaced the requested lr/EMA (multihead without force_mh_ft_lr)
    multihead_switched_off : multihead was asked for but mace turned it off
    resumed : the run was restarted from a checkpoint at least once
    requested : the lr, ema_decay and multiheads_finetuning lidiff asked for
    """

    run: str
    mace_version: str | None = None
    lr: float | None = None
    ema: bool = False
    ema_decay: float | None = None
    weight_decay: float | None = None
    batch_size: int | None = None
    loss: str | None = None
    heads: tuple = ()
    multihead: bool = False
    e0s: dict = field(default_factory=dict)
    dtype: str | None = None
    max_num_epochs: int | None = None
    epochs_run: int = 0
    best_epoch: int | None = None
    ft_duplication: int = 1
    replay_frames: int | None = None
    lr_overridden: bool = False
    multihead_switched_off: bool = False
    resumed: bool = False
    requested: dict = field(default_factory=dict)

    @property
    def e0s_default(self) -> str:
        """E0s of the fine-tuned head, as a comparable string."""
        e = self.e0s.get("Default", {})
        return json.dumps({int(k): round(float(v), 6) for k, v in e.items()}, sort_keys=True)

    def notes(self) -> list[str]:
        """Plain-language warnings for the sweep table."""
        out = []
        if self.lr_overridden:
            req = self.requested
            out.append(f"mace set lr {req.get('lr')} -> {self.lr} and EMA decay "
                       f"{req.get('ema_decay')} -> {self.ema_decay} (multihead mode, no "
                       "--force_mh_ft_lr)")
        if self.multihead_switched_off:
            out.append("multihead requested but switched off by mace")
        if self.ft_duplication > 1:
            out.append(f"fine-tuning frames duplicated x{self.ft_duplication} by mace")
        if self.resumed:
            out.append("resumed from checkpoint (mace repeats the checkpoint's epoch)")
        return out

    def to_dict(self) -> dict:
        d = asdict(self)
        d["heads"] = list(self.heads)
        return d


_PATTERNS = {
    "mace_version": re.compile(r"MACE version: (\S+)"),
    "lr_wd": re.compile(r"Learning rate: ([0-9.eE+-]+), weight decay: ([0-9.eE+-]+)"),
    "ema": re.compile(r"Using Exponential Moving Average with decay: ([0-9.eE+-]+)"),
    "batch": re.compile(r"Batch size: (\d+)"),
    "heads": re.compile(r"Using heads: (\[.*\])"),
    "e0s": re.compile(r"Atomic Energies used \(z: eV\) for head (\S+): (\{.*\})"),
    "loss": re.compile(r"INFO: (\w*Loss\(.*\))"),
    "best": re.compile(r"Loaded Stage (?:one|two) model from epoch (\d+)"),
    "dup": re.compile(r"fine-tuning heads by (\d+)"),
    "replay": re.compile(r"Total number of configurations in pretraining: train=(\d+)"),
    "resume": re.compile(r"Loading checkpoint: .*epoch-(\d+)"),
}
_OVERRIDE = "Multihead finetuning mode, setting learning rate to"
_SWITCHED_OFF = "Using multiheads finetuning with a foundation model that is not"


def read_log(text: str) -> dict[str, Any]:
    """Parse one mace log text (the last session's settings win; best epoch = last)."""
    sessions = text.split("===========VERIFYING SETTINGS===========")
    last = sessions[-1]
    out: dict[str, Any] = {"sessions": max(len(sessions) - 1, 0)}
    m = _PATTERNS["mace_version"].search(last)
    out["mace_version"] = m.group(1) if m else None
    m = _PATTERNS["lr_wd"].search(last)
    if m:
        out["lr"], out["weight_decay"] = float(m.group(1)), float(m.group(2))
    m = _PATTERNS["ema"].search(last)
    out["ema"] = m is not None
    out["ema_decay"] = float(m.group(1)) if m else None
    m = _PATTERNS["batch"].search(last)
    out["batch_size"] = int(m.group(1)) if m else None
    m = _PATTERNS["heads"].search(last)
    out["heads"] = tuple(ast.literal_eval(m.group(1))) if m else ()
    e0s = {}
    for h, body in _PATTERNS["e0s"].findall(last):
        try:
            e0s[h] = {int(k): float(v) for k, v in ast.literal_eval(body).items()}
        except (ValueError, SyntaxError):
            e0s[h] = body
    out["e0s"] = e0s
    m = _PATTERNS["loss"].search(last)
    out["loss"] = m.group(1) if m else None
    best = _PATTERNS["best"].findall(last)
    out["best_epoch"] = int(best[-1]) if best else None
    m = _PATTERNS["dup"].search(last)
    out["ft_duplication"] = 1 + int(m.group(1)) if m else 1
    m = _PATTERNS["replay"].search(last)
    out["replay_frames"] = int(m.group(1)) if m else None
    out["lr_overridden"] = _OVERRIDE in last
    out["multihead_switched_off"] = _SWITCHED_OFF in last
    # a "Loading checkpoint" before "Started training" means a restart from a checkpoint
    out["resumed"] = any(_PATTERNS["resume"].search(s.split("Started training")[0])
                         for s in sessions[1:])
    return out


def read_run(workdir: str | Path, label: str | None = None) -> EffectiveSettings:
    """Effective settings of the mace run in ``workdir`` (its log, results, options).

    Raises
    ------
    FileNotFoundError
        if the folder holds no mace log (the run never started).
    """
    wd = Path(workdir)
    logs = mace_log_files(wd)
    if not logs:
        raise FileNotFoundError(f"{wd}: no mace log under logs/ (did the run start?)")
    parsed = read_log("\n".join(p.read_text(errors="replace") for p in logs))
    opts = json.loads((wd / "options.json").read_text()) if (wd / "options.json").is_file() else {}
    epochs = {int(r["epoch"]) for r in read_mace_results(wd)
              if r.get("mode") == "opt" and r.get("epoch") is not None}
    requested = {k: opts.get(k) for k in ("lr", "ema_decay", "multiheads_finetuning",
                                          "force_mh_ft_lr")}
    heads = parsed["heads"]
    return EffectiveSettings(
        run=label or wd.name, mace_version=parsed["mace_version"], lr=parsed.get("lr"),
        ema=parsed["ema"], ema_decay=parsed["ema_decay"],
        weight_decay=parsed.get("weight_decay"), batch_size=parsed["batch_size"],
        loss=parsed["loss"], heads=heads, multihead="pt_head" in heads,
        e0s=parsed["e0s"], dtype=opts.get("default_dtype"),
        max_num_epochs=opts.get("max_num_epochs"), epochs_run=len(epochs),
        best_epoch=parsed["best_epoch"], ft_duplication=parsed["ft_duplication"],
        replay_frames=parsed["replay_frames"],
        lr_overridden=parsed["lr_overridden"],
        multihead_switched_off=parsed["multihead_switched_off"]
        or (bool(opts.get("multiheads_finetuning")) and "pt_head" not in heads),
        resumed=parsed["resumed"], requested=requested)


def arm_variables(cfg) -> dict[str, Any]:
    """The declared variables of a run (a :class:`~lidiff_helpers.training.finetune.FinetuneConfig`).

    ``method`` joins strategy and replay size (``naive``, ``multihead-pt100``,
    ``scratch``) so "naive vs multihead with 100 replay frames" is one comparison.
    """
    return {"method": cfg.arm, "selection": cfg.selection,
            "data": f"{cfg.n_bulk}+{cfg.n_interstitial}", "seed": cfg.seed,
            "foundation": cfg.foundation_sha256[:12]}


def arms_from_results(results: Sequence) -> dict[str, tuple[dict, EffectiveSettings]]:
    """label -> (declared variables, effective settings) of every finished run."""
    return {r.config.label: (arm_variables(r.config), read_run(r.workdir, r.config.label))
            for r in results if r.ok}


def find_confounds(arms: Mapping[str, tuple[Mapping[str, Any], EffectiveSettings]],
                   compared: Sequence[str] = SETTINGS_COMPARED):
    """Flag pairs of arms that differ in more than the variable being compared.

    Parameters
    ----------
    arms : label -> (declared variables (see :func:`arm_variables`), effective settings)
    compared : effective settings checked

    Returns
    -------
    pandas.DataFrame
        one row per pair of arms differing in exactly one declared variable:
        ``arm_a``, ``arm_b``, ``variable``, ``confounded`` (bool) and ``differences``
        (text such as ``lr: 0.005 vs 0.0001``); differences the variable implies (a
        multihead arm has a pt_head) are not confounds.
    """
    import pandas as pd

    rows = []
    for a, b in combinations(sorted(arms), 2):
        va, sa = arms[a]
        vb, sb = arms[b]
        diff_vars = [k for k in va if va.get(k) != vb.get(k)]
        if len(diff_vars) != 1:
            continue
        var = diff_vars[0]
        allowed = _IMPLIED.get(var, set())
        diffs = []
        for s in compared:
            if s in allowed:
                continue
            xa, xb = getattr(sa, s), getattr(sb, s)
            if xa != xb:
                diffs.append(f"{s}: {xa} vs {xb}")
        rows.append({"arm_a": a, "arm_b": b, "variable": var, "confounded": bool(diffs),
                     "differences": "; ".join(diffs)})
    return pd.DataFrame(rows, columns=["arm_a", "arm_b", "variable", "confounded",
                                       "differences"])


#: what mace-torch (0.3.12 to 0.3.16) sets in multihead mode without --force_mh_ft_lr=True
MACE_MULTIHEAD_LR = 1e-4
MACE_MULTIHEAD_EMA_DECAY = 0.99999


def expected_settings(options: Mapping[str, Any]) -> dict[str, Any]:
    """The lr and EMA decay mace will train with, from the options passed to it: in
    multihead mode without ``force_mh_ft_lr`` mace replaces them by
    :data:`MACE_MULTIHEAD_LR` / :data:`MACE_MULTIHEAD_EMA_DECAY` (EMA on), which the guard
    then reads back from the log; otherwise the requested values."""
    mh = bool(options.get("multiheads_finetuning"))
    override = mh and not options.get("force_mh_ft_lr")
    return {"lr_effective": MACE_MULTIHEAD_LR if override else options.get("lr"),
            "ema_decay_effective": (MACE_MULTIHEAD_EMA_DECAY if override
                                    else options.get("ema_decay") if options.get("ema")
                                    else None),
            "lr_overridden": override}


def guard_columns(s: EffectiveSettings) -> dict[str, Any]:
    """The confound-guard columns of a sweep-table row."""
    return {"lr_effective": s.lr, "ema_decay_effective": s.ema_decay,
            "heads": "+".join(s.heads), "E0s_Default_eV": s.e0s_default,
            "epochs_run": s.epochs_run, "best_epoch": s.best_epoch,
            "replay_frames_effective": s.replay_frames, "ft_duplication": s.ft_duplication,
            "guard_notes": "; ".join(s.notes())}
