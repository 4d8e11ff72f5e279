import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from effdl_kit.errors import ConfigError, DataError, DatasetNotFoundError
from effdl_kit.training import (
    load_cifar,
    load_data,
    load_digits_images,
    load_time_series,
    make_synthetic_images,
    make_windows,
    split_indices,
)


def test_digits_are_real_images() -> None:
    x, y = load_digits_images()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert set(np.unique(y)) == set(range(10))


def test_synthetic_difficulty_controls_attainable_accuracy() -> None:
    def acc(difficulty: float) -> float:
        x, y = make_synthetic_images(1200, n_classes=5, image_size=8, channels=1,
                                     difficulty=difficulty, seed=0)
        xf = x.reshape(len(x), -1)
        clf = LogisticRegression(max_iter=500).fit(xf[:800], y[:800])
        return float(clf.score(xf[800:], y[800:]))

    easy, hard = acc(0.0), acc(1.0)
    assert easy > 0.95
    assert hard < easy - 0.2
    x1, _ = make_synthetic_images(10, seed=4)
    x2, _ = make_synthetic_images(10, seed=4)
    assert np.array_equal(x1, x2)
    assert make_synthetic_images(7, image_size=12, channels=2)[0].shape == (7, 2, 12, 12)
    with pytest.raises(ConfigError, match="'difficulty'"):
        make_synthetic_images(10, difficulty=2)


def test_split_is_stratified_disjoint_and_seeded() -> None:
    y = np.repeat(np.arange(4), 50)
    tr, va, te = split_indices(200, seed=1, stratify=y)
    assert len(set(tr) | set(va) | set(te)) == 200
    assert not (set(tr) & set(va)) and not (set(va) & set(te))
    assert np.bincount(y[te]).tolist() == [8, 8, 8, 8]
    assert np.array_equal(split_indices(200, seed=1, stratify=y)[0], tr)
    ctr, cva, cte = split_indices(100, shuffle=False)
    assert ctr.max() < cva.min() and cva.max() < cte.min()


def _write_fake_cifar(root: Path, n_per_batch: int = 20) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        d = {b"data": rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8),
             b"labels": rng.integers(0, 10, n_per_batch).tolist(),
             b"batch_label": name.encode()}
        with (folder / name).open("wb") as fh:
            pickle.dump(d, fh)
    return folder


def test_cifar_reads_the_python_pickle_format(tmp_path: Path) -> None:
    folder = _write_fake_cifar(tmp_path)
    with (folder / "data_batch_1").open("rb") as fh:
        first = pickle.load(fh, encoding="bytes")
    for path in (tmp_path, folder):  # parent or the folder itself
        x_tr, y_tr, x_te, _ = load_cifar(path)
        assert x_tr.shape == (100, 3, 32, 32) and x_te.shape == (20, 3, 32, 32)
        # channel-first layout: the first 1024 bytes are the red plane, row-major
        assert np.allclose(x_tr[0, 0].ravel() * 255, first[b"data"][0, :1024])
        assert y_tr[:20].tolist() == first[b"labels"]
    b = load_data("cifar10", data_dir=str(tmp_path), seed=0)
    assert b.sizes()["test"] == 20 and b.sizes()["train"] + b.sizes()["val"] == 100


def test_cifar_missing_or_corrupt(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="cifar10.*data_batch_1"):
        load_cifar(tmp_path / "nowhere")
    with pytest.raises(DatasetNotFoundError, match="data_dir"):
        load_data("cifar10")
    folder = _write_fake_cifar(tmp_path)
    (folder / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="test_batch"):
        load_cifar(tmp_path)


def test_time_series_ship_with_licence() -> None:
    values, meta = load_time_series("co2")
    assert len(values) == 2284 and np.isfinite(values).all()
    assert 300 < values.min() < values.max() < 400  # ppm
    assert "public domain" in meta["licence"]
    sun, meta2 = load_time_series("sunspots")
    assert len(sun) == 309 and "public domain" in meta2["licence"]


def test_windows_and_chronological_forecast_split() -> None:
    x, y = make_windows(np.arange(10.0), 3, 2)
    assert x.shape == (6, 3, 1) and y.shape == (6, 2)
    assert x[2, :, 0].tolist() == [2, 3, 4] and y[2].tolist() == [5, 6]
    with pytest.raises(DataError, match="shorter"):
        make_windows(np.arange(4.0), 3, 2)
    b = load_data("co2", data_params={"input_len": 20, "output_len": 5})
    values, _ = load_time_series("co2")
    z = (values - b.meta["mean"]) / b.meta["std"]
    n_train_points = len(b.y_train) + 20 + 5 - 1
    # training targets never reach the validation segment; test targets are the series' end
    assert np.allclose(b.y_train[-1], z[n_train_points - 5:n_train_points], atol=1e-5)
    assert np.allclose(b.y_test[-1], z[-5:], atol=1e-5)
    assert abs(z[:n_train_points].mean()) < 1e-6


def test_images_standardised_with_training_statistics() -> None:
    b = load_data("digits", seed=0)
    assert abs(float(b.x_train.mean())) < 1e-4
    assert abs(float(b.x_train.std()) - 1) < 1e-3
    b2 = load_data("digits", seed=0, n_train=100)
    assert b2.sizes()["train"] == 100 and b2.sizes()["val"] == b.sizes()["val"]


class _Exploit:
    """Unpickling this object would run ``touch <marker>`` through ``os.system``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_cifar_batch_runs_no_code(tmp_path: Path) -> None:
    """A batch file that names a callable (``os.system``) is refused with a DataError before
    anything runs; a real batch (numpy array, bytes, lists) still loads."""
    folder = _write_fake_cifar(tmp_path)
    marker = tmp_path / "pwned"
    with (folder / "data_batch_3").open("wb") as fh:
        pickle.dump({b"data": _Exploit(marker), b"labels": [0]}, fh)
    with pytest.raises(DataError, match="data_batch_3.*os.*system.*not allowed"):
        load_cifar(tmp_path)
    assert not marker.exists()
    # the same payload pickled at every protocol numpy supports is still refused / accepted
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        good = {b"data": np.zeros((2, 3072), dtype=np.uint8), b"labels": [1, 2]}
        with (folder / "data_batch_3").open("wb") as fh:
            pickle.dump(good, fh, protocol=protocol)
        x_tr, y_tr, _, _ = load_cifar(tmp_path)
        assert x_tr.shape[0] == 82 and y_tr[40:42].tolist() == [1, 2]
