"""Data: pick the active dataset, generate a synthetic one, import a MIND folder or upload files; statistics."""

import pandas as pd
import streamlit as st

from pages import _jobs, _ui
from recengine import formats, plots
from recengine.config import EMBEDDERS
from recengine.app import datasets as app_datasets
from recengine.app import estimate, jobs
from recengine.data.imports import IMPORT_ROOTS_ENV, import_roots
from recengine.data.synthetic import PRESETS, WORLD_VERSIONS
from recengine.diagnostics import data_statistics
from recengine.tables import datasets_table
from recengine.train.runs import read_run_files

ADDED_KEY = "data_added"  # the dataset this session added last, until it is made active
DATASET_KEYS = ["name", "source", "articles", "users", "impressions", "imported_at"]
SPLIT_KEYS = ["split", "impressions", "users", "articles", "clicks", "click_rate", "mean_history_length"]
SPLIT_KINDS = {"click_rate": "share", "mean_history_length": "number"}  # every other statistic is a count
WORLD_VERSION_LABELS = {3: "3: paraphrase, drift and new entities on day 6 (default)", 2: "2: the earlier world"}
STRICT_HELP = "On: the first malformed row refuses the whole dataset. Off: bad rows are skipped and counted."


@st.cache_data(show_spinner="Counting…", max_entries=8)
def statistics(path: str, changed: int) -> tuple[dict, dict]:
    """The dataset's summary and what the data charts draw (keyed on the folder and its stamp)."""
    data = _ui.dataset(path)
    return data.summary(), data_statistics(data)


@st.cache_data(show_spinner="Measuring coverage…", max_entries=8)
def coverage(path: str, changed: int, embedder_name: str, cache_changed: int) -> dict:
    """Text and graph coverage, keyed on the dataset's stamp and the embedding cache's (an embedding job moves it)."""
    return app_datasets.coverage(_ui.dataset(path), _ui.embedder(embedder_name))


@st.cache_data(show_spinner=False, max_entries=8)
def run_coverage(path: str, changed: int) -> dict:
    """The coverage a run trained with, from its meta.json (keyed on the run folder's stamp)."""
    return app_datasets.coverage_from_meta(read_run_files(path)[1])


def added(name: str, message: str) -> None:
    """Remember a dataset this session just added and redraw the page. The active dataset stays as it was (the
    model pages would otherwise find no model); the page offers to switch, except when there is nothing to keep."""
    if _ui.active_dataset() is None:
        _ui.activate(dataset=name)
    st.session_state[ADDED_KEY] = {"name": name, "message": message}
    st.rerun()


def offer_added() -> None:
    """Say what was added and offer to make it active, until it is active."""
    fresh, current = st.session_state.get(ADDED_KEY), _ui.active_dataset()
    if not fresh:
        return
    if current is None or current["name"] == fresh["name"]:
        st.session_state.pop(ADDED_KEY)
        return
    st.success(f"{_ui.literal(fresh['message'])} The pages still work on {_ui.literal(current['name'])}: make "
               f"{_ui.literal(fresh['name'])} active to work on it, then train a model for it on Train & load.",
               icon=":material/check_circle:")
    if st.button(f"Make {fresh['name']} active", icon=":material/check_circle:", key="activate-added",
                 help="Switch every page to the new dataset (it has no model until you train one)."):
        st.session_state.pop(ADDED_KEY)
        _ui.activate(dataset=fresh["name"])


def datasets_section(records: list[dict]) -> None:
    st.subheader("Datasets")
    if not records:
        st.info("No dataset yet: generate or import one below.")
        return
    _ui.show_table(datasets_table(records), DATASET_KEYS, key="datasets-table", kinds={"seed": "count"})
    names = [r["name"] for r in records]
    current = _ui.active_dataset()
    with st.form("activate-dataset", border=False):
        choice = st.selectbox("Work on", names, index=names.index(current["name"]) if current else 0,
                              help="The dataset every page uses; the sidebar switches it too.")
        if st.form_submit_button("Make active", icon=":material/check_circle:"):
            _ui.activate(dataset=choice)


