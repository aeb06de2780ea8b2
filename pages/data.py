"""Data: pick the active dataset, generate a synthetic one, import a MIND folder or upload files; statistics."""

import pandas as pd
import streamlit as st

from pages import _jobs, _ui
from recengine import plots
from recengine.config import EMBEDDERS
from recengine.app import datasets as app_datasets
from recengine.app import estimate, jobs
from recengine.data.imports import IMPORT_ROOTS_ENV, import_roots
from recengine.data.synthetic import PRESETS
from recengine.diagnostics import data_statistics
from recengine.tables import datasets_table


@st.cache_data(show_spinner="Counting…", max_entries=8)
def statistics(path: str, changed: int) -> tuple[dict, dict]:
    """The dataset's summary and what the data charts draw (keyed on the folder and its stamp)."""
    data = _ui.dataset(path)
    return data.summary(), data_statistics(data)


@st.cache_data(show_spinner="Measuring coverage…", max_entries=8)
def coverage(path: str, changed: int, embedder_name: str, cache_changed: int) -> dict:
    """Text and graph coverage, keyed on the dataset's stamp and the embedding cache's (an embedding job moves it)."""
    return app_datasets.coverage(_ui.dataset(path), _ui.embedder(embedder_name))


_ui.frame()
st.title("Data")
store = _ui.store()
workspace = _ui.workspace()
records = store.datasets()

st.subheader("Datasets")
if records:
    st.dataframe(datasets_table(records), hide_index=True)
    names = [r["name"] for r in records]
    current = _ui.active_dataset()
    with st.form("activate-dataset", border=False):
        choice = st.selectbox("Work on", names, index=names.index(current["name"]) if current else 0)
        if st.form_submit_button("Make active", icon=":material/check_circle:"):
            _ui.activate(dataset=choice)
else:
    st.info("No dataset yet: generate or import one below.")

st.subheader("Add a dataset")
generate_tab, folder_tab, upload_tab = st.tabs(["Generate", "Import a folder", "Upload files"])

with generate_tab, st.form("generate"):
    st.caption("A synthetic MIND-format world with planted truth, so every figure can be shown beside the oracle.")
    preset = st.selectbox(
        "Preset", list(PRESETS), index=list(PRESETS).index("tiny"),
        format_func=lambda p: f"{p}: {PRESETS[p].articles:,} articles, {PRESETS[p].users:,} users, "
                              f"{PRESETS[p].train_impressions + PRESETS[p].dev_impressions:,} impressions",
    )
    seed = st.number_input("Seed", min_value=0, max_value=2**31 - 1, value=1, step=1)
    name = st.text_input("Name (optional)", placeholder="<preset>-seed<seed>")
    if st.form_submit_button("Generate", icon=":material/auto_awesome:"):
        with _ui.boundary("generating the dataset") as done, st.status("Generating…", expanded=True) as status:
            status.write(f"Writing the {preset} world with seed {seed} and importing it into the store.")
            result = app_datasets.generate(workspace, store, preset, int(seed), name=name.strip() or None)
            status.update(label="Generated", state="complete")
        if done.ok:
            st.session_state["data_message"] = (f"Generated dataset {result['dataset']}: "
                                                 f"{result['articles']:,} articles.")
            _ui.activate(dataset=result["dataset"])

with folder_tab, st.form("import-folder"):
    roots = import_roots(workspace)
    st.caption("A MIND folder (train/ and dev/, or one split with news.tsv and behaviors.tsv), read in place. "
               f"It must lie inside {', '.join(_ui.literal(str(r)) for r in roots)} "
               f"(more places can be allowed with ${IMPORT_ROOTS_ENV}).")
    path = st.text_input("Folder", placeholder="my-mind (under the datasets folder) or an absolute path")
    name = st.text_input("Name (optional)", placeholder="the folder's name", key="folder-name")
    strict = st.checkbox("Refuse the dataset at the first bad row", value=True, key="folder-strict",
                         help="Off: bad rows are skipped and counted instead.")
    if st.form_submit_button("Import", icon=":material/drive_folder_upload:"):
        with _ui.boundary("importing the folder") as done, st.spinner("Reading and importing…"):
            result = app_datasets.import_folder(workspace, store, path, name.strip() or None, strict=strict)
        if done.ok:
            st.session_state["data_message"] = f"Imported dataset {result['dataset']}."
            _ui.activate(dataset=result["dataset"])

