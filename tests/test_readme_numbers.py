"""The measured numbers of README.md and docs/*.md are the result files' numbers
(regenerable); the README is a short front door whose links resolve."""

import json
import re

import pytest

from lidiff_helpers.core import paths
from lidiff_helpers.core.errors import StaleResultError
from lidiff_helpers.runner import readme_findings, readme_numbers
from lidiff_helpers.training import finetune_benchmark


def test_readme_blocks_match_their_result_files():
    stale = readme_numbers.check()
    assert not stale, (f"blocks {stale} of README.md / docs/*.md differ from their result "
                       "files: run python -m lidiff_helpers.runner.readme_numbers")


def test_each_block_lives_in_exactly_one_file():
    where = readme_numbers.locate()
    assert set(where) == set(readme_numbers.BLOCKS)
    assert where["findings"] == paths.ROOT / "README.md"
    assert all(p in readme_numbers.files() for p in where.values())
    assert readme_numbers.main(["--check"]) == 0


def test_a_block_in_two_files_or_none_is_named(tmp_path):
    text = (paths.ROOT / "README.md").read_text()
    a, b = tmp_path / "README.md", tmp_path / "twice.md"
    a.write_text(text)
    b.write_text(text)
    others = [p for p in readme_numbers.files()[1:]]
    with pytest.raises(ValueError, match=r"block 'findings'.*2 times: .*README\.md, .*twice\.md"):
        readme_numbers.locate([a, b, *others])
    with pytest.raises(ValueError, match=r"block 'findings'.*in none of"):
        readme_numbers.locate(others)


def test_an_edited_number_is_caught(tmp_path):
    page = readme_numbers.locate()["embedded-model"]
    text = page.read_text()
    block = text.split("<!-- generated:embedded-model -->")[1]
    assert "3.955" in block  # the committed model's relaxed a0 (metrics file)
    edited = tmp_path / page.name
    edited.write_text(text.replace("3.955 (-2.6%)", "3.999 (-1.5%)", 1))
    assert readme_numbers.check(edited) == ["embedded-model"]
    assert readme_numbers.update(edited) and readme_numbers.check(edited) == []


def test_missing_block_is_named(tmp_path):
    bad = tmp_path / "README.md"
    bad.write_text("no blocks here\n")
    with pytest.raises(ValueError, match="findings"):
        readme_numbers.render_all(bad.read_text())


def _findings_block() -> str:
    text = (paths.ROOT / "README.md").read_text()
    return text.split("<!-- generated:findings -->")[1].split("<!-- /generated:findings -->")[0]


def test_findings_are_the_metrics_files_numbers():
    """Each model's held-out error (0.1 meV/A), knock-off barrier (0.001 eV) and a0
    (0.001 A) in the README's findings table are those of its committed metrics file;
    DFT's barriers are the study's references; the EOS verdict follows EOS_KEPT."""
    from lidiff_helpers.core import reference
    from lidiff_helpers.simulation import models
    from lidiff_helpers.workflows import reference_metrics as rm

    rows = {}
    for line in _findings_block().splitlines():
        if line.startswith("| ") and not line.startswith("| model"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells
    ms = rm.load()
    assert ms and {m["name"] for m in ms} <= set(rows)
    found = next(m for m in ms if m["name"] == rm.FOUNDATION)
    for m in ms:
        r = rows[m["name"]]
        assert r[2] == f"{m['interstitial_F_rmse_meV_A']:.1f}", r
        assert r[3] == f"{m['knockoff_collinear_barrier_eV']:.3f}", r
        assert r[-3] == (f"{m['a0_A']:.3f}" if m["a0_A"] is not None else "none"), r
        if m["name"] != rm.FOUNDATION and m["name"] not in rm.ZERO_SHOT:
            kept = (m["a0_A"] is not None
                    and abs(m["a0_A"] / found["a0_A"] - 1) <= readme_findings.EOS_KEPT["a0_A"]
                    and abs(m["B_GPa"] / found["B_GPa"] - 1) <= readme_findings.EOS_KEPT["B_GPa"])
            assert r[-1].startswith("yes" if kept else "no"), r
    dft = rows["DFT (PBE)"][3]
    for key in ("dft-cineb-zheng", "dft-neb-yildirim"):
        assert f"{reference.BARRIERS[key].Ea_eV:.2f}" in dft
    # a model measured only by the barrier benchmark gets its barrier from that file
    bench = json.loads((paths.BENCHMARKS / "RESULTS_barriers.json").read_text())
    shas = {m["model_sha256"] for m in ms}
    for b in bench["rows"]:
        if (b["sha256"] not in shas and b["mechanism"] == "knockoff-collinear"
                and b["lattice"] == "study"):
            name = models.committed_spec(b["sha256"]) or b["model"]   # embedded-v1's own name
            assert rows[name][3] == f"{b['barrier_eV']:.3f}"


def test_each_barrier_row_says_when_and_at_which_commit_it_was_measured():
    """Rows of several runs live in RESULTS_barriers.json: each carries its own date and
    commit, and the table shows them (the body's date is only the last run's)."""
    from lidiff_helpers.runner import readme_numbers

    bench = json.loads((paths.BENCHMARKS / "RESULTS_barriers.json").read_text())
    table = readme_numbers._barriers()
    for r in bench["rows"]:
        assert r["date"] and len(str(r["commit"])) == 40, r
        assert f"{r['date']} ({r['commit'][:7]})" in table
    assert len({r["date"] for r in bench["rows"]}) > 1   # v1's and v2's runs, days apart


def test_readme_is_a_short_front_door():
    """At most ~200 lines; its first 60 say what to run and what the compendium found."""
    lines = (paths.ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200, len(lines)
    head = "\n".join(lines[:60])
    assert "make all" in head and "make test" in head
    assert "<!-- /generated:findings -->" in head
    for link in ("docs/index.md", "CHANGELOG.md", "CITATION.cff", "docs/citing.md"):
        assert f"]({link})" in "\n".join(lines), link


_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", [paths.ROOT / "README.md",
                                  *sorted((paths.ROOT / "docs").glob("*.md"))],
                         ids=lambda p: p.relative_to(paths.ROOT).as_posix())
