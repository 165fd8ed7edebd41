"""A fake OpenAI-compatible upstream for the gateway tests and benchmark.

It counts calls, records each request's headers (`request_headers()`), answers chat and text completions (streamed or not) with text
derived from the request plus a call number (so a test can tell a cached answer
from a fresh one), streams slowly on demand, fails on demand (429/500 with
Retry-After, cut streams) and returns tool calls.

Per-request behaviour comes from markers in the last message/prompt:
  [slow:S]   sleep S seconds between streamed chunks (and before a whole answer)
  [tools]    answer with a tool call instead of text
  [cut]      stream a few chunks, then drop the connection without [DONE]
  [nodone]   stream everything, then end cleanly but without [DONE]
  [status:N] answer status N with an OpenAI-style error body
Failures can also be queued for the next calls: POST /_control
{"fail": [{"status": 500, "retry_after": 1}, ...]}.

POST /v1/embeddings answers deterministic unit vectors (a text always gets the same
one; 1536 dimensions for text-embedding-3-small and -ada-002, 3072 for -3-large, else
the request's "dimensions" or 8) and records how many texts each call carried
(`embedding_batches()`), so tests can count what a cache in front saved; POST /_control
{"embed_delay": S} (or `embed_delay(S)`) makes each embeddings answer wait S seconds, so
concurrent calls overlap.
"""
import hashlib
import math
import struct
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _State:
    def __init__(self):
        self.lock = threading.Lock()
        self.calls = 0
        self.by_path = {}
        self.bodies = []
        self.fail = []
        self.concurrent = 0
        self.max_concurrent = 0
        self.embed_batches = []
        self.embed_delay = 0.0
        self.headers = []

    def next_call(self, path, body, headers=None):
        with self.lock:
            self.headers.append((path, {k.lower(): v for k, v in (headers or {}).items()}))
            self.calls += 1
            self.by_path[path] = self.by_path.get(path, 0) + 1
            self.bodies.append(body)
            fail = self.fail.pop(0) if self.fail else None
            return self.calls, fail


def _last_text(body):
    if "messages" in body:
        msgs = body.get("messages") or []
        for m in reversed(msgs):
            c = m.get("content")
            if isinstance(c, str):
                return c
            if isinstance(c, list):
                return " ".join(p.get("text", "") for p in c if isinstance(p, dict))
        return ""
    p = body.get("prompt", "")
    return p if isinstance(p, str) else json.dumps(p)


