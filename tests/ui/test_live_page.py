"""The Live page: an empty state that says how to get traffic, and the monitor's report of logged traffic (tiles,
charts, arms) with the "Check now" button."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apptest_kit import by_label, metric, plain, run, start, table
from recengine.app import monitor
from recengine.data.store import Store
from recengine.serve.traffic import Impression, TrafficLog, stamp
from recengine.workspace import Workspace

CHECK = "Check now and update if needed"


@pytest.fixture
def traffic(ui_workspace):
    """60 logged lists on the warm workspace (4 new and 6 old items each; 12 new and 120 old clicks), removed
    afterwards so that other tests see the workspace as it was."""
    workspace, ready = ui_workspace
    with Store(workspace.store_path) as store:
        trained = monitor.trained_articles(ready.run_path)
        catalogue = list(store.articles(ready.dataset)["news_id"])
        new, old = [a for a in catalogue if a not in trained], [a for a in catalogue if a in trained]
        users = list(store.users(ready.dataset)["user_id"])[:20]
        log = TrafficLog(store)
        for i in range(60):
            shown_new, shown_old = [new[(4 * i + k) % len(new)] for k in range(4)], old[6 * i % 60:6 * i % 60 + 6]
            log.impression(Impression(
                ready.dataset, ready.run_id, "A" if i % 2 == 0 else "B", users[i % 20], [*shown_new, *shown_old],
                [True] * 4 + [False] * 6, clicked=shown_old[:2] + (shown_new[:1] if i % 5 == 0 else []),
                time=stamp(datetime.now(UTC) - timedelta(minutes=90 - i))))
        log.close()
        try:
            yield
        finally:
            store.write_many([("DELETE FROM served_items", [()]), ("DELETE FROM served_impressions", [()])])


def test_without_traffic_the_page_says_how_to_get_some():
    at = start("live")
    assert any("No traffic logged in this window yet" in plain(i.value) for i in at.info)
    assert metric(at, "New articles CTR") == "—" and metric(at, "New / old") == "—"
    assert any("python -m recengine serve" in c.value for c in at.code)
    assert any("No update job from the monitor yet" in c.value for c in at.caption)


def test_the_page_shows_the_report_of_logged_traffic_and_checks_on_demand(traffic):
    at = start("live")
    assert not any("No traffic logged" in plain(i.value) for i in at.info)
    assert metric(at, "New articles CTR") == "5.00%"
    assert metric(at, "Old articles CTR") == "33.33%"
    assert metric(at, "New / old") == "0.15"
    arms = table(at, "arm")
    assert list(arms["arm"]) == ["A", "B"] and list(arms["impressions"]) == [30, 30]
    assert len(at.get("plotly_chart")) == 2
    run(by_label(at.number_input, "Min items per group").set_value(100_000))
    run(by_label(at.button, CHECK).click())
    assert any("Not enough data: 240 new and 360 old items" in plain(i.value) for i in at.info)
    with Store(Workspace.default().store_path) as store:
        assert monitor.monitor_jobs(store) == []
