"""pytest fixtures for the end-to-end suite (see ragdtest.py for the helpers)."""
import pytest

from ragdtest import Ragd, Redis


def pytest_configure(config):
    config.addinivalue_line("markers", "ha_slow: long Redis failover scenarios, run with "
                            "-m ha_slow (bench/cluster/failover.py); left out otherwise")


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


@pytest.fixture(params=["lmdb", "redis"])
def ragd(request):
    """ragd on the embedded store and on Redis: every test using it runs on both."""
    env = {}
    if request.param == "redis":
        r = request.getfixturevalue("redis_server")
        import redis as redis_py
        redis_py.Redis(port=r.port, db=3).flushdb()
        env["REDIS_URL"] = r.url(3)  # a non-zero db checks SELECT too
    s = Ragd(env=env).start()
    s.backend = request.param
    yield s
    s.cleanup()


@pytest.fixture
def ragd_lmdb():
    s = Ragd().start()
    yield s
    s.cleanup()


