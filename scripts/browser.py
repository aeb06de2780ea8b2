"""Driving the dashboard in headless Chromium: ``streamlit run app.py`` on a free port, a browser with a fixed
viewport, a wait for "this page has finished drawing" and a layout check of the drawn page (:func:`layout_problems`:
chart texts clipped or overlapping, tables that need sideways scrolling). Shared by ``scripts/screenshots.py``,
``benchmarks/page_switch.py``, ``tests/ui/test_browser.py`` and ``tests/ui/test_layout.py``.

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
from selenium.common.exceptions import TimeoutException
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
WIDTH, HEIGHT = 1440, 1000  # the default viewport; screenshots also use 1024 px wide
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
def serving(env: dict[str, str], log_path: Path, timeout: float = 120, script: str = "app.py") -> Iterator[str]:
    """``streamlit run SCRIPT`` on a free local port; yields its URL and kills its process group at the end."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
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
def chromium(profile: Path, width: int = WIDTH) -> Iterator[WebDriver]:
    """Headless Chromium (profile in ``profile``) with a ``width`` × HEIGHT viewport."""
    binary, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver_path):
        raise RuntimeError("chromium and chromedriver are needed: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{HEIGHT}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console, for tests to read
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        viewport(driver, HEIGHT, width)
        yield driver
    finally:
        driver.quit()


def viewport(driver: WebDriver, height: int, width: int = WIDTH) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


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


# --------------------------------------------------------------------------------------------- the layout check

# Run in the page; returns [where, subject, what] for every problem. Measures the rendered DOM, no pixels:
# - every visible, non-empty SVG text of a Plotly chart must lie inside the chart (its Streamlit container and its
#   SVG) and inside every clip path above it (a bar label past the plot area is cut there: "481" drawn as "48"),
#   with TOLERANCE px to spare, and must not overlap another text of the same chart by more than OVERLAP px²
#   (texts under one parent group are one label and may touch). A text's outline is its SVG box (getBBox) less
#   BLANK of its height at the top and at the bottom (the box spans the font's whole ascent and descent, blank
#   above the ascenders and below the descenders, so two lines set close but apart would otherwise overlap),
#   turned as the text is (rotated tick labels) and placed on the screen (getScreenCTM); an overlap is the area
#   of the intersection of two such quadrilaterals;
# - a visible table (st.dataframe, glide-data-grid) must not need sideways scrolling: its scroller's scrollWidth
#   (the sum of the column widths) must fit its clientWidth, unless the "Show all N columns" toggle just above it
#   (pages/_ui.show_table) is on;
# - the page itself must not need sideways scrolling.
LAYOUT_CHECK = r"""
const TOLERANCE = 1, OVERLAP = 2, BLANK = 0.15, problems = [];
const shown = e => e.checkVisibility({opacityProperty: true, visibilityProperty: true});
const words = e => [...(e.querySelector('tspan.line') ? e.querySelectorAll('tspan.line') : [e])]
  .map(line => line.textContent).join(' ').replace(/\s+/g, ' ').trim();  // a title's lines, with a space
const quote = e => JSON.stringify(words(e).slice(0, 60));
const box = r => ({left: r.left, right: r.right, top: r.top, bottom: r.bottom});
const cross = (a, b, p) => (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]);
function outline(text) {  // the text's box less its blank top and bottom, as four corners on the screen
  const b = text.getBBox(), m = text.getScreenCTM(), dy = BLANK * b.height;
  return [[b.x, b.y + dy], [b.x + b.width, b.y + dy], [b.x + b.width, b.y + b.height - dy], [b.x, b.y + b.height - dy]]
    .map(([x, y]) => new DOMPoint(x, y).matrixTransform(m)).map(p => [p.x, p.y]);
}
const bounds = q => ({left: Math.min(...q.map(p => p[0])), right: Math.max(...q.map(p => p[0])),
                      top: Math.min(...q.map(p => p[1])), bottom: Math.max(...q.map(p => p[1]))});
const polygonArea = q => Math.abs(q.reduce((sum, p, i) => {
  const n = q[(i + 1) % q.length]; return sum + p[0] * n[1] - n[0] * p[1]; }, 0)) / 2;
function intersection(subject, clip) {  // Sutherland-Hodgman: the part of one convex polygon inside another
  const turn = Math.sign(cross(clip[0], clip[1], clip[2]));
  let out = subject;
  clip.forEach((a, i) => {
    const b = clip[(i + 1) % clip.length], inside = p => turn * cross(a, b, p) >= 0, input = out;
    const cut = (p, q) => { const t = cross(a, b, p) / (cross(a, b, p) - cross(a, b, q));
                            return [p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])]; };
    out = [];
    input.forEach((p, j) => {
      const q = input[(j + 1) % input.length];
      if (inside(q)) { if (!inside(p)) out.push(cut(p, q)); out.push(q); } else if (inside(p)) out.push(cut(p, q));
    });
  });
  return out;
}
const meet = (a, b) => ({left: Math.max(a.left, b.left), right: Math.min(a.right, b.right),
                         top: Math.max(a.top, b.top), bottom: Math.min(a.bottom, b.bottom)});
const area = r => Math.max(0, r.right - r.left) * Math.max(0, r.bottom - r.top);
function past(inner, outer) {  // how far inner runs past outer on each side, beyond the tolerance
  const sides = {left: outer.left - inner.left, right: inner.right - outer.right,
                 top: outer.top - inner.top, bottom: inner.bottom - outer.bottom};
  return Object.entries(sides).filter(([, d]) => d > TOLERANCE).map(([s, d]) => `${Math.round(d)} px past the ${s}`);
}
function clipBox(element) {  // the screen box of the clip paths on element and its ancestors, or null
  let clip = null;
  for (let e = element; e && e.tagName.toLowerCase() !== 'svg'; e = e.parentElement) {
    const found = /#([^)'"]+)/.exec(e.getAttribute('clip-path') || '');
    const rect = found && document.getElementById(found[1])?.querySelector('rect');
    if (!rect) continue;
    const m = e.getScreenCTM(), x = rect.x.baseVal.value, y = rect.y.baseVal.value;
    const corners = [[x, y], [x + rect.width.baseVal.value, y + rect.height.baseVal.value]]
      .map(([px, py]) => new DOMPoint(px, py).matrixTransform(m));
    const own = {left: Math.min(corners[0].x, corners[1].x), right: Math.max(corners[0].x, corners[1].x),
                 top: Math.min(corners[0].y, corners[1].y), bottom: Math.max(corners[0].y, corners[1].y)};
    clip = clip ? meet(clip, own) : own;
  }
  return clip;
}
document.querySelectorAll('[data-testid="stPlotlyChart"]').forEach((chart, i) => {
  const plot = chart.querySelector('.js-plotly-plot'), svg = plot?.querySelector('svg.main-svg');
  if (!shown(chart)) return;
  if (!svg) return problems.push([`chart #${i + 1}`, 'it', ' is not drawn']);  // never a silent pass
  const title = plot.querySelector('.gtitle');
  const where = `chart ${title && words(title) ? JSON.stringify(words(title).slice(0, 80)) : '#' + (i + 1)}`;
  const frame = meet(box(chart.getBoundingClientRect()), box(svg.getBoundingClientRect()));
  const texts = [...plot.querySelectorAll('svg text')].filter(t => words(t) && shown(t))
    .map(t => ({t, q: outline(t)})).filter(({q}) => polygonArea(q) > 0).map(o => ({...o, r: bounds(o.q)}));
  texts.forEach(({t, r}) => {
    const out = past(r, frame);
    if (out.length) problems.push([where, quote(t), `: outside the chart (${out.join(', ')})`]);
    const clip = clipBox(t), cut = clip ? past(r, clip) : [];
    if (cut.length) problems.push([where, quote(t), `: cut by its clip area (${cut.join(', ')})`]);
  });
  texts.forEach((a, j) => texts.slice(j + 1).forEach(b => {
    const overlap = area(meet(a.r, b.r)) > 0 ? polygonArea(intersection(a.q, b.q)) : 0;
    if (overlap > OVERLAP && a.t.parentNode !== b.t.parentNode)
      problems.push([where, quote(a.t), ` overlaps ${quote(b.t)} by ${Math.round(overlap)} px²`]);
  }));
});
document.querySelectorAll('[data-testid="stDataFrame"]').forEach((table, i) => {
  const scroller = table.querySelector('.dvn-scroller');
  if (!scroller || !shown(table)) return;
  const above = table.closest('[data-testid="stElementContainer"]')?.previousElementSibling;
  const all = [...(above?.querySelectorAll('label') || [])].some(
    l => /^Show all \d+ columns/.test(words(l)) && l.querySelector('input[type="checkbox"]')?.checked);
  if (all || scroller.scrollWidth <= scroller.clientWidth + TOLERANCE) return;
  // The grid's accessible table holds the headers of the columns drawn now, the first ones.
  const headers = [...table.querySelectorAll('th')].map(words).filter(Boolean).slice(0, 3);
  problems.push([`table #${i + 1} (${headers.join(', ')}, …)`, 'its columns',
                 ` need ${scroller.scrollWidth} px; ${scroller.clientWidth} px are shown`]);
});
const main = document.querySelector('[data-testid="stMain"]');
if (main && main.scrollWidth > main.clientWidth + TOLERANCE)
  problems.push(['page', 'its main area', ` needs ${main.scrollWidth} px; ${main.clientWidth} px are shown`]);
return problems;
"""


# Whether Plotly has drawn every visible chart (it draws after Streamlit has placed the element).
CHARTS_DRAWN = """
return [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].filter(c => c.checkVisibility())
    .every(c => c.querySelector('.js-plotly-plot svg.main-svg text'));
"""


def layout_problems(driver: WebDriver, timeout: float = 10) -> list[str]:
    """What :data:`LAYOUT_CHECK` finds on the page drawn now, one line each, e.g. ``chart "Title": "0.17" overlaps
    "0.18" by 40 px²``; texts of one chart with the same problem share a line (a whole column of cut labels).
    Waits up to ``timeout`` seconds for Plotly to draw every chart; one still undrawn is a problem."""
    try:
        WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: d.execute_script(CHARTS_DRAWN))
    except TimeoutException:
        pass  # the check names the chart
    grouped: dict[tuple[str, str], list[str]] = {}
    for where, subject, what in driver.execute_script(LAYOUT_CHECK):
        grouped.setdefault((where, what), []).append(subject)
    return [f"{where}: {', '.join(subjects[:3])}{f' and {len(subjects) - 3} more' if len(subjects) > 3 else ''}{what}"
            for (where, what), subjects in grouped.items()]
