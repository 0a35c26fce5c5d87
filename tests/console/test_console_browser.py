"""The console in a real browser (Playwright driving Debian's Chromium, /usr/bin/chromium):
sign in, see the queued post with its evidence highlighted at the right characters (an emoji and
a combining accent come before the span), decide, see the audit entry, appeal, decide again as
another reviewer. Screenshots go to tests/artifacts/console/ (git-ignored); with
GAVEL_UPDATE_SCREENSHOT=1 the item view is also written to docs/console-item.png."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from gavel.api.app import create_app
from gavel.runtime import Runtime
from tests.conftest import ROOT, require_services

CHROMIUM = os.environ.get("GAVEL_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts" / "console"
PREFIX = "Cafe\u0301 👋🏽 — honestly, you "  # a combining accent and an emoji (a surrogate pair + modifier) first
POST = PREFIX + "idiot, read the thread."


def _missing(why: str) -> None:
    if require_services():
        pytest.fail(f"GAVEL_REQUIRE_SERVICES=1 but {why}")
    pytest.skip(why)


@pytest.fixture
def server(demo_runtime: Runtime, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    settings = demo_runtime.settings.model_copy(update={"store_url": f"sqlite:///{tmp_path / 'console.db'}"})
    app = create_app(settings, demo_runtime)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # log_config=None and no log_level: the server leaves the process's logging as the other tests expect it
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    review = app.state.runtime.stages.review
    keys = {name: review.keys.create(name, "reviewer")[1] for name in ("alice", "bob")}
    try:
        yield f"http://127.0.0.1:{port}", keys
    finally:
        srv.should_exit = True
        thread.join(10)


def test_review_in_the_browser(server: tuple[str, dict[str, str]]) -> None:
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).exists():
        _missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    base, keys = server
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    r = httpx.post(f"{base}/evaluate", json={"id": "post-1", "text": POST, "context": {"author_id": "mallory"}})
    assert r.status_code == 200 and r.json()["decision"]["action"] == "review"
    deadline = time.monotonic() + 10  # the recorder writes in the background: poll for the queue item
    while not httpx.get(f"{base}/review/items", headers={"X-API-Key": keys["alice"]}).json()["items"]:
        assert time.monotonic() < deadline, "the post never reached the queue"
        time.sleep(0.05)
    start = len(PREFIX.encode("utf-16-le")) // 2
    assert start != len(PREFIX)  # the UTF-16 offset differs from the code-point one: the test can tell

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1366, "height": 820})
        page.on("dialog", lambda d: d.accept("the author says it was a joke"))

        def sign_in(who: str) -> None:
            # forget the last key on a page of the same origin that runs no script: on the console
            # itself, a sign-in still in flight could store the old key again after the clear
            page.goto(f"{base}/console/assets/console.css")
            page.evaluate("sessionStorage.clear()")
            page.goto(f"{base}/console")
            page.fill("#key", keys[who])
            page.keyboard.press("Enter")
            expect(page.locator("#who")).to_have_text(f"{who} · reviewer")

        sign_in("alice")
        expect(page.locator("#queue-table tbody tr")).to_have_count(1)
        expect(page.locator("#queue-table tbody tr").first).to_contain_text("post-1")
        page.screenshot(path=str(ARTIFACTS / "1-queue.png"))
        page.keyboard.press("Enter")  # opens the selected row

        mark = page.locator("#post-text mark")
        expect(mark).to_have_count(1)
        expect(mark).to_have_text("idiot")
        assert mark.get_attribute("data-start") == str(start) and mark.get_attribute("data-end") == str(start + 5)
        before = page.evaluate(f"document.querySelector('#post-text').textContent.slice(0, {start})")
        assert before == PREFIX  # the highlighted characters are exactly the span, nothing shifted

        page.keyboard.press("c")  # claim
        expect(page.locator("#decide")).to_be_visible()
        page.keyboard.press("u")  # uphold Gavel
        page.fill("#note", "insult aimed at another user")
        page.screenshot(path=str(ARTIFACTS / "2-item-claimed.png"), full_page=True)
        if os.environ.get("GAVEL_UPDATE_SCREENSHOT") == "1":
            shutil.copy(ARTIFACTS / "2-item-claimed.png", ROOT / "docs" / "console-item.png")
        page.keyboard.press("Control+Enter")
        audit = page.locator("#audit-log li").first
        expect(audit).to_contain_text("alice")
        expect(audit).to_contain_text("decided")
        expect(audit).to_contain_text("remove")
        page.screenshot(path=str(ARTIFACTS / "3-decided.png"), full_page=True)

        page.click("#appeal")  # the dialog handler gives the appeal's note
        expect(page.locator("#audit-log li").first).to_contain_text("appealed")
        expect(page.locator("#claim")).to_be_visible()
        page.click("#claim")  # alice decided it: she may not take the appeal
        expect(page.locator("#status")).to_contain_text("other than alice")

        sign_in("bob")
        page.keyboard.press("n")  # next item: the appealed one
        expect(page.locator("#decide")).to_be_visible()
        page.keyboard.press("o")  # overturn: not an insult
        page.keyboard.press("Control+Enter")
        expect(page.locator("#audit-log li").first).to_contain_text("bob")
        expect(page.locator("#audit-log li").first).to_contain_text("allow")
        page.screenshot(path=str(ARTIFACTS / "4-appeal-decided.png"), full_page=True)
        browser.close()

    item = httpx.get(f"{base}/review/items/1", headers={"X-API-Key": keys["alice"]}).json()
    assert [(d["reviewer"], d["final_action"], d["round"]) for d in item["decisions"]] == [
        ("alice", "remove", 1),
        ("bob", "allow", 2),
    ]
    overturned = [c["clause_id"] for c in item["decisions"][1]["clauses"] if c["judgement"] == "overturn"]
    assert overturned == ["insults"]
