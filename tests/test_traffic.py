"""The traffic log: buffered impressions and clicks land in the store, in order, and survive a store error."""

from __future__ import annotations

import sqlite3

import pytest

from recengine.data.store import Store
from recengine.errors import InputError
from recengine.serve import traffic


@pytest.fixture
def log(tmp_path):
    store = Store(tmp_path / "store.db")
    writer = traffic.TrafficLog(store, interval_s=3600)  # flushed by hand: the test decides when rows land
    yield writer
    writer.close()
    store.close()


def shown(user: str, news: list[str], **extra) -> traffic.Impression:
    return traffic.Impression("ds", "run-1", "A", user, news, [n.endswith("new") for n in news], **extra)


def test_impression_and_its_click_land_together_on_flush(log):
    first = log.impression(shown("U1", ["N1", "N2-new", "N3"]))
    log.click(first, "N2-new")  # queued behind the impression it names
    assert traffic.items(log.store, "ds").empty  # nothing written before the flush
    log.flush()
    items = traffic.items(log.store, "ds")
    assert items["news_id"].tolist() == ["N1", "N2-new", "N3"]
    assert items["position"].tolist() == [0, 1, 2]
    assert items["new"].tolist() == [False, True, False]
    assert items["clicked"].tolist() == [False, True, False]
    assert items["clicked_at"].notna().tolist() == [False, True, False]
    assert traffic.impression_owner(log.store, first) == {"dataset": "ds", "user_id": "U1", "run_id": "run-1", "arm": "A"}


def test_reported_impression_carries_its_clicks_and_latest_lookup_finds_it(log):
    old = log.impression(shown("U1", ["N1", "N2"], time="2026-01-01T00:00:00.000"))
    new = log.impression(shown("U1", ["N2", "N4"], origin="reported", clicked=["N4"], time="2026-01-02T00:00:00.000"))
    log.flush()
    assert traffic.latest_impression_with(log.store, "ds", "U1", "N2") == new
    assert traffic.latest_impression_with(log.store, "ds", "U1", "N1") == old
    assert traffic.latest_impression_with(log.store, "ds", "U2", "N1") is None
    window = traffic.items(log.store, "ds", since="2026-01-01T12:00:00")
    assert window["impression_id"].unique().tolist() == [new]
    assert window.set_index("news_id")["clicked"].to_dict() == {"N2": False, "N4": True}


def test_a_click_on_an_article_not_shown_changes_nothing(log):
    first = log.impression(shown("U1", ["N1"]))
    log.click(first, "N9")
    log.flush()
    assert not traffic.items(log.store, "ds")["clicked"].any()


def test_unknown_origin_is_refused(log):
    with pytest.raises(InputError, match="origin"):
        log.impression(shown("U1", ["N1"], origin="guessed"))


def test_a_failed_write_keeps_the_entries_for_the_next_flush(log, monkeypatch):
    log.impression(shown("U1", ["N1"]))
    real = log.store.write_many

    def locked(statements):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(log.store, "write_many", locked)
    with pytest.raises(sqlite3.OperationalError):
        log.flush()
    monkeypatch.setattr(log.store, "write_many", real)
    log.impression(shown("U2", ["N2"]))
    log.flush()
    assert sorted(traffic.items(log.store, "ds")["user_id"]) == ["U1", "U2"]
