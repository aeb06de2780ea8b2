"""The dashboard in a real browser: ``streamlit run app.py`` on a free port, driven by headless Chromium.

Every page URL renders its title with no exception text anywhere and no error in the browser console; the New
articles form shows markup in a title as plain text; the Recommend button lists recommendations; a training
started on the Train page survives a page switch and a browser reload, and its run is saved. Chromium and
chromedriver come from Debian (``scripts/test.sh`` installs them); without them the test skips with its reason in
the summary, or fails when ``RECENGINE_REQUIRE_BROWSER=1``. Selenium Manager is never used: the chromedriver
path is passed explicitly.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from recengine.app import jobs
from recengine.app.runs import ACTIVE_RUN, delete_run
from recengine.data.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from browser import PAGES, chromium, serving, url_path, wait_rendered  # noqa: E402

pytestmark = pytest.mark.browser

RENDER_TIMEOUT = 90  # seconds for one script run (a first visit fills the caches on a busy two-core machine)
# What an uncaught exception or a caught-but-unexpected failure would put on the page.
ERROR_TEXT = re.compile(r"Traceback|Error:|AttributeError|KeyError|Exception|Something went wrong")
# Expected console noise, and only that: (1) the favicon (page_icon=":material/newspaper:") and the sidebar's
# material icons are fetched from fonts.gstatic.com, which this offline machine cannot resolve; (2) opened at a
# page URL such as /data, Streamlit's frontend first probes /data/_stcore/{health,host-config} to find the
# server's base path, gets a 404, then uses /.
NOISE = (
    re.compile(r"^https://fonts\.gstatic\.com/\S+ - Failed to load resource: net::ERR_"),
    re.compile(r"^http://127\.0\.0\.1:\d+/(" + "|".join(url_path(p) for p in PAGES if url_path(p)) +
               r")/_stcore/(health|host-config) - Failed to load resource: the server responded with a status of 404"),
)


def require_tools() -> None:
    """Skip without chromium and chromedriver (fail when RECENGINE_REQUIRE_BROWSER=1)."""
    if shutil.which("chromium") and shutil.which("chromedriver"):
        return
    reason = "chromium and chromedriver are needed (Debian packages chromium, chromium-driver; scripts/test.sh)"
    if os.environ.get("RECENGINE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"RECENGINE_REQUIRE_BROWSER=1: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def server(ui_workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``streamlit run app.py`` on the warm workspace of the UI tests; yields its URL.

    ``ui_workspace`` ran ensure_ready in this process with the tiny/hashing/1-epoch defaults and keeps them in
    the environment, so the server inherits the same defaults and starts warm.
    """
    require_tools()
    workspace, _ = ui_workspace
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    with serving({**os.environ, "RECENGINE_HOME": str(workspace.home)}, log) as url:
        yield url


