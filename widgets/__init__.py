"""ipywidgets panels (installed as effdl_kit.widgets).

Every panel is a pure-Python controller (:class:`PanelController`, drivable without a browser)
plus an ipywidgets view (:class:`Panel`). Importing this package does not import ipywidgets;
building a panel does.

>>> from effdl_kit.widgets import TrainPanel
>>> TrainPanel(scale="smoke")  # doctest: +SKIP
"""

from ._base import ChangeEvent, Panel, PanelController, Progress, RunRecord, RunStopped
from ._diagnosis import DiagnosisController, DiagnosisPanel
from ._latency import LatencyController, LatencyPanel
from ._predictor import PredictorController, PredictorPanel
from ._recommend import RecommendController, RecommendPanel
from ._replay import ReplayView
from ._search import SearchController, SearchPanel
from ._speedup import SpeedupController, SpeedupPanel
from ._train import TrainController, TrainPanel

__all__ = [
    "ChangeEvent",
    "DiagnosisController",
    "DiagnosisPanel",
    "LatencyController",
    "LatencyPanel",
    "NumberEntry",
    "Panel",
    "PanelController",
    "PredictorController",
    "PredictorPanel",
    "Progress",
    "RecommendController",
    "RecommendPanel",
    "ReplayView",
    "RunRecord",
    "RunStopped",
    "SearchController",
    "SearchPanel",
    "SpeedupController",
    "SpeedupPanel",
    "TableView",
    "TrainController",
    "TrainPanel",
]


def __getattr__(name: str) -> object:
    # NumberEntry and TableView are ipywidgets classes: loaded when first asked for
    if name in ("NumberEntry", "TableView"):
        from . import _base

        return getattr(_base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
