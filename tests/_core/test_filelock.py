"""The build lock: one builder per file, the holder named, released however the holder ends."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from effdl_kit._core.filelock import BuildLock, FileLockedError
from effdl_kit._core.jsonl import JsonlDataset
from effdl_kit.errors import ConfigError

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fcntl.flock")


def dataset(path: Path) -> JsonlDataset:
    return JsonlDataset(path, fmt="t/1", kind="test dataset", statuses=("ok",))


def test_a_second_builder_of_the_file_gets_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    first = dataset(path)
    first.resume({"seed": 0})
    lock = Path(str(path) + ".lock")
    holder = json.loads(lock.read_text())
    assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
    before = path.read_bytes()
    with pytest.raises(FileLockedError) as info:
        dataset(path).resume({"seed": 0})
    err = info.value
    assert isinstance(err, ConfigError) and err.field == "path" and err.value == str(path)
    assert f"pid {os.getpid()} on host {socket.gethostname()!r}" in str(err)
    assert err.holder["pid"] == os.getpid()
    assert path.read_bytes() == before, "the second builder wrote nothing"
    first.resume({"seed": 0})  # the holder itself may resume again
    first.write_provenance({}, {})  # the build is over: the lock is released and removed
    assert not lock.exists()
    second = dataset(path)
    assert second.resume({"seed": 0}).header is not None
    second.release()


def test_a_symlink_and_its_target_share_one_lock(tmp_path: Path) -> None:
    target = tmp_path / "d.jsonl"
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    first = dataset(target)
    first.resume({})
    with pytest.raises(FileLockedError):
        dataset(link).resume({})
    first.release()


def test_a_failed_resume_releases_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    ds = dataset(path)
    ds.resume({"seed": 0})
    ds.release()
    with pytest.raises(ConfigError, match="other seed"):
        dataset(path).resume({"seed": 1})
    other = dataset(path)
    other.resume({"seed": 0})  # not locked by the failed one
    other.release()


def test_the_lock_of_a_killed_holder_is_free(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    code = ("import sys, time\nfrom effdl_kit._core.filelock import BuildLock\n"
            "lock = BuildLock(sys.argv[1]); lock.acquire(); print('locked', flush=True)\n"
            "time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(FileLockedError, match=f"pid {proc.pid} on host"):
            BuildLock(path).acquire()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert Path(str(path) + ".lock").exists(), "a killed holder leaves its lock file"
    lock = BuildLock(path)
    lock.acquire()  # ... but the OS released its lock
    assert lock.held and json.loads(lock.path.read_text())["pid"] == os.getpid()
    lock.release()
    assert not lock.held and not lock.path.exists()


def test_a_collected_holder_releases_and_an_unwritable_folder_is_a_config_error(
        tmp_path: Path) -> None:
    lock = BuildLock(tmp_path / "d.jsonl")
    lock.acquire()
    lock.acquire()  # held already: a no-op
    del lock
    again = BuildLock(tmp_path / "d.jsonl")
    again.acquire()
    again.release()
    again.release()  # not held: a no-op
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="folder can be written"):
        BuildLock(tmp_path / "file" / "d.jsonl").acquire()



def test_an_error_while_appending_releases_the_lock(tmp_path: Path) -> None:
    ds = dataset(tmp_path / "d.jsonl")
    ds.resume({})
    with pytest.raises(KeyboardInterrupt), ds.appender() as append:
        append({"index": 0, "status": "ok"})
        raise KeyboardInterrupt
    assert not Path(str(ds.path) + ".lock").exists()
    other = dataset(ds.path)
    assert [r["index"] for r in other.resume({}).rows] == [0]
    other.release()
