"""pytest fixtures for the end-to-end suite (see ragdtest.py for the helpers)."""
import pytest

from fake_upstream import FakeUpstream
from ragdtest import STORES, Ragd, Redis, RedisCluster, store_env


def pytest_configure(config):
    config.addinivalue_line("markers", "ha_slow: long Redis failover scenarios, run with "
                            "-m ha_slow (bench/cluster/failover.py); left out otherwise")
    config.addinivalue_line("markers", "packaging: make install and make deb (about 1-2 "
                            "minutes); -m 'not packaging' leaves them out of a quick run")


def pytest_collection_modifyitems(config, items):
    if "ha_slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="ha_slow: run with -m ha_slow")
    for item in items:
        if "ha_slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def redis_server():
    r = Redis().start()
    yield r
    r.cleanup()


@pytest.fixture(scope="session")
def redis_cluster():
    c = RedisCluster().start()
    yield c
    c.cleanup()


@pytest.fixture(params=STORES)
def ragd(request):
    """ragd on the embedded store and on Redis (and a Redis Cluster with
    RAGD_TEST_CLUSTER=1): every test using it runs on each."""
    env = store_env(request, 3)  # a non-zero db checks SELECT too
    s = Ragd(env=env).start()
    s.backend = "lmdb" if request.param == "lmdb" else "redis"
    yield s
    s.cleanup()


@pytest.fixture
def ragd_lmdb():
    s = Ragd().start()
    yield s
    s.cleanup()


@pytest.fixture(scope="module")
def upstream():
    """The fake LLM provider (tests/e2e/fake_upstream.py), one per test module."""
    up = FakeUpstream().start()
    yield up
    up.stop()
