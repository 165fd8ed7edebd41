"""The HTTP edge against browsers and hostile peers: DNS rebinding, cross-site
requests and the media type of JSON bodies (issue 13 item 10); request framing
(item 14; the HTTP layer's own errors are in test_http_wire.py); slow clients and the connection
reserve (item 11)."""
import json
import socket
import subprocess

import pytest

from ragdtest import RAGD_BIN, Ragd, assert_error

KEY_BODY = json.dumps({"scopes": ["admin"], "service": True})


@pytest.fixture(scope="module")
def edge():
    s = Ragd().start()
    yield s
    s.cleanup()


def no_keys(s):
    """Auth is still off: nobody managed to create a key."""
    return s.get("/api/v1/cache/stats").status_code == 200


def test_a_rebinding_page_cannot_create_an_admin_key(edge):
    # What a page on rebind.evil sends once its name resolves to 127.0.0.1.
    r = edge.post("/api/v1/keys", data=KEY_BODY,
                  headers={"Host": f"rebind.evil:{edge.port}", "Origin": "http://rebind.evil",
                           "Content-Type": "text/plain"})
    assert_error(r, 403, "host_not_allowed")
    assert no_keys(edge)


def test_a_cross_site_form_cannot_change_state(edge):
    own = {"Host": f"127.0.0.1:{edge.port}"}
    for ctype in ("text/plain", "application/json", "application/x-www-form-urlencoded"):
        r = edge.post("/api/v1/keys", data=KEY_BODY,
                      headers={**own, "Origin": "http://evil.example", "Content-Type": ctype})
        assert_error(r, 403, "cross_origin")
    assert_error(edge.delete("/api/v1/cache", headers={**own, "Origin": "null"}), 403,
                 "cross_origin")
    assert no_keys(edge)


def test_json_routes_need_a_json_media_type_from_browsers(edge):
    same = {"Host": f"localhost:{edge.port}", "Origin": f"http://localhost:{edge.port}"}
    for ctype in ("text/plain", "multipart/form-data; boundary=x",
                  "application/x-www-form-urlencoded", None):
        h = dict(same)
        if ctype:
            h["Content-Type"] = ctype
        err = assert_error(edge.post("/api/v1/keys", data=KEY_BODY, headers=h), 415,
                           "unsupported_media_type")
        assert "application/json" in err["message"]
    assert no_keys(edge)
    # the same page with JSON may (same origin); so may +json types
    r = edge.post("/api/v1/cache/clear", data='{"prefix": "x"}',
                  headers={**same, "Content-Type": "application/merge-patch+json; charset=utf-8"})
    assert r.status_code == 200, r.text