def test_relative_links_resolve(page):
    """Every relative link (and image) of README.md and docs/*.md points to an existing
    file; a link's #anchor, when the target is a Markdown page, is one of its headings."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    for target in _LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve()
        assert dest.exists(), f"{page.name}: link to {target} (no {dest})"
        if anchor and dest.suffix == ".md":
            slugs = {_slug(h) for h in re.findall(r"^#+ (.+)$", dest.read_text(), re.M)}
            assert anchor in slugs, f"{page.name}: no heading #{anchor} in {path}"


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_benchmark_of_another_model_is_refused(tmp_path):
    body = {"command": "python -m lidiff_helpers.finetune benchmark",
            "foundation": {"name": "embedded", "sha256": "0" * 64}, "rows": []}
    f = tmp_path / "RESULTS_finetune.json"
    f.write_text(json.dumps(body))
    with pytest.raises(StaleResultError, match="0000000000"):
        finetune_benchmark.load_benchmark(f)
    table, record = finetune_benchmark.load_benchmark(f, check_model=False)
    assert record["foundation"]["sha256"] == "0" * 64
    assert finetune_benchmark.load_benchmark(tmp_path / "absent.json") == (None, None)


def test_dft_neb_block_states_progress_then_the_barrier_with_how_it_was_made(tmp_path,
                                                                              monkeypatch):
    """The dft-reference block renders the NEB file as it is: absent, in progress (CPU so
    far), done (barrier at the search cutoffs and at the study's, images, final state)."""
    from lidiff_helpers.workflows import dft_neb as dn

    f = tmp_path / "neb_knockoff_collinear.json"
    monkeypatch.setattr(dn, "NEB_FILE", f)
    assert "DFT climbing-image NEB: not computed yet" in readme_numbers._dft_reference()
    body = {"command": "python -m lidiff_helpers.workflows.dft_reference neb",
            "date": "2026-12-07", "start_band": "sevennet-0", "start_barrier_eV": 0.2426,
            "cutoffs_Ry": [60.0, 240.0], "status": "in progress", "pw_cpu_s": 7200.0}
    f.write_text(json.dumps(body))
    assert "in progress" in readme_numbers._dft_reference()
    assert "pw.x CPU so far 2.0 h" in readme_numbers._dft_reference()
    body.update(status="done", barrier_eV=0.2012, barrier_study_cutoffs_eV=0.1987,
                converged=True, climbing_fmax_eV_A=0.031, n_images=1,
                final_state="the DFT-relaxed initial state inverted through [0, 0, 0] A")
    f.write_text(json.dumps(body))
    text = readme_numbers._dft_reference()
    assert "**0.201 eV** at 60 / 240 Ry" in text and "110 / 440 Ry on that path **0.199 eV**" \
        in text
    assert "1 interior image(s)" in text and "inverted through [0, 0, 0] A" in text
    table = "\n".join(readme_findings.findings_table([], False))
    assert f"| {dn.STUDY_LEVEL_LABEL} |" in table and "| 0.199 |" in table
