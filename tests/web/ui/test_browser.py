"""The admin pages in Debian's Chromium, on SQLite and PostgreSQL: log in,
find a node by MAC, promote a version and watch its rollout, pause and
resume it, see why a node failed, and find nothing a reader could do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from bootsvc.store.db import Database
from tests.support import rolloutkit
from tests.web.ui.browser import Browser, chromium, served


@pytest.fixture
def base(app: Flask) -> Iterator[str]:
    with served(app) as url:
        yield url


@pytest.fixture
def browser(base: str, tmp_path: Path) -> Iterator[Browser]:
    with chromium(tmp_path / "profile") as driver:
        yield Browser(driver, base)


def test_an_admin_finds_a_node_promotes_and_steers_the_rollout(
    browser: Browser, db: Database, tokens: dict[str, str], fleet: dict[str, str]
) -> None:
    browser.login(tokens["admin"])
    assert "quorate: 3 of 3 up" in browser.text()
    browser.screenshot("fleet")

    browser.click_link("Nodes")
    browser.find("#q").send_keys(fleet["labn1"])
    browser.click_button("Search")
    assert "1 nodes; page 1 of 1" in browser.text()
    browser.screenshot("nodes")
    browser.click_link("labn1")
    assert "follows: hv@stable" in browser.find("#reason").text
    browser.screenshot("node")

    browser.click_link("Images")
    browser.click_link("hv")
    browser.screenshot("image")
    browser.click_button("Promote…")
    assert "Move hv@stable from 1 to 2." in browser.text()
    assert "3 active nodes follow hv@stable." in browser.text()
    browser.screenshot("promote")
    browser.click_button("Promote")
    assert "rollouts started: 1" in browser.text()
    assert browser.find("#rollout-state").text == "running"

    browser.click_button("Pause")
    assert browser.find("#rollout-state").text == "paused"
    browser.click_button("Resume")
    assert browser.find("#rollout-state").text == "running"

    # The canary fails; the page, left open, shows it without a reload.
    rolloutkit.boot(db, fleet["labn0"], "failed")
    browser.wait_for_text("#rollout-state", "halted")
    browser.wait_for_text(".failed-reason", "reported failed on the new version")
    assert "Node labn0 failed" in browser.text()
    browser.screenshot("rollout")

    browser.click_link("Events and audit")
    audit = browser.text()
    for action in ("rollout.pause", "rollout.resume", "channel.promote"):
        assert action in audit
    browser.screenshot("audit")
    browser.click_link("Rollouts")
    browser.screenshot("rollouts")


def test_a_reader_can_look_everywhere_and_act_nowhere(
    browser: Browser, tokens: dict[str, str], fleet: dict[str, str]
) -> None:
    browser.login(tokens["reader"])
    pages = ["/ui/fleet", "/ui/nodes", "/ui/nodes/labn0", "/ui/images/hv", "/ui/audit"]
    for path in pages:
        browser.open(path)
        posting = [f.get_attribute("action") for f in browser.all("form[method=post]")]
        assert posting == [browser.base + "/ui/logout"], (path, posting)
        assert not browser.all("a[href*='promote'], a[href*='rollback'], a[href*='/reset']")
    browser.open("/ui/nodes/labn0")
    assert "Your role (reader) may take no action here." in browser.text()
    browser.open("/ui/nodes/labn0/disable")
    assert "which does not allow 'cmdb'" in browser.text()
