"""The executed compendium as a static website (``make site``).

    python -m lidiff_helpers.runner.site [--results results/quick] [--out DIR]

Builds, from a results folder of executed notebooks (``make all`` or ``python -m
lidiff_helpers.run``), without re-executing anything:

* ``index.html``: the study's figures and tables (Figures 1-3, S6, S7; Tables 1-3, S1)
  mapped to the notebook output that renders them, each with its image or table, its
  provenance (models with SHA256, study files with SHA256, profile, commit) and the
  "reduced settings" stamp when the profile is not ``paper``;
* ``notebooks/<nb>.html``: each executed notebook, rendered by nbconvert's JupyterLab
  template without the scripts it would fetch from a CDN (lidiff's ``site_templates``), so
  the site works offline (MathJax is left out: formulas show as TeX);
* ``figures/``, ``tables/``: the PNG figures and the tables as HTML, with provenance;
* ``models/<name>.html``: every committed model card (:mod:`lidiff_helpers.training.model_cards`);
* ``figure1.html``: Figure 1's knock-off event as an interactive 3D view (3Dmol.js,
  vendored under ``site_assets`` and served from ``assets/``), when notebook 05 saved the
  event's frames.

nbconvert (a Jupyter project tool already in the environment) is used rather than Jupyter
Book / MyST: it renders the executed ``.ipynb`` files as they are, needs no Node.js
toolchain, and its templates let the CDN scripts be dropped for an offline site.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lidiff_helpers.core import paths

__all__ = ["StudyItem", "STUDY_ITEMS", "build_site", "external_references", "main"]

TEMPLATES = Path(__file__).with_name("site_templates")
#: vendored viewer library (3Dmol.js 2.5.5, BSD-3-Clause; see its README)
ASSETS = Path(__file__).with_name("site_assets")
#: the frames of Figure 1's event, saved by notebook 05 (incoming Li first, knocked-off
#: Li second)
EVENT_FRAMES = "fig1_knockoff_event.xyz"


@dataclass(frozen=True)
class StudyItem:
    """One figure or table of the study and the lidiff outputs that render it."""

    item: str
    what: str
    notebook: str
    figures: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    note: str = ""


STUDY_ITEMS: tuple[StudyItem, ...] = (
    StudyItem("Figure 1", "knock-off (interstitialcy) event of the interstitial Li",
              "05_arrhenius_analysis", ("fig1_knockoff_snapshots",)),
    StudyItem("Figure 2", "Arrhenius plot of D (MACE-MPA-0, fine-tuned, DeePMD reference)",
              "05_arrhenius_analysis", ("fig2_arrhenius", "fig2_arrhenius_with_htst")),
    StudyItem("Figure 3", "D at 400/450 K by fine-tuning data and replay size",
              "05_arrhenius_analysis", ("fig3_D_by_model",)),
    StudyItem("Figure S6", "D of the 200-frame models against the replay size",
              "05_arrhenius_analysis", ("fig3_D_by_model",),
              note="the 210-frame arms of Figure 3 in the paper profile"),
    StudyItem("Figure S7", "MACE-OMAT-0 diffusivities", "05_arrhenius_analysis",
              ("fig2_arrhenius", "fig3_D_by_model"),
              note="mace-omat-0 runs beside the others in the paper profile"),
    StudyItem("Table 1", "fine-tuning grid: data size x replay size, errors",
              "02_finetune_sweeps", ("finetune_learning_curves",),
              ("table1_finetune_grid", "reference_models")),
    StudyItem("Table 2", "active-learning steps and committee disagreement",
              "03_active_learning", ("disagreement_vs_round",),
              ("table2_study_steps", "table2_replay_disagreement", "table2_live_run")),
    StudyItem("Table 3", "activation energies and D(450 K), D(500 K); barriers beside them",
              "05_arrhenius_analysis", ("barrier_profiles", "barrier_softening"),
              ("table3", "barriers_vs_dft_and_md")),
    StudyItem("Table S1", "bulk LiF: lattice constant, elastic constants, phonons, RDF",
              "01_bulk_validation", ("eos", "phonons", "rdf", "parity"), ("table_s1_bulk",)),
)

_EXTERNAL = re.compile(r"""<(script|link|img|iframe)\b[^>]*?\b(?:src|href)\s*=\s*["']"""
                       r"""(https?:)?//[^"']+["']""", re.I)


def external_references(text: str) -> list[str]:
    """Tags of an HTML page that load a script, style, image or frame from another host
    (an offline site must have none)."""
    return [m.group(0) for m in _EXTERNAL.finditer(text)]


def _provenance(path: Path) -> dict:
    p = path.with_name(path.name + ".provenance.json")
    return json.loads(p.read_text()) if p.is_file() else {}


