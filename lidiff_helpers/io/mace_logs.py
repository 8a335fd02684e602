"""Readers of what ``mace_run_train`` writes in a run folder: its log files and its
per-epoch ``results/*_train.txt`` JSON lines. Pure file reading (no torch), so the
analysis layer (the confound guard) can use them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["mace_log_files", "read_mace_results"]


def mace_log_files(workdir: str | os.PathLike) -> list[Path]:
    """mace's own log files of a run folder (``logs/<name>_run-<seed>.log``), oldest first.

    The ``*_debug.log`` twins are left out; an empty list means mace never started.
    """
    logs = Path(workdir) / "logs"
    if not logs.is_dir():
        return []
    return sorted((p for p in logs.glob("*.log") if not p.name.endswith("_debug.log")),
                  key=lambda p: p.stat().st_mtime)


def read_mace_results(workdir: str | os.PathLike) -> list[dict]:
    """The JSON lines mace writes to ``results/*_train.txt`` during training.

    One dict per line: ``mode == "opt"`` lines (one per optimiser step: ``loss``,
    ``time`` in s, ``epoch``) and ``mode == "eval"`` lines (one per validation pass and
    head: ``epoch`` (None before training), ``head``, ``rmse_f``/``mae_f`` in eV/A,
    ``rmse_e_per_atom`` in eV, ``rmse_stress`` in eV/A^3, ``time`` in s). A resumed run
    appends to the same file, so an epoch can appear twice (the later line wins in
    callers that tabulate). A truncated last line (killed run) is skipped.
    """
    out = []
    res = Path(workdir) / "results"
    if not res.is_dir():
        return out
    for f in sorted(res.glob("*_train.txt")):
        for line in f.read_text().splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out
