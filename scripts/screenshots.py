"""Regenerate docs/screenshots/: the dashboard in headless Chromium, every page in its main states, at 1440 and
1024 px wide, one full-page picture each (``<page>[-<state>]-<width>.png``), and a layout check of each.

    .venv/bin/python scripts/screenshots.py                                  # tiny preset, hashing text (fast)
    .venv/bin/python scripts/screenshots.py --preset demo --embedder minilm  # the demo world, MiniLM text
    .venv/bin/python scripts/screenshots.py --pages train,compare --widths 1024 --problems /tmp/problems.md

Builds (or reuses, with ``--home``) a workspace with ``recengine.app.first_start.ensure_ready``, starts
``streamlit run app.py`` on a free local port and goes through :data:`STATES` in order: each state opens its page
and does its interaction once (a training, the saturation demonstration, a 2 × 1 grid, a tab, ...), then is
pictured and checked at every width. The picture covers the whole page: the viewport is stretched to the height
of Streamlit's scrolling main area. The check (``scripts/browser.py``'s ``layout_problems``: chart texts clipped
or overlapping, tables needing sideways scrolling) is printed and, with ``--problems``, written as markdown.
The states change the workspace (a second run, an added article, a grid), so keep ``--home`` for pictures only.

Needs Debian's ``chromium`` and ``chromium-driver`` (see ``scripts/browser.py``).
"""

from __future__ import annotations

import argparse
import base64
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from browser import (HEIGHT, PAGES, REPO, app_env, body_has, chromium, layout_problems, open_page, prepared, press,
                     serving, viewport, wait_rendered)

WIDTHS = (1440, 1024)
RELAYOUT = 1.0  # seconds for the charts to follow a new viewport size


def log(message: str) -> None:
    print(f"[screenshots] {message}", file=sys.stderr, flush=True)


def type_into(driver: WebDriver, label: str, text: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f'[aria-label="{label}"]').send_keys(text)


def choose(driver: WebDriver, label: str, option: str) -> None:
    """Pick ``option`` in the select or multiselect labelled ``label`` (typed to filter, then clicked)."""
    type_into(driver, label, option)
    xpath = f"//*[@role='option'][normalize-space(.)='{option}']"
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.XPATH, xpath))[0].click()
    driver.switch_to.active_element.send_keys(Keys.ESCAPE)  # a multiselect keeps its list open


# --------------------------------------------------------------------------------------------- the interactions


def tab(name: str) -> Callable[[WebDriver], None]:
    """Show the tab labelled ``name`` (tabs switch in the browser, with no script run)."""
    def show(driver: WebDriver) -> None:
        driver.find_element(By.XPATH, f"//*[@role='tab'][normalize-space(.)='{name}']").click()
        time.sleep(RELAYOUT)  # a chart in a tab shown for the first time lays itself out now
    return show


def segment(name: str) -> Callable[[WebDriver], None]:
    """Pick ``name`` in a segmented control and wait for the script run that follows to finish."""
    button = f"//button[@data-variant='segmented_control'][normalize-space(.)='{name}']"

    def pick(driver: WebDriver) -> None:
        driver.find_element(By.XPATH, button).click()
        chosen = f"{button}[@aria-checked='true']"
        wait_rendered(driver, shown=lambda d: d.find_elements(By.XPATH, chosen), timeout=120)
    return pick


def train(driver: WebDriver) -> None:
    """Train a second run: the page then compares the two saved runs."""
    press(driver, "Train", body_has("Trained and saved run"))


def diagnostics(driver: WebDriver) -> None:
    press(driver, "Run the demonstration", body_has("Demonstration finished"))  # 2 epochs per setting


def new_articles(driver: WebDriver) -> None:
    type_into(driver, "Title", "Central bank holds rates as inflation cools")
    driver.find_element(By.CSS_SELECTOR, 'textarea[aria-label="Abstract"]').send_keys(
        "Policy makers kept the benchmark rate unchanged and signalled that cuts could come later this year.")
    choose(driver, "Category", "finance")
    press(driver, "Add and score", body_has("scored it zero-shot"))


def cold_start(driver: WebDriver) -> None:
    choose(driver, "Interests from the category list", "sports")
    press(driver, "Start as a new reader", body_has("Your recommendations"))
    for clicks in (1, 2):
        press(driver, "Read", body_has(f"{clicks} click(s) so far"))


def compare(driver: WebDriver) -> None:
    choose(driver, "Temperatures τ", "0.5")
    press(driver, "Run the grid", body_has("Best dev AUC"))


def recommend(driver: WebDriver) -> None:
    press(driver, "Recommend", body_has("Top 10"))


@dataclass(frozen=True)
class State:
    """A page in one state: as opened (no ``name``), or after ``interaction``. ``cheap``: a few seconds at most
    and no training, so the browser test goes through it too."""

    page: str
    name: str = ""
    interaction: Callable[[WebDriver], None] | None = None
    cheap: bool = True

    @property
    def label(self) -> str:
        return f"{self.page}-{self.name}" if self.name else self.page


