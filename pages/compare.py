"""Compare: train a grid of fusions × temperatures × losses × seeds, read AUC, MRR and nDCG@5/10 as a table
and heatmaps beside random and oracle, each cell's difference from the best cell with a 95% interval and a
p-value; results persist in the store, reload and export as CSV. Beside it: an Optuna search, an external
system's prediction file scored on the same screen, and every run in one experiment table."""

import streamlit as st

from pages import _forms, _jobs, _ui
from pages._experiments import render_experiment_table
from pages._external import render_external
from pages._significance import why_paired
from pages._tune import render_tune
from recengine import plots
from recengine.app.experiments import (AGAINST_BEST_KEYS, RESULT_KEYS, against_best_table, comparison_references,
                                       comparison_table, varying_keys)
from recengine.app.first_start import Defaults
from recengine.config import FUSIONS, LOSSES, every_setting
from recengine.eval.compare import GRID_KEYS, METRIC_COLUMNS, SIGNIFICANCE_COLUMNS
from recengine.eval.evaluate import SLICE_UNITS
from recengine.eval.metrics import METRIC_LABELS
from recengine.eval.significance import RESAMPLES
from recengine.tables import comparison_evaluations, comparison_headline, stored_comparison

TEMPERATURES = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
PICK = "comparison_pick"
GRID_AXES = ("fusion", "temperature", "loss", "seed")  # chosen as lists above; every other setting in the form
SETTINGS = {s.name: s for _, s in every_setting() if s.name in GRID_AXES}
SLICES_TEXT = "Overall: every dev impression. " + " ".join(
    f"{s.label[:1].upper() + s.label[1:]}: {s.description}." for s in SLICE_UNITS)
WHY_AGAINST_BEST = (" Here each cell is set against the best cell; a setting is **not distinguishable** (≈) from "
                    "the best when, for every seed, the interval includes zero.")


def _axis_help(name: str, extra: str) -> str:
    """The schema's help of a grid axis, and what choosing several does."""
    return f"{_forms.help_sentence(SETTINGS[name])} {extra}"


def grid_section() -> None:
    """Train a grid as a job, then read any stored comparison."""
    st.caption(f"Every cell trains a fresh model on {_ui.literal(record['name'])} and evaluates it on dev with the "
               "official MIND metrics. The data is embedded once for the whole grid.")
    _jobs.estimate_caption(record["name"], Defaults.from_env().epochs, what="Each cell, a training")
    with st.form("grid"):
        c = [*st.columns(2), *st.columns(2)]  # two per row: the chosen values stay readable at 1024 px
        fusions = c[0].multiselect("Fusions", FUSIONS, default=["attention"],
                                   help=_axis_help("fusion", "Each one chosen is a row of the heatmap."))
        temperatures = c[1].multiselect("Temperatures τ", TEMPERATURES, default=[0.1],
                                        help=_axis_help("temperature", "Each one chosen is a column of the heatmap."))
        losses = c[2].multiselect("Losses", LOSSES, default=["listwise"],
                                  help=_axis_help("loss", "Each one chosen gets its own heatmap."))
        seeds = c[3].multiselect("Seeds", list(range(10)), default=[0],
                                 help=_axis_help("seed", "Several seeds show how much a cell moves by chance; the "
                                                 "heatmap shows their mean ± standard deviation."))
        defaults = Defaults.from_env().config()
        defaults.model.embedder = _ui.default_embedder()  # the active run's: its text is already embedded
        with st.expander("Why these grid axes exist", icon=":material/help:"):
            st.markdown(_forms.why_text(SETTINGS[name] for name in GRID_AXES))
        form = _forms.config_form(defaults, key="grid", skip=GRID_AXES)
        run = st.form_submit_button("Run the grid", type="primary", icon=":material/play_arrow:")

    if run:
        with _ui.boundary("checking the grid") as checked:
            base = form.config()
        if checked.ok:
            grid = {"fusions": fusions, "temperatures": temperatures, "losses": losses, "seeds": seeds}
            _jobs.start("compare", {"dataset": record["name"], "grid": grid, "base_config": base.to_dict()},
                        origin="compare")

    def show_grid(job: dict) -> None:
        """A finished grid: what it made, and its comparison picked below (once)."""
        result = job["result"]
        st.success(f"Finished the grid: {result['cells']} cell(s), each saved as a run (best: "
                   f"{_ui.literal(result['best_run_id'])}); load one on the Train & load page.")
        if st.session_state.get("grid_job_shown") != job["id"]:
            st.session_state["grid_job_shown"] = job["id"]
            st.session_state[PICK] = result["comparison_id"]

    _jobs.detail("compare", record["name"], on_done=show_grid)
    results_section()


