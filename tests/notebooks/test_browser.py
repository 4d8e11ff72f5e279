"""Real-browser test: JupyterLab + Chromium run the tour and click the TrainPanel.

A session-scoped fixture starts JupyterLab on 127.0.0.1 (free port, random token, temporary
HOME / settings / workspaces) over a temporary copy of ``notebooks/`` whose parameters cells
are rewritten to ``SCALE = "smoke"`` and a temporary ``OUT_DIR``; the server and its kernels
are always shut down at teardown. Chromium is Debian's (installed with apt when missing and
running as root); this test fails, never skips, when it cannot run.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
]
TOUR = "00_tour.ipynb"

pytestmark = pytest.mark.browser


@dataclass
class LabServer:
    """A running JupyterLab: where it listens and what it serves."""

    url: str
    token: str
    root: Path
    out_dir: Path
    home: Path
    log: Path
    proc: subprocess.Popen[bytes]


def ensure_chromium() -> Path:
    """Path to Debian's Chromium; installs it with apt when missing and running as root."""
    if not CHROMIUM.exists() and hasattr(os, "geteuid") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run("apt-get update -q && apt-get install -y -q chromium", shell=True,
                       env=env, capture_output=True, timeout=900, check=False)
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing; install it (`apt-get install -y chromium`, as "
                    "root) to run the real-browser test", pytrace=False)
    return CHROMIUM


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def smoke_copy(src: Path, dst: Path, out_dir: Path) -> None:
    """Copy ``src`` to ``dst`` with every parameters cell rewritten to the smoke scale."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for path in dst.rglob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if "parameters" in cell.metadata.get("tags", []):
                cell.source = (f'SCALE = "smoke"\nSEED = 0\nOUT_DIR = {str(out_dir)!r}\n')
        nbformat.write(nb, path)


def write_settings(settings: Path) -> None:
    """No news / update toast; render every cell (no windowing) so the DOM has them all."""
    files = {
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
            {"fetchNews": "false", "checkForUpdates": False},
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings":
            {"windowingMode": "none"},
    }
    for rel, content in files.items():
        p = settings / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(content))


def _get(url: str, timeout: float = 5.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return int(r.status)
    except (urllib.error.URLError, OSError):
        return 0


def stop_server(server: LabServer) -> None:
    """Shut the server down (kernels first), escalating to signals on its process group."""
    req = urllib.request.Request(f"{server.url}/api/shutdown?token={server.token}",
                                 method="POST", data=b"")
    with contextlib.suppress(urllib.error.URLError, OSError):
        urllib.request.urlopen(req, timeout=10).close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.proc.wait(timeout=20)
    # the server runs in its own session: its process group holds its kernels too
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(server.proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            server.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    base = tmp_path_factory.mktemp("lab")
    home, settings, workspaces = base / "home", base / "settings", base / "workspaces"
    root, out_dir = base / "root", base / "out"
    for d in (home, settings, workspaces, out_dir):
        d.mkdir()
    smoke_copy(NOTEBOOKS, root, out_dir)
    write_settings(settings)
    token, port = secrets.token_hex(16), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "MPLBACKEND"))}
    env.update(HOME=str(home), JUPYTER_CONFIG_DIR=str(home / ".jupyter"),
               JUPYTER_RUNTIME_DIR=str(base / "runtime"), IPYTHONDIR=str(home / ".ipython"),
               PYTHONUNBUFFERED="1")
    cmd = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
        f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}", "--ServerApp.allow_root=True",
        f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={workspaces}",
        "--LabApp.expose_app_in_browser=True",
    ]
    log = base / "server.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=root,
                                start_new_session=True)
    server = LabServer(f"http://127.0.0.1:{port}", token, root, out_dir, home, log, proc)
    try:
        deadline = time.monotonic() + 90
        while _get(f"{server.url}/api/status?token={token}") != 200:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("JupyterLab did not start:\n" + log.read_text()[-4000:],
                            pytrace=False)
            time.sleep(0.5)
        yield server
    finally:
        stop_server(server)


NB_STATE_JS = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.model) { return null; }
  const cells = panel.content.model.cells;
  const out = {n: cells.length, code: 0, done: 0, errors: []};
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i);
    if (c.type !== 'code') { continue; }
    out.code += 1;
    if (c.executionCount !== null && c.executionCount !== undefined) { out.done += 1; }
    for (const o of c.outputs.toJSON()) {
      if (o.output_type === 'error') { out.errors.push(o.ename + ': ' + o.evalue); }
    }
  }
  return out;
}"""


