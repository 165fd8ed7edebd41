"""A Sentinel set for the HA tests and the failover benchmark, and one failover
under a steady write load through ragd, counted: writes acknowledged, writes
failed, acknowledged writes missing afterwards, the longest time without an
acknowledged write (as a client sees it), and what /health said meanwhile."""
import dataclasses
import os
import signal
import subprocess
import threading
import time

import redis
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "scripts", "redis-topology.sh")


class Topology:
    """scripts/redis-topology.sh sentinel on ports base..base+12 (slot picks base)."""

    def __init__(self, slot=0):
        # Below the ephemeral port range (32768+), away from the script's defaults.
        self.base = 20000 + (slot % 400) * 16
        if 26300 <= self.base < 27100:
            self.base += 800
        self.dir = f"/tmp/ragd-e2e-topology-{os.getpid()}"
        self.env = dict(os.environ, RAGD_TOPOLOGY_DIR=self.dir)
        self.url = None

    def _run(self, action):
        out = subprocess.run(["sh", SCRIPT, "sentinel", action, str(self.base)], env=self.env,
                             capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"redis-topology.sh {action}: {out.stderr}")
        return out.stdout.strip().splitlines()

    def up(self):
        try:
            self.url = self._run("up")[-1]
        except RuntimeError:
            self.down()
            raise
        return self

    def down(self):
        self._run("down")
        try:
            os.rmdir(self.dir)
        except OSError:
            pass

    def restart(self):
        self.down()
        return self.up()

    def client(self, port):
        return redis.Redis(port=port, socket_timeout=5)

    def sentinel(self):
        for p in (10, 11, 12):
            try:
                c = self.client(self.base + p)
                c.ping()
                return c
            except redis.RedisError:
                continue
        raise RuntimeError("no sentinel answers")

    def master_port(self):
        return int(self.sentinel().execute_command("SENTINEL", "get-master-addr-by-name",
                                                   "ragd")[1])

    def stable_master(self):
        """The master once every live sentinel names it and it says ROLE master."""
        def agreed():
            ports = set()
            for p in (10, 11, 12):
                try:
                    ports.add(int(self.client(self.base + p).execute_command(
                        "SENTINEL", "get-master-addr-by-name", "ragd")[1]))
                except redis.RedisError:
                    continue
            if len(ports) != 1:
                return None
            port = ports.pop()
            try:
                role = self.client(port).execute_command("ROLE")[0]
            except redis.RedisError:
                return None
            return port if role in (b"master", "master") else None
        for _ in range(600):
            port = agreed()
            if port:
                return port
            time.sleep(0.05)
        raise RuntimeError("the sentinels do not agree on a master")

    def kill_master(self):
        port = self.master_port()
        with open(os.path.join(self.dir, f"sentinel-{self.base}", str(port), "redis.pid")) as f:
            os.kill(int(f.read().strip()), signal.SIGKILL)
        return port

    def failover(self):
        port = self.master_port()
        self.sentinel().execute_command("SENTINEL", "FAILOVER", "ragd")
        return port


@dataclasses.dataclass
class FailoverResult:
    acked: int = 0            # writes answered 2xx
    failed: int = 0           # writes answered otherwise
    acked_after: int = 0      # acknowledged after the new master was named
    lost: list = dataclasses.field(default_factory=list)  # acknowledged, then missing
    outage_s: float = 0.0     # longest time between two acknowledged writes
    health_seen: set = dataclasses.field(default_factory=set)
    health_final: str = ""


class _Writer(threading.Thread):
    """PUTs ha/k<i> = v<i> one after another until stopped."""

    def __init__(self, ragd):
        super().__init__(daemon=True)
        self.ragd, self.stop = ragd, threading.Event()
        self.acked, self.failed, self.acked_times = [], 0, []
        self.session = requests.Session()

    def run(self):
        i = 0
        while not self.stop.is_set():
            try:
                r = self.session.put(f"{self.ragd.url}/api/v1/cache/ha/k{i}?ttl=0",
                                     data=f"v{i}", timeout=10)
                ok = r.status_code == 200
            except requests.RequestException:
                ok = False
            if ok:
                self.acked.append(i)
                self.acked_times.append(time.monotonic())
            else:
                self.failed += 1
                time.sleep(0.005)
            i += 1


class _HealthPoller(threading.Thread):
    def __init__(self, ragd):
        super().__init__(daemon=True)
        self.ragd, self.stop, self.seen = ragd, threading.Event(), set()

    def run(self):
        while not self.stop.is_set():
            try:
                self.seen.add(self.ragd.get("/health").json()["status"])
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.05)


def _wait(cond, tries=600, pause=0.05):
    """Poll cond() up to tries times (bounded; no wall-clock assertion)."""
    for _ in range(tries):
        if cond():
            return True
        time.sleep(pause)
    return False


def failover_run(ragd, topo, how, after=50):
    """Write through ragd, fail the master over (how: "failover" = SENTINEL
    FAILOVER, "kill" = kill -9), keep writing until `after` writes were
    acknowledged by the new master, then count."""
    w, h = _Writer(ragd), _HealthPoller(ragd)
    w.start()
    h.start()
    _wait(lambda: len(w.acked) >= 50)
    old = topo.kill_master() if how == "kill" else topo.failover()
    _wait(lambda: _master_or(topo, old) != old, tries=1200)
    mark = len(w.acked)
    _wait(lambda: len(w.acked) - mark >= after, tries=1200)
    w.stop.set()
    w.join()
    _wait(lambda: _status(ragd) == "healthy")
    h.stop.set()
    h.join()
    res = FailoverResult(acked=len(w.acked), failed=w.failed, acked_after=len(w.acked) - mark,
                         health_seen=h.seen, health_final=_status(ragd))
    gaps = [b - a for a, b in zip(w.acked_times, w.acked_times[1:])]
    res.outage_s = round(max(gaps) if gaps else 0.0, 3)
    res.lost = _missing(topo.client(topo.stable_master()), w.acked)
    return res


def _master_or(topo, default):
    try:
        return topo.master_port()
    except (redis.RedisError, RuntimeError, TypeError):
        return default


def _status(ragd):
    try:
        return ragd.get("/health").json()["status"]
    except (requests.RequestException, ValueError):
        return ""


def _missing(client, acked):
    """Acknowledged keys the master does not hold."""
    pipe = client.pipeline(transaction=False)
    for i in acked:
        pipe.exists(f"ragd:cache:ha:k{i}")
    return [i for i, n in zip(acked, pipe.execute()) if n != 1]
