"""Controls that never clamp silently: :class:`NumberEntry`.

ipywidgets' sliders and bounded text boxes quietly replace a typed ``abc`` by the old value,
``5000`` by the maximum and ``-5`` by the minimum. A :class:`NumberEntry` is a slider without
its own readout plus a text box: a typed value is parsed and checked against the field's hard
limits, and anything else becomes a :attr:`NumberEntry.problem` that the panel shows next to
the field (and that makes Run an error) while the value stays what it was. A valid typed value
outside the slider's range widens the range instead of being clamped.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import ipywidgets as W
import traitlets

__all__ = ["NumberEntry"]


class NumberEntry(W.HBox):
    """A number field: optional slider (linear or log) plus a validated text entry.

    Parameters
    ----------
    kind : {"int", "float"}
        What the field holds.
    description : str
        Label shown on the left (a display label, with unit).
    slider : {"linear", "log", None}
        Slider beside the text box (None: the text box only, e.g. a seed).
    low, high : float, optional
        Hard limits of the field (inclusive); a typed value outside them is a problem.
        None leaves the bound to the library's validation at Run.
    slider_min, slider_max : float, optional
        Range of the slider (default: ``low`` / ``high``); for ``"log"`` these are values,
        not exponents.
    step : float, optional
        Slider step (for ``"log"``: in decades).
    value : int or float
        Initial value.

    Attributes
    ----------
    value : int or float
        The current valid value (``observe(..., names="value")`` like any widget).
    problem : str
        Why the typed text is not a valid value ("" when it is).
    text : ipywidgets.Text
        The entry box.
    slider : ipywidgets widget or None
    """

    value = traitlets.Any(allow_none=True)
    problem = traitlets.Unicode("")

    def __init__(self, *, kind: Literal["int", "float"], description: str = "",
                 slider: Literal["linear", "log"] | None = "linear",
                 low: float | None = None, high: float | None = None,
                 slider_min: float | None = None, slider_max: float | None = None,
                 step: float | None = None, value: float | None = None,
                 description_width: str = "110px") -> None:
        self.kind = kind
        self.low = low
        self.high = high
        self._syncing = False
        style = {"description_width": description_width}
        smin = slider_min if slider_min is not None else low
        smax = slider_max if slider_max is not None else high
        self.slider: Any = None
        if slider is not None:
            if smin is None or smax is None:
                raise ValueError("a slider needs slider_min/slider_max or low/high")
            if slider == "log":
                self.slider = W.FloatLogSlider(base=10, min=math.log10(smin),
                                               max=math.log10(smax), step=step or 0.1,
                                               readout=False, description=description,
                                               style=style, continuous_update=False)
            elif kind == "int":
                self.slider = W.IntSlider(min=int(smin), max=int(smax), step=int(step or 1),
                                          readout=False, description=description, style=style,
                                          continuous_update=False)
            else:
                self.slider = W.FloatSlider(min=float(smin), max=float(smax), step=step or 0.01,
                                            readout=False, description=description,
                                            style=style, continuous_update=False)
            self.slider.observe(self._from_slider, names="value")
        self.text = W.Text(continuous_update=False,
                           description="" if self.slider is not None else description,
                           style=style if self.slider is None else {},
                           layout=W.Layout(width="110px" if self.slider is not None
                                           else "240px"))
        self.text.observe(self._from_text, names="value")
        children = [self.slider, self.text] if self.slider is not None else [self.text]
        super().__init__(children)
        self.add_class("effdl-number")
        if value is not None:
            self.value = value

    # ------------------------------------------------------------------ formatting / parsing
    def format(self, value: Any) -> str:
        """The text shown for ``value``."""
        if value is None:
            return ""
        if self.kind == "int":
            return str(int(value))
        v = float(value)
        return f"{v:.3g}" if v != 0 and (abs(v) < 1e-2 or abs(v) >= 1e4) else f"{v:.4g}"

    def allowed(self) -> str:
        """What the field accepts, in words."""
        what = "an integer" if self.kind == "int" else "a number"
        if self.low is not None and self.high is not None:
            return f"{what} in [{self.format(self.low)}, {self.format(self.high)}]"
        if self.low is not None:
            return f"{what} >= {self.format(self.low)}"
        if self.high is not None:
            return f"{what} <= {self.format(self.high)}"
        return what

    def parse(self, text: str) -> tuple[Any, str]:
        """``(value, "")`` for valid text, ``(None, problem)`` otherwise (never clamps)."""
        raw = text.strip()
        try:
            if self.kind == "int":
                f = float(raw)
                if not f.is_integer():
                    raise ValueError(raw)
                v: Any = int(f)
            else:
                v = float(raw)
                if not math.isfinite(v):
                    raise ValueError(raw)
        except (ValueError, OverflowError):
            return None, f"{raw!r} is not {self.allowed()}"
        if self.low is not None and v < self.low:
            return None, f"{raw} is below the smallest allowed value: {self.allowed()}"
        if self.high is not None and v > self.high:
            return None, f"{raw} is above the largest allowed value: {self.allowed()}"
        return v, ""

    # ------------------------------------------------------------------ syncing
    @traitlets.observe("value")
    def _value_changed(self, change: Any) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            v = change["new"]
            self.text.value = self.format(v)
            self.problem = ""
            if self.slider is not None and v is not None:
                self._widen(float(v))
                self.slider.value = v
        finally:
            self._syncing = False

    def _widen(self, v: float) -> None:
        s = self.slider
        if isinstance(s, W.FloatLogSlider):
            if v <= 0:
                return
            e = math.log10(v)
            s.min, s.max = min(s.min, math.floor(e)), max(s.max, math.ceil(e))
        else:
            s.min, s.max = min(s.min, v), max(s.max, v)

    def _from_slider(self, change: Any) -> None:
        if self._syncing:
            return
        self.value = int(change["new"]) if self.kind == "int" else float(change["new"])

    def _from_text(self, change: Any) -> None:
        if self._syncing:
            return
        v, problem = self.parse(str(change["new"]))
        if problem:
            self.problem = problem  # the value stays what it was: nothing is clamped
            return
        self.problem = ""
        if v != self.value:
            self.value = v
        else:  # normalise the shown text ("1e-3" -> "0.001")
            self._syncing = True
            self.text.value = self.format(v)
            self._syncing = False
