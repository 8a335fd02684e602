"""Helpers of the browser tests: a headless Chromium (selenium) and a loopback server."""

from __future__ import annotations

import os

import pytest

def chromium():
    """A headless Chromium driven by selenium; skipped when the system browser is missing
    (a failure when LIDIFF_REQUIRE_BROWSER=1, as in CI)."""
    import shutil

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    drv = shutil.which("chromedriver")
    if not (exe and drv):
        if os.environ.get("LIDIFF_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium/chromedriver not installed (apt-get install chromium "
                        "chromium-driver) but LIDIFF_REQUIRE_BROWSER=1")
        pytest.skip("chromium and chromedriver are not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = exe
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
              "--window-size=1280,1600", "--enable-unsafe-swiftshader"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(drv), options=opts)


class serve:
    """A static HTTP server of ``folder`` on the loopback address (a free port)."""

    def __init__(self, folder):
        import functools
        import http.server

        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)

    def __enter__(self):
        import threading

        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _quiet_handler():
    import http.server

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    return Handler


_QuietHandler = _quiet_handler()


def canvas_colours(element, save_to=None) -> int:
    """Distinct colours in a screenshot of ``element`` (a blank canvas has one or two);
    the screenshot is saved to ``save_to`` when given."""
    import io

    from PIL import Image

    png = element.screenshot_as_png
    if save_to is not None:
        save_to.write_bytes(png)
    return len(set(Image.open(io.BytesIO(png)).convert("RGB").getdata()))
