#!/usr/bin/env python3
"""Builds ragd's evaluation data sets from installed Debian packages (stdlib only).

  naves/     WEB verses + Nave's Topical Bible topics as queries  (retrieval, many relevant)
  gcide/     GCIDE entries + WordNet glosses as queries            (retrieval, one relevant)
  semcache/  WEB/KJV verse pairs, paraphrase or neighbouring verse (semantic cache)

Installs the packages with apt-get when missing, writes into bench/data/out/ (or --out) and
skips a set whose outputs exist for the same inputs and options unless --force. See README.md.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import gcide  # noqa: E402
import naves  # noqa: E402
import semcache  # noqa: E402
import wordnet  # noqa: E402

PACKAGES = {
    "naves": ["sword-text-web", "sword-dict-naves", "wordnet-base"],
    "gcide": ["dict-gcide", "wordnet-base"],
    "semcache": ["sword-text-web", "sword-text-kjv"],
}
SETS = ("naves", "gcide", "semcache")
MODULES = ("build.py", "sword.py", "wordnet.py", "naves.py", "gcide.py", "semcache.py")


def log(msg):
    print(msg, flush=True)


def package_versions(pkgs):
    """{package: installed version or None}."""
    out = {}
    for p in pkgs:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}\t${Version}", p],
                           capture_output=True, text=True)
        status, _, version = r.stdout.partition("\t")
        out[p] = version if r.returncode == 0 and status.endswith(" installed") else None
    return out


def ensure_packages(pkgs):
    """Install missing packages with apt-get (running `apt-get update` first only if the
    first attempt fails, e.g. because the package lists are absent)."""
    missing = [p for p, v in package_versions(pkgs).items() if v is None]
    if not missing:
        return
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    cmd = prefix + ["apt-get", "install", "-y", "--no-install-recommends"] + missing
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log("installing: " + " ".join(missing))
    if subprocess.run(cmd, env=env).returncode != 0:
        log("apt-get install failed; running apt-get update and retrying")
        subprocess.run(prefix + ["apt-get", "update"], env=env, check=True)
        subprocess.run(cmd, env=env, check=True)
    still = [p for p, v in package_versions(missing).items() if v is None]
    if still:
        raise SystemExit("packages still missing after apt-get: " + " ".join(still))


def code_digest():
    """SHA-256 of this script's modules: outputs are rebuilt when the code changes."""
    h = hashlib.sha256()
    for name in MODULES:
        with open(os.path.join(HERE, name), "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def write_qrels(path, qrels):
    with open(path, "w", encoding="utf-8") as f:
        for q, d in qrels:
            if "\t" in q + d or "\n" in q + d:
                raise ValueError("tab or newline in id %r / %r" % (q, d))
            f.write("%s\t%s\t1\n" % (q, d))


def _check_ids(rows, what):
    ids = [r["id"] for r in rows]
    if len(ids) != len(set(ids)):
        raise ValueError("duplicate %s ids" % what)


class Builder:
    def __init__(self, args):
        self.args = args
        self._wordnet = None

    def wordnet(self):
        if self._wordnet is None:
            self._wordnet = wordnet.WordNet()
        return self._wordnet

    def options(self, name):
        a = self.args
        return {"naves": {"max_relevant": a.naves_max_relevant},
                "gcide": {"queries": a.gcide_queries, "seed": a.seed},
                "semcache": {}}[name]

    def run(self, name):
        out = os.path.join(self.args.out, name)
        manifest_path = os.path.join(out, "manifest.json")
        inputs = package_versions(PACKAGES[name])
        want = {"set": name, "packages": inputs, "options": self.options(name),
                "code": code_digest()}
        if not self.args.force and os.path.exists(manifest_path):
            with open(manifest_path, encoding="utf-8") as f:
                have = json.load(f)
            if all(have.get(k) == v for k, v in want.items()):
                log("%s: up to date in %s (use --force to rebuild)" % (name, out))
                return have
        t0 = time.time()
        tmp = out + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        stats = getattr(self, "build_" + name)(tmp)
        want["stats"] = stats
        want["seconds"] = round(time.time() - t0, 1)
        with open(os.path.join(tmp, "manifest.json"), "w", encoding="utf-8") as f:
            json.dump(want, f, indent=1, ensure_ascii=False)
        shutil.rmtree(out, ignore_errors=True)
        os.rename(tmp, out)
        log("%s: built in %.1fs -> %s" % (name, want["seconds"], out))
        return want

    def build_naves(self, out):
        docs, queries, qrels, stats = naves.build(
            self.wordnet(), max_relevant=self.args.naves_max_relevant)
        return self._write_retrieval(out, docs, queries, qrels, stats)

    def build_gcide(self, out):
        docs, queries, qrels, stats = gcide.build(
            self.wordnet(), n_queries=self.args.gcide_queries, seed=self.args.seed)
        return self._write_retrieval(out, docs, queries, qrels, stats)

    def build_semcache(self, out):
        pairs, stats = semcache.build()
        _check_ids(pairs, "pair")
        write_jsonl(os.path.join(out, "pairs.jsonl"), pairs)
        stats["pairs"] = len(pairs)
        return stats

    @staticmethod
    def _write_retrieval(out, docs, queries, qrels, stats):
        _check_ids(docs, "document")
        _check_ids(queries, "query")
        doc_ids = {d["id"] for d in docs}
        assert all(d in doc_ids for _, d in qrels), "qrel to a document outside the corpus"
        write_jsonl(os.path.join(out, "corpus.jsonl"), docs)
        write_jsonl(os.path.join(out, "queries.jsonl"), queries)
        write_qrels(os.path.join(out, "qrels.tsv"), qrels)
        stats.update(docs=len(docs), queries=len(queries), qrels=len(qrels))
        return stats


def print_summary(results):
    log("")
    log("%-9s %9s %8s %8s  %s" % ("set", "docs", "queries", "qrels", "drops / notes"))
    for name, m in results.items():
        s = m["stats"]
        if name == "semcache":
            notes = ("positives %d, negatives %d; dropped: repeated %d, misaligned %d, "
                     "length %d, empty %d, chapter-marker %d"
                     % (s["positives"], s["negatives"], s["verses_repeated"],
                        s["verses_misaligned"], s["verses_length_mismatch"], s["verses_empty"],
                        s["chapters_marker_mismatch"]))
            log("%-9s %9s %8s %8s  %s" % (name, "-", "-", "%d pairs" % s["pairs"], notes))
            continue
        if name == "naves":
            notes = ("topics %d, dropped as names %d, without refs %d, queries over %d "
                     "relevant %d, refs %d (unresolved %d, not in corpus %d)"
                     % (s["topics"], s["topics_dropped_names"], s["topics_without_refs"],
                        m["options"]["max_relevant"], s["queries_over_max_relevant"],
                        s["refs"], s["refs_unresolved"], s["verses_not_in_corpus"]))
        else:
            notes = ("records %d, WordNet-only dropped %d, WordNet chunks cut %d, empty %d; "
                     "candidate glosses %d (POS mismatch %d, too short %d)"
                     % (s["records"], s["entries_wordnet_only"],
                        s["entries_wordnet_chunks_cut"], s["entries_empty"],
                        s["candidate_glosses"], s["glosses_pos_mismatch"],
                        s["glosses_too_short"]))
        log("%-9s %9d %8d %8d  %s" % (name, s["docs"], s["queries"], s["qrels"], notes))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "out"), help="output directory")
    ap.add_argument("--force", action="store_true", help="rebuild even if outputs exist")
    ap.add_argument("--only", default=",".join(SETS), help="comma-separated subset of sets")
    ap.add_argument("--no-install", action="store_true", help="never call apt-get")
    ap.add_argument("--gcide-queries", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=13, help="seed of the gloss sample")
    ap.add_argument("--naves-max-relevant", type=int, default=200,
                    help="drop Nave's queries citing more verses than this (0: keep all)")
    args = ap.parse_args(argv)
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in SETS]
    if unknown:
        ap.error("unknown set(s): " + ", ".join(unknown))
    pkgs = sorted({p for s in wanted for p in PACKAGES[s]})
    if args.no_install:
        missing = [p for p, v in package_versions(pkgs).items() if v is None]
        if missing:
            raise SystemExit("missing packages: " + " ".join(missing))
    else:
        ensure_packages(pkgs)
    os.makedirs(args.out, exist_ok=True)
    b = Builder(args)
    results = {name: b.run(name) for name in wanted}
    print_summary(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
