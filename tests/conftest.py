"""Suite-wide settings and shared fixtures.

* headless matplotlib (Agg);
* the EfficientDL authors' dataset, read from the shared research-data folder: the file has no
  licence and is never copied into the project. Its folder is ``$EFFDL_RESEARCH_DATA`` or
  ``<repo>/../shared/research_data``. When it is missing, the tests that need it fail under CI
  (``CI=true``) and are skipped, with the reason, elsewhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

import pandas as pd
import pytest

from effdl_kit.data import load_efficientdl
from effdl_kit.errors import DatasetNotFoundError
from effdl_kit.experiments.efficientdl import efficientdl_data_path


@pytest.fixture(scope="session")
def efficientdl_path() -> Path:
    """Path of the authors' ``dataset.json``; fail under CI, skip elsewhere when absent."""
    try:
        return efficientdl_data_path()
    except DatasetNotFoundError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def efficientdl_df(efficientdl_path: Path) -> pd.DataFrame:
    """The cleaned authors' frame (loaded once per session; tests must not mutate it)."""
    return load_efficientdl(efficientdl_path)


@pytest.fixture(scope="session")
def recommend_parts():  # type: ignore[no-untyped-def]
    """``effdl_kit.recommend.prepare("digits", "cpu", scale="smoke", seed=0)``: the fitted
    static-predictor grid and calibrated latency models, built once for every test that
    recommends (tests must not mutate them)."""
    import warnings

    from effdl_kit.recommend import prepare

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return prepare("digits", "cpu", scale="smoke", seed=0)


def _pg_bin() -> Path | None:
    import shutil

    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / "initdb").exists() and (base / "pg_ctl").exists():
            return base
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@dataclass(frozen=True)
class PostgresServer:
    """The session's PostgreSQL: ``url`` (no password in it), ``password`` of its
    ``postgres`` superuser and the libpq ``passfile`` holding it (``$PGPASSFILE``)."""

    url: str
    password: str
    passfile: Path


@pytest.fixture(scope="session")
def postgres_server():  # type: ignore[no-untyped-def]
    """A real PostgreSQL server on 127.0.0.1 for the session; stopped and removed afterwards.

    Password authentication (``scram-sha-256``) for every connection, socket and TCP, like a
    server others can reach (no ``trust``); it listens on loopback only. The superuser's
    random password is in a 0600 libpq password file named by ``$PGPASSFILE`` for the session
    (spawned workers and ``dask worker`` processes inherit it), so the URL carries no
    password and result files that record it show none.

    Needs Debian's ``postgresql`` package (``make test`` installs it as root). Missing: the
    tests that need it fail under CI (``CI=true``) and are skipped, with the reason, elsewhere.
    """
    import getpass
    import os as _os
    import secrets
    import shutil
    import socket
    import subprocess
    import tempfile

    bindir = _pg_bin()
    if bindir is None:
        msg = "PostgreSQL is not installed (apt-get install postgresql)"
        if _os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    # not under pytest's tmp dirs: they are private to root, and postgres runs as "postgres"
    root = Path(tempfile.mkdtemp(prefix="effdl-pg-"))
    data = root / "data"
    password = secrets.token_urlsafe(24)
    pwfile = root / "pwfile"  # initdb reads the new superuser's password from it
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    run_as: list[str] = []
    if getpass.getuser() == "root":  # postgres refuses to run as root
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(pwfile, "postgres", "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    passfile = root / "pgpass"  # for this process and its children (createdb, workers)
    passfile.write_text(f"127.0.0.1:{port}:*:postgres:{password}\n")
    passfile.chmod(0o600)
    subprocess.run([*run_as, str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                    "--auth=scram-sha-256", f"--pwfile={pwfile}"],
                   check=True, capture_output=True, timeout=120)
    pwfile.unlink()
    subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-l",
                    str(root / "log"), "-w", "-t", "60", "-o",
                    f"-h 127.0.0.1 -p {port} -k {root}", "start"],
                   check=True, capture_output=True, timeout=120)
    before = _os.environ.get("PGPASSFILE")
    _os.environ["PGPASSFILE"] = str(passfile)
    try:
        subprocess.run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port),
                        "-U", "postgres", "-w", "optuna"], check=True, capture_output=True,
                       timeout=60)
        yield PostgresServer(url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/optuna",
                             password=password, passfile=passfile)
    finally:
        if before is None:
            _os.environ.pop("PGPASSFILE", None)
        else:
            _os.environ["PGPASSFILE"] = before
        subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of :func:`postgres_server` (``postgresql+psycopg://postgres@127.0.0.1:PORT/
    optuna``; the password comes from ``$PGPASSFILE``)."""
    return postgres_server.url
