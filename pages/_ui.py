"""What every page shares: the workspace and store, cached heavy objects, the active dataset and run (sidebar, with
the job indicator of :mod:`pages._jobs`), and the error boundary that every call into recengine goes through.

Caching: heavy objects (datasets, loaded runs, recommender services, embedders) live in ``st.cache_resource``
keyed on primitives: a path and the modification stamp of what was read, so a changed folder is reloaded and
an unchanged one never is. Models and tensors are never arguments of cached functions.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
import streamlit as st
from streamlit.navigation.page import StreamlitPage
from streamlit.runtime.pages_manager import PagesManager

from pages._catalog import PAGES

from recengine import formats
from recengine.app import runs as app_runs
from recengine.app import serving
from recengine.app.datasets import ACTIVE_DATASET
from recengine.app.first_start import Defaults
from recengine.app.runs import ACTIVE_RUN
from recengine.data.mind import MindDataset, load_dataset
from recengine.data.store import Store
from recengine.errors import RecengineError
from recengine.serve.service import RecommenderService
from recengine.text import TextEmbedder, get_embedder, openai_key_configured
from recengine.train.runs import LoadedRun, load_run, read_run_files
from recengine.workspace import Workspace

LOG = logging.getLogger("recengine.dashboard")
_ROUTING = threading.local()  # whether app.py started the page run in this thread
CHOICE_KEY = "active_choice"
DATASET_KEY = "sidebar_dataset"
RUN_KEY = "sidebar_run"
PENDING_KEY = "pending_activation"
READY_KEY = "workspace_ready"
OPENAI_SECRET = "OPENAI_API_KEY"
# Characters that Streamlit markdown would interpret: emphasis, code, links, HTML, tables, LaTeX, directives.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-!|~$:])")


# --------------------------------------------------------------------------------------------- errors


@dataclass
class Outcome:
    ok: bool = True


@contextmanager
def boundary(what: str) -> Iterator[Outcome]:
    """Run a block that calls recengine; show a failure as one readable message instead of a traceback.

    A :class:`RecengineError` shows its own message; anything else a short note, with the traceback logged on
    the server. Streamlit's own stop/rerun signals pass through. ``outcome.ok`` says whether the block finished.
    """
    outcome = Outcome()
    try:
        yield outcome
    except RecengineError as exc:
        outcome.ok = False
        LOG.info("refused while %s: %s", what, exc)
        st.error(literal(str(exc)), icon=":material/error:")
    except Exception as exc:  # the boundary: any other failure is a bug, shown briefly and logged in full
        outcome.ok = False
        LOG.exception("failed while %s", what)
        st.error(
            f"Something went wrong while {what} ({type(exc).__name__}). The details are in the server log.",
            icon=":material/error:",
        )


def literal(text: str) -> str:
    """``text`` escaped so that markdown shows it as written (names and messages in captions and alerts)."""
    return _MARKDOWN.sub(r"\\\1", str(text))


def fmt(value: float | None, digits: int = 3) -> str:
    """A metric for display (AUC to 3 decimals); '—' when missing."""
    return formats.metric(value, digits)


def percent(share: float | None) -> str:
    return formats.share(share)


# --------------------------------------------------------------------------------------------- tables, charts


def show_table(frame: pd.DataFrame, key_columns: Sequence[str], *, key: str, kinds: Mapping[str, str] | None = None,
               widths: Mapping[str, int | str] | None = None, height: int | Literal["auto"] = "auto", **options):
    """``frame`` with only ``key_columns`` shown, so it fits the page; a toggle shows every column. Numbers are
    formatted by kind (:mod:`recengine.formats`) at display time, so sorting a column still sorts numbers, and
    headers are words; columns empty in every row are left out. ``widths`` caps a column ("small", "medium", "large" or pixels: a long title is cut with an
    ellipsis and shown whole on hover, instead of pushing the key columns off the page). ``key`` names the
    toggle; ``options`` go to ``st.dataframe`` (e.g. ``on_select``)."""
    missing = [c for c in key_columns if c not in frame.columns]
    if missing:
        raise ValueError(f"show_table: key columns not in the frame: {missing}")  # a page bug, not user input
    # A column empty in every row (an oracle on real data, a parent when no run is an update) says nothing.
    frame = frame.loc[:, ~frame.replace("", None).isna().all()]
    key_columns = [c for c in key_columns if c in frame.columns]
    extra = [c for c in frame.columns if c not in key_columns]
    everything = bool(extra) and st.toggle(f"Show all {len(frame.columns)} columns", key=f"{key}-all",
                                           help=f"Also show: {', '.join(formats.column_label(c) for c in extra)}")
    shown = list(frame.columns) if everything else list(key_columns)
    formatters = formats.formatters(frame, kinds)
    # Streamlit draws a missing cell as "None" whatever the Styler says: a column with one goes as its text.
    holes = {c: frame[c].map(formatters[c]) for c in frame.columns if frame[c].isna().any()}
    styled = frame.assign(**holes).style.format({c: f for c, f in formatters.items() if c not in holes})
    widths = widths or {}
    config = {c: st.column_config.Column(formats.column_label(c), width=widths.get(c)) for c in frame.columns}
    return st.dataframe(styled, column_order=shown, column_config=config, hide_index=True, height=height,
                        key=key, **options)


def chart(figure, *, key: str) -> None:
    """A Plotly chart at the container's width. Plotly's own toolbar is off: it sat on top of chart titles;
    zoom by dragging and reset by double-click still work, and Streamlit's full-screen button stays."""
    st.plotly_chart(figure, key=key, config={"displayModeBar": False, "responsive": True})