def _provenance_html(rec: dict) -> str:
    if not rec:
        return "<p><em>no provenance record</em></p>"
    models = "".join(f"<li>{html.escape(str(m.get('name')))} "
                     f"<code>{str(m.get('sha256'))[:12]}</code></li>"
                     for m in rec.get("models", []))
    files = "".join(f"<li>{html.escape(k)} <code>{str(v)[:12]}</code></li>"
                    for k, v in (rec.get("data_files") or {}).items())
    git = rec.get("git") or {}
    return (f"<details><summary>provenance</summary><ul>"
            f"<li>profile: {html.escape(str(rec.get('profile')))}, notebook "
            f"{html.escape(str(rec.get('notebook')))}</li>"
            f"<li>commit <code>{html.escape(str(git.get('commit', '?'))[:12])}</code>"
            f"{' (uncommitted changes)' if git.get('dirty') else ''}</li>"
            f"<li>models:<ul>{models or '<li>none</li>'}</ul></li>"
            f"<li>study files:<ul>{files or '<li>none</li>'}</ul></li>"
            f"<li>created {html.escape(str(rec.get('created_utc')))}</li></ul></details>")


def _table_html(csv: Path) -> str:
    import pandas as pd

    return pd.read_csv(csv).to_html(index=False, border=0, classes="lidiff-table",
                                    float_format=lambda x: f"{x:.4g}", na_rep="")


_CSS = """body{font-family:sans-serif;max-width:70em;margin:auto;padding:1em;color:#222}
table.lidiff-table{border-collapse:collapse;font-size:80%;margin:0.5em 0}
table.lidiff-table td,table.lidiff-table th{border:1px solid #ccc;padding:2px 6px}
.stamp{background:#fff3cd;border:1px solid #e0c36b;padding:0.5em;margin:0.5em 0}
.item{border-top:2px solid #ddd;margin-top:1.5em}
img.fig{max-width:100%;border:1px solid #eee}
.missing{color:#a00}"""


def _page(title: str, body: str, home: str = "index.html", head: str = "") -> str:
    """A whole page of the site: its head (no favicon request, the site's style, ``head``),
    a link back to the index at ``home`` (none when empty) and ``body``."""
    back = f"<p><a href='{home}'>lidiff</a></p>" if home else ""
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<link rel='icon' href='data:,'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style>{head}</head><body>{back}{body}</body></html>")


def build_site(results: str | Path, out: str | Path | None = None) -> Path:
    """Build the site of one results folder; returns ``index.html``.

    Raises FileNotFoundError (naming the folder) when it holds no executed notebook."""
    from nbconvert import HTMLExporter

    results = Path(results)
    nbs = sorted((results / "notebooks").glob("*.ipynb"))
    if not nbs:
        raise FileNotFoundError(f"{results / 'notebooks'}: no executed notebook; run make all "
                                "(or python -m lidiff_helpers.run) first")
    out = Path(out) if out else results / "site"
    if out.exists():
        shutil.rmtree(out)
    for sub in ("notebooks", "figures", "tables"):
        (out / sub).mkdir(parents=True)
    exporter = HTMLExporter(template_name="lidiff", extra_template_basedirs=[str(TEMPLATES)])
    for nb in nbs:
        body, _ = exporter.from_filename(str(nb))
        (out / "notebooks" / f"{nb.stem}.html").write_text(body)
    for png in sorted((results / "figures").glob("*.png")):
        shutil.copyfile(png, out / "figures" / png.name)
    tables = {}
    for csv in sorted((results / "tables").glob("*.csv")):
        tables[csv.stem] = csv
        (out / "tables" / f"{csv.stem}.html").write_text(_page(
            csv.stem, f"<h1>{csv.stem}</h1>{_table_html(csv)}"
            f"{_provenance_html(_provenance(csv))}", home="../index.html"))
    viewer = results / "figures" / EVENT_FRAMES
    if viewer.is_file():
        (out / "assets").mkdir()
        for f in ("3Dmol-min.js", "3Dmol-LICENSE.txt"):
            shutil.copyfile(ASSETS / f, out / "assets" / f)
        shutil.copyfile(viewer, out / "figures" / EVENT_FRAMES)
        (out / "figure1.html").write_text(_viewer_page(_provenance(viewer)))
    cards = _model_cards(out)
    index = out / "index.html"
    index.write_text(_index(results, nbs, tables, cards))
    return index


def _model_cards(out: Path) -> list[str]:
    """One page per committed model card (``data/models/**/*.card.yaml``); their names."""
    (out / "models").mkdir(exist_ok=True)
    names = []
    for card in sorted(paths.MODELS.rglob("*.card.yaml")):
        name = card.name[:-len(".card.yaml")]
        if card.parent != paths.MODELS:
            name = f"{card.parent.name}-{name}"
        (out / "models" / f"{name}.html").write_text(_page(
            f"model card {name}", f"<h1>Model card: {name}</h1>"
            f"<p><code>{card.relative_to(paths.ROOT)}</code></p>"
            f"<pre>{html.escape(card.read_text())}</pre>", home="../index.html"))
        names.append(name)
    return names


