"""ragd's own HTTP/1.1 front end on the wire (issue 13 item 14): every protocol
error a client can provoke is ragd's JSON error with X-Request-Id (431, 414, bad
chunk sizes, Content-Length -1, 505, oversized bodies, bad method tokens, bare LF,
header lines without a colon, too many headers, 408 for a request cut by a
deadline, targets that are neither origin-form nor an http(s) absolute-form),
and the framing a client relies on works: keep-alive, pipelining in order,
chunked uploads, Expect: 100-continue, HEAD, HTTP/1.0, absolute-form targets
(their authority is the host the Host check sees) and OPTIONS *."""
import json
import socket
import time

import pytest

from ragdtest import Ragd

HOST = b"Host: 127.0.0.1\r\n"


@pytest.fixture(scope="module")
def wire():
    s = Ragd(env={"RAGD_MAX_BODY_BYTES": "4096", "RAGD_HEADER_TIMEOUT": "2",
                  "RAGD_BODY_TIMEOUT": "2", "RAGD_IDLE_TIMEOUT": "60"}).start()
    yield s
    s.cleanup()


def read_response(sock, buf=b""):
    """One response from sock (buf holds bytes already read): (status, headers,
    body, rest). Content-Length or chunked bodies; HEAD-less use only."""
    while b"\r\n\r\n" not in buf:
        d = sock.recv(65536)
        if not d:
            raise EOFError(buf)
        buf += d
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(b":")
        headers[k.strip().lower().decode()] = v.strip().decode()
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(buf) < n:
            d = sock.recv(65536)
            if not d:
                raise EOFError(buf)
            buf += d
        return status, headers, buf[:n], buf[n:]
    body = b""
    if headers.get("transfer-encoding") == "chunked":
        while True:
            while b"\r\n" not in buf:
                buf += sock.recv(65536)
            line, _, buf = buf.partition(b"\r\n")
            size = int(line, 16)
            while len(buf) < size + 2:
                buf += sock.recv(65536)
            body, buf = body + buf[:size], buf[size + 2:]
            if size == 0:
                return status, headers, body, buf
    return status, headers, body, buf


