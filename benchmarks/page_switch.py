"""Page-switch speed of the dashboard: how long a switch to each page takes to finish drawing, warm.

    .venv/bin/python benchmarks/page_switch.py                       # tiny preset, hashing text, 5 switches
    .venv/bin/python benchmarks/page_switch.py --preset demo --embedder minilm --home /tmp/demo-home
    .venv/bin/python benchmarks/page_switch.py --no-apptest          # the browser only

Prints one JSON object. A workspace is prepared first (``ensure_ready``; reused with ``--home``), then
``streamlit run app.py`` is started on a free port and driven by headless Chromium (Debian's chromium and
chromium-driver; helpers from ``scripts/browser.py``):

- ``browser.first_visit_seconds``: the first switch to each page (its caches are filled then);
- ``browser.seconds``: then ``--switches`` rounds over every page, each switch a click on the page's link in
  the sidebar navigation (inside one browser session, no page reload), timed from the click until the script
  run has finished and the page is drawn (no running icon, no loading placeholder, no stale element; the
  0.3 s wait that confirms the page has stopped changing is not counted); median, min and max per page;
- ``apptest.seconds`` (unless ``--no-apptest``): the same pages run by ``streamlit.testing`` in this process
  on warm caches (one untimed run per page first): the script alone, without server, network or drawing.

The machine may be shared with other jobs: quote the medians, and ``machine.load_average`` at the start.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from browser import PAGES, REPO, app_env, chromium, open_page, prepared, serving, url_path, wait_rendered  # noqa: E402


def log(message: str) -> None:
    print(f"[page_switch] {message}", file=sys.stderr, flush=True)


def summary(samples: list[float]) -> dict:
    return {"median": round(statistics.median(samples), 3), "min": round(min(samples), 3),
            "max": round(max(samples), 3), "runs": len(samples)}


def switch(driver: WebDriver, url: str, page: str) -> float:
    """Click ``page``'s sidebar link; seconds until the page is drawn."""
    link = driver.find_element(By.CSS_SELECTOR, f'a[data-testid="stSidebarNavLink"][href="{url}/{url_path(page)}"]')
    started = time.monotonic()
    link.click()
    return wait_rendered(driver, PAGES[page], timeout=300) - started


def browser_times(env: dict[str, str], scratch: Path, switches: int) -> dict:
    with serving(env, scratch / "server.log") as url, chromium(scratch / "profile") as driver:
        open_page(driver, url, "home")  # the first request establishes app.py's navigation
        order = [*list(PAGES)[1:], "home"]  # every switch leaves the page before it in this cycle
        first = {page: round(switch(driver, url, page), 3) for page in order}
        log(f"first visits: {first}")
        samples: dict[str, list[float]] = {page: [] for page in order}
        for round_ in range(switches):
            for page in order:
                samples[page].append(switch(driver, url, page))
            log(f"round {round_ + 1}/{switches} done")
    seconds = {page: summary(samples[page]) for page in PAGES}
    return {"first_visit_seconds": {page: first[page] for page in PAGES}, "seconds": seconds,
            "median_over_pages": round(statistics.median(s["median"] for s in seconds.values()), 3)}


def apptest_times(env: dict[str, str], switches: int) -> dict:
    """Script run time per page under AppTest, warm (the server-side cost of a switch, nothing else)."""
    os.environ.update(env)
    from streamlit.testing.v1 import AppTest

    os.chdir(REPO)
    samples: dict[str, list[float]] = {}
    for page in PAGES:
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=600).run()
        runs = []
        for _ in range(switches + 1):  # the first run fills the caches
            if page != "home":
                at.switch_page(f"pages/{page}.py")
            started = time.monotonic()
            at.run()
            runs.append(time.monotonic() - started)
            assert not at.exception, f"{page}: {[e.value for e in at.exception]}"
        samples[page] = runs[1:]
    seconds = {page: summary(runs) for page, runs in samples.items()}
    return {"seconds": seconds, "median_over_pages": round(statistics.median(s["median"] for s in seconds.values()), 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="tiny", help="workspace dataset preset (default tiny)")
    parser.add_argument("--embedder", default="hashing", help="workspace text embedder (default hashing)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of the default model (default 1)")
    parser.add_argument("--home", type=Path, help="workspace to use and keep (default: a temporary one)")
    parser.add_argument("--switches", type=int, default=5, help="timed switches per page (default 5)")
    parser.add_argument("--no-apptest", action="store_true", help="skip the AppTest measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="recengine-switch-") as scratch:
        env = app_env((args.home or Path(scratch) / "home").resolve(), args.preset, args.embedder, args.epochs)
        log(f"preparing the workspace {env['RECENGINE_HOME']}")
        prepared(env)
        result = {
            "preset": args.preset, "embedder": args.embedder, "switches_per_page": args.switches,
            "machine": {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]},
            "how": "browser: click on the page's sidebar link (one session, no reload) until the run has finished "
                   "and the page is drawn; apptest: AppTest.run() after switch_page, warm caches",
            "browser": browser_times(env, Path(scratch), args.switches),
        }
        if not args.no_apptest:
            log("AppTest")
            result["apptest"] = apptest_times(env, args.switches)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
