"""The command line's pre-work checks and its one-line error descriptions (issue 17, item 6)."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest
import sqlalchemy

from effdl_kit._cli_guard import (
    available_memory,
    check_rows_fit,
    check_scheduler,
    check_storage,
    describe_error,
    redact,
    url_password,
)
from effdl_kit.errors import ConfigError, DataError

NO_FLAGS: dict[str, str] = {}
NO_PATHS: dict[str, str | None] = {}


def _describe(exc: BaseException, *, flags: dict[str, str] = NO_FLAGS,
              paths: dict[str, str | None] = NO_PATHS,
              storage: str | None = None) -> tuple[str, int]:
    line, status = describe_error(exc, flags=flags, paths=paths, storage=storage)
    assert "\n" not in line
    return line, status


def test_url_password_and_redact() -> None:
    assert url_password("postgresql+psycopg://u:s3cr%40t@h:5432/db") == "s3cr%40t"
    assert url_password("postgresql+psycopg://u@h/db") is None
    assert url_password("tcp://h:8786") is None  # a port is not a password
    assert url_password("journal.log") is None
    url = "postgresql://u:pa:ss@h/db"
    assert redact(f"no {url} here", [url, None]) == "no postgresql://u:***@h/db here"
    # the decoded form is hidden too; a short password elsewhere in the text is left alone
    assert redact("u:s3cr@t@h and s3", ["postgresql://u:s3cr%40t@h/db"]) == "u:***@h and s3"


def test_kit_errors_name_the_flag_of_their_parameter() -> None:
    exc = ConfigError("path", "d", "a regular file or a new path (it is a directory)")
    line, status = _describe(exc, flags={"path": "--out"})
    assert status == 2
    assert line == ("invalid value for 'path' (--out): 'd'; allowed: a regular file or a new "
                    "path (it is a directory)")
    assert _describe(exc)[0].startswith("invalid value for 'path': 'd'")  # no flag known
    assert _describe(DataError("bad\nrow 3"), flags={"path": "--out"}) == ("bad | row 3", 2)


def test_os_errors_name_the_flag_whose_path_failed(tmp_path: Path) -> None:
    out = str(tmp_path / "res")
    paths = {"--out": out, "--storage": None}
    exc = PermissionError(13, "Permission denied", out)
    assert _describe(exc, paths=paths) == (
        f"--out {out!r}: PermissionError: Permission denied: {out!r}", 2)
    inside = NotADirectoryError(20, "Not a directory", os.path.join(out, "tour"))
    assert _describe(inside, paths=paths)[0].startswith(f"--out {out!r}: NotADirectoryError")
    beside = PermissionError(13, "Permission denied", str(tmp_path / ".res.x1.tmp"))
    assert _describe(beside, paths=paths)[0].startswith(f"--out {out!r}: ")
    elsewhere = FileNotFoundError(2, "No such file or directory", "/elsewhere/f")
    assert _describe(elsewhere, paths=paths) == (
        "FileNotFoundError: No such file or directory: '/elsewhere/f'", 2)
    full = OSError(28, "No space left on device")
    assert _describe(full, paths=paths) == ("OSError: No space left on device", 2)
    moved = OSError(18, "Invalid cross-device link", "/a", None, "/b")
    assert _describe(moved)[0] == "OSError: Invalid cross-device link: '/a' -> '/b'"


def test_memory_dead_workers_databases_and_missing_modules_are_refusals() -> None:
    line, status = _describe(MemoryError())
    assert status == 2 and line.startswith("out of memory (MemoryError)")
    line, status = _describe(BrokenProcessPool("A process in the process pool was terminated"))
    assert status == 2 and line.startswith("a worker process died abruptly")
    try:
        sqlalchemy.create_engine("sqlite:////no/such/folder/x.db").connect()
    except sqlalchemy.exc.OperationalError as exc:
        line, status = _describe(exc, storage="sqlite:////no/such/folder/x.db")
    assert status == 2
    assert line == ("--storage 'sqlite:////no/such/folder/x.db': the database failed "
                    "(OperationalError): unable to open database file")
    try:
        try:
            import effdl_no_such_driver  # type: ignore[import-not-found]  # noqa: F401
        except ModuleNotFoundError as cause:
            raise ImportError("Failed to import DB access module") from cause
    except ImportError as exc:
        line, status = _describe(exc, storage="mysql://h/db")
    assert status == 2
    assert line.startswith("--storage 'mysql://h/db': a Python module is missing: "
                           "'effdl_no_such_driver' (Failed to import DB access module)")


def test_anything_else_is_unexpected_status_1() -> None:
    line, status = _describe(KeyError("k"))
    assert status == 1
    assert line == "unexpected KeyError: 'k' (a bug: rerun with --debug for the traceback)"


def test_check_rows_fit() -> None:
    check_rows_fit("--n", 1000, 1000, available=2_000_000)  # 1 MB of 2 MB: fits in half
    with pytest.raises(ConfigError, match=r"'--n': 1001; allowed: at most 1,000 rows .*1,000 "
                                          r"bytes per requested row"):
        check_rows_fit("--n", 1001, 1000, available=2_000_000)
    for left_to_the_builder in (0, -5, True, "3"):
        check_rows_fit("--n", left_to_the_builder, 1000, available=10)
    check_rows_fit("--n", 10, 100)  # the machine's own available memory


def test_check_storage_databases(tmp_path: Path) -> None:
    check_storage(f"sqlite:///{tmp_path / 'ok.db'}")
    with pytest.raises(ConfigError, match="'--storage'.*unable to open database file"):
        check_storage(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    with pytest.raises(ConfigError, match=r"'--storage': 'nosuch://u:\*\*\*@h/db'.*Can't load "
                                          "plugin"):
        check_storage("nosuch://u:pw@h/db")


def test_check_storage_journals(tmp_path: Path) -> None:
    check_storage(str(tmp_path / "new.log"))
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # the probe leaves nothing
    (tmp_path / "old.log").write_text("")
    check_storage(str(tmp_path / "old.log"))
    with pytest.raises(ConfigError, match="an existing folder"):
        check_storage(str(tmp_path / "missing" / "j.log"))
    with pytest.raises(ConfigError, match=r"it is a directory"):
        check_storage(str(tmp_path))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it for writing would block without a reader: refused instead
    with pytest.raises(ConfigError, match="not a regular file"):
        check_storage(str(fifo))


def test_check_scheduler_wants_tls_client_settings_for_a_tls_address(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    import dask

    check_scheduler(None)
    check_scheduler("tcp://127.0.0.1:8786")  # left to the connection
    with dask.config.set({"distributed.comm.tls.ca-file": None,
                          "distributed.comm.tls.client.cert": None}), \
            pytest.raises(ConfigError, match=r"'--scheduler': 'tls://h:8786'.*none are set"):
        check_scheduler("tls://h:8786")
    for name in ("ca.pem", "node.pem"):
        (tmp_path / name).write_text("")
    with dask.config.set({"distributed.comm.tls.ca-file": str(tmp_path / "ca.pem"),
                          "distributed.comm.tls.client.cert": str(tmp_path / "node.pem")}):
        check_scheduler("tls://h:8786")


def test_available_memory_follows_a_cgroup_limit(tmp_path: Path) -> None:
    free = available_memory(cgroup=tmp_path / "none")  # no cgroup files: the machine's
    assert free > 0
    (tmp_path / "memory.max").write_text("max\n")
    (tmp_path / "memory.current").write_text("1000\n")
    assert available_memory(cgroup=tmp_path) >= free // 2  # "max": no limit
    (tmp_path / "memory.max").write_text(f"{2**20 + 1000}\n")
    assert available_memory(cgroup=tmp_path) == 2**20  # 1 MiB left in the container
    (tmp_path / "memory.max").write_text("500\n")
    assert available_memory(cgroup=tmp_path) == 0


def test_available_memory_follows_an_address_space_limit() -> None:
    """Under ``ulimit -v`` the room left is the limit less the address space in use, and
    ``--n`` is refused against that."""
    code = (
        "import resource, psutil\n"
        "from effdl_kit._cli_guard import available_memory, check_rows_fit\n"
        "vms = psutil.Process().memory_info().vms\n"
        "resource.setrlimit(resource.RLIMIT_AS, (vms + 2**30, resource.RLIM_INFINITY))\n"
        "room = available_memory()\n"
        "try:\n"
        "    check_rows_fit('--n', 2**30 // 1000, 1000)\n"
        "except ValueError as e:\n"
        "    print(room, 'refused', str(e).split(';')[0])\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    room, verdict, message = run.stdout.split(" ", 2)
    assert 0 < int(room) <= 2**30
    assert verdict == "refused" and message.strip() == "invalid value for '--n': 1073741"


def test_check_storage_a_journal_this_user_cannot_append_to(tmp_path: Path) -> None:
    journal = tmp_path / "ro.log"
    if os.geteuid() == 0:  # root ignores permission bits; a read-only sysfs file refuses root
        journal = Path("/sys/kernel/address_bits")
        if not journal.is_file():
            pytest.skip("no read-only regular file that refuses root here")
    else:
        journal.write_text("")
        journal.chmod(0o444)
    with pytest.raises(ConfigError, match=r"a journal file this user can append to "
                                          r"\(PermissionError: Permission denied\)"):
        check_storage(str(journal))
