"""Train & load: a form with every model and training option, live training progress, and the saved runs
(listed with their metrics, made active, compared side by side, deleted after a confirmation)."""

import streamlit as st

from pages import _ui
from recengine import plots
from recengine.bootstrap import Defaults
from recengine.config import (
    EMBEDDERS, FUSIONS, GNNS, LOSSES, NEW_ARTICLE_ID, SCHEDULES, SCORINGS, TEXT_FIELDS, USER_ENCODERS, VIEWS,
    ModelConfig, RunConfig, TrainConfig,
)
from recengine.train.runs import check_run
from recengine.ui_support import compare_runs, delete_run, metric_summary, runs_table, train_and_register

MODEL, TRAIN, DEFAULTS = ModelConfig(), TrainConfig(), Defaults.from_env()

_ui.frame()
st.title("Train & load")
record = _ui.require_dataset()
store = _ui.store()
runs = store.runs(record["name"])

if trained := st.session_state.pop("trained", None):
    st.success(f"Trained and saved run {_ui.literal(trained['run_id'])}; it is now the active model.")
    st.plotly_chart(plots.training_curves(trained["history"], random_auc=trained["random_auc"],
                                          oracle_auc=trained["oracle_auc"]), key="trained-curves")
if message := st.session_state.pop("runs_message", None):
    st.success(_ui.literal(message))

st.subheader(f"Train a model on {_ui.literal(record['name'])}")
st.caption("OpenAI key: " + ("configured (never shown)" if _ui.openai_configured() else
                             "not configured; the openai embedder needs OPENAI_API_KEY in the environment or in "
                             ".streamlit/secrets.toml"))
