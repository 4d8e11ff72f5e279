"""Kit studies open in optuna-dashboard and in jupyterlab-optuna, read back over HTTP.

Each test writes a small study with the kit's own study runner
(:func:`effdl_kit._core.storage.run_study`: the trial step every kit study uses, which records
``t_start``/``t_end``/``fail_reason``/``traceback``) whose objective also writes the
BTTackler user attributes, starts the real server on loopback, reads the study list and the
trials through the dashboard's JSON API (``/api/studies``, ``/api/studies/<id>``) and checks
values and user attributes against the storage; the server is always stopped.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import optuna
import pytest

from effdl_kit._core.storage import make_storage, run_study
from effdl_kit.diagnosis import ATTR_DIAGNOSIS, ATTR_LOSSES
from effdl_kit.errors import ConfigError
from effdl_kit.search import dashboard_command, dashboard_server, free_port, load_kit_study

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _objective(trial: optuna.Trial) -> float:
    """Writes the kit's user attributes (as BTTackler runs do); trial 2 raises."""
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    opt = trial.suggest_categorical("optimizer", ["sgd", "adam", None])
    trial.set_user_attr("worker", 0)
    trial.set_user_attr("outcome", "bttackler" if trial.number == 1 else "complete")
    trial.set_user_attr(ATTR_LOSSES, [2.3, None, 1.7])  # null: a non-finite loss
    if trial.number == 1:
        trial.set_user_attr(ATTR_DIAGNOSIS, {"epoch": 2, "indicators": ["EG"],
                                             "values": {"EG": None}, "reason": "EG"})
    if trial.number == 2:
        raise RuntimeError("diverged")
    return lr * (2.0 if opt == "sgd" else 1.0)


def _write_study(storage: str | Path, name: str) -> None:
    run = run_study(name, _objective, storage=storage, n_trials=4, seed=0,
                    storage_kwargs={"heartbeat_interval": None})
    assert (run.n_complete, run.n_failed) == (3, 1)
    study = optuna.load_study(study_name=name, storage=make_storage(
        storage, heartbeat_interval=None))
    study.set_user_attr("spec", {"task": "cnn_digits", "seed": 0})
    study.set_user_attr("worker_errors", ["round 0, worker 1: exit code 1"])


def _get(url: str, headers: dict[str, str] | None = None) -> Any:
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


def _dashboard_value(value: Any) -> str:
    """How optuna-dashboard shows a user attribute (strings and numbers as text, other
    values as JSON)."""
    return value if isinstance(value, str) else (
        str(value) if isinstance(value, int | float) else json.dumps(value))


def _check_api(base: str, storage: Any, name: str,
               headers: dict[str, str] | None = None) -> None:
    """The dashboard at ``base`` lists study ``name`` and returns its trials as stored."""
    summaries = _get(f"{base}/api/studies", headers)["study_summaries"]
    [summary] = [s for s in summaries if s["study_name"] == name]
    assert summary["directions"] == ["minimize"]
    study_attrs = {a["key"]: a["value"] for a in summary["user_attrs"]}
    assert json.loads(study_attrs["spec"]) == {"task": "cnn_digits", "seed": 0}
    assert json.loads(study_attrs["worker_errors"]) == ["round 0, worker 1: exit code 1"]
    detail = _get(f"{base}/api/studies/{summary['study_id']}", headers)
    stored = {t.number: t for t in load_kit_study(storage, name).trials}
    assert sorted(t["number"] for t in detail["trials"]) == sorted(stored)
    for t in detail["trials"]:
        want = stored[t["number"]]
        assert t["state"].upper() == want.state.name
        assert t.get("values") == ([want.value] if want.value is not None else None)
        params = {p["name"]: p["param_external_value"] for p in t["params"]}
        assert params == {k: str(v) for k, v in want.params.items()}
        attrs = {a["key"]: a["value"] for a in t["user_attrs"]}
        assert attrs == {k: _dashboard_value(v) for k, v in want.user_attrs.items()}
        # readable back into what the kit wrote
        assert float(attrs["t_end"]) - float(attrs["t_start"]) >= 0
        assert json.loads(attrs[ATTR_LOSSES]) == [2.3, None, 1.7]
        if t["number"] == 1:
            assert json.loads(attrs[ATTR_DIAGNOSIS])["indicators"] == ["EG"]
    [failed] = [t for t in detail["trials"] if t["state"] == "Fail"]
    fail_attrs = {a["key"]: a["value"] for a in failed["user_attrs"]}
    assert fail_attrs["fail_reason"] == "RuntimeError: diverged"
    assert "RuntimeError" in fail_attrs["traceback"]


