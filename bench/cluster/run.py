#!/usr/bin/env python3
"""bench/cluster: cache-hit GET and PUT throughput and latency through ragd on one
Redis and on a 3-master Redis Cluster (6 nodes, scripts/redis-topology.sh), side by
side with redis-benchmark on the same servers (--cluster for the cluster).

One run, same machine: wrk (keep-alive) GETs or PUTs one of --keys keys at random, so
the load spreads over every slot. The goal (issue 12): ragd's throughput on the
cluster within 10% of its throughput on one Redis, per master. The Sentinel failover
figures come from bench/cluster/failover.py when it exists (run after this one).
A third ragd on the cluster with redis_read_replicas=1 runs the GETs again (reads
from the replicas).

Every cluster master has a replica, and on one machine the replicas' work (each
write applied twice, the master feeding the replication stream) takes the same
cores as ragd and wrk: PUTs also run against "one Redis + replica" (a server with
one replica), the like-for-like single-server figure for a replicated cluster, and
GETs and PUTs against "3 masters, no replicas", the like-for-like cluster for one
Redis (what is left between those two is the routing's cost, and Redis' own).
Each row gives the CPU time per request of ragd (or of the store-level client),
of the Redis masters and of the replicas, read from /proc: on a shared machine
those move far less with the load than requests/s do. build/store_bench then
drives store_set/store_get from --threads threads against the same servers,
without the HTTP path. Usage: bench/cluster/run.py [--duration 10]
[--connections 32] [--keys 1000] [--threads 8] [--no-failover]
"""
import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cache_hit"))
from run import RAGD, ROOT, free_port, start_ragd, to_ms  # noqa: E402  (bench/cache_hit)

STORE_BENCH = os.path.join(os.path.dirname(RAGD), "store_bench")
HZ = os.sysconf("SC_CLK_TCK")


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


def run_store_bench(label, url, op, a):
    out = subprocess.run([STORE_BENCH, "--target", f"{label}={url}", "--ops", op, "--threads",
                          str(a.threads), "--seconds", str(a.duration), "--keys", str(a.keys)],
                         capture_output=True, text=True, check=True).stdout
    cells = [c.strip() for c in out.strip().splitlines()[-1].strip("|").split("|")]
    return {"rps": float(cells[3]), "p50": float(cells[5]) / 1000, "p99": float(cells[6]) / 1000,
            "errors": int(cells[8]), "client_us": float(cells[7])}


def prime(port, keys):
    body = b'{"value": "Squats train the quadriceps, glutes and adductors."}'
    for k in range(1, keys + 1):
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/cache/bench/k{k}",
                                     data=body, method="PUT",
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req).read()


def cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True,
                          text=True).stdout


def servers(ports):
    """(master pids, replica pids) of the redis-servers on ports."""
    m, r = [], []
    for p in ports:
        pid = int(re.search(r"process_id:(\d+)", cli(p, "INFO", "server")).group(1))
        (m if "role:master" in cli(p, "INFO", "replication") else r).append(pid)
    return m, r


def ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def measured(fn, client_pid, masters, replicas):
    """fn()'s result plus CPU microseconds per request of client_pid (None: the
    result brings its own), of the masters and of the replicas, and the load."""
    pids = ([client_pid] if client_pid else []) + masters + replicas
    before = {p: ticks(p) for p in pids}
    load = os.getloadavg()[0]
    r = fn()
    n = max(r["rps"], 1.0) * r["seconds"]
    us = lambda ps: sum(ticks(p) - before[p] for p in ps) / HZ * 1e6 / n  # noqa: E731
    r.update(load=load, masters_us=us(masters), replicas_us=us(replicas))
    if client_pid:
        r["client_us"] = us([client_pid])
    return r


def start_redis(tmp, *extra):
    port = free_port()
    os.makedirs(os.path.join(tmp, str(port)))
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--dir", os.path.join(tmp, str(port)),
                          "--repl-diskless-sync-delay", "0", *extra], stdout=subprocess.DEVNULL)
    for _ in range(200):
        if cli(port, "PING").strip() == "PONG":
            return p, port
        time.sleep(0.05)
    sys.exit("redis-server did not start")


def topology(tmp, action, base, replicas):
    env = dict(os.environ, RAGD_TOPOLOGY_DIR=tmp, RAGD_TOPOLOGY_CLUSTER_REPLICAS=str(replicas))
    return subprocess.run([os.path.join(ROOT, "scripts", "redis-topology.sh"), "cluster", action,
                           str(base)], env=env, capture_output=True, text=True)


def cluster_up(tmp, replicas, avoid=()):
    """A cluster on ports base..base+5 (3 with no replicas) clear of the bases in avoid."""
    while True:
        base = random.randrange(11000, 22700)  # bus ports (+10000) below the ephemeral range
        if any(abs(base - b) < 8 for b in avoid):
            continue
        up = topology(tmp, "up", base, replicas)
        if up.returncode == 0:
            return base, up.stdout.strip().splitlines()[-1]
        topology(tmp, "down", base, replicas)  # a port was taken: stop what did start


