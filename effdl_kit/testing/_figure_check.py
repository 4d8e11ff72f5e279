"""Paper-ready by test: a check of a drawn matplotlib figure against six rules.

:func:`check_figure` draws the figure (Agg) and returns one :class:`FigureProblem` per
violation; :func:`assert_paper_ready` raises ``AssertionError`` listing them. The rules
(:data:`RULES`):

``legend_overlap``
    No legend covers plotted data: the share of data samples inside a legend's window extent
    must stay at or below ``overlap_tolerance`` (default 0.5 %), and bars may cover at most
    ``overlap_tolerance`` of a legend's area. Data samples are the vertices of lines drawn in
    data coordinates (densified every few pixels along each segment, so a straight line
    crossing a legend counts), scatter offsets, and bar rectangles; only samples inside the
    axes count (clipped data is not drawn). Reference lines in axes coordinates (``axhline``)
    and shaded bands do not count. An axes legend is checked against its own axes, a figure
    legend against every axes.
``legend_outside``
    Every legend lies within the figure's canvas.
``tick_overlap``
    The drawn tick labels of one axis (major and minor together) do not overlap pairwise
    (rotated labels compared as rotated rectangles).
``text_outside``
    Every drawn, non-empty text lies within the figure's canvas (``fig.bbox``).
``style``
    The kit's style is applied: every drawn text is set in the kit's font
    (:data:`effdl_kit.reports.KIT_FONT`, DejaVu Serif, as :func:`effdl_kit.reports.figure`
    and the IPython extension set it). A figure made with plain ``plt.subplots`` without the
    extension is set in DejaVu Sans and fails.
``raw_name``
    No drawn text is a raw internal name: equal to a key of the label registry
    (:data:`effdl_kit.reports.LABELS`) whose label differs from it, or containing an
    underscore identifier (``kernel_size``, ``true_top1``) outside mathtext (``$...$``).

A pixel of slack is allowed on every extent test (anti-aliasing of text boxes). The check
learns which texts were drawn by wrapping ``matplotlib.text.Text.draw`` while it draws the
figure: run it from one thread at a time (as the tests do).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from effdl_kit._core.errors import ConfigError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.legend import Legend
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox, BboxBase

__all__ = ["RULES", "FigureProblem", "assert_paper_ready", "check_figure"]

#: The rules :func:`check_figure` applies, in the order it reports them.
RULES: tuple[str, ...] = ("legend_overlap", "legend_outside", "tick_overlap", "text_outside",
                          "style", "raw_name")
_SLACK_PX = 1.0
_STEP_PX = 3.0
_IDENT = re.compile(r"(?<![\w$])[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]*[A-Za-z0-9](?![\w$])")
_MATH = re.compile(r"\$[^$]*\$")


@dataclass(frozen=True)
class FigureProblem:
    """One violation of a paper-ready rule.

    Attributes
    ----------
    rule : str
        One of :data:`RULES`.
    message : str
        What is wrong and where (axes title or index, the text concerned).
    """

    rule: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}"


@contextmanager
def _recording_texts() -> Iterator[list[Text]]:
    """Collect the Text artists that draw (visible, non-empty, their parent drawn)."""
    from matplotlib.text import Text

    drawn: list[Text] = []
    original = Text.draw

    def draw(self: Text, renderer: Any) -> None:
        if self.get_visible() and self.get_text().strip():
            drawn.append(self)
        original(self, renderer)

    Text.draw = draw  # type: ignore[method-assign,assignment]
    try:
        yield drawn
    finally:
        Text.draw = original  # type: ignore[method-assign]


def _where(ax: Axes | None, fig: Figure) -> str:
    if ax is None:
        return "figure"
    title = ax.get_title() or ax.get_title("left") or ax.get_title("right")
    idx = fig.axes.index(ax) if ax in fig.axes else -1
    return f"axes {idx}" + (f" ({title!r})" if title else "")


def _densify(xy: np.ndarray) -> np.ndarray:
    """Points every ~_STEP_PX pixels along a display-space polyline (finite vertices only)."""
    out: list[np.ndarray] = []
    for a, b in itertools.pairwise(xy):
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
            continue
        n = int(min(np.hypot(*(b - a)) // _STEP_PX, 2000)) + 1
        t = np.linspace(0.0, 1.0, n, endpoint=False)[:, None]
        out.append(a + t * (b - a))
    finite = xy[np.all(np.isfinite(xy), axis=1)]
    if len(finite):
        out.append(finite[-1:])
    return np.vstack(out) if out else np.empty((0, 2))


def _data_samples(ax: Axes) -> np.ndarray:
    """Display coordinates of the data drawn in ``ax`` (lines densified, scatter offsets)."""
    from matplotlib.collections import PathCollection

    parts: list[np.ndarray] = []
    for line in ax.get_lines():
        if not line.get_visible() or line.get_transform() is not ax.transData:
            continue
        xy = line.get_transform().transform(np.asarray(line.get_xydata(), dtype=float))
        if line.get_linestyle() in ("None", "none", "", " "):
            parts.append(xy[np.all(np.isfinite(xy), axis=1)])
        else:
            parts.append(_densify(xy))
    for coll in ax.collections:
        if isinstance(coll, PathCollection) and coll.get_visible():
            offsets = np.asarray(coll.get_offsets(), dtype=float)
            if offsets.size:
                parts.append(coll.get_offset_transform().transform(offsets))
    if not parts:
        return np.empty((0, 2))
    pts = np.vstack(parts)
    box = ax.bbox
    inside = ((pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1) & (pts[:, 1] >= box.y0)
              & (pts[:, 1] <= box.y1))
    return pts[inside]


def _bar_boxes(ax: Axes) -> list[Bbox]:
    from matplotlib.container import BarContainer
    from matplotlib.transforms import Bbox

    boxes: list[Bbox] = []
    for cont in ax.containers:
        if isinstance(cont, BarContainer):
            for patch in cont.patches:
                clipped = Bbox.intersection(patch.get_window_extent(), ax.bbox)
                if patch.get_visible() and clipped is not None:
                    boxes.append(clipped)
    return boxes


def _overlap_area(a: Bbox, b: Bbox) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(w, 0.0) * max(h, 0.0)


def _overlaps(a: Bbox, b: Bbox, slack: float = _SLACK_PX) -> bool:
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > slack
            and min(a.y1, b.y1) - max(a.y0, b.y0) > slack)


def _inside(inner: BboxBase, outer: BboxBase) -> bool:
    return (inner.x0 >= outer.x0 - _SLACK_PX and inner.y0 >= outer.y0 - _SLACK_PX
            and inner.x1 <= outer.x1 + _SLACK_PX and inner.y1 <= outer.y1 + _SLACK_PX)


def _legends(fig: Figure) -> list[tuple[Legend, Axes | None]]:
    out: list[tuple[Legend, Axes | None]] = [(lg, None) for lg in fig.legends
                                             if lg.get_visible()]
    for ax in fig.axes:
        lg = ax.get_legend()
        if lg is not None and lg.get_visible() and ax.get_visible():
            out.append((lg, ax))
    return out


def _check_legends(fig: Figure, renderer: Any, tol: float) -> list[FigureProblem]:
    problems: list[FigureProblem] = []
    for lg, owner in _legends(fig):
        box = lg.get_window_extent(renderer)
        name = "figure legend" if owner is None else f"legend of {_where(owner, fig)}"
        if not _inside(box, fig.bbox):
            problems.append(FigureProblem("legend_outside", f"{name} leaves the figure "
                                          f"(legend {box.bounds}, canvas {fig.bbox.bounds})"))
        axes = [owner] if owner is not None else [a for a in fig.axes if a.get_visible()]
        inner = box.padded(-_SLACK_PX)
        for ax in axes:
            pts = _data_samples(ax)
            if len(pts):
                hit = ((pts[:, 0] > inner.x0) & (pts[:, 0] < inner.x1) & (pts[:, 1] > inner.y0)
                       & (pts[:, 1] < inner.y1))
                share = float(hit.mean())
                if share > tol:
                    problems.append(FigureProblem(
                        "legend_overlap", f"{name} covers {100 * share:.1f} % of the data "
                        f"samples of {_where(ax, fig)} (tolerance {100 * tol:.1f} %)"))
            area = sum(_overlap_area(inner, b) for b in _bar_boxes(ax))
            legend_area = max(inner.width * inner.height, 1.0)
            if area / legend_area > tol:
                problems.append(FigureProblem(
                    "legend_overlap", f"{name} lies over bars of {_where(ax, fig)} "
                    f"({100 * area / legend_area:.1f} % of its area)"))
    return problems


def _axis_tick_labels(ax: Axes, drawn: set[int]) -> dict[str, list[Text]]:
    out: dict[str, list[Text]] = {}
    for key, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
        labels = [t for tick in (*axis.majorTicks, *axis.minorTicks)
                  for t in (tick.label1, tick.label2) if id(t) in drawn]
        out[key] = labels
    return out


def _text_corners(t: Text, renderer: Any) -> np.ndarray:
    """The four display corners of a text's (possibly rotated) box, shape (4, 2)."""
    box = t.get_window_extent(renderer)
    angle = float(t.get_rotation()) % 180.0
    if angle in (0.0, 90.0):
        return np.array([[box.x0, box.y0], [box.x1, box.y0], [box.x1, box.y1],
                         [box.x0, box.y1]])
    t.set_rotation(0.0)  # the unrotated size, then the rotation back
    flat = t.get_window_extent(renderer)
    t.set_rotation(angle)
    w, h = flat.width / 2.0, flat.height / 2.0
    c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    local = np.array([[-w, -h], [w, -h], [w, h], [-w, h]])
    rot = np.array([[c, -s], [s, c]])
    center = np.array([(box.x0 + box.x1) / 2.0, (box.y0 + box.y1) / 2.0])
    return np.asarray(local @ rot.T + center)