def _refused(url: str) -> bool:
    try:
        urllib.request.urlopen(url + "/api/meta", timeout=2)
    except (urllib.error.URLError, OSError):
        return True
    return False


def test_dashboard_reads_a_kit_journal_study(tmp_path: Path) -> None:
    journal = tmp_path / "journal.log"
    _write_study(journal, "kit-journal")
    with dashboard_server(journal, timeout_s=30) as url:
        assert url.startswith("http://127.0.0.1:")
        _check_api(url, journal, "kit-journal")
    assert _refused(url)  # stopped with the block


def test_dashboard_reads_a_kit_postgresql_study(postgres_url: str) -> None:
    """In a thread: optuna-dashboard's WSGI app opens the URL as its command does
    (``optuna_dashboard.wsgi(url)``), without a second start-up of Optuna."""
    name = f"kit-pg-{secrets.token_hex(4)}"
    _write_study(postgres_url, name)
    with dashboard_server(postgres_url, mode="thread") as url:  # password from $PGPASSFILE
        _check_api(url, postgres_url, name)
    assert _refused(url)


def test_dashboard_thread_serves_an_in_memory_study() -> None:
    """A panel's in-memory study, served as a storage object."""
    study = optuna.create_study(direction="maximize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    with dashboard_server(study._storage, mode="thread") as url:
        [summary] = _get(f"{url}/api/studies")["study_summaries"]
        detail = _get(f"{url}/api/studies/{summary['study_id']}")
        assert [t["values"] for t in detail["trials"]] == [[t.value] for t in study.trials]
    assert _refused(url)
    with pytest.raises(ConfigError, match="cannot be passed to another process"), \
            dashboard_server(study._storage):
        pass


def test_dashboard_server_reports_a_storage_it_cannot_open(tmp_path: Path) -> None:
    db = tmp_path / "study.db"  # an SQLite file given as a path: the dashboard refuses it
    optuna.create_study(storage=f"sqlite:///{db}")
    with pytest.raises(ConfigError, match="exited with code") as err, \
            dashboard_server(db, timeout_s=30):
        pass
    assert err.value.field == "storage"
    assert "sqlite:///" in str(err.value)  # the dashboard's own hint is passed on
    with pytest.raises(ConfigError, match="sqlite:///") as err, \
            dashboard_server(db, mode="thread"):
        pass
    assert err.value.field == "storage"


def test_dashboard_command_checks_before_starting(tmp_path: Path) -> None:
    journal = tmp_path / "journal.log"
    journal.write_text("")
    cmd = dashboard_command(journal, port=8123)
    assert Path(cmd[0]).name == "optuna-dashboard"
    assert cmd[1:] == [str(journal.resolve()), "--host", "127.0.0.1", "--port", "8123"]
    for bad, field in (((tmp_path / "none.log",), "storage"), (("redis://x",), "storage"),
                       ((journal,), "port")):
        with pytest.raises(ConfigError) as err:
            dashboard_command(*bad, port=0 if field == "port" else 8080)
        assert err.value.field == field
    for kwargs in ({"timeout_s": 0}, {"mode": "fork"}, {"port": 70000}):
        with pytest.raises(ConfigError) as err, dashboard_server(journal, **kwargs):
            pass
        assert err.value.field == next(iter(kwargs))


def test_jupyterlab_optuna_opens_a_kit_journal_study(tmp_path: Path) -> None:
    """The extension is installed and enabled (the server loads it from the environment's
    configuration), and its server API opens the kit's journal file."""
    journal = tmp_path / "journal.log"
    _write_study(journal, "kit-lab")
    port, token = free_port(), secrets.token_hex(16)
    # only the other server extensions are switched off (start-up time); jupyterlab_optuna
    # is left to the environment's config, so its loading shows it is enabled there
    others = {"jupyter_lsp": False, "jupyterlab": False, "notebook_shim": False,
              "jupyter_server_terminals": False}
    cmd = [sys.executable, "-m", "jupyter_server", "--no-browser", "--ip", "127.0.0.1",
           f"--port={port}", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={tmp_path}", f"--ServerApp.jpserver_extensions={others}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"token {token}"}
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                            stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(f"{base}/api/status", auth)
                break
            except (urllib.error.URLError, OSError):
                assert proc.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "jupyter server did not start"
                time.sleep(0.2)
        assert _get(f"{base}/jupyterlab-optuna/api/is_initialized", auth)[
            "is_initialized"] is False
        req = urllib.request.Request(
            f"{base}/jupyterlab-optuna/api/register_dashboard_app", method="POST",
            data=json.dumps({"storage_url": str(journal)}).encode(),
            headers={**auth, "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert json.load(resp) == {"is_initialized": True}
        _check_api(f"{base}/jupyterlab-optuna", journal, "kit-lab", auth)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()
