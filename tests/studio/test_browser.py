"""The studio in a real browser (Debian's chromium, headless, driven through chromedriver): the demo film from
import to a chat by voice, with a screenshot of each step (in $CASTVOICE_STUDIO_SHOTS when set)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest
import soundfile as sf

from castvoice.app import lines, open_workspace
from castvoice.bench.studio import headless_chromium
from studio_server import Studio, wait_for

pytestmark = pytest.mark.slow  # the demo film and real models

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip("needs Debian's chromium and chromium-driver (scripts/setup.sh --test installs them)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def spoken_message(demo_workspace, tmp_path_factory) -> Path:
    """What the fake microphone says: Diane's first line of the film."""
    ws = open_workspace(demo_workspace)
    samples, rate = lines.line_audio(ws, lines.lines(ws, "Diane")[0].id, pad=0.5)
    ws.close()
    path = tmp_path_factory.mktemp("mic") / "message.wav"
    sf.write(path, samples, rate, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def studio(projects):
    server = Studio(projects).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(spoken_message):
    driver = headless_chromium("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                               f"--use-file-for-fake-audio-capture={spoken_message}")
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("CASTVOICE_STUDIO_SHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Page:
    """The studio as a person at the browser sees it."""

    def __init__(self, driver, studio: Studio, shots: Path) -> None:
        self.driver, self.studio, self.shots = driver, studio, shots

    def find(self, css: str, seconds: float = 30):
        from selenium.webdriver.common.by import By

        return wait_for(lambda: (self.driver.find_elements(By.CSS_SELECTOR, css) or [None])[0], seconds, css)

    def all(self, css: str) -> list:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def open(self, page: str) -> None:
        self.driver.execute_script("document.body.dataset.ready = ''; location.hash = arguments[0];", page)
        self.find(f"body[data-ready='{page}']", 300)

    def script(self, code: str):
        return self.driver.execute_script(code)

    def message(self) -> str:
        return self.find("#message").text

    def shot(self, name: str) -> None:
        self.driver.save_screenshot(str(self.shots / f"{name}.png"))

    def keys(self, *keys: str) -> None:
        from selenium.webdriver.common.action_chains import ActionChains

        actions = ActionChains(self.driver)
        for key in keys:
            actions.send_keys(key)
        actions.perform()


def test_the_demo_film_from_import_to_a_spoken_chat(studio, browser, short_film, shots):
    from selenium.webdriver.common.keys import Keys

    page = Page(browser, studio, shots)
    browser.get(studio.url + "/")
    page.find("body[data-ready='projects']")

    # 1. Import a short cut of the demo film, its progress shown stage by stage.
    page.find("#np-name").send_keys("short")
    page.find("#np-movie").send_keys(str(short_film / "short.mp4"))
    page.find("#np-subs").send_keys(str(short_film / "short.srt"))
    page.find("#np-start").click()
    page.find(".project[data-name='short'][data-state='running'] .tasks .progress")
    wait_for(lambda: len(page.all(".project[data-name='short'] .tasks .progress")) >= 2, 120, "progress per stage")
    page.shot("01-import-progress")  # the import goes on in the background; its end is checked last

    # 2. Characters of the demo workspace; name an anonymous speaker.
    browser.execute_script("localStorage.setItem('castvoice.project', 'demo')")
    page.open("characters")
    assert {"Diane", "Marcus", "Oliver"} <= {row.text.split()[0] for row in page.all("#characters tr.character")}
    speaker = page.all("#speakers tr.speaker")[0]
    label = speaker.get_attribute("data-label")
    speaker.find_element("css selector", ".speaker-name").send_keys("Diane")
    speaker.find_element("css selector", "button[data-name-speaker]").click()
    wait_for(lambda: "is Diane" in page.message(), 60, "the speaker named")
    assert "Diane" in page.find(f"#speakers tr.speaker[data-label='{label}']").text
    page.shot("03-characters")

    # 3. Proofread a line with the keyboard: move down, edit, save.
    page.open("lines")
    page.find("#lines tr.line.selected")
    page.keys(Keys.ARROW_DOWN, Keys.ARROW_DOWN)
    line_id = page.find("#lines tr.line.selected").get_attribute("data-id")
    page.keys("e")
    field = page.find("#lines tr.selected td.text input")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys("Corrected by the proofreader.", Keys.ENTER)
    wait_for(lambda: "saved" in page.message(), 30, "the line saved")
    assert page.find(f"#lines tr.line[data-id='{line_id}'] td.text").text == "Corrected by the proofreader."
    said = httpx.get(studio.api("/p/demo/lines")).json()["lines"]
    assert next(line for line in said if str(line["id"]) == line_id)["text"] == "Corrected by the proofreader."
    page.shot("04-lines")
    browser.set_window_size(420, 800)
    page.shot("04-lines-narrow")
    browser.set_window_size(1280, 800)

    # 4. Marcus's dataset (the character with the fewest lines): its building shown as it goes, then a kept
    # clip excluded.
    browser.execute_script("localStorage.setItem('castvoice.character', 'Marcus')")
    browser.execute_script("document.body.dataset.ready = ''; location.hash = 'dataset';")
    page.find("#dataset-progress .progress", 120)
    page.shot("05-dataset-progress")
    page.find("body[data-ready='dataset']", 300)
    kept = page.find("#clips tr.clip[data-kept='true']")
    clip = kept.get_attribute("data-id")
    kept.find_element("css selector", "button[data-decide='exclude']").click()
    wait_for(lambda: "excluded by hand" in page.find(f"#clips tr.clip[data-id='{clip}']").text, 60, "the clip excluded")
    page.shot("05-dataset")

    # 5. Make Marcus's voice (a short search) and hear a typed line.
    page.open("voice")
    minutes = page.find("#voice-minutes")
    minutes.clear()
    minutes.send_keys("0.1")
    page.find("#make-voice").click()  # a build cancelled at once saves nothing
    wait_for(lambda: page.script("const b = document.querySelector('#cancel-voice'); if (b) b.click(); return !!b;"),
             60, "the Cancel button")
    wait_for(lambda: "cancelled" in page.script("return document.querySelector('#build-state')?.textContent || ''"),
             120, "the build cancelled")
    assert not page.all("#say")
    assert "Marcus" not in [v["name"] for v in httpx.get(studio.api("/p/demo/voices")).json()["voices"]]
    page.find("#make-voice").click()
    page.find("#say", 300)
    page.find("#say").click()
    page.find("body[data-spoke='1']", 120)
    assert "first audio after" in page.find("#say-timing").text
    body = page.find("body")  # the streamed speech was played as it came: real samples, not silence
    assert float(body.get_attribute("data-spoke-seconds")) > 1.0
    assert float(body.get_attribute("data-spoke-rms")) > 0.01
    assert page.find("#say-audio").get_attribute("src").startswith("blob:")  # to hear it again
    page.shot("06-voice")

    # 6. Chat: a turn by text, then one by microphone.
    page.open("chat")
    page.find("#chat-input").send_keys("Good evening, Marcus. Is the lamp lit tonight?", Keys.ENTER)
    turn = page.find(".turn.them[data-state='done']", 300)
    assert turn.find_element("css selector", ".bubble").text.strip()
    # Its speech came in the same stream and started before the turn ended, sentence by sentence.
    assert int(turn.get_attribute("data-speech-pieces")) >= 1
    assert float(turn.get_attribute("data-speech-seconds")) > 0.3 and float(turn.get_attribute("data-speech-rms")) > 0.01
    assert float(turn.get_attribute("data-first-audio")) < float(turn.get_attribute("data-ended"))
    assert turn.find_elements("css selector", "button.replay")
    page.find("#mic").click()
    page.find("#mic.recording")
    browser.execute_script("return new Promise((done) => setTimeout(done, 3500))")
    page.find("#mic").click()
    wait_for(lambda: len(page.all(".turn.them[data-state='done']")) == 2, 300, "the spoken message answered")
    heard = page.all(".turn.me .bubble")[1].text
    assert "lamp" in heard.lower(), heard
    page.shot("07-chat")

    # The film imported at the start has finished meanwhile.
    page.open("projects")
    page.find(".project[data-name='short'] button[data-open]", 300)
    assert "imported" in page.find(".project[data-name='short'] .status").text
    page.shot("02-projects")
