"""The new-article quality monitor: logged traffic (written through TrafficLog into a real store) in, CTRs with
intervals, the A/B arms, the trigger with its one-job rule, the MIND export, the guarded activation and the CLI."""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from recengine.app import datasets, jobs, monitor, runs
from recengine.data.mind import load_dataset
from recengine.data.store import Store
from recengine.serve.traffic import Impression, TrafficLog, stamp
from recengine.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
Z = 1.959963984540054  # the 95 % normal quantile


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path, tiny_run: Path) -> dict:
    """A workspace with tiny imported and the tiny run registered and active (copied per test)."""
    home = tmp_path_factory.mktemp("monitor") / "home"
    workspace = Workspace(home)
    shutil.copytree(tiny_run, workspace.runs / "parent")
    with Store(workspace.store_path) as store:
        name = datasets.resolve(store, str(tiny_data))["name"]
        parent = runs.register_run(store, workspace.runs / "parent", dataset=name)["run_id"]
        runs.activate_run(store, parent)
        trained = monitor.trained_articles(workspace.runs / "parent")
        catalogue = list(store.articles(name)["news_id"])
        users = list(store.users(name)["user_id"])[:40]
    return {"home": home, "dataset": name, "parent": parent, "users": users,
            "new": [a for a in catalogue if a not in trained], "old": [a for a in catalogue if a in trained]}


@pytest.fixture
def live(prepared: dict, tmp_path: Path):
    """A fresh copy of the prepared store (its runs stay where they are): (workspace, store)."""
    workspace = Workspace(tmp_path / "home")
    workspace.home.mkdir()
    with sqlite3.connect(prepared["home"] / "recengine.db") as source, sqlite3.connect(workspace.store_path) as copy:
        source.backup(copy)
    with Store(workspace.store_path) as store:
        yield workspace, store


def minutes_ago(minutes: float) -> str:
    return stamp(datetime.now(UTC) - timedelta(minutes=minutes))


def write_traffic(store: Store, prepared: dict, rows: list[tuple]) -> None:
    """``rows``: (arm, user index, new ids, old ids, clicked ids, minutes ago), each one impression."""
    log = TrafficLog(store)
    for arm, user, new_ids, old_ids, clicked, ago in rows:
        log.impression(Impression(prepared["dataset"], prepared["parent"], arm, prepared["users"][user],
                                  [*new_ids, *old_ids], [True] * len(new_ids) + [False] * len(old_ids),
                                  clicked=clicked, time=minutes_ago(ago)))
    log.close()


def lagging(prepared: dict, impressions: int = 60) -> list[tuple]:
    """Traffic where new articles are clicked far less than old ones: 4 new and 6 old items a list, one new
    click every fifth list, two old clicks in every list; arms alternate."""
    new, old = prepared["new"], prepared["old"]
    rows = []
    for i in range(impressions):
        shown_new = [new[(4 * i + k) % len(new)] for k in range(4)]
        shown_old = [old[(6 * i + k) % len(old)] for k in range(6)]
        clicked = shown_old[:2] + (shown_new[:1] if i % 5 == 0 else [])
        rows.append(("A" if i % 2 == 0 else "B", i % len(prepared["users"]), shown_new, shown_old, clicked, 120 - i))
    return rows


def wilson(k: int, n: int) -> tuple[float, float]:
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return centre - half, centre + half


def monitor_job_ids(store: Store) -> list[int]:
    return [job["id"] for job in jobs.list_jobs(store, kind="update") if job["origin"] == "monitor"]


# --------------------------------------------------------------------------------------------- the report


