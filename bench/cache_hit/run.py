#!/usr/bin/env python3
"""bench/cache_hit: cache-hit GET throughput and latency over HTTP.

One run, same machine: ragd on the embedded store (LMDB) and on Redis, driven
by wrk (keep-alive, 64 connections), beside redis-benchmark -t get against the
same redis-server. Two load shapes: saturation (as fast as possible) and paced
(~20k req/s offered, where the goal p99 < 1 ms applies). Prints one table with
ratios. Usage: bench/cache_hit/run.py [--duration 10] [--connections 64]

--dashboard instead measures what the dashboard costs: ragd on LMDB, saturated
by wrk with the dashboard open in headless Chromium (polling every 2 s), with
only its HTTP polls (a thread fetching what the page fetches, no browser: the
server's share of the cost) and with neither, alternating --rounds times; it
prints each mean, the differences and the CPU the browser itself used (on a
small machine the browser competes with the server for cores).
"""
import argparse
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RAGD = os.environ.get("RAGD_BIN", os.path.join(ROOT, "build", "ragd"))
HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:
            time.sleep(0.05)
    raise RuntimeError("no answer from " + url)


def to_ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    x = float(m.group(1))
    return {"us": x / 1000, "ms": x, "s": x * 1000}[m.group(2)]


def run_wrk(url, conns, duration, pace_ms=None):
    cmd = ["wrk", "-t2", f"-c{conns}", f"-d{duration}s", "--latency", url]
    env = dict(os.environ)
    if pace_ms is not None:
        cmd[1:1] = ["-s", os.path.join(HERE, "pace.lua")]
        env["PACE_MS"] = str(pace_ms)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": to_ms(lat["50"]), "p99": to_ms(lat["99"]),
            "errors": int(errors.group(1)) if errors else 0}


def run_redis_benchmark(port, conns, requests_n):
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-t", "get", "-c", str(conns),
                          "-n", str(requests_n), "--csv"], capture_output=True, text=True,
                         check=True).stdout
    rows = [l.replace('"', "").split(",") for l in out.strip().splitlines()]
    hdr, val = rows[0], rows[-1]
    d = dict(zip(hdr, val))
    return {"rps": float(d["rps"]), "p50": float(d["p50_latency_ms"]),
            "p99": float(d["p99_latency_ms"]), "errors": 0}