def results_section() -> None:
    """A stored comparison: headline, results table and CSV, heatmaps with the comparison against the best cell,
    and one cell beside random and the oracle on every slice."""
    comparisons = store.comparisons(record["name"])
    if not comparisons:
        st.info("No comparison on this dataset yet.")
        return
    by_id = {c["id"]: c for c in comparisons}
    if st.session_state.get(PICK) not in by_id:
        st.session_state[PICK] = comparisons[0]["id"]

    def describe(comparison_id: int) -> str:
        c = by_id[comparison_id]
        grid = c["grid"]
        return (f"#{comparison_id} · {c['created_at'][:16].replace('T', ' ')} · {len(grid['fusions'])} fusion × "
                f"{len(grid['temperatures'])} τ × {len(grid['losses'])} loss × {len(grid['seeds'])} seed · "
                f"{c['results']} result(s) · {c['status']}")

    st.subheader("Results")
    chosen = st.selectbox("Comparison", list(by_id), format_func=describe, key=PICK,
                          help="A grid run earlier on this dataset, newest first; each is kept in the store.")
    frame = stored_comparison(store, chosen)
    if frame.empty:
        st.warning("This comparison has no finished cell.")
        return
    headline = comparison_headline(frame)
    cols = st.columns(3)
    cols[0].metric("Best dev AUC", _ui.fmt(headline["best_auc"]),
                   help="The highest AUC of any cell on dev: how often a clicked article is scored above an "
                        "unclicked one shown with it.")
    cols[1].metric("Random AUC", _ui.fmt(headline["random_auc"]),
                   help="A scorer that guesses at random on the same impressions: the floor (about 0.5).")
    cols[2].metric("Oracle AUC", _ui.fmt(headline["oracle_auc"]),
                   help="The true click probabilities of the synthetic world: the best any model can do.")
    table = comparison_table(frame)
    _ui.show_table(table.drop(columns=[c for c in SIGNIFICANCE_COLUMNS if c in table.columns]),
                   [*varying_keys(frame), *(c for c in RESULT_KEYS if c in table.columns)], key="comparison-results")
    same = " · ".join(f"{key} {frame[key].iloc[0]:g}" if key == "temperature" else f"{key} {frame[key].iloc[0]}"
                      for key in GRID_KEYS if key not in varying_keys(frame))
    st.caption((f"Every cell: {same}. " if same else "") +
               "Way to oracle: how far the cell got from random (0%) to the oracle (100%). Best epoch: the epoch "
               "kept (chosen on the split the form's Select on names). Seconds: the cell's training and evaluation "
               "time.")
    st.download_button("Download CSV", table.to_csv(index=False), file_name=f"comparison-{chosen}.csv",
                       mime="text/csv", icon=":material/download:",
                       help="Every column of every cell, numbers unrounded, with the run id of each cell.")
    heatmaps(frame, chosen)
    one_cell(frame, chosen)


def heatmaps(frame, chosen: int) -> None:
    """Per metric a heatmap anchored at random and the oracle, and each cell against the best cell."""
    loss_options = list(dict.fromkeys(frame["loss"]))
    loss = (st.selectbox("Loss shown in the heatmaps", loss_options, help="Each loss has its own heatmap.")
            if len(loss_options) > 1 else loss_options[0])
    references = comparison_references(store, chosen)
    compared = "auc_ci_low" in frame.columns
    for tab, metric in zip(st.tabs([METRIC_LABELS[m] for m in METRIC_COLUMNS]), METRIC_COLUMNS):
        with tab:
            _ui.chart(plots.comparison_heatmap(frame, metric, loss=loss, references=references[metric]),
                      key=f"heatmap-{metric}")
            if not compared:
                st.caption("The colour scale runs from the random scorer to the oracle. This comparison predates "
                           "the comparison against the best cell; run the grid again to see which cells can be "
                           "told apart.")
                continue
            st.caption("The colour scale runs from the random scorer to the oracle. ★ is the best cell (highest "
                       "dev AUC); ≈ marks a setting that cannot be told apart from it on these impressions. In the "
                       "table, the difference is the cell minus the best cell, with its 95% interval (CI low to "
                       "high); distinguishable is no (≈) when the interval includes zero: the gap could be chance. "
                       "The metric itself and the p-value are under Show all columns.")
            _ui.show_table(against_best_table(frame, metric), [*varying_keys(frame), *AGAINST_BEST_KEYS],
                           key=f"against-best-{metric}")
            with st.expander("Why this exists", icon=":material/help:"):
                st.markdown(why_paired(RESAMPLES) + WHY_AGAINST_BEST)


def one_cell(frame, chosen: int) -> None:
    """One cell's metric beside random and the oracle, overall and on every slice."""
    st.markdown("**One cell beside random and the oracle, on every slice**")
    labels = [f"{r.fusion} · τ {r.temperature:g} · {r.loss} · seed {r.seed}" for r in frame.itertuples()]
    cell = st.selectbox("Cell", range(len(frame)), format_func=labels.__getitem__,
                        help="One trained cell of the grid; its slices split the dev impressions by how familiar "
                             "the reader and the articles were.")
    metric = st.selectbox("Metric", METRIC_COLUMNS, format_func=METRIC_LABELS.get, key="cell-metric",
                          help="Which measure of ranking quality the chart shows.")
    _ui.chart(plots.metrics_chart(comparison_evaluations(store, chosen)[cell], metric), key="cell-metrics")
    st.caption(SLICES_TEXT)


_ui.frame()
st.title("Compare")
record = _ui.require_dataset()
store = _ui.store()

grid_tab, tune_tab, external_tab, table_tab = st.tabs(
    ["Grid", "Search (Optuna)", "Score a prediction file", "All runs"])
with tune_tab:
    render_tune(store)
with external_tab:
    render_external(store)
with table_tab:
    render_experiment_table(store)
with grid_tab:  # last: it returns early when there is nothing to show yet
    grid_section()
