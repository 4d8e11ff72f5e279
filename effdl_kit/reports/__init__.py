"""Paper-ready figures and tables: style, plots drawn on a given axis, export with provenance.

Compute once, draw twice: experiments return small result objects; this package draws them
(``plot_*`` functions take an ``ax`` and return it) and exports them
(:func:`save_figure` writes PDF/SVG/PNG with the provenance embedded, :func:`export_table`
writes LaTeX/Markdown/CSV); :func:`label` maps internal names to display labels with
units (one registry for every figure, table and control); :func:`check_readme` and
:func:`sync_readme` keep the README's marked tables equal to the committed result files they name.
"""

from effdl_kit.reports._diagnosis_plots import (
    INDICATOR_SERIES,
    STOP_COLOR,
    IndicatorSeries,
    plot_indicator_curves,
    plot_trial_losses,
)
from effdl_kit.reports._figures import (
    FIGURE_FORMATS,
    PNG_PROVENANCE_KEY,
    provenance_record,
    read_pdf_info,
    read_provenance,
    save_figure,
)
from effdl_kit.reports._labels import (
    LABELS,
    Label,
    display,
    fallback_label,
    humanize_columns,
    is_registered,
    label,
    record_label_misses,
    unit,
)
from effdl_kit.reports._limits import (
    YSCALES,
    ClipReport,
    clip_to_limits,
    robust_limits,
    set_yscale,
)
from effdl_kit.reports._plots import CURVE_METRICS, CURVE_SPLITS, plot_training_curves
from effdl_kit.reports._readme import (
    Problem,
    ReadmeSyncError,
    ResultsBlock,
    check_readme,
    find_blocks,
    pipe_tables,
    sync_readme,
)
from effdl_kit.reports._recommend_plots import measured_points, plot_recommendation
from effdl_kit.reports._study_plots import (
    EVALUATOR_LABELS,
    plot_parallel_coordinates,
    plot_param_importances,
)
from effdl_kit.reports._style import (
    CONTEXTS,
    DOUBLE_COLUMN_IN,
    KIT_FONT,
    SINGLE_COLUMN_IN,
    PaperFigure,
    apply_kit_fonts,
    figure,
    kit_style,
    legend_beside,
    paper_rc,
    paper_style,
    paper_style_context,
    styled,
)
from effdl_kit.reports._tables import TABLE_FORMATS, export_table, markdown_table

__all__ = [
    "CONTEXTS",
    "CURVE_METRICS",
    "CURVE_SPLITS",
    "DOUBLE_COLUMN_IN",
    "EVALUATOR_LABELS",
    "FIGURE_FORMATS",
    "INDICATOR_SERIES",
    "KIT_FONT",
    "LABELS",
    "PNG_PROVENANCE_KEY",
    "SINGLE_COLUMN_IN",
    "STOP_COLOR",
    "TABLE_FORMATS",
    "YSCALES",
    "ClipReport",
    "IndicatorSeries",
    "Label",
    "PaperFigure",
    "Problem",
    "ReadmeSyncError",
    "ResultsBlock",
    "apply_kit_fonts",
    "check_readme",
    "clip_to_limits",
    "display",
    "export_table",
    "fallback_label",
    "figure",
    "find_blocks",
    "humanize_columns",
    "is_registered",
    "kit_style",
    "label",
    "legend_beside",
    "markdown_table",
    "measured_points",
    "paper_rc",
    "paper_style",
    "paper_style_context",
    "pipe_tables",
    "plot_indicator_curves",
    "plot_parallel_coordinates",
    "plot_param_importances",
    "plot_recommendation",
    "plot_training_curves",
    "plot_trial_losses",
    "provenance_record",
    "read_pdf_info",
    "read_provenance",
    "record_label_misses",
    "robust_limits",
    "save_figure",
    "set_yscale",
    "styled",
    "sync_readme",
    "unit",
]