with upload_tab, st.form("upload", clear_on_submit=True):
    st.caption("news.tsv and behaviors.tsv (and optionally entity_embedding.vec) of one split, or one .zip of a "
               "MIND folder. The files are checked before anything is kept.")
    files = st.file_uploader("Files", type=["tsv", "vec", "zip"], accept_multiple_files=True)
    name = st.text_input("Name", placeholder="my-upload", key="upload-name")
    strict = st.checkbox("Refuse the dataset at the first bad row", value=True, key="upload-strict")
    if st.form_submit_button("Upload and import", icon=":material/upload:"):
        with _ui.boundary("importing the upload") as done, st.spinner("Checking and importing…"):
            result = app_datasets.import_upload(workspace, store, [(f.name, f.getvalue()) for f in files or []],
                                   name.strip(), strict=strict)
        if done.ok:
            st.session_state["data_message"] = f"Imported dataset {result['dataset']}."
            _ui.activate(dataset=result["dataset"])

if message := st.session_state.pop("data_message", None):
    st.success(_ui.literal(message))

record = _ui.active_dataset()
if record is None:
    st.stop()
st.subheader("Statistics")
st.caption(f"Dataset {_ui.literal(record['name'])} at {_ui.literal(record['path'])}")
with _ui.boundary("reading the dataset"):
    summary, stats = statistics(record["path"], _ui.stamp(record["path"]))
    cols = st.columns(5)
    cols[0].metric("Articles", f"{summary['articles']:,}")
    cols[1].metric("Users", f"{summary['users']:,}")
    cols[2].metric("Impressions", f"{summary['impressions']:,}")
    cols[3].metric("Skipped rows", f"{summary['skipped_rows']:,}")
    cols[4].metric("Truth for the oracle", "yes" if summary["has_truth"] else "no")
    st.dataframe(pd.DataFrame(summary["splits"]).T.rename_axis("split"))
    left, right = st.columns(2)
    left.plotly_chart(plots.click_rate_chart(stats["click_rate"]), key="click-rate")
    right.plotly_chart(plots.history_length_chart(stats["history_lengths"]), key="history-lengths")
    left.plotly_chart(plots.category_chart(stats["categories"]), key="categories")
    with right:
        embedder_name = st.selectbox("Text coverage for the embedder", EMBEDDERS,
                                     index=EMBEDDERS.index(_ui.default_embedder()))
        covered = coverage(record["path"], _ui.stamp(record["path"]), embedder_name,
                           _ui.stamp(_ui.workspace().cache / "embeddings"))
        st.plotly_chart(plots.coverage_chart(covered), key="coverage")
        missing = round((1 - (covered["text_coverage"] or 0)) * covered["articles"])
        if missing:
            rate, basis = estimate.embedding_rate(embedder_name, jobs.finished_embeddings(_ui.store()))
            st.caption(f"{missing:,} articles have no {_ui.literal(embedder_name)} vector yet: "
                       f"{_ui.literal(estimate.duration(missing / rate))} to embed them ({_ui.literal(basis)}).")
            if st.button(f"Embed them with {embedder_name}", icon=":material/text_fields:"):
                _jobs.start("embed", {"dataset": record["name"], "embedder": embedder_name}, origin="data")
        _jobs.detail("embed", record["name"], key="embed-job")
        graph = covered["graph"]
        cols = st.columns(3)
        cols[0].metric("Graph: articles", f"{graph['article_nodes']:,}")
        cols[1].metric("Entities", f"{graph['entity_nodes']:,}")
        cols[2].metric("Mentions", f"{graph['mentions']:,}")
    if summary["warnings"]:
        with st.expander(f"{len(summary['warnings'])} problems found while reading"):
            st.code("\n".join(summary["warnings"]), language=None)