def exchange(port, data, timeout=5.0):
    """Send data on a fresh connection; the first response and whether the
    server closed the connection after it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        status, headers, body, rest = read_response(s)
        closed = False
        try:
            closed = rest == b"" and s.recv(1) == b""
        except OSError:
            closed = True
    return status, headers, body, closed


def assert_json_error(resp, status, code):
    st, headers, body, closed = resp
    assert st == status, (st, body)
    err = json.loads(body)["error"]
    assert err["code"] == code, err
    assert err["message"]
    assert err["request_id"] == headers["x-request-id"]
    assert headers["content-type"] == "application/json"
    return closed


@pytest.mark.parametrize("request_bytes,status,code", [
    (b"GET /health HTTP/1.1\r\n" + HOST + b"X-Big: " + b"a" * 20000 + b"\r\n\r\n",
     431, "header_too_large"),
    (b"GET /health HTTP/1.1\r\n" + HOST + b"".join(b"X-%d: v\r\n" % i for i in range(200)) +
     b"\r\n", 431, "header_too_large"),
    (b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n" + HOST + b"\r\n", 414, "uri_too_long"),
    (b"GET /health HTTP/2.0\r\n" + HOST + b"\r\n", 505, "http_version_not_supported"),
    (b"GET /health HTTP/1.7\r\n" + HOST + b"\r\n", 505, "http_version_not_supported"),
    (b"PUT /api/v1/cache/w/k HTTP/1.1\r\n" + HOST + b"Content-Length: -1\r\n\r\n",
     400, "invalid_framing"),
    (b"PUT /api/v1/cache/w/k HTTP/1.1\r\n" + HOST + b"Content-Length: 1e3\r\n\r\n",
     400, "invalid_framing"),
    (b"PUT /api/v1/cache/w/k HTTP/1.1\r\n" + HOST +
     b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400, "invalid_framing"),
    (b"PUT /api/v1/cache/w/k HTTP/1.1\r\n" + HOST +
     b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", 400, "invalid_framing"),
    (b"G@T /health HTTP/1.1\r\n" + HOST + b"\r\n", 400, "bad_request"),
    (b"GET /health HTTP/1.1\n" + HOST + b"\r\n", 400, "bad_request"),
    (b"GET /health HTTP/1.1\r\n" + HOST + b"NoColonHere\r\n\r\n", 400, "bad_request"),
    (b"GET /health HTTP/1.1\r\n" + HOST + b"X-A: 1\r\n folded\r\n\r\n", 400, "bad_request"),
    (b"GET ftp://127.0.0.1/health HTTP/1.1\r\n" + HOST + b"\r\n", 400, "bad_request"),
    (b"GET http://user@127.0.0.1/health HTTP/1.1\r\n" + HOST + b"\r\n", 400, "bad_request"),
    (b"GET http:///health HTTP/1.1\r\n" + HOST + b"\r\n", 400, "bad_request"),
    (b"GET http://127.0.0.1/health#x HTTP/1.1\r\n" + HOST + b"\r\n", 400, "bad_request"),
    (b"GET * HTTP/1.1\r\n" + HOST + b"\r\n", 400, "bad_request"),
    (b"GET /health HTTP/1.1\r\n\r\n", 400, "bad_request"),
    (b"\x00\x01GARBAGE\r\n\r\n", 400, "bad_request"),
])
def test_protocol_errors_are_json(wire, request_bytes, status, code):
    closed = assert_json_error(exchange(wire.port, request_bytes), status, code)
    assert closed  # the stream cannot be trusted past a refused head
    assert wire.get("/health").status_code == 200


def test_absolute_form_targets_use_their_authority_as_host(wire):
    """RFC 9112 §3.2.2: the absolute-form is accepted and its authority, not the
    Host field, is the request's host, so the DNS-rebinding check sees it."""
    url = b"http://127.0.0.1:%d" % wire.port
    st, headers, body, _ = exchange(wire.port, b"GET " + url + b"/health?x=1 HTTP/1.1\r\n"
                                    b"Host: rebound.example\r\nConnection: close\r\n\r\n")
    assert st == 200, body
    # refused exactly as the same name in Host is
    closed = assert_json_error(exchange(wire.port, b"GET http://rebound.example/health HTTP/1.1"
                                        b"\r\n" + HOST + b"\r\n"), 403, "host_not_allowed")
    assert closed == assert_json_error(exchange(wire.port, b"GET /health HTTP/1.1\r\n"
                                                b"Host: rebound.example\r\n\r\n"),
                                       403, "host_not_allowed")
    st, _, body, _ = exchange(wire.port, b"GET HTTPS://localhost/health HTTP/1.1\r\n"
                              b"Host: rebound.example\r\nConnection: close\r\n\r\n")
    assert st == 200, body


