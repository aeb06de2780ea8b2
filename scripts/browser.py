"""Driving the dashboard in headless Chromium: ``streamlit run app.py`` on a free port, a browser with a fixed
viewport, and a wait for "this page has finished drawing". Shared by ``scripts/screenshots.py``,
``benchmarks/page_switch.py`` and ``tests/ui/test_browser.py``.

Needs Debian's ``chromium`` and ``chromium-driver``; the driver path is passed explicitly, so Selenium Manager
never downloads anything.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from pages._catalog import PAGES as CATALOG  # noqa: E402  (the one page list; imports nothing heavy)

PAGES = {page.url: page.heading for page in CATALOG}  # URL path -> the page's h1 (the home page is served at /)
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-quic")
WIDTH, HEIGHT = 1400, 1000
# The page's state once a script run has finished and everything is drawn (no running icon, no placeholder of a
# component still loading, no stale element): the number of elements and the h1 texts; null before that.
SNAPSHOT = """
const app = document.querySelector('[data-testid="stApp"]');
if (app === null || app.dataset.testScriptState !== 'notRunning' || document.querySelector(
        '[data-testid="stStatusWidgetRunningIcon"], [data-testid="stSkeleton"], [data-stale="true"]')) return null;
return [document.querySelectorAll('[data-testid="stElementContainer"]').length,
        [...document.querySelectorAll('h1')].map(h => h.innerText)];
"""
SETTLE = 0.3  # seconds the drawn page must stay unchanged: the last elements can follow the end of the run


def url_path(page: str) -> str:
    return "" if page == "home" else page


# --------------------------------------------------------------------------------------------- the app


def app_env(home: Path, preset: str, embedder: str, epochs: int) -> dict[str, str]:
    """The environment of a dashboard on workspace ``home`` with these first-start defaults."""
    return {**os.environ, "RECENGINE_HOME": str(home), "RECENGINE_DEFAULT_PRESET": preset,
            "RECENGINE_DEFAULT_EMBEDDER": embedder, "RECENGINE_DEFAULT_EPOCHS": str(epochs),
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def prepared(env: dict[str, str]) -> None:
    """Make the workspace's dataset and default model now (in a child process), so the server starts warm."""
    code = ("from recengine.app.first_start import ensure_ready; from recengine.data.store import Store; "
            "from recengine.workspace import Workspace; w = Workspace.default(); "
            "print(ensure_ready(w, Store(w.store_path)), file=__import__('sys').stderr)")
    subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, check=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
            return answer.read().strip() == b"ok"
    except OSError:
        return False


@contextmanager
def serving(env: dict[str, str], log_path: Path, timeout: float = 120) -> Iterator[str]:
    """``streamlit run app.py`` on a free local port; yields its URL and kills its process group at the end."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"]
    with log_path.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while not healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not come up:\n{log_path.read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# --------------------------------------------------------------------------------------------- the browser


@contextmanager
def chromium(profile: Path) -> Iterator[WebDriver]:
    """Headless Chromium (profile in ``profile``) with a WIDTH × HEIGHT viewport."""
    binary, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver_path):
        raise RuntimeError("chromium and chromedriver are needed: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console, for tests to read
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        viewport(driver, HEIGHT)
        yield driver
    finally:
        driver.quit()


def viewport(driver: WebDriver, height: int) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": False})


class Settled:
    """A wait condition: the script run has finished with ``title`` as the h1 (any h1 when None) and ``shown``
    true, and the page has stayed unchanged for :data:`SETTLE` seconds. ``since`` is when it was first so."""

    def __init__(self, title: str | None = None, shown: Callable[[WebDriver], object] | None = None):
        self.title, self.shown = title, shown
        self.last: list | None = None
        self.since = 0.0

    def __call__(self, driver: WebDriver) -> bool:
        snapshot = driver.execute_script(SNAPSHOT)
        if (not snapshot or not snapshot[1] or (self.title and self.title not in snapshot[1])
                or (self.shown and not self.shown(driver))):
            self.last = None
            return False
        if snapshot != self.last:
            self.last, self.since = snapshot, time.monotonic()
        return time.monotonic() - self.since >= SETTLE


def wait_rendered(driver: WebDriver, title: str | None = None, *, shown: Callable[[WebDriver], object] | None = None,
                  timeout: float = 600) -> float:
    """Wait for :class:`Settled`; returns the monotonic time at which the page was first drawn so."""
    settled = Settled(title, shown)
    WebDriverWait(driver, timeout, poll_frequency=0.05).until(settled)
    return settled.since


def open_page(driver: WebDriver, url: str, page: str) -> None:
    driver.get(f"{url}/{url_path(page)}")
    wait_rendered(driver, PAGES[page])


def body_has(text: str) -> Callable[[WebDriver], bool]:
    return lambda d: text in d.find_element(By.TAG_NAME, "body").text


def press(driver: WebDriver, label: str, shown: Callable[[WebDriver], object]) -> None:
    """Click the (first) button labelled ``label`` and wait for the rerun to finish with ``shown`` true."""
    driver.find_element(By.XPATH, f"//button[.//p[normalize-space(.)='{label}']]").click()
    wait_rendered(driver, shown=shown)