def test_ctrs_intervals_and_arms_match_hand_counts(live, prepared):
    workspace, store = live
    long_ago = ("A", 0, prepared["new"][:5], [], prepared["new"][:5], 60 * 30)
    write_traffic(store, prepared, [*lagging(prepared), long_ago])
    got = monitor.report(store, min_items=50)
    # 60 lists in the window (the one 30 h ago is outside): 240 new items with 12 clicks, 360 old with 120.
    assert got["impressions"] == 60
    assert (got["new"]["items"], got["new"]["clicks"]) == (240, 12)
    assert (got["old"]["items"], got["old"]["clicks"]) == (360, 120)
    assert got["new"]["ctr"] == pytest.approx(0.05) and got["old"]["ctr"] == pytest.approx(1 / 3)
    assert got["new"]["ci"] == pytest.approx(wilson(12, 240), abs=1e-9)
    assert got["old"]["ci"] == pytest.approx(wilson(120, 360), abs=1e-9)
    assert got["ratio"] == pytest.approx(0.05 / (1 / 3))
    low, high = got["ratio_ci"]
    assert 0 < low < got["ratio"] < high < 0.7
    assert got["enough_data"] and got["below_threshold"]
    # Arm A has the even lists (30, with new clicks in lists 0, 10, ..., 50: 6), arm B the odd ones (6 too).
    arms = {arm["arm"]: arm for arm in got["arms"]}
    assert {a: (arm["impressions"], arm["items"], arm["clicks"]) for a, arm in arms.items()} == {
        "A": (30, 300, 66), "B": (30, 300, 66)}
    assert arms["A"]["ci"] == pytest.approx(wilson(66, 300), abs=1e-9)
    difference = got["arm_difference"]
    assert difference["difference"] == pytest.approx(0.0, abs=1e-12)
    assert difference["ci"][0] < 0 < difference["ci"][1] and difference["p_value"] > 0.5
    cover = got["coverage"]
    assert cover["new_shown"] == len({a for row in lagging(prepared) for a in row[2]})
    assert cover["new_articles"] == len(prepared["new"]) and cover["new_item_share"] == pytest.approx(0.4)


def test_an_arm_that_does_better_shows_in_the_difference(live, prepared):
    workspace, store = live
    old = prepared["old"]
    rows = [("A" if i < 40 else "B", i % 20 + (0 if i < 40 else 20), [], old[i % 50:i % 50 + 5],
             old[i % 50:i % 50 + (1 if i < 40 else 3)], 100 - i) for i in range(80)]
    write_traffic(store, prepared, rows)
    difference = monitor.report(store)["arm_difference"]
    assert difference["difference"] == pytest.approx(120 / 200 - 40 / 200)  # B: 3 of 5 clicked, A: 1 of 5
    assert difference["ci"][0] > 0 and difference["p_value"] < 0.01


def test_a_window_without_traffic_is_a_clear_report_and_triggers_nothing(live, prepared):
    workspace, store = live
    got = monitor.check(workspace, store)
    assert got["traffic"] is False and got["impressions"] == 0
    assert got["new"] == {"items": 0, "clicks": 0, "ctr": None, "ci": None}
    assert got["ratio"] is None and not got["enough_data"] and not got["below_threshold"]
    assert got["triggered"] is None and got["reason"].startswith("not enough data")
    assert got["arms"] == [] and got["arm_difference"] is None


def test_since_and_until_choose_the_window(live, prepared):
    workspace, store = live
    write_traffic(store, prepared, lagging(prepared, 10))  # 120 to 111 minutes ago
    until = datetime.now(UTC) - timedelta(minutes=115.5)
    got = monitor.report(store, since=(until - timedelta(hours=1)).isoformat(), until=until.isoformat())
    assert got["impressions"] == 5  # 120..116 minutes ago


def test_the_hourly_timeline_and_its_charts(live, prepared):
    from recengine import plots

    workspace, store = live
    write_traffic(store, prepared, lagging(prepared))
    report, hourly = monitor.overview(store, hours=3)
    assert hourly.groupby("group")[["items", "clicks"]].sum().to_dict("index") == {
        "new": {"items": 240, "clicks": 12}, "old": {"items": 360, "clicks": 120}}
    assert ((hourly["ctr"] - hourly["clicks"] / hourly["items"]).abs() < 1e-12).all()
    figure = plots.ctr_timeline_chart(hourly, 0.7)
    lines = {trace.name: trace for trace in figure.data}
    assert set(lines) == {"new articles", "old articles", "threshold (0.7 × old)"}
    assert list(lines["threshold (0.7 × old)"].y) == pytest.approx([0.7 * y for y in lines["old articles"].y])
    arms = report["arms"]
    bars = plots.arm_ctr_chart(arms).data[0]
    assert list(bars.error_y.array) == pytest.approx([arm["ci"][1] - arm["ctr"] for arm in arms])
    empty = plots.ctr_timeline_chart(monitor.overview(store, hours=0.01)[1], 0.7)
    assert not empty.data and "No logged traffic" in empty.layout.annotations[0].text


