"""Fixtures for the browser tests: a `python -m salgan_tf.serve` subprocess and headless Chromium.

Needs Debian's `chromium` (/usr/bin/chromium) and the Python `playwright` package (its bundled
driver only; never `playwright install`). Every test here skips, saying which is missing.
The server serves the tiny test model (tests/conftest.py), or $SALGAN_SERVE_MODEL when set (a
trained model for docs/serve_screenshot.png).
"""
import os
import pathlib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

CHROMIUM = "/usr/bin/chromium"
# The machine has no internet: these stop Chromium from trying to reach Google services.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
SERVER_START_TIMEOUT_S = 240


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def sync_playwright():
    if not os.path.isfile(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not found (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright as start
    except ImportError:
        pytest.skip("Python package playwright not installed (pip install playwright; the "
                    "browser is Debian's chromium, never `playwright install`)")
    return start


@pytest.fixture(scope="module")
def server(sync_playwright, tmp_path_factory, util):
    """Base URL of `python -m salgan_tf.serve` on a free loopback port, serving a tiny SavedModel
    (or $SALGAN_SERVE_MODEL)."""
    model = os.environ.get("SALGAN_SERVE_MODEL") or util.exported_model((32, 32))[2]
    port = _free_port()
    log_path = tmp_path_factory.mktemp("serve") / "server.log"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "salgan_tf.serve", f"--model={model}", f"--port={port}",
             "--max_request_mb=4", "--log_level=warning"],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{base_url}/v1/models/salgan", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"server not ready after {SERVER_START_TIMEOUT_S} s:\n"
                                f"{log_path.read_text()}")
                time.sleep(0.5)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser(sync_playwright):
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1000, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.goto(server + "/")
    page.wait_for_function("document.getElementById('model-info').textContent.length > 0")
    yield page
    context.close()
