"""The web page in a real headless Chromium (Debian's), driven by Playwright."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest

from tests.conftest import scene_640x480
from tests.serve.conftest import Server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        chromium = None
    if chromium is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium or playwright missing: `make test` installs both")
        pytest.skip("needs Debian's chromium (apt-get install chromium) and playwright (make test)")
    with sync_playwright() as p:
        # Never `playwright install`: use the system browser, and keep its DNS off the network.
        b = p.chromium.launch(
            executable_path=chromium,
            args=[
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
                "--log-level=3",
            ],
        )
        yield b
        b.close()


def test_upload_shows_detections(browser: Any, server: Server, tmp_path: Path) -> None:
    image = tmp_path / "scene.png"
    cv2.imwrite(str(image), scene_640x480())
    page = browser.new_page()
    try:
        page.goto(server.url + "/")
        page.wait_for_function("document.querySelectorAll('#model option').length >= 2")
        page.select_option("#model", "colour-yolo")
        page.set_input_files("#file", str(image))
        page.wait_for_function("document.getElementById('count').textContent.includes('detection')")
        assert page.text_content("#count") == "2 detections"
        shown = page.text_content("#result-json") or ""
        assert '"class": "red"' in shown and '"class": "green"' in shown
        width = page.evaluate("document.getElementById('canvas').width")
        assert width == 640
        rows = page.locator("#models tbody tr")
        assert rows.count() == 2
    finally:
        page.close()


def test_error_is_shown(browser: Any, server: Server, tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"definitely not a png")
    page = browser.new_page()
    try:
        page.goto(server.url + "/")
        page.wait_for_function("document.querySelectorAll('#model option').length >= 2")
        page.set_input_files("#file", str(bad))
        page.wait_for_function("document.getElementById('status').textContent.startsWith('error')")
        assert "not a supported image" in (page.text_content("#status") or "")
    finally:
        page.close()