def _marker(text, name):
    tag = "[" + name
    i = text.find(tag)
    if i < 0:
        return None
    j = text.find("]", i)
    inner = text[i + len(tag):j]
    return inner[1:] if inner.startswith(":") else ""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls between header and body writes

    def log_message(self, *a):
        pass

    def _send_json(self, status, obj, headers=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        st = self.server.state
        if self.path.endswith("/_stats"):
            with st.lock:
                self._send_json(200, {"calls": st.calls, "by_path": st.by_path,
                                      "max_concurrent": st.max_concurrent})
            return
        if self.path.endswith("/models"):
            with st.lock:
                st.headers.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            self._send_json(200, {"object": "list", "data": [
                {"id": "fake-model", "object": "model", "created": 0, "owned_by": "fake"}]})
            return
        self._send_json(404, {"error": {"message": "not found"}})

    def do_POST(self):
        st = self.server.state
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if self.path.endswith("/_control"):
            ctl = json.loads(raw or b"{}")
            with st.lock:
                if "fail" in ctl:
                    st.fail = list(ctl["fail"])
                if "embed_delay" in ctl:
                    st.embed_delay = float(ctl["embed_delay"])
                if ctl.get("reset"):
                    st.calls, st.by_path, st.bodies, st.fail = 0, {}, [], []
                    st.max_concurrent = 0
                    st.embed_batches = []
                    st.embed_delay = 0.0
                    st.headers = []
            self._send_json(200, {"ok": True})
            return
        body = json.loads(raw or b"{}")
        chat = self.path.endswith("/chat/completions")
        num, fail = st.next_call(self.path, body, self.headers)
        if self.path.endswith("/embeddings"):
            self._embeddings(body, fail)
            return
        with st.lock:
            st.concurrent += 1
            st.max_concurrent = max(st.max_concurrent, st.concurrent)
        try:
            self._answer(body, chat, num, fail)
        finally:
            with st.lock:
                st.concurrent -= 1

    def _answer(self, body, chat, num, fail):
        text = _last_text(body)
        status = _marker(text, "status")
        if fail or status:
            code = int(fail["status"]) if fail else int(status)
            headers = {}
            if fail and fail.get("retry_after") is not None:
                headers["Retry-After"] = str(fail["retry_after"])
            self._send_json(code, {"error": {"message": f"fake failure {code}",
                                             "type": "server_error", "code": code}}, headers)
            return
        slow = float(_marker(text, "slow") or 0)
        tools = _marker(text, "tools") is not None
        answer = f"echo {text} #{num}"
        words = answer.split(" ")
        ptoks = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", [])) \
            if chat else len(text.split())
        usage = {"prompt_tokens": ptoks, "completion_tokens": len(words),
                 "total_tokens": ptoks + len(words)}
        cid = f"chatcmpl-{num}"
        model = body.get("model", "fake-model")
        if body.get("stream"):
            self._stream(body, chat, cid, model, words, tools, slow, usage, text)
            return
        if slow:
            time.sleep(slow)
        if chat:
            msg = {"role": "assistant", "content": answer}
            finish = "stop"
            if tools:
                msg = {"role": "assistant", "content": None, "tool_calls": [
                    {"id": f"call_{num}", "type": "function",
                     "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]}
                finish = "tool_calls"
            out = {"id": cid, "object": "chat.completion", "created": 1700000000, "model": model,
                   "choices": [{"index": 0, "message": msg, "logprobs": None,
                                "finish_reason": finish}], "usage": usage}
        else:
            out = {"id": cid, "object": "text_completion", "created": 1700000000, "model": model,
                   "choices": [{"index": 0, "text": answer, "logprobs": None,
                                "finish_reason": "stop"}], "usage": usage}
        self._send_json(200, out)

    def _embeddings(self, body, fail):
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else list(texts or [])
        with self.server.state.lock:
            self.server.state.embed_batches.append(len(texts))
            delay = self.server.state.embed_delay
        if delay:
            time.sleep(delay)
        if fail:
            headers = {}
            if fail.get("retry_after") is not None:
                headers["Retry-After"] = str(fail["retry_after"])
            self._send_json(int(fail["status"]), {"error": {"message": "fake failure"}}, headers)
            return
        model = body.get("model", "")
        dims = {"text-embedding-3-small": 1536, "text-embedding-ada-002": 1536,
                "text-embedding-3-large": 3072}.get(model, body.get("dimensions", 8))
        data = [{"object": "embedding", "index": i, "embedding": fake_vector(t, dims)}
                for i, t in enumerate(texts)]
        toks = sum(len(t.split()) for t in texts)
        self._send_json(200, {"object": "list", "data": data, "model": model,
                              "usage": {"prompt_tokens": toks, "total_tokens": toks}})

    def _chunk(self, data):
        payload = b"data: " + json.dumps(data).encode() + b"\n\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
        self.wfile.flush()

    def _stream(self, body, chat, cid, model, words, tools, slow, usage, text):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        base = {"id": cid, "object": "chat.completion.chunk" if chat else "text_completion",
                "created": 1700000000, "model": model}
        cut = _marker(text, "cut") is not None
        nodone = _marker(text, "nodone") is not None

        def chunk(choice):
            self._chunk(dict(base, choices=[choice]))

        if chat:
            chunk({"index": 0, "delta": {"role": "assistant", "content": ""},
                   "logprobs": None, "finish_reason": None})
        if tools:
            chunk({"index": 0, "delta": {"tool_calls": [
                {"index": 0, "id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": ""}}]},
                "logprobs": None, "finish_reason": None})
            for part in ["{\"city\"", ": \"Par", "is\"}"]:
                if slow:
                    time.sleep(slow)
                chunk({"index": 0, "delta": {"tool_calls": [
                    {"index": 0, "function": {"arguments": part}}]},
                    "logprobs": None, "finish_reason": None})
            finish = "tool_calls"
        else:
            for i, w in enumerate(words):
                if slow:
                    time.sleep(slow)
                piece = w if i == 0 else " " + w
                if chat:
                    chunk({"index": 0, "delta": {"content": piece}, "logprobs": None,
                           "finish_reason": None})
                else:
                    chunk({"index": 0, "text": piece, "logprobs": None, "finish_reason": None})
                if cut and i == 2:
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
            finish = "stop"
        if chat:
            chunk({"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish})
        else:
            chunk({"index": 0, "text": "", "logprobs": None, "finish_reason": finish})
        so = body.get("stream_options") or {}
        if so.get("include_usage"):
            self._chunk(dict(base, choices=[], usage=usage))
        if not nodone:
            payload = b"data: [DONE]\n\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def fake_vector(text, dims):
    """The unit vector the fake provider gives text (deterministic)."""
    out, seed = [], hashlib.sha256(text.encode()).digest()
    while len(out) < dims:
        seed = hashlib.sha256(seed).digest()
        out += [x / 2**31 - 1.0 for x in struct.unpack("<8I", seed)]
    out = out[:dims]
    norm = math.sqrt(sum(x * x for x in out)) or 1.0
    return [x / norm for x in out]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # hundreds of concurrent connections in the tests


class FakeUpstream:
    """Runs in a background thread on a loopback port; .url is the /v1 base URL."""

    def __init__(self, port=0):
        self.server = _Server(("127.0.0.1", port), _Handler)
        self.server.state = _State()
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    @property
    def state(self):
        return self.server.state

    @property
    def calls(self):
        with self.state.lock:
            return self.state.calls

    def embedding_batches(self):
        """How many texts each /embeddings call carried, in order."""
        with self.state.lock:
            return list(self.state.embed_batches)

    def bodies(self):
        with self.state.lock:
            return list(self.state.bodies)

    def request_headers(self, path_suffix=""):
        """The headers (lower-case names) of every request whose path ends with
        path_suffix, in order."""
        with self.state.lock:
            return [h for p, h in self.state.headers if p.endswith(path_suffix)]

    def embed_delay(self, seconds):
        with self.state.lock:
            self.state.embed_delay = seconds

    def fail_next(self, *fails):
        with self.state.lock:
            self.state.fail = list(fails)

    def reset(self):
        st = self.state
        with st.lock:
            st.calls, st.by_path, st.bodies, st.fail = 0, {}, [], []
            st.max_concurrent = 0
            st.embed_batches = []
            st.embed_delay = 0.0
            st.headers = []


if __name__ == "__main__":
    import sys
    up = FakeUpstream(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(f"fake upstream on {up.server.server_address}", flush=True)
    up.server.serve_forever()