def ragd_rows(tmp, targets, a):
    rows = []
    for name, url, ports, env, modes in targets:
        port = free_port()
        p = start_ragd(port, os.path.join(tmp, re.sub(r"\W+", "_", name)),
                       dict(env, REDIS_URL=url))
        try:
            prime(port, a.keys)
            target = f"http://127.0.0.1:{port}"
            run_wrk(target, a.connections, 2, "get", a.keys)  # warm-up
            m, r = servers(ports)
            for mode in modes:
                res = measured(lambda: dict(run_wrk(target, a.connections, a.duration, mode,
                                                    a.keys), seconds=a.duration), p.pid, m, r)
                rows.append((f"ragd {mode.upper()} on {name}", res))
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(30)
    return rows


def store_rows(targets, a):
    rows = []
    for name, url, ports, _env, _modes in targets:
        m, r = servers(ports)
        for op in ("set", "get"):
            res = measured(lambda: dict(run_store_bench(name, url, op, a), seconds=a.duration),
                           None, m, r)
            rows.append((f"store {op.upper()} on {name}", res))
    return rows


def report(rows, a):
    print(f"\nrandom keys of {a.keys}, {a.connections} keep-alive connections (store_bench: "
          f"{a.threads} threads), {a.duration}s per run, {os.cpu_count()} cores; cpu = "
          f"microseconds of CPU per request: ragd or the store-level client / Redis masters / "
          f"replicas")
    print(f"{'target':42} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'cpu us/req':>18} {'load':>5}")
    for name, r in rows:
        cpu = (f"{r['client_us']:5.1f}/{r['masters_us']:5.1f}/{r['replicas_us']:5.1f}"
               if "masters_us" in r else "")
        load = f"{r['load']:5.1f}" if "load" in r else ""
        print(f"{name:42} {r['rps']:9.0f} {r['p50']:7.3f} {r['p99']:7.3f} {cpu:>18} {load:>5}")
        if r.get("errors"):
            print(f"  !! {name}: {r['errors']} errors or non-2xx responses during the run")
    by = dict(rows)
    pairs = (("3-master cluster", "one Redis"), ("3-master cluster", "one Redis + replica"),
             ("3 masters, no replicas", "one Redis"))
    for kind, ops in (("ragd", ("GET", "PUT")), ("store", ("GET", "SET"))):
        for op in ops:
            for cl_name, one_name in pairs:
                cl, one = by.get(f"{kind} {op} on {cl_name}"), by.get(f"{kind} {op} on {one_name}")
                if cl and one:
                    print(f"{kind} {op}: {cl_name} / {one_name} = {cl['rps'] / one['rps']:.2f} "
                          f"(goal >= 0.90; per master {cl['rps'] / 3 / one['rps']:.2f})")
    rr = by["ragd GET on cluster, replica reads"]
    print(f"ragd GET with replica reads / without = "
          f"{rr['rps'] / by['ragd GET on 3-master cluster']['rps']:.2f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=8, help="store_bench threads")
    ap.add_argument("--no-failover", action="store_true", help="skip failover.py afterwards")
    a = ap.parse_args()
    for tool in ("wrk", "redis-server", "redis-benchmark"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install wrk redis-server")
    if not os.path.exists(STORE_BENCH):
        sys.exit(f"{STORE_BENCH} is missing: build first (cmake --build build)")
    tmp = tempfile.mkdtemp(prefix="ragd-bench-cluster-")
    procs = []
    bases = []
    try:
        one, rport = start_redis(tmp)
        procs.append(one)
        prim, pport = start_redis(tmp)
        procs.append(prim)
        rep, repport = start_redis(tmp, "--replicaof", "127.0.0.1", str(pport))
        procs.append(rep)
        base, curl = cluster_up(tmp, 1)
        bases.append((base, 1))
        cports = list(range(base, base + 6))
        base0, curl0 = cluster_up(tmp, 0, (base,))
        bases.append((base0, 0))
        for _ in range(200):
            if "master_link_status:up" in cli(repport, "INFO", "replication"):
                break
            time.sleep(0.1)
        targets = [("one Redis", f"redis://127.0.0.1:{rport}", [rport], {}, ("get", "put")),
                   ("one Redis + replica", f"redis://127.0.0.1:{pport}", [pport, repport], {},
                    ("put",)),
                   ("3 masters, no replicas", curl0, list(range(base0, base0 + 3)), {},
                    ("get", "put")),
                   ("3-master cluster", curl, cports, {}, ("get", "put"))]
        rows = ragd_rows(tmp, targets + [("cluster, replica reads", curl, cports,
                                          {"RAGD_REDIS_READ_REPLICAS": "1"}, ("get",))], a)
        rows += store_rows(targets, a)
        n = 200000
        for name, port, cl in (("one Redis", rport, False), ("3-master cluster", base, True)):
            rb = run_redis_benchmark(port, a.connections, n, cl)
            rows.append((f"redis-benchmark GET on {name}", rb["GET"]))
            rows.append((f"redis-benchmark SET on {name}", rb["SET"]))
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(30)
        for b, replicas in bases:
            topology(tmp, "down", b, replicas)
        shutil.rmtree(tmp, ignore_errors=True)
    report(rows, a)
    failover = os.path.join(HERE, "failover.py")
    if os.path.exists(failover) and not a.no_failover:
        subprocess.run([sys.executable, failover], check=False)


if __name__ == "__main__":
    main()