@pytest.fixture(scope="module")
def browser(server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """Headless Chromium with a fresh profile that has opened ``/`` (so app.py's navigation is in place)."""
    with chromium(tmp_path_factory.mktemp("chromium")) as driver:
        open_page(driver, server, "home")
        yield driver


def wait_settled(driver: WebDriver, what: str, title: str | None = None,
                 shown: Callable[[WebDriver], object] | None = None) -> None:
    try:
        wait_rendered(driver, title, shown=shown, timeout=RENDER_TIMEOUT)
    except TimeoutException:
        body = driver.find_element(By.TAG_NAME, "body").text
        pytest.fail(f"no {what} within {RENDER_TIMEOUT} s; the page shows:\n{body[:3000]}")


def heading(driver: WebDriver) -> list[str]:
    return [h.text for h in driver.find_elements(By.TAG_NAME, "h1")]


def open_page(driver: WebDriver, url: str, page: str) -> None:
    """Load a page URL and wait until its script run has finished and the page is drawn."""
    driver.get(f"{url}/{url_path(page)}")
    wait_settled(driver, f"finished {page}", PAGES[page])


def rerun_after(driver: WebDriver, click_on: str, shown: Callable[[WebDriver], object]) -> None:
    """Click the button labelled ``click_on`` and wait for the rerun to finish with ``shown`` true."""
    driver.find_element(By.XPATH, f"//button[.//p[normalize-space(.)='{click_on}']]").click()
    wait_settled(driver, f"result of {click_on!r}", shown=shown)


def severe_console_entries(driver: WebDriver) -> list[str]:
    """SEVERE browser-console messages since the last call, less the known offline noise (:data:`NOISE`)."""
    messages = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    return [m for m in messages if not any(pattern.search(m) for pattern in NOISE)]


def assert_clean(driver: WebDriver) -> None:
    """No exception or error element, no error text (hidden parts included) and no app error in the console."""
    failures = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"], [data-testid="stAlertContentError"]')
    assert not failures, [element.text for element in failures]
    text = driver.execute_script("return document.body.textContent")
    assert not (found := ERROR_TEXT.search(text)), text[max(found.start() - 300, 0):found.end() + 300]
    assert severe_console_entries(driver) == []


@pytest.mark.parametrize("page", list(PAGES))
def test_page_renders_its_title_without_errors(browser: WebDriver, server: str, page: str):
    open_page(browser, server, page)
    assert browser.find_element(By.TAG_NAME, "h1").is_displayed()
    assert heading(browser) == [PAGES[page]]
    assert_clean(browser)


def test_new_article_title_markup_is_shown_as_text(browser: WebDriver, server: str):
    title = "Rates <script>alert(1)</script><b>bold</b> move"
    open_page(browser, server, "new_articles")
    browser.execute_script("window.alerts = []; window.alert = message => window.alerts.push(String(message));")
    browser.find_element(By.CSS_SELECTOR, 'input[aria-label="Title"]').send_keys(title)
    rerun_after(browser, "Add and score",
                lambda d: "and scored it zero-shot" in d.find_element(By.TAG_NAME, "body").text)
    shown = [e.text for e in browser.find_elements(By.CSS_SELECTOR, '[data-testid="stText"]')]
    assert title in shown
    assert not browser.find_elements(By.XPATH, "//b[contains(., 'bold')] | //script[contains(., 'alert(1)')]")
    assert browser.execute_script("return window.alerts") == []
    assert_clean(browser)


def test_recommend_button_lists_recommendations(browser: WebDriver, server: str):
    open_page(browser, server, "recommend")
    reader = browser.find_element(By.CSS_SELECTOR, 'input[aria-label="Reader"]').get_attribute("value")
    top = f"Top 10 for reader {reader}"
    rerun_after(browser, "Recommend", lambda d: top in [h.text for h in d.find_elements(By.TAG_NAME, "h3")])
    assert reader
    tables = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stDataFrame"]')
    assert len(tables) == 2 and all(t.is_displayed() for t in tables)  # the reader's history and the top 10
    assert_clean(browser)


def test_training_job_survives_a_page_switch_and_a_reload(browser: WebDriver, server: str, ui_workspace):
    """Start a training, go to another page, reload the browser, come back: the job is still running or has
    finished, and its run is saved and registered (the work ran in its own process, not in the page)."""
    workspace, ready = ui_workspace
    with Store(workspace.store_path) as store:
        before = {run["run_id"] for run in store.runs()}
    open_page(browser, server, "train")
    rerun_after(browser, "Train", lambda d: re.search(r"Training · job \d+|Trained and saved run", body(d)))
    with Store(workspace.store_path) as store:
        job = jobs.latest(store, "train")
    assert job is not None and job["origin"] == "train"

    open_page(browser, server, "data")
    if job_state(workspace, job["id"]) in jobs.ACTIVE:  # the sidebar of every page shows a running job
        assert "job(s) running" in browser.find_element(By.CSS_SELECTOR, '[data-testid="stSidebar"]').text
    browser.refresh()
    wait_settled(browser, "reloaded data page", PAGES["data"])
    open_page(browser, server, "train")
    assert re.search(rf"Training · job {job['id']}|Trained and saved run", body(browser)), body(browser)[:2000]

    # The page polls the job and draws its outcome when it ends, without a click.
    wait_settled(browser, "finished training", PAGES["train"], shown=lambda d: "Trained and saved run" in body(d))
    with Store(workspace.store_path) as store:
        finished = jobs.get(store, job["id"])
        assert finished["status"] == "done", finished["error"]
        run = store.run(finished["result"]["run_id"])
        assert run is not None and run["run_id"] not in before
    assert (Path(run["path"]) / "weights.safetensors").is_file()
    assert run["run_id"] in plain_text(browser)
    assert_clean(browser)
    with Store(workspace.store_path) as store:  # leave the shared workspace as the other UI tests expect it
        store.set_setting(ACTIVE_RUN, ready.run_id)
        delete_run(workspace, store, run["run_id"])


def body(driver: WebDriver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def plain_text(driver: WebDriver) -> str:
    """The page's text without the escapes markdown shows nothing of (run ids carry '-')."""
    return body(driver).replace("\\", "")


def job_state(workspace, job_id: int) -> str:
    with Store(workspace.store_path) as store:
        return jobs.get(store, job_id)["status"]
