"""Tests of bench/data/build.py: SWORD verse arithmetic against known verses, Nave's reference
expansion and name filter, the GCIDE and semantic-cache sets' shapes and invariants.
Skipped when the Debian packages are not installed (build.py installs them)."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench", "data"))

import build  # noqa: E402
import gcide  # noqa: E402
import naves  # noqa: E402
import sword  # noqa: E402

ALL = sorted({p for ps in build.PACKAGES.values() for p in ps})
installed = all(build.package_versions(ALL).values())
pytestmark = pytest.mark.skipif(not installed, reason="Debian data packages not installed")


@pytest.fixture(scope="module")
def kjv():
    return sword.ZText("engKJV2006eb")


@pytest.fixture(scope="module")
def web():
    return sword.ZText("engWEB2015eb")


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    assert build.main(["--out", str(d), "--no-install"]) == 0
    return d


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def read_qrels(path):
    rel = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            q, d, one = line.rstrip("\n").split("\t")
            assert one == "1"
            rel.setdefault(q, set()).add(d)
    return rel


def test_spot_verses(kjv, web):
    assert kjv.text("Gen", 1, 1) == "In the beginning God created the heaven and the earth."
    assert web.text("Gen", 1, 1) == "In the beginning, God created the heavens and the earth."
    assert kjv.text("John", 11, 35) == "Jesus wept."
    assert web.text("John", 11, 35) == "Jesus wept."
    assert kjv.v11n.verse_counts["Ps"][116] == 2
    assert kjv.text("Ps", 117, 2).startswith("For his merciful kindness is great toward us")
    with pytest.raises(KeyError):
        kjv.v11n.index("Ps", 117, 3)
    assert kjv.text("Rev", 22, 21) == ("The grace of our Lord Jesus Christ be with you all. "
                                      "Amen.")
    # The WEB's last verse is followed by its glossary in the same slot: it must be cut.
    assert web.text("Rev", 22, 21).endswith("Amen.")
    assert kjv.text("Mal", 4, 6).startswith("And he shall turn the heart of the fathers")


def test_slot_arithmetic_matches_files(kjv, web):
    for t in ("ot", "nt"):
        assert kjv.v11n.slot_count(t) == kjv.slot_total(t)
    assert web.v11n.slot_count("nt") == web.slot_total("nt")
    assert web.v11n.slot_count("ot") < web.slot_total("ot")  # deuterocanon follows Malachi
    for mod in (kjv, web):
        for book in ("Gen", "Ps", "Mal", "Matt", "3John", "Rev"):
            for ch in range(1, len(mod.v11n.verse_counts[book]) + 1):
                assert 'osisID="%s.%d"' % (book, ch) in mod.raw(book, ch, 0)


def test_osis_markup_is_stripped():
    s = ('<w lemma="strong:H430">God</w><note placement="foot">a note</note> said, '
         '&#8220;Let <transChange type="added">there</transChange> be light&#8221; .')
    assert sword.osis_to_text(s) == "God said, \u201cLet there be light\u201d."


def test_expand_osis_ref(web):
    v = web.v11n
    assert naves.expand_osis_ref("Exod.6.16-Exod.6.20", v) == [
        "Exod.6.16", "Exod.6.17", "Exod.6.18", "Exod.6.19", "Exod.6.20"]
    assert naves.expand_osis_ref("Gen.1.31-Gen.2.2", v) == ["Gen.1.31", "Gen.2.1", "Gen.2.2"]
    assert len(naves.expand_osis_ref("Ps.117", v)) == 2
    assert naves.expand_osis_ref("Col.8.16", v) == []  # Colossians has 4 chapters
    assert naves.expand_osis_ref("Wis.2", v) == []     # not a protocanonical book


def test_name_filter():
    import wordnet
    f = naves.NameFilter(wordnet.WordNet())
    for name in ("AARON", "ABAGTHA", "JERUSALEM", "MOSES", "JOB"):
        assert f.is_proper_name(name), name
    for topic in ("FAITH", "ABSTINENCE, TOTAL", "AFFLICTIONS AND ADVERSITIES", "GOD", "LOVE"):
        assert not f.is_proper_name(topic), topic
    assert f.is_proper_name("RAM", "Son of Hezron and an ancestor of Jesus")
    assert not f.is_proper_name("KING", "Called KING OF KINGS")


def test_naves_set(out):
    d = out / "naves"
    corpus = read_jsonl(d / "corpus.jsonl")
    assert 31000 <= len(corpus) <= 31104
    by_id = {c["id"]: c for c in corpus}
    assert by_id["John.11.35"] == {"id": "John.11.35", "text": "Jesus wept.", "book": "John",
                                   "chapter": 11, "verse": 35}
    queries = {q["id"]: q["text"] for q in read_jsonl(d / "queries.jsonl")}
    rel = read_qrels(d / "qrels.tsv")
    assert set(rel) == set(queries)
    assert all(doc in by_id for docs in rel.values() for doc in docs)
    texts = {t: q for q, t in queries.items()}
    # "Ro 14:14-22; 1Co 6:12; 8:8-13; 9:19-23; 10:23-33": ranges expand within chapters.
    expediency = rel[texts["expediency: General scriptures concerning"]]
    assert len(expediency) == 9 + 1 + 6 + 5 + 11
    assert {"Rom.14.14", "Rom.14.22", "1Cor.6.12", "1Cor.10.33"} <= expediency
    assert {"Matt.13.3", "Mark.4.20", "Luke.8.8"} <= rel[texts["sower: Parable of the"]]
    # A topic with several subtopics is also a query: the union of their verses.
    sower = texts["sower"]
    assert rel[sower] == set().union(*(rel[q] for q in queries if q.startswith(sower + ".")))
    assert not any(t.startswith(("aaron", "abagtha")) for t in texts)
    assert max(len(v) for v in rel.values()) <= 200


def test_gcide_set(out):
    d = out / "gcide"
    corpus = read_jsonl(d / "corpus.jsonl")
    assert len(corpus) > 100000
    by_id = {c["id"]: c["text"] for c in corpus}
    assert not any("[WordNet" in t or "\\" in t[:1] for t in by_id.values())
    assert by_id["Drouthy"] == "Droughty."
    assert by_id["Bureau"].startswith("1. Originally, a desk or writing table")
    assert "Dog#1" in by_id and "Dog#2" in by_id
    queries = read_jsonl(d / "queries.jsonl")
    assert len(queries) == 2000
    rel = read_qrels(d / "qrels.tsv")
    assert all(len(rel[q["id"]]) == 1 for q in queries)
    targets = [next(iter(rel[q["id"]])) for q in queries]
    assert len(set(targets)) == len(targets)
    assert all(t in by_id for t in targets)
    # The headword is removed from the gloss ("tocsin: a bell used to sound an alarm").
    plain = [(q, t) for q, t in zip(queries, targets) if "#" not in t and " " not in t]
    assert len(plain) > 1500
    assert all(t.lower() not in q["text"].lower().split() for q, t in plain)


def test_gcide_helpers():
    assert gcide.b64_number("Kj") == 10 * 64 + 35
    rec = ('Gownsman \\Gowns"man\\, Gownman \\Gown"man\\, n.; pl. {-men} (-men).\n'
           '   One whose professional habit is a gown.\n   [1913 Webster]\n')
    assert gcide.headwords(rec) == ["Gownsman", "Gownman"]
    assert gcide.header_pos(rec) == {"n"}
    assert gcide.strip_words("a domestic dog; dogs bark", ["dog"]) == "a domestic; bark"


def test_semcache_set(out):
    pairs = read_jsonl(out / "semcache" / "pairs.jsonl")
    by_id = {p["id"]: p for p in pairs}
    p = by_id["p-Gen.1.1"]
    assert p["label"] == 1 and p["b"] == "In the beginning God created the heaven and the earth."
    n = by_id["n-Gen.1.1"]
    assert n["label"] == 0 and n["ref_b"] == "Gen.1.2" and n["a"] == p["a"]
    pos = [p for p in pairs if p["label"] == 1]
    assert len(pos) > 20000
    assert len({p["a"] for p in pos}) == len(pos)  # no verbatim repeats
    assert all(p["ref"].split(".")[0] in dict(sword.KJV_OT) for p in pairs)
    assert all(p["ref_b"].rsplit(".", 1)[0] == p["ref"].rsplit(".", 1)[0] for p in pairs)


def test_second_run_is_skipped(out):
    before = os.path.getmtime(out / "semcache" / "manifest.json")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "data", "build.py"),
                        "--out", str(out), "--only", "semcache", "--no-install"],
                       capture_output=True, text=True, check=True)
    assert "up to date" in r.stdout
    assert os.path.getmtime(out / "semcache" / "manifest.json") == before
