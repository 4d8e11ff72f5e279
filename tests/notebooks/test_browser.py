"""Real-browser test: JupyterLab + Chromium drive every panel as a user would.

One JupyterLab server (127.0.0.1, free port, random token, temporary HOME / settings /
workspaces) and one notebook for all panels (``panels.ipynb``, written by the fixture: every
panel at smoke scale with a budget that lasts a few seconds). For each panel the test types a
bad seed into its text box and sees the error beside that field (not in the panel-wide error
box), runs and stops it after the first progress (status "stopped", the partial-result
banner, at most one more epoch / trial after the stop, the partial result exports with a
provenance that says "stopped"), runs it to the end and exports (the file list, the files).
A long TrainPanel run shows that the kernel is not blocked (a cell runs and prints while the
panel runs) and that Kernel ▸ Interrupt stops it, the kernel staying usable.

Screenshots of each panel after its run go to ``$EFFDL_TEST_ARTIFACTS`` (default: a temporary
directory, printed); with ``EFFDL_GALLERY=docs/gallery`` small copies (and a few exported
figures) are written there for the README. Chromium is Debian's; the test fails, never skips,
when it cannot run.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from _browser import (
    CHROMIUM_FLAGS,
    LabServer,
    artifacts_dir,
    cell,
    ensure_chromium,
    gallery_dir,
    keep_image,
    kernel_eval,
    kernel_json,
    lab_server,
    open_notebook,
    run_all_cells,
    run_cell,
    small_png,
    write_notebook,
)

from effdl_kit.reports import read_provenance

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
PANELS_NB = "panels.ipynb"
#: Playwright's wait for any expected state (2 busy cores: generous)
EXPECT_MS = 60_000
#: a run to its end at smoke scale (a few seconds unloaded)
RUN_MS = 120_000

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Case:
    """One panel of the notebook and how the test drives it.

    Attributes
    ----------
    name : str
        The panel's variable in the notebook (and its CSS hook ``effdl-test-<name>``).
    make : str
        The expression that builds it (``OUT`` is the export folder).
    bad : tuple of (str, str)
        A NumberEntry and a typed value outside its limits (an error beside it at once).
    count : str
        What counts the finished units in the kernel (``c`` is the controller).
    span : int
        How far that count may move after a stop: 1 when it counts epochs / trials / calls.
    partial : bool or None
        A run stopped after its first progress leaves a partial result to show and export
        (False: the panel says there is nothing to show, and Export says why, beside it;
        None: either, depending on the step the stop lands in).
    start : str
        The button that starts the run that is stopped.
    figure : bool
        Its exported PNG goes to the gallery too.
    warm : str
        A statement the panel's cell runs after building it (work a user may do up front).
    extra : tuple of str
        Files Export writes besides the figure, as suffixes of the stem (``_x.json``), for a
        stopped run and (with ``extra_done``) a finished one.
    """

    name: str
    make: str
    bad: tuple[str, str]
    count: str = "c.last_progress.done if c.last_progress else 0"
    span: int = 1
    partial: bool | None = True
    start: str = "Run"
    figure: bool = False
    warm: str = ""
    extra: tuple[str, ...] = ()
    extra_done: tuple[str, ...] = ()

    @property
    def stem(self) -> str:
        return f"panel_{self.name}"


CASES: tuple[Case, ...] = (
    Case("train", 'TrainPanel(scale="smoke", epochs=8, export_stem=str(OUT / "panel_train"))',
         bad=("epochs", "0")),
    # progress counts epoch slots: a trial stopped early counts all its 4 epochs
    Case("diagnosis", 'DiagnosisPanel(scale="smoke", n_trials=6, '
         'export_stem=str(OUT / "panel_diagnosis"))', bad=("n_trials", "0"), span=4,
         figure=True),
    Case("search", 'SearchPanel(scale="smoke", dataset="kit", n_iter=20, n_seeds=1, '
         'baselines=("random",), export_stem=str(OUT / "panel_search"))',
         bad=("omega", "5"), count="len(c.live)", figure=True),
    # the kit's component data (the authors' needs EFFDL_RESEARCH_DATA): always there
    # (100 trees: each of its two steps lasts a few seconds, so Stop lands inside the run)
    Case("predictor", 'PredictorPanel(scale="smoke", dataset="kit", n_trees=100, '
         'export_stem=str(OUT / "panel_predictor"))', bad=("n_splits", "1")),
    # the stopped run is a Measure now that times the LSTM ~1200 times (seconds): a stop
    # while the models are fitted leaves nothing to show, one while timing the prediction;
    # its progress goes 5 -> 7 (the prediction step is not reported), hence span 2
    Case("latency", 'LatencyPanel(scale="smoke", module_type="lstm", seq_len=128, '
         'input_size=256, hidden_size=256, repeats=1200, '
         'export_stem=str(OUT / "panel_latency"))', bad=("repeats", "0"), partial=None,
         start="Measure now", span=2),
    # a sweep stops after the current training run
    Case("speedup", 'SpeedupPanel(scale="smoke", export_stem=str(OUT / "panel_speedup"))',
         bad=("n_seeds", "50"), figure=True),
    # the predictor and latency models are fitted when the cell runs (the panel's cache, as
    # a user who moves only the budget has it), so Run is the search (150 predictor calls,
    # a few seconds: Stop lands there or in the one training after it; either leaves a
    # partial result) and one training; a budget of 0 is the library's error, beside it
    Case("recommend", 'RecommendPanel(scale="smoke", n_iter=150, trainings=1, '
         'export_stem=str(OUT / "panel_recommend"))', bad=("trainings", "-1"), figure=True,
         warm="recommend.controller.parts()", extra=("_recommendation.json",),
         extra_done=("_recommendation.json", "_confirmation.json")),
)

SETUP = '''\
%load_ext effdl_kit
from pathlib import Path

from effdl_kit.widgets import (DiagnosisPanel, LatencyPanel, PredictorPanel, RecommendPanel,
                               SearchPanel, SpeedupPanel, TrainPanel)

OUT = Path({out!r})


def tagged(panel, name, count=lambda c: c.last_progress.done if c.last_progress else 0):
    """CSS hooks for the browser test (the panel, each control, each error line) and a log
    of the controller's events as [kind, units done, stop reason]; nothing else changes."""
    panel.widget.add_class(f"effdl-test-{{name}}")
    for key, w in panel.controls.items():
        w.add_class(f"effdl-test-control-{{key}}")
    for key, box in panel.field_errors.items():
        box.add_class(f"effdl-test-error-{{key}}")
    c = panel.controller
    panel.test_log = []
    c.on_change(lambda e: panel.test_log.append(
        [e.kind, count(c), str(e.data) if e.kind == "stopping" else ""]))
    return panel