def _viewer_page(prov: dict) -> str:
    """Figure 1 as an interactive 3D view (3Dmol.js, served from the site): the frames
    around the knock-off, played as an animation; incoming Li red, knocked-off Li blue,
    other Li grey, F green; the static PNG beside it."""
    head = ("<style>#viewer{width:640px;height:480px;position:relative;"
            "border:1px solid #ccc}</style><script src='assets/3Dmol-min.js'></script>")
    return _page("Figure 1: knock-off event (3D)", f"""<h1>Figure 1: a knock-off event, in 3D</h1>
<p>The atoms within 5 A of the exchanged lattice site, frame by frame around the event
(drag to rotate, scroll to zoom). <b style='color:#d62728'>Red</b>: the incoming
interstitial Li; <b style='color:#1f77b4'>blue</b>: the lattice Li it knocks off; grey:
other Li; green: F.</p>
<div style='display:flex;gap:1em;flex-wrap:wrap'><div id='viewer'></div>
<img class='fig' style='max-width:45%' src='figures/fig1_knockoff_snapshots.png'
 alt='Figure 1, static'></div>
<p id='status'>loading...</p>{_provenance_html(prov)}
<script>
fetch('figures/{EVENT_FRAMES}').then(r => r.text()).then(xyz => {{
  const v = $3Dmol.createViewer('viewer', {{backgroundColor: 'white'}});
  v.addModelsAsFrames(xyz, 'xyz');
  v.setStyle({{elem: 'Li'}}, {{sphere: {{radius: 0.45, color: '#999999'}}}});
  v.setStyle({{elem: 'F'}}, {{sphere: {{radius: 0.6, color: '#2ca02c'}}}});
  v.setStyle({{index: 0}}, {{sphere: {{radius: 0.55, color: '#d62728'}}}});
  v.setStyle({{index: 1}}, {{sphere: {{radius: 0.55, color: '#1f77b4'}}}});
  v.zoomTo(); v.render(); v.animate({{loop: 'forward', interval: 120}});
  document.getElementById('status').textContent = v.getNumFrames() + ' frames';
}});
</script>""", head=head)


def _index(results: Path, nbs: Sequence[Path], tables: dict, cards: Sequence[str] = ()) -> str:
    summary = json.loads((results / "summary.json").read_text()) \
        if (results / "summary.json").is_file() else {}
    parts = summary.get("notebooks", {})
    profile = next((p["provenance"].get("profile") for p in parts.values()), results.name)
    commit = next(((p["provenance"].get("git") or {}).get("commit") for p in parts.values()),
                  None)
    stamp = ("" if profile == "paper" else
             f"<p class='stamp'><b>Reduced settings, not the study's</b>: profile "
             f"<code>{html.escape(str(profile))}</code> (the study's settings are the paper "
             "profile). Numbers here show the method, not the study's result.</p>")
    out = ["<h1>lidiff: Li diffusion in LiF, fine-tuning strategies of MACE</h1>",
           "<p>Executed compendium of Alghamdi et al., <i>J. Phys. Energy</i> (2026), "
           "doi:10.1088/2515-7655/ae6c5a. Profile "
           f"<code>{html.escape(str(profile))}</code>, commit "
           f"<code>{html.escape(str(commit))[:12]}</code>.</p>", stamp,
           "<h2>Notebooks</h2><ul>"]
    out += [f"<li><a href='notebooks/{nb.stem}.html'>{nb.stem}</a>"
            + (f" ({parts[nb.stem]['wall_time_s']:.0f} s)" if nb.stem in parts else "")
            + "</li>" for nb in nbs]
    out.append("</ul><h2>Model cards</h2><ul>")
    out += [f"<li><a href='models/{c}.html'>{c}</a></li>" for c in cards]
    out.append("</ul><h2>The study's figures and tables</h2>")
    for it in STUDY_ITEMS:
        out.append(f"<div class='item' id='{it.item.replace(' ', '-').lower()}'>"
                   f"<h3>{it.item}: {html.escape(it.what)}</h3><p>rendered by "
                   f"<a href='notebooks/{it.notebook}.html'>{it.notebook}</a>"
                   + (f"; {html.escape(it.note)}" if it.note else "") + "</p>")
        if it.item == "Figure 1" and (results / "figures" / EVENT_FRAMES).is_file():
            out.append("<p><a href='figure1.html'>interactive 3D view of the event</a></p>")
        for f in it.figures:
            png = results / "figures" / f"{f}.png"
            if png.is_file():
                out.append(f"<p><img class='fig' src='figures/{f}.png' alt='{f}'></p>"
                           + _provenance_html(_provenance(png)))
            else:
                out.append(f"<p class='missing'>figure {f}: not produced by this profile</p>")
        for t in it.tables:
            if t in tables:
                out.append(f"<p><a href='tables/{t}.html'>table {t}</a></p>"
                           + _table_html(tables[t]) + _provenance_html(_provenance(tables[t])))
            else:
                out.append(f"<p class='missing'>table {t}: not produced by this profile</p>")
        out.append("</div>")
    return _page(f"lidiff: {profile}", "\n".join(out), home="")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lidiff_helpers.runner.site",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=paths.RESULTS / "quick",
                    help="results folder of executed notebooks (default: results/quick)")
    ap.add_argument("--out", type=Path, default=None, help="default: <results>/site")
    a = ap.parse_args(argv)
    print(build_site(a.results, a.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
