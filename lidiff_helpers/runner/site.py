"""The executed compendium as a static website (``make site``).

    python -m lidiff_helpers.runner.site [--results results/quick] [--out DIR]

Builds, from a results folder of executed notebooks (``make all`` or ``python -m
lidiff_helpers.run``), without re-executing anything:

* ``index.html``: first what the compendium finds (README's findings table, rendered from
  the committed result files by :mod:`lidiff_helpers.runner.readme_numbers`), then the
  study's figures and tables (Figures 1-3, S6, S7; Tables 1-3, S1) mapped to the notebook
  output that renders them, each with its image or table, its provenance (models with
  SHA256, study files with SHA256, profile, commit) and the "reduced settings" stamp when
  the profile is not ``paper``; an item the profile has no data for is one line saying so
  and where it comes from, and a figure is shown once (a later item that reuses it points
  back to it);
* ``docs/<page>.html``: the documentation pages (``docs/*.md``), converted with mistune
  (a dependency of nbconvert), with their images;
* ``notebooks/<nb>.html``: each executed notebook, rendered by nbconvert's JupyterLab
  template without the scripts it would fetch from a CDN (lidiff's ``site_templates``), so
  the site works offline (MathJax is left out: formulas show as TeX);
* ``figures/``, ``tables/``: the PNG figures and the tables as HTML (numbers to their
  meaningful digits, by the unit in the column name), with provenance;
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lidiff_helpers.core import paths

__all__ = ["StudyItem", "STUDY_ITEMS", "build_site", "external_references", "markdown_html",
           "main"]

TEMPLATES = Path(__file__).with_name("site_templates")
#: the documentation pages rendered beside the notebooks
DOCS = paths.ROOT / "docs"
#: vendored viewer library (3Dmol.js 2.5.5, BSD-3-Clause; see its README)
ASSETS = Path(__file__).with_name("site_assets")
#: the frames of Figure 1's event, saved by notebook 05 (incoming Li first, knocked-off
#: Li second)
EVENT_FRAMES = "fig1_knockoff_event.xyz"


@dataclass(frozen=True)
class StudyItem:
    """One figure or table of the study and the lidiff outputs that render it.

    ``paper_only``: only the paper profile has its data; ``needs_model``: its figures have
    data only when a model of that name is among theirs; ``source``: where its data come
    from, said when a profile has none."""

    item: str
    what: str
    notebook: str
    figures: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    note: str = ""
    paper_only: bool = False
    needs_model: str = ""
    source: str = ""


STUDY_ITEMS: tuple[StudyItem, ...] = (
    StudyItem("Figure 1", "knock-off (interstitialcy) event of the interstitial Li",
              "05_arrhenius_analysis", ("fig1_knockoff_snapshots",)),
    StudyItem("Figure 2", "Arrhenius plot of D (MACE-MPA-0, fine-tuned, DeePMD reference)",
              "05_arrhenius_analysis", ("fig2_arrhenius", "fig2_arrhenius_with_htst")),
    StudyItem("Figure 3", "D at 400/450 K by fine-tuning data and replay size",
              "05_arrhenius_analysis", ("fig3_D_by_model",)),
    StudyItem("Figure S6", "D of the 200-frame models against the replay size",
              "05_arrhenius_analysis", ("fig3_D_by_model",),
              note="the 210-frame arms of Figure 3 in the paper profile", paper_only=True,
              source="the paper profile (make paper), whose Table 1 grid trains the 210-frame "
                     "arms with 0, 100 and 1000 replay frames; Figure 3 shows them there"),
    StudyItem("Figure S7", "MACE-OMAT-0 diffusivities", "05_arrhenius_analysis",
              ("fig2_arrhenius", "fig3_D_by_model"),
              note="mace-omat-0 runs beside the others in the paper profile",
              needs_model="mace-omat-0",
              source="the paper profile (make paper), where MACE-OMAT-0 runs beside the "
                     "other models; it needs the MACE-OMAT-0 weights (see Models in the documentation)"),
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


#: a number's meaningful digits by the unit its column name carries (first match):
#: errors to 0.1 meV, moduli to 0.1 GPa, frequencies to 0.01 THz, energies to meV,
#: lengths to mA, temperatures in whole K, times in whole s (two significant digits below
#: 10 s), D to 3 significant digits, learning rates and EMA decays as set
_DIGITS = ((re.compile(r"meV"), ".1f"), (re.compile(r"cm\^?2"), ".3g"),
           (re.compile(r"(rmse|mae).*GPa", re.I), ".2f"),
           (re.compile(r"GPa"), ".1f"), (re.compile(r"THz"), ".2f"),
           (re.compile(r"eV"), ".3f"), (re.compile(r"(_A|\(A\))$|_A_"), ".3f"),
           (re.compile(r"(_K|\(K\))$"), ".0f"), (re.compile(r"(_s|\(s\))$"), "time"),
           (re.compile(r"^(lr|ema)(_|$)", re.I), "g"))


def _number_format(column: str, values) -> Callable[[object], str]:
    """How a column's numbers are shown (its other cells as they are): a column of whole
    numbers as integers, else by :data:`_DIGITS`, else 4 significant digits; NaN empty."""
    import pandas as pd

    nums = pd.to_numeric(values, errors="coerce").dropna()
    fmt = ".4g"
    if len(nums) and bool(((nums == nums.round()) & (nums.abs() < 1e12)).all()):
        fmt = ".0f"
    else:
        fmt = next((f for pat, f in _DIGITS if pat.search(column)), fmt)

    def show(x) -> str:
        if isinstance(x, bool) or x is None:
            return "" if x is None else str(x)
        try:
            v = float(x)
        except (TypeError, ValueError):
            return str(x)
        if v != v:
            return ""
        if fmt == "time":   # whole seconds, or two significant digits below 10 s
            return f"{v:.0f}" if abs(v) >= 10 else f"{v:.2g}"
        return format(v, fmt)

    return show


def _numeric(column: str, values) -> bool:
    """A column of numbers: a numeric dtype, or mostly numbers with some text (a
    reference row's range, a note); never booleans, hashes or commits."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(values) or re.search(r"sha|hash|commit", column, re.I):
        return False
    if pd.api.types.is_numeric_dtype(values):
        return True
    cells = values.dropna()
    return bool(len(cells)) and pd.to_numeric(cells, errors="coerce").notna().mean() >= 0.5


def _table_html(csv: Path) -> str:
    import pandas as pd

    df = pd.read_csv(csv)
    fmts = {c: _number_format(str(c), df[c]) for c in df.columns
            if _numeric(str(c), df[c])}
    return df.to_html(index=False, border=0, classes="lidiff-table", formatters=fmts,
                      na_rep="")


def _slug(text: str) -> str:
    """GitHub's anchor of a heading (its text, tags removed)."""
    text = html.unescape(re.sub(r"<[^>]+>", "", text)).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def markdown_html(text: str, link_out: str = "../") -> str:
    """A Markdown page of ``docs/`` as HTML for the site (mistune, tables on): tables in the
    site's style, headings with GitHub's anchors, links to ``*.md`` pages to their
    ``.html`` pages, ``../README.md`` to the site's index (``link_out`` + ``index.html``),
    and links to other repository files (outside the site) as their text only."""
    import mistune

    body = mistune.create_markdown(escape=False, plugins=["table"])(text)
    body = body.replace("<table>", "<table class='lidiff-table'>")
    body = re.sub(r"<h([1-6])>(.*?)</h\1>",
                  lambda m: f"<h{m.group(1)} id='{_slug(m.group(2))}'>{m.group(2)}</h{m.group(1)}>",
                  body)

    def link(m: re.Match) -> str:
        href, text_ = m.group(1), m.group(2)
        if re.match(r"[a-z]+:|#", href):
            return m.group(0)
        path, _, anchor = href.partition("#")
        if path == "../README.md":
            return f'<a href="{link_out}index.html">{text_}</a>'
        if "/" not in path and path.endswith(".md"):
            return f'<a href="{path[:-3]}.html{"#" + anchor if anchor else ""}">{text_}</a>'
        if "/" not in path:
            return m.group(0)
        return f'<span title="{html.escape(path.lstrip("./"))} in the repository">{text_}</span>'

    return re.sub(r'<a href="([^"]*)">(.*?)</a>', link, body, flags=re.S)


def _docs(out: Path, docs: Path = DOCS) -> list[tuple[str, str]]:
    """Each documentation page ``docs/*.md`` as ``docs/<name>.html`` (with the images and
    other files it links beside it); (name, title) of each, the contents page first."""
    pages = sorted(docs.glob("*.md"), key=lambda p: (p.stem != "index", p.stem))
    if not pages:
        return []
    (out / "docs").mkdir(exist_ok=True)
    done = []
    for md in pages:
        text = md.read_text()
        title = next(iter(re.findall(r"^# (.+)$", text, re.M)), md.stem).replace("`", "")
        for ref in re.findall(r"\]\(([^)#\s]+)\)", text):
            f = docs / ref
            if "/" not in ref and f.suffix != ".md" and f.is_file():
                shutil.copyfile(f, out / "docs" / ref)
        (out / "docs" / f"{md.stem}.html").write_text(
            _page(title, markdown_html(text), home="../index.html"))
        done.append((md.stem, title))
    return done


_CSS = """body{font-family:sans-serif;max-width:70em;margin:auto;padding:1em;color:#222}
table.lidiff-table{border-collapse:collapse;font-size:80%;margin:0.5em 0;
display:block;overflow-x:auto;max-width:100%}
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
    docs = _docs(out)
    index = out / "index.html"
    index.write_text(_index(results, nbs, tables, cards, docs))
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


def _findings_html() -> str:
    """README's findings table and sentences (rendered from the committed result files)."""
    from lidiff_helpers.runner import readme_numbers

    return markdown_html(readme_numbers.render("findings"), link_out="")


def _index(results: Path, nbs: Sequence[Path], tables: dict, cards: Sequence[str] = (),
           docs: Sequence[tuple[str, str]] = ()) -> str:
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
           f"<code>{html.escape(str(commit))[:12]}</code>"
           + (". <a href='docs/index.html'>Documentation</a>" if docs else "") + ".</p>",
           stamp, "<h2 id='findings'>What the compendium finds</h2>", _findings_html(),
           "<h2>The study's figures and tables</h2>"]
    shown: dict[str, str] = {}
    executed = set(parts) if summary else {nb.stem for nb in nbs}
    for it in STUDY_ITEMS:
        out.append(_item_html(it, results, tables, profile, shown, executed))
    out.append("<h2>Notebooks</h2><ul>")
    out += [f"<li><a href='notebooks/{nb.stem}.html'>{nb.stem}</a>"
            + (f" ({parts[nb.stem]['wall_time_s']:.0f} s)" if nb.stem in parts else "")
            + "</li>" for nb in nbs]
    out.append("</ul>")
    if docs:
        out.append("<h2>Documentation</h2><ul>")
        out += [f"<li><a href='docs/{name}.html'>{html.escape(title)}</a></li>"
                for name, title in docs]
        out.append("</ul>")
    out.append("<h2>Model cards</h2><ul>")
    out += [f"<li><a href='models/{c}.html'>{c}</a></li>" for c in cards]
    out.append("</ul>")
    return _page(f"lidiff: {profile}", "\n".join(out), home="")


