"""The hub's web page in a real headless Chromium (Debian's), driven by Playwright, against the real hub.

One walk through the page as a person would use it: sign in (a wrong token is refused), the
devices list with a heartbeat, the gallery with predictions drawn and a class filter, the
review queue by keyboard (delete a box, re-class another, accept; reject; skip), a dataset
version created from the page; then the API proves the labels are exactly the edited boxes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from edgeloop.testing.hub_server import HubServer

# Blobs play no part here: the S3 variant of the fleet set-up is left to the storage tests.
NO_BLOBS = pytest.mark.parametrize("hub_backend", ["sqlite", "postgresql"], indirect=True)

BOXES = {  # class -> (x1, y1, x2, y2) of its square in every image
    "red": (64, 48, 192, 176),
    "green": (352, 240, 480, 336),
    "blue": (400, 40, 560, 160),
}
BGR = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0)}


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


@contextlib.contextmanager
def open_page(browser: Any) -> Iterator[tuple[Any, list[str]]]:
    """A page in a fresh browser context (10 s timeouts) and the script errors it raises; closed after."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield page, errors
    finally:
        context.close()


def wire(name: str, confidence: float) -> dict[str, Any]:
    x1, y1, x2, y2 = BOXES[name]
    return {
        "x": (x1 + x2) / 2,
        "y": (y1 + y2) / 2,
        "width": x2 - x1,
        "height": y2 - y1,
        "confidence": confidence,
        "class": name,
        "class_id": list(BOXES).index(name),
    }


def image_with(classes: list[str], shade: int) -> bytes:
    image = np.full((480, 640, 3), shade, np.uint8)
    for name in classes:
        x1, y1, x2, y2 = BOXES[name]
        image[y1:y2, x1:x2] = BGR[name]
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


