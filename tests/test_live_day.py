"""benchmarks/live_day.py on tiny: day 6 replayed against a real `recengine serve` with an A/B split; the monitor
triggers an update job on the logged traffic and the child is swapped in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from benchmark_kit import benchmark_module

live_day = benchmark_module("live_day")


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One simulated day on tiny (1 epoch, 160 impressions, the monitor's minimum lowered to tiny's traffic)."""
    home = tmp_path_factory.mktemp("live-day")
    args = live_day.parse(["--preset", "tiny", "--epochs", "1", "--impressions", "160", "--min-items", "20",
                           "--follow-timeout", "20", "--home", str(home)])
    return live_day.live_day(args, home)


@pytest.mark.slow  # two trainings, a server and an update job: about a minute on a busy 2-core machine
def test_the_simulated_day_closes_the_loop(day: dict):
    assert day["errors"] == 0, day["error_examples"]
    # Articles added over HTTP are served.
    assert day["day6"]["articles_added"] == day["day6"]["articles_published"] > 0
    phases = day["ctr"]["phases"]
    assert phases["before"]["day6_articles"]["items"] + phases["after"]["day6_articles"]["items"] > 0
    # The monitor saw the traffic and its trigger submitted an update job that finished.
    measured = day["monitor_reports"][0]
    assert measured["traffic"] and measured["new"]["items"] > 0 and measured["old"]["items"] > 0
    step = day["monitor_step"]
    assert step["triggered_job"] is not None and step["job"]["status"] == "done", step
    # The child was swapped in: health names it on arm A, and traffic after the swap was served by it.
    assert step["swap"]["how"] in ("follow-active", "POST /admin/swap"), step["swap"]
    arm_a = next(arm for arm in day["final_health"]["arms"] if arm["arm"] == "A")
    assert arm_a["run_id"] == step["child"] != day["runs"]["parent"]["run_id"]
    assert day["ctr"]["by_phase_and_arm"]["after/A"]["runs"] == [step["child"]]
    # Both arms got traffic, and the report compares them.
    arms = day["ctr"]["arms"]
    assert arms["A"]["items"] > 0 and arms["B"]["items"] > 0
    assert day["ctr"]["b_minus_a"] is not None


def test_the_dataset_cut_leaves_day_6_articles_unknown(tmp_path: Path):
    from recengine.data.mind import load_dataset
    from recengine.data.synthetic import simulate

    sim = simulate("tiny", 0)
    cut = live_day.build_dataset(sim, tmp_path / "data", 6)
    data = load_dataset(tmp_path / "data")
    assert data.train.behaviors.times.max() < np.datetime64(cut["cutoff"]) <= data.dev.behaviors.times.min()
    day6 = live_day.day6_events(sim, None, 0)
    added = {payload["article_id"] for kind, _, payload in day6.events if kind == "article"}
    assert added and not added & (set(data.train.news.frame["news_id"]) | set(data.dev.news.frame["news_id"]))
    times = [when for _, when, _ in day6.events]
    assert times == sorted(times)
    assert day6.impressions == len(sim.splits["dev"].behaviors.times)


def test_ctr_tables_use_wilson_intervals_and_newcombe_for_the_difference():
    a, b = live_day.wilson(10, 200), live_day.wilson(30, 200)
    # Wilson's interval for 10/200 (computed by hand from the score formula).
    z = 1.959963984540054
    p, n = 0.05, 200
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert a["ci"] == pytest.approx([centre - half, centre + half], abs=1e-5)
    difference = live_day.newcombe(a, b)
    assert difference["difference"] == pytest.approx(0.1)
    assert difference["ci"][0] > 0  # 15% vs 5% on 200 items each is clearly apart
    assert live_day.wilson(0, 0)["ci"] is None and live_day.newcombe(live_day.wilson(0, 0), b) is None