@pytest.mark.parametrize("options, message", [
    ({"hours": 0}, "hours must be a number > 0"),
    ({"hours": float("nan")}, "hours must be a number > 0"),
    ({"threshold": -1.0}, "threshold must be a number > 0"),
    ({"min_items": 0}, "min items must be a whole number >= 1"),
    ({"since": "yesterday"}, "since must be an ISO time"),
    ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "the window is empty"),
    ({"dataset": "nope"}, "unknown dataset 'nope'"),
])
def test_bad_options_are_refused_with_one_line(live, options, message):
    from recengine.errors import InputError

    _, store = live
    with pytest.raises(InputError, match=message):
        monitor.report(store, **options)


# --------------------------------------------------------------------------------------------- the trigger


def test_below_the_threshold_one_update_job_is_submitted_and_never_a_second(live, prepared):
    workspace, store = live
    write_traffic(store, prepared, lagging(prepared))
    first = monitor.check(workspace, store, min_items=50, start=False)
    assert first["triggered"] is not None and "submitted update job" in first["reason"]
    job = jobs.get(store, first["triggered"])
    assert (job["kind"], job["origin"], job["status"]) == ("update", "monitor", "queued")
    assert job["params"]["parent"] == prepared["parent"] and job["params"]["epochs"] == 2
    assert job["params"]["full_epochs"] == 1 and job["params"]["new_data"] == first["export"]
    again = monitor.check(workspace, store, min_items=50, start=False)
    assert again["triggered"] is None and "still queued" in again["reason"]
    assert monitor_job_ids(store) == [first["triggered"]]


def test_two_checks_at_once_submit_one_job(live, prepared):
    workspace, store = live
    write_traffic(store, prepared, lagging(prepared))
    results = []

    def one_check() -> None:
        with Store(workspace.store_path) as own:
            results.append(monitor.check(workspace, own, min_items=50, start=False)["triggered"])

    threads = [threading.Thread(target=one_check) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, key=str) == sorted([None, monitor_job_ids(store)[0]], key=str)
    assert len(monitor_job_ids(store)) == 1


def test_not_enough_data_or_a_healthy_ratio_triggers_nothing(live, prepared):
    workspace, store = live
    write_traffic(store, prepared, lagging(prepared))
    scarce = monitor.check(workspace, store, min_items=1000, start=False)
    assert scarce["triggered"] is None
    assert scarce["reason"] == "not enough data: 240 new and 360 old items shown in the window, 1,000 of each needed"
    healthy = monitor.check(workspace, store, min_items=50, threshold=0.1, start=False)
    assert healthy["triggered"] is None and "at or above the threshold 0.1" in healthy["reason"]
    off = monitor.check(workspace, store, min_items=50, trigger=False, start=False)
    assert off["triggered"] is None and "triggering is off" in off["reason"]
    assert monitor_job_ids(store) == []


def test_the_export_is_a_mind_folder_with_the_logged_labels(live, prepared):
    workspace, store = live
    rows = lagging(prepared)
    write_traffic(store, prepared, rows)
    got = monitor.check(workspace, store, min_items=50, start=False)
    folder = Path(got["export"])
    assert folder.parent == workspace.home / "monitor"
    data = load_dataset(folder, strict=True)
    behaviors = data.train.behaviors
    assert len(behaviors) == 60
    assert int((behaviors.labels == 1).sum()) == sum(len(r[4]) for r in rows)
    assert int((behaviors.labels == 0).sum()) == 600 - sum(len(r[4]) for r in rows)
    referenced = set(behaviors.articles[behaviors.candidates]) | set(behaviors.articles[behaviors.history])
    assert referenced == set(data.train.news.ids)
    # The window's end (now) sits on the dataset's clock: the newest list, logged 61 minutes ago, lands 61 minutes
    # before it.
    clock = store.query("SELECT MAX(time) AS t FROM clicks WHERE dataset = ? AND source = 'impression'",
                        (prepared["dataset"],))[0]["t"]
    newest = behaviors.times.max().astype("datetime64[s]").astype(datetime)
    gap = datetime.fromisoformat(clock) - newest
    assert timedelta(minutes=60) <= gap <= timedelta(minutes=63)
    spacing = sorted(behaviors.times.astype("datetime64[s]").astype("int64"))
    assert spacing[-1] - spacing[0] == 59 * 60  # a minute apart when logged, a minute apart in the export
    manifest = json.loads((folder / "monitor.json").read_text())
    assert manifest["parent"] == prepared["parent"] and manifest["impressions"] == 60


