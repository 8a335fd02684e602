"""JupyterLab, the compendium's exploration interface, in a real browser: `make lab`'s
server on the loopback address, notebook 05 (ci profile) with ``show_widget=True`` run
through the Run menu, and the nglview widget of the knock-off drawn on its canvas."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from lidiff_helpers.core import paths

TOKEN = "lidiff-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(cond, timeout_s: float, what: str, step_s: float = 0.5):
    t0 = time.time()
    while time.time() - t0 < timeout_s:
        v = cond()
        if v:
            return v
        time.sleep(step_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


@pytest.fixture()
def lab_server(tmp_path, study_data_dir):
    yield from start_lab(tmp_path)


def start_lab(tmp_path):
    """JupyterLab as `make lab` starts it (this venv's kernel and extensions), serving a
    copy of notebook 05 with ``profile=ci`` and ``show_widget=True`` injected by papermill
    (prepared, not executed); yields (base URL, tmp_path)."""
    import papermill

    from lidiff_helpers.runner.run import ensure_kernel

    ensure_kernel()
    nbdir = tmp_path / "lab"
    nbdir.mkdir()
    papermill.execute_notebook(str(paths.NOTEBOOKS / "05_arrhenius_analysis.ipynb"),
                               str(nbdir / "05_widget.ipynb"), prepare_only=True,
                               parameters={"profile": "ci", "show_widget": True,
                                           "results_tag": "lab-test",
                                           # the widget is what is tested: skip the
                                           # kinisi and Hessian cells' cost
                                           "kinisi_check": False, "htst": False},
                               kernel_name="python3")
    # every cell attached to the page (JupyterLab 4 otherwise renders only the cells near
    # the viewport, and the widget's output would not exist until scrolled to)
    settings = tmp_path / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    port = _free_port()
    env = {**os.environ, "LIDIFF_RESULTS_DIR": str(tmp_path / "results"),
           "LIDIFF_OFFLINE": "1", "OMP_NUM_THREADS": "2"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}",
         f"--ServerApp.root_dir={nbdir}", "--LabApp.news_url=None",
         f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
         f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, stdout=open(tmp_path / "lab.log", "w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2) as r:
                return json.load(r)
        except OSError:
            return None

    try:
        _wait_for(up, 90, "the JupyterLab server")
        yield base, tmp_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_jupyterlab_draws_the_knockoff_widget(lab_server):
    from browser_helpers import canvas_colours, chromium
    from selenium.webdriver.common.by import By

    base, tmp = lab_server
    browser = chromium()
    try:
        browser.get(f"{base}/lab/tree/05_widget.ipynb?token={TOKEN}")
        _wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell"),
                  120, "the notebook to open")
        # wait for the kernel, then Run > Run All Cells
        _wait_for(lambda: browser.execute_script(
            "const e = document.querySelector('.jp-Notebook-ExecutionIndicator');"
            "return e && (e.getAttribute('data-status') || '') === 'idle';"), 120,
            "an idle kernel")
        time.sleep(2)  # the session settles after the first 'idle'
        for attempt in range(2):
            browser.find_element(By.XPATH, "//li[contains(@class,'lm-MenuBar-item')]"
                                           "[.//div[text()='Run']]").click()
            _wait_for(lambda: browser.find_elements(
                By.XPATH,
                "//li[contains(@class,'lm-Menu-item')][.//div[text()='Run All Cells']]"),
                10, "the Run menu")
            browser.find_element(By.XPATH, "//li[contains(@class,'lm-Menu-item')]"
                                           "[.//div[text()='Run All Cells']]").click()
            try:  # the first cells start: the kernel is busy or cells have run
                _wait_for(lambda: browser.execute_script(
                    "return document.querySelector('.jp-Notebook-ExecutionIndicator')"
                    ".getAttribute('data-status') !== 'idle' || "
                    "document.querySelectorAll('.jp-InputPrompt').length && "
                    "/\\[1\\]/.test(document.body.innerText);"), 30, "Run All to start")
                break
            except AssertionError:
                if attempt:
                    raise
        try:
            canvas = _wait_for(lambda: browser.find_elements(
                By.CSS_SELECTOR, ".jp-OutputArea-output canvas"), 900,
                "the nglview widget's canvas (notebook 05 runs in ci first)", step_s=2)[0]
        except AssertionError:
            browser.save_screenshot(str(tmp / "lab_timeout.png"))
            raise
        errors = browser.find_elements(By.CSS_SELECTOR, "[data-mime-type='application/"
                                                        "vnd.jupyter.stderr'] .jp-RenderedText")
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", canvas)
        time.sleep(3)  # let NGL draw the first frame
        shot = tmp / "lab_widget.png"
        colours = canvas_colours(canvas, shot)
        browser.save_screenshot(str(tmp / "lab_notebook.png"))
        assert colours > 20, f"nglview's canvas looks blank ({colours} colours), see {shot}"
        tracebacks = [e.text for e in errors if "Traceback" in e.text]
        assert not tracebacks, tracebacks[0][-2000:]
        print("screenshots:", tmp)
    finally:
        browser.quit()