def _polygons_overlap(a: np.ndarray, b: np.ndarray, slack: float = _SLACK_PX) -> bool:
    """Separating-axis test of two convex quadrilaterals, overlapping by more than ``slack``."""
    for poly in (a, b):
        for i in range(len(poly)):
            edge = poly[(i + 1) % len(poly)] - poly[i]
            normal = np.array([-edge[1], edge[0]])
            norm = float(np.hypot(*normal))
            if norm == 0.0:
                continue
            normal /= norm
            pa, pb = a @ normal, b @ normal
            if min(pa.max(), pb.max()) - max(pa.min(), pb.min()) <= slack:
                return False
    return True


def _check_ticks(fig: Figure, renderer: Any, drawn: list[Text]) -> list[FigureProblem]:
    ids = {id(t) for t in drawn}
    problems: list[FigureProblem] = []
    for ax in fig.axes:
        for key, labels in _axis_tick_labels(ax, ids).items():
            boxes = [(t, _text_corners(t, renderer)) for t in labels]
            for (ta, a), (tb, b) in itertools.combinations(boxes, 2):
                if _polygons_overlap(a, b):
                    problems.append(FigureProblem(
                        "tick_overlap", f"{key} tick labels {ta.get_text()!r} and "
                        f"{tb.get_text()!r} of {_where(ax, fig)} overlap"))
                    break
    return problems


