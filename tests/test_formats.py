"""One format per kind of number, and the key-column table every page shows."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from recengine import formats


@pytest.mark.parametrize(("column", "dtype", "kind"), [
    ("auc", float, "metric"), ("ndcg@10", float, "metric"), ("oracle_auc", float, "metric"),
    ("auc_diff", float, "metric"), ("share_of_oracle", float, "share"), ("click_rate", float, "share"),
    ("text_coverage", float, "share"), ("impressions", int, "count"), ("train_seconds", float, "seconds"),
    ("p", float, "p"), ("created_at", object, "time"), ("run_id", object, "text"),
    ("mean_history_length", float, "number"),
])
def test_each_column_gets_the_kind_its_name_and_type_say(column, dtype, kind):
    assert formats.column_kind(column, pd.Series([1], dtype=dtype).dtype) == kind


def test_numbers_read_one_way_per_kind():
    assert formats.metric(0.77312) == "0.773"
    assert formats.share(0.8059) == "80.6%"
    assert formats.count(1234567) == "1,234,567"
    assert formats.seconds(12.345) == "12.3 s"
    assert formats.p_value(0.00002) == "< 0.0001" and formats.p_value(0.0312) == "0.0312"
    assert formats.timestamp("2026-12-01T19:04:52.440003") == "2026-12-01 19:04"
    assert formats.number(15.269) == "15.3"
    for formatter in formats.FORMATTERS.values():  # a missing value is a dash, never "None" or "nan"
        assert formatter(None) == "—" and formatter(float("nan")) == "—"


def test_headers_are_words():
    assert formats.column_label("ndcg@10") == "nDCG@10"
    assert formats.column_label("share_of_oracle") == "way to oracle"
    assert formats.column_label("cold_users_auc") == "cold users AUC"
    assert formats.column_label("mean_history_length") == "mean history length"


def test_formatted_frame_is_strings_with_worded_headers():
    frame = pd.DataFrame({"run_id": ["a", None], "auc": [0.77312, float("nan")], "share_of_oracle": [0.8, 0.75]})
    shown = formats.formatted(frame)
    assert list(shown.columns) == ["run", "AUC", "way to oracle"]
    assert shown.iloc[0].tolist() == ["a", "0.773", "80.0%"]
    assert shown.iloc[1].tolist() == ["—", "—", "75.0%"]


TABLE_PAGE = """
import pandas as pd
from pages import _ui
frame = pd.DataFrame({"run_id": ["a", "b"], "auc": [0.77312, 0.7], "share_of_oracle": [0.806, 0.7],
                      "impressions": [1200, 30000], "created_at": ["2026-12-01T19:04:52.440003"] * 2})
_ui.show_table(frame, ["run_id", "auc", "share_of_oracle"], key="runs")
"""


def test_a_page_table_shows_key_columns_until_asked_for_all(tmp_path):
    page = tmp_path / "table_page.py"
    page.write_text(TABLE_PAGE)
    at = AppTest.from_file(str(page), default_timeout=30).run()
    assert not at.exception
    table = at.dataframe[0]
    assert list(table.proto.column_order) == ["run_id", "auc", "share_of_oracle"]
    toggle = at.toggle[0]
    assert toggle.label == "Show all 5 columns" and "impressions" in toggle.help
    toggle.set_value(True).run()
    assert list(at.dataframe[0].proto.column_order) == ["run_id", "auc", "share_of_oracle", "impressions",
                                                        "created_at"]
