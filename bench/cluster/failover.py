#!/usr/bin/env python3
"""bench/cluster/failover.py: ragd behind Redis Sentinel, in one run.

1. Failover figures, through ragd, under a steady write load (one client
   PUTting cache entries one after another): for a planned failover
   (SENTINEL FAILOVER) and for kill -9 of the master, each with and without
   redis_wait_replicas: the longest time without an acknowledged write as a
   client sees it, writes that failed, and acknowledged writes missing from
   the new master afterwards. The Sentinel set comes from
   scripts/redis-topology.sh (down-after 2 s, so kill -9 needs about 2 s to
   be noticed, plus the election).
2. Cache-hit GET and PUT throughput and p99 through ragd on a single Redis
   and through the Sentinel URL (wrk, keep-alive), side by side.
3. --ha-tests: also run the e2e scenarios marked ha_slow (pytest -m ha_slow).

Usage: bench/cluster/failover.py [--runs 3] [--duration 5] [--connections 32]
       [--ha-tests] [--json out.json]
"""
import argparse
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

from ha_load import Topology, failover_run  # noqa: E402
from ragdtest import Ragd, Redis  # noqa: E402

# (scenario, redis_wait_replicas): see docs/OPERATIONS.md, "Acknowledged writes and WAIT".
SCENARIOS = [("failover", 0), ("failover", 1), ("kill", 0), ("kill", 1)]


def load_cache_hit():
    path = os.path.join(ROOT, "bench", "cache_hit", "run.py")
    spec = importlib.util.spec_from_file_location("cache_hit_run", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def failover_figures(topo, runs):
    rows = []
    for how, wait in SCENARIOS:
        res = []
        for _ in range(runs):
            s = Ragd(env={"REDIS_URL": topo.url, "RAGD_REDIS_TIMEOUT_MS": "500",
                          "RAGD_REDIS_WAIT_REPLICAS": str(wait)}).start()
            try:
                res.append(failover_run(s, topo, how))
            finally:
                s.cleanup()
                topo.restart()
        rows.append({
            "scenario": how, "wait_replicas": wait, "runs": runs,
            "outage_s_median": round(statistics.median(r.outage_s for r in res), 3),
            "outage_s_max": max(r.outage_s for r in res),
            "acked": sum(r.acked for r in res),
            "failed": sum(r.failed for r in res),
            "lost": sum(len(r.lost) for r in res),
            "lost_per_run": [len(r.lost) for r in res],
            "degraded_seen": sum("degraded" in r.health_seen for r in res),
        })
        print(f"  {how:8} wait={wait}: {rows[-1]}", flush=True)
    return rows


def put_script(tmpdir):
    path = os.path.join(tmpdir, "put.lua")
    with open(path, "w") as f:
        f.write('counter = 0\nrequest = function()\n  counter = counter + 1\n'
                '  return wrk.format("PUT", "/api/v1/cache/bench/k" .. (counter % 10000) '
                '.. "?ttl=600", nil, string.rep("x", 256))\nend\n')
    return path


def wrk(ch, url, conns, duration, script=None):
    if not script:
        return ch.run_wrk(url, conns, duration)
    out = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{duration}s", "--latency", "-s",
                          script, url], capture_output=True, text=True, check=True).stdout
    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": ch.to_ms(lat["50"]), "p99": ch.to_ms(lat["99"]),
            "errors": int(errors.group(1)) if errors else 0}


def throughput(topo, duration, conns):
    ch = load_cache_hit()
    tmp = tempfile.mkdtemp(prefix="ragd-bench-failover-")
    script = put_script(tmp)
    single = Redis().start()
    rows = []
    try:
        for name, url, wait in [("single Redis", single.url(0), 0),
                                ("Sentinel", topo.url, 0),
                                ("Sentinel, WAIT 1", topo.url, 1)]:
            s = Ragd(env={"REDIS_URL": url, "RAGD_LOG_LEVEL": "error",
                          "RAGD_REDIS_WAIT_REPLICAS": str(wait)}).start()
            try:
                s.put("/api/v1/cache/bench/hit?ttl=600", data="x" * 256)
                get = wrk(ch, s.url + "/api/v1/cache/bench/hit", conns, duration)
                put = wrk(ch, s.url, conns, duration, script)
                rows.append({"target": name, "get": get, "put": put})
                print(f"  {name:16} GET {get}  PUT {put}", flush=True)
            finally:
                s.cleanup()
    finally:
        single.cleanup()
    return rows


def table(fo, tp):
    lines = ["| scenario | redis_wait_replicas | runs | longest time without an acked write "
             "(median / max, s) | writes failed | acknowledged writes lost (per run) |",
             "|---|---|---|---|---|---|"]
    for r in fo:
        lines.append(f"| {r['scenario']} | {r['wait_replicas']} | {r['runs']} | "
                     f"{r['outage_s_median']} / {r['outage_s_max']} | {r['failed']} | "
                     f"{r['lost']} ({', '.join(map(str, r['lost_per_run']))}) |")
    lines += ["", "| target | GET req/s | GET p99 ms | PUT req/s | PUT p99 ms |",
              "|---|---|---|---|---|"]
    for r in tp:
        lines.append(f"| {r['target']} | {r['get']['rps']:,.0f} | {r['get']['p99']:.2f} | "
                     f"{r['put']['rps']:,.0f} | {r['put']['p99']:.2f} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--ha-tests", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    topo = Topology(os.getpid() % 1000).up()
    try:
        print("failover figures:", flush=True)
        fo = failover_figures(topo, a.runs)
        print("throughput:", flush=True)
        tp = throughput(topo, a.duration, a.connections)
    finally:
        topo.down()
    print(table(fo, tp))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"failover": fo, "throughput": tp}, f, indent=1)
    if a.ha_tests:
        py = os.path.join(ROOT, ".venv", "bin", "python")
        sys.exit(subprocess.call([py, "-m", "pytest", "-q", "-s", "-m", "ha_slow",
                                  os.path.join(ROOT, "tests", "e2e", "test_redis_sentinel.py")]))


if __name__ == "__main__":
    main()
