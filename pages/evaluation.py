"""Evaluation: the active run's dev figures beside random and the oracle (with 95% intervals), every slice in one
table and one chart with a plain line on each, and the beyond-accuracy measures of the lists it serves."""

import pandas as pd
import streamlit as st

from pages import _ui
from pages._beyond import render_beyond
from recengine import plots
from recengine.app import runs as app_runs
from recengine.eval.evaluate import (
    ACTIVITY_LABELS, AGE_LABELS, HISTORY_LABELS, SLICE_GROUP_UNITS, SLICE_UNITS, STANDARD_GROUP, selected_on,
    share_of_oracle, slice_table,
)
from recengine.eval.metrics import METRIC_LABELS, METRIC_UNITS, METRICS

# The column names the slice table shows (slice_table's keys, in plain words).
SLICE_COLUMNS = {"group": "Slice group", "value": "Slice", "impressions": "Impressions",
                 "scored": "Impressions scored", "model": "Model", "random": "Random", "oracle": "Oracle",
                 "share_of_oracle": "Way to the oracle"}
SCORE_KINDS = {"Model": "metric", "Random": "metric", "Oracle": "metric", "Way to the oracle": "text"}
BUCKETS = {"history_length": HISTORY_LABELS, "article_age": AGE_LABELS, "user_activity": ACTIVITY_LABELS}


def reevaluate_button(run: dict, why: str) -> None:
    """Say why the run needs a new evaluation and offer it (the dev split scored again, the result stored)."""
    st.info(why, icon=":material/info:")
    if st.button("Evaluate again", icon=":material/refresh:", key="evaluation-reevaluate"):
        with _ui.boundary("evaluating the model"), st.spinner("Scoring the dev impressions…"):
            app_runs.reevaluate(_ui.store(), run["run_id"], loaded=_ui.loaded_run(run["path"]),
                                embedder=_ui.embedder(run["config"]["model"]["embedder"]))
            st.rerun()


def interval(intervals: dict, metric: str) -> str:
    """A metric's 95% interval as "low to high", or — when the evaluation has none."""
    bounds = intervals.get(metric)
    return "—" if not bounds else f"{_ui.fmt(bounds[0])} to {_ui.fmt(bounds[1])}"


def overall(metrics: dict) -> None:
    """The headline figures, then every metric for the model (with its 95% interval), random and the oracle."""
    model, random, oracle = metrics["model"], metrics.get("random") or {}, metrics.get("oracle") or {}
    intervals = metrics.get("ci") or {}
    # Two tiles a row: "0.648 to 0.714" is cut in a quarter of the page at 1024 px.
    cols = [col for _ in range(2) for col in st.columns(2)]
    cols[0].metric("Dev AUC", _ui.fmt(model.get("auc")),
                   help="Official MIND AUC, the mean over dev impressions with a click and a non-click.")
    cols[1].metric("95% interval", interval(intervals, "auc"),
                   help="Where the mean AUC would fall in 95% of resamples of the dev impressions (bootstrap).")
    cols[2].metric("Random / oracle AUC", f"{_ui.fmt(random.get('auc'))} / {_ui.fmt(oracle.get('auc'))}",
                   help="A random scorer and the true click probabilities, on the same impressions.")
    cols[3].metric("Way to the oracle", _ui.percent(share_of_oracle(model.get("auc"), random.get("auc"),
                                                                    oracle.get("auc"))),
                   help="How far the model got from random (0%) to the oracle (100%).")
    rows = [{"Metric": METRIC_LABELS[m], "Model": model.get(m), "Model 95% interval": interval(intervals, m),
             "Random": random.get(m), "Oracle": oracle.get(m),
             "Way to the oracle": _ui.percent(share_of_oracle(model.get(m), random.get(m), oracle.get(m)))}
            for m in METRICS]
    frame = pd.DataFrame(rows)
    _ui.show_table(frame, list(frame.columns), key="evaluation-overall", kinds=SCORE_KINDS)
    st.caption("; ".join(f"**{m.label}**: {m.description}" for m in METRIC_UNITS) + ".")
    st.caption(f"Over {model.get('impressions', 0):,} dev impressions. "
               + ("" if intervals else "This evaluation has no 95% intervals; evaluate again to add them."))


def slices(metrics: dict) -> None:
    """One table and one chart of every slice, with a plain line on each slice."""
    metric = st.segmented_control("Metric", list(METRICS), default="auc", format_func=METRIC_LABELS.get,
                                  key="evaluation-metric") or "auc"
    table = slice_table(metrics, metric)
    shown = table.assign(share_of_oracle=[_ui.percent(v) for v in table["share_of_oracle"]]).rename(
        columns=SLICE_COLUMNS)
    # The counts are a toggle away: the chart's labels carry the scored ones, and seven columns overflow at 1024 px.
    key = [c for c in SLICE_COLUMNS.values() if c in shown.columns and not c.startswith("Impressions")]
    _ui.show_table(shown, key, key="evaluation-slices-table", kinds={**SCORE_KINDS, "Impressions": "count",
                                                                      "Impressions scored": "count"},
                   height=35 * (len(shown) + 1) + 3)  # every row in view
    _ui.chart(plots.slice_chart(table, metric), key="evaluation-slices")
    lines = [f"- **{STANDARD_GROUP}**: {'; '.join(f'*{s.label}*: {s.description}' for s in SLICE_UNITS)}."]
    for group in SLICE_GROUP_UNITS:
        buckets = f" ({', '.join(BUCKETS[group.name])})" if group.name in BUCKETS else ""
        lines.append(f"- **{group.label}**: {group.description}{buckets}.")
    st.markdown("\n".join(lines))
    st.caption(
        "Article age counts from the article's first impression in the data (MIND has no publication times). "
        "User activity counts the reader's impressions in the training data; it is missing for runs updated "
        "incrementally. A slice that keeps some candidates of each impression is scored on those candidates "
        "only, as the official metrics score a whole impression. **Impressions scored** are those with both a "
        "click and a non-click among the slice's candidates: the AUC is their mean, so a slice with few of them "
        "is noisy. **Way to the oracle** is (model − random) / (oracle − random)."
    )


_ui.frame()
st.title("Evaluation")
run = _ui.require_run()
metrics = run["metrics"]
label = "selected on dev (the split reported here)" if metrics and selected_on(metrics) == "dev" else \
    "selected on a validation split carved from the end of training"
st.caption(f"Model {_ui.literal(run['run_id'])} on dataset {_ui.literal(run['dataset'])}, dev split; {label}.")

if not metrics or not metrics.get("model"):
    reevaluate_button(run, "This run has no stored evaluation yet.")
else:
    with _ui.boundary("showing the evaluation"):
        st.subheader("Overall")
        overall(metrics)
        st.subheader("By slice")
        if "slice_groups" not in metrics:
            reevaluate_button(run, "This run was evaluated before the slices by category, history length, article "
                                   "age and user activity existed. Evaluate it again to add them.")
        slices(metrics)

# Beyond accuracy: the section pages/_beyond.py draws for this run.
with _ui.boundary("showing the served-list measures"):
    render_beyond(_ui.store(), run["run_id"])