with st.form("train"):
    st.markdown("**Model**")
    c = st.columns(4)
    views = c[0].multiselect("Views", VIEWS, default=list(MODEL.views), help="The ways an article is read.")
    fusion = c[1].selectbox("Fusion", FUSIONS, index=FUSIONS.index(MODEL.fusion))
    user_encoder = c[2].selectbox("User encoder", USER_ENCODERS, index=USER_ENCODERS.index(MODEL.user_encoder))
    gnn = c[3].selectbox("GNN", GNNS, index=GNNS.index(MODEL.gnn))
    c = st.columns(4)
    embedder = c[0].selectbox("Text embedder", EMBEDDERS, index=EMBEDDERS.index(DEFAULTS.embedder))
    scoring = c[1].selectbox("Scoring", SCORINGS, index=SCORINGS.index(MODEL.scoring),
                             help="cosine / temperature, or the raw dot product (saturates: see Diagnostics).")
    temperature = c[2].number_input("Temperature τ", min_value=1e-4, max_value=100.0, value=MODEL.temperature,
                                    step=0.05, format="%.4f", help="Logit = cosine / τ; τ 0.1 is seeds/001's ×10.")
    dim = c[3].number_input("Dimension", min_value=4, max_value=4096, value=MODEL.dim, step=8)
    st.markdown("**Training**")
    c = st.columns(4)
    loss = c[0].selectbox("Loss", LOSSES, index=LOSSES.index(TRAIN.loss))
    negatives = c[1].number_input("Negatives per click", min_value=0, max_value=1000, value=TRAIN.negatives,
                                  help="K non-clicks from the same impression (MIND standard: 4); infonce may use 0.")
    epochs = c[2].number_input("Epochs", min_value=1, max_value=1000, value=DEFAULTS.epochs)
    lr = c[3].number_input("Learning rate", min_value=1e-7, max_value=10.0, value=TRAIN.lr, format="%.6f", step=1e-4)
    c = st.columns(4)
    batch_size = c[0].number_input("Batch size", min_value=1, max_value=1_000_000, value=TRAIN.batch_size)
    patience = c[1].number_input("Early-stopping patience", min_value=0, max_value=1000, value=TRAIN.patience,
                                 help="Epochs without a better dev AUC before stopping; the best epoch is kept.")
    schedule = c[2].selectbox("Schedule", SCHEDULES, index=SCHEDULES.index(TRAIN.schedule))
    seed = c[3].number_input("Seed", min_value=0, max_value=2**31 - 1, value=TRAIN.seed)
    with st.expander("More options"):
        c = st.columns(4)
        gnn_layers = c[0].number_input("GNN layers", min_value=1, max_value=6, value=MODEL.gnn_layers)
        text_fields = c[1].selectbox("Text fields", TEXT_FIELDS, index=TEXT_FIELDS.index(MODEL.text_fields))
        max_history = c[2].number_input("Max history", min_value=1, max_value=1000, value=MODEL.max_history)
        user_id_dim = c[3].number_input("User ID dimension", min_value=0, max_value=4096, value=MODEL.user_id_dim)
        c = st.columns(4)
        id_dropout = c[0].number_input("ID dropout", min_value=0.0, max_value=0.9, value=MODEL.id_dropout, step=0.05)
        new_article_id = c[1].selectbox("New article ID vector", NEW_ARTICLE_ID,
                                        index=NEW_ARTICLE_ID.index(MODEL.new_article_id))
        user_retrieval = c[2].number_input("Similar users fused (0 = off)", min_value=0, max_value=1000,
                                           value=MODEL.user_retrieval)
        retrieval_threshold = c[3].number_input("Retrieval threshold", min_value=-1.0, max_value=1.0,
                                                value=MODEL.retrieval_threshold, step=0.05)
        c = st.columns(4)
        weight_decay = c[0].number_input("Weight decay", min_value=0.0, max_value=10.0, value=TRAIN.weight_decay,
                                         format="%.6f", step=1e-4)
        grad_clip = c[1].number_input("Gradient clip", min_value=0.0, max_value=1e6, value=TRAIN.grad_clip)
        warmup = c[2].number_input("Warmup share", min_value=0.0, max_value=0.9, value=TRAIN.warmup, step=0.01)
        pos_weight = c[3].number_input("Positive weight (bce)", min_value=1e-3, max_value=1e4, value=None,
                                       placeholder="K: a click weighs as much as its negatives")
        c = st.columns(4)
        entity_dropout = c[0].number_input("Entity dropout", min_value=0.0, max_value=1.0,
                                           value=MODEL.entity_dropout, step=0.05,
                                           help="Share of articles seen without their entities in training.")
        id_lr_scale = c[1].number_input("ID learning-rate factor", min_value=0.0, max_value=10.0,
                                        value=TRAIN.id_lr_scale, step=0.05,
                                        help="Rate of the ID tables relative to the rest: rare rows overfit at 1.")
        c = st.columns(4)
        eval_impressions = c[0].number_input("Dev impressions per epoch (0 = all)", min_value=0,
                                             max_value=10**9, value=TRAIN.eval_impressions)
        device = c[1].selectbox("Device", ("auto", "cpu", "cuda"))
        freshness = c[2].checkbox("Freshness bonus", value=MODEL.freshness)
        output_relu = c[2].checkbox("ReLU on vectors (seeds/001)", value=MODEL.output_relu)
        bce_on_probabilities = c[3].checkbox("Sigmoid then BCELoss (seeds/001)", value=TRAIN.bce_on_probabilities)
    submitted = st.form_submit_button("Train", type="primary", icon=":material/play_arrow:")

