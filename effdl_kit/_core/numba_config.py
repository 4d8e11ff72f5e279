"""numba settings the kit relies on.

* Threading layer: numba's default ``workqueue`` layer is not thread-safe; trials that run in
  threads (Optuna ``n_jobs``, ipywidgets callbacks) may call parallel kernels concurrently, so
  the kit selects numba's ``"threadsafe"`` layer (OpenMP or TBB, whichever is present).
* Cache directory: ``@njit(cache=True)`` kernels are cached in ``NUMBA_CACHE_DIR``; when the
  user has not set it, the kit uses ``~/.cache/effdl_kit/numba`` so installs into read-only
  site-packages still cache.

Call :func:`configure_numba` before the first kernel runs; kernels modules call it on import.
"""

from __future__ import annotations

import os
from pathlib import Path

from effdl_kit._core.validate import check_choice

__all__ = ["THREADING_LAYERS", "configure_numba", "default_cache_dir"]

THREADING_LAYERS = ("threadsafe", "safe", "forksafe", "omp", "tbb", "workqueue", "default")


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "effdl_kit" / "numba"


def configure_numba(threading_layer: str = "threadsafe", cache_dir: str | None = None) -> str:
    """Set numba's threading layer and cache directory; returns the layer name set.

    The cache directory is set only through the environment (``NUMBA_CACHE_DIR``) and only
    when neither the caller nor the user set one, because numba reads it at import.
    """
    check_choice("threading_layer", threading_layer, THREADING_LAYERS)
    if cache_dir is not None:
        os.environ["NUMBA_CACHE_DIR"] = str(cache_dir)
    else:
        os.environ.setdefault("NUMBA_CACHE_DIR", str(default_cache_dir()))
    Path(os.environ["NUMBA_CACHE_DIR"]).mkdir(parents=True, exist_ok=True)
    from numba import config

    config.THREADING_LAYER = threading_layer  # type: ignore[attr-defined]
    return threading_layer