def _check_texts(fig: Figure, renderer: Any, drawn: list[Text]) -> list[FigureProblem]:
    import matplotlib as mpl

    from effdl_kit.reports import KIT_FONT, LABELS, paper_rc

    problems: list[FigureProblem] = []
    font_rc = {k: v for k, v in paper_rc().items() if k.startswith("font.")}
    seen: set[int] = set()
    for t in drawn:
        if id(t) in seen:
            continue
        seen.add(id(t))
        text = t.get_text()
        box = t.get_window_extent(renderer)
        if not _inside(box, fig.bbox):
            problems.append(FigureProblem("text_outside", f"text {text!r} is outside the "
                                          f"canvas ({box.bounds}, canvas {fig.bbox.bounds})"))
        with mpl.rc_context(font_rc):  # type: ignore[arg-type]
            font = t.get_fontname()
        if font != KIT_FONT:
            problems.append(FigureProblem("style", f"text {text!r} is set in {font!r}, not "
                                          f"the kit's {KIT_FONT!r}"))
        stripped = text.strip()
        reg = LABELS.get(stripped)
        if reg is not None and reg.text != stripped and reg.render() != stripped:
            problems.append(FigureProblem("raw_name", f"text {text!r} is a raw internal name "
                                          f"(label: {reg.render()!r})"))
        else:
            m = _IDENT.search(_MATH.sub(" ", text))
            if m:
                problems.append(FigureProblem("raw_name", f"text {text!r} holds the raw "
                                              f"identifier {m.group(0)!r}"))
    return problems


def check_figure(fig: Figure, *, overlap_tolerance: float = 0.005,
                 rules: Sequence[str] = RULES) -> list[FigureProblem]:
    """Draw ``fig`` and list its violations of the paper-ready rules (module docstring).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        Any figure; it is drawn on an Agg canvas when it has none that can render.
    overlap_tolerance : float, default 0.005
        Largest share of data samples (or of a legend's area covered by bars) a legend may
        cover, in [0, 1).
    rules : sequence of str
        Rules to apply (a subset of :data:`RULES`).

    Returns
    -------
    list of FigureProblem
        Empty for a paper-ready figure; in :data:`RULES` order.

    Raises
    ------
    ConfigError
        ``fig`` is not a Figure, a bad tolerance or an unknown rule.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise ConfigError("fig", type(fig).__name__, "a matplotlib.figure.Figure")
    if isinstance(overlap_tolerance, bool) or not isinstance(overlap_tolerance, int | float) \
            or not 0.0 <= float(overlap_tolerance) < 1.0:
        raise ConfigError("overlap_tolerance", overlap_tolerance, "a number in [0, 1)")
    if isinstance(rules, str):
        rules = (rules,)
    for r in rules:
        if r not in RULES:
            raise ConfigError("rules", r, RULES)
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    with _recording_texts() as drawn:
        fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    found = _check_legends(fig, renderer, float(overlap_tolerance))
    found += _check_ticks(fig, renderer, drawn)
    found += _check_texts(fig, renderer, drawn)
    order = {r: i for i, r in enumerate(RULES)}
    return sorted((p for p in found if p.rule in rules), key=lambda p: order[p.rule])


def assert_paper_ready(fig: Figure, *, overlap_tolerance: float = 0.005,
                       rules: Sequence[str] = RULES, name: str = "figure") -> None:
    """Raise ``AssertionError`` listing every problem :func:`check_figure` finds.

    Parameters
    ----------
    fig, overlap_tolerance, rules
        As for :func:`check_figure`.
    name : str
        How the figure is named in the message.
    """
    problems = check_figure(fig, overlap_tolerance=overlap_tolerance, rules=rules)
    if problems:
        raise AssertionError(f"{name} is not paper-ready:\n" +
                             "\n".join(f"  {p}" for p in problems))