# In this order: a state that trains or adds something comes after the states that show the page without it.
STATES = (
    State("home"),
    State("data"),
    State("data", "upload", tab("Upload files")),
    State("train"),
    State("train", "trained", train, cheap=False),  # two runs compared
    State("evaluation"),  # the slices show as opened
    State("evaluation", "ndcg", segment("nDCG@10")),
    State("diagnostics"),
    State("diagnostics", "demonstration", diagnostics, cheap=False),
    State("new_articles"),
    State("new_articles", "added", new_articles),
    State("cold_start"),
    State("cold_start", "reader", cold_start),
    State("compare"),
    State("compare", "search", tab("Search (Optuna)")),
    State("compare", "file", tab("Score a prediction file")),
    State("compare", "runs", tab("All runs")),
    State("compare", "grid", compare, cheap=False),
    State("recommend"),
    State("recommend", "top10", recommend),
    State("live"),  # the monitor with no traffic yet, the inbox
)


# --------------------------------------------------------------------------------------------- pictures


def full_page_png(driver: WebDriver, width: int) -> bytes:
    """The whole page: the viewport stretched to the height of Streamlit's scrolling main area."""
    height = HEIGHT
    for _ in range(5):  # charts resize with the viewport; stop once the height no longer changes
        needed = max(HEIGHT, driver.execute_script(
            "return document.querySelector('[data-testid=\"stMain\"]').scrollHeight"))
        if needed == height:
            break
        height = needed
        viewport(driver, height, width)
        time.sleep(RELAYOUT)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})
    viewport(driver, HEIGHT, width)
    return base64.b64decode(shot["data"])


def enter(driver: WebDriver, url: str, state: State) -> None:
    """Open the state's page and do its interaction."""
    open_page(driver, url, state.page)
    if state.interaction:
        state.interaction(driver)


def picture(driver: WebDriver, state: State, widths: tuple[int, ...], out: Path | None) -> dict[int, list[str]]:
    """At every width: the layout problems of the state as drawn, and its picture under ``out`` (when given)."""
    problems = {}
    for width in widths:
        viewport(driver, HEIGHT, width)
        time.sleep(RELAYOUT)
        problems[width] = layout_problems(driver)
        if out is not None:
            path = out / f"{state.label}-{width}.png"
            path.write_bytes(full_page_png(driver, width))
            log(f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}: {path.stat().st_size / 1024:.0f} kB")
    return problems


def report(found: dict[str, dict[int, list[str]]]) -> str:
    """The problems as markdown: one section per state and width that has any."""
    lines = ["# Layout problems", "",
             f"{sum(len(p) for by_width in found.values() for p in by_width.values())} problem(s) in "
             f"{len(found)} state(s); checked by scripts/browser.py's layout_problems.", ""]
    for label, by_width in found.items():
        for width, problems in by_width.items():
            if problems:
                lines += [f"## {label} at {width} px", "", *(f"- {p}" for p in problems), ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="tiny", help="first-start dataset preset (default tiny)")
    parser.add_argument("--embedder", default="hashing", help="first-start text embedder (default hashing)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of the default model (default 2)")
    parser.add_argument("--home", type=Path, help="workspace to use and keep (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots", help="where the PNGs go")
    parser.add_argument("--pages", default=",".join(PAGES), help="comma-separated pages (default all)")
    parser.add_argument("--widths", default=",".join(map(str, WIDTHS)), help="comma-separated viewport widths in px "
                        "(default 1440,1024)")
    parser.add_argument("--cheap", action="store_true", help="skip the states that train (check the rest quickly)")
    parser.add_argument("--problems", type=Path, help="also write the layout problems found here, as markdown")
    args = parser.parse_args()
    pages = args.pages.split(",")
    if unknown := set(pages) - set(PAGES):
        parser.error(f"unknown pages: {', '.join(sorted(unknown))}")
    try:
        widths = tuple(int(w) for w in args.widths.split(","))
    except ValueError:
        parser.error(f"--widths: whole numbers of pixels separated by commas, not {args.widths!r}")
    states = [s for s in STATES if s.page in pages and (s.cheap or not args.cheap)]
    args.out.mkdir(parents=True, exist_ok=True)
    found: dict[str, dict[int, list[str]]] = {}
    with tempfile.TemporaryDirectory(prefix="recengine-shots-") as scratch:
        env = app_env((args.home or Path(scratch) / "home").resolve(), args.preset, args.embedder, args.epochs)
        started = time.monotonic()
        log(f"preparing the workspace {env['RECENGINE_HOME']} ({args.preset}, {args.embedder})")
        prepared(env)
        log(f"ready after {time.monotonic() - started:.0f} s; starting the dashboard")
        with serving(env, Path(scratch) / "server.log") as url, chromium(Path(scratch) / "profile") as driver:
            open_page(driver, url, "home")  # the first request establishes app.py's navigation
            for state in states:
                begun = time.monotonic()
                try:
                    enter(driver, url, state)
                except WebDriverException as error:  # a page changed under the script: say so, go on
                    found[state.label] = {w: [f"state not reached: {error.msg or type(error).__name__}"]
                                          for w in widths}
                    log(f"{state.label}: not reached: {error.msg}")
                    continue
                found[state.label] = picture(driver, state, widths, args.out)
                for width, problems in found[state.label].items():
                    for problem in problems:
                        log(f"{state.label} at {width} px: {problem}")
                log(f"{state.label} done after {time.monotonic() - begun:.0f} s")
    text = report(found)
    if args.problems:
        args.problems.write_text(text)
    log(text.splitlines()[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
