"""Notebook 05 (diffusion coefficients, Arrhenius fits, hop events): the glue.

From the notebook's parameters (``P``, the resolved profile of
``runner/profiles/05_arrhenius_analysis.yaml``) to its runs, tables and summary, so that
each cell of the notebook is one or two calls plus display:

1. :func:`select_runs` - which trajectories: the ``trajectories`` parameter, the MD
   notebook's manifest (finished runs long enough for the fit rule), or - only when the
   profile asks for ``source: synthetic`` - synthetic runs with a known D
   (:mod:`lidiff_helpers.synthetic.trajectories`). ``auto`` never falls back to
   synthetic data: with nothing found it stops with an error naming what it looked for;
2. :func:`analyse` - :func:`~lidiff_helpers.analysis.diffusion.diffusion_coefficient`
   and :func:`~lidiff_helpers.analysis.hops.detect_hops` for every run;
3. :func:`conventions_table`, :func:`arrhenius_tables`, :func:`hop_table` - the tables;
4. :func:`summary` - the notebook's summary dict.

Every table carries a ``data_source`` column (``manifest``, ``trajectories`` or
``synthetic``): a table made from synthetic runs says so in the file itself (the figures
say so in their titles, :func:`lidiff_helpers.figures.diffusion.title`).

The lower-level steps (:func:`collect_runs`, :func:`analyse_runs`, :func:`replica_table`,
:func:`convention_comparison`) take explicit arguments and are usable without a profile.
The computations themselves live in :mod:`lidiff_helpers.analysis`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lidiff_helpers.analysis import arrhenius
from lidiff_helpers.analysis.arrhenius import EA_RESOLVED_MAX_ERR_EV
from lidiff_helpers.analysis.diffusion import (
    CONVENTIONS,
    combine_replicas,
    default_fit_window_ps,
    diffusion_coefficient,
)
from lidiff_helpers.analysis.hops import detect_hops, knockoff_sum_sq_jump_A2
from lidiff_helpers.core import reference
from lidiff_helpers.core.errors import (
    DataUnavailableError,
    ParameterError,
    WrappedTrajectoryError,
)
from lidiff_helpers.core.provenance import sha256_file
from lidiff_helpers.core.units import CM2_S_PER_A2_PS, DIMENSIONS, LIF_A_STUDY_A
from lidiff_helpers.io.loading import load_trajectory, read_manifest
from lidiff_helpers.synthetic.trajectories import write_synthetic_runs

__all__ = [
    "DATA_SOURCE_COLUMN",
    "HOP_COLUMNS",
    "REFERENCE",
    "SOURCES",
    "SYNTHETIC_MODEL",
    "ArrheniusTables",
    "RunAnalyses",
    "RunSelection",
    "analyse",
    "analyse_runs",
    "arrhenius_tables",
    "collect_runs",
    "convention_comparison",
    "conventions_table",
    "data_source_of",
    "hop_table",
    "replica_table",
    "select_runs",
    "summary",
    "with_data_source",
]

#: values of ``source`` accepted by :func:`collect_runs` (``auto``: trajectories or
#: manifest, never synthetic)
SOURCES = ("auto", "manifest", "trajectories", "synthetic")
#: column naming where a table's data come from (``manifest``, ``trajectories``,
#: ``synthetic``), in every table of notebook 05
DATA_SOURCE_COLUMN = "data_source"
#: the study's reference Arrhenius law (DeePMD, Table 3): synthetic runs follow it
REFERENCE = reference.TABLE3[reference.TABLE3_REFERENCE_MODEL]
#: model label of the synthetic runs (Table 3 matches it to the study's DeePMD row)
SYNTHETIC_MODEL = "synthetic-deepmd-law"
#: columns of the hop table (those present)
HOP_COLUMNS = (DATA_SOURCE_COLUMN, "model", "temperature_K", "replica", "n_knockoff",
               "n_direct", "n_lattice_hop", "n_frenkel", "n_recombination",
               "mean_n_interstitial", "lattice_constant_A", "D_defect_cm2_s",
               "D_event_sum_cm2_s", "D_collective_cm2_s", "D_event_defect_cm2_s")


# --------------------------------------------------------------------------------------
# Runs: which trajectories
# --------------------------------------------------------------------------------------

def run_trajectory(run: dict):
    """The run's trajectory; a LAMMPS dump is read with the MD timestep its manifest entry
    records (``md_timestep_fs``): a dump holds step numbers, not times."""
    return load_trajectory(run["trajectory"], lammps_timestep_fs=run.get("md_timestep_fs"))


def _usable(run: dict, fit_rule: dict) -> str | None:
    """Why a run cannot be fitted with ``fit_rule`` (None if it can)."""
    try:
        traj = run_trajectory(run)
    except (OSError, ValueError) as exc:
        return str(exc)
    stride = int(fit_rule.get("frame_stride", 1))
    n = traj.n_frames // stride
    dt = traj.frame_interval_ps * stride
    rule = {k: v for k, v in fit_rule.items() if k != "frame_stride"}
    try:
        t0, t1 = default_fit_window_ps((n - 1) * dt, **rule)
    except ValueError as exc:
        return str(exc)
    if (t1 - t0) / dt < 3:
        return f"fit window {t0:g}-{t1:g} ps holds fewer than 3 frames of {dt:g} ps"
    return None


def _given_runs(trajectories: Sequence) -> list[dict]:
    """Manifest-like entries from the ``trajectories`` parameter (dicts or paths)."""
    runs = []
    for i, t in enumerate(trajectories):
        if isinstance(t, dict):
            runs.append({"replica": 0, "purpose": "arrhenius", "status": "done", **t})
            continue
        info = load_trajectory(t).info
        if "temperature_K" not in info:
            raise ParameterError(f"{t}: no temperature_K in the trajectory's info; pass a "
                                 "dict with model, temperature_K, replica, trajectory")
        runs.append({"model": str(info.get("model", "unknown")),
                     "temperature_K": float(info["temperature_K"]),
                     "replica": int(info.get("replica", i)), "trajectory": str(t),
                     "status": "done", "purpose": info.get("purpose", "arrhenius")})
    return runs


def _manifest_runs(mp: Path, fit_rule: dict | None) -> tuple[list[dict], str]:
    """Finished manifest runs (only those long enough for ``fit_rule``, when given)."""
    runs = read_manifest(mp) if mp.is_file() else []
    note = f"no MD manifest at {mp}"
    if runs and fit_rule is not None:
        why = {i: _usable(r, fit_rule) for i, r in enumerate(runs)}
        bad = {i: w for i, w in why.items() if w}
        if bad:
            note = (f"{len(bad)} of {len(runs)} manifest runs unusable, e.g. "
                    f"{runs[min(bad)]['trajectory']}: {bad[min(bad)]}")
        runs = [r for i, r in enumerate(runs) if i not in bad]
    elif mp.is_file():
        note = f"{mp} lists no finished runs"
    return runs, note


def _nothing_found(mp: Path, note: str) -> DataUnavailableError:
    return DataUnavailableError(
        f"source='auto' found no runs to analyse: the trajectories parameter is empty and "
        f"{note} (looked for the MD notebook's manifest at {mp}). Run notebook 04 first, "
        "pass trajectories, or set source='synthetic' to analyse synthetic trajectories (a "
        "test of the analysis with a known D, not a result about LiF).")


def collect_runs(source: str, *, manifest_path: str | os.PathLike,
                 trajectories: Sequence | None, synthetic_dir: str | os.PathLike,
                 synthetic_settings: dict, fit_rule: dict | None = None
                 ) -> tuple[list[dict], str, str]:
    """The runs notebook 05 analyses, where they came from, and why.

    Parameters
    ----------
    source : ``auto`` (trajectories if given, else the MD manifest's finished runs;
        never synthetic), ``manifest``, ``trajectories`` or ``synthetic`` (only when
        asked for)
    manifest_path : the MD notebook's ``md/manifest.json``
    trajectories : manifest-like dicts, or paths of trajectories whose ``info`` holds
        ``model`` and ``temperature_K``
    synthetic_dir : where synthetic trajectories are written (and reused)
    synthetic_settings : keyword arguments of
        :func:`lidiff_helpers.synthetic.trajectories.write_synthetic_runs` (with
        ``temperatures_K``)
    fit_rule : keyword arguments of
        :func:`~lidiff_helpers.analysis.diffusion.default_fit_window_ps` (and
        ``frame_stride``) used to drop manifest runs too short to fit (listed in the note)

    Returns
    -------
    (runs, used_source, note)
        ``used_source`` is ``manifest``, ``trajectories`` or ``synthetic`` (also written
        into every run as ``data_source``); ``note`` says why (e.g. which manifest runs
        were too short).

    Raises
    ------
    ParameterError
        for an unknown source or ``trajectories`` without trajectories.
    DataUnavailableError
        (a FileNotFoundError) when ``manifest`` or ``auto`` finds no runs; the message
        names the manifest path it looked at and why its runs were not usable.
    """
    if source not in SOURCES:
        raise ParameterError(f"source must be one of {SOURCES}, got {source!r}")
    if source == "synthetic":
        runs = write_synthetic_runs(synthetic_dir, **synthetic_settings)
        return _tagged(runs, "synthetic"), "synthetic", \
            f"requested; {len(runs)} synthetic runs with known D"
    if source in ("auto", "trajectories") and trajectories:
        runs = _given_runs(trajectories)
        return _tagged(runs, "trajectories"), "trajectories", \
            f"{len(runs)} trajectories given as a parameter"
    if source == "trajectories":
        raise ParameterError("source='trajectories' but the trajectories parameter is empty")
    mp = Path(manifest_path)
    runs, note = _manifest_runs(mp, fit_rule)
    if runs:
        return _tagged(runs, "manifest"), "manifest", f"{len(runs)} finished runs from {mp}"
    if source == "manifest":
        raise DataUnavailableError(f"{mp}: no manifest with finished runs that the fit rule "
                                   f"can use ({note}); run the MD notebook first, or use "
                                   "source='synthetic'")
    raise _nothing_found(mp, note)


def _tagged(runs: list[dict], source: str) -> list[dict]:
    """The runs, each with ``data_source``."""
    return [{**r, DATA_SOURCE_COLUMN: source} for r in runs]


@dataclass(frozen=True)
class RunSelection:
    """The runs of notebook 05: entries, their source and why (see :func:`collect_runs`)."""

    runs: list
    source: str
    note: str

    @property
    def synthetic(self) -> bool:
        return self.source == "synthetic"

    @property
    def message(self) -> str:
        return f"source: {self.source} ({self.note})"

    def data_files(self, manifest_path: str | os.PathLike) -> dict:
        """Provenance of the analysed data (for ``NotebookRun.add_data``): the manifest's
        path -> SHA256, or for synthetic runs their folder -> what they are."""
        if self.source == "manifest":
            return {str(manifest_path): sha256_file(manifest_path)}
        if self.synthetic:
            folder = str(Path(self.runs[0]["trajectory"]).parent) if self.runs else ""
            return {f"synthetic:{folder}": "generated (known D from the study's DeePMD "
                    f"Arrhenius law, Ea {REFERENCE.Ea_eV} eV, D0 {REFERENCE.D0_cm2_s} "
                    "cm^2/s), not MD"}
        return {}

    def overview(self):
        """model, temperature_K, replica, purpose of each run (pandas.DataFrame)."""
        import pandas as pd

        return pd.DataFrame(self.runs, columns=["model", "temperature_K", "replica", "purpose"])


def _fit_rule(P) -> dict:
    return {"n_blocks": P.n_blocks, "min_start_ps": P.fit_min_start_ps,
            "start_fraction": P.fit_start_fraction, "end_fraction": P.fit_end_fraction}


def select_runs(P, *, manifest_path: str | os.PathLike,
                synthetic_dir: str | os.PathLike) -> RunSelection:
    """Notebook 05's runs from its parameters ``P`` (``source``, ``trajectories``,
    ``synthetic_*``, the fit rule); synthetic runs follow :data:`REFERENCE`."""
    settings = {"temperatures_K": P.synthetic_temperatures_K, "Ea_eV": REFERENCE.Ea_eV,
                "D0_cm2_s": REFERENCE.D0_cm2_s, "n_replicas": P.synthetic_replicas,
                "duration_ps": P.synthetic_duration_ps,
                "frame_interval_ps": P.synthetic_frame_interval_ps,
                "n_cells": P.synthetic_n_cells, "seed": P.seed, "model": SYNTHETIC_MODEL}
    runs, used, note = collect_runs(P.source, manifest_path=manifest_path,
                                    trajectories=P.trajectories, synthetic_dir=synthetic_dir,
                                    synthetic_settings=settings,
                                    fit_rule={**_fit_rule(P), "frame_stride": P.frame_stride})
    return RunSelection(runs=runs, source=used, note=note)


# --------------------------------------------------------------------------------------
# Per-run analysis
# --------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class RunAnalyses:
    """Per-run diffusion (and hop) analysis of many trajectories.

    Attributes
    ----------
    table : pandas.DataFrame, one row per analysed run (model, temperature_K, replica,
        purpose, every D of :meth:`DiffusionResult.as_row`, hop counts, event D and the
        fitted lattice constant ``lattice_constant_A``)
    results : row index -> DiffusionResult
    hops : row index -> HopAnalysis (runs where hop detection ran)
    skipped : [(run, reason)] runs that could not be analysed
    """

    table: object
    results: dict
    hops: dict
    skipped: list


def _hop_row(traj, species: str, frame_stride: int, hop_settings: dict):
    """(HopAnalysis or None, columns for the run's row) of the loaded trajectory."""
    try:
        h = detect_hops(traj, species=species, frame_stride=frame_stride,
                        **hop_settings)
    except ValueError as exc:
        return None, {"hop_error": str(exc)}
    row = {f"n_{kind}": n for kind, n in h.counts.items()}
    row.update({"D_event_sum_cm2_s": h.D_event_sum_cm2_s,
                "D_event_defect_cm2_s": h.D_event_defect_cm2_s,
                "mean_n_interstitial": float(np.mean(h.n_interstitial)),
                "lattice_constant_A": h.sites.a_A})
    return h, row


def analyse_runs(runs: Sequence[dict], *, convention: str = "defect",
                 fit_window_ps: tuple[float, float] | None = None, n_blocks: int = 5,
                 min_start_ps: float = 1.0, start_fraction: float = 0.1,
                 end_fraction: float = 0.5, frame_stride: int = 1, species: str = "Li",
                 hop_settings: dict | None = None) -> RunAnalyses:
    """:func:`diffusion_coefficient` (and optionally hop detection) for every run.

    Parameters
    ----------
    runs : manifest-like entries (``model``, ``temperature_K``, ``replica``,
        ``trajectory``, ``purpose``)
    convention, fit_window_ps, n_blocks, min_start_ps, start_fraction, end_fraction,
    frame_stride, species : passed to :func:`diffusion_coefficient`
    hop_settings : keyword arguments of :func:`lidiff_helpers.analysis.hops.detect_hops`,
        or None to skip hop detection

    Wrapped trajectories raise :class:`WrappedTrajectoryError`; runs too short for the
    fit window (or otherwise unreadable) are listed in ``skipped`` with the reason.
    """
    import pandas as pd

    rows, results, hop_res, skipped = [], {}, {}, []
    for run in runs:
        try:
            traj = run_trajectory(run)  # read once: a LAMMPS dump is parsed in full
            res = diffusion_coefficient(traj, species=species,
                                        convention=convention, fit_window_ps=fit_window_ps,
                                        n_blocks=n_blocks, min_start_ps=min_start_ps,
                                        start_fraction=start_fraction,
                                        end_fraction=end_fraction, frame_stride=frame_stride)
        except WrappedTrajectoryError:
            raise
        except (ValueError, FileNotFoundError) as exc:
            skipped.append((dict(run), str(exc)))
            continue
        row = {**({DATA_SOURCE_COLUMN: run[DATA_SOURCE_COLUMN]}
                  if DATA_SOURCE_COLUMN in run else {}),
               "model": str(run["model"]), "temperature_K": float(run["temperature_K"]),
               "replica": int(run.get("replica", 0)), "purpose": run.get("purpose", ""),
               **res.as_row(), "trajectory": str(run["trajectory"]),
               "md_timestep_fs": run.get("md_timestep_fs")}
        k = len(rows)
        if hop_settings is not None:
            h, cols = _hop_row(traj, species, frame_stride, hop_settings)
            row.update(cols)
            if h is not None:
                hop_res[k] = h
        if "D_defect_true_cm2_s" in res.info:
            row["D_defect_true_cm2_s"] = float(res.info["D_defect_true_cm2_s"])
        rows.append(row)
        results[k] = res
    return RunAnalyses(table=pd.DataFrame(rows), results=results, hops=hop_res, skipped=skipped)


def analyse(P, runs: Sequence[dict]) -> RunAnalyses:
    """:func:`analyse_runs` with notebook 05's parameters ``P`` (fit rule, hop settings)."""
    rule = _fit_rule(P)
    return analyse_runs(runs, convention=P.convention, fit_window_ps=P.fit_window_ps,
                        n_blocks=rule["n_blocks"], min_start_ps=rule["min_start_ps"],
                        start_fraction=rule["start_fraction"],
                        end_fraction=rule["end_fraction"], frame_stride=P.frame_stride,
                        species=P.species,
                        hop_settings={"r_core_A": P.hop_r_core_A,
                                      "min_residence_ps": P.hop_min_residence_ps,
                                      "pair_window_ps": P.hop_pair_window_ps})


# --------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------

def replica_table(table, *, D_col: str = "D_cm2_s", err_col: str = "D_err_cm2_s",
                  by: Sequence[str] = ("model", "temperature_K")):
    """Average replicas per (model, temperature) with :func:`combine_replicas`.

    Returns
    -------
    pandas.DataFrame
        ``by`` columns, ``D_cm2_s``, ``D_err_cm2_s``, ``n_replicas``, ``D_replicas_cm2_s``
        (first ``data_source`` when the per-run table has it).
    """
    import pandas as pd

    rows = []
    for key, g in table.groupby(list(by), sort=True):
        avg = combine_replicas(g[D_col].to_numpy(), g[err_col].to_numpy())
        rows.append({**dict(zip(by, key)), "D_cm2_s": avg.D_cm2_s,
                     "D_err_cm2_s": avg.D_err_cm2_s, "n_replicas": avg.n_replicas,
                     "D_replicas_cm2_s": " ".join(f"{d:.3g}" for d in avg.D_replicas_cm2_s)})
    out = pd.DataFrame(rows, columns=[*by, "D_cm2_s", "D_err_cm2_s", "n_replicas",
                                      "D_replicas_cm2_s"])
    return with_data_source(out, data_source_of(table)) if DATA_SOURCE_COLUMN in table else out


def data_source_of(table) -> str:
    """The ``data_source`` of a per-run table (``+``-joined if mixed; ``""`` if none)."""
    if DATA_SOURCE_COLUMN not in table or not len(table):
        return ""
    return "+".join(sorted(set(map(str, table[DATA_SOURCE_COLUMN]))))


def with_data_source(df, source: str):
    """``df`` with a first column ``data_source`` = ``source`` (every row)."""
    out = df.drop(columns=[DATA_SOURCE_COLUMN], errors="ignore")
    out.insert(0, DATA_SOURCE_COLUMN, source)
    return out


def _event_interval_ps(sum_sq_jump_A2: float, D_defect_cm2_s: float) -> float:
    """Time between events implied by a defect D: sum_sq_jump / (6 D), ps."""
    if D_defect_cm2_s <= 0:
        return float("inf")
    return sum_sq_jump_A2 / (2 * DIMENSIONS * D_defect_cm2_s / CM2_S_PER_A2_PS)


def _model_rows(g, model: str, T: float, reference_D_cm2_s: float,
                sum_sq_jump_A2: float) -> list[dict]:
    n_li = float(g["n_atoms"].mean())
    a = g["lattice_constant_A"].mean() if "lattice_constant_A" in g else float("nan")
    sq = knockoff_sum_sq_jump_A2(float(a)) if np.isfinite(a) else sum_sq_jump_A2
    rows = []
    for conv in CONVENTIONS:
        D = float(g[f"D_{conv}_cm2_s"].mean())
        D_def = D * n_li if conv == "tracer" else D
        rows.append({"source": f"{model} @ {T:g} K", "convention": conv, "D_cm2_s": D,
                     "ratio_to_reference": D / reference_D_cm2_s,
                     "event_interval_ps": _event_interval_ps(sq, D_def), "n_Li": n_li,
                     "sum_sq_jump_A2": sq})
    return rows


def convention_comparison(table, reference_D_cm2_s: float, *, temperature_K: float,
                          reference_n_Li: int, sum_sq_jump_A2: float | None = None):
    """What each convention implies for the hop rate, next to a published D.

    For each model at ``temperature_K`` (replica means) and for the published value read
    in each convention, the implied time between events
    ``sum_sq_jump_A2 / (6 D_defect)``, where D_defect is the D of the whole defect (a
    published D read as per-atom is multiplied by the number of Li).

    Parameters
    ----------
    table : per-run table of :func:`analyse_runs`
    reference_D_cm2_s : the published D at ``temperature_K`` (the study's DeePMD value)
    temperature_K : K; the closest analysed temperature is used
    reference_n_Li : number of Li in the published cell (the study: 501)
    sum_sq_jump_A2 : sum of squared atom jumps per knock-off in the published cell, A^2
        (default: the study's cell, :data:`~lidiff_helpers.core.units.LIF_A_STUDY_A`).
        The analysed runs use their own fitted lattice constant (the table's
        ``lattice_constant_A``, from hop detection) and this value only without it.

    Returns
    -------
    pandas.DataFrame
        one row per (source, convention): ``D_cm2_s``, ratio to the reference, the
        implied ``event_interval_ps`` and the ``sum_sq_jump_A2`` used.
    """
    import pandas as pd

    sq_ref = knockoff_sum_sq_jump_A2(LIF_A_STUDY_A) if sum_sq_jump_A2 is None \
        else float(sum_sq_jump_A2)
    rows = []
    Ts = np.unique(table["temperature_K"]) if len(table) else np.array([])
    if Ts.size:
        T = float(Ts[np.argmin(np.abs(Ts - temperature_K))])
        for model, g in table[table["temperature_K"] == T].groupby("model"):
            rows += _model_rows(g, str(model), T, reference_D_cm2_s, sq_ref)
        n_li = float(reference_n_Li)
        for conv, D_def in (("defect", reference_D_cm2_s),
                            ("tracer", reference_D_cm2_s * n_li)):
            rows.append({"source": f"study DeePMD {temperature_K:g} K read as '{conv}'",
                         "convention": conv, "D_cm2_s": reference_D_cm2_s,
                         "ratio_to_reference": 1.0,
                         "event_interval_ps": _event_interval_ps(sq_ref, D_def), "n_Li": n_li,
                         "sum_sq_jump_A2": sq_ref})
    return pd.DataFrame(rows)


def conventions_table(analyses: RunAnalyses, temperature_K: float = 450.0):
    """:func:`convention_comparison` against the study's DeePMD D at ``temperature_K``."""
    D_ref = REFERENCE.D_at_cm2_s(temperature_K)
    if D_ref is None:  # not tabulated: the study's Arrhenius law
        D_ref = arrhenius.arrhenius_D_cm2_s(temperature_K, REFERENCE.Ea_eV, REFERENCE.D0_cm2_s)
    conv = convention_comparison(analyses.table, D_ref, temperature_K=temperature_K,
                                 reference_n_Li=reference.STUDY_MD_N_LI)
    return with_data_source(conv, data_source_of(analyses.table))




def resolved_Ea(Ea_eV: float, Ea_err_eV: float) -> str:
    """``0.220 +- 0.015``, or ``not resolved (+- 0.67)`` when the 1-sigma error exceeds
    :data:`EA_RESOLVED_MAX_ERR_EV` (a 1 ps quick fit cannot resolve 0.03 eV)."""
    if Ea_eV is None or not np.isfinite(Ea_eV):
        return "-"
    if Ea_err_eV is None or not np.isfinite(Ea_err_eV) or Ea_err_eV > EA_RESOLVED_MAX_ERR_EV:
        return f"not resolved (+- {Ea_err_eV:.2f})"
    return f"{Ea_eV:.3f} +- {Ea_err_eV:.3f}"


@dataclass(frozen=True, eq=False)
class ArrheniusTables:
    """Replica averages and Arrhenius fits of notebook 05.

    Attributes
    ----------
    by_temperature : replica means of every run (``D_by_temperature``)
    arrhenius_runs : replica means of the ``purpose == "arrhenius"`` runs (fitted)
    fits : model -> :class:`~lidiff_helpers.analysis.arrhenius.ArrheniusFit`
    table3 : the study's Table 3 layout with our fits: D(450 K), D(500 K) as the replica
        mean and spread of the ``arrhenius`` runs at that temperature (as the study), the
        fit's prediction in the separate ``D_<T>K_fit_cm2_s`` columns
    """

    by_temperature: object
    arrhenius_runs: object
    fits: dict
    table3: object


def arrhenius_tables(analyses: RunAnalyses) -> ArrheniusTables:
    """Replica averages, per-model Arrhenius fits and Table 3 (synthetic runs: 'deepmd')."""
    tab = analyses.table
    rep_all = replica_table(tab)
    runs_arr = tab[tab["purpose"] == "arrhenius"] if len(tab) else tab
    rep_arr = replica_table(runs_arr) if len(tab) else rep_all
    import pandas as pd

    fits = arrhenius.fit_by_model(rep_arr)
    t3 = arrhenius.table3(fits, aliases={SYNTHETIC_MODEL: reference.TABLE3_REFERENCE_MODEL},
                          replicas=runs_arr)
    if len(t3):
        t3.insert(1, "Ea", [resolved_Ea(e, s) for e, s in zip(t3["Ea_eV"], t3["Ea_err_eV"])])
        # a model with runs but no fit gets a row saying why, after the fitted ones
        why = arrhenius.unfitted(rep_arr) if len(rep_arr) else {}
        if why:
            n_fit = len(fits)
            t3 = pd.concat([t3.iloc[:n_fit], pd.DataFrame([{"model": m, "Ea": w}
                                                           for m, w in why.items()]),
                            t3.iloc[n_fit:]], ignore_index=True)
    return ArrheniusTables(by_temperature=rep_all, arrhenius_runs=rep_arr, fits=fits,
                           table3=with_data_source(t3, data_source_of(tab)))


def kinisi_check(analyses: RunAnalyses, P):
    """lidiff's D beside kinisi's estimate and the event-based D, one row per run
    (:func:`lidiff_helpers.analysis.kinisi_check.kinisi_table`); empty when the profile's
    ``kinisi_check`` is off."""
    import pandas as pd

    from lidiff_helpers.analysis.kinisi_check import kinisi_table

    if not P.kinisi_check or not analyses.results:
        return pd.DataFrame()
    ks = sorted(analyses.results)
    rows = analyses.table.loc[ks]
    tab = kinisi_table([analyses.results[k] for k in ks],
                       [run_trajectory(r) for r in rows.to_dict("records")],
                       hops=[analyses.hops.get(k) for k in ks], seed=P.seed or 0)
    for i, col in enumerate(("model", "temperature_K")):
        if col not in tab:
            tab.insert(i, col, rows[col].to_numpy())
    return with_data_source(tab.drop(columns=["trajectory"], errors="ignore"),
                            data_source_of(analyses.table))


def hop_table(analyses: RunAnalyses):
    """Hop counts, interstitials and event-based D next to the MSD D, one row per run."""
    tab = analyses.table
    return tab[[c for c in HOP_COLUMNS if c in tab]]


# --------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------

def summary(selection: RunSelection, analyses: RunAnalyses, tables: ArrheniusTables, P,
            temperatures_K: Sequence[float] = (450.0, 500.0), kinisi=None) -> dict:
    """Notebook 05's summary: data source, run counts, hop counts, Haven ratio, fits.

    Per model: the fit (``Ea_eV``, ``Ea_err_eV``, ``D0_cm2_s``), ``D_<T>K_cm2_s`` the
    replica mean at T as in the study's Table 3 (left out where no run has that
    temperature) and ``D_<T>K_fit_cm2_s`` the fit's prediction. For synthetic runs also
    ``D_defect_max_rel_dev_from_true``: the largest relative deviation of a run's measured
    D_defect from the D it was generated with.
    """
    tab = analyses.table
    out = {"source": selection.source, "synthetic": selection.synthetic,
           "convention": P.convention, "n_runs": len(tab), "n_skipped": len(analyses.skipped),
           "n_knockoff": int(tab["n_knockoff"].sum()) if "n_knockoff" in tab else 0,
           "haven_ratio_mean": float(tab["haven_ratio"].mean()) if len(tab) else float("nan")}
    if "D_defect_true_cm2_s" in tab:
        dev = (tab["D_defect_cm2_s"] / tab["D_defect_true_cm2_s"] - 1).abs()
        out["D_defect_max_rel_dev_from_true"] = float(dev.max())
    if kinisi is not None and len(kinisi) and "agree" in kinisi:
        out.update(kinisi_runs=len(kinisi), kinisi_agree=int(kinisi["agree"].sum()))
    t3 = tables.table3.set_index("model") if len(tables.table3) else None
    for model, fit in tables.fits.items():
        out[f"{model}: Ea_eV"] = fit.Ea_eV
        out[f"{model}: Ea_err_eV"] = fit.Ea_err_eV
        out[f"{model}: D0_cm2_s"] = fit.D0_cm2_s
        for T_K in temperatures_K:
            col = f"D_{T_K:g}K_cm2_s"
            if t3 is not None and col in t3 and np.isfinite(t3.loc[model, col]):
                out[f"{model}: {col}"] = float(t3.loc[model, col])
            out[f"{model}: D_{T_K:g}K_fit_cm2_s"] = fit.predict(T_K).D_cm2_s
    return out
