"""Plotly figures for everything the dashboard draws, so a notebook gets the same charts.

Every builder returns a ``plotly.graph_objects.Figure`` and takes the plain outputs of
:mod:`recengine.diagnostics`, :mod:`recengine.eval` and the training history. Empty inputs give a figure
that says what is missing instead of raising. All of them share one look (:mod:`recengine.plots._style`):
colour-blind-safe colours with a second cue (marker, dash or pattern), random and the oracle as labelled
references wherever a quality figure is drawn, and labels that are never clipped or overlapping.
"""

from recengine.plots._style import CLICK, MODEL, NON_CLICK, ORACLE, PALETTE, RANDOM, SERIES, empty_figure
from recengine.plots.coldstart import cold_start_chart
from recengine.plots.data import category_chart, click_rate_chart, coverage_chart, history_length_chart
from recengine.plots.diagnostics import fusion_weights_chart, gradient_norms_chart, logit_histogram, reliability_chart, saturation_chart, sigmoid_histogram
from recengine.plots.live import arm_ctr_chart, ctr_timeline_chart
from recengine.plots.runs import runs_chart
from recengine.plots.search import search_history, search_importances
from recengine.plots.training import selection_auc, selection_split, training_curves
from recengine.plots.quality import beyond_chart, comparison_heatmap, metrics_chart, slice_chart, zero_shot_chart, BEST_MARK, NOT_DISTINGUISHABLE

__all__ = [
    "BEST_MARK",
    "CLICK",
    "MODEL",
    "NON_CLICK",
    "NOT_DISTINGUISHABLE",
    "ORACLE",
    "PALETTE",
    "RANDOM",
    "SERIES",
    "arm_ctr_chart",
    "beyond_chart",
    "category_chart",
    "click_rate_chart",
    "cold_start_chart",
    "comparison_heatmap",
    "coverage_chart",
    "ctr_timeline_chart",
    "empty_figure",
    "fusion_weights_chart",
    "gradient_norms_chart",
    "history_length_chart",
    "logit_histogram",
    "metrics_chart",
    "reliability_chart",
    "runs_chart",
    "saturation_chart",
    "search_history",
    "search_importances",
    "selection_auc",
    "selection_split",
    "sigmoid_histogram",
    "slice_chart",
    "training_curves",
    "zero_shot_chart",
]