def test_a_finished_update_is_activated_only_when_better_and_its_rows_are_not_consumed_twice(live, prepared):
    workspace, store = live
    write_traffic(store, prepared, lagging(prepared))
    until = datetime.now(UTC).isoformat()
    window = {"min_items": 50, "since": (datetime.now(UTC) - timedelta(hours=3)).isoformat(), "until": until}
    first = monitor.check(workspace, store, start=False, **window)
    done = jobs.run_job(workspace, store, first["triggered"])
    assert done["status"] == "done", done["error"]
    child = done["result"]["run_id"]

    def set_better(value: bool) -> None:
        store.write("UPDATE jobs SET result = ? WHERE id = ?",
                    (json.dumps({**done["result"], "better_than_parent": value}), done["id"]))
        runs.activate_run(store, prepared["parent"])

    set_better(False)
    worse = monitor.check(workspace, store, trigger=False, **window)
    assert worse["activated"] is None and "not better than its parent" in worse["activation"]
    assert runs.active_run(store)["run_id"] == prepared["parent"]

    set_better(True)
    better = monitor.check(workspace, store, **window)
    assert better["activated"] == child and runs.active_run(store)["run_id"] == child
    assert better["triggered"] is None and "just activated" in better["reason"]

    # The same rows again: already exported to the finished job; and exported anew, the archive refuses them.
    runs.activate_run(store, prepared["parent"])
    store.write("UPDATE jobs SET result = ? WHERE id = ?",
                (json.dumps({**done["result"], "run_id": prepared["parent"]}), done["id"]))  # nothing to activate
    repeat = monitor.check(workspace, store, start=False, **window)
    assert repeat["triggered"] is None and "already exported to update job" in repeat["reason"]
    (Path(first["export"]) / "monitor.json").unlink()  # the record of the export is gone; the archive remains
    refused = monitor.check(workspace, store, start=False, **window)
    assert refused["triggered"] is None and "already consumed" in refused["reason"]
    assert monitor_job_ids(store) == [first["triggered"]]


# --------------------------------------------------------------------------------------------- the CLI


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RECENGINE_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "recengine", "monitor", *args], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=300)


def test_the_cli_reports_in_words_and_json(live, prepared, cli_main):
    workspace, store = live
    write_traffic(store, prepared, lagging(prepared))
    words = cli(workspace.home, "--min-items", "50", "--no-trigger")
    assert words.returncode == 0, words.stderr
    assert "new articles CTR  5.00% [" in words.stdout and "old articles CTR  33.33% [" in words.stdout
    assert "below the threshold 0.7" in words.stdout and "arm A (" in words.stdout
    machine = cli_main("monitor", "--min-items", "1000", "--json", home=workspace.home)  # the same, in-process
    assert machine.returncode == 0, machine.stderr
    result = json.loads(machine.stdout)
    assert result["new"]["clicks"] == 12 and result["triggered"] is None
    assert result["reason"].startswith("not enough data")


@pytest.mark.parametrize("args, message", [
    (["--hours", "0"], "hours must be a number > 0"),  # the other checks: test_bad_options_are_refused_...
    (["--since", "2026-13-01"], "since must be an ISO time"),
    (["--dataset", "nope"], "unknown dataset 'nope'"),
])
def test_the_cli_refuses_bad_input_with_exit_2_and_one_line(live, cli_main, args, message):
    workspace, _ = live
    done = cli_main("monitor", *args, home=workspace.home)  # in-process; a real process: the test above
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr
