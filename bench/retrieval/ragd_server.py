"""ragd_server.py - helpers shared by bench/retrieval and bench/search: find the
evaluation data, start a release ragd on a loopback port with its own data directory,
load a corpus into a namespace over HTTP, and read JSONL / qrels files."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def find_data(name):
    """bench/data/out/<name> (or $RAGD_BENCH_DATA/<name>, or a sibling checkout's)."""
    cands = [os.environ.get("RAGD_BENCH_DATA", ""), os.path.join(ROOT, "bench", "data", "out")]
    parent = os.path.dirname(ROOT)
    cands += [os.path.join(parent, d, "bench", "data", "out") for d in sorted(os.listdir(parent))]
    for c in cands:
        if c and os.path.exists(os.path.join(c, name, "queries.jsonl")):
            return os.path.join(c, name)
    sys.exit(f"{name} data not found: run bench/data/build.py first (or set RAGD_BENCH_DATA)")


def read_jsonl(p):
    with open(p, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def read_qrels(p):
    q = {}
    with open(p) as f:
        for line in f:
            qid, did, rel = line.rstrip("\n").split("\t")[:3]
            q.setdefault(qid, {})[did] = int(rel)
    return q


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The release binary on a free loopback port."""

    def __init__(self, data_dir, threads=8):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.threads = threads
        self.proc = None
        self.log = os.path.join(data_dir, "..", os.path.basename(data_dir) + ".log")
        self.http = requests.Session()

    def start(self, timeout=900):
        exe = os.path.join(ROOT, "build", "ragd")
        if not os.path.exists(exe):
            subprocess.check_call(["make", "-C", ROOT, "build"])
        os.makedirs(self.data_dir, exist_ok=True)
        env = dict(os.environ, RAGD_LOG_LEVEL="info")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen([exe, "serve", "--listen", f"127.0.0.1:{self.port}",
                                      "--data-dir", self.data_dir, "--threads", str(self.threads)],
                                     env=env, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                sys.exit(f"ragd exited: see {self.log}")
            try:
                if self.http.get(self.url + "/health", timeout=1).status_code == 200:
                    self.startup_s = time.perf_counter() - t0
                    return self
            except requests.RequestException:
                time.sleep(0.05)
        sys.exit("ragd did not start")

    def kb_load_seconds(self):
        """The server's own figure for rebuilding the indexes (last start)."""
        secs = None
        with open(self.log, encoding="utf-8", errors="replace") as f:
            for line in f:
                if "knowledge bases loaded in" in line:
                    secs = float(line.split("loaded in ")[1].split(" s")[0])
        return secs

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(120)
        self.proc = None

    def post(self, path, body, timeout=600):
        r = self.http.post(self.url + path, json=body, timeout=timeout)
        if r.status_code >= 300:
            raise RuntimeError(f"{path}: HTTP {r.status_code}: {r.text[:300]}")
        return r.json()

    def get(self, path):
        r = self.http.get(self.url + path, timeout=60)
        return r

    def load(self, ns, docs, settings=None, batch=256):
        """Create ns and upsert docs unless it already holds exactly them."""
        r = self.get(f"/api/v1/namespaces/{ns}")
        if r.status_code == 200 and r.json()["stats"]["documents"] == len(docs):
            return None
        if r.status_code == 200:
            self.http.delete(self.url + f"/api/v1/namespaces/{ns}", timeout=600)
        self.post("/api/v1/namespaces", {"name": ns, **(settings or {})})
        t0 = time.perf_counter()
        for at in range(0, len(docs), batch):
            self.post(f"/api/v1/namespaces/{ns}/documents",
                      {"documents": [{"id": d["id"], "text": d["text"]} for d in docs[at:at + batch]]})
            done = min(at + batch, len(docs))
            el = time.perf_counter() - t0
            print(f"\r  loading {ns}: {done}/{len(docs)} documents, {done / el:.0f} docs/s", end="",
                  file=sys.stderr, flush=True)
        print(file=sys.stderr)
        return time.perf_counter() - t0
