"""effdl-kit: reproduce, tune and plot four papers on efficient deep learning.

The headless library. It never imports ipywidgets or IPython at import time; the panels live
in :mod:`effdl_kit.widgets` and the IPython extension is loaded with ``%load_ext effdl_kit``.
"""

from __future__ import annotations

from typing import Any

from effdl_kit._core.env import kit_version

__version__ = kit_version()
__all__ = ["__version__", "load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    """Entry point of ``%load_ext effdl_kit``: paper style plus the ``%effdl`` magic."""
    from effdl_kit._ipython import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from effdl_kit._ipython import unload

    unload(ipython)
