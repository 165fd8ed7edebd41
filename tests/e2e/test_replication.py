"""Several ragd instances on one Redis: the namespace life cycle is decided in
Redis, not in one instance's memory (create is set-if-absent, settings changes
are compare-and-set), and a document replace removes the chunk keys the stored
document had, whichever instance wrote them."""
import threading

import redis as redis_py
import requests

from ragdtest import Ragd, assert_error

NS = "/api/v1/namespaces"
DB = 6


def instance(redis_server):
    return Ragd(env={"REDIS_URL": redis_server.url(DB)}).start()


def test_concurrent_create_of_one_namespace_on_two_instances(redis_server):
    redis_py.Redis(port=redis_server.port, db=DB).flushdb()
    a, b = instance(redis_server), instance(redis_server)
    try:
        for i in range(10):
            got = []

            def create(s, name=f"dup{i}"):
                got.append(s.post(NS, json={"name": name}))
            ts = [threading.Thread(target=create, args=(s,)) for s in (a, b)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            assert sorted(r.status_code for r in got) == [201, 409]
            assert_error(next(r for r in got if r.status_code == 409), 409, "namespace_exists")
    finally:
        a.cleanup()
        b.cleanup()


def test_stale_settings_writer_gets_conflict_and_replace_leaves_no_orphans(redis_server):
    r = redis_py.Redis(port=redis_server.port, db=DB)
    r.flushdb()
    a = instance(redis_server)
    b = None
    try:
        assert a.post(NS, json={"name": "shared", "chunk_size": 16, "chunk_overlap": 4}).status_code == 201
        b = instance(redis_server)  # loads "shared" at its first version
        patch = lambda s, body: requests.patch(s.url + f"{NS}/shared", json=body, timeout=30)
        assert patch(a, {"description": "from a"}).status_code == 200
        assert_error(patch(b, {"description": "from b"}), 409, "conflict")
        assert b.get(f"{NS}/shared").json()["settings"]["description"] == "from a"
        assert patch(b, {"description": "from b"}).status_code == 200
        a.restart()
        assert a.get(f"{NS}/shared").json()["settings"]["description"] == "from b"

        long_text = " ".join(f"word{i} lifting technique" for i in range(200))
        up = a.post(f"{NS}/shared/documents", json={"documents": [{"id": "d1", "text": long_text}]})
        assert up.status_code == 200, up.text
        chunks = list(r.scan_iter("ragd:kb:shared:chunk:d1:*"))
        assert len(chunks) > 10
        up = b.post(f"{NS}/shared/documents", json={"documents": [{"id": "d1", "text": "short"}]})
        assert up.status_code == 200, up.text
        assert [k.decode() for k in r.scan_iter("ragd:kb:shared:chunk:d1:*")] == \
            ["ragd:kb:shared:chunk:d1:0"]
        log = r.xrange("ragd.log:kb:{shared}:log")  # one record per write, both instances'
        assert [e[1][b"d"][:30] for e in log] == [b'{"op":"upsert","ids":["d1"],"v'] * 2
    finally:
        a.cleanup()
        if b:
            b.cleanup()


def test_writes_after_redis_lost_the_namespace_write_nothing(redis_server):
    r = redis_py.Redis(port=redis_server.port, db=DB)
    r.flushdb()
    a = instance(redis_server)
    try:
        assert a.post(NS, json={"name": "gone"}).status_code == 201
        doc = {"documents": [{"id": "d1", "text": "bench press form"}]}
        assert a.post(f"{NS}/gone/documents", json=doc).status_code == 200
        r.flushdb()  # Redis lost everything (or another instance dropped the namespace)
        assert_error(a.post(f"{NS}/gone/documents", json=doc), 404, "namespace_not_found")
        assert list(r.scan_iter("ragd:kb:*")) == []  # no doc/chunk/version keys without meta
        assert_error(a.get(f"{NS}/gone"), 404, "namespace_not_found")
        assert a.post(NS, json={"name": "gone"}).status_code == 201
        assert a.post(f"{NS}/gone/documents", json=doc).status_code == 200
        assert r.exists("ragd:kb:gone:meta") and r.exists("ragd:kb:gone:doc:d1")
    finally:
        a.cleanup()
