"""The experiment registry: registration, lookup errors, run_experiment, redraw discovery."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from effdl_kit.errors import ConfigError, DataError
from effdl_kit.experiments import (
    ExperimentSummary,
    experiment_options,
    find_summaries,
    get_experiment,
    list_experiments,
    make_summary,
    redraw_experiments,
    register,
    run_experiment,
    unregister,
)

calls: list[tuple[str, int, Path]] = []


def _toy(scale: str, seed: int, out: Path) -> ExperimentSummary:
    """A toy experiment writing one data file."""
    calls.append((scale, seed, out))
    (out / "data.json").write_text(json.dumps({"value": seed * 2}))
    return make_summary("toy", scale, seed, metrics={"value": seed * 2, "nested": {"a": 1.5}},
                        figures=["toy.pdf"], tables=[])


def _toy_redraw(out_dir: Path) -> list[Path]:
    value = json.loads((out_dir / "data.json").read_text())["value"]
    p = out_dir / "redrawn.txt"
    p.write_text(str(value))
    return [p]


@pytest.fixture
def toy() -> Iterator[str]:
    calls.clear()
    register("toy-exp", redraw=_toy_redraw)(_toy)
    yield "toy-exp"
    unregister("toy-exp")


def test_tour_is_registered_and_listed() -> None:
    assert "tour" in list_experiments()
    exp = get_experiment("tour")
    assert exp.name == "tour" and callable(exp.run) and callable(exp.redraw)
    assert exp.description


def test_unknown_name_lists_registered_names() -> None:
    with pytest.raises(ConfigError) as err:
        get_experiment("nope")
    assert err.value.field == "name"
    assert "tour" in err.value.allowed
    assert "'tour'" in str(err.value)
    with pytest.raises(ConfigError, match="'name'"):
        run_experiment("nope", scale="smoke", out="/nonexistent/never")


def test_register_rejects_bad_names_and_clashes(toy: str) -> None:
    with pytest.raises(ConfigError, match="'name'"):
        register("bad name!")
    with pytest.raises(ConfigError, match="'name'"):
        register("")

    def other(scale: str, seed: int, out: Path) -> ExperimentSummary:
        raise AssertionError("never run")

    with pytest.raises(ConfigError, match="not registered yet"):
        register(toy)(other)
    assert get_experiment(toy).run is _toy
    assert get_experiment(toy).description == "A toy experiment writing one data file."


def test_run_experiment_writes_summary(tmp_path: Path, toy: str) -> None:
    s = run_experiment(toy, scale="smoke", seed=21, out=tmp_path / "res")
    exp_dir = tmp_path / "res" / toy
    assert calls == [("smoke", 21, exp_dir)]
    assert s.name == toy and s.scale == "smoke" and s.seed == 21
    assert s.metrics == {"value": 42, "nested": {"a": 1.5}}
    assert s.wall_time_s > 0
    assert s.env_info.cpu_model
    on_disk = ExperimentSummary.from_json(exp_dir / "summary.json")
    assert on_disk == s
    assert find_summaries(tmp_path) == [exp_dir / "summary.json"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"scale": "medium"}, "scale"), ({"scale": "smoke", "seed": -1}, "seed"),
     ({"scale": "smoke", "seed": "0"}, "seed"), ({"scale": "smoke", "seed": 2**32}, "seed")],
)
def test_bad_arguments_fail_before_work(tmp_path: Path, toy: str, kwargs: dict,
                                        field: str) -> None:
    with pytest.raises(ConfigError) as err:
        run_experiment(toy, out=tmp_path / "res", **kwargs)
    assert err.value.field == field
    assert calls == []
    assert not (tmp_path / "res").exists()


def test_out_that_is_a_file(tmp_path: Path, toy: str) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ConfigError, match="'out'"):
        run_experiment(toy, scale="smoke", out=f)
    assert calls == []


def test_experiment_must_return_a_summary(tmp_path: Path) -> None:
    def broken(scale: str, seed: int, out: Path) -> ExperimentSummary:
        return {"not": "a summary"}  # type: ignore[return-value]

    register("broken-exp")(broken)
    try:
        with pytest.raises(ConfigError, match="ExperimentSummary"):
            run_experiment("broken-exp", scale="smoke", out=tmp_path)
    finally:
        unregister("broken-exp")


def test_summary_json_round_trip_and_errors(tmp_path: Path) -> None:
    s = ExperimentSummary(name="x", scale="small", seed=1, env={"a": 1},
                          metrics={"m": [1, 2]}, figures=["f.pdf"], tables=["t.csv"],
                          wall_time_s=1.25)
    p = s.to_json(tmp_path / "deep" / "summary.json")
    assert ExperimentSummary.from_json(p) == s
    p.write_text(json.dumps({**s.to_dict(), "surprise": 1}))
    with pytest.raises(DataError, match="surprise"):
        ExperimentSummary.from_json(p)
    p.write_text(json.dumps({"name": "x"}))
    with pytest.raises(DataError, match="incomplete"):
        ExperimentSummary.from_json(p)
    p.write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        ExperimentSummary.from_json(p)


def test_redraw_experiments_finds_and_skips(tmp_path: Path, toy: str) -> None:
    run_experiment(toy, scale="smoke", seed=5, out=tmp_path)
    ExperimentSummary(name="ghost", scale="smoke", seed=0, env={}).to_json(
        tmp_path / "ghost" / "summary.json")
    outcomes = {o.name: o for o in redraw_experiments(tmp_path)}
    assert outcomes[toy].skipped is None
    assert outcomes[toy].paths == [tmp_path / toy / "redrawn.txt"]
    assert (tmp_path / toy / "redrawn.txt").read_text() == "10"
    assert outcomes["ghost"].skipped == "not registered"
    with pytest.raises(ConfigError, match="'out'"):
        redraw_experiments(tmp_path / "missing")


def test_options_reach_the_experiments_that_take_them(tmp_path: Path, toy: str) -> None:
    got: list[dict[str, object]] = []

    def scaling(scale: str, seed: int, out: Path, *, executor: object = None,
                storage: str | None = None) -> ExperimentSummary:
        got.append({"executor": executor, "storage": storage})
        return make_summary("scaling", scale, seed)

    register("scaling-exp")(scaling)
    try:
        assert experiment_options("scaling-exp") == ["executor", "storage"]
        run_experiment("scaling-exp", scale="smoke", out=tmp_path, storage="s.log",
                       executor=None)  # None: left out
        assert got == [{"executor": None, "storage": "s.log"}]
        with pytest.raises(ConfigError, match="nothing: 'toy-exp' takes no option"):
            run_experiment(toy, scale="smoke", out=tmp_path, storage="s.log")
        with pytest.raises(ConfigError, match="workers"):
            run_experiment("scaling-exp", scale="smoke", out=tmp_path, workers=2)
        assert not calls and len(got) == 1  # refused before running
    finally:
        unregister("scaling-exp")
    assert {"executor", "storage", "study_prefix"} <= set(experiment_options("bttackler"))
