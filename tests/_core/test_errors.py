import pytest

from effdl_kit import errors
from effdl_kit._core.validate import check_choice, check_float, check_int, check_scale


def test_config_error_names_field_and_allowed_values() -> None:
    err = errors.ConfigError("optimizer", "sgdd", ("sgd", "adam"))
    assert isinstance(err, ValueError)
    assert "'optimizer'" in str(err) and "'sgdd'" in str(err) and "'adam'" in str(err)
    assert err.field == "optimizer" and err.allowed == ("sgd", "adam")


def test_hierarchy_matches_builtins() -> None:
    assert issubclass(errors.DatasetNotFoundError, FileNotFoundError)
    assert issubclass(errors.DatasetNotFoundError, errors.DataError)
    assert issubclass(errors.DeviceNotAvailableError, RuntimeError)
    assert issubclass(errors.TrainingError, errors.EffdlError)
    e = errors.DeviceNotAvailableError("device", "cuda", ["cpu"])
    assert "'device'" in str(e) and "'cuda'" in str(e) and "'cpu'" in str(e)


@pytest.mark.parametrize("bad", ["x", 1.5, True, None, -1])
def test_check_int_rejects(bad: object) -> None:
    with pytest.raises(errors.ConfigError, match="'n'"):
        check_int("n", bad, min_value=0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "abc", True, 0.0, -2])
def test_check_float_rejects(bad: object) -> None:
    with pytest.raises(errors.ConfigError, match="'lr'.*> 0.0"):
        check_float("lr", bad, min_value=0.0, min_inclusive=False)


def test_check_float_accepts_bounds() -> None:
    assert check_float("p", 1.0, min_value=0.0, max_value=1.0) == 1.0
    assert check_int("k", 3, min_value=3, max_value=3) == 3


def test_scale_and_choice() -> None:
    assert check_scale("smoke") == "smoke"
    with pytest.raises(errors.ConfigError, match="'scale'.*'smoke', 'small', 'paper'"):
        check_scale("huge")
    with pytest.raises(errors.ConfigError, match="'mode'"):
        check_choice("mode", "z", ("a", "b"))


def test_check_executor() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from effdl_kit._core.validate import check_executor

    assert check_executor(None) is None
    with ThreadPoolExecutor(1) as pool:
        assert check_executor(pool) is pool
    for bad in ("tcp://scheduler:8786", 4, object()):
        with pytest.raises(errors.ConfigError, match="concurrent.futures.Executor") as info:
            check_executor(bad, "cluster")
        assert info.value.field == "cluster"
