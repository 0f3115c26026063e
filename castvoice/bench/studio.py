"""`castvoice bench studio`: how fast the studio's pages show their content, in a real browser.

On the demo film (ingested with its subtitles and screenplay, Diane's clips built, a Kokoro voice saved for
her), `castvoice studio` runs as a child process and Debian's headless chromium opens each page, five times:
the time from asking for the page to its content drawn, against the baseline of fetching the same data from
the studio's JSON API without a browser. Then the first audio of a typed line on the voice page: the time
from pressing Speak until the page's streaming player starts the first samples, against the time until the
first audio bytes of the same request reach a plain HTTP client, and against an <audio> element given the
same address (how the page played it before), timed until it plays.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from castvoice.bench import report
from castvoice.console import log
from castvoice.errors import CastvoiceError

CHARACTER = "Diane"
REPEATS = 5
LINE = "The lamp is lit again, and every ship in the fleet is coming home."
# The JSON each page fetches before it draws (besides the project list every page reads).
PAGE_DATA = {"projects": [], "characters": ["/characters"], "lines": ["/lines", "/characters"],
             "dataset": ["/characters", f"/dataset/{CHARACTER}"], "voice": ["/characters", "/voices"],
             "chat": ["/characters", f"/persona/{CHARACTER}", f"/memory/{CHARACTER}"]}


class StudioProcess:
    """`castvoice studio --projects FOLDER` in a child process on a free loopback port."""

    def __init__(self, projects: Path, max_upload_mb: float = 20, cwd: Path | None = None) -> None:
        self.projects, self.max_upload_mb, self.cwd = projects, max_upload_mb, cwd
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, seconds: float = 60) -> StudioProcess:
        import httpx

        self.process = subprocess.Popen(
            [sys.executable, "-m", "castvoice", "studio", "--projects", str(self.projects), "--port", str(self.port),
             "--max-upload-mb", str(self.max_upload_mb)], cwd=self.cwd, env=os.environ.copy())
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.3)
            if self.process.poll() is not None:
                raise CastvoiceError(f"the studio exited with status {self.process.returncode}")
        raise CastvoiceError(f"the studio did not start within {seconds:.0f} s")

    def kill(self) -> None:
        """End the server at once, as a crash would."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def api(self, path: str) -> str:
        return f"{self.url}/studio/api{path}"


def headless_chromium(*flags: str):
    """Debian's chromium, headless at 1280x800, driven by Selenium through chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver):
        raise CastvoiceError("needs Debian's chromium and chromium-driver: run scripts/setup.sh --test")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800",
                 "--autoplay-policy=no-user-gesture-required", *flags):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(driver))


def run(out: Path | None) -> None:
    with tempfile.TemporaryDirectory(prefix="castvoice-bench-studio-") as tmp:
        projects = Path(tmp) / "projects"
        _demo_project(projects / "demo")
        studio = StudioProcess(projects).start()
        browser = headless_chromium()
        try:
            browser.get(studio.url + "/")
            browser.set_script_timeout(300)
            browser.execute_script("localStorage.setItem('castvoice.project', 'demo');"
                                   f"localStorage.setItem('castvoice.character', '{CHARACTER}')")
            pages = [_page_row(browser, studio, page) for page in PAGE_DATA]
            speech = _first_audio_row(browser, studio)
        finally:
            browser.quit()
            studio.stop()
    report({"time from opening a page to its content (s, median of 5)": pages,
            "first audio of a typed line on the voice page (s, median of 5)": speech},
           {"page": "content within 1 s of opening it on the demo workspace"}, out)


def _demo_project(root: Path) -> None:
    """The demo film ingested into `root`, Diane's clips built, and a Kokoro voice saved for her."""
    from castvoice.app import dataset, open_workspace
    from castvoice.app.ingest import ingest
    from castvoice.assets import cache_dir
    from castvoice.demo.film import build
    from castvoice.voice.backends import get_tts
    from castvoice.voice.profile import VoiceProfile, save_profile

    film = build(cache_dir() / "demo-film")
    log.info("ingesting the demo film")
    ingest(film, film.with_suffix(".srt"), film.with_name("demo.screenplay.txt"), workspace=root)
    ws = open_workspace(root)
    log.info("building %s's clips", CHARACTER)
    dataset.clean(ws, CHARACTER)
    ws.close()
    style = get_tts("kokoro").style("af_heart")
    save_profile(VoiceProfile(CHARACTER, "kokoro", {"speed": 1.0, "language": "en-us"}, {"style": style}),
                 root / "voices")


