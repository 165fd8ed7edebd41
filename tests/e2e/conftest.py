"""pytest fixtures for the end-to-end suite (see ragdtest.py for the helpers)."""
import pytest

from ragdtest import Ragd, Redis


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