def generate_form() -> None:
    with st.form("generate"):
        st.caption("A synthetic MIND-format world with planted truth, so every figure can be shown beside the "
                   "oracle.")
        preset = st.selectbox(
            "Preset", list(PRESETS), index=list(PRESETS).index("tiny"),
            format_func=lambda p: f"{p}: {PRESETS[p].articles:,} articles, {PRESETS[p].users:,} users, "
                                  f"{PRESETS[p].train_impressions + PRESETS[p].dev_impressions:,} impressions",
            help="How big a world to write: bigger ones take longer to generate and to train on.",
        )
        seed = st.number_input("Seed", min_value=0, max_value=2**31 - 1, value=1, step=1,
                               help="The same preset and seed always give the same world; change it for another.")
        world_version = st.selectbox(
            "World version", list(reversed(WORLD_VERSIONS)), index=0,
            format_func=lambda v: WORLD_VERSION_LABELS.get(v, str(v)),
            help="Version 3 writes each topic in many different words and brings new words and new entities on "
                 "the last day, so a language model can show what it adds; version 2 is the earlier world, kept "
                 "so that old figures can be reproduced.",
        )
        name = st.text_input("Name (optional)", placeholder="<preset>-seed<seed>",
                             help="The dataset's name; left empty, it is the preset and seed, e.g. tiny-seed1 "
                                  "(tiny-seed1-v2 for a version-2 world).")
        if st.form_submit_button("Generate", icon=":material/auto_awesome:"):
            with _ui.boundary("generating the dataset") as done, st.status("Generating…", expanded=True) as status:
                status.write(f"Writing the {preset} world with seed {seed} and importing it into the store.")
                result = app_datasets.generate(_ui.workspace(), _ui.store(), preset, int(seed),
                                               name=name.strip() or None, world_version=int(world_version))
                status.update(label="Generated", state="complete")
            if done.ok:
                added(result["dataset"], f"Generated dataset {result['dataset']}: {result['articles']:,} articles.")


def folder_form() -> None:
    workspace = _ui.workspace()
    with st.form("import-folder"):
        roots = import_roots(workspace)
        st.caption("A MIND folder (train/ and dev/, or one split with news.tsv and behaviors.tsv), read in place. "
                   f"It must lie inside {', '.join(_ui.literal(str(r)) for r in roots)} "
                   f"(more places can be allowed with ${IMPORT_ROOTS_ENV}).")
        path = st.text_input("Folder", placeholder="my-mind (under the datasets folder) or an absolute path",
                             help="Where the MIND files are: a name under the datasets folder, or a full path.")
        name = st.text_input("Name (optional)", placeholder="the folder's name", key="folder-name",
                             help="The dataset's name; left empty, it is the folder's name.")
        strict = st.checkbox("Refuse the dataset at the first bad row", value=True, key="folder-strict",
                             help=STRICT_HELP)
        if st.form_submit_button("Import", icon=":material/drive_folder_upload:"):
            with _ui.boundary("importing the folder") as done, st.spinner("Reading and importing…"):
                result = app_datasets.import_folder(workspace, _ui.store(), path, name.strip() or None,
                                                    strict=strict)
            if done.ok:
                added(result["dataset"], f"Imported dataset {result['dataset']}.")


def upload_form() -> None:
    # Inputs are kept after a refusal (no clear_on_submit), so the user fixes one thing and submits again.
    with st.form("upload"):
        st.caption("news.tsv and behaviors.tsv (and optionally entity_embedding.vec) of one split, or one .zip of "
                   "a MIND folder. The files are checked before anything is kept.")
        files = st.file_uploader("Files", type=["tsv", "vec", "zip"], accept_multiple_files=True,
                                 help="The files of one split, or a .zip of a MIND folder.")
        name = st.text_input("Name (required)", key="upload-name",
                             help="Required: the new dataset's name, 1-64 letters, digits, '_', '.' or '-'.")
        strict = st.checkbox("Refuse the dataset at the first bad row", value=True, key="upload-strict",
                             help=STRICT_HELP)
        if st.form_submit_button("Upload and import", icon=":material/upload:"):
            with _ui.boundary("importing the upload") as done, st.spinner("Checking and importing…"):
                result = app_datasets.import_upload(_ui.workspace(), _ui.store(),
                                                    [(f.name, f.getvalue()) for f in files or []], name.strip(),
                                                    strict=strict)
            if done.ok:
                added(result["dataset"], f"Imported dataset {result['dataset']}.")


