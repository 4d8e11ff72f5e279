"""Datasets of the training bench, as numpy arrays with seeded splits.

* ``digits``: scikit-learn's 8x8 handwritten digits (1,797 real images; always present).
* ``synthetic``: generated image classification with controllable size and difficulty.
* ``cifar10`` / ``cifar100``: read from a local directory in the standard python-pickle format
  (``cifar-10-batches-py`` / ``cifar-100-python``); nothing is downloaded.
* ``co2`` / ``sunspots``: real time series shipped inside statsmodels (both public domain), for
  forecasting with sliding windows and a chronological split.
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from effdl_kit._core.errors import ConfigError, DataError, DatasetNotFoundError
from effdl_kit._core.rng import as_generator
from effdl_kit._core.validate import check_choice, check_float, check_int

__all__ = [
    "DataBundle",
    "load_cifar",
    "load_data",
    "load_digits_images",
    "load_time_series",
    "make_synthetic_images",
    "make_windows",
    "split_indices",
]


@dataclass
class DataBundle:
    """Train/val/test arrays of one task, ready for the loop.

    Images are ``(n, C, H, W)`` float32; forecasting inputs ``(n, input_len, 1)`` float32 with
    targets ``(n, output_len)``; class labels int64.
    """

    name: str
    task: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input sample."""
        return tuple(int(s) for s in self.x_train.shape[1:])

    @property
    def output_dim(self) -> int:
        """Number of model outputs (classes, or forecast horizon)."""
        if self.task == "classification":
            assert self.n_classes is not None
            return self.n_classes
        return int(self.y_train.shape[1])

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.x_train), "val": len(self.x_val), "test": len(self.x_test)}


def split_indices(
    n: int,
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
    stratify: np.ndarray | None = None,
    shuffle: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of a train/val/test split.

    With ``shuffle=False`` the split is chronological (train first, test last); with
    ``stratify`` each class is split in the same proportions.
    """
    check_int("n", n, min_value=3)
    check_float("val_fraction", val_fraction, min_value=0.0, max_value=0.5, min_inclusive=False)
    check_float("test_fraction", test_fraction, min_value=0.0, max_value=0.5,
                min_inclusive=False)
    if not shuffle:
        n_test = max(1, round(n * test_fraction))
        n_val = max(1, round(n * val_fraction))
        idx = np.arange(n)
        return idx[: n - n_val - n_test], idx[n - n_val - n_test: n - n_test], idx[n - n_test:]
    rng = as_generator(seed)
    groups = [np.arange(n)] if stratify is None else [
        np.flatnonzero(stratify == c) for c in np.unique(stratify)
    ]
    tr, va, te = [], [], []
    for g in groups:
        g = rng.permutation(g)
        n_te = round(len(g) * test_fraction)
        n_va = round(len(g) * val_fraction)
        te.append(g[:n_te])
        va.append(g[n_te: n_te + n_va])
        tr.append(g[n_te + n_va:])
    out = tuple(rng.permutation(np.concatenate(p)).astype(np.int64) for p in (tr, va, te))
    if any(len(o) == 0 for o in out):
        raise DataError(f"split of {n} samples leaves an empty part; use more data or larger "
                        "val_fraction/test_fraction")
    return out  # type: ignore[return-value]


def load_digits_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as ``(1797, 1, 8, 8)`` float32 in [0, 1] and int64 labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None, :, :]
    return x, d.target.astype(np.int64)


def make_synthetic_images(
    n_samples: int = 2000,
    *,
    n_classes: int = 10,
    image_size: int = 16,
    channels: int = 3,
    difficulty: float = 0.5,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Generated image classification with a controllable difficulty in [0, 1].

    Each class has a smooth random prototype (low-frequency noise upsampled to the image
    size). A sample is its class prototype, shifted by up to ``difficulty * image_size / 4``
    pixels, mixed with a random other prototype (weight ``0.5 * difficulty``) and Gaussian
    noise of std ``0.1 + 1.5 * difficulty``. Higher difficulty means lower attainable accuracy.

    Returns
    -------
    x : ndarray, shape (n_samples, channels, image_size, image_size), float32
    y : ndarray, shape (n_samples,), int64
    """
    check_int("n_samples", n_samples, min_value=2)
    check_int("n_classes", n_classes, min_value=2, max_value=1000)
    check_int("image_size", image_size, min_value=4, max_value=512)
    check_int("channels", channels, min_value=1, max_value=16)
    check_float("difficulty", difficulty, min_value=0.0, max_value=1.0)
    rng = as_generator(seed)
    coarse = max(2, image_size // 4)
    base = rng.standard_normal((n_classes, channels, coarse, coarse))
    # bilinear-ish upsampling by separable linear interpolation
    grid = np.linspace(0, coarse - 1, image_size)
    lo = np.floor(grid).astype(int)
    hi = np.minimum(lo + 1, coarse - 1)
    w = (grid - lo)[None, None, :, None]
    rows = base[:, :, lo, :] * (1 - w) + base[:, :, hi, :] * w
    wc = (grid - lo)[None, None, None, :]
    protos = rows[:, :, :, lo] * (1 - wc) + rows[:, :, :, hi] * wc
    protos = (protos - protos.mean(axis=(1, 2, 3), keepdims=True)) / (
        protos.std(axis=(1, 2, 3), keepdims=True) + 1e-8
    )
    y = rng.integers(0, n_classes, size=n_samples)
    other = (y + rng.integers(1, n_classes, size=n_samples)) % n_classes
    max_shift = round(difficulty * image_size / 4)
    x = np.empty((n_samples, channels, image_size, image_size), dtype=np.float32)
    shifts = rng.integers(-max_shift, max_shift + 1, size=(n_samples, 2))
    for i in range(n_samples):
        img = np.roll(protos[y[i]], shift=tuple(shifts[i]), axis=(1, 2))
        x[i] = img + 0.5 * difficulty * protos[other[i]]
    x += rng.normal(0.0, 0.1 + 1.5 * difficulty, size=x.shape).astype(np.float32)
    return x, y.astype(np.int64)


_CIFAR = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"],
                b"labels", 10),
    "cifar100": ("cifar-100-python", ["train"], ["test"], b"fine_labels", 100),
}


