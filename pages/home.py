"""Home: what this is, the active dataset and model with their key numbers, and where to go next."""

import pandas as pd
import streamlit as st

from pages import _ui
from pages._catalog import PAGES
from recengine import formats, plots
from recengine.app import runs as app_runs
from recengine.app.datasets import coverage_from_meta
from recengine.eval.evaluate import SLICE_UNITS
from recengine.eval.metrics import METRIC_UNITS, METRICS
from recengine.tables import metric_summary
from recengine.train.runs import read_run_files

SLICES_IN_WORDS = " ".join(
    ["The slices, in plain words: **overall** is every dev impression;"]
    + [f"**{unit.label}**: {unit.description};" for unit in SLICE_UNITS]
)[:-1] + "."


def ranking(metrics: dict) -> None:
    """The ranking metrics (every metric but AUC, which the tiles show) of the model, random and the oracle, as
    one small table: seven tiles in a row would cut their values."""
    rows = [{"scorer": name, **{m: (metrics.get(name) or {}).get(m) for m in METRICS if m != "auc"}}
            for name in ("model", "random", "oracle") if metrics.get(name)]
    frame = pd.DataFrame(rows)
    _ui.show_table(frame, list(frame.columns), key="home-ranking", kinds={"scorer": "text"})
    st.caption("; ".join(f"**{m.label}**: {m.description}" for m in METRIC_UNITS if m.name in frame.columns) + ".")


_ui.frame()
st.title("recengine")
st.markdown(
    "A news recommender that reads every article three ways: a **learned ID vector**, a **language-model text "
    "embedding** and a **knowledge-graph GNN vector**, fused into one. It learns readers from their clicks and "
    "keeps working when new articles and new readers arrive after training. Every quality figure is shown beside "
    "a **random** scorer and the **oracle** (the true click probabilities of the synthetic world), so you can see "
    "how much of the reachable ground a model covers."
)

dataset = _ui.require_dataset()
run = _ui.active_run()
# Full-width boxes, four tiles a row at most: at 1024 px a tile then still holds "0.682" without cutting it.
with st.container(border=True):
    st.subheader("Active dataset")
    st.caption(f"{_ui.literal(dataset['name'])} · {dataset['source']}"
               + (f" · preset {dataset['preset']}, seed {dataset['seed']}" if dataset["preset"] else ""))
    summary = dataset["summary"]
    for col, (label, key) in zip(st.columns(4), (("Articles", "articles"), ("Users", "users"),
                                                 ("Impressions", "impressions"), ("Clicks", "clicks"))):
        col.metric(label, formats.count(summary.get(key, 0)))

with st.container(border=True):
    st.subheader("Active model")
    if run is None:
        st.info("No model is trained on this dataset yet.")
        st.page_link("pages/train.py", label="Train one", icon=":material/model_training:")
    else:
        config = run["config"]["model"]
        st.caption(f"{_ui.literal(run['run_id'])} · {run['mode']} · views {'+'.join(config['views'])} · "
                   f"{config['fusion']} fusion · {config['embedder']} text · "
                   f"{config['scoring']} / τ {config['temperature']}")
        numbers = metric_summary(run["metrics"])
        cols = st.columns(4)
        cols[0].metric("Dev AUC", _ui.fmt(numbers["auc"]),
                       help="How often the model ranks a clicked article above a skipped one in the same "
                            "impression (official MIND AUC, mean over dev impressions): 0.5 is chance, 1 is perfect.")
        cols[1].metric("Random AUC", _ui.fmt(numbers["random_auc"]),
                       help="The same measure for a scorer that guesses at random, on the same impressions.")
        cols[2].metric("Oracle AUC", _ui.fmt(numbers["oracle_auc"]),
                       help="The same measure for the true click probabilities (known for synthetic data): the "
                            "ceiling any model can reach.")
        cols[3].metric("Way to oracle", _ui.percent(numbers["share_of_oracle"]),
                       help="How far the model got from random (0%) to the oracle (100%): "
                            "(model − random) / (oracle − random).")
        ranking(run["metrics"])
        with _ui.boundary("reading the run's coverage"):
            coverage = coverage_from_meta(read_run_files(run["path"])[1])
            cols = st.columns(4)
            cols[0].metric("Text coverage", _ui.percent(coverage["text_coverage"]),
                           help="Share of the trained articles with a text vector.")
            cols[1].metric("Graph coverage", _ui.percent(coverage["graph_coverage"]),
                           help="Share of the trained articles linked to knowledge-graph entities.")
            if coverage["text_warning"]:
                st.warning(_ui.literal(coverage["text_warning"]))

if run is not None:
    _ui.chart(plots.metrics_chart(run["metrics"]), key="home-metrics")
    st.caption(SLICES_IN_WORDS)
    with st.expander("Check these numbers: evaluate the model on dev again"):
        st.caption("Scores every dev impression again with the saved model and stores the result. The numbers "
                   "should match the ones above: training is saved, evaluation is deterministic.")
        if st.button("Evaluate again", icon=":material/refresh:"):
            with _ui.boundary("evaluating the model"), st.spinner("Scoring the dev impressions…"):
                loaded = _ui.loaded_run(run["path"])
                metrics = app_runs.reevaluate(_ui.store(), run["run_id"], loaded=loaded,
                                              embedder=_ui.embedder(run["config"]["model"]["embedder"]))
                fresh = metric_summary(metrics)
                st.success(f"Dev AUC now {_ui.fmt(fresh['auc'], 4)} (stored before: {_ui.fmt(numbers['auc'], 4)}); "
                           f"random {_ui.fmt(fresh['random_auc'], 4)}, oracle {_ui.fmt(fresh['oracle_auc'], 4)}.")

st.subheader("Where to go next")
cols = st.columns(2)
for i, page in enumerate(p for p in PAGES if p.url != "home"):
    with cols[i % 2]:
        st.page_link(page.file, label=page.title, icon=page.icon)
        st.caption(page.what)
