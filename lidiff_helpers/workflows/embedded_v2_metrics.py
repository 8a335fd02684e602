"""Measuring the embedded foundation model v2 against its teacher (issue 25's targets).

:func:`measure` puts v2 on the reference models' footing
(:func:`lidiff_helpers.workflows.reference_metrics.measure`: held-out test set, equation of
state, collinear knock-off and direct-hop CI-NEB with the same settings as SevenNet-0's
row), runs the 20 ps NVT stability checks of 3x3x3 LiF + 1 Li at 300 / 600 / 900 K
(resumable), and writes :func:`lidiff_helpers.training.embedded_v2.targets` (force RMSE
within 1.2x SevenNet-0's, barriers within 0.03 eV, a0 within 1 %, B within 15 %) into
``<model>.metrics.json``.

    python -m lidiff_helpers.workflows.embedded_v2_metrics [--model ...] [--stability-ps 20]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from lidiff_helpers.training import distillation
from lidiff_helpers.training.embedded_v2 import (
    MODEL,
    STATE,
    TARGETS,
    WORKDIR,
    export_state,
    targets,
)
from lidiff_helpers.training.mace_train import newest_epoch
from lidiff_helpers.workflows import reference_metrics as rm

__all__ = ["PROGRESS", "STABILITY_PS", "STABILITY_TEMPERATURES_K", "main", "measure",
           "measure_state"]


#: the issue's NVT stability runs: 3x3x3 LiF + 1 Li, 20 ps at each temperature (K)
STABILITY_TEMPERATURES_K = (300.0, 600.0, 900.0)
STABILITY_PS = 20.0


def measure(model: Path = MODEL, stability_ps: float = STABILITY_PS,
            temperatures_K: Sequence[float] = STABILITY_TEMPERATURES_K,
            workdir: Path = WORKDIR / "metrics") -> dict:
    """Measure v2 on the reference models' footing (held-out test set, EOS, knock-off and
    direct-hop CI-NEB with the same settings as SevenNet-0's row; cached by SHA256), run
    the NVT stability checks (``stability_ps`` at ``temperatures_K``; resumable; 0 skips
    them), compare with the teacher (:func:`targets`) and write
    ``<model>.metrics.json``."""
    from lidiff_helpers.training import embedded

    model = Path(model)
    out = model.with_suffix(".metrics.json")
    m = rm.measure("embedded-v2", workdir=workdir, model=str(model), out=out,
                   what="zero-shot embedded foundation v2 (distilled from SevenNet-0)")
    teacher = rm.measure(distillation.TEACHER)
    if stability_ps > 0:
        runs = embedded.stability_check(model, workdir / "stability", tuple(temperatures_K),
                                        stability_ps, progress=True)
        m["stability_long"] = runs
        m["stability_long_problems"] = [p for r in runs for p in embedded.stability_problems(r)]
    m["targets"] = targets(m, teacher).to_dict("records")
    m["teacher_metrics"] = {k: teacher.get(k) for k in (*(t[0] for t in TARGETS),
                                                        "bulk_S_rmse_GPa",
                                                        "interstitial_S_rmse_GPa")}
    out.write_text(json.dumps(m, indent=1, default=str) + "\n")
    return m


#: measured checkpoints of the unfinished v2 training, one row each (committed)
PROGRESS = STATE / "progress.json"


def measure_state(state: Path = STATE, workdir: Path = WORKDIR / "state-metrics",
                  progress_file: Path | None = None) -> dict:
    """Measure the committed checkpoint of the unfinished v2 training (:func:`export_state`,
    then :func:`measure`'s footing without the stability runs) and add its row to
    ``progress_file`` (default ``<state>/progress.json``): epoch, CPU seconds spent, model
    SHA256, the targets' quantities and which are met. Shows whether the training is
    heading for the targets before its budget is spent. Returns the row."""
    state, workdir = Path(state), Path(workdir)
    progress_file = Path(progress_file or state / "progress.json")
    epoch = newest_epoch(state)
    if epoch is None:
        raise FileNotFoundError(f"{state}: no committed checkpoint to measure")
    budget = json.loads((state / "budget.json").read_text())
    model = export_state(workdir / f"epoch-{epoch}.model", state)
    m = rm.measure("embedded-v2", workdir=workdir, model=str(model), stability_ps=0,
                   out=workdir / f"epoch-{epoch}.metrics.json",
                   what=f"embedded v2, checkpoint of epoch {epoch} (training unfinished)")
    teacher = rm.measure(distillation.TEACHER)
    t = targets(m, teacher)
    row = {"epoch": epoch, "cpu_s_spent": budget.get("cpu_s_spent"),
           "model_sha256": m["model_sha256"],
           **{k: m.get(k) for k in ("bulk_F_rmse_meV_A", "interstitial_F_rmse_meV_A",
                                    "bulk_S_rmse_GPa", "interstitial_S_rmse_GPa",
                                    "knockoff_collinear_barrier_eV", "direct_barrier_eV",
                                    "a0_A", "B_GPa")},
           "targets_met": dict(zip(t["quantity"], t["met"])),
           "teacher": {k: teacher.get(k) for k, _, _ in TARGETS},
           "command": "python -m lidiff_helpers.workflows.embedded_v2_metrics --state"}
    rows = json.loads(progress_file.read_text()) if progress_file.is_file() else []
    rows = [r for r in rows if r["model_sha256"] != row["model_sha256"]] + [row]
    progress_file.write_text(json.dumps(sorted(rows, key=lambda r: r["epoch"]), indent=1,
                                        default=str) + "\n")
    return row


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lidiff_helpers.workflows.embedded_v2_metrics",
                                 description="measure the embedded model v2 against its teacher")
    ap.add_argument("--model", default=str(MODEL))
    ap.add_argument("--stability-ps", type=float, default=STABILITY_PS,
                    help="NVT stability runs, ps (0: skip)")
    ap.add_argument("--state", action="store_true",
                    help=f"measure the committed checkpoint of the unfinished training "
                         f"({STATE}) into its progress.json instead")
    a = ap.parse_args(argv)
    if a.state:
        print(json.dumps(measure_state(), indent=1, default=str))
        return 0
    m = measure(Path(a.model), a.stability_ps)
    print(targets(m, m["teacher_metrics"]).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