def _anchor(item: str) -> str:
    return item.replace(" ", "-").lower()


def _models_of(png: Path) -> set[str]:
    return {str(m.get("name")) for m in _provenance(png).get("models", [])}


def _item_html(it: StudyItem, results: Path, tables: dict, profile: str,
               shown: dict[str, str], executed: set[str]) -> str:
    """One study item of the index: its figures (each shown once: a figure an earlier item
    showed is a line pointing back to it) and tables, or one line saying that this
    profile has no data for it and where that comes from."""
    nb = (f"<a href='notebooks/{it.notebook}.html'>{it.notebook}</a>"
          if (results / "notebooks" / f"{it.notebook}.ipynb").is_file()
          else f"<code>{it.notebook}</code>")
    out = [f"<div class='item' id='{_anchor(it.item)}'><h3>{it.item}: "
           f"{html.escape(it.what)}</h3><p>rendered by {nb}"
           + (f"; {html.escape(it.note)}" if it.note else "") + "</p>"]
    figs = [f for f in it.figures if (results / "figures" / f"{f}.png").is_file()]
    tabs = [t for t in it.tables if t in tables]
    no_data = ((it.paper_only and profile != "paper")
               or (it.needs_model and not any(it.needs_model in m for f in figs
                                               for m in _models_of(results / "figures"
                                                                   / f"{f}.png"))))
    if not no_data and not (figs or tabs):
        no_data = True
    if no_data:
        prof = f"<code>{html.escape(str(profile))}</code>"
        if it.source and (it.paper_only or it.needs_model):
            line = f"No data in profile {prof}: it comes from {html.escape(it.source)}."
        elif it.notebook not in executed:
            line = (f"Not in this results folder: notebook {it.notebook}, which makes it, has "
                    f"not completed here (make all runs it).")
        else:
            line = (f"No data in profile {prof}: notebook {it.notebook} saved none of "
                    f"{', '.join((*it.figures, *it.tables))} (its page says why).")
        out.append(f"<p class='missing'>{line}</p></div>")
        return "\n".join(out)
    if it.item == "Figure 1" and (results / "figures" / EVENT_FRAMES).is_file():
        out.append("<p><a href='figure1.html'>interactive 3D view of the event</a></p>")
    for f in figs:
        if f in shown:
            out.append(f"<p>Figure <code>{f}</code>: shown above under "
                       f"<a href='#{_anchor(shown[f])}'>{shown[f]}</a>.</p>")
            continue
        shown[f] = it.item
        png = results / "figures" / f"{f}.png"
        out.append(f"<p><img class='fig' src='figures/{f}.png' alt='{f}'></p>"
                   + _provenance_html(_provenance(png)))
    for t in tabs:
        out.append(f"<p><a href='tables/{t}.html'>table {t}</a></p>"
                   + _table_html(tables[t]) + _provenance_html(_provenance(tables[t])))
    missing = [x for x in (*it.figures, *it.tables) if x not in (*figs, *tabs)]
    if missing:
        out.append(f"<p class='missing'>Not produced in profile "
                   f"<code>{html.escape(str(profile))}</code>: "
                   f"{', '.join(missing)}.</p>")
    out.append("</div>")
    return "\n".join(out)


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
