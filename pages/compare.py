"""Compare: train a grid of fusions × temperatures × losses × seeds, read AUC, MRR and nDCG@5/10 as a table
and heatmaps beside random and oracle, each cell's difference from the best cell with a 95% interval and a
p-value; results persist in the store, reload and export as CSV. Beside it: an Optuna search, an external
system's prediction file scored on the same screen, and every run in one experiment table."""

import streamlit as st

from pages import _forms, _jobs, _ui
from pages._experiments import render_experiment_table
from pages._external import render_external
from pages._tune import render_tune
from recengine import plots
from recengine.app.first_start import Defaults
from recengine.config import FUSIONS, LOSSES
from recengine.app.experiments import against_best_table, comparison_references
from recengine.eval.compare import METRIC_COLUMNS, SIGNIFICANCE_COLUMNS
from recengine.eval.metrics import METRIC_LABELS
from recengine.eval.significance import RESAMPLES
from recengine.tables import comparison_headline, grid_cell_metrics, stored_comparison

TEMPERATURES = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
PICK = "comparison_pick"
GRID_AXES = ("fusion", "temperature", "loss", "seed")  # chosen as lists above; every other setting in the form


def grid_section() -> None:
    """Train a grid as a job, then read any stored comparison."""
    st.caption(f"Every cell trains a fresh model on {_ui.literal(record['name'])} and evaluates it on dev with the "
               "official MIND metrics. The data is embedded once for the whole grid.")
    _jobs.estimate_caption(record["name"], Defaults.from_env().epochs, what="Each cell, a training")
    with st.form("grid"):
        c = st.columns(4)
        fusions = c[0].multiselect("Fusions", FUSIONS, default=["attention"])
        temperatures = c[1].multiselect("Temperatures τ", TEMPERATURES, default=[0.1])
        losses = c[2].multiselect("Losses", LOSSES, default=["listwise"])
        seeds = c[3].multiselect("Seeds", list(range(10)), default=[0])
        defaults = Defaults.from_env().config()
        defaults.model.embedder = _ui.default_embedder()  # the active run's: its text is already embedded
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
        return (f"#{comparison_id} · {c['created_at'][:16]} · {len(grid['fusions'])} fusion × "
                f"{len(grid['temperatures'])} τ × {len(grid['losses'])} loss × {len(grid['seeds'])} seed · "
                f"{c['results']} result(s) · {c['status']}")

    st.subheader("Results")
    chosen = st.selectbox("Comparison", list(by_id), format_func=describe, key=PICK)
    frame = stored_comparison(store, chosen)
    if frame.empty:
        st.warning("This comparison has no finished cell.")
        return
    headline = comparison_headline(frame)
    cols = st.columns(3)
    cols[0].metric("Best dev AUC", _ui.fmt(headline["best_auc"]))
    cols[1].metric("Random AUC", _ui.fmt(headline["random_auc"]), help="A random scorer on the same impressions.")
    cols[2].metric("Oracle AUC", _ui.fmt(headline["oracle_auc"]), help="The true click probabilities: the ceiling.")
    st.dataframe(frame.drop(columns=[c for c in SIGNIFICANCE_COLUMNS if c in frame.columns]), hide_index=True)
    st.download_button("Download CSV", frame.to_csv(index=False), file_name=f"comparison-{chosen}.csv",
                       mime="text/csv", icon=":material/download:")

    loss_options = list(dict.fromkeys(frame["loss"]))
    loss = st.selectbox("Loss shown in the heatmaps", loss_options) if len(loss_options) > 1 else loss_options[0]
    references = comparison_references(store, chosen)
    compared = "auc_ci_low" in frame.columns
    for tab, metric in zip(st.tabs([METRIC_LABELS[m] for m in METRIC_COLUMNS]), METRIC_COLUMNS):
        tab.plotly_chart(plots.comparison_heatmap(frame, metric, loss=loss, references=references[metric]),
                         key=f"heatmap-{metric}")
        if not compared:
            tab.caption("The colour scale runs from the random scorer to the oracle. This comparison predates the "
                        "comparison against the best cell; run the grid again to see which cells can be told apart.")
            continue
        tab.caption(f"The colour scale runs from the random scorer to the oracle. ★ is the best cell (highest dev "
                    f"AUC). ≈ marks a setting not distinguishable from it: for every seed, the 95% interval of the "
                    f"difference from the best cell, on the same dev impressions, includes zero (paired bootstrap, "
                    f"{RESAMPLES:,} resamples).")
        tab.dataframe(against_best_table(frame, metric), hide_index=True, column_config={
            "p-value": st.column_config.NumberColumn(help="Wilcoxon signed-rank test of the per-impression differences; "
                                                     "1 means no difference at all", format="%.2g"),
            "Difference from best": st.column_config.NumberColumn(format="%+.4f"),
            METRIC_LABELS[metric]: st.column_config.NumberColumn(format="%.4f"),
        })

    st.markdown("**One cell beside random and oracle**")
    labels = [f"{r.fusion} · τ {r.temperature:g} · {r.loss} · seed {r.seed}" for r in frame.itertuples()]
    cell = st.selectbox("Cell", range(len(frame)), format_func=labels.__getitem__)
    st.plotly_chart(plots.metrics_chart(grid_cell_metrics(frame.iloc[cell].to_dict())), key="cell-metrics")


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