def test_non_browser_clients_keep_working(edge):
    # curl -d sends application/x-www-form-urlencoded; scripts often send no type at all
    for h in ({"Content-Type": "application/x-www-form-urlencoded"}, {}):
        r = edge.post("/api/v1/cache/clear", data='{"prefix": "x"}', headers=h)
        assert r.status_code == 200, r.text
    assert_error(edge.post("/api/v1/cache/clear", data='{"prefix": "x"}',
                           headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type")
    # the cache PUT stores any bytes with their type; reads are never refused for Origin
    assert edge.put("/api/v1/cache/p/k", data="hi", headers={"Content-Type": "text/plain"}
                    ).status_code == 200
    g = edge.get("/api/v1/cache/p/k", headers={"Origin": "http://elsewhere.example"})
    assert g.status_code == 200 and g.text == "hi"
    for host in ("127.0.0.1", "[::1]", "localhost", "app.localhost", "LOCALHOST."):
        assert edge.get("/health", headers={"Host": f"{host}:{edge.port}"}).status_code == 200


def test_allowed_hosts_and_origins_are_configurable():
    s = Ragd(env={"RAGD_ALLOWED_HOSTS": "ragd.internal, .corp.example",
                  "RAGD_ALLOWED_ORIGINS": "https://app.example"}).start()
    try:
        for host in ("ragd.internal", "x.corp.example", "corp.example"):
            assert s.get("/health", headers={"Host": host}).status_code == 200
        assert_error(s.get("/health", headers={"Host": "other.example"}), 403, "host_not_allowed")
        r = s.post("/api/v1/cache/clear", json={"prefix": "x"},
                   headers={"Origin": "https://app.example"})
        assert r.status_code == 200, r.text
        assert_error(s.post("/api/v1/cache/clear", json={"prefix": "x"},
                            headers={"Origin": "https://app.example.evil"}), 403, "cross_origin")
    finally:
        s.cleanup()


def test_host_is_not_checked_once_auth_is_on():
    s = Ragd(env={"RAGD_ADMIN_KEY": "admin-key-0123456789abcdef"}).start()
    try:
        r = s.get("/api/v1/cache/stats", headers={"Host": "ragd.example.com",
                                                  "X-API-Key": "admin-key-0123456789abcdef"})
        assert r.status_code == 200, r.text
    finally:
        s.cleanup()


def raw_http(port, data, timeout=5.0):
    """Send bytes on a fresh connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                out += d
        except socket.timeout:
            pass
    return out


def raw_status_and_json(out):
    head, _, body = out.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


@pytest.mark.parametrize("framing", [
    b"Content-Length: 3\r\nContent-Length: 3\r\n",
    b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
    b"Transfer-Encoding: gzip, chunked\r\n",
    b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
])
def test_ambiguous_framing_is_refused(edge, framing):
    body = b"3\r\nabc\r\n0\r\n\r\n" if b"chunked" in framing else b"abc"
    req = (b"PUT /api/v1/cache/smuggle/k HTTP/1.1\r\nHost: 127.0.0.1\r\n" + framing +
           b"Connection: close\r\n\r\n" + body)
    status, err = raw_status_and_json(raw_http(edge.port, req))
    assert status == 400 and err["error"]["code"] == "invalid_framing", err
    assert edge.get("/api/v1/cache/smuggle/k").status_code == 404


def test_a_listen_name_that_only_looks_loopback_is_refused():
    # "127.invalid" starts like a loopback address but resolves to nothing loopback.
    s = Ragd()
    cmd = [RAGD_BIN, "serve", "--listen", "127.invalid:8080", "--data-dir", s.data_dir]
    p = subprocess.run(cmd, env=s.env, capture_output=True, timeout=30)
    assert p.returncode != 0
    assert b"refusing to listen on 127.invalid:8080 without authentication" in p.stderr
    s.cleanup()


def trickle_until_closed(port, head, drip, rounds=40, every=0.5):
    """Send head, then drip every `every` s (never idle long); True once the server
    closes the connection."""
    s = socket.create_connection(("127.0.0.1", port), timeout=every)
    try:
        s.sendall(head)
        for _ in range(rounds):
            try:
                if s.recv(4096) == b"":
                    return True
            except socket.timeout:
                pass
            except OSError:
                return True
            try:
                s.sendall(drip)
            except OSError:
                return True
        return False
    finally:
        s.close()


@pytest.fixture(scope="module")
def strict():
    s = Ragd(env={"RAGD_HEADER_TIMEOUT": "2", "RAGD_BODY_TIMEOUT": "2",
                  "RAGD_IDLE_TIMEOUT": "60"}).start()
    yield s
    s.cleanup()


def test_trickled_headers_meet_a_deadline(strict):
    # one header line every half second: the idle timeout (60 s) never fires
    assert trickle_until_closed(strict.port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                                b"X-Slow: 1\r\n")
    # a slow request line too
    assert trickle_until_closed(strict.port, b"G", b"E")


def test_a_trickled_body_meets_a_deadline(strict):
    head = (b"PUT /api/v1/cache/slow/k HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Length: 100000\r\n\r\n")
    assert trickle_until_closed(strict.port, head, b"x")
    assert strict.get("/api/v1/cache/slow/k").status_code == 404


def test_health_answers_at_the_connection_limit():
    import threading
    s = Ragd(env={"RAGD_MAX_CONNECTIONS": "12", "RAGD_HTTP_THREADS": "2",
                  "RAGD_HEADER_TIMEOUT": "600", "RAGD_IDLE_TIMEOUT": "600"}).start()
    stop = threading.Event()
    socks = []

    def slowloris():
        for _ in range(30):
            try:
                c = socket.create_connection(("127.0.0.1", s.port), timeout=2)
                c.sendall(b"GET /api/v1/cache/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                socks.append(c)
            except OSError:
                pass
        while not stop.is_set():
            for c in list(socks):
                try:
                    c.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    socks.remove(c)
            stop.wait(0.5)

    t = threading.Thread(target=slowloris)
    t.start()
    try:
        import requests
        answered, busy = False, None
        stop.wait(1.0)  # all slots taken (the rest wait in the listen backlog)
        for _ in range(4):
            try:
                answered = requests.get(s.url + "/health", timeout=5).status_code == 200
                busy = requests.get(s.url + "/api/v1/cache/stats", timeout=5)
            except requests.RequestException:
                continue
            if answered:
                break
        assert answered
        assert busy is None or busy.status_code in (200, 503)
        if busy is not None and busy.status_code == 503:
            assert_error(busy, 503, "server_busy")
    finally:
        stop.set()
        t.join()
        for c in socks:
            c.close()
        s.cleanup()
