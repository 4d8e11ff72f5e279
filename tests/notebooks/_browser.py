"""Shared pieces of the real-browser tests: JupyterLab server, Chromium, notebook helpers,
artifacts and gallery images.

The server runs on 127.0.0.1 (free port, random token) with a temporary HOME, settings and
workspaces; its process group (kernels included) is always ended. Chromium is Debian's
(installed with apt when missing and running as root): the browser test fails, never skips,
when it cannot run. Notes on the flags and waits that work on these machines:
``shared/notes/browser-test.md``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
]
#: what a notebook needs so JupyterLab never opens a "Select Kernel" dialog
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
IDLE_TEXT = "Python 3 (ipykernel) | Idle"
#: gallery images stay small enough for a README (bytes)
GALLERY_MAX_BYTES = 150_000


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

    def log_tail(self, n: int = 3000) -> str:
        """The last ``n`` characters of the server's log."""
        return self.log.read_text(errors="replace")[-n:]


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
    """A TCP port free on 127.0.0.1 right now."""
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
                cell.source = f'SCALE = "smoke"\nSEED = 0\nOUT_DIR = {str(out_dir)!r}\n'
        nbformat.write(nb, path)


def write_notebook(path: Path, cells: Sequence[str]) -> int:
    """Write a notebook of code cells (with a kernelspec); the number of cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nbformat.write(nb, path)
    return len(nb.cells)


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


@contextlib.contextmanager
def lab_server(base: Path, notebooks: Path) -> Iterator[LabServer]:
    """Start JupyterLab over a smoke-scale copy of ``notebooks`` in ``base``; stop it after.

    The copy's parameters cells write into ``base / "out"`` (:attr:`LabServer.out_dir`).
    """
    home, settings, workspaces = base / "home", base / "settings", base / "workspaces"
    root, out_dir = base / "root", base / "out"
    for d in (home, settings, workspaces, out_dir):
        d.mkdir(parents=True)
    smoke_copy(notebooks, root, out_dir)
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
                pytest.fail("JupyterLab did not start:\n" + server.log_tail(4000),
                            pytrace=False)
            time.sleep(0.5)
        yield server
    finally:
        stop_server(server)


# ---------------------------------------------------------------------- notebook in the page

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

#: run ``code`` in the notebook's kernel (not as a cell): its stdout and any error
KERNEL_EVAL_JS = """async (code) => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const future = kernel.requestExecute({code: code, silent: false, store_history: false});
  let text = ''; let error = '';
  future.onIOPub = (msg) => {
    const c = msg.content;
    if (c.text) { text += c.text; }
    if (c.ename) { error = c.ename + ': ' + c.evalue; }
  };
  await future.done;
  return {text: text, error: error};
}"""

#: make cell ``i`` the active one and run it (returns at once; the cell runs in the kernel)
RUN_CELL_JS = """(i) => {
  const panel = window.jupyterapp.shell.currentWidget;
  panel.content.activeCellIndex = i;
  window.jupyterapp.commands.execute('notebook:run-cell');
  return true;
}"""


def open_notebook(page: Page, server: LabServer, name: str, n_cells: int) -> None:
    """Open ``name`` with a fresh layout and wait for its real cells and an idle kernel."""
    from playwright.sync_api import expect

    page.goto(f"{server.url}/lab/tree/{name}?reset&token={server.token}")
    # the real notebook, not the one-cell placeholder, and a live kernel
    expect(page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")).to_have_count(n_cells)
    expect(page.get_by_text(IDLE_TEXT)).to_be_visible()


def run_all_cells(page: Page, n_code: int, timeout_ms: float = 120_000) -> dict[str, Any]:
    """Run every cell; wait until all ran (or one failed); the notebook's state."""
    from playwright.sync_api import expect

    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(
        f"() => {{ const s = ({NB_STATE_JS})(); return s && (s.errors.length > 0 "
        f"|| s.done === {n_code}); }}", timeout=timeout_ms)
    expect(page.get_by_text(IDLE_TEXT)).to_be_visible()
    state: dict[str, Any] = page.evaluate(NB_STATE_JS)
    return state


def run_cell(page: Page, index: int) -> None:
    """Run cell ``index`` as a user would (select it, Shift+Enter without moving on)."""
    page.evaluate(RUN_CELL_JS, index)


def cell(page: Page, index: int) -> Locator:
    """The ``index``-th cell of the notebook shown."""
    return page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").nth(index)


def kernel_eval(page: Page, code: str) -> str:
    """Run ``code`` in the notebook's kernel (outside the cells) and return its stdout.

    Raises
    ------
    AssertionError
        The code raised in the kernel.
    """
    out: dict[str, str] = page.evaluate(KERNEL_EVAL_JS, code)
    assert not out["error"], f"kernel: {out['error']} (running {code!r})"
    return out["text"]


def kernel_json(page: Page, expr: str) -> Any:
    """The kernel's value of ``expr``, through ``json.dumps``."""
    return json.loads(kernel_eval(page, f"import json as _j; print(_j.dumps({expr}))"))


# ---------------------------------------------------------------------- artifacts and gallery

def artifacts_dir() -> Path:
    """Where screenshots go: ``$EFFDL_TEST_ARTIFACTS`` (created), else a new temporary dir."""
    given = os.environ.get("EFFDL_TEST_ARTIFACTS", "").strip()
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return Path(tempfile.mkdtemp(prefix="effdl-browser-"))


def gallery_dir() -> Path | None:
    """``$EFFDL_GALLERY`` (created) when set: where README gallery images are written."""
    given = os.environ.get("EFFDL_GALLERY", "").strip()
    if not given:
        return None
    path = Path(given)
    path.mkdir(parents=True, exist_ok=True)
    return path


def small_png(data: bytes, max_width: int = 900, max_bytes: int = GALLERY_MAX_BYTES) -> bytes:
    """``data`` (a PNG) scaled down to ``max_width`` px and, when still larger than
    ``max_bytes``, to a 256-colour palette and then to smaller widths until it fits."""
    from PIL import Image

    img = Image.open(io.BytesIO(data)).convert("RGB")
    width = min(max_width, img.width)
    while True:
        scaled = img if width == img.width else img.resize(
            (width, max(1, round(img.height * width / img.width))), Image.Resampling.LANCZOS)
        for candidate in (scaled, scaled.quantize(colors=256, dither=Image.Dither.NONE)):
            buf = io.BytesIO()
            candidate.save(buf, format="PNG", optimize=True)
            if buf.tell() <= max_bytes:
                return buf.getvalue()
        if width <= 200:
            return buf.getvalue()
        width = int(width * 0.85)


def keep_image(data: bytes, name: str, artifacts: Path, *, gallery: bool = True) -> Path:
    """Write a screenshot to ``artifacts`` and, with ``$EFFDL_GALLERY`` (and ``gallery``), a
    small copy there.

    Returns
    -------
    Path
        The artifact written.
    """
    path = artifacts / name
    path.write_bytes(data)
    folder = gallery_dir() if gallery else None
    if folder is not None:
        (folder / name).write_bytes(small_png(data))
    return path