def _page_row(browser, studio: StudioProcess, page: str) -> dict:
    import httpx

    shown, fetched = [], []
    for _ in range(REPEATS):
        began = time.perf_counter()
        with httpx.Client(timeout=300) as http:
            for path in ["/projects" if not PAGE_DATA[page] else None, *PAGE_DATA[page]]:
                if path is not None:
                    http.get(studio.api(path if path == "/projects" else f"/p/demo{path}")).raise_for_status()
        fetched.append(time.perf_counter() - began)
        shown.append(browser.execute_async_script(
            "const [page, done] = arguments; const began = performance.now();"
            "history.replaceState(null, '', '#' + page);"
            "route().then(() => done((performance.now() - began) / 1000));", page))
    page_s, api_s = statistics.median(shown), statistics.median(fetched)
    return {"page": page, "browser_s": round(page_s, 3), "api_only_s": round(api_s, 3),
            "ratio_to_api": round(page_s / api_s, 2) if api_s else None}


def _first_audio_row(browser, studio: StudioProcess) -> list[dict]:
    """The page's Speak button (speech played as it streams in), an <audio> element given the same address (as
    the page played it before), and a plain HTTP client's first audio bytes, each on every repeat."""
    import httpx

    browser.execute_script("location.hash = 'voice'")
    played, element, fetched = [], [], []
    url = studio.api(f"/p/demo/voices/{CHARACTER}/speak")
    for number in range(REPEATS + 1):  # the first, which loads the voice's model, is not counted
        text = f"{LINE} ({number})"
        began = time.perf_counter()
        first_bytes, received = None, 0
        with httpx.stream("GET", url, params={"text": text}, timeout=300) as answer:
            for chunk in answer.iter_bytes():  # read to the end, so the next request finds the server idle
                received += len(chunk)
                if first_bytes is None and received > 44:  # past the WAV header
                    first_bytes = time.perf_counter() - began
        seconds = browser.execute_async_script(
            "const [text, done] = arguments; const poll = () => { const say = document.querySelector('#say');"
            " if (!say) return setTimeout(poll, 20); document.querySelector('#say-text').value = text;"
            " delete document.body.dataset.firstAudio; say.click();"
            " const wait = () => document.body.dataset.firstAudio ? done(Number(document.body.dataset.firstAudio))"
            " : setTimeout(wait, 5); wait(); }; poll();", text + " again")
        browser.execute_async_script("const done = arguments[0]; const wait = () => document.body.dataset.spoke"
                                     " ? done() : setTimeout(wait, 20); wait();")  # the stream has ended
        by_element = browser.execute_async_script(
            "const [address, done] = arguments; const audio = new Audio(address); const began = performance.now();"
            " let first = null; audio.addEventListener('playing', () => { if (first === null) {"
            " first = (performance.now() - began) / 1000; audio.playbackRate = 16; } });"
            # played to its end (fast), so the whole answer is read before the next request
            " audio.addEventListener('ended', () => done(first), {once: true}); audio.play();",
            f"{url}?text={quote(text + ' once more')}")
        if number:
            fetched.append(first_bytes)
            played.append(seconds)
            element.append(by_element)
    api_s = statistics.median(fetched)
    rows = []
    for what, times in (("typed line, the page's streaming player", played),
                        ("the same line in an <audio> element", element)):
        page_s = statistics.median(times)
        rows.append({"what": what, "browser_first_audio_s": round(page_s, 3), "api_first_bytes_s": round(api_s, 3),
                     "ratio_to_api": round(page_s / api_s, 2)})
    return rows