# --------------------------------------------------------------------------------------------- workspace


def workspace() -> Workspace:
    return Workspace.default()


@st.cache_resource(show_spinner=False)
def _store(path: str) -> Store:
    return Store(path)


def store() -> Store:
    """The workspace's store (one object per file; it opens one SQLite connection per thread itself)."""
    return _store(str(workspace().store_path))


def stamp(path: str | Path) -> int:
    """A modification stamp of a folder or file: the newest mtime of it and its direct entries (0 if absent)."""
    path = Path(path)
    try:
        entries = [path, *path.iterdir()] if path.is_dir() else [path]
        return max(entry.stat().st_mtime_ns for entry in entries)
    except FileNotFoundError:
        return 0


def default_embedder() -> str:
    """The embedder a new model uses by default: the active run's, else the workspace default."""
    run = active_run()
    return run["config"]["model"]["embedder"] if run else Defaults.from_env().embedder


def openai_configured() -> bool:
    """Whether an OpenAI key is available (Streamlit secrets, the environment or secrets.toml); never shows it."""
    return _secret(OPENAI_SECRET) is not None or openai_key_configured()


def _secret(name: str) -> str | None:
    try:
        value = st.secrets.get(name)
    except Exception:  # no secrets file, or one that does not parse: no secret
        return None
    return value if isinstance(value, str) and value.strip() else None


# --------------------------------------------------------------------------------------------- heavy objects


@st.cache_resource(show_spinner="Loading the dataset…", max_entries=4)
def _dataset(path: str, changed: int) -> MindDataset:
    return load_dataset(path)


def dataset(path: str | Path) -> MindDataset:
    """The MIND dataset at ``path``, loaded once per version of the folder."""
    return _dataset(str(Path(path).resolve()), stamp(path))


@st.cache_resource(show_spinner=False)
def embedder(name: str) -> TextEmbedder:
    """The text embedder ``name``; for OpenAI the key from Streamlit secrets is handed over, never stored."""
    key = _secret(OPENAI_SECRET) if name == "openai" else None
    return get_embedder(name, api_key=key) if key else get_embedder(name)


