"""Every notebook executes under the ci profile (papermill), in order, like `make all`."""

from __future__ import annotations

import json
import os
import re

import pytest

from lidiff_helpers.core import paths
from lidiff_helpers.runner.run import execute, notebooks


@pytest.fixture(scope="module")
def ci_results(tmp_path_factory, study_data_dir):
    os.environ.setdefault("LIDIFF_OFFLINE", "1")
    results = tmp_path_factory.mktemp("results")
    old = paths.RESULTS
    paths.RESULTS = results
    os.environ["LIDIFF_RESULTS_DIR"] = str(results)  # for the kernels
    try:
        out = execute("ci")
    finally:
        paths.RESULTS = old
        os.environ.pop("LIDIFF_RESULTS_DIR", None)
    return out


def test_all_notebooks_execute_in_ci(ci_results):
    executed = sorted(p.name for p in (ci_results / "notebooks").glob("*.ipynb"))
    assert executed == [nb.name for nb in notebooks()]
    summary = json.loads((ci_results / "summary.json").read_text())
    assert set(summary["notebooks"]) == {nb.stem for nb in notebooks()}
    for name, part in summary["notebooks"].items():
        assert part["provenance"]["profile"] == "ci", name
        # budget: 120 s per notebook; measured by benchmarks/bench_notebooks.py
        # (RESULTS_notebooks.json: at most 71 s on a quiet 2-core machine); 600 s guards
        # against a runaway ci profile on a loaded CI runner without flaking on load alone
        assert part["wall_time_s"] < 600, f"{name} took {part['wall_time_s']} s in ci"


def test_ci_notebooks_key_results(ci_results):
    """Each notebook's headline results and data sources, from its summary: not only that
    it ran."""
    parts = json.loads((ci_results / "summary.json").read_text())["notebooks"]
    v = {name[:2]: part["values"] for name, part in parts.items()}
    prov = {name[:2]: part["provenance"] for name, part in parts.items()}
    # 00: offline, so the embedded foundation model; the held-out test set is 120 frames
    assert v["00"]["foundation_model"] == "embedded" and v["00"]["n_test"] == 120
    # every notebook that reads the study's data records which files, by SHA256
    for nb in ("00", "01", "02", "03"):
        files = prov[nb].get("data_files") or prov[nb].get("data") or {}
        assert files and all(len(str(h)) == 64 for h in files.values()), (nb, files)
    # 01: a Table S1 row per compared model
    assert len(v["01"]["table_s1"]) == len(v["01"]["models"]) >= 1
    # 02: one row per arm of the planned grid, each trained (ci trains for real)
    assert v["02"]["n_runs"] >= 2 and v["02"]["n_trained"] == v["02"]["n_runs"], v["02"]
    # 03: the study's FT1/FT2 sizes (Table 2: 16 + 140 and 44 + 100 frames)
    assert v["03"]["FT1_frames"]["n"] == 156 and v["03"]["FT2_frames"]["n"] == 144
    # 03: the MLIP-3 loop ran beside the committee's, and the three-way comparison scored
    # each method's model on held-out frames after the same label budget
    assert v["03"]["live_selection"] == ["bands", "extrapolation"]
    assert v["03"]["extrapolation_rounds"] and all(
        r["gamma_max"] > 0 for r in v["03"]["extrapolation_rounds"])
    cmp = {r["method"]: r for r in v["03"]["selection_comparison"]}
    zero = cmp.pop("foundation (no fine-tuning)")
    assert zero["n_labelled"] == 0 and 0 <= zero["interstitial_F_rmse_meV_A"] < 1000
    assert set(cmp) == {"extrapolation", "random"}   # ci: two methods (quick: three)
    for r in cmp.values():
        assert r["round"] == 1 and 0 < r["n_labelled"] <= 2 and r["cpu_train_s"] > 0
        assert 0 < r["bulk_F_rmse_meV_A"] < 1000 and 0 < r["interstitial_F_rmse_meV_A"] < 1000
    # 04: every MD run of the grid finished, none failed
    assert v["04"]["n_runs"] >= 1 and v["04"]["n_done"] == v["04"]["n_runs"], v["04"]
    assert v["04"]["n_failed"] == 0
    # 05: says which source it analysed; on synthetic runs it recovers the set D and Ea
    assert v["05"]["source"] in ("manifest", "trajectories", "synthetic"), v["05"]
    assert v["05"]["synthetic"] == (v["05"]["source"] == "synthetic")
    if v["05"]["synthetic"]:
        assert v["05"]["D_defect_max_rel_dev_from_true"] < 0.35, v["05"]
        ea = v["05"]["synthetic-deepmd-law: Ea_eV"]
        assert abs(ea - 0.24) < 0.1, v["05"]
        # kinisi agrees with lidiff's D on (nearly) every synthetic run
        assert v["05"]["kinisi_agree"] >= v["05"]["kinisi_runs"] - 1 >= 1, v["05"]
    # 05: the foundation's knock-off barrier by CI-NEB (embedded model v2: 0.19 eV at the
    # study's lattice constant in its metrics file; v1, 0.036 eV, would fail) and a
    # first-order saddle with a finite Vineyard prefactor
    eb = v["05"]["embedded: knockoff_barrier_eV"]
    assert 0.1 < eb < 0.3 and v["05"]["embedded: knockoff_converged"], v["05"]
    assert 0.1 < v["05"]["embedded: htst_prefactor_THz"] < 100, v["05"]


