"""Parsing the EfficientDL authors' cells: keyword lists, learning rates, accuracies.

The cell-level rules behind :func:`~effdl_kit.data.normalize_efficientdl` (the module
docstring of :mod:`effdl_kit.data._efficientdl` states them all): the synonym table
:data:`EFFICIENTDL_SYNONYMS`, :func:`normalize_keywords` for multi-valued keyword cells,
:func:`parse_learning_rate` for learning rates written as text, and the rescaling of
accuracies stored as percentages.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["EFFICIENTDL_SYNONYMS", "normalize_keywords", "parse_learning_rate"]

#: Synonym table, derived by inspecting the authors' vocabulary (tokens after splitting,
#: whitespace collapsing and case-folding). Keys are variant spellings, values the canonical
#: token. Only variants that name the same thing are merged; related-but-distinct techniques
#: (e.g. "depthwise convolution" vs "depthwise separable convolution") stay apart.
EFFICIENTDL_SYNONYMS: dict[str, str] = {
    # normalisation
    "bn": "batch normalization",
    "batchnorm": "batch normalization",
    "batch norm": "batch normalization",
    "ln": "layer normalization",
    "layernorm": "layer normalization",
    "layer norm": "layer normalization",
    "gn": "group normalization",
    "group norm": "group normalization",
    # convolution ("Group,Convolution" is a split "Group Convolution")
    "group": "grouped convolution",
    "group convolution": "grouped convolution",
    "group convolutions": "grouped convolution",
    # activation
    "sigmoid activation": "sigmoid",
    "tanh activation": "tanh",
    "silu": "swish",
    "sigmoid linear unit": "swish",
    # regularisation
    "droppath": "stochastic depth",
    "drop path": "stochastic depth",
    "scheduleddroppath": "stochastic depth",
    "stoch. depth": "stochastic depth",
    "stochastic depthg": "stochastic depth",
    "label smoothin": "label smoothing",
    "labelsmooth": "label smoothing",
    # data augmentation
    "rand augment": "randaugment",
    "rand-augment": "randaugment",
    "randaug": "randaugment",
    "randaugme": "randaugment",
    "rand augmentation": "randaugment",
    "randaugmentation": "randaugment",
    "auto augment": "autoaugment",
    "autoagument": "autoaugment",
    "random resized crop (rrc)": "random resized crop",
    "rrc": "random resized crop",
    "random resized crops": "random resized crop",
    "random resized cropping": "random resized crop",
    "randomresizedcrop": "random resized crop",
    "random resize cropping": "random resized crop",
    "random size crop": "random resized crop",
    "random-size cropping": "random resized crop",
    "inception crop": "random resized crop",
    "h. flip": "random horizontal flip",
    "h.flip": "random horizontal flip",
    "horizontal flip": "random horizontal flip",
    "horizontal flips": "random horizontal flip",
    "horizontal flipping": "random horizontal flip",
    "random horizontal flipping": "random horizontal flip",
    "random horizontal flips": "random horizontal flip",
    "flip horizontally": "random horizontal flip",
    "rand erasing": "random erasing",
    "randomerasing": "random erasing",
    "erasing prob": "random erasing",
    "colorjitter": "color jitter",
    "color-jitter": "color jitter",
    "colour jitter": "color jitter",
    "color jittering": "color jitter",
    "random color jittering": "color jitter",
    "repeated aug": "repeated augmentation",
    "repeataug": "repeated augmentation",
    "mixup alpha": "mixup",
    "mixup prob": "mixup",
    "mixup (α = 0.8)": "mixup",
    "cutmix alpha": "cutmix",
    "cutmix prob": "cutmix",
    "random cropping": "random crop",
    "random crops": "random crop",
    "random croping": "random crop",
    "randomly cropped": "random crop",
    "randomly crop": "random crop",
    "centercrop": "center crop",
    "gaussian blurring": "gaussian blur",
    "random gaussian blur": "gaussian blur",
    # feed-forward and attention
    "position-wise feed layer": "position-wise feed-forward layer",
    "dot-product attention": "scaled dot-product attention",
    # optimiser
    "admaw": "adamw",
    "synchronized adamw": "adamw",
    "synchronous sgd": "sgd",
    "sync sgd": "sgd",
    "nesterov momentum optimizer": "sgd",
    "lars optimizer": "lars",
    # dataset
    "fashion-minist": "fashion-mnist",
    "svhn with 1000 labels": "svhn-1k",
    # hardware
    "tpu v3": "tpuv3",
    "tpu v2": "tpuv2",
}

_NONE_TOKENS = frozenset({"none"})
_SPLIT_RE = re.compile(r",|\band\b")
_WS_RE = re.compile(r"\s+")
_STRIP_CHARS = " .;:"
_NUM = r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_NUM_RE = re.compile(_NUM)
_RANGE_RE = re.compile(rf"({_NUM})\s*(?:-|–|~|to)\s*({_NUM})")


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return bool(value is pd.NA)


def _clean_text(text: str) -> str:
    return _WS_RE.sub(" ", text).strip(_STRIP_CHARS).casefold()


def normalize_keywords(
    value: Any, synonyms: Mapping[str, str] | None = None
) -> tuple[str, ...] | None:
    """Normalise one multi-valued keyword cell into sorted canonical tokens.

    Parameters
    ----------
    value : object
        The raw cell (string, number or missing).
    synonyms : mapping, optional
        Variant -> canonical token; default :data:`EFFICIENTDL_SYNONYMS`.

    Returns
    -------
    tuple of str or None
        ``None`` for a missing cell; otherwise the de-duplicated, sorted tokens (empty when
        the cell only says ``"None"``).

    Examples
    --------
    >>> normalize_keywords("Batch Normalization, BN,layer norm")
    ('batch normalization', 'layer normalization')
    """
    if _is_missing(value):
        return None
    table = EFFICIENTDL_SYNONYMS if synonyms is None else synonyms
    tokens: set[str] = set()
    for part in _SPLIT_RE.split(str(value)):
        tok = _clean_text(part)
        if not tok or tok in _NONE_TOKENS:
            continue
        tokens.add(table.get(tok, tok))
    return tuple(sorted(tokens))


def parse_learning_rate(value: Any) -> float:
    """Parse a learning-rate cell into a positive float, or ``NaN``.

    Rules: a finite number > 0 is kept; a string holding a range (``"1e-3 - 1e-2"``,
    ``"0.1 to 0.4"``, ``"0.01~0.1"``) gives the larger end (the peak rate); any other string
    gives its first number (``"learning rate 4e-3"`` -> 0.004, ``"0.1 (cosine)"`` -> 0.1);
    anything else (no number, zero, negative, bool, missing) gives ``NaN``.

    Parameters
    ----------
    value : object
        The raw cell.

    Returns
    -------
    float
    """
    if isinstance(value, bool) or _is_missing(value):
        return math.nan
    if isinstance(value, int | float | np.integer | np.floating):
        try:
            v = float(value)
        except OverflowError:  # an integer beyond the float range
            return math.nan
    elif isinstance(value, str):
        text = value.strip()
        m = _RANGE_RE.search(text)
        if m is not None:
            v = max(float(m.group(1)), float(m.group(2)))
        else:
            n = _NUM_RE.search(text)
            if n is None:
                return math.nan
            v = float(n.group(0))
    else:
        return math.nan
    return v if math.isfinite(v) and v > 0 else math.nan


def _fix_accuracy(value: Any) -> tuple[float, str | None]:
    """Return ``(fraction, None)`` or ``(nan, reason)`` for one target cell.

    Values in (1, 10] are divided by 10 and values in (10, 100] by 100 (the smallest power of
    ten that gives a fraction). The authors' accuracies all lie above 0.5, so no genuine
    fraction is confused with a shifted one.
    """
    if isinstance(value, bool) or _is_missing(value):
        return math.nan, "target missing"
    if isinstance(value, list | dict | tuple | set):
        return math.nan, "target is not a number"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return math.nan, "target is not a number"
    except OverflowError:  # an integer beyond the float range
        return math.nan, "target is not finite"
    if not math.isfinite(v):
        return math.nan, "target is not finite"
    if 0.0 <= v <= 1.0:
        return v, None
    if 1.0 < v <= 10.0:
        return v / 10.0, None
    if 10.0 < v <= 100.0:
        return v / 100.0, None
    return math.nan, f"target {v!r} outside [0, 100]"


def _to_float(value: Any) -> float:
    """One numeric cell as a float; ``NaN`` for a missing cell and anything that is not a
    finite number or a string holding one (a list, a dict, ``True``, ``"fast"``,
    ``Infinity``, an integer beyond the float range)."""
    if isinstance(value, bool | np.bool_) or _is_missing(value):
        return math.nan
    if isinstance(value, str):
        try:
            v = float(value.strip())
        except ValueError:
            return math.nan
    elif isinstance(value, int | float | np.integer | np.floating):
        try:
            v = float(value)
        except OverflowError:
            return math.nan
    else:
        return math.nan
    return v if math.isfinite(v) else math.nan
