"""Debian's Chromium, headless, driven through chromium-driver, against a
bootsvc app served on 127.0.0.1 in a thread of the test process."""

from __future__ import annotations

import base64
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait
from werkzeug.serving import make_server

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# Where to keep a PNG of each page visited (docs/ui/ in the repository).
SCREENSHOTS = os.environ.get("BOOTSVC_UI_SCREENSHOTS", "")


@contextmanager
def served(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


@contextmanager
def chromium(profile: Path) -> Iterator[WebDriver]:
    if not (shutil.which(CHROMIUM) and shutil.which(DRIVER)):
        pytest.fail("the browser tests need Debian's chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1280,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def _gone(element: WebElement) -> bool:
    """Whether the page holding `element` has been replaced (Chromium says so
    in more than one way)."""
    try:
        element.is_enabled()
    except WebDriverException:
        return True
    return False


class Browser:
    """One logged-in person at a browser."""

    def __init__(self, driver: WebDriver, base: str) -> None:
        self.driver = driver
        self.base = base

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self) -> str:
        return self.find("main").text

    def _to_next_page(self, target: WebElement) -> None:
        """Click, and wait until the next page has replaced this one."""
        old = self.find("html")
        target.click()
        WebDriverWait(self.driver, 15).until(lambda _d: _gone(old))
        WebDriverWait(self.driver, 15).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )

    def click_button(self, label: str) -> None:
        self._to_next_page(
            self.driver.find_element(By.XPATH, f"//button[normalize-space()='{label}']")
        )

    def click_link(self, label: str) -> None:
        self._to_next_page(self.driver.find_element(By.LINK_TEXT, label))

    def wait_for_text(self, css: str, wanted: str, seconds: float = 15) -> None:
        # The rollout page reloads itself when the state changes.
        WebDriverWait(self.driver, seconds, ignored_exceptions=(WebDriverException,)).until(
            expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, css), wanted)
        )

    def login(self, token: str) -> None:
        self.open("/ui/login")
        self.find("#token").send_keys(token)
        self.click_button("Log in")
        self.wait_for_text("header .who", "token")

    def screenshot(self, name: str) -> None:
        if SCREENSHOTS:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            height = self.driver.execute_script("return document.body.scrollHeight")
            clip = {"x": 0, "y": 0, "width": 1280, "height": min(int(height), 2400), "scale": 1}
            shot = self.driver.execute_cdp_cmd(
                "Page.captureScreenshot",
                {"format": "png", "captureBeyondViewport": True, "clip": clip},
            )
            (Path(SCREENSHOTS) / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))