def test_kernel_is_this_interpreter_even_with_a_stale_user_kernelspec(tmp_path, monkeypatch):
    """A user-level 'python3' kernelspec pointing at another (or deleted) venv must not
    be what papermill starts."""
    import sys

    from jupyter_client.kernelspec import KernelSpecManager

    from lidiff_helpers.runner.run import ensure_kernel

    stale = tmp_path / "user" / "kernels" / "python3"
    stale.mkdir(parents=True)
    (stale / "kernel.json").write_text(json.dumps(
        {"argv": ["/nonexistent/venv/bin/python", "-m", "ipykernel_launcher", "-f",
                  "{connection_file}"], "display_name": "stale", "language": "python"}))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "user"))
    monkeypatch.setenv("JUPYTER_PATH", "")
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "0")   # user folder first (no venv preference)
    assert KernelSpecManager().get_kernel_spec("python3").argv[0] == "/nonexistent/venv/bin/python"
    assert ensure_kernel() == "python3"
    assert KernelSpecManager().get_kernel_spec("python3").argv[0] == sys.executable


def test_site_of_the_ci_results(ci_results, tmp_path_factory):
    """``make site``: every notebook rendered, the study's items mapped, nothing fetched
    from another host, every figure and table on the index present."""
    from lidiff_helpers.runner import site

    out = tmp_path_factory.mktemp("site")
    index = site.build_site(ci_results, out)
    assert sorted(p.stem for p in (out / "notebooks").glob("*.html")) == \
        [nb.stem for nb in notebooks()]
    pages = sorted(out.rglob("*.html"))
    for page in pages:
        assert not site.external_references(page.read_text()), page
    text = index.read_text()
    for it in site.STUDY_ITEMS:
        assert f"<h3>{it.item}:" in text
    # ci stamps "reduced settings"; the figures the index shows exist as files
    assert "Reduced settings" in text
    for src in re.findall(r"<img class='fig' src='([^']+)'", text):
        assert (out / src).stat().st_size > 1000, src
    # every committed model card has a page
    assert (out / "models" / "lidiff-embedded.html").is_file()
    assert (out / "models" / "lidiff-embedded-v2.html").is_file()
    # Tables 1, 3 and S1 are produced in ci and shown inline
    for t in ("table1_finetune_grid", "table3", "table_s1_bulk"):
        assert f"tables/{t}.html" in text, t
    _check_site_docs_and_index(out, text)