'''
LONG_TRAIN = ('tagged(TrainPanel(scale="smoke", epochs=300, '
              'export_stem=str(OUT / "panel_train_long")), "train_long")')
SHOW_AGAIN = ("if globals().get('SHOW_AGAIN'):\n    for _p in ("
              + ", ".join(c.name for c in CASES) + "):\n        display(_p)")
PROBE = ('PROBE = globals().get("PROBE", 0) + 1\n'
         'print(f"probe {PROBE}: 1+1 = {1 + 1}")')


def notebook_cells(out: Path) -> list[str]:
    """The panels notebook: setup, one cell per panel, the long run, the probe cell, a cell
    that shows the panels again (when ``SHOW_AGAIN`` is set)."""
    cells = [SETUP.format(out=str(out))]
    cells += [f'{c.name} = tagged({c.make}, "{c.name}", lambda c: {c.count})\n'
              + (f"{c.warm}\n" if c.warm else "") + c.name for c in CASES]
    cells += [f"train_long = {LONG_TRAIN}\ntrain_long", PROBE, SHOW_AGAIN]
    return cells


# ---------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def artifacts() -> Path:
    path = artifacts_dir()
    print(f"\nbrowser test artifacts: {path}")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    with lab_server(tmp_path_factory.mktemp("lab"), NOTEBOOKS) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser(server: LabServer) -> Iterator[Browser]:
    from playwright.sync_api import expect, sync_playwright

    chromium = ensure_chromium()
    expect.set_options(timeout=EXPECT_MS)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(chromium), headless=True,
                              args=CHROMIUM_FLAGS, env={"HOME": str(server.home)})
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def page(browser: Browser, server: LabServer, artifacts: Path) -> Iterator[Page]:
    """The panels notebook, all cells run, every panel idle."""
    n = write_notebook(server.root / PANELS_NB, notebook_cells(server.out_dir))
    pg = browser.new_page(viewport={"width": 1400, "height": 2200})
    try:
        with diagnostics(pg, server, artifacts, "setup"):
            open_notebook(pg, server, PANELS_NB, n)
            state = run_all_cells(pg, n, timeout_ms=240_000)
            assert state["errors"] == [], state["errors"]
            assert state["done"] == n == state["code"]
        yield pg
    finally:
        pg.close()


@contextlib.contextmanager
def diagnostics(page: Page, server: LabServer, artifacts: Path, name: str,
                panel: str | None = None) -> Iterator[None]:
    """On failure: a full-page screenshot, the panel's text, its controller's state."""
    try:
        yield
    except BaseException:
        shot = artifacts / f"failure_{name}.png"
        with contextlib.suppress(Exception):
            page.screenshot(path=str(shot), full_page=True)
            print(f"\nfailure screenshot: {shot}")
        if panel is not None:
            with contextlib.suppress(Exception):
                print("panel text:\n" + page.locator(f".effdl-test-{panel}").inner_text(
                    timeout=2000))
            with contextlib.suppress(Exception):
                print("kernel side:", kernel_json(
                    page, f"[{panel}.controller.status, {panel}.controller.error, "
                          f"str({panel}.controller.params), {panel}.test_log[-12:]]"))
        print("server log tail:\n" + server.log_tail())
        raise


# ---------------------------------------------------------------------- what a user sees

def panel_of(page: Page, name: str) -> Locator:
    return page.locator(f".effdl-test-{name}")


def status(panel: Locator) -> Locator:
    return panel.locator(".effdl-status").first


def panel_error(panel: Locator) -> Locator:
    """The panel-wide error box (a direct child of the panel, not a nested view's)."""
    return panel.locator(":scope > .effdl-error")


def button(panel: Locator, text: str) -> Locator:
    return panel.locator(".widget-button", has_text=re.compile(rf"^\s*{text}\s*$")).first


def progress_moved(panel: Locator) -> None:
    """Wait until the progress bar shows a finished unit (its width above 0 %)."""
    from playwright.sync_api import expect

    bar = panel.locator(".widget-hprogress .progress-bar").first
    expect(bar).to_have_attribute("style", re.compile(r"width:\s*(?!0(\.0+)?%)[0-9.]+%"))


def type_number(panel: Locator, key: str, text: str) -> None:
    """Type ``text`` into the text box of the NumberEntry ``key`` and press Enter."""
    box = panel.locator(f".effdl-test-control-{key} input[type='text']").first
    box.fill(text)
    box.press("Enter")


def check_beside(field: Locator, error: Locator) -> None:
    """The error line sits right under its field (within 40 px), overlapping it sideways."""
    f, e = field.bounding_box(), error.bounding_box()
    assert f is not None and e is not None
    gap = e["y"] - (f["y"] + f["height"])
    assert -2 <= gap <= 40, f"error line {gap:.0f} px from its field"
    assert e["x"] < f["x"] + f["width"] and f["x"] < e["x"] + e["width"]


def stop_log(page: Page, name: str) -> tuple[int, int, str]:
    """From the kernel: units done when the stop was asked, when the run ended, the reason."""
    log: list[list[Any]] = kernel_json(page, f"{name}.test_log")
    stops = [i for i, (kind, _d, _r) in enumerate(log) if kind == "stopping"]
    assert stops, f"no stop was asked: {log[-10:]}"
    i = stops[-1]
    ended = [d for kind, d, _r in log[i:] if kind == "status"]
    assert ended, f"the run did not end after the stop: {log[i:]}"
    return int(log[i][1]), int(ended[-1]), str(log[i][2])


def export_files(server: LabServer, panel: Locator, stem: str,
                 extra: tuple[str, ...] = ()) -> list[Path]:
    """Click Export; the file list names the files, which exist; the figure files (the
    ``extra`` ones, ``stem + suffix``, listed and written too)."""
    from playwright.sync_api import expect

    for suffix in extra:  # an earlier export's files must not pass for this one's
        (server.out_dir / f"{stem}{suffix}").unlink(missing_ok=True)
    button(panel, "Export").click()
    expect(panel).to_contain_text(f"{stem}.svg")
    for ext in ("pdf", "png"):
        expect(panel).to_contain_text(f"{stem}.{ext}")
    files = sorted(server.out_dir.glob(f"{stem}.*"))
    assert [p.name for p in files] == [f"{stem}.{e}" for e in ("pdf", "png", "svg")]
    assert all(p.stat().st_size > 1000 for p in files)
    for suffix in extra:
        expect(panel).to_contain_text(f"{stem}{suffix}")
        assert (server.out_dir / f"{stem}{suffix}").stat().st_size > 100
    return files


# ---------------------------------------------------------------------- tests

@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_panel_in_the_browser(page: Page, server: LabServer, artifacts: Path,
                              case: Case) -> None:
    from playwright.sync_api import expect

    t0 = time.monotonic()
    panel = panel_of(page, case.name)
    with diagnostics(page, server, artifacts, case.name, case.name):
        expect(panel).to_have_count(1)
        panel.scroll_into_view_if_needed()
        expect(status(panel)).to_have_text("idle")
        expect(panel.locator(".effdl-changed")).to_have_count(0)

        # a typed value outside the field's limits: an error beside it at once, and Run
        # refuses with the message there (never in the panel-wide box)
        key, text = case.bad
        field_error = panel.locator(f".effdl-test-error-{key}")
        entry = panel.locator(f".effdl-test-control-{key} input[type='text']").first
        good = entry.input_value()
        type_number(panel, key, text)
        expect(field_error).to_be_visible()
        button(panel, "Run").click()
        expect(status(panel)).to_contain_text(f"error: see the message at '{key}'")
        expect(field_error).to_be_visible()
        expect(panel_error(panel)).to_be_hidden()
        check_beside(panel.locator(f".effdl-test-control-{key}"), field_error)
        type_number(panel, key, good)
        expect(field_error).to_be_hidden()

        # a bad seed reaches the library's check: its error sits beside the seed field
        seed_error = panel.locator(".effdl-test-error-seed")
        type_number(panel, "seed", "-5")
        expect(panel.locator(".effdl-changed")).to_contain_text("seed")
        button(panel, "Run").click()
        expect(status(panel)).to_contain_text("error: see the message at 'seed'")
        expect(seed_error).to_be_visible()
        expect(seed_error).to_contain_text("seed")
        expect(panel_error(panel)).to_be_hidden()
        check_beside(panel.locator(".effdl-test-control-seed"), seed_error)
        type_number(panel, "seed", "0")
        expect(panel.locator(".effdl-changed")).to_contain_text("seed")

        # Run, then Stop after the first progress: stopped, partial result, within one unit
        button(panel, case.start).click()
        expect(status(panel)).to_contain_text("running")
        expect(seed_error).to_be_hidden()
        progress_moved(panel)
        button(panel, "Stop").click()
        expect(status(panel)).to_contain_text("stopped (Stop button)")
        asked, ended, reason = stop_log(page, case.name)
        assert reason == "Stop button"
        assert ended - asked <= case.span, (
            f"{ended - asked} units finished after the stop (allowed {case.span})")
        banner = panel.locator(".effdl-banner")
        partial = case.partial
        if partial is None:
            expect(status(panel)).to_contain_text(re.compile("partial result|nothing to show"))
            partial = banner.count() > 0
        if partial:
            # the partial result is shown, exports, and says it was stopped
            expect(banner).to_contain_text("partial result")
            files = export_files(server, panel, case.stem, case.extra)
            prov = read_provenance(files[1])
            assert prov["run_status"] == "stopped", prov
            assert prov["stopped"]["reason"] == "Stop button"
        else:
            expect(status(panel)).to_contain_text("nothing to show")
            button(panel, "Export").click()
            export_error = panel.locator(".effdl-test-error-export")
            expect(export_error).to_contain_text("nothing to export")
            expect(panel_error(panel)).to_be_hidden()

        # Run to the end: done, a figure, no error; Export writes the three files
        button(panel, "Run").click()
        expect(status(panel)).to_have_text("done", timeout=RUN_MS)
        expect(panel.locator(".jupyter-matplotlib, .widget-output img").first).to_be_visible()
        # one figure on screen: the live redraws replaced each other, none left beside
        expect(panel.locator(".jupyter-matplotlib-canvas-div:visible")).to_have_count(1)
        expect(panel_error(panel)).to_be_hidden()
        expect(panel.locator(".effdl-field-error:visible")).to_have_count(0)
        expect(panel.locator(".effdl-banner")).to_have_count(0)
        files = export_files(server, panel, case.stem, case.extra_done)
        assert read_provenance(files[1])["run_status"] == "done"
        shot = keep_image(panel.screenshot(), f"panel_{case.name}.png", artifacts,
                          gallery=False)
        gallery = gallery_dir()
        if case.figure and gallery is not None:
            (gallery / f"figure_{case.name}.png").write_bytes(small_png(files[1].read_bytes()))
    assert shot.stat().st_size > 10_000
    print(f"\n{case.name}: {time.monotonic() - t0:.1f} s; screenshot {shot}")


def test_kernel_not_blocked_and_interrupt_stops_a_run(page: Page, server: LabServer,
                                                       artifacts: Path) -> None:
    """A cell runs while a panel runs; Kernel ▸ Interrupt stops the run within one epoch;
    the kernel then runs cells again."""
    from playwright.sync_api import expect

    panel = panel_of(page, "train_long")
    probe_index = len(CASES) + 2
    probe_out = cell(page, probe_index).locator(".jp-OutputArea-output")
    with diagnostics(page, server, artifacts, "interrupt", "train_long"):
        panel.scroll_into_view_if_needed()
        expect(status(panel)).to_have_text("idle")
        button(panel, "Run").click()
        expect(status(panel)).to_contain_text("running")
        progress_moved(panel)
        # the kernel is not blocked: another cell runs and prints before the run ends
        run_cell(page, probe_index)
        expect(probe_out).to_contain_text("probe 2: 1+1 = 2")  # probe 1: when all cells ran
        expect(status(panel)).to_contain_text("running")
        # Kernel > Interrupt Kernel, from the menu
        page.locator(".lm-MenuBar-item", has_text="Kernel").click()
        page.locator(".lm-Menu-item", has_text="Interrupt Kernel").first.click()
        expect(status(panel)).to_contain_text("stopped (kernel interrupt)")
        expect(panel.locator(".effdl-banner")).to_contain_text("partial result")
        asked, ended, reason = stop_log(page, "train_long")
        assert reason == "kernel interrupt"
        assert ended - asked <= 1, f"{ended - asked} epochs finished after the interrupt"
        assert ended < 300
        # the kernel stays usable
        run_cell(page, probe_index)
        expect(probe_out).to_contain_text("probe 3: 1+1 = 2")
        keep_image(panel.screenshot(), "panel_train_interrupted.png", artifacts, gallery=False)


def test_panels_shown_again_hold_their_last_state(page: Page, server: LabServer,
                                                 artifacts: Path) -> None:
    """Each panel displayed again in a new output (new views of its widgets, as a reopened
    notebook would draw them) shows its last state (the status of its first view; after a
    finished run: one figure, no error). These are the screenshots the README gallery uses."""
    from playwright.sync_api import expect

    index = len(notebook_cells(server.out_dir)) - 1
    with diagnostics(page, server, artifacts, "shown_again"):
        kernel_eval(page, "SHOW_AGAIN = True")
        run_cell(page, index)
        for case in CASES:
            panel = cell(page, index).locator(f".effdl-test-{case.name}")
            expect(panel).to_have_count(1)
            panel.scroll_into_view_if_needed()
            last = status(panel_of(page, case.name).first).inner_text()
            expect(status(panel)).to_have_text(last)
            if last != "done":  # its test did not run (a -k selection)
                continue
            expect(panel_error(panel)).to_be_hidden()
            expect(panel.locator(".jupyter-matplotlib-canvas-div:visible")).to_have_count(1)
            data = panel.screenshot()
            keep_image(data, f"panel_{case.name}_shown_again.png", artifacts, gallery=False)
            gallery = gallery_dir()
            if gallery is not None:
                (gallery / f"panel_{case.name}.png").write_bytes(small_png(data, max_width=800))
