"""Helpers for the end-to-end tests: run the real ragd binary over HTTP, on the embedded
store and on a real redis-server started on a free loopback port."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RAGD_BIN = os.environ.get("RAGD_BIN", os.path.join(ROOT, "build", "ragd"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, what, timeout=15.0):
    """Poll cond() every 50 ms until it is true; AssertionError naming what after timeout s."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def eventually(check, tries=400, pause=0.05):
    """check() until it returns a truthy value (bounded retries); return it."""
    for _ in range(tries):
        got = check()
        if got:
            return got
        time.sleep(pause)
    raise AssertionError("condition not reached after %d tries" % tries)


def wait_port(port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


class Redis:
    """A real redis-server on a loopback port; stop() and start() keep the port."""

    def __init__(self, extra_args=(), password=None, acl_user=None):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="ragd-redis-")
        self.extra = list(extra_args)
        self.password = password
        self.acl_user = acl_user
        self.proc = None

    def start(self):
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", self.dir] + self.extra
        if self.password:
            args += ["--requirepass", self.password]
        if self.acl_user:
            user, pw = self.acl_user
            args += ["--user", user, "on", f">{pw}", "~*", "&*", "+@all"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_port(self.port), "redis-server did not start"
        return self

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def client(self):
        import redis
        if self.acl_user:
            return redis.Redis(port=self.port, username=self.acl_user[0], password=self.acl_user[1])
        return redis.Redis(port=self.port, password=self.password)

    def url(self, db=0):
        if self.acl_user:
            return f"redis://{self.acl_user[0]}:{self.acl_user[1]}@127.0.0.1:{self.port}/{db}"
        if self.password:
            return f"redis://:{self.password}@127.0.0.1:{self.port}/{db}"
        return f"redis://127.0.0.1:{self.port}/{db}"

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisCluster:
    """A real 6-node Redis Cluster (3 masters, 3 replicas) on loopback ports, started
    and stopped with scripts/redis-topology.sh."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ragd-cluster-")
        self.base = self._free_base()
        self.ports = [self.base + i for i in range(6)]
        self.url = None

    @staticmethod
    def _free_base():
        return cluster_free_base()

    def _script(self, action):
        env = dict(os.environ, RAGD_TOPOLOGY_DIR=self.dir)
        return subprocess.run([os.path.join(ROOT, "scripts", "redis-topology.sh"), "cluster",
                               action, str(self.base)], env=env, check=True,
                              capture_output=True, text=True).stdout

    def start(self):
        self.url = self._script("up").strip().splitlines()[-1]
        # A replica that has not synced yet may never take over (its data counts
        # as too old), so wait for every replica's link to its master.
        deadline = time.time() + 30
        for port in self.ports:
            while ("role:slave" in self.cli(port, "INFO", "replication") and
                   "master_link_status:up" not in self.cli(port, "INFO", "replication")):
                assert time.time() < deadline, f"replica {port} did not sync"
                time.sleep(0.1)
        return self

    def cli(self, port, *args):
        return subprocess.run(["redis-cli", "-p", str(port)] + [str(a) for a in args],
                               check=True, capture_output=True, text=True).stdout

    def masters(self):
        """Ports of the masters that own slots now."""
        out = []
        for line in self.cli(self.ports[0], "CLUSTER", "NODES").splitlines():
            f = line.split()
            if "master" in f[2] and "fail" not in f[2] and len(f) > 8:
                out.append(int(f[1].split("@")[0].rsplit(":", 1)[1]))
        return sorted(out)

    def flushall(self):
        for port in self.masters():
            self.cli(port, "FLUSHALL")

    def cleanup(self):
        try:
            self._script("down")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


# Cluster node ports: a node's bus port is its port + 10000, and both must stay
# below the ephemeral range (32768+ by default), where outgoing connections take
# their ports and could hold one before the node binds it.
CLUSTER_BASES = (11000, 22700)


def cluster_free_base(nodes=6):
    """A base whose nodes base..base+nodes-1 and bus ports (+10000) are all free."""
    import random
    while True:
        base = random.randrange(*CLUSTER_BASES)
        if all(_port_free(base + i) and _port_free(base + 10000 + i) for i in range(nodes)):
            return base


def _port_free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


# The stores every store-parametrised fixture runs on: the embedded one and Redis,
# plus a 3-master Redis Cluster when RAGD_TEST_CLUSTER=1 (the full matrix).
STORES = ["lmdb", "redis"] + (["cluster"] if os.environ.get("RAGD_TEST_CLUSTER") == "1" else [])
# Suites that run on the embedded store only by default, and on the cluster too in
# the matrix (their single-Redis paths are covered by the suites above).
MATRIX = ["lmdb"] + (["cluster"] if os.environ.get("RAGD_TEST_CLUSTER") == "1" else [])


def store_env(request, db):
    """The environment that points ragd at the store of request.param, emptied
    first (a Redis db number, or every master of the cluster)."""
    if request.param == "redis":
        r = request.getfixturevalue("redis_server")
        import redis as redis_py
        redis_py.Redis(port=r.port, db=db).flushdb()
        return {"REDIS_URL": r.url(db)}
    if request.param == "cluster":
        c = request.getfixturevalue("redis_cluster")
        c.flushall()
        return {"REDIS_URL": c.url}
    return {}


class Ragd:
    """The real binary on a free port with its own data directory."""

    def __init__(self, env=None, args=(), data_dir=None, bin=None):
        self.bin = bin or RAGD_BIN
        self.port = free_port()
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="ragd-data-")
        self.env = dict(os.environ)
        self.env.update({"RAGD_LOG_LEVEL": "warn"})
        self.env.update(env or {})
        self.args = list(args)
        self.proc = None
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="ragd-log-", delete=False)

    def start(self, timeout=60.0):
        cmd = [self.bin, "serve", "--listen", f"127.0.0.1:{self.port}",
               "--data-dir", self.data_dir] + self.args
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=self.log, stderr=self.log)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ragd exited with {self.proc.returncode}: {self.logs()}")
            try:
                requests.get(self.url + "/health", timeout=0.5)
                return self
            except requests.RequestException:
                time.sleep(0.05)
        raise RuntimeError("ragd did not answer /health: " + self.logs())

    def logs(self):
        with open(self.log.name, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout)
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def restart(self):
        self.stop()
        return self.start()

    def cleanup(self):
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        os.unlink(self.log.name)

    # small helpers
    def get(self, path, **kw):
        return requests.get(self.url + path, timeout=30, **kw)

    def post(self, path, **kw):
        return requests.post(self.url + path, timeout=60, **kw)

    def put(self, path, **kw):
        return requests.put(self.url + path, timeout=30, **kw)

    def delete(self, path, **kw):
        return requests.delete(self.url + path, timeout=30, **kw)

    def head(self, path, **kw):
        return requests.head(self.url + path, timeout=30, **kw)


def assert_error(resp, status, code=None):
    assert resp.status_code == status, (resp.status_code, resp.text)
    body = resp.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert isinstance(err["message"], str) and err["message"]
    assert err["request_id"] == resp.headers["X-Request-Id"]
    if code:
        assert err["code"] == code, err
    return err