def _check_site_docs_and_index(out, text):
    """The documentation pages beside the notebooks; the index opens with the findings
    table; each figure shown once; an item without data is one line; numbers rounded;
    every relative link of every page resolves inside the site."""
    from lidiff_helpers.runner import readme_numbers, site

    for md in sorted((paths.ROOT / "docs").glob("*.md")):
        page = out / "docs" / f"{md.stem}.html"
        assert page.is_file() and f"href='docs/{md.stem}.html'" in text, md.name
        assert "<style>" in page.read_text() and "href='../index.html'" in page.read_text()
    # the index opens with what the compendium finds: README's findings table
    assert text.index("What the compendium finds") < text.index("The study's figures")
    findings = readme_numbers.render("findings")
    naive = next(line for line in findings.splitlines() if line.startswith("| naive |"))
    assert naive.split("|")[3].strip() in text.split("The study's figures")[0]
    srcs = re.findall(r"<img class='fig' src='([^']+)'", text)
    assert len(srcs) == len(set(srcs)), "a figure is repeated on the index"
    items = re.findall(r"<div class='item' id='([^']+)'>(.*?)</div>", text, re.S)
    assert len(items) == len(site.STUDY_ITEMS)
    for anchor, body in items:
        assert body.count("class='missing'") <= 1, anchor
        assert "<img" in body or "<table" in body or "class='missing'" in body \
            or "shown above" in body, anchor
    s7 = dict(items)["figure-s7"]   # no MACE-OMAT-0 in ci: one line naming the paper profile
    assert "<img" not in s7 and "paper profile" in s7
    for page in sorted(out.rglob("*.html")):
        body = page.read_text()
        if page.parent.name == "tables":   # numbers to their meaningful digits
            cells = re.findall(r"<td>([^<]*)</td>", body)
            long = [c for c in cells if re.fullmatch(r"-?\d*\.\d+", c)
                    and len(c.lstrip("-").replace(".", "").lstrip("0")) > 6]
            assert not long, (page.name, long)
        if page.parent.name == "notebooks":
            continue
        for ref in re.findall(r"""(?:href|src)=['"]([^'"#]+)""", body):
            if not re.match(r"[a-z]+:", ref):
                assert (page.parent / ref).exists(), (page.relative_to(out), ref)


def test_site_in_a_real_browser(ci_results, tmp_path_factory):
    """Headless Chromium (Debian's chromium + chromium-driver, through selenium) loads the
    ci site from a loopback server: no console error on any page, every image loaded
    (naturalWidth > 0), the index's tables present; screenshots saved."""
    from lidiff_helpers.runner import site

    from browser_helpers import chromium, serve

    browser = chromium()
    out = tmp_path_factory.mktemp("site-browser")
    site.build_site(ci_results, out)
    shots = tmp_path_factory.mktemp("screenshots")
    with serve(out) as base:
        for page in ["index.html", "models/lidiff-embedded-v2.html",
                     *(f"notebooks/{nb.stem}.html" for nb in notebooks()),
                     *(f"docs/{md.stem}.html"
                       for md in sorted((paths.ROOT / "docs").glob("*.md")))]:
            browser.get(f"{base}/{page}")
            errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
            assert not errors, (page, errors)
            images = browser.execute_script(
                "return Array.from(document.images).map(i => [i.src, i.complete, i.naturalWidth])")
            assert images or page != "index.html", page
            bad = [i for i in images if not (i[1] and i[2] > 0)]
            assert not bad, (page, bad)
            if page == "index.html":
                n = browser.execute_script(
                    "return document.querySelectorAll('table.lidiff-table').length")
                assert n >= 4, n   # the findings table, then Tables 1, 3 and S1
                first = browser.execute_script(
                    "return document.querySelector('h2').textContent")
                assert first == "What the compendium finds", first
            browser.save_screenshot(str(shots / (page.replace("/", "_") + ".png")))
        if (ci_results / "figures" / "fig1_knockoff_snapshots.png").is_file():
            _check_viewer(browser, f"{base}/figure1.html", shots)
    browser.quit()
    assert len(list(shots.glob("*.png"))) >= len(notebooks()) + 2
    print("screenshots:", shots)


def _check_viewer(browser, url, shots):
    """Figure 1's 3D view: the frames load and the viewer's canvas has drawn atoms (many
    colours in its screenshot, not a blank canvas)."""
    import time

    from selenium.webdriver.common.by import By

    browser.get(url)
    for _ in range(100):
        status = browser.find_element(By.ID, "status").text
        if status.endswith("frames"):
            break
        time.sleep(0.1)
    assert status.endswith("frames") and int(status.split()[0]) > 1, status
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    time.sleep(0.5)
    from browser_helpers import canvas_colours

    canvas = browser.find_element(By.CSS_SELECTOR, "#viewer canvas")
    colours = canvas_colours(canvas, shots / "figure1_viewer.png")
    assert colours > 20, f"the 3D viewer's canvas looks blank ({colours} colours)"


def test_site_without_executed_notebooks_names_the_folder(tmp_path):
    from lidiff_helpers.runner import site

    with pytest.raises(FileNotFoundError, match=r"notebooks: no executed notebook; run make all"):
        site.build_site(tmp_path / "results" / "quick")