def upload(hub_url: str, token: str, classes: list[str], score: float, shade: int) -> str:
    data = image_with(classes, shade)
    sha = hashlib.sha256(data).hexdigest()
    meta = {
        "captured_at": time.time(),
        "width": 640,
        "height": 480,
        "model_name": "colour-yolo",
        "model_version": "3",
        "predictions": {
            "image": {"width": 640, "height": 480},
            "predictions": [wire(c, 0.5 + 0.1 * i) for i, c in enumerate(classes)],
        },
        "sampler": "uncertainty",
        "score": score,
        "reason": "test",
        "tags": [],
    }
    r = httpx.post(
        f"{hub_url}/api/v1/samples",
        headers={**bearer(token), "Idempotency-Key": sha},
        files={"meta": (None, json.dumps(meta), "application/json"), "image": ("s.png", data, "image/png")},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    return sha


def boxes_of(labels: dict[str, Any]) -> list[tuple[str, float, float, float, float]]:
    return sorted((b["class"], b["x"], b["y"], b["width"], b["height"]) for b in labels["predictions"])


EDGE_PIXEL_IS_STROKE = """([x, y, name]) => {
    const canvas = document.querySelector('#gallery canvas');
    const [r, g, b] = canvas.getContext('2d').getImageData(x, y, 1, 1).data;
    const hex = '#' + [r, g, b].map(v => v.toString(16).padStart(2, '0')).join('');
    return canvas.width === 320 && hex === classColour(name);
}"""


def cards_are(shas: list[str]) -> str:
    """A condition: the gallery shows exactly these samples, in order, all drawn."""
    want = json.dumps(shas, separators=(",", ":"))
    drawn = "[...document.querySelectorAll('#gallery .card[data-boxes]')].map(c => c.dataset.sha)"
    count = f"document.querySelectorAll('#gallery .card').length === {len(shas)}"
    return f"JSON.stringify({drawn}) === '{want}' && {count}"


def until(page: Any, condition: str) -> None:
    """Wait until the JavaScript ``condition`` holds (as a function: the page's CSP forbids eval)."""
    page.wait_for_function(f"() => {condition}")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def box_classes(page: Any) -> list[str]:
    """The classes of the boxes on the review page, in order."""
    classes: list[str] = page.eval_on_selector_all("#review-boxes li", "ls => ls.map(l => l.dataset.class)")
    return classes


@NO_BLOBS
def test_review_round_trip(browser: Any, hub_server: HubServer) -> None:
    url, admin = hub_server.url, hub_server.admin_token
    device = hub_server.add_device("cam-1", "yard")
    hub_server.add_device("cam-2", "yard")
    gone = httpx.delete(f"{url}/api/v1/devices/cam-2", headers=bearer(admin), timeout=10)
    assert gone.status_code == 204, gone.text
    beat = {
        "model_version": "colour-yolo 3",
        "health": "ok",
        "fps": 12.5,
        "backlog": 7,
        "free_disk_bytes": 5e9,
    }
    r = httpx.post(f"{url}/api/v1/heartbeat", headers=bearer(device), json=beat, timeout=10)
    assert r.status_code == 204, r.text
    first = upload(url, device, ["red", "green", "blue"], 0.9, 100)
    second = upload(url, device, ["green", "blue"], 0.6, 110)
    third = upload(url, device, ["red"], 0.3, 120)
    shas = (first, second, third)

    page = browser.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        # A wrong token: the hub answers 401 and the page asks to sign in again.
        shell = page.goto(f"{url}/#token=not-the-token")
        assert shell is not None and "script-src 'self'" in shell.headers["content-security-policy"]
        until(page, "document.getElementById('signin-error').textContent.includes('401')")
        assert page.is_visible("#signin") and not page.is_visible("#tab-devices")
        # The token pasted into the field signs in; sign out forgets it.
        page.fill("#token", admin)
        page.press("#token", "Enter")
        page.wait_for_selector("#devices tbody tr[data-name='cam-1']")
        page.click("#signout")
        assert page.evaluate("sessionStorage.getItem('edgeloop-hub-token')") is None
        # The token from the fragment: kept in sessionStorage, gone from the address bar.
        page.goto(f"{url}/#token={admin}")
        page.wait_for_selector("#devices tbody tr[data-name='cam-1']")
        assert page.evaluate("location.hash") == ""
        assert page.evaluate("sessionStorage.getItem('edgeloop-hub-token')") == admin
        assert page.get_attribute("#devices tbody tr[data-name='cam-2']", "class") == "revoked"
        row = [c.strip() for c in page.locator("#devices tbody tr[data-name='cam-1'] td").all_text_contents()]
        assert row[:2] == ["cam-1", "yard"] and row[2].endswith("s ago")
        assert row[3:8] == ["colour-yolo 3", "ok", "12.5", "7", "5.0 GB"]

        # Gallery: three thumbnails, predictions drawn; the class filter keeps the two with a red box.
        page.click("#tabs button[data-tab=gallery]")
        until(page, "document.querySelectorAll('#gallery .card[data-boxes]').length === 3")
        drawn = page.eval_on_selector_all(
            "#gallery .card", "cs => cs.map(c => c.dataset.sha + c.dataset.boxes)"
        )
        assert drawn == [third + "1", second + "2", first + "3"]
        # The newest (red only) at half size: the box's left edge is stroked in the class's colour.
        assert page.evaluate(EDGE_PIXEL_IS_STROKE, [31, 50, "red"]) is True
        page.fill("#f-class", "red")
        page.click("#filters button[type=submit]")
        until(
            page,
            "document.querySelectorAll('#gallery .card[data-boxes]').length === 2"
            " && document.querySelectorAll('#gallery .card').length === 2",
        )
        shown = page.eval_on_selector_all("#gallery .card", "cs => cs.map(c => c.dataset.sha)")
        assert shown == [third, first]
        # Paging with the hub's cursor: two a page, the older one on the next, and back.
        page.evaluate("gallery.size = 2")
        page.click("#f-clear")
        until(page, cards_are([third, second]))
        page.click("#page-next")
        until(page, cards_are([first]))
        assert page.is_disabled("#page-next") and page.text_content("#gallery-count") == "samples 3\u20133"
        page.click("#page-prev")
        until(page, cards_are([third, second]))
        page.evaluate("gallery.size = 24")

        # Review: the highest score first; delete red, move to blue and make it "red"; accept.
        page.click("#tabs button[data-tab=review]")
        until(page, f"document.getElementById('review-status').dataset.sha === '{first}'")
        assert page.locator("#review-boxes li").all_text_contents()[0].startswith("red")
        keys = {
            page.get_attribute(f"#review-classes [data-key='{i}']", "data-class"): str(i) for i in range(3)
        }
        assert set(keys) == {"red", "green", "blue"}
        page.keyboard.press("x")
        assert box_classes(page) == ["green", "blue"]
        page.keyboard.press("u")  # undo: the device's boxes again
        assert box_classes(page) == ["red", "green", "blue"]
        page.keyboard.press("Delete")
        assert box_classes(page) == ["green", "blue"]
        page.keyboard.press("j")
        page.keyboard.press(keys["red"])
        assert box_classes(page) == ["green", "red"]
        page.keyboard.press("a")
        until(page, f"document.getElementById('review-status').dataset.sha === '{second}'")
        page.keyboard.press("r")
        until(page, f"document.getElementById('review-status').dataset.sha === '{third}'")
        page.keyboard.press("s")
        until(page, "document.getElementById('review-status').textContent.includes('nothing else')")
        assert page.get_attribute("#review-counter", "data-reviewed") == "2"

        # A dataset version from the page: the one accepted sample, listed with its counts.
        page.click("#tabs button[data-tab=datasets]")
        page.fill("#c-name", "yard")
        page.fill("#c-class", "purple")  # no sample: the hub's error is shown where it was asked
        page.click("#create-form button[type=submit]")
        until(page, "document.getElementById('create-result').textContent.startsWith('error: 4')")
        assert "no sample matches" in (page.text_content("#create-result") or "")
        page.fill("#c-class", "")
        page.fill("#c-note", "first review")
        page.click("#create-form button[type=submit]")
        page.wait_for_selector("#datasets tbody tr[data-ref='yard@1']")
        until(page, "document.getElementById('create-result').textContent.startsWith('created yard')")
        cells = page.locator("#datasets tbody tr[data-ref='yard@1'] td").all_text_contents()
        assert cells[0:2] == ["yard", "1"] and cells[8] == "first review"
        assert sum(int(c) for c in cells[3:6]) == 1
        # Back in the gallery the accepted sample shows its labels, not the device's predictions.
        page.click("#tabs button[data-tab=gallery]")
        card = f"#gallery .card[data-sha='{first}'][data-source=labels][data-boxes]"
        page.wait_for_selector(card)  # the page drew it anew (before: data-source=predictions)
        assert page.get_attribute(card, "data-classes") == "green,red"
        assert page.text_content(f"{card} .status") == "labelled"
        assert errors == []
    finally:
        page.close()

    # The hub holds exactly the edited boxes, the rejection, and the skipped sample still pending.
    got = {
        sha: httpx.get(f"{url}/api/v1/samples/{sha}", headers=bearer(admin), timeout=10).json()
        for sha in shas
    }
    assert got[first]["status"] == "labelled"
    green, blue = wire("green", 1.0), wire("blue", 1.0)
    expected = [
        ("green", green["x"], green["y"], green["width"], green["height"]),
        ("red", blue["x"], blue["y"], blue["width"], blue["height"]),
    ]
    assert boxes_of(got[first]["labels"]) == sorted(expected)
    assert got[second]["status"] == "rejected"
    assert got[third]["status"] == "pending"
