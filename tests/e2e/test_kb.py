"""Knowledge bases end to end on both stores: namespaces CRUD, document upsert /
replace / delete / delete by filter, durability across restart and kill -9, and the
`ragd ingest` command."""
import os
import subprocess

import requests

from ragdtest import RAGD_BIN, Ragd, assert_error

NS = "/api/v1/namespaces"


def mk(ragd, name, **settings):
    r = ragd.post(NS, json={"name": name, **settings})
    assert r.status_code == 201, r.text
    return r.json()


def upsert(ragd, ns, docs):
    r = ragd.post(f"{NS}/{ns}/documents", json={"documents": docs})
    assert r.status_code == 200, r.text
    return r.json()


def search(ragd, **body):
    r = ragd.post("/api/v1/search/hybrid", json=body)
    assert r.status_code == 200, r.text
    return r.json()["results"]


def test_namespace_crud_and_settings(ragd):
    info = mk(ragd, "fitness", chunk_size=128, chunk_overlap=16, bm25_k1=1.2,
              description="strength training", examples=["how do I bench?"])
    assert info["settings"]["chunk_size"] == 128 and info["settings"]["bm25_k1"] == 1.2
    assert info["settings"]["embedding_model"] == "all-MiniLM-L6-v2"
    assert info["stats"]["documents"] == 0
    assert_error(ragd.post(NS, json={"name": "fitness"}), 409, "namespace_exists")
    assert_error(ragd.post(NS, json={"name": "bad name"}), 400)
    assert_error(ragd.post(NS, json={"name": "x", "chunk_size": 100000}), 400)
    assert_error(ragd.post(NS, json={"name": "x", "nonsense": 1}), 400)
    assert_error(ragd.post(NS, json={"name": "x", "embedding_model": "other"}), 400)
    for i in range(50):  # many namespaces are cheap
        mk(ragd, f"ns{i}")
    names = [n["name"] for n in ragd.get(NS).json()["namespaces"]]
    assert "fitness" in names and len(names) == 51
    r = requests.patch(ragd.url + f"{NS}/fitness", timeout=30, json={"description": "lifting", "hnsw_ef_search": 50})
    assert r.status_code == 200 and r.json()["settings"]["description"] == "lifting"
    assert_error(requests.patch(ragd.url + f"{NS}/fitness", timeout=30, json={"chunk_size": 64}), 400)
    assert ragd.delete(f"{NS}/ns0").json()["deleted"] == 1
    assert_error(ragd.get(f"{NS}/ns0"), 404, "namespace_not_found")
    assert_error(ragd.delete(f"{NS}/ns0"), 404)
    ragd.restart()
    got = ragd.get(f"{NS}/fitness").json()
    assert got["settings"]["description"] == "lifting" and got["settings"]["hnsw_ef_search"] == 50
    assert len(ragd.get(NS).json()["namespaces"]) == 50


def test_upsert_replace_delete(ragd):
    mk(ragd, "docs", chunk_size=16, chunk_overlap=4)
    long = " ".join(f"sentence number {i} talks about squats and knees." for i in range(20))
    r = upsert(ragd, "docs", [{"id": "long/one", "text": long, "metadata": {"k": 1}},
                              {"id": "short", "text": "Bench press for the chest."}])
    assert r["upserted"] == 2 and r["chunks"] > 5
    d = ragd.get(f"{NS}/docs/documents/long/one").json()
    assert d["text"] == long and d["metadata"] == {"k": 1}
    chunks = d["chunks"]
    assert len(chunks) == r["chunks"] - 1
    for c in chunks:  # offsets are byte spans into the text
        assert 0 <= c["start"] < c["end"] <= len(long.encode())
        assert c["pieces"] <= 16
    assert all(chunks[i]["start"] < chunks[i - 1]["end"] for i in range(1, len(chunks)))
    res = search(ragd, query="squats knees", namespaces=["docs"], limit=3)
    assert res and res[0]["document_id"] == "long/one"
    h = res[0]
    assert long.encode()[h["offsets"]["start"]:h["offsets"]["end"]].decode() == h["content"]
    assert h["chunk_id"] == f"long/one#{h['chunk_index']}"
    # replace with a short text: old chunks are gone
    r = upsert(ragd, "docs", [{"id": "long/one", "text": "Deadlifts for the back."}])
    assert r["replaced"] == 1 and r["chunks"] == 1
    assert ragd.get(f"{NS}/docs/documents/long/one").json()["chunk_count"] == 1
    assert all(x["document_id"] != "long/one" or "Deadlift" in x["content"]
               for x in search(ragd, query="squats knees", namespaces=["docs"], limit=10))
    stats = ragd.get(f"{NS}/docs").json()["stats"]
    assert stats["documents"] == 2 and stats["chunks"] == 2 and stats["hnsw"]["vectors"] == 2
    # delete by id and by filter
    assert ragd.delete(f"{NS}/docs/documents/short").json()["deleted"] == 1
    assert_error(ragd.get(f"{NS}/docs/documents/short"), 404, "document_not_found")
    assert_error(ragd.delete(f"{NS}/docs/documents/short"), 404)
    upsert(ragd, "docs", [{"id": f"t{i}", "text": f"tagged doc {i}", "metadata": {"tag": i % 2}}
                          for i in range(10)])
    r = ragd.post(f"{NS}/docs/documents/delete", json={"filter": {"tag": 1}})
    assert r.json()["deleted"] == 5
    assert ragd.get(f"{NS}/docs").json()["stats"]["documents"] == 6
    assert_error(ragd.post(f"{NS}/docs/documents/delete", json={}), 400)
    listing = ragd.get(f"{NS}/docs/documents?limit=100").json()
    assert listing["total"] == 6 and len(listing["ids"]) == 6


