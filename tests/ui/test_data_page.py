"""The Data page under AppTest (issue 15): the upload form keeps its inputs after a refusal, adding a dataset
never switches the active one by itself, coverage says "not embedded yet" instead of a scary 0%, and tables show
their key columns only, with the path on demand."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from apptest_kit import by_label, chart_specs, errors, plain, run, start, successes, table
from recengine.data.store import Store
from recengine.plots.data import NOT_EMBEDDED
from recengine.text import EmbeddingCache, get_embedder
from recengine.workspace import Workspace

DEV_FILES = ("news.tsv", "behaviors.tsv")


@pytest.fixture(autouse=True)
def forget_added_datasets(home: Path) -> Iterator[None]:
    """The UI tests share one workspace: datasets a test here adds are removed after it, so a later test's lists
    (and its "this data is already in the store" check) see the workspace as it was."""
    with Store(Workspace(home).store_path) as store:
        before = {record["name"] for record in store.datasets()}
    yield
    with Store(Workspace(home).store_path) as store:
        for record in store.datasets():
            if record["name"] not in before:
                store.delete_dataset(record["name"])
                shutil.rmtree(record["path"], ignore_errors=True)


def dev_upload(home: Path) -> list[tuple[str, bytes, str]]:
    split = home / "datasets" / "tiny" / "dev"
    return [(name, (split / name).read_bytes(), "text/tab-separated-values") for name in DEV_FILES]


def test_upload_keeps_the_files_and_the_name_after_a_refusal_so_a_retry_needs_one_fix(home: Path):
    at = start("data")
    name = by_label(at.text_input, "Name (required)")
    assert "Required" in name.help and not name.placeholder  # no placeholder that reads like a default
    by_label(at.file_uploader, "Files").set_value(dev_upload(home))
    name.set_value("bad name!")
    run(by_label(at.button, "Upload and import").click())
    assert any(e.startswith("bad dataset name 'bad name!'") for e in errors(at)), errors(at)
    assert by_label(at.text_input, "Name (required)").value == "bad name!"
    assert [f.name for f in by_label(at.file_uploader, "Files").value] == list(DEV_FILES)
    # Only the name is changed: the files chosen before the refusal are still there and get imported.
    by_label(at.text_input, "Name (required)").set_value("kept-upload")
    run(by_label(at.button, "Upload and import").click())
    assert any("Imported dataset kept-upload" in s for s in successes(at)), errors(at)
    assert (home / "datasets" / "kept-upload" / "news.tsv").is_file()


def test_an_upload_without_a_name_says_the_name_is_required(home: Path):
    at = start("data")
    by_label(at.file_uploader, "Files").set_value(dev_upload(home))
    run(by_label(at.button, "Upload and import").click())
    assert any("needs a name (required)" in e for e in errors(at)), errors(at)
    assert [f.name for f in by_label(at.file_uploader, "Files").value] == list(DEV_FILES)


def test_generating_keeps_the_active_dataset_and_model_and_offers_to_switch(home: Path):
    at = start("data")
    by_label(at.text_input, "Name (optional)").set_value("tiny-kept")
    by_label(at.number_input, "Seed").set_value(3)
    run(by_label(at.button, "Generate").click())
    assert (at.sidebar.selectbox[0].value, at.sidebar.selectbox[1].value) == ("tiny", "tiny-default")
    [message] = [s for s in successes(at) if "Generated dataset tiny-kept" in s]
    assert "still work on tiny" in message and "make tiny-kept active" in message
    assert "tiny-kept" in list(table(at, "imported_at")["name"])
    run(by_label(at.button, "Make tiny-kept active").click())
    assert at.sidebar.selectbox[0].value == "tiny-kept" and at.sidebar.selectbox[1].value is None
    assert not [s for s in successes(at) if "Generated dataset" in s]
    assert not [b for b in at.button if b.label == "Make tiny-kept active"]


def test_coverage_of_an_embedder_with_nothing_cached_says_not_embedded_yet(home: Path):
    minilm = get_embedder("minilm")
    if EmbeddingCache(Workspace(home).cache / "embeddings").count(minilm):
        pytest.skip("another test embedded with minilm in the shared workspace")
    at = start("data")
    run(by_label(at.selectbox, "Text embedder").set_value("minilm"))
    [bars] = [figure["data"][0] for figure in map(json.loads, chart_specs(at))
              if figure["layout"]["title"]["text"] == "Feature coverage"]
    labels = dict(zip(bars["y"], bars["text"]))
    assert labels["text cached<br>(minilm)"] == NOT_EMBEDDED and "0.0%" not in labels.values()
    assert labels["text in<br>the model"] == "100.0%"  # what the active model trained with, beside the cache
    [info] = [plain(i.value) for i in at.info if "no minilm vector yet" in i.value]
    assert info.startswith("600 articles have no minilm vector yet") and "Training embeds them itself" in info
    assert not [w.value for w in at.warning if "text" in w.value]  # the model trained with every text


def test_tables_show_their_key_columns_and_keep_the_path_on_demand(home: Path):
    at = start("data")
    datasets = next(d for d in at.dataframe if "imported_at" in d.value.columns)
    assert list(datasets.proto.column_order) == ["name", "source", "articles", "users", "impressions",
                                                  "imported_at"]
    assert "path" in datasets.value.columns  # shown by the "Show all columns" toggle
    splits = next(d for d in at.dataframe if "click_rate" in d.value.columns)
    assert list(splits.value["split"]) == ["train", "dev"] and "click_rate" in list(splits.proto.column_order)
    run(by_label(at.toggle, "Show all 9 columns").set_value(True))
    datasets = next(d for d in at.dataframe if "imported_at" in d.value.columns)
    assert "path" in list(datasets.proto.column_order)
    assert not [c.value for c in at.caption if str(home) in plain(c.value) and "Dataset" in c.value]


def test_every_option_on_the_page_has_a_plain_help():
    at = start("data")
    options = [*at.main.selectbox, *at.main.number_input, *at.main.text_input, *at.main.checkbox,
               *at.main.file_uploader]
    assert len(options) >= 9
    assert not [w.label for w in options if not (w.help or "").strip()]
