"""Where the tests and scripts/redis-topology.sh put a Redis Cluster: a node's
cluster bus listens on its port + 10000, and both ports must stay below the
kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768 and up by
default), where an outgoing connection may already hold one of them."""
import os
import subprocess
import tempfile

from ragdtest import ROOT, cluster_free_base

SCRIPT = os.path.join(ROOT, "scripts", "redis-topology.sh")


def ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def test_test_clusters_keep_bus_ports_below_the_ephemeral_range():
    low = ephemeral_low()
    for _ in range(50):
        base = cluster_free_base()
        assert 1024 < base and base + 5 + 10000 < low


def test_topology_script_refuses_bus_ports_in_the_ephemeral_range():
    low = ephemeral_low()
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, RAGD_TOPOLOGY_DIR=d)
        r = subprocess.run(["sh", SCRIPT, "cluster", "up", str(low - 10000)], env=env,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0
        assert "ephemeral port range" in r.stderr
        assert os.listdir(d) == []  # nothing was started


def test_topology_script_default_cluster_base_is_below_the_ephemeral_range():
    out = subprocess.run(["sh", SCRIPT, "cluster", "url"], capture_output=True, text=True,
                         check=True).stdout
    first = int(out.split("//")[1].split(",")[0].split(":")[1])
    assert first + 5 + 10000 < ephemeral_low()
