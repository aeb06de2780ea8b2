"""The dashboard under bad input, through AppTest: damaged files in an import, a damaged run made active or
served, markup in article text, and out-of-range k. Every case shows one readable message (no traceback, no
"Something went wrong"), and nothing is recorded half-way.

Covered in tests/ui/test_pages.py and not repeated: paths outside the data folder, a bad upload naming its file and
line, empty and 100 kB titles, markup in a new article's title on the New articles page, unknown and malformed user
ids on the Recommend page.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

import test_mind_bad_input as bad_rows
from apptest_kit import by_label, check, errors, reset, start, warm_workspace
from recengine.app.runs import ACTIVE_RUN
from recengine.config import RunConfig
from recengine.data.store import Store
from recengine.workspace import Workspace

MARKUP = "<script>alert('x')</script> <b>Rates</b> **held** [link](javascript:alert(1)) <img src=x onerror=alert(2)>"


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory):
    """A workspace of this module's own (its tests damage runs), with the tiny dataset and its one-epoch model."""
    with warm_workspace(tmp_path_factory.mktemp("dash") / "home") as made:
        yield made


@pytest.fixture(autouse=True)
def home(ui, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test starts from the module's workspace with its default dataset and run active, and empty caches."""
    return reset(*ui, monkeypatch)


# --------------------------------------------------------------------------- damaged files in an import

IMPORT_CASES = {case.id: case for case in bad_rows.CASES}


@pytest.mark.parametrize("case_id", ["news-not-utf8", "duplicate-impression", "duplicate-article-different",
                                     "entity-json-malformed", "vector-nan", "vector-wrong-width", "bad-time"])
def test_importing_a_damaged_folder_shows_file_line_and_records_nothing(home: Path, case_id: str):
    case = IMPORT_CASES[case_id]
    folder = bad_rows.write_folder(home / "datasets" / f"bad-{case_id}", **case.build())
    at = start("data")
    by_label(at.text_input, "Folder").set_value(folder.name)
    check(by_label(at.button, "Import").click().run())
    [message] = errors(at)
    assert message.startswith(f"{folder / case.file}:{case.line}: ") and case.says in message, message
    with Store(Workspace(home).store_path) as store:
        assert store.dataset(folder.name) is None
        assert store.db["articles"].count_where("dataset = ?", [folder.name]) == 0


@pytest.mark.parametrize("damage, words", [
    (lambda f: (f / "news.tsv").write_bytes(b""), "news.tsv: file is empty"),
    (lambda f: ((f / "behaviors.tsv").unlink(), (f / "behaviors.tsv").mkdir()), "is a directory where a file"),
], ids=["empty-file", "directory-for-a-file"])
def test_importing_empty_or_misplaced_files_is_one_readable_error(home: Path, damage, words):
    folder = bad_rows.write_folder(home / "datasets" / "misplaced")
    damage(folder)
    at = start("data")
    by_label(at.text_input, "Folder").set_value("misplaced")
    by_label(at.checkbox, "Refuse the dataset at the first bad row").uncheck()
    check(by_label(at.button, "Import").click().run())
    assert len(errors(at)) == 1 and words in errors(at)[0], errors(at)
    with Store(Workspace(home).store_path) as store:
        assert store.dataset("misplaced") is None


# --------------------------------------------------------------------------- a damaged run


def register_damaged_copy(home: Path, ui, name: str, damage) -> str:
    workspace, ready = ui
    folder = workspace.run(name)
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(ready.run_path, folder)
    config = RunConfig.from_dict(json.loads((folder / "config.json").read_text()))
    meta = json.loads((folder / "meta.json").read_text())
    damage(folder)
    with Store(workspace.store_path) as store:
        # Recorded straight in the store: app.runs.register_run checks a folder first and would refuse it.
        store.register_run(name, dataset=ready.dataset, path=str(folder), mode=meta.get("mode", "full"),
                           config=config.to_dict())
    return name


DAMAGED_RUNS = {
    "truncated": (lambda f: (f / "weights.safetensors").write_bytes((f / "weights.safetensors").read_bytes()[:999]),
                  "weights are damaged or truncated"),
    "newer": (lambda f: (f / "config.json").write_text(json.dumps(
        {**json.loads((f / "config.json").read_text()), "format_version": 99})), "newer recengine"),
    "incomplete": (lambda f: (f / "id_maps.json").unlink(), "incomplete run folder, missing id_maps.json"),
    "nan": (lambda f: _poison(f), "NaN or Inf"),
}


def _poison(folder: Path) -> None:
    from safetensors.torch import load_file, save_file

    state = load_file(str(folder / "weights.safetensors"))
    state["article_ids.weight"][3, 0] = float("nan")
    save_file(state, str(folder / "weights.safetensors"))


@pytest.mark.parametrize("kind", list(DAMAGED_RUNS))
def test_making_a_damaged_run_active_on_train_and_load_is_refused_readably(home: Path, ui, kind: str):
    damage, words = DAMAGED_RUNS[kind]
    run_id = register_damaged_copy(home, ui, f"broken-{kind}", damage)
    at = start("train")
    by_label(at.selectbox, "Load").set_value(run_id)
    check(by_label(at.button, "Make active").click().run())
    assert any(words in e and run_id in e for e in errors(at)), errors(at)
    assert at.sidebar.selectbox[1].value == ui[1].run_id  # the working model stays active
    with Store(Workspace(home).store_path) as store:
        assert store.get_setting(ACTIVE_RUN) == ui[1].run_id


@pytest.mark.parametrize("page", ["recommend", "cold_start", "diagnostics"])
def test_a_damaged_active_run_is_a_readable_error_on_the_pages_that_load_it(home: Path, ui, page: str):
    """A run damaged after it was made active (or by another program): each page that loads it says what is wrong."""
    run_id = register_damaged_copy(home, ui, "broken-later", DAMAGED_RUNS["truncated"][0])
    with Store(Workspace(home).store_path) as store:
        store.set_setting(ACTIVE_RUN, run_id)
    at = start(page)
    if page == "recommend":
        check(by_label(at.button, "Recommend").click().run())
    assert any("weights are damaged or truncated" in e for e in errors(at)), errors(at)


# --------------------------------------------------------------------------- markup and out-of-range numbers


def test_markup_in_article_text_is_shown_as_text_on_the_recommend_page(home: Path, ui):
    """An article whose title and abstract are HTML and markdown, added and then clicked by a reader: the reader's
    history and recommendations show the text literally; no element renders it as markup."""
    from recengine.serve.service import RecommenderService

    workspace, ready = ui
    with Store(workspace.store_path) as store:
        service = RecommenderService(ready.run_path, store, ready.dataset)
        user = store.users(ready.dataset)["user_id"].iloc[0]
        added = service.add_article(title=MARKUP, abstract=MARKUP, category="<i>news</i>", sample_users=5)
        service.record_click(user, added["article_id"])
    at = start("recommend")
    by_label(at.radio, "Choose the reader by").set_value("Type any user id").run()
    by_label(at.text_input, "User id").set_value(user)
    check(by_label(at.button, "Recommend").click().run())
    history = [frame for frame in (d.value for d in at.dataframe) if "article_id" in frame and "rank" not in frame]
    assert history and MARKUP in history[0]["title"].tolist()
    rendered = [m.value for m in (*at.markdown, *at.caption, *at.info, *at.warning, *at.success)]
    assert not any(re.search(r"<(script|b|img|i)\b", text) for text in rendered), rendered
    assert not at.get("html")


@pytest.mark.parametrize("k", [0, 10**9])
def test_k_out_of_range_on_the_recommend_page_is_bounded_or_refused(home: Path, k: int):
    at = start("recommend")
    widget = by_label(at.number_input, "k")
    assert (widget.min, widget.max) == (1, 100)
    widget.set_value(k)
    check(by_label(at.button, "Recommend").click().run())
    tables = [d.value for d in at.dataframe if "rank" in d.value]
    if errors(at):
        assert errors(at) == [f"k must be a whole number from 1 to 1,000, got {k}"]
        assert not tables
    else:
        assert tables and 1 <= len(tables[0]) <= 100


def test_markup_is_stored_and_served_verbatim_by_the_library(tiny_run: Path, tmp_path: Path, tiny_cache):
    """The library keeps article text as data: no escaping, no stripping (escaping is the display's job, above);
    over-long text is refused before anything is written."""
    from recengine.errors import InputError
    from recengine.serve.service import RecommenderService

    with Store(tmp_path / "store.db") as store:
        service = RecommenderService(tiny_run, store, "tiny", cache=tiny_cache)
        added = service.add_article(title=MARKUP, abstract=MARKUP, sample_users=5)
        assert store.article("tiny", added["article_id"])["title"] == MARKUP
        service.record_click("U_markup", added["article_id"])
        assert service.user_profile("U_markup")["history"][0]["title"] == MARKUP
        assert any(item["title"] == MARKUP for item in service.nearest_articles(added["nearest_articles"][0]["article_id"], 50))
        with pytest.raises(InputError, match="the abstract is 100,000 characters long"):
            service.add_article(title="Fine", abstract="<p>" * 33_333 + "x")
        assert len(store.added_articles("tiny")) == 1
