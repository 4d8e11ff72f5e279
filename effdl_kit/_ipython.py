"""The IPython extension: ``%load_ext effdl_kit``.

Loading applies the paper figure style (:func:`effdl_kit.reports.paper_style`) and registers
the line magic ``%effdl``, which takes the same subcommands as the ``effdl`` command line::

    %effdl env
    %effdl reproduce tour --scale smoke --out /tmp/results
    %effdl recommend --task digits --device cpu --latency-ms 2 --scale small

Errors are printed; they never kill the kernel. This is the only module of the headless
library that touches IPython, and only inside these functions.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any

__all__ = ["MAGIC_NAME", "effdl_magic", "load", "unload"]

MAGIC_NAME = "effdl"


def effdl_magic(line: str) -> None:
    """``%effdl ARGS``: run ``effdl ARGS`` in this kernel; print errors, never raise.

    Parameters
    ----------
    line : str
        The magic's argument line, split like a shell command line.
    """
    from effdl_kit.cli import main

    try:
        args = shlex.split(line)
    except ValueError as exc:  # unbalanced quotes
        print(f"%{MAGIC_NAME}: error: {exc}", file=sys.stderr)
        return
    try:
        main(args, prog=f"%{MAGIC_NAME}")
    except SystemExit as exc:  # defensive: nothing below should exit the kernel
        if exc.code not in (0, None):
            print(f"%{MAGIC_NAME}: exited with status {exc.code}", file=sys.stderr)
    except Exception as exc:  # an unexpected failure: report it, keep the kernel alive
        print(f"%{MAGIC_NAME}: error: {type(exc).__name__}: {exc}", file=sys.stderr)


def load(ipython: Any) -> None:
    """Apply the paper style and register ``%effdl`` in ``ipython``."""
    from effdl_kit.reports import paper_style

    paper_style()
    ipython.register_magic_function(effdl_magic, magic_kind="line", magic_name=MAGIC_NAME)


def unload(ipython: Any) -> None:
    """Remove the ``%effdl`` magic from ``ipython`` (the style stays as it is)."""
    magics = ipython.magics_manager.magics.get("line", {})
    magics.pop(MAGIC_NAME, None)
