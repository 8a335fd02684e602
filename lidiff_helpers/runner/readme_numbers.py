"""The measured numbers of README.md and the documentation pages (``docs/*.md``),
rendered from the result files that committed commands write, so that they can be
regenerated and checked.

README.md and ``docs/*.md`` hold blocks between ``<!-- generated:NAME -->`` and
``<!-- /generated:NAME -->``; each block lives in exactly one of those files and is
rendered here from one or more result files:

* ``findings``: the README's "What it finds" table, from
  ``data/models/reference/*.metrics.json`` (``make reference-models``),
  ``benchmarks/RESULTS_barriers.json`` and, when computed, ``data/dft/path_referee.json``;

* ``embedded-model``: v1's ``data/models/lidiff-embedded.metrics.json``, written by
  ``python -m lidiff_helpers.embedded`` (``--measure-only``, ``--stability-only``);
* ``embedded-model-v2``: ``data/models/lidiff-embedded-v2.metrics.json``, written by
  ``python -m lidiff_helpers.workflows.embedded_v2_metrics``;
* ``benchmarks``: ``benchmarks/RESULTS_{msd,md,finetune,notebooks,notebooks_quick}.json``, written by
  ``make benchmarks``;
* ``barriers``: ``benchmarks/RESULTS_barriers.json``, written by
  ``benchmarks/bench_barriers.py`` (part of ``make benchmarks``);
* ``reference-models``: ``data/models/reference/*.metrics.json``, written by
  ``make reference-models``;
* ``learning-curve``: ``data/models/reference/learning_curve.json`` (until computed for
  the committed set, the first set's, ``data/models/reference-v1/``), written by
  ``make reference-models``;
* ``foundation-contrast``: the metrics files of both sets, ``data/models/reference-v1/``
  (from ``embedded-v1``) and ``data/models/reference/`` (from v2);
* ``md-engines``: ``benchmarks/RESULTS_md_batched[_gpu].json``, written by
  ``benchmarks/bench_md_batched.py`` (part of ``make benchmarks``).

* ``dft-reference``: ``data/dft/*.json``, written by
  ``python -m lidiff_helpers.workflows.dft_reference``.
* ``al-selection`` (docs) and ``al-selection-findings`` (README):
  ``data/al/selection_comparison.json``, written by
  ``python -m lidiff_helpers.runner.al_comparison``.

``python -m lidiff_helpers.runner.readme_numbers`` rewrites the blocks;
``--check`` exits with status 1 (and says which block in which file) when a block differs
from what the files give, is missing or appears twice. A test runs the check, so a number
edited by hand, or a result file regenerated without updating the page, fails the suite.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from lidiff_helpers.core import paths
from lidiff_helpers.core.paths import read_result  # re-exported

__all__ = ["BLOCKS", "files", "read_result", "locate", "render", "render_all", "update",
           "check", "main"]

README = paths.ROOT / "README.md"
#: the documentation pages, which may hold generated blocks too
DOCS = paths.ROOT / "docs"
BENCH = paths.BENCHMARKS


def _embedded_model() -> str:
    from lidiff_helpers.training import embedded

    return embedded.metrics_table(embedded.EMBEDDED_METRICS).to_markdown(index=False)


def _embedded_model_v2() -> str:
    from lidiff_helpers.training import embedded_v2

    if not embedded_v2.METRICS.is_file():
        return ("Not measured yet: `python -m lidiff_helpers.workflows.embedded_v2_metrics` "
                f"writes `{embedded_v2.METRICS.relative_to(paths.ROOT)}`.")
    return embedded_v2.metrics_table().to_markdown(index=False, disable_numparse=True)


def _msd(d: dict) -> str:
    r = {row["method"]: row for row in d["rows"]}
    mda = r.get("mdanalysis", {})
    return (f"- **MSD / D** (`{d['command'].strip()}`, {d['n_atoms']} atoms x {d['n_frames']} "
            f"frames, float32, {d['date']}, load average {d['load_before']:.1f}): "
            f"`diffusion.msd` {r['msd']['wall_s']:.1f} s, the full `diffusion_coefficient` "
            f"{r['D']['wall_s']:.1f} s, peak RSS {r['msd']['rss_x']:.2f}x / "
            f"{r['D']['rss_x']:.2f}x the trajectory; MDAnalysis `EinsteinMSD(fft=True)` "
            + (f"{mda['wall_s']:.1f} s and {mda['rss_x']:.2f}x." if "wall_s" in mda
               else f"not measured ({mda.get('error', 'missing')}).") )


def _md(d: dict) -> str:
    rows = ", ".join(f"{x['atoms']} atoms {x['runner_ms']:.0f} ms/step ({x['ps_day']:.0f} "
                     f"ps/day, runner overhead {100 * x['over_wall']:+.1f} %)"
                     for x in d["rows"])
    one = (f"; 217 atoms on 1 thread {d['one_thread_ms']:.0f} ms/step"
           if d.get("one_thread_ms") else "")
    from lidiff_helpers.simulation.models import committed_spec

    name = committed_spec(d.get("sha256")) or d["model"]   # the name that stays true
    return (f"- **MD throughput** (`{d['command'].strip()}`, model `{name}` "
            f"{d['sha256'][:12]}, float32, {d['threads']} threads, {d['date']}, load average "
            f"{d['load_before']:.1f}): {rows}{one}.")


def _finetune(d: dict) -> str:
    from lidiff_helpers.core.errors import StaleResultError
    from lidiff_helpers.training.finetune_benchmark import check_benchmark_model

    try:
        check_benchmark_model(d, "benchmarks/RESULTS_finetune.json")
    except StaleResultError as exc:
        return f"- **Fine-tuning strategies**: stale, not shown ({exc})."
    from lidiff_helpers.simulation.models import committed_spec

    rows = ", ".join(f"{r['run'].split('-')[0]} {r['interstitial_F_rmse_meV_A']:.1f}"
                     for r in d["rows"])
    st, f = d["settings"], d["foundation"]
    name = committed_spec(f.get("sha256")) or f["name"]   # the name that stays true (embedded-v1)
    return (f"- **Fine-tuning strategies** (`{d['command'].strip()}`, foundation `{name}` "
            f"{str(f['sha256'])[:12]}): {st['n_bulk']} bulk + {st['n_interstitial']} "
            f"interstitial frames, {st['epochs']} epochs per arm; held-out interstitial force "
            f"RMSE {rows} meV/A (zero-shot "
            f"{d['foundation_zero_shot']['interstitial_F_rmse_meV_A']:.1f}); "
            f"{d['train_cpu_s_total'] / 60:.1f} CPU-min of training.")


def _notebooks(d: dict) -> str:
    times = ", ".join(f"{k.split('_')[0]} {v:.0f} s" for k, v in d["wall_time_s"].items())
    profile = d.get("profile", "ci")
    total = (f"; whole run {d['total_wall_time_s'] / 60:.1f} min, budget {d['budget']}"
             if "total_wall_time_s" in d else "")
    git = (d.get("provenance") or {}).get("git") or {}
    at = (f", commit {str(git['commit'])[:7]}{' + uncommitted changes' if git.get('dirty') else ''}"
          if git.get("commit") else "")
    return (f"- **{profile} notebooks** (`{d['command'].strip()}`{at}, {d['date']}, load average "
            f"{d['load_before']:.1f}): {times}; slowest {max(d['wall_time_s'].values()):.0f} s"
            f"{total}.")


def _force_calls(d: dict) -> str:
    from lidiff_helpers.simulation.models import committed_spec

    calls = "; ".join(f"{committed_spec(r.get('sha256')) or r['model']} {r['n_atoms']} atoms "
                      f"{r['median_s']:.2f} s" for r in d["rows"])
    return (f"- **force calls** (`{d['command'].strip()}`, {d['date']}, {d['threads']} "
            f"threads, commit {str(d.get('commit'))[:7]}; median of "
            f"{d['rows'][0]['repeats']} calls, energy + forces + stress, float64 inputs): "
            f"{calls}.")


_BENCHMARKS: dict[str, Callable[[dict], str]] = {
    "RESULTS_msd.json": _msd, "RESULTS_md.json": _md, "RESULTS_finetune.json": _finetune,
    "RESULTS_force_calls.json": _force_calls,
    "RESULTS_notebooks.json": _notebooks, "RESULTS_notebooks_quick.json": _notebooks}


def _benchmarks() -> str:
    lines = []
    for name, fn in _BENCHMARKS.items():
        d = read_result(BENCH / name)
        lines.append(fn(d) if d else f"- `benchmarks/{name}`: not measured yet "
                                     "(`make benchmarks`).")
    return "\n".join(lines)


def _barriers() -> str:
    d = read_result(BENCH / "RESULTS_barriers.json")
    if not d or not d.get("rows"):
        return ("Not measured yet: `python benchmarks/bench_barriers.py` writes "
                "`benchmarks/RESULTS_barriers.json`.")
    from lidiff_helpers.core import reference
    from lidiff_helpers.simulation.models import committed_spec

    def name(r: dict) -> str:   # the committed spec, which stays true (embedded-v1)
        return committed_spec(r["sha256"]) or r["model"]

    dft = reference.BARRIERS
    cmds = "`, `".join(c.strip() for c in d.get("commands", []))
    lines = [f"`{cmds}` ({d['threads']} threads, "
             f"{d['settings']['n_images']} images, fmax {d['settings']['fmax_eV_A']} eV/A; "
             f"65 atoms). DFT: {dft['dft-cineb-zheng'].Ea_eV} eV (Zheng et al., CI-NEB) and "
             f"{dft['dft-neb-yildirim'].Ea_eV} eV (Yildirim et al., NEB).", "",
             "| model | lattice | a (A) | mechanism | barrier (eV) | converged | NEB wall (s) "
             "| measured (commit) |", "|---|---|---|---|---|---|---|---|"]
    for r in d["rows"]:
        when = (f"{r['date']} ({str(r.get('commit'))[:7]})" if r.get("date")
                else f"{d['date']} or earlier")
        lines.append(f"| {name(r)} ({str(r['sha256'])[:8]}) | {r['lattice']} | "
                     f"{r['a_A']:.3f} | {r['mechanism']} | {r['barrier_eV']:.3f} | "
                     f"{r['converged']} | {r['wall_s']:.0f} | {when} |")
    for r in d["rows"]:
        h = r.get("htst")
        if h and "prefactor_THz" in h:
            lines.append(f"\nHarmonic TST of {name(r)}'s collinear knock-off (study "
                         f"lattice, {h['hessian_atoms']} atoms in the Hessian): Vineyard "
                         f"prefactor {h['prefactor_THz']:.2f} THz, imaginary mode "
                         f"{h['imaginary_THz']:.2f} THz.")
    return "\n".join(lines)


def _reference_models() -> str:
    from lidiff_helpers.workflows import reference_metrics as rm

    t = rm.table()
    if t.empty:
        return ("Not trained yet: `make reference-models` writes "
                "`data/models/reference/<arm>.{model,recipe.json,train_log.json,metrics.json}`.")
    def cell(v, fmt=".4g"):
        if v is None or (isinstance(v, float) and v != v):
            return ""
        return format(v, fmt) if isinstance(v, float) else str(v)

    t = t.drop(columns=["strategy"])
    for col in t.columns:   # lr and EMA decay as set (an EMA of 0.99999 is not 1)
        t[col] = [cell(v, "g" if col in ("lr", "EMA") else ".4g") for v in t[col]]
    return t.to_markdown(index=False)


def _learning_curve() -> str:
    """``learning-curve``: ``data/models/reference/learning_curve.json`` with its reading at
    equal CPU (:func:`~lidiff_helpers.workflows.reference_metrics.learning_curve_reading`);
    when that is the committed set's own, the first set's curve (from ``embedded-v1``)
    follows it, for the soft-vs-good foundation contrast."""
    from lidiff_helpers.training import reference_models as ref
    from lidiff_helpers.workflows import reference_metrics as rm

    lc, source = rm.committed_learning_curve()
    if lc.empty:
        return ("Not computed yet: `make reference-models` trains the runs and "
                "`python -m lidiff_helpers.workflows.reference_metrics --learning-curve` "
                "writes `data/models/reference/learning_curve.json`.")
    own = source == ref.REFERENCE_DIR
    first = ("" if own else
             f"From the first set's foundation, {ref.foundation_label(source)} "
             f"(`{_rel(source)}/learning_curve.json`): the runs from "
             f"{ref.foundation_label()} are not trained yet. ")
    out = [first + "Held-out interstitial force RMSE (meV/A) against the number of "
           "fine-tuning frames (10 bulk + 0, 20, 100, 200 interstitial), with the training "
           "CPU time; " + rm.budget_note(lc) + ".", "", _curve_and_reading(lc, source)]
    v1 = ref.V1_DIR / rm.LEARNING_CURVE_FILE.name
    if own and v1.is_file():
        out += ["", f"The same runs from the first set's foundation, "
                f"{ref.foundation_label(ref.V1_DIR)} (`{_rel(v1)}`):", "",
                _curve_and_reading(rm.load_learning_curve(v1), ref.V1_DIR)]
    return "\n".join(out)


def _curve_and_reading(lc, folder: Path) -> str:
    """A learning curve's table and its reading against its own foundation's error."""
    from lidiff_helpers.workflows import reference_metrics as rm

    f = (read_result(rm.metrics_path(rm.FOUNDATION, folder)) or {}).get(
        "interstitial_F_rmse_meV_A")
    return (rm.learning_curve_table(lc).to_markdown(index=False) + "\n\n"
            + rm.learning_curve_reading(lc, f)).rstrip()


def _md_engines() -> str:
    """``md-engines``: ``benchmarks/RESULTS_md_batched.json`` (CPU) and, when measured,
    ``RESULTS_md_batched_gpu.json``."""
    out = []
    for name, where in (("RESULTS_md_batched.json", "CPU"),
                        ("RESULTS_md_batched_gpu.json", "GPU")):
        d = read_result(BENCH / name)
        if not d:
            out.append(f"- {where}: not measured (`benchmarks/{name}` absent"
                       + ("; no GPU was available to this project's sessions)." if where == "GPU"
                          else "; `python benchmarks/bench_md_batched.py`)."))
            continue
        out += [f"{where}: `{d['command'].strip()}` ({d['date']}, {d['device_name']}, model "
                f"{d['model']['name']} {str(d['model']['sha256'])[:8]}, {d['dtype']}, "
                f"load average {d['load_before']:.1f} before).", "",
                "| atoms | replicas | ASE runner (atom-steps/s) | batched (atom-steps/s) | "
                "batched / ASE |", "|---|---|---|---|---|"]
        rows = {(r["engine"], r["n_atoms"], r["n_replicas"]): r for r in d["rows"]}
        for (eng, n, k), r in rows.items():
            if eng != "batched":
                continue
            a = rows[("ase", n, k)]
            out.append(f"| {n} | {k} | {a['atom_steps_per_s']:.0f} | "
                       f"{r['atom_steps_per_s']:.0f} | {r['speedup_vs_ase']:.2f} |")
        out.append("")
    return "\n".join(out)


def _dft_reference() -> str:
    from lidiff_helpers.simulation.models import committed_spec
    from lidiff_helpers.workflows import dft_neb
    from lidiff_helpers.workflows import dft_reference as dr

    out = []
    e0 = read_result(dr.E0_FILE)
    if e0:
        out += [f"Isolated atoms (`{e0['command']}`, {e0['date']}, pw.x {e0['pw_version']}, "
                f"{e0['settings']['ecutwfc']:g} / {e0['settings']['ecutrho']:g} Ry, Gamma, "
                f"Gaussian {e0['settings']['degauss']} Ry) against the study's E0s:", "",
                "| element | box (A) | spin | E (eV) | study E0 (eV) | difference (meV) | wall (s) |",
                "|---|---|---|---|---|---|---|"]
        out += [f"| {r['element']} | {r['box_A']:g} | {r['spin']} | {r['E_eV']:.4f} | "
                f"{r['study_E0_eV']:.4f} | {r['difference_meV']:+.1f} | {r['wall_s']:.0f} |"
                for r in e0["rows"]]
    else:
        out.append("Isolated atoms: not measured yet (`python -m "
                   "lidiff_helpers.workflows.dft_reference e0`).")
    for path, what in ((dr.LABELS_FILE, "Held-out study frames"),
                       (dr.PATH_FILE, "Knock-off paths refereed")):
        d = read_result(path)
        if not d:
            out += ["", f"{what}: not computed yet (`{dr.command_for(path)}`)."]
            continue
        out += ["", f"{what} (`{d['command']}`, {d['date']}):", ""]
        for r in d["rows"]:
            if r["status"] != "done":
                out.append(f"- {r.get('kind') or r.get('model')}: in progress "
                           f"({(r.get('progress') or {}).get('scf_iterations', '?')} SCF "
                           "iterations so far)")
            elif "F_rmse_meV_A" in r:
                out.append(f"- {r['kind']} frame {r['hash']} ({r['n_atoms']} atoms): force RMSE "
                           f"{r['F_rmse_meV_A']:.2f} meV/A (max {r['F_max_error_meV_A']:.1f}), "
                           f"stress {r['S_max_GPa']:.3f} GPa, energy "
                           f"{r['E_meV_atom']:+.3f} meV/atom")
            else:
                name = committed_spec(r.get("model_sha256")) or r["model"]
                out.append(f"- {name}: its barrier {r['model_barrier_eV']:.3f} eV; DFT "
                           f"along its path {r['dft_barrier_along_path_eV']:.3f} eV; force "
                           f"error at its saddle {r['saddle_F_rmse_meV_A']:.0f} meV/A RMSE")
    n = read_result(dft_neb.NEB_FILE)
    if not n:
        out += ["", "DFT climbing-image NEB: not computed yet "
                f"(`{dr.command_for(dft_neb.NEB_FILE)}`)."]
    elif n["status"] != "done":
        out += ["", f"DFT climbing-image NEB (`{n['command']}`, {n['date']}): in progress, "
                f"starting from {n['start_band']}'s band at {n['cutoffs_Ry'][0]:g} / "
                f"{n['cutoffs_Ry'][1]:g} Ry; pw.x CPU so far {n['pw_cpu_s'] / 3600:.1f} h."]
    else:
        full = (f"; at the study's 110 / 440 Ry on that path **{n['barrier_study_cutoffs_eV']:.3f}"
                " eV**" if "barrier_study_cutoffs_eV" in n else "")
        out += ["", f"DFT climbing-image NEB (`{n['command']}`, {n['date']}): collinear "
                f"knock-off barrier **{n['barrier_eV']:.3f} eV** at {n['cutoffs_Ry'][0]:g} / "
                f"{n['cutoffs_Ry'][1]:g} Ry{full} ({n.get('n_images', '?')} interior "
                f"image(s), converged: {n['converged']}, climbing-image force "
                f"{n['climbing_fmax_eV_A']:.3f} eV/A; final state "
                f"{n.get('final_state', 'relaxed in DFT')}), from {n['start_band']}'s band "
                f"({n['start_barrier_eV']:.3f} eV); pw.x CPU {n['pw_cpu_s'] / 3600:.1f} h"
                + (f" for the search, {n['pw_cpu_s_study_cutoffs'] / 3600:.1f} h at 110 / "
                   "440 Ry" if "pw_cpu_s_study_cutoffs" in n else "") + "."]
    return "\n".join(out)


def _findings() -> str:
    from lidiff_helpers.runner.readme_findings import findings

    return findings()


def _al_selection() -> str:
    from lidiff_helpers.workflows import al_comparison

    return al_comparison.block()


def _al_selection_findings() -> str:
    from lidiff_helpers.workflows import al_comparison

    return al_comparison.findings()


def _foundation_contrast() -> str:
    """``foundation-contrast``: fine-tuning the soft foundation (``embedded-v1``, the first
    set) against the good one (v2, the committed set): does each arm keep its foundation's
    barrier (``reference_metrics.foundation_contrast``)."""
    from lidiff_helpers.training import reference_models as ref
    from lidiff_helpers.workflows import dft_neb
    from lidiff_helpers.workflows import reference_metrics as rm
    from lidiff_helpers.workflows.dft_common import command_for

    t = rm.contrast()
    if t.empty:
        return ("Needs both sets measured: `python -m lidiff_helpers.workflows."
                f"reference_metrics --folder {_rel(ref.V1_DIR)}` and the committed one.")
    t = t.rename(columns={"interstitial_F_rmse_meV_A": "held-out interstitial F RMSE (meV/A)",
                          "knockoff_barrier_eV": "knock-off barrier (eV)",
                          "barrier_change_eV": "change from its foundation (eV)",
                          "barrier": f"barrier (kept within {rm.BARRIER_KEPT_EV:g} eV)"})
    own = dft_neb.study_level_barrier()
    saddle = ref.REFERENCE_DIR / f"{ref.SADDLE_ARM.name}.recipe.json"
    n_dft = (read_result(saddle)["data"].get("extra_train") or {}).get("n") \
        if saddle.is_file() else None
    tail = ([f"DFT at the study's level of theory: {own['barrier_eV']:.3f} eV "
             f"(`{command_for(dft_neb.NEB_FILE)}`)"] if own else []) + \
        ([f"{ref.SADDLE_ARM.name} trained on {n_dft} DFT-labelled path frames besides the "
          f"{ref.N_BULK + ref.N_INTERSTITIAL} study frames"] if n_dft else [])
    return (f"The same recipe from each foundation (`{_rel(ref.V1_DIR)}/`, "
            f"`{_rel(ref.REFERENCE_DIR)}/`):\n\n"
            + t.to_markdown(index=False, floatfmt=("", "", ".1f", ".3f", "+.3f", ""))
            + ("\n\n" + "; ".join(tail) + "." if tail else ""))


#: block name -> renderer
BLOCKS: dict[str, Callable[[], str]] = {"findings": _findings,
                                        "embedded-model": _embedded_model,
                                        "embedded-model-v2": _embedded_model_v2,
                                        "benchmarks": _benchmarks, "barriers": _barriers,
                                        "reference-models": _reference_models,
                                        "foundation-contrast": _foundation_contrast,
                                        "learning-curve": _learning_curve,
                                        "md-engines": _md_engines,
                                        "dft-reference": _dft_reference,
                                        "al-selection": _al_selection,
                                        "al-selection-findings": _al_selection_findings}


def _pattern(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- generated:{re.escape(name)} -->\n)(.*?)(<!-- /generated:"
                      rf"{re.escape(name)} -->)", re.S)


def files() -> list[Path]:
    """README.md and the documentation pages (``docs/*.md``): where blocks may live."""
    return [README, *sorted(DOCS.glob("*.md"))]


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(paths.ROOT))
    except ValueError:
        return str(path)


def locate(where: Sequence[Path] | None = None) -> dict[str, Path]:
    """Block name -> the one file of ``where`` (default :func:`files`) that holds it.

    Raises ValueError naming the block and the files when a block is in none of them, in
    several, or twice in one."""
    where = files() if where is None else list(where)
    texts = {p: p.read_text() for p in where}
    out = {}
    for name in BLOCKS:
        hits = [p for p, t in texts.items() for _ in _pattern(name).finditer(t)]
        if len(hits) != 1:
            raise ValueError(
                f"block '{name}' must appear exactly once in README.md or docs/*.md "
                f"(<!-- generated:{name} --> ... <!-- /generated:{name} -->); found "
                + (f"{len(hits)} times: {', '.join(_rel(p) for p in hits)}" if hits
                   else "in none of " + ", ".join(_rel(p) for p in where)))
        out[name] = hits[0]
    return out


def render(name: str) -> str:
    return BLOCKS[name]().rstrip() + "\n"


def render_all(text: str, names: Sequence[str] | None = None) -> str:
    """``text`` with the generated blocks ``names`` (default: all) re-rendered; each must
    appear in it exactly once."""
    for name in BLOCKS if names is None else names:
        pat = _pattern(name)
        if len(pat.findall(text)) != 1:
            raise ValueError(f"block '{name}' must appear exactly once "
                             f"(<!-- generated:{name} --> ... <!-- /generated:{name} -->)")
        body = render(name)
        text = pat.sub(lambda m, body=body: m.group(1) + body + m.group(3), text)
    return text


def _held(path: Path) -> list[str]:
    """The blocks that ``path`` holds."""
    text = path.read_text()
    return [n for n in BLOCKS if _pattern(n).search(text)]


def _targets(path: Path | None) -> dict[Path, list[str]]:
    """File -> its blocks: every block in its one file (``path`` None), or ``path``'s."""
    if path is not None:
        return {Path(path): _held(Path(path))}
    out: dict[Path, list[str]] = {}
    for name, p in locate().items():
        out.setdefault(p, []).append(name)
    return out


def update(path: Path | None = None) -> bool:
    """Rewrite the blocks of README.md and docs/*.md (or only those of ``path``); True
    when something changed."""
    changed = False
    for p, names in _targets(path).items():
        old = p.read_text()
        new = render_all(old, names)
        if new != old:
            p.write_text(new)
            changed = True
    return changed


def check(path: Path | None = None) -> list[str]:
    """Names of the blocks whose text differs from the result files: every block, each in
    its one file of README.md and docs/*.md (ValueError, from :func:`locate`, when one is
    missing or repeated), or the blocks ``path`` holds."""
    return [name for p, names in _targets(path).items() for name in names
            if _pattern(name).search(p.read_text()).group(2) != render(name)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="README.md and docs/*.md numbers from result "
                                             "files")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if a block of README.md or docs/*.md is stale or misplaced")
    a = ap.parse_args(argv)
    try:
        where = locate()
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    if a.check:
        stale = check()
        for name in stale:
            print(f"{_rel(where[name])} block '{name}' differs from its result files: run "
                  "python -m lidiff_helpers.runner.readme_numbers", file=sys.stderr)
        return 1 if stale else 0
    print("README.md and docs/*.md updated" if update() else
          "README.md and docs/*.md already up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
