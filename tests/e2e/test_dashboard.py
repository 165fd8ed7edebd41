"""The dashboard (GET /) in a real headless Chromium: the page loads, fetches its
data, every panel shows numbers, no console errors; with auth on, the page is
served without a key, asks for one once, keeps it in sessionStorage (never a URL
or cookie) and shows what that key may see. Screenshots go to the test's tmp dir."""
import re

import pytest
import requests

from browser import CHROMIUM, Browser
from ragdtest import Ragd

ADMIN = "admin-secret-0123456789"
NUMBER = re.compile(r"^\$?-?[0-9][0-9.]*([kMG%x]| ms| s| MiB| KiB| B)?$")

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                "(scripts/setup.sh installs it)")


@pytest.fixture
def browser():
    b = Browser()
    yield b
    b.close()


def tile(b, key):
    sel = f'[data-k="{key}"] b, b[data-k="{key}"]'
    return b.eval(f"(document.querySelector('{sel}') || {{}}).textContent || null")


def make_traffic(s, headers=None):
    s_put = lambda p, d: requests.put(s.url + p, data=d, headers=headers, timeout=30)
    s_put("/api/v1/cache/lesson/a", "x")
    for _ in range(10):
        requests.get(s.url + "/api/v1/cache/lesson/a", headers=headers, timeout=30)
    requests.post(s.url + "/api/v1/namespaces", json={"name": "fit"}, headers=headers, timeout=30)


def test_panels_show_numbers_without_console_errors(ragd_lmdb, browser, tmp_path):
    make_traffic(ragd_lmdb)
    browser.goto(ragd_lmdb.url + "/")
    browser.wait_for("document.body.dataset.ready === '1'")
    # requests are counted when their connection completes: wait until the page has them
    browser.wait_for("document.querySelector('#traffic table').textContent"
                     ".includes('/api/v1/cache/{prefix}/{key*}')")
    for key in ("rps", "p99", "requests", "hits", "misses", "keys", "store-keys", "compression",
                "tokens-saved", "money-saved", "upstream-calls", "upstream-errors", "sf-joins",
                "namespaces", "documents", "chunks", "jobs"):
        v = tile(browser, key)
        assert v is not None and NUMBER.match(v), (key, v)
    assert tile(browser, "keys") == "1" and tile(browser, "hits") == "10"
    assert tile(browser, "namespaces") == "1"
    assert tile(browser, "rating") == "insufficient data"  # 10 lookups: no rating yet
    assert tile(browser, "store-status") == "ok"
    # the chart needs history samples (taken every few seconds): the page polls until it has them
    browser.wait_for("document.querySelectorAll('#rps-chart polyline').length >= 1")
    browser.screenshot(tmp_path / "dashboard.png")
    assert browser.errors() == []


def test_with_auth_the_page_asks_for_a_key_once(browser, tmp_path):
    s = Ragd(env={"RAGD_ADMIN_KEY": ADMIN}).start()
    try:
        page = requests.get(s.url + "/", timeout=30)
        assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
        assert requests.post(s.url + "/", json={"inputs": "x"}, timeout=30).status_code == 401
        make_traffic(s, {"X-API-Key": ADMIN})
        browser.goto(s.url + "/")
        browser.wait_for("getComputedStyle(document.getElementById('keybox')).display === 'flex'")
        browser.screenshot(tmp_path / "key-prompt.png")
        browser.eval(f"document.getElementById('keyin').value = 'wrong-key-0000000000';"
                     "document.getElementById('keyform').requestSubmit()")
        browser.wait_for("document.getElementById('keyerr').textContent.includes('not accepted')")
        browser.eval(f"document.getElementById('keyin').value = '{ADMIN}';"
                     "document.getElementById('keyform').requestSubmit()")
        browser.wait_for("document.body.dataset.ready === '1'")
        browser.wait_for("getComputedStyle(document.getElementById('keybox')).display === 'none'")
        assert browser.eval("sessionStorage.getItem('ragd_key')") == ADMIN
        assert browser.eval("document.cookie") == ""
        assert ADMIN not in browser.eval("location.href")
        assert tile(browser, "namespaces") == "1" and NUMBER.match(tile(browser, "rps"))
        browser.screenshot(tmp_path / "dashboard-admin.png")
        # a key bound to one user sees its own entries and the server's health only
        r = requests.post(s.url + "/api/v1/keys", headers={"X-API-Key": ADMIN},
                          json={"scopes": ["read"], "user_id": "alice"}, timeout=30)
        user_key = r.json()["key"]
        browser.eval(f"sessionStorage.setItem('ragd_key', '{user_key}'); location.reload()")
        browser.wait_for("document.body.dataset.ready === '1'")
        browser.wait_for("(document.querySelector('#traffic [data-k=\"hidden\"]') || {}).textContent"
                         "?.includes('health only')")
        assert tile(browser, "keys") == "0"  # alice has no entries
        browser.screenshot(tmp_path / "dashboard-user.png")
        assert browser.errors(allow_network=("401",)) == []
    finally:
        s.cleanup()
