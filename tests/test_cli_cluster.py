"""The README's multi-machine recipe, run for real on loopback: a ``dask scheduler`` and a
``dask worker`` started from their command lines, PostgreSQL, and ``effdl reproduce``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy
from sqlalchemy.engine import make_url

from effdl_kit._core.storage import make_storage
from effdl_kit.cli import main
from effdl_kit.experiments.bttackler import BUDGETS, load_results

DASK = Path(sys.executable).with_name("dask")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dask scheduler exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"no dask scheduler on port {port} after {timeout_s} s")


@pytest.fixture
def dask_scheduler(tmp_path: Path) -> Iterator[str]:
    """``dask scheduler`` and one single-threaded ``dask worker``, as separate processes."""
    if not DASK.exists():
        pytest.importorskip("distributed")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    log = (tmp_path / "dask.log").open("wb")
    procs = [subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port",
                               str(port), "--no-dashboard"], stdout=log, stderr=log, env=env)]
    try:
        _wait_for_port(port, procs[0])
        procs.append(subprocess.Popen([str(DASK), "worker", address, "--nworkers", "1",
                                       "--nthreads", "1", "--no-dashboard"],
                                      stdout=log, stderr=log, env=env))
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(1, timeout=120)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()


@pytest.mark.slow
def test_reproduce_bttackler_on_a_dask_scheduler_and_postgresql(
        dask_scheduler: str, postgres_url: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["reproduce", "bttackler", "--scale", "smoke", "--seed", "2", "--out",
            str(tmp_path), "--scheduler", dask_scheduler, "--storage", postgres_url,
            "--study-prefix", "readme"]
    assert main(argv) == 0, capsys.readouterr().err
    payload = load_results(tmp_path / "bttackler")
    assert payload["engine"]["executor"] == "ClientExecutor"
    assert payload["engine"]["storage"] == postgres_url
    smoke = BUDGETS["smoke"]
    assert len(payload["runs"]) == len(smoke["methods"]) * len(smoke["variants"])
    storage = make_storage(postgres_url, heartbeat_interval=None)
    names = {s.study_name for s in optuna.get_all_study_summaries(storage)}
    for run in payload["runs"]:
        name = f"readme/cnn/{run['method']}/{run['variant']}/rep0"
        assert name in names
        study = optuna.load_study(study_name=name, storage=storage)
        assert [t.number for t in study.trials] == [t["number"] for t in run["trials"]]
        assert 1 <= len(run["trials"]) <= smoke["max_trials"] and not run["worker_errors"]
    assert not list(tmp_path.rglob("journal.log"))


def _connect(url: str) -> list[tuple[object, ...]]:
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sqlalchemy.text(
                "SELECT type, auth_method, address FROM pg_hba_file_rules"))]
    finally:
        engine.dispose()


def test_the_tests_postgresql_wants_a_password_and_listens_on_loopback(
        postgres_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """What the README recipe asks of a shared server, kept by the tests' own server too."""
    rules = _connect(postgres_server.url)  # the password from $PGPASSFILE
    assert rules and {method for _, method, _ in rules} == {"scram-sha-256"}
    assert {address for kind, _, address in rules if kind == "host"} <= {"127.0.0.1", "::1"}
    engine = sqlalchemy.create_engine(postgres_server.url)
    with engine.connect() as conn:
        assert conn.execute(sqlalchemy.text("SHOW listen_addresses")).scalar() == "127.0.0.1"
    engine.dispose()
    with_password = make_url(postgres_server.url).set(password=postgres_server.password)
    monkeypatch.delenv("PGPASSFILE")
    with pytest.raises(sqlalchemy.exc.OperationalError, match="password"):
        _connect(postgres_server.url)  # no password: refused
    assert _connect(with_password.render_as_string(hide_password=False))  # in the URL: in
    wrong = make_url(postgres_server.url).set(password="not-it").render_as_string(
        hide_password=False)
    with pytest.raises(sqlalchemy.exc.OperationalError, match="password authentication"):
        _connect(wrong)
    # the command line refuses it before any work, in one line, without the password
    assert main(["reproduce", "bttackler", "--scale", "smoke", "--out", str(tmp_path),
                 "--storage", wrong]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "password authentication failed" in err and "not-it" not in err
    assert not (tmp_path / "bttackler").exists()
