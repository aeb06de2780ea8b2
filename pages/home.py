"""Home: what this is, the active dataset and model with their key numbers, and where to go next."""

import streamlit as st

from pages import _ui
from pages._catalog import PAGES
from recengine import plots
from recengine.app import runs as app_runs
from recengine.app.datasets import coverage_from_meta
from recengine.eval.metrics import METRIC_LABELS, METRICS
from recengine.tables import metric_summary
from recengine.train.runs import read_run_files

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
data_col, model_col = st.columns([2, 3], gap="large")

with data_col, st.container(border=True):
    st.subheader("Active dataset")
    st.caption(f"{_ui.literal(dataset['name'])} · {dataset['source']}"
               + (f" · preset {dataset['preset']}, seed {dataset['seed']}" if dataset["preset"] else ""))
    summary = dataset["summary"]
    for row in ((("Articles", "articles"), ("Users", "users")), (("Impressions", "impressions"), ("Clicks", "clicks"))):
        for col, (label, key) in zip(st.columns(2), row):
            col.metric(label, f"{summary.get(key, 0):,}")

with model_col, st.container(border=True):
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
        cols[0].metric("Dev AUC", _ui.fmt(numbers["auc"]), help="Official MIND AUC, mean over dev impressions.")
        cols[1].metric("Random AUC", _ui.fmt(numbers["random_auc"]), help="A random scorer on the same impressions.")
        cols[2].metric("Oracle AUC", _ui.fmt(numbers["oracle_auc"]),
                       help="The true click probabilities (known for synthetic data): the ceiling any model can reach.")
        cols[3].metric("Way to oracle", _ui.percent(numbers["share_of_oracle"]),
                       help="(model − random) / (oracle − random): 0% is random, 100% is the oracle.")
        ranking = [name for name in METRICS if name != "auc"]  # AUC is shown above, beside random and oracle
        for col, name in zip(st.columns(max(4, len(ranking))), ranking):
            col.metric(METRIC_LABELS[name], _ui.fmt(numbers[name]))
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
    st.plotly_chart(plots.metrics_chart(run["metrics"]), key="home-metrics")
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
