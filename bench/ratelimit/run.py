#!/usr/bin/env python3
"""bench/ratelimit: rate-limit decisions per second, with exactness checked in the same run.

Two levels, one run, same machine:
1. store level (bench_rl_bench): T threads call store_ratelimit on one hot limiter, on
   LMDB and on Redis;
2. over HTTP: wrk drives POST /api/v1/ratelimit/check on one hot key against ragd on
   LMDB, ragd on Redis, and two ragd instances sharing one Redis (two wrk at once).
Each run sets a limit well below the number of calls, over a 30-day window, and counts
the decisions that came back allowed: it must equal the limit exactly. Ratios are against
fixed_window on the same set-up. Usage: bench/ratelimit/run.py [--duration 5] [--connections 32]
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, "build")
RAGD = os.environ.get("RAGD_BIN", os.path.join(BUILD, "ragd"))
HERE = os.path.dirname(os.path.abspath(__file__))
ALGOS = ["fixed_window", "sliding_window", "gcra"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:
            time.sleep(0.05)
    raise RuntimeError("no answer from " + url)


class Proc:
    def __init__(self, cmd, env=None):
        self.p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)

    def stop(self):
        self.p.terminate()
        self.p.wait(30)


def start_ragd(tmp, redis_url=None):
    port = free_port()
    env = dict(os.environ, RAGD_LOG_LEVEL="error", RAGD_MODEL_DIR="/nonexistent")
    if redis_url:
        env["REDIS_URL"] = redis_url
    data = tempfile.mkdtemp(dir=tmp)
    p = Proc([RAGD, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data], env)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/health")
    return p, url


def wrk_start(url, algo, key, limit, conns, duration):
    env = dict(os.environ, RL_KEY=key, RL_LIMIT=str(limit), RL_ALGO=algo)
    cmd = ["wrk", "-t2", f"-c{conns}", f"-d{duration}s", "-s",
           os.path.join(HERE, "check.lua"), url + "/api/v1/ratelimit/check"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wrk_result(p):
    out, err = p.communicate()
    if p.returncode:
        raise RuntimeError(err)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"ALLOWED (\d+) DENIED (\d+)", out)
    return rps, int(m.group(1)), int(m.group(1)) + int(m.group(2))


def redis_peer(port, clients):
    """The same redis-server's ceiling: INCR, and an EVAL with the script's shape."""
    res = {}
    for name, cmd in [("INCR", ["incr", "peer:incr"]),
                      ("EVAL TIME+GET+SET", ["EVAL", "local t = redis.call('TIME') "
                       "local s = redis.call('GET', KEYS[1]) "
                       "redis.call('SET', KEYS[1], 'G 1', 'PX', 60000) return {1,2,3,4,5}",
                       "1", "peer:eval"])]:
        out = subprocess.run(["redis-benchmark", "-p", str(port), "-c", str(clients), "-n",
                              "100000", "-q"] + cmd, capture_output=True, text=True).stdout
        m = re.findall(r"([\d.]+) requests per second", out)
        res[name] = float(m[-1]) if m else 0.0
    return res


def http_rows(setups, conns, duration, limit):
    rows = []
    for name, urls in setups:
        base = None
        for algo in ALGOS:
            key = f"bench:{name}:{algo}:{time.time_ns()}"
            procs = [wrk_start(u, algo, key, limit, conns, duration) for u in urls]
            res = [wrk_result(p) for p in procs]
            rps = sum(r[0] for r in res)
            allowed = sum(r[1] for r in res)
            calls = sum(r[2] for r in res)
            base = base or rps
            exact = "yes" if allowed == min(limit, calls) else "NO"
            rows.append(f"| {name:<22} | {algo:<14} | {rps:12.0f} | {rps / base:5.2f}x | "
                        f"{calls:9d} | {allowed:8d} | {limit:6d} | {exact:<5} |")
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--limit", type=int, default=20000)
    ap.add_argument("--threads", type=int, default=8)
    args = ap.parse_args()
    for tool in ("wrk", "redis-server"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed")
    tmp = tempfile.mkdtemp(prefix="ragd-rl-bench-")
    rport = free_port()
    redis = Proc(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
                  "--appendonly", "no", "--dir", tmp])
    time.sleep(0.3)
    redis_url = f"redis://127.0.0.1:{rport}/0"
    procs = []
    try:
        print(f"## store level: {args.threads} threads, one hot limiter, "
              f"limit {args.limit} per 30 days\n")
        out = subprocess.run([os.path.join(BUILD, "rl_bench"), "--threads",
                              str(args.threads), "--seconds", str(args.duration), "--limit",
                              str(args.limit), "--redis", redis_url],
                             capture_output=True, text=True, check=True).stdout
        print(out)
        peer = redis_peer(rport, args.threads)
        print("peer, same redis-server (redis-benchmark -c %d): %s\n" % (args.threads, ", ".join(
            f"{k} {v:.0f}/s" for k, v in peer.items())))
        a, url_lmdb = start_ragd(tmp)
        b, url_r1 = start_ragd(tmp, redis_url)
        c, url_r2 = start_ragd(tmp, redis_url)
        procs = [a, b, c]
        print(f"## over HTTP: POST /api/v1/ratelimit/check, wrk -t2 -c{args.connections} "
              f"per instance, {args.duration} s, limit {args.limit} per 30 days\n")
        print("| set-up                 | algorithm      | decisions/s  | vs fixed | calls     "
              "| allowed  | limit  | exact |")
        print("|------------------------|----------------|--------------|----------|-----------"
              "|----------|--------|-------|")
        setups = [("lmdb, 1 instance", [url_lmdb]), ("redis, 1 instance", [url_r1]),
                  ("redis, 2 instances", [url_r1, url_r2])]
        for row in http_rows(setups, args.connections, args.duration, args.limit):
            print(row)
    finally:
        for p in procs:
            p.stop()
        redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