def start_ragd(port, data_dir, env_extra):
    env = dict(os.environ, RAGD_LOG_LEVEL="error", **env_extra)
    p = subprocess.Popen([RAGD, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/health")
    return p


def prime(port):
    body = b'{"answer": "Squats train the quadriceps, glutes and adductors."}'
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/cache/bench/hot-key",
                                 data=body, method="PUT",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()


def metric(port, name, route):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    return sum(float(v) for v in re.findall(
        r"^" + name + r"\{[^}]*route=\"" + re.escape(route) + r"\"[^}]*\} (\S+)$", text, re.M))


def open_dashboard(port, profile):
    """Headless Chromium on the dashboard: the page polls while it is open."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        sys.exit("chromium is missing: apt-get install chromium")
    return subprocess.Popen([chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                             "--no-first-run", "--remote-debugging-port=0",
                             f"--user-data-dir={profile}", f"http://127.0.0.1:{port}/"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def poll_like_the_page(port, stop):
    """What the open page fetches: /health and the history every 2 s, the cache
    figures, namespaces and jobs every 10 s."""
    base = f"http://127.0.0.1:{port}"
    n = 0
    while not stop.wait(2.0):
        paths = ["/health", "/api/v1/stats/history?resolution=second"]
        if n % 5 == 0:
            paths += ["/api/v1/cache/stats", "/api/v1/namespaces", "/api/v1/jobs?limit=100"]
        for path in paths:
            urllib.request.urlopen(base + path).read()
        n += 1


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def dashboard_run(a, port, url, mode, profile):
    """One saturation run in mode closed|polls|open; returns (req/s, browser cpu s)."""
    browser, stop, poller, cpu = None, threading.Event(), None, 0.0
    if mode == "open":
        browser = open_dashboard(port, profile)
        time.sleep(3)  # the page loaded and polling
    elif mode == "polls":
        poller = threading.Thread(target=poll_like_the_page, args=(port, stop))
        poller.start()
    rps = run_wrk(url, a.connections, a.duration)["rps"]
    if browser:
        before = children_cpu()
        browser.terminate()
        browser.wait(30)
        cpu = children_cpu() - before
    if poller:
        stop.set()
        poller.join()
    return rps, cpu


def dashboard_cost(a):
    """Saturation throughput with the dashboard closed, its polls only, and open."""
    tmp = tempfile.mkdtemp(prefix="ragd-bench-")
    port = free_port()
    p = start_ragd(port, os.path.join(tmp, "data"), {})
    modes = ("closed", "polls", "open")
    res, cpu = {m: [] for m in modes}, 0.0
    try:
        prime(port)
        url = f"http://127.0.0.1:{port}/api/v1/cache/bench/hot-key"
        run_wrk(url, a.connections, 2)  # warm-up
        polls0 = metric(port, "ragd_http_requests_total", "/api/v1/stats/history")
        for i in range(a.rounds):
            for m in modes:
                rps, c = dashboard_run(a, port, url, m, os.path.join(tmp, f"chromium{i}"))
                res[m].append(rps)
                cpu += c
        polls = metric(port, "ragd_http_requests_total", "/api/v1/stats/history") - polls0
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)
    mean = {m: sum(v) / len(v) for m, v in res.items()}
    print(f"\ncache hit on LMDB, {a.connections} keep-alive connections, {a.duration}s per run,"
          f" {a.rounds} runs each (alternating), {os.cpu_count()} cores")
    print(f"{'dashboard':34} {'mean req/s':>11} {'vs closed':>10}  runs")
    label = {"closed": "closed", "polls": "its polls only (no browser)",
             "open": "open in headless Chromium"}
    for m in modes:
        runs = " ".join(f"{r:.0f}" for r in res[m])
        print(f"{label[m]:34} {mean[m]:11.0f} {100 * (mean[m] / mean['closed'] - 1):+9.1f}%  {runs}")
    print(f"history polls served: {polls:.0f}; CPU used by Chromium while open: "
          f"{cpu:.1f} s over {a.rounds * (a.duration + 3)} s. Goal: within 3%.")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--pace-ms", type=int, default=3, help="per-connection pause in the paced run")
    ap.add_argument("--dashboard", action="store_true",
                    help="measure throughput with the dashboard open and closed")
    ap.add_argument("--rounds", type=int, default=3, help="runs per mode with --dashboard")
    a = ap.parse_args()
    if a.dashboard:
        return dashboard_cost(a)
    for tool in ("wrk", "redis-server", "redis-benchmark"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install wrk redis-server")

    tmp = tempfile.mkdtemp(prefix="ragd-bench-")
    rport = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no", "--dir", tmp],
                             stdout=subprocess.DEVNULL)
    procs = [redis]
    rows = []
    try:
        time.sleep(0.3)
        subprocess.run(["redis-cli", "-p", str(rport), "set", "key:__rand_int__", "x" * 64],
                       check=True, capture_output=True)
        for name, env in (("ragd lmdb", {}), ("ragd redis", {"REDIS_URL": f"redis://127.0.0.1:{rport}/1"})):
            port = free_port()
            p = start_ragd(port, os.path.join(tmp, name.replace(" ", "_")), env)
            procs.append(p)
            prime(port)
            url = f"http://127.0.0.1:{port}/api/v1/cache/bench/hot-key"
            run_wrk(url, a.connections, 2)  # warm-up
            sat = run_wrk(url, a.connections, a.duration)
            paced = run_wrk(url, a.connections, a.duration, a.pace_ms)
            rows.append((name, sat, paced))
            p.send_signal(signal.SIGTERM)
            p.wait(30)
            procs.remove(p)
        rb = run_redis_benchmark(rport, a.connections, max(200000, int(rows[0][1]["rps"] * a.duration)))
        rows.append(("redis-server GET (redis-benchmark)", rb, None))
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
            p.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)

    base = rows[-1][1]
    print(f"\ncache hit, {a.connections} keep-alive connections, {a.duration}s per run, {os.cpu_count()} cores")
    print(f"{'target':38} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'rps vs redis':>13} |"
          f" {'paced req/s':>11} {'p50 ms':>8} {'p99 ms':>8}")
    for name, sat, paced in rows:
        ratio = sat["rps"] / base["rps"]
        line = f"{name:38} {sat['rps']:10.0f} {sat['p50']:8.3f} {sat['p99']:8.3f} {ratio:12.2f}x |"
        if paced:
            line += f" {paced['rps']:11.0f} {paced['p50']:8.3f} {paced['p99']:8.3f}"
        print(line)
        if sat.get("errors") or (paced and paced.get("errors")):
            print(f"  !! {name}: non-2xx responses during the run")
    print("goal: p99 < 1 ms at 20k req/s (paced columns)")


if __name__ == "__main__":
    main()