def _run_parts(path: str) -> tuple[MindDataset, TextEmbedder]:
    config, meta, _ = read_run_files(path)
    root = (meta.get("dataset") or {}).get("root")
    if not root:
        raise RecengineError(f"{path}: the run does not say which dataset it was trained on")
    return dataset(root), embedder(config.model.embedder)


@st.cache_resource(show_spinner="Loading the model…", max_entries=3)
def _loaded_run(path: str, changed: int) -> LoadedRun:
    data, text = _run_parts(path)
    return load_run(path, dataset=data, embedder=text)


def loaded_run(path: str) -> LoadedRun:
    """The model of the run folder ``path``, loaded once per version of the folder (read only: diagnostics,
    evaluation)."""
    return _loaded_run(path, stamp(path))


@st.cache_resource(show_spinner="Starting the recommender…", max_entries=3)
def _service(path: str, changed: int, dataset_name: str) -> RecommenderService:
    data, text = _run_parts(path)
    # The service grows its own copy of the catalogue (added articles), so it gets its own load.
    return serving.open_service(store(), path, data=data, embedder=text, dataset=dataset_name)


def service(path: str, dataset_name: str) -> RecommenderService:
    """The recommender service of the run folder ``path`` (stored under ``dataset_name``), shared by every
    session."""
    return _service(path, stamp(path), dataset_name)


# --------------------------------------------------------------------------------------------- first start


def pages() -> list[StreamlitPage]:
    """The dashboard's pages (:data:`pages._catalog.PAGES`); URL paths equal the file names, as in Streamlit's
    legacy ``pages/`` mode."""
    return [st.Page(page.file, title=page.title, icon=page.icon, url_path=page.url, default=page.url == "home")
            for page in PAGES]


@contextmanager
def routed() -> Iterator[None]:
    """Marks a page run as started by app.py's navigation (see :func:`frame`)."""
    _ROUTING.active = True
    try:
        yield
    finally:
        _ROUTING.active = False


def frame() -> None:
    """What every page starts with: page settings, the first-start bootstrap and the sidebar.

    Pages call it themselves because Streamlit sometimes runs a page file without app.py: while a fresh
    server has not run app.py yet, a request for a page URL is served in Streamlit's legacy mode for a
    ``pages/`` folder, whose sidebar lists every file (AppTest does the same after ``switch_page``). Such a run
    ends the legacy mode, so the next run goes through app.py's navigation. (``PagesManager`` is internal to
    Streamlit, whose version is pinned.)
    """
    if not getattr(_ROUTING, "active", False):
        # Calling st.navigation here would end the legacy mode too, but it also changes this run's page
        # identity (a click being handled would be lost), so only the flag it sets is set.
        PagesManager.uses_pages_directory = False
    st.set_page_config(page_icon=":material/newspaper:", layout="wide")
    with boundary("preparing the workspace") as ready:
        bootstrap()
        sidebar()
    if not ready.ok:
        st.stop()


def bootstrap() -> None:
    """Make sure a dataset and a trained model exist; the first start creates them as a background job, whose
    progress the page shows until it is done (see :func:`pages._jobs.first_start`). Checked once per session."""
    if st.session_state.get(READY_KEY):
        return
    from pages import _jobs  # it draws with this module's helpers

    if not _jobs.first_start():
        st.stop()
    st.session_state[READY_KEY] = True


# --------------------------------------------------------------------------------------------- active dataset and run


def activate(*, dataset: str | None = None, run: str | None = None) -> None:
    """Make a dataset and/or run active for this session and the next start, then rerun the page."""
    st.session_state[PENDING_KEY] = {"dataset": dataset, "run": run}
    st.rerun()


def _choice() -> dict:
    """This session's active dataset and run. Kept under a plain key: widget state does not survive a page
    switch when the widget is drawn by the page, and the sidebar is drawn by every page."""
    return st.session_state.setdefault(CHOICE_KEY, {"dataset": None, "run": None})