#: The only globals a CIFAR batch may name: what numpy needs to rebuild an array (the
#: python-pickle CIFAR files hold a dict of bytes keys, lists, bytes and one uint8 array), and
#: ``_codecs.encode``, with which Python 3 writes ``bytes`` at pickle protocol 2.
_CIFAR_GLOBALS: frozenset[tuple[str, str]] = frozenset({
    ("_codecs", "encode"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
})


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles a CIFAR batch and nothing else: any other global (a callable a crafted file
    would run, such as ``os.system``) is refused before it is looked up."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _CIFAR_GLOBALS:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR "
                                         "batch (only numpy arrays, bytes, lists and dicts)")
        return super().find_class(module, name)


def _read_cifar_file(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    try:
        with path.open("rb") as fh:
            d = _CifarUnpickler(fh, encoding="bytes").load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError,
            AttributeError, IndexError, KeyError) as exc:
        raise DataError(f"cannot read CIFAR file {str(path)!r}: {exc}") from None
    if not isinstance(d, dict) or b"data" not in d or label_key not in d:
        raise DataError(f"CIFAR file {str(path)!r} lacks the keys b'data' and {label_key!r}")
    data = np.asarray(d[b"data"], dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"CIFAR file {str(path)!r}: data has shape {data.shape}, "
                        "expected (n, 3072)")
    labels = np.asarray(d[label_key], dtype=np.int64)
    if len(labels) != len(data):
        raise DataError(f"CIFAR file {str(path)!r}: {len(labels)} labels for {len(data)} images")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar(
    path: str | Path, which: str = "cifar10"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read CIFAR-10/100 from a local directory in the python-pickle format.

    ``path`` is either the extracted folder (``cifar-10-batches-py``) or its parent.

    Returns
    -------
    x_train, y_train, x_test, y_test
        Images ``(n, 3, 32, 32)`` float32 in [0, 1], labels int64.
    """
    check_choice("which", which, tuple(_CIFAR))
    folder, train_files, test_files, key, _ = _CIFAR[which]
    root = Path(path).expanduser()
    cand = [root, root / folder]
    base = next((c for c in cand if all((c / f).is_file() for f in train_files + test_files)),
                None)
    if base is None:
        raise DatasetNotFoundError(
            which, root,
            f"expected the files {', '.join(train_files + test_files)} in {str(root)!r} or in "
            f"{str(root / folder)!r} (the python version of the dataset, extracted); "
            "the kit never downloads it",
        )
    parts = [_read_cifar_file(base / f, key) for f in train_files]
    x_tr = np.concatenate([p[0] for p in parts])
    y_tr = np.concatenate([p[1] for p in parts])
    x_te, y_te = _read_cifar_file(base / test_files[0], key)
    return (x_tr.astype(np.float32) / 255.0, y_tr, x_te.astype(np.float32) / 255.0, y_te)


_SERIES = {
    "co2": ("Atmospheric CO2 at Mauna Loa, weekly, 1958-2001 (statsmodels.datasets.co2); "
            "missing weeks linearly interpolated", "public domain"),
    "sunspots": ("Yearly sunspot numbers 1700-2008 (statsmodels.datasets.sunspots)",
                 "public domain"),
}


def load_time_series(name: str = "co2") -> tuple[np.ndarray, dict[str, str]]:
    """A real univariate series shipped inside statsmodels, and its provenance.

    Returns
    -------
    values : ndarray, shape (n,), float64
    meta : dict with ``source`` and ``licence``
    """
    check_choice("name", name, tuple(_SERIES))
    import statsmodels.datasets as smd

    if name == "co2":
        s = smd.co2.load_pandas().data["co2"].interpolate(limit_direction="both")
        values = s.to_numpy(dtype=np.float64)
        licence = str(smd.co2.COPYRIGHT).strip()
    else:
        values = smd.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(dtype=np.float64)
        licence = str(smd.sunspots.COPYRIGHT).strip()
    source, _ = _SERIES[name]
    return values, {"source": source, "licence": licence}


def make_windows(
    series: np.ndarray, input_len: int, output_len: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sliding windows: ``x[i] = s[i:i+input_len]``, ``y[i] = s[i+input_len:...+output_len]``.

    Returns
    -------
    x : ndarray, shape (n_windows, input_len, 1), float32
    y : ndarray, shape (n_windows, output_len), float32
    """
    check_int("input_len", input_len, min_value=1)
    check_int("output_len", output_len, min_value=1)
    s = np.asarray(series, dtype=np.float64)
    if s.ndim != 1:
        raise DataError(f"series must be 1-D, got shape {s.shape}")
    n = len(s) - input_len - output_len + 1
    if n < 1:
        raise DataError(f"series of length {len(s)} is shorter than input_len + output_len = "
                        f"{input_len + output_len}")
    idx = np.arange(input_len + output_len)[None, :] + np.arange(n)[:, None]
    w = s[idx]
    return (w[:, :input_len, None].astype(np.float32), w[:, input_len:].astype(np.float32))


def _subset(x: np.ndarray, y: np.ndarray, n: int | None, seed: int) -> tuple[np.ndarray, ...]:
    if n is None or n >= len(x):
        return x, y
    idx = np.sort(as_generator(seed).choice(len(x), size=n, replace=False))
    return x[idx], y[idx]


def load_data(
    dataset: str,
    *,
    seed: int = 0,
    n_train: int | None = None,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    data_params: Mapping[str, Any] | None = None,
    data_dir: str | None = None,
) -> DataBundle:
    """Load ``dataset`` and split it (the loop calls this with a ``TrainConfig``'s fields).

    Image data are standardised per channel with training-set statistics; forecasting series
    are standardised with the training segment's mean and std (so the MSE is in units of the
    training std).
    """
    from effdl_kit.training.config import DATASETS, FORECAST_DATASETS

    check_choice("dataset", dataset, DATASETS)
    params = dict(data_params or {})
    meta: dict[str, Any] = {}
    if dataset in FORECAST_DATASETS:
        input_len = check_int("data_params.input_len", params.get("input_len", 48), min_value=1)
        output_len = check_int("data_params.output_len", params.get("output_len", 12),
                               min_value=1)
        series, meta = load_time_series(dataset)
        n_total = len(series)
        n_test = round(n_total * test_fraction)
        n_val = round(n_total * val_fraction)
        cut_val, cut_test = n_total - n_val - n_test, n_total - n_test
        mean, std = series[:cut_val].mean(), series[:cut_val].std() + 1e-12
        z = (series - mean) / std
        # each segment's windows may look back into the previous segment but predict only
        # values inside it, so no target is seen in training and evaluated later
        lookback = input_len
        segs = [(0, cut_val), (cut_val - lookback, cut_test), (cut_test - lookback, n_total)]
        arrays = []
        for name, (a, b) in zip(("train", "val", "test"), segs, strict=True):
            if b - max(a, 0) < input_len + output_len:
                raise DataError(f"the {name} segment of {dataset!r} ({b - max(a, 0)} points) is "
                                f"shorter than input_len + output_len = {input_len + output_len}")
            arrays.append(make_windows(z[max(a, 0):b], input_len, output_len))
        (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = arrays
        x_tr, y_tr = _subset(x_tr, y_tr, n_train, seed)
        meta = {**meta, "mean": float(mean), "std": float(std), "input_len": input_len,
                "output_len": output_len}
        return DataBundle(dataset, "forecasting", x_tr, y_tr, x_va, y_va, x_te, y_te, None, meta)

    if dataset == "digits":
        x, y = load_digits_images()
        n_classes = 10
        meta = {"source": "sklearn.datasets.load_digits (UCI optical digits)"}
    elif dataset == "synthetic":
        allowed = {"n_samples", "n_classes", "image_size", "channels", "difficulty", "data_seed"}
        for k in params:
            if k not in allowed:
                raise ConfigError(f"data_params.{k}", params[k], sorted(allowed))
        gen = {k: v for k, v in params.items() if k != "data_seed"}
        # the generated task is fixed by data_seed when given (else by the run's seed)
        x, y = _synthetic_cached(int(params.get("data_seed", seed)), tuple(sorted(gen.items())))
        n_classes = int(params.get("n_classes", 10))
        meta = {"source": "effdl_kit.training.data.make_synthetic_images", **params}
    else:
        if data_dir is None:
            raise DatasetNotFoundError(dataset, None, "set TrainConfig.data_dir to the local "
                                       "folder holding the python-pickle version")
        x_tr, y_tr, x_te, y_te = load_cifar(data_dir, dataset)
        n_classes = _CIFAR[dataset][4]
        # the official test set stays the test set; validation is a stratified part of train
        rng = as_generator(seed)
        va = np.concatenate([
            rng.permutation(np.flatnonzero(y_tr == c))[: round(val_fraction * np.sum(y_tr == c))]
            for c in np.unique(y_tr)
        ])
        tr = np.setdiff1d(np.arange(len(y_tr)), va)
        x_tr2, y_tr2 = _subset(x_tr[tr], y_tr[tr], n_train, seed)
        return _standardise(DataBundle(dataset, "classification", x_tr2, y_tr2, x_tr[va], y_tr[va],
                                       x_te, y_te, n_classes, {"source": str(data_dir)}))
    tr, va, te = split_indices(len(x), val_fraction=val_fraction, test_fraction=test_fraction,
                               seed=seed, stratify=y)
    x_tr, y_tr = _subset(x[tr], y[tr], n_train, seed)
    return _standardise(DataBundle(dataset, "classification", x_tr, y_tr, x[va], y[va], x[te],
                                   y[te], n_classes, meta))


@functools.lru_cache(maxsize=4)
def _synthetic_cached(seed: int, params: tuple[tuple[str, Any], ...]
                      ) -> tuple[np.ndarray, np.ndarray]:
    x, y = make_synthetic_images(seed=seed, **dict(params))
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def _standardise(b: DataBundle) -> DataBundle:
    mean = b.x_train.mean(axis=(0, 2, 3), keepdims=True)
    std = b.x_train.std(axis=(0, 2, 3), keepdims=True) + 1e-6
    for name in ("x_train", "x_val", "x_test"):
        setattr(b, name, ((getattr(b, name) - mean) / std).astype(np.float32))
    b.meta["channel_mean"] = mean.ravel().tolist()
    b.meta["channel_std"] = std.ravel().tolist()
    return b
