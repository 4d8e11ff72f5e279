"""A killed builder leaves no pool workers behind, and its resumed build loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from effdl_kit._core.jsonl import JsonlDataset
from effdl_kit._core.pool import kill_workers, process_pool

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

ROWFN = """
import os, time

def row(i, delay):
    time.sleep(delay)
    return {"index": i, "status": "ok", "pid": os.getpid()}
"""

BUILD = """
import sys
sys.path.insert(0, sys.argv[1])
import rowfn
from effdl_kit._core.jsonl import JsonlDataset

path, n, delay = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
ds = JsonlDataset(path, fmt="test/1", kind="test dataset", statuses=("ok",))
state = ds.resume({"n": n})
done = {r["index"] for r in state.rows}
ds.build_rows(rowfn.row, [(i, delay) for i in range(n) if i not in done], max_workers=2)
ds.release()  # (a real builder writes its provenance, which also releases)
print("built", flush=True)
"""


def _scripts(tmp_path: Path) -> Path:
    (tmp_path / "rowfn.py").write_text(ROWFN)
    script = tmp_path / "build.py"
    script.write_text(textwrap.dedent(BUILD))
    return script


def _start(tmp_path: Path, path: Path, n: int, delay: float) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(_scripts(tmp_path)), str(tmp_path), str(path),
                             str(n), str(delay)], text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _rows(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()[1:] if line.endswith("}")]


def _gone(pids: list[int], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:  # an orphan killed in a container whose pid 1 does not reap stays a zombie
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not alive:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGINT])
def test_a_killed_builder_leaves_no_workers_and_resumes_without_loss(tmp_path: Path,
                                                                     sig: signal.Signals) -> None:
    path = tmp_path / "d.jsonl"
    proc = _start(tmp_path, path, n=60, delay=0.2)
    deadline = time.monotonic() + 20
    while len(_rows(path)) < 4 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    workers = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    assert len(workers) == 2
    proc.send_signal(sig)
    proc.wait(timeout=10)
    # SIGTERM: SystemExit(143), so cleanup runs; SIGINT: KeyboardInterrupt, which Python
    # turns into a death by SIGINT at exit
    assert proc.returncode == {signal.SIGTERM: 143, signal.SIGKILL: -9, signal.SIGINT: -2}[sig]
    assert _gone(workers, within_s=3.0), "pool workers outlived their builder"
    before = path.read_bytes()
    kept = before[: before.rfind(b"\n") + 1]
    n_before = len(_rows(path))
    assert 4 <= n_before < 60
    assert not Path(str(path) + ".lock").exists() or sig == signal.SIGKILL

    again = _start(tmp_path, path, n=60, delay=0.0)  # the lock of a killed build is free
    out, err = again.communicate(timeout=30)
    assert again.returncode == 0 and "built" in out, err
    after = path.read_bytes()
    assert after.startswith(kept), "a finished row was lost or rewritten"
    indices = [r["index"] for r in _rows(path)]
    assert sorted(indices) == list(range(60)), "every row exactly once"
    assert not Path(str(path) + ".lock").exists()


def test_the_signal_handlers_are_restored_and_the_pool_works(tmp_path: Path) -> None:
    before = (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))
    with process_pool(1) as pool:
        assert signal.getsignal(signal.SIGTERM) is not before[0]
        assert pool.submit(pow, 2, 10).result(timeout=30) == 1024
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_workers_do_not_inherit_the_owners_pool_handlers() -> None:
    before = (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))
    with process_pool(1) as pool:
        in_worker = (pool.submit(signal.getsignal, signal.SIGTERM).result(timeout=30),
                     pool.submit(signal.getsignal, signal.SIGINT).result(timeout=30))
    assert in_worker == before


def test_an_exception_kills_the_workers_at_once() -> None:
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="boom"), process_pool(2) as pool:
        futs = [pool.submit(time.sleep, 30) for _ in range(2)]
        time.sleep(0.5)  # both workers are busy sleeping
        pids = list(pool._processes)
        assert len(pids) == 2 and not any(f.done() for f in futs)
        raise RuntimeError("boom")
    assert time.monotonic() - t0 < 10, "it waited for the running calls"
    assert _gone(pids, within_s=2.0)


def test_kill_workers_on_a_pool_without_processes_is_a_no_op() -> None:
    with process_pool(1) as pool:
        kill_workers(pool)  # none started yet


def test_a_row_error_releases_the_lock_and_keeps_the_rows(tmp_path: Path) -> None:
    ds = JsonlDataset(tmp_path / "d.jsonl", fmt="t/1", kind="test dataset", statuses=("ok",))
    ds.resume({})

    def row(i: int) -> dict[str, object]:
        if i == 3:
            raise ValueError("row 3 failed")
        return {"index": i, "status": "ok"}

    with ThreadPoolExecutor(1) as ex, pytest.raises(ValueError, match="row 3"):
        ds.build_rows(row, [(i,) for i in range(5)], executor=ex)
    assert not Path(str(ds.path) + ".lock").exists()
    other = JsonlDataset(ds.path, fmt="t/1", kind="test dataset", statuses=("ok",))
    # rows are appended as they finish (as_completed order): those handed over before the
    # failed row's exception are kept, once each; the failed row is not
    kept = [r["index"] for r in other.resume({}).rows]
    assert len(kept) == len(set(kept)) and set(kept) <= {0, 1, 2, 4} and 3 not in kept
    other.release()
    assert os.path.getsize(ds.path) > 0