def _remember(choice: dict) -> None:
    """Keep the choice for the next start; the run is kept only together with its dataset."""
    app_runs.remember_active(store(), dataset=choice["dataset"], run=choice["run"])


def _newest_run(dataset_name: str | None) -> str | None:
    runs = store().runs(dataset_name) if dataset_name else []
    return runs[0]["run_id"] if runs else None


def _on_dataset_change() -> None:
    choice = _choice()
    choice["dataset"] = st.session_state[DATASET_KEY]
    choice["run"] = _newest_run(choice["dataset"])
    _remember(choice)


def _on_run_change() -> None:
    choice = _choice()
    choice["run"] = st.session_state[RUN_KEY]
    _remember(choice)


def _settle_choice(names: list[str]) -> list[str]:
    """Make this session's choice valid (a pending activation first, then what the store remembers);
    returns the run ids of the chosen dataset."""
    s = store()
    choice = _choice()
    pending = st.session_state.pop(PENDING_KEY, None)
    if pending:
        record = s.run(pending["run"]) if pending.get("run") else None
        choice["dataset"] = record["dataset"] if record else pending.get("dataset") or choice["dataset"]
        choice["run"] = pending.get("run") or _newest_run(choice["dataset"])
        _remember(choice)
    if choice["dataset"] not in names:
        remembered = s.get_setting(ACTIVE_DATASET)
        choice["dataset"] = remembered if remembered in names else (names[0] if names else None)
    run_ids = [run["run_id"] for run in s.runs(choice["dataset"])] if choice["dataset"] else []
    if choice["run"] not in run_ids:
        remembered = s.get_setting(ACTIVE_RUN)
        choice["run"] = remembered if remembered in run_ids else (run_ids[0] if run_ids else None)
    return run_ids


def sidebar() -> None:
    """The active dataset and model for this session, chosen in the sidebar on every page."""
    names = [d["name"] for d in store().datasets()]
    run_ids = _settle_choice(names)
    choice = _choice()
    st.session_state[DATASET_KEY], st.session_state[RUN_KEY] = choice["dataset"], choice["run"]
    with st.sidebar:
        st.selectbox("Dataset", names, key=DATASET_KEY, on_change=_on_dataset_change,
                     help="The data the pages work on. Add datasets on the Data page.")
        st.selectbox("Model", run_ids, key=RUN_KEY, on_change=_on_run_change, placeholder="no model yet",
                     help="The trained run the pages use. Train or load one on the Train & load page.")
        run = active_run()
        if run is None:
            st.caption("No model is trained on this dataset yet.")
        elif run["metrics"]:
            model, oracle = run["metrics"]["model"], run["metrics"].get("oracle") or {}
            st.caption(f"Dev AUC {fmt(model.get('auc'))} · random {fmt(run['metrics']['random'].get('auc'))} · "
                       f"oracle {fmt(oracle.get('auc'))}")
        from pages import _jobs

        _jobs.indicator()


def active_dataset() -> dict | None:
    """The store record of the dataset this session works on, or None when the store has none."""
    name = _choice()["dataset"]
    return store().dataset(name) if name else None


def active_run() -> dict | None:
    """The store record of the run this session uses (trained on the active dataset), or None."""
    choice = _choice()
    run = store().run(choice["run"]) if choice["run"] else None
    return run if run and run["dataset"] == choice["dataset"] else None


def require_dataset() -> dict:
    record = active_dataset()
    if record is None:
        st.info("There is no dataset yet. Generate or import one on the Data page.")
        st.page_link("pages/data.py", label="Go to Data", icon=":material/database:")
        st.stop()
    return record


def require_run() -> dict:
    """The active run; without one, say how to get one and stop the page."""
    require_dataset()
    run = active_run()
    if run is None:
        st.info("No model is trained on the active dataset yet. Train one, or pick another dataset in the sidebar.")
        st.page_link("pages/train.py", label="Go to Train & load", icon=":material/model_training:")
        st.stop()
    return run
