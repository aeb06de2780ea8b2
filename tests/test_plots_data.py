"""The Data page's charts: value labels outside the bars on an axis padded to hold them, and a coverage figure
that tells "not embedded yet" apart from a model without text."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from recengine import plots
from recengine.app import datasets as app_datasets
from recengine.data.mind import load_dataset
from recengine.model.catalog import Catalog
from recengine.plots.data import NOT_EMBEDDED
from recengine.text import EmbeddingCache, get_embedder


def test_category_labels_are_outside_whole_counts_on_an_axis_that_holds_them():
    fig = plots.category_chart(pd.Series({"news": 481, "sports": 121, "finance": 12345}))
    [bars] = fig.data
    assert list(bars.y) == ["sports", "news", "finance"]  # smallest at the bottom, largest on top
    assert list(bars.text) == ["121", "481", "12,345"]  # every digit, with separators
    assert bars.textposition == "outside" and bars.cliponaxis is False
    low, high = fig.layout.xaxis.range
    assert low == 0 and high >= 12345 * 1.1  # room right of the longest bar for its label
    assert not fig.layout.showlegend  # one series: the title names it


def test_click_rate_labels_are_percentages_outside_a_padded_axis():
    fig = plots.click_rate_chart({"train": 0.0408, "dev": 0.0398, "test": None})
    [bars] = fig.data
    assert list(bars.text) == ["4.1%", "4.0%"] and bars.textposition == "outside" and bars.cliponaxis is False
    assert fig.layout.yaxis.range[1] >= 0.0408 * 1.1


def test_coverage_says_not_embedded_yet_instead_of_zero_percent():
    fig = plots.coverage_chart({"embedder": "minilm", "embedded": 0, "embedded_share": 0.0, "graph_coverage": 1.0})
    [bars] = fig.data
    labels = dict(zip(bars.y, bars.text))
    assert labels == {"graph<br>entities": "100.0%", "text cached<br>(minilm)": NOT_EMBEDDED}
    assert "0.0%" not in bars.text
    assert not fig.layout.annotations  # warnings are page messages, never drawn over the chart


def test_coverage_shows_what_the_model_trained_with_beside_the_cache():
    fig = plots.coverage_chart({"embedder": "hashing", "embedded": 300, "embedded_share": 0.5, "graph_coverage": 0.9},
                               trained={"text_coverage": 1.0})
    [bars] = fig.data
    assert dict(zip(bars.y, bars.text)) == {"graph<br>entities": "90.0%", "text cached<br>(hashing)": "50.0%",
                                           "text in<br>the model": "100.0%"}
    assert fig.layout.xaxis.range[1] > 1.0 and bars.cliponaxis is False


def test_coverage_without_a_catalogue_says_so():
    fig = plots.coverage_chart(None)
    assert not fig.data and "No catalogue" in fig.layout.annotations[0].text


def test_a_fresh_dataset_is_not_embedded_yet_and_training_fills_the_cache(tiny_data: Path, tmp_path: Path):
    """The bug behind "text vector 0.0%": the figure counts the embedding cache, which training fills, so before
    training it is "not embedded yet" (every article still to embed) and after it the share is complete."""
    data, embedder, cache = load_dataset(tiny_data), get_embedder("hashing"), EmbeddingCache(tmp_path / "cache")
    articles = len(data.news)
    blank = sum(1 for text in data.news.texts("title+abstract") if not text.strip())
    before = app_datasets.coverage(data, embedder, cache=cache)
    assert (before["embedded"], before["missing"], before["blank"]) == (0, articles - blank, blank)
    assert dict(zip(plots.coverage_chart(before).data[0].y, plots.coverage_chart(before).data[0].text))[
        "text cached<br>(hashing)"] == NOT_EMBEDDED
    Catalog.build(data.news, embedder, fields="title+abstract", entity_vectors=data.entity_vectors, cache=cache)
    after = app_datasets.coverage(data, embedder, cache=cache)
    assert (after["embedded"], after["missing"]) == (articles - blank, 0)
    assert after["embedded_share"] == pytest.approx((articles - blank) / articles)


def test_an_upload_without_a_name_is_refused_before_reading_files(workspace, store):
    from recengine.errors import InputError

    with pytest.raises(InputError, match="needs a name"):
        app_datasets.import_upload(workspace, store, [("news.tsv", b"not read")], "  ")
    assert store.datasets() == []
