"""Browser-test fixtures: a real ``beacon serve --demo`` on a free port, and Debian's chromium.

Every page records each request to a host other than this server (and aborts it) and every
JavaScript dialog, so a test can prove that nothing remote was loaded and no script ran.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, sync_playwright

from tests.browser.helpers import ROOT, Server, Watch, login

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
STARTUP_TIMEOUT = 240.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_demo(data: Path) -> Iterator[Server]:
    """``beacon serve --demo`` with its data in ``data``, until the block ends."""
    port = _free_port()
    log = data / "server.log"
    env = {
        **os.environ,
        "BEACON_DATA_DIR": str(data),
        "BEACON_DATABASE_URL": "",
        "BEACON_SYNC_INTERVAL": "0",
        "BEACON_SECRET_KEY": "",
    }
    cmd = [sys.executable, "-m", "beacon.cli.web", "serve", "--demo", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    srv = Server(f"http://127.0.0.1:{port}", data, log)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"beacon serve exited with {proc.returncode}:\n{srv.log_tail()}", pytrace=False)
            try:
                if httpx.get(srv.url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"beacon serve not ready after {STARTUP_TIMEOUT}s:\n{srv.log_tail()}", pytrace=False)
            time.sleep(0.3)
        yield srv
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve_demo(tmp_path_factory.mktemp("beacon-web")) as srv:
        yield srv


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package", pytrace=False)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def watch() -> Watch:
    return Watch()


@pytest.fixture
def context(browser: Browser, watch: Watch) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})

    def guard(route: Route) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith(("http:", "https:")) and host not in LOCAL_HOSTS:
            watch.remote_requests.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    ctx.route("**/*", guard)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext, watch: Watch) -> Page:
    p = context.new_page()

    def on_dialog(dialog) -> None:  # type: ignore[no-untyped-def]
        watch.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    p.on("dialog", on_dialog)
    p.on("console", lambda m: watch.console_errors.append(m.text) if m.type == "error" else None)
    return p


@pytest.fixture
def logged_in(page: Page, server: Server) -> Page:
    login(page, server)
    return page