def test_options_asterisk_lists_the_servers_methods(wire):
    st, headers, body, _ = exchange(wire.port, b"OPTIONS * HTTP/1.1\r\n" + HOST +
                                    b"Connection: close\r\n\r\n")
    assert st == 200 and body == b""
    allow = [m.strip() for m in headers["allow"].split(",")]
    assert {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"} <= set(allow), allow


def test_oversized_bodies_are_413_json(wire):
    # declared over the limit (drained: the connection stays usable)
    body = b"x" * 5000
    with socket.create_connection(("127.0.0.1", wire.port), timeout=5) as s:
        s.sendall(b"PUT /api/v1/cache/w/big HTTP/1.1\r\n" + HOST +
                  b"Content-Length: %d\r\n\r\n" % len(body) + body +
                  b"GET /health HTTP/1.1\r\n" + HOST + b"\r\n")
        st, h, b, rest = read_response(s)
        assert_json_error((st, h, b, False), 413, "payload_too_large")
        st, h, b, rest = read_response(s, rest)
        assert st == 200 and "status" in json.loads(b)
    # far over it: answered at once, then closed
    closed = assert_json_error(exchange(wire.port, b"PUT /api/v1/cache/w/big HTTP/1.1\r\n" +
                                        HOST + b"Content-Length: 99999999\r\n\r\n"),
                               413, "payload_too_large")
    assert closed
    # chunked past the limit
    chunk = b"%x\r\n" % 3000 + b"y" * 3000 + b"\r\n"
    closed = assert_json_error(exchange(wire.port, b"PUT /api/v1/cache/w/big HTTP/1.1\r\n" +
                                        HOST + b"Transfer-Encoding: chunked\r\n\r\n" +
                                        chunk + chunk + b"0\r\n\r\n"),
                               413, "payload_too_large")
    assert closed
    assert wire.get("/api/v1/cache/w/big").status_code == 404


def test_keep_alive_and_pipelined_requests_answer_in_order(wire):
    reqs = b""
    for i in range(5):
        reqs += (b"PUT /api/v1/cache/pipe/k%d HTTP/1.1\r\n" % i + HOST +
                 b"Content-Length: 1\r\n\r\n%d" % i)
    for i in range(5):
        reqs += b"GET /api/v1/cache/pipe/k%d HTTP/1.1\r\n" % i + HOST + b"X-Request-Id: r%d\r\n\r\n" % i
    with socket.create_connection(("127.0.0.1", wire.port), timeout=5) as s:
        s.sendall(reqs)
        rest = b""
        for i in range(5):
            st, h, b, rest = read_response(s, rest)
            assert st == 200, b
        for i in range(5):
            st, h, b, rest = read_response(s, rest)
            assert st == 200 and h["x-request-id"] == "r%d" % i
            assert b == b"%d" % i
        # the same connection keeps serving afterwards
        s.sendall(b"GET /health HTTP/1.1\r\n" + HOST + b"\r\n")
        st, h, b, rest = read_response(s, rest)
        assert st == 200 and "connection" not in h


def test_chunked_upload_and_expect_continue(wire):
    with socket.create_connection(("127.0.0.1", wire.port), timeout=5) as s:
        s.sendall(b"PUT /api/v1/cache/ch/k HTTP/1.1\r\n" + HOST +
                  b"Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
        interim = s.recv(1024)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        rest = interim[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
        s.sendall(b"4;ext=1\r\n\"abc\r\n2\r\nd\"\r\n0\r\nX-Trailer: t\r\n\r\n")
        st, h, b, rest = read_response(s, rest)
        assert st == 200, b
    r = wire.get("/api/v1/cache/ch/k")
    assert r.status_code == 200 and r.text == '"abcd"'


def test_head_and_http10(wire):
    with socket.create_connection(("127.0.0.1", wire.port), timeout=5) as s:
        s.sendall(b"HEAD /health HTTP/1.1\r\n" + HOST + b"\r\n")
        time.sleep(0.3)
        data = s.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        assert b" 200 " in head.split(b"\r\n")[0] and body == b""
    # HTTP/1.0 closes unless asked to keep the connection alive
    st, h, b, closed = exchange(wire.port, b"GET /health HTTP/1.0\r\n\r\n")
    assert st == 200 and closed
    with socket.create_connection(("127.0.0.1", wire.port), timeout=5) as s:
        ka = b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        s.sendall(ka + ka)
        st, h, b, rest = read_response(s)
        assert st == 200 and h["connection"].lower() == "keep-alive"
        st, h, b, rest = read_response(s, rest)
        assert st == 200


def test_a_request_cut_by_a_deadline_is_408(wire):
    with socket.create_connection(("127.0.0.1", wire.port), timeout=10) as s:
        s.sendall(b"PUT /api/v1/cache/w/slow HTTP/1.1\r\n" + HOST + b"Content-Length: 10\r\n\r\nab")
        st, h, b, rest = read_response(s)
        assert_json_error((st, h, b, True), 408, "request_timeout")
        assert s.recv(10) == b""
