"""BackgroundLoad: children start, hold memory, and are always cleaned up."""

from __future__ import annotations

import time

import psutil
import pytest

from effdl_kit.errors import ConfigError
from effdl_kit.measure import BackgroundLoad, LoadLevel, as_load_levels, default_load_levels


def children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def test_workers_and_ballast_run_inside_and_are_gone_after() -> None:
    before = children()
    level = LoadLevel("test", workers=2, duty=0.5, ballast_mib=64)
    with BackgroundLoad(level) as load:
        pids = load.pids
        assert len(pids) == 3 and set(pids) <= children()
        rss = max(psutil.Process(p).memory_info().rss for p in pids)
        assert rss >= 64 * 2**20, "the ballast holds its memory (pages touched)"
        time.sleep(0.2)
        busy = [psutil.Process(p).cpu_times().user for p in pids]
        assert sum(busy) > 0.0, "the workers spin"
    assert load.pids == []
    assert children() == before
    for p in pids:
        assert not psutil.pid_exists(p) or psutil.Process(p).status() == psutil.STATUS_ZOMBIE


def test_cleaned_up_on_an_exception_inside_the_block() -> None:
    before = children()
    with pytest.raises(RuntimeError, match="boom"), BackgroundLoad(
            LoadLevel("x", workers=1, ballast_mib=16)) as load:
        assert len(load.pids) == 2
        raise RuntimeError("boom")
    assert children() == before


def test_idle_level_starts_nothing_and_stop_is_idempotent() -> None:
    load = BackgroundLoad(LoadLevel("idle"))
    with load:
        assert load.pids == []
    load.stop()
    load.stop()
    assert LoadLevel("idle").is_idle and not LoadLevel("w", workers=1).is_idle


def test_a_dropped_load_object_is_stopped_by_its_finalizer() -> None:
    before = children()
    load = BackgroundLoad(LoadLevel("x", workers=1)).start()
    assert len(children() - before) == 1
    load._finalizer()  # what garbage collection / interpreter exit run
    assert children() == before


def test_levels() -> None:
    levels = default_load_levels("cpu", cores=4)
    assert [lv.name for lv in levels] == ["idle", "light", "medium", "heavy"]
    assert [lv.workers for lv in levels] == [0, 1, 2, 4]
    assert not any(lv.gpu_stream for lv in levels)
    assert as_load_levels([{"name": "a"}, LoadLevel("b", workers=1)])[0] == LoadLevel("a")


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"name": ""}, "load_level.name"),
    ({"name": "x", "workers": -1}, "load_level.workers"),
    ({"name": "x", "duty": 0.0}, "load_level.duty"),
    ({"name": "x", "duty": 1.5}, "load_level.duty"),
    ({"name": "x", "ballast_mib": -5}, "load_level.ballast_mib"),
])
def test_bad_levels(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        LoadLevel(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_bad_level_lists_and_gpu_stream_on_cpu() -> None:
    with pytest.raises(ConfigError, match="distinct names"):
        as_load_levels([LoadLevel("a"), LoadLevel("a")])
    with pytest.raises(ConfigError):
        as_load_levels([])
    with pytest.raises(ConfigError):
        as_load_levels([{"name": "a", "cores": 3}])
    with pytest.raises(ConfigError, match="gpu_stream"):
        BackgroundLoad(LoadLevel("g", gpu_stream=True), device="cpu")
    with pytest.raises(ConfigError, match="level"):
        BackgroundLoad("heavy")  # type: ignore[arg-type]