#: on failure: ask the kernel what the panel's controller holds (a diagnostic, not a check)
KERNEL_PROBE_JS = """async () => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const future = kernel.requestExecute({code:
    "print(panel.controller.params, panel.controller.status, panel.controller.error, "
    + "{k: w.value for k, w in panel.controls.items()})"});
  let text = '';
  future.onIOPub = (msg) => { if (msg.content.text) { text += msg.content.text; } };
  await future.done;
  return text;
}"""


def test_tour_runs_and_train_panel_works(lab_server: LabServer, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    chromium = ensure_chromium()
    t0 = time.monotonic()
    nb = nbformat.read(lab_server.root / TOUR, as_version=4)
    n_cells = len(nb.cells)
    n_code = sum(c.cell_type == "code" for c in nb.cells)
    expect.set_options(timeout=60_000)
    shot = tmp_path / "train_panel.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), headless=True,
                                    args=CHROMIUM_FLAGS,
                                    env={**os.environ, "HOME": str(lab_server.home)})
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            try:
                page.goto(f"{lab_server.url}/lab/tree/{TOUR}?reset&token={lab_server.token}")
                # the real notebook, not the one-cell placeholder, and a live kernel
                expect(page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")).to_have_count(
                    n_cells)
                expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible()
                page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
                page.wait_for_function(
                    f"() => {{ const s = ({NB_STATE_JS})(); return s && (s.errors.length > 0 "
                    f"|| s.done === {n_code}); }}", timeout=120_000)
                expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible()
                state: dict[str, Any] = page.evaluate(NB_STATE_JS)
                assert state["errors"] == [], state["errors"]
                assert state["done"] == n_code == state["code"]
                # the exported figure of the tour exists (the notebook ran at smoke scale)
                assert list(lab_server.out_dir.rglob("tour_training_curves.pdf"))

                panel = page.locator(".effdl-panel")
                expect(panel).to_have_count(1)
                expect(panel.locator(".jupyter-widgets.widget-button").first).to_be_visible()
                run = panel.locator(".widget-button", has_text="Run")
                expect(run).to_have_count(1)
                figure = panel.locator(".widget-output img")
                expect(figure).to_have_count(0)
                expect(panel.locator(".effdl-status")).to_have_text("idle")
                changed = panel.locator(".effdl-changed")
                expect(changed).to_have_count(0)  # controls show the parameters exactly
                panel.scroll_into_view_if_needed()
                run.click()
                expect(figure).to_have_count(1)
                expect(panel.locator(".effdl-status")).to_have_text("done")
                src_done = figure.get_attribute("src")
                assert src_done and src_done.startswith("data:image/png")
                expect(panel.locator(".effdl-error")).to_be_hidden()
                assert "test accuracy" in panel.inner_text()

                # a bad choice ends in the red error box, not in a traceback
                # (wait until the kernel has seen the new value: the panel names the changed
                # control; a click sent earlier could overtake the value update)
                panel.locator("select").first.select_option("co2")
                expect(changed).to_contain_text("dataset")
                run.click()
                expect(panel.locator(".effdl-error")).to_be_visible()
                expect(panel.locator(".effdl-error")).to_contain_text("'model'")
                panel.locator("select").first.select_option("digits")
                expect(changed).to_contain_text("dataset")
                run.click()
                expect(panel.locator(".effdl-status")).to_have_text("done")
                expect(panel.locator(".effdl-error")).to_be_hidden()

                # Export writes the three files where the tour's panel was told to
                panel.locator(".widget-button", has_text="Export").click()
                expect(panel).to_contain_text("panel_curve.svg")
                exported = sorted(p.name for p in lab_server.out_dir.rglob("panel_curve.*"))
                assert exported == ["panel_curve.pdf", "panel_curve.png", "panel_curve.svg"]

                panel.screenshot(path=str(shot))
                page.screenshot(path=str(tmp_path / "page.png"), full_page=False)
                assert page.evaluate(NB_STATE_JS)["errors"] == []
            except Exception:
                fail_shot = tmp_path / "failure.png"
                page.screenshot(path=str(fail_shot), full_page=True)
                print(f"\nfailure screenshot: {fail_shot}")
                with contextlib.suppress(Exception):
                    print("panel text:\n" + page.locator(".effdl-panel").inner_text(
                        timeout=2000))
                with contextlib.suppress(Exception):
                    print("kernel side:", page.evaluate(KERNEL_PROBE_JS))
                print("server log tail:\n" + lab_server.log.read_text()[-3000:])
                raise
        finally:
            browser.close()
    copy = lab_server.out_dir.parent / shot.name
    shutil.copy(shot, copy)
    print(f"\nscreenshot: {shot} (copy: {copy}); browser part took {time.monotonic() - t0:.1f} s")
    assert shot.stat().st_size > 10_000