def summary_section(summary: dict) -> None:
    # Three to a row: five labels in one row are cut short on a 1024 px screen.
    cols = [*st.columns(3), *st.columns(3)]
    cols[0].metric("Articles", formats.count(summary["articles"]), help="News articles in the catalogue.")
    cols[1].metric("Users", formats.count(summary["users"]), help="Distinct readers with at least one impression.")
    cols[2].metric("Impressions", formats.count(summary["impressions"]),
                   help="Times a reader was shown a list of articles, over every split.")
    cols[3].metric("Skipped rows", formats.count(summary["skipped_rows"]),
                   help="Malformed rows left out while reading; the list is under the charts.")
    cols[4].metric("Truth for the oracle", "yes" if summary["has_truth"] else "no",
                   help="Whether the true click probabilities are known (synthetic data), so the oracle can "
                        "be drawn.")
    frame = pd.DataFrame(summary["splits"]).T.rename_axis("split").reset_index()
    kinds = {c: SPLIT_KINDS.get(c, "count") for c in frame.columns if c != "split"}
    _ui.show_table(frame, SPLIT_KEYS, key="split-table", kinds=kinds)


def coverage_section(record: dict) -> None:
    """Graph and text coverage: how far the chosen embedder has got, and what the active model trained with."""
    embedder_name = st.selectbox(
        "Text embedder", EMBEDDERS, index=EMBEDDERS.index(_ui.default_embedder()),
        help="Whose text vectors to count in the embedding cache; the active model's embedder is chosen first.")
    covered = coverage(record["path"], _ui.stamp(record["path"]), embedder_name,
                       _ui.stamp(_ui.workspace().cache / "embeddings"))
    run = _ui.active_run()
    trained = run_coverage(run["path"], _ui.stamp(run["path"])) if run else None
    _ui.chart(plots.coverage_chart(covered, trained), key="coverage")
    share = (trained or {}).get("text_coverage")
    if share is not None and share < 1:
        st.warning(f"The model {_ui.literal(run['run_id'])} trained with a text vector for only "
                   f"{formats.share(share)} of its articles; the others had no text view, so it "
                   "leans on text less than it could.", icon=":material/warning:")
    embed_offer(record, covered, embedder_name)
    graph = covered["graph"]
    st.caption(f"Knowledge graph: {formats.count(graph['article_nodes'])} articles linked by "
               f"{formats.count(graph['mentions'])} mentions to {formats.count(graph['entity_nodes'])} distinct "
               "entities (people, places, organisations).")


def embed_offer(record: dict, covered: dict, embedder_name: str) -> None:
    """What is not embedded yet, that training embeds it anyway, and a button to embed it now."""
    missing = covered["missing"]
    if missing:
        rate, basis = estimate.embedding_rate(embedder_name, jobs.finished_embeddings(_ui.store()))
        st.info(f"{missing:,} articles have no {_ui.literal(embedder_name)} vector yet: "
                f"{_ui.literal(estimate.duration(missing / rate))} to embed them ({_ui.literal(basis)}). "
                "Training embeds them itself; embedding them now only saves that time later.",
                icon=":material/info:")
        if st.button(f"Embed them with {embedder_name}", icon=":material/text_fields:",
                     help="Starts a background job; the vectors are kept for every later training."):
            _jobs.start("embed", {"dataset": record["name"], "embedder": embedder_name}, origin="data")
    else:
        st.caption(f"Every article with text has a {_ui.literal(embedder_name)} vector in the cache.")
    if covered["blank"]:
        st.caption(f"{covered['blank']:,} articles have no title or abstract, so they never get a text vector.")
    _jobs.detail("embed", record["name"], key="embed-job")


_ui.frame()
st.title("Data")
records = _ui.store().datasets()
datasets_section(records)

st.subheader("Add a dataset")
generate_tab, folder_tab, upload_tab = st.tabs(["Generate", "Import a folder", "Upload files"])
with generate_tab:
    generate_form()
with folder_tab:
    folder_form()
with upload_tab:
    upload_form()
offer_added()

record = _ui.active_dataset()
if record is None:
    st.stop()
st.subheader(f"Statistics of {_ui.literal(record['name'])}")
with _ui.boundary("reading the dataset"):
    summary, stats = statistics(record["path"], _ui.stamp(record["path"]))
    summary_section(summary)
    left, right = st.columns(2)
    with left:
        _ui.chart(plots.click_rate_chart(stats["click_rate"]), key="click-rate")
    with right:
        _ui.chart(plots.history_length_chart(stats["history_lengths"]), key="history-lengths")
    with left:
        _ui.chart(plots.category_chart(stats["categories"]), key="categories")
    with right:
        coverage_section(record)
    if summary["warnings"]:
        with st.expander(f"{len(summary['warnings'])} problems found while reading"):
            st.code("\n".join(summary["warnings"]), language=None)
