"""Regenerate docs/screenshots/<page>.png: the dashboard in headless Chromium, one full-page picture per page.

    .venv/bin/python scripts/screenshots.py                                  # tiny preset, hashing text (fast)
    .venv/bin/python scripts/screenshots.py --preset demo --embedder minilm  # the demo world, MiniLM text
    .venv/bin/python scripts/screenshots.py --home /tmp/shots-demo --preset demo --embedder minilm  # keep it

Builds (or reuses, with ``--home``) a workspace with ``recengine.app.first_start.ensure_ready``, starts
``streamlit run app.py`` on a free local port, opens every page in a 1400-pixel-wide window and, where it makes
the page say more, does one thing on it first: Diagnostics runs the saturation demonstration (2 epochs), New
articles adds an article, Cold start starts a reader interested in sports and reads two recommendations,
Compare runs a 2 × 1 grid (τ 0.1 and 0.5), Recommend recommends for the first reader. The picture covers the
whole page: the viewport is stretched to the height of Streamlit's scrolling main area.

Needs Debian's ``chromium`` and ``chromium-driver`` (see ``scripts/browser.py``).
"""

from __future__ import annotations

import argparse
import base64
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from browser import HEIGHT, PAGES, REPO, app_env, body_has, chromium, open_page, prepared, press, serving, viewport


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


# --------------------------------------------------------------------------------------------- the pages


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


INTERACTIONS: dict[str, Callable[[WebDriver], None]] = {
    "diagnostics": diagnostics, "new_articles": new_articles, "cold_start": cold_start, "compare": compare,
    "recommend": recommend,
}


def full_page_png(driver: WebDriver) -> bytes:
    """The whole page: the viewport stretched to the height of Streamlit's scrolling main area."""
    height = HEIGHT
    for _ in range(5):  # charts resize with the viewport; stop once the height no longer changes
        needed = max(HEIGHT, driver.execute_script(
            "return document.querySelector('[data-testid=\"stMain\"]').scrollHeight"))
        if needed == height:
            break
        height = needed
        viewport(driver, height)
        time.sleep(1.0)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})
    viewport(driver, HEIGHT)
    return base64.b64decode(shot["data"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="tiny", help="first-start dataset preset (default tiny)")
    parser.add_argument("--embedder", default="hashing", help="first-start text embedder (default hashing)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of the default model (default 2)")
    parser.add_argument("--home", type=Path, help="workspace to use and keep (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots", help="where the PNGs go")
    parser.add_argument("--pages", default=",".join(PAGES), help="comma-separated pages (default all)")
    args = parser.parse_args()
    pages = args.pages.split(",")
    if unknown := set(pages) - set(PAGES):
        parser.error(f"unknown pages: {', '.join(sorted(unknown))}")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="recengine-shots-") as scratch:
        env = app_env((args.home or Path(scratch) / "home").resolve(), args.preset, args.embedder, args.epochs)
        started = time.monotonic()
        log(f"preparing the workspace {env['RECENGINE_HOME']} ({args.preset}, {args.embedder})")
        prepared(env)
        log(f"ready after {time.monotonic() - started:.0f} s; starting the dashboard")
        with serving(env, Path(scratch) / "server.log") as url, chromium(Path(scratch) / "profile") as driver:
            open_page(driver, url, "home")  # the first request establishes app.py's navigation
            for page in pages:
                begun = time.monotonic()
                open_page(driver, url, page)
                if page in INTERACTIONS:
                    INTERACTIONS[page](driver)
                path = args.out / f"{page}.png"
                path.write_bytes(full_page_png(driver))
                log(f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}: "
                    f"{path.stat().st_size / 1024:.0f} kB after {time.monotonic() - begun:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