if submitted:
    baselines = metric_summary(runs[0]["metrics"]) if runs else {}
    with _ui.boundary("training the model") as done:
        config = RunConfig(
            ModelConfig(
                views=tuple(views), dim=int(dim), fusion=fusion, user_encoder=user_encoder, gnn=gnn,
                gnn_layers=int(gnn_layers), scoring=scoring, temperature=float(temperature), output_relu=output_relu,
                max_history=int(max_history), user_id_dim=int(user_id_dim), id_dropout=float(id_dropout),
                entity_dropout=float(entity_dropout),
                freshness=freshness, new_article_id=new_article_id, user_retrieval=int(user_retrieval),
                retrieval_threshold=float(retrieval_threshold), embedder=embedder, text_fields=text_fields,
            ).validate(),
            TrainConfig(
                loss=loss, negatives=int(negatives), epochs=int(epochs), lr=float(lr), batch_size=int(batch_size),
                weight_decay=float(weight_decay), grad_clip=float(grad_clip), schedule=schedule, warmup=float(warmup),
                patience=int(patience), pos_weight=None if pos_weight is None else float(pos_weight),
                bce_on_probabilities=bce_on_probabilities, seed=int(seed), device=device,
                eval_impressions=int(eval_impressions), id_lr_scale=float(id_lr_scale),
            ).validate(),
        )
        with st.status(f"Training on {_ui.literal(record['name'])}…", expanded=True) as status:
            progress = _ui.TrainingProgress(random_auc=baselines.get("random_auc"),
                                            oracle_auc=baselines.get("oracle_auc"))
            run_id, result = train_and_register(
                _ui.workspace(), store, record["name"], config, data=_ui.dataset(record["path"]),
                embedder=_ui.embedder(embedder), progress=progress,
            )
            status.update(label="Trained and saved", state="complete")
    if done.ok:
        numbers = metric_summary(result.metrics)
        st.session_state["trained"] = {"run_id": run_id, "history": result.result.history,
                                       "random_auc": numbers["random_auc"], "oracle_auc": numbers["oracle_auc"]}
        _ui.activate(run=run_id)

st.subheader("Saved runs")
if not runs:
    st.info("No run is saved for this dataset yet.")
    st.stop()
active = _ui.active_run()
active_id = active["run_id"] if active else None
st.dataframe(runs_table(runs), hide_index=True,
             column_config={"share_of_oracle": st.column_config.NumberColumn("way to oracle", format="percent")})
run_ids = [run["run_id"] for run in runs]

load_col, delete_col = st.columns(2, gap="large")
with load_col, st.form("load-run", border=False):
    chosen = st.selectbox("Load", run_ids, index=run_ids.index(active_id) if active_id in run_ids else 0)
    if st.form_submit_button("Make active", icon=":material/check_circle:"):
        with _ui.boundary("checking the run") as checked:
            check_run(next(run["path"] for run in runs if run["run_id"] == chosen))
        if checked.ok:
            st.session_state["runs_message"] = f"Run {chosen} is now the active model."
            _ui.activate(run=chosen)

with delete_col:
    deletable = [run_id for run_id in run_ids if run_id != active_id]
    pending = st.session_state.get("confirm_delete")
    if pending not in deletable:
        victim = st.selectbox("Delete", deletable, index=None, placeholder="a run that is not active",
                              help="The active model cannot be deleted: make another run active first.")
        if st.button("Delete…", icon=":material/delete:", disabled=victim is None):
            st.session_state["confirm_delete"] = victim
            st.rerun()
    else:
        st.warning(f"Delete run {_ui.literal(pending)}? Its folder and its row in the store are removed for good.")
        yes, no = st.columns(2)
        if yes.button("Yes, delete it", type="primary", icon=":material/delete_forever:"):
            del st.session_state["confirm_delete"]
            with _ui.boundary("deleting the run") as done:
                delete_run(_ui.workspace(), store, pending, active=active_id)
            if done.ok:
                st.session_state["runs_message"] = f"Deleted run {pending}."
                st.rerun()
        if no.button("Cancel"):
            del st.session_state["confirm_delete"]
            st.rerun()

st.subheader("Compare saved runs")
picked = st.multiselect("Runs to compare", run_ids, default=run_ids[:2] if len(run_ids) >= 2 else [],
                        help="Pick two or more.")
if len(picked) >= 2:
    chosen_runs = [run for run in runs if run["run_id"] in picked]
    metrics, settings = compare_runs(chosen_runs)
    st.dataframe(metrics)
    if settings.empty:
        st.caption("The runs share every setting.")
    else:
        st.dataframe(settings)
    for col, run in zip(st.columns(min(len(chosen_runs), 3)), chosen_runs[:3]):
        col.caption(_ui.literal(run["run_id"]))
        col.plotly_chart(plots.metrics_chart(run["metrics"]), key=f"compare-chart-{run['run_id']}")
elif picked:
    st.caption("Pick at least two runs.")