def test_bad_documents(ragd):
    mk(ragd, "bad")
    p = f"{NS}/bad/documents"
    assert_error(ragd.post(p, json={"documents": []}), 400)
    assert_error(ragd.post(p, json={"documents": [{"id": "a"}]}), 400)
    assert_error(ragd.post(p, json={"documents": [{"id": "a", "text": ""}]}), 400)
    assert_error(ragd.post(p, json={"documents": [{"text": "x"}]}), 400)
    assert_error(ragd.post(p, json={"documents": [{"id": "a", "text": "x", "metadata": [1]}]}), 400)
    assert_error(ragd.post(f"{NS}/missing/documents", json={"documents": [{"id": "a", "text": "x"}]}),
                 404, "namespace_not_found")
    assert_error(ragd.post(p, data=b"{nope"), 400, "invalid_json")


def test_restart_and_kill9_keep_acknowledged_documents(ragd):
    mk(ragd, "durable")
    upsert(ragd, "durable", [{"id": f"d{i}", "text": f"document {i} about knee rehab",
                              "metadata": {"n": i}} for i in range(200)])
    before = search(ragd, query="knee rehab", namespaces=["durable"], limit=5, search_type="semantic")
    ragd.restart()  # clean stop: the snapshot is written and loaded back
    again = search(ragd, query="knee rehab", namespaces=["durable"], limit=5, search_type="semantic")
    assert [(x["document_id"], round(x["score"], 4)) for x in again] == \
        [(x["document_id"], round(x["score"], 4)) for x in before]
    upsert(ragd, "durable", [{"id": "last", "text": "acknowledged right before the crash"}])
    ragd.kill9()  # the snapshot predates "last": loaded, then the log replayed from it
    ragd.start()
    st = ragd.get(f"{NS}/durable").json()["stats"]
    assert st["documents"] == 201 and st["chunks"] == 201 and st["hnsw"]["vectors"] == 201
    assert ragd.get(f"{NS}/durable/documents/last").status_code == 200
    after = search(ragd, query="knee rehab", namespaces=["durable"], limit=5, search_type="semantic")
    assert [round(x["score"], 4) for x in after] == [round(x["score"], 4) for x in before]
    res = search(ragd, query="crash acknowledged", namespaces=["durable"], limit=1)
    assert res[0]["document_id"] == "last"


def test_ingest_command(ragd, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "bench.md").write_text("# Bench Press\nThe bench press works the chest.\n")
    (tmp_path / "sub" / "squat.txt").write_text("Squats strengthen the knees.\n")
    (tmp_path / "data.jsonl").write_text(
        '{"id": "j1", "text": "first json line", "metadata": {"src": "j"}}\n'
        '{"text": "line without id", "user_id": "alice"}\n\n')
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    r = subprocess.run([RAGD_BIN, "ingest", "ingested", str(tmp_path), "--url", ragd.url],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "created namespace ingested" in r.stdout and "done: 4 documents" in r.stdout
    assert "ingest: 4/4 documents" in r.stderr  # plain progress lines when not a terminal
    ids = set(ragd.get(f"{NS}/ingested/documents").json()["ids"])
    assert ids == {"bench.md", "sub/squat.txt", "j1", "data.jsonl:2"}
    d = ragd.get(f"{NS}/ingested/documents/data.jsonl:2").json()
    assert d["user_id"] == "alice"
    assert ragd.get(f"{NS}/ingested/documents/bench.md").json()["metadata"]["format"] == "markdown"
    # re-ingest replaces, does not duplicate
    r = subprocess.run([RAGD_BIN, "ingest", "ingested", str(tmp_path / "bench.md"), "--url", ragd.url],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert ragd.get(f"{NS}/ingested").json()["stats"]["documents"] == 5  # path id differs
    r = subprocess.run([RAGD_BIN, "ingest", "ingested"], capture_output=True, text=True)
    assert r.returncode == 2 and "usage" in r.stderr
    r = subprocess.run([RAGD_BIN, "ingest", "x", str(tmp_path), "--url", "http://127.0.0.1:1"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
