"""Compare: train a grid of fusions × temperatures × losses × seeds, read AUC, MRR and nDCG@5/10 as a table
and heatmaps beside random and oracle; results persist in the store, reload and export as CSV."""

import streamlit as st

from pages import _ui
from recengine import plots
from recengine.bootstrap import Defaults
from recengine.config import EMBEDDERS, FUSIONS, LOSSES, ModelConfig, RunConfig, TrainConfig
from recengine.eval.compare import METRIC_COLUMNS, run_grid
from recengine.ui_support import comparison_headline, grid_cell_metrics, stored_comparison

TEMPERATURES = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
PICK = "comparison_pick"

_ui.frame()
st.title("Compare")
record = _ui.require_dataset()
store = _ui.store()
st.caption(f"Every cell trains a fresh model on {_ui.literal(record['name'])} and evaluates it on dev with the "
           "official MIND metrics. The data is embedded once for the whole grid.")

with st.form("grid"):
    c = st.columns(4)
    fusions = c[0].multiselect("Fusions", FUSIONS, default=["attention"])
    temperatures = c[1].multiselect("Temperatures τ", TEMPERATURES, default=[0.1])
    losses = c[2].multiselect("Losses", LOSSES, default=["listwise"])
    seeds = c[3].multiselect("Seeds", list(range(10)), default=[0])
    c = st.columns(4)
    epochs = c[0].number_input("Epochs per cell", min_value=1, max_value=100, value=Defaults.from_env().epochs)
    embedder = c[1].selectbox("Text embedder", EMBEDDERS, index=EMBEDDERS.index(_ui.default_embedder()))
    run = st.form_submit_button("Run the grid", type="primary", icon=":material/play_arrow:")

if run:
    cells = len(fusions) * len(temperatures) * len(losses) * len(seeds)
    with _ui.boundary("running the comparison") as done:
        with st.status(f"Running {cells} cell(s)…", expanded=True) as status:
            progress = _ui.TrainingProgress(curves=False)

            def report(event) -> None:
                if event.cell:
                    settings = " · ".join(f"{k} {v}" for k, v in event.settings.items())
                    progress.window((event.cell - 1) / event.cells, event.cell / event.cells,
                                    f"cell {event.cell}/{event.cells} ({settings}) · ")
                    if event.event.kind == "done":
                        status.write(f"Cell {event.cell}/{event.cells} ({settings}): dev AUC "
                                     f"{_ui.fmt((event.event.metrics or {}).get('auc'))}")
                progress(event.event)

            base = RunConfig(ModelConfig(embedder=embedder), TrainConfig(epochs=int(epochs)))
            frame = run_grid(
                _ui.dataset(record["path"]), base, fusions=fusions, temperatures=temperatures, losses=losses,
                seeds=seeds, embedder=_ui.embedder(embedder), store=store, dataset_name=record["name"],
                progress=report,
            )
            status.update(label=f"Finished {cells} cell(s)", state="complete")
    if done.ok:
        st.session_state[PICK] = frame.attrs["comparison_id"]

comparisons = store.comparisons(record["name"])
if not comparisons:
    st.info("No comparison on this dataset yet.")
    st.stop()
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
    st.stop()
headline = comparison_headline(frame)
cols = st.columns(3)
cols[0].metric("Best dev AUC", _ui.fmt(headline["best_auc"]))
cols[1].metric("Random AUC", _ui.fmt(headline["random_auc"]), help="A random scorer on the same impressions.")
cols[2].metric("Oracle AUC", _ui.fmt(headline["oracle_auc"]), help="The true click probabilities: the ceiling.")
st.dataframe(frame, hide_index=True)
st.download_button("Download CSV", frame.to_csv(index=False), file_name=f"comparison-{chosen}.csv",
                   mime="text/csv", icon=":material/download:")

loss_options = list(dict.fromkeys(frame["loss"]))
loss = st.selectbox("Loss shown in the heatmaps", loss_options) if len(loss_options) > 1 else loss_options[0]
for tab, metric in zip(st.tabs([m.upper() if m in ("auc", "mrr") else m for m in METRIC_COLUMNS]), METRIC_COLUMNS):
    tab.plotly_chart(plots.comparison_heatmap(frame, metric, loss=loss), key=f"heatmap-{metric}")

st.markdown("**One cell beside random and oracle**")
labels = [f"{r.fusion} · τ {r.temperature:g} · {r.loss} · seed {r.seed}" for r in frame.itertuples()]
cell = st.selectbox("Cell", range(len(frame)), format_func=labels.__getitem__)
st.plotly_chart(plots.metrics_chart(grid_cell_metrics(frame.iloc[cell].to_dict())), key="cell-metrics")
