#!/usr/bin/env python3
"""bench/cluster: cache-hit GET and PUT throughput and latency through ragd on one
Redis and on a 3-master Redis Cluster (6 nodes, scripts/redis-topology.sh), side by
side with redis-benchmark on the same servers (--cluster for the cluster).

One run, same machine: wrk (keep-alive) GETs or PUTs one of --keys keys at random, so
the load spreads over every slot. The goal (issue 12): ragd's throughput on the
cluster within 10% of its throughput on one Redis, per master. The Sentinel failover
figures come from bench/cluster/failover.py when it exists (run after this one).
A third ragd on the cluster with redis_read_replicas=1 runs the GETs again (reads
from the replicas). Usage: bench/cluster/run.py [--duration 10] [--connections 32]
[--keys 1000] [--no-failover]
"""
import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cache_hit"))
from run import RAGD, ROOT, free_port, start_ragd, to_ms  # noqa: E402  (bench/cache_hit)
import re  # noqa: E402


def run_wrk(url, conns, duration, mode, keys):
    env = dict(os.environ, MODE=mode, KEYS=str(keys))
    out = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{duration}s", "--latency", "-s",
                          os.path.join(HERE, "keys.lua"), url], capture_output=True, text=True,
                         env=env, check=True).stdout
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": to_ms(lat["50"]), "p99": to_ms(lat["99"]),
            "errors": int(errors.group(1)) if errors else 0}


def run_redis_benchmark(port, conns, n, cluster):
    cmd = ["redis-benchmark", "-p", str(port), "-t", "get,set", "-c", str(conns), "-n", str(n),
           "-r", "100000", "--csv"] + (["--cluster"] if cluster else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    lines = out.strip().splitlines()
    lines = lines[next(i for i, l in enumerate(lines) if l.startswith('"test"')):]
    rows = [l.replace('"', "").split(",") for l in lines if l.startswith('"')]
    res = {}
    for row in rows[1:]:
        d = dict(zip(rows[0], row))
        res[d["test"]] = {"rps": float(d["rps"]), "p50": float(d["p50_latency_ms"]),
                          "p99": float(d["p99_latency_ms"]), "errors": 0}
    return res


def prime(port, keys):
    body = b'{"value": "Squats train the quadriceps, glutes and adductors."}'
    for k in range(1, keys + 1):
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/cache/bench/k{k}",
                                     data=body, method="PUT",
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req).read()


def cluster_up(tmp):
    while True:
        base = random.randrange(20000, 29000)
        env = dict(os.environ, RAGD_TOPOLOGY_DIR=tmp)
        up = subprocess.run([os.path.join(ROOT, "scripts", "redis-topology.sh"), "cluster", "up",
                             str(base)], env=env, capture_output=True, text=True)
        if up.returncode == 0:
            return base, up.stdout.strip().splitlines()[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--no-failover", action="store_true", help="skip failover.py afterwards")
    a = ap.parse_args()
    for tool in ("wrk", "redis-server", "redis-benchmark"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install wrk redis-server")
    tmp = tempfile.mkdtemp(prefix="ragd-bench-cluster-")
    rport = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no", "--dir", tmp],
                             stdout=subprocess.DEVNULL)
    base, curl = cluster_up(tmp)
    rows = []
    try:
        for name, url, env in (("one Redis", f"redis://127.0.0.1:{rport}", {}),
                               ("3-master cluster", curl, {}),
                               ("cluster, replica reads", curl, {"RAGD_REDIS_READ_REPLICAS": "1"})):
            port = free_port()
            p = start_ragd(port, os.path.join(tmp, name.replace(" ", "_").replace(",", "")),
                           dict(env, REDIS_URL=url))
            try:
                prime(port, a.keys)
                target = f"http://127.0.0.1:{port}"
                run_wrk(target, a.connections, 2, "get", a.keys)  # warm-up
                for mode in (("get",) if env else ("get", "put")):
                    rows.append((f"ragd {mode.upper()} on {name}",
                                 run_wrk(target, a.connections, a.duration, mode, a.keys)))
            finally:
                p.send_signal(signal.SIGTERM)
                p.wait(30)
        n = 200000
        for name, port, cl in (("one Redis", rport, False), ("3-master cluster", base, True)):
            rb = run_redis_benchmark(port, a.connections, n, cl)
            rows.append((f"redis-benchmark GET on {name}", rb["GET"]))
            rows.append((f"redis-benchmark SET on {name}", rb["SET"]))
    finally:
        redis.send_signal(signal.SIGTERM)
        redis.wait(30)
        subprocess.run([os.path.join(ROOT, "scripts", "redis-topology.sh"), "cluster", "down",
                        str(base)], env=dict(os.environ, RAGD_TOPOLOGY_DIR=tmp))
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\nrandom keys of {a.keys}, {a.connections} keep-alive connections, {a.duration}s per "
          f"run, {os.cpu_count()} cores")
    print(f"{'target':40} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
    for name, r in rows:
        print(f"{name:40} {r['rps']:10.0f} {r['p50']:8.3f} {r['p99']:8.3f}")
        if r.get("errors"):
            print(f"  !! {name}: {r['errors']} non-2xx responses during the run")
    by = dict(rows)
    for mode in ("GET", "PUT"):
        one, cl = by[f"ragd {mode} on one Redis"], by[f"ragd {mode} on 3-master cluster"]
        print(f"ragd {mode}: cluster / one Redis = {cl['rps'] / one['rps']:.2f} "
              f"(goal >= 0.90; per master {cl['rps'] / 3 / one['rps']:.2f})")
    rr = by["ragd GET on cluster, replica reads"]
    print(f"ragd GET with replica reads / without = "
          f"{rr['rps'] / by['ragd GET on 3-master cluster']['rps']:.2f}")
    failover = os.path.join(HERE, "failover.py")
    if os.path.exists(failover) and not a.no_failover:
        subprocess.run([sys.executable, failover], check=False)


if __name__ == "__main__":
    main()
