#!/usr/bin/env python3
"""run.py - embeddings throughput and latency, ragd beside its peers, same texts.

First an ingestion row: chunks/s on real ~200-word-piece chunks (World English Bible
verses from bench/data, packed per chapter) at batch 64 for ragd's default (precision
chosen by measurement), FP32, BF16 on AMX and BF16 on AVX512-BF16 (AMX hidden with
RAGD_CPU=avx512), beside onnxruntime and sentence-transformers, with each ragd path's
GFLOP/s against that path's measured peak (build/peak_bench). Then sentences/s at batch
1, 8, 32, 128 on short (~12 words) and long (~120 words) texts for:
  ragd fp32 / ragd bf16  in-process C driver (build/embed_bench), tokenisation included
  onnxruntime            ONNX export (torch.onnx) of the same model, optimised with
                         onnxruntime.transformers (fused attention/LayerNorm/GELU),
                         intra_op threads = cores, all graph optimisations; fast
                         tokenizer + mean pooling + L2 in numpy included
  sentence-transformers  PyTorch CPU, torch threads = cores
then single-text latency p50/p99 (in-process), ragd's GFLOP/s against the
machine's peak, and optionally HTTP latency of a running ragd (--url): OpenAI's
/v1/embeddings beside TEI's /embed, same texts, interleaved (--http-only for just that,
with any python3: `python3 bench/embed/run.py --http-only --url URL`).
Usage: bench/embed/run.sh [--seconds S] [--rounds N] [--ingest-only] [--url URL] [--http-only]
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "bench", "out", "embed")
BATCHES = [1, 8, 32, 128]
WORDS = ("protein muscle recovery sleep training squat deadlift bench press cardio interval "
         "tempo fatigue injury shoulder knee hip mobility stretch nutrition carbohydrate fat "
         "calorie deficit surplus hypertrophy strength endurance marathon sprint rowing cycling "
         "swimming yoga job engineer python developer remote salary experience team product "
         "manager cache latency throughput server request response token embedding vector "
         "search the a an of to in for with on at by from and or but not is are was were").split()


def model_dir():
    if os.environ.get("RAGD_MODEL_DIR"):
        return os.environ["RAGD_MODEL_DIR"]
    cache = os.environ.get("RAGD_MODEL_CACHE", os.path.expanduser("~/.cache/ragd/models"))
    return os.path.join(cache, "all-MiniLM-L6-v2")


def make_texts(words, n=512, seed=7):
    rng = random.Random(seed + words)
    out = []
    for _ in range(n):
        s = " ".join(rng.choice(WORDS) for _ in range(words))
        out.append(s[0].upper() + s[1:] + ".")
    return out


def cores():
    return os.cpu_count() or 1


KERNEL_PEAK = {"avx512": "fp32", "portable": "fp32", "avx512-bf16": "bf16-avx512",
               "amx-bf16": "bf16-amx"}


def measured_peaks():
    """Per path, the machine's peak measured by build/peak_bench: the clock from a chain of
    dependent adds, then the throughput of the instruction the path is built on (vfmadd231ps,
    vdpbf16ps, vpdpbusd zmm; AMX tdpbf16ps, tdpbusd) per core in thread CPU time, x cores.
    Returns (clock GHz, {path: peak GFLOP/s}, {path: flops per cycle per core})."""
    out = subprocess.run([os.path.join(ROOT, "build", "peak_bench")], check=True,
                         capture_output=True, text=True).stdout
    ghz, peak, per_cycle = 0.0, {}, {}
    for line in out.splitlines():
        j = json.loads(line)
        if j["path"] == "clock":
            ghz = j["ghz"]
        else:
            peak[j["path"]] = j["peak_gflops"]
            per_cycle[j["path"]] = j["ops_per_cycle_per_core"]
    return ghz, peak, per_cycle


def print_peaks(ghz, peak, per_cycle):
    print("\nmeasured peak per path (peak_bench): %d cores x %.2f GHz (scalar clock) x flops/cycle/core"
          % (cores(), ghz))
    for path, g in peak.items():
        print("  %-12s %6.1f flops/cycle/core  %8.0f GFLOP/s" % (path, per_cycle[path], g))


def run_ragd(precision, path, seconds, batches, res=None, env=None):
    exe = os.path.join(ROOT, "build", "embed_bench")
    args = [exe, model_dir(), path, precision, str(seconds)] + [str(b) for b in batches]
    res = res if res is not None else {"tput": {}, "cpu": {}, "gflops": {}}
    run_env = dict(os.environ, **(env or {}))
    for line in subprocess.run(args, check=True, capture_output=True, text=True,
                               env=run_env).stdout.splitlines():
        j = json.loads(line)
        if j["kind"] == "throughput":
            res["tput"][j["batch"]] = max(j["sent_per_s"], res["tput"].get(j["batch"], 0))
            res["cpu"][j["batch"]] = max(j["sent_per_cpu_s"], res["cpu"].get(j["batch"], 0))
            res["gflops"][j["batch"]] = max(j["gflops"], res["gflops"].get(j["batch"], 0))
        elif j["kind"] == "latency":
            res["lat"] = (j["p50_ms"], j["p99_ms"])
        elif j["kind"] == "info":
            res["kernel"], res["precision"] = j["kernel"], j["precision"]
    return res


INGEST_BATCH = 64
INGEST_PIECES = 200


def ingest_chunks(n=512):
    """Real chunk texts: consecutive verses of the World English Bible (bench/data's naves
    corpus), packed per chapter up to 200 word pieces by the model's own tokenizer, as a
    knowledge base's chunker cuts a document; n chunks taken evenly over the whole Bible."""
    from transformers import AutoTokenizer
    path = os.path.join(ROOT, "bench", "data", "out", "naves", "corpus.jsonl")
    if not os.path.exists(path):
        raise SystemExit("no %s: run `python3 bench/data/build.py --only naves` first" % path)
    with open(path, encoding="utf-8") as f:
        verses = [json.loads(line) for line in f]
    tok = AutoTokenizer.from_pretrained(model_dir())
    counts = [len(ids) for ids in tok([v["text"] for v in verses], add_special_tokens=False)["input_ids"]]
    chunks, cur, cur_n, chap = [], [], 0, None
    for v, k in zip(verses, counts):
        key = (v["book"], v["chapter"])
        if cur and (key != chap or cur_n + k > INGEST_PIECES):
            chunks.append(" ".join(cur))
            cur, cur_n = [], 0
        chap = key
        cur.append(v["text"].replace("\n", " "))
        cur_n += k
    if cur:
        chunks.append(" ".join(cur))
    step = max(1, len(chunks) // n)
    picked = chunks[::step][:n]
    pieces = [len(ids) for ids in tok(picked, add_special_tokens=False)["input_ids"]]
    return picked, statistics.mean(pieces)


# (label, precision, environment): ragd's rows of the ingestion benchmark
INGEST_RAGD = [("ragd default", "auto", {}), ("ragd fp32", "fp32", {}),
               ("ragd bf16 amx", "bf16", {}), ("ragd bf16 avx512", "bf16", {"RAGD_CPU": "avx512"})]


def ingest_bench(seconds, rounds, peers, peaks):
    """Chunks/s of each system on the same real chunks, batch INGEST_BATCH, interleaved in
    `rounds` rounds (best round kept, so a burst of other load does not decide)."""
    chunks, mean_pieces = ingest_chunks()
    path = os.path.join(OUT, "ingest.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(chunks) + "\n")
    res = {label: {"tput": {}, "cpu": {}, "gflops": {}} for label, _, _ in INGEST_RAGD}
    for name in peers:
        res[name] = {"tput": {}, "cpu": {}}
    b = INGEST_BATCH
    for _ in range(rounds):
        for label, prec, env in INGEST_RAGD:
            run_ragd(prec, path, seconds, [b], res[label], env)
        for name, fn in peers.items():
            w, c = timed(fn, chunks, b, seconds)
            res[name]["tput"][b] = max(w, res[name]["tput"].get(b, 0))
            res[name]["cpu"][b] = max(c, res[name]["cpu"].get(b, 0))
    ort = res.get("onnxruntime")
    print("\ningestion: %d real chunks (World English Bible, mean %.0f word pieces), batch %d"
          % (len(chunks), mean_pieces, b))
    print("GFLOP/s (%% of the path's measured peak): per wall second against the %d cores' peak,"
          " and per CPU-second against one core's (fairer on a shared machine)" % cores())
    print("%-22s %-12s %10s %12s %9s %9s %14s %16s" % (
        "system", "kernel", "chunks/s", "chunks/cpu-s", "x ort", "x ort cpu", "GFLOP/s wall",
        "GFLOP/cpu-s"))
    for label, r in res.items():
        kern = r.get("kernel", "")  # what actually ran (BF16 falls back to FP32 without it)
        xo = r["tput"][b] / ort["tput"][b] if ort else float("nan")
        xc = r["cpu"][b] / ort["cpu"][b] if ort else float("nan")
        gf = gc = ""
        if "gflops" in r and kern in KERNEL_PEAK and KERNEL_PEAK[kern] in peaks:
            g, peak = r["gflops"][b], peaks[KERNEL_PEAK[kern]]
            g_cpu = g * r["cpu"][b] / r["tput"][b]  # flops per CPU-second
            gf = "%.0f (%.0f%%)" % (g, 100 * g / peak)
            gc = "%.0f (%.0f%%)" % (g_cpu, 100 * g_cpu / (peak / cores()))
        name = label + (" (%s)" % r["precision"] if label == "ragd default" else "")
        print("%-22s %-12s %10.1f %12.1f %9.2f %9.2f %14s %16s" % (
            name, kern, r["tput"][b], r["cpu"][b], xo, xc, gf, gc))
    return res


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "?"


def run_ragd_latency(precision, path):
    exe = os.path.join(ROOT, "build", "embed_bench")
    out = subprocess.run([exe, model_dir(), path, precision, "0", "latency"], check=True,
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        j = json.loads(line)
        if j["kind"] == "latency":
            return j["p50_ms"], j["p99_ms"]


def timed(fn, texts, batch, seconds):
    """(sentences per wall second, sentences per CPU second of this process)."""
    fn(texts[:batch])  # warm-up
    done, at, t0, c0 = 0, 0, time.perf_counter(), time.process_time()
    while True:
        chunk = [texts[(at + i) % len(texts)] for i in range(batch)]
        at += batch
        fn(chunk)
        done += batch
        el = time.perf_counter() - t0
        if el >= seconds:
            return done / el, done / max(time.process_time() - c0, 1e-9)


def latency(fn, texts, n=300, max_seconds=10.0):
    """p50/p99 ms of single-text calls: n calls, or fewer if they take max_seconds."""
    lat = []
    t_end = time.perf_counter() + max_seconds
    for i in range(n + 3):
        t = time.perf_counter()
        fn([texts[i % len(texts)]])
        if i >= 3:
            lat.append((time.perf_counter() - t) * 1000)
        if t > t_end and len(lat) >= 20:
            break
    lat.sort()
    return lat[len(lat) // 2], lat[int(len(lat) * 0.99)]


def export_onnx(mdir):
    """ONNX export of the BERT encoder, then onnxruntime's transformer fusions."""
    import torch
    from transformers import AutoModel
    os.makedirs(OUT, exist_ok=True)
    raw = os.path.join(OUT, "minilm.onnx")
    opt = os.path.join(OUT, "minilm-opt.onnx")
    if os.path.exists(opt):
        return opt
    model = AutoModel.from_pretrained(mdir).eval()
    ids = torch.ones(2, 16, dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(model, (ids, ids, torch.zeros_like(ids)), raw,
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["last_hidden_state"],
                          dynamic_axes={k: {0: "b", 1: "s"} for k in
                                        ["input_ids", "attention_mask", "token_type_ids",
                                         "last_hidden_state"]},
                          opset_version=17, do_constant_folding=True)
    from onnxruntime.transformers import optimizer
    m = optimizer.optimize_model(raw, model_type="bert", num_heads=12, hidden_size=384)
    m.save_model_to_file(opt)
    return opt


def ort_encoder(mdir):
    import numpy as np
    import onnxruntime as ort
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(mdir)
    so = ort.SessionOptions()
    so.intra_op_num_threads = cores()
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(export_onnx(mdir), so, providers=["CPUExecutionProvider"])

    def enc(texts):
        t = tok(texts, padding=True, truncation=True, max_length=256, return_tensors="np")
        feed = {"input_ids": t["input_ids"].astype(np.int64),
                "attention_mask": t["attention_mask"].astype(np.int64),
                "token_type_ids": t["token_type_ids"].astype(np.int64)}
        h = sess.run(None, feed)[0]
        m = feed["attention_mask"][..., None].astype(np.float32)
        v = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return v / np.linalg.norm(v, axis=1, keepdims=True)
    return enc


def st_encoder(mdir):
    import torch
    from sentence_transformers import SentenceTransformer
    torch.set_num_threads(cores())
    model = SentenceTransformer(mdir, device="cpu")
    return lambda texts: model.encode(texts, batch_size=len(texts), show_progress_bar=False)


HTTP_ROUTES = {  # route -> body for one text, the same texts through each dialect
    "/v1/embeddings": lambda text, model: {"input": text, "model": model},
    "/embed": lambda text, model: {"inputs": text},
}


def _post_ms(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()
    return (time.perf_counter() - t) * 1000


def http_latency(base_url, texts, n=300, model="all-MiniLM-L6-v2"):
    """p50/p99 ms per route of single-text POSTs (a new connection each), OpenAI's
    /v1/embeddings and TEI's /embed interleaved (order alternating) so both see the same
    load. Each text is made unique per request and route, with suffixes of one length,
    so every request computes (no embedding-cache hits) the same amount of text."""
    lat = {route: [] for route in HTTP_ROUTES}
    routes = list(HTTP_ROUTES)
    for i in range(n + 10):
        for j, route in enumerate(routes if i % 2 == 0 else routes[::-1]):
            text = f"{texts[i % len(texts)]} (request {i} {time.time_ns()} {j})"
            ms = _post_ms(base_url.rstrip("/") + route, HTTP_ROUTES[route](text, model))
            if i >= 10:
                lat[route].append(ms)
    out = {}
    for route, v in lat.items():
        v.sort()
        out[route] = (v[len(v) // 2], v[int(len(v) * 0.99)])
    return out


def print_http(base_url, texts, n):
    res = http_latency(base_url, texts, n)
    print("\nHTTP single short text, ms (p50 / p99), %d requests per route:" % n)
    for route, (p50, p99) in res.items():
        print("  %-15s %.2f / %.2f" % (route, p50, p99))
    (a50, a99), (b50, b99) = res["/v1/embeddings"], res["/embed"]
    print("  /embed vs /v1/embeddings: p50 %+.1f%%, p99 %+.1f%%"
          % (100 * (b50 / a50 - 1), 100 * (b99 / a99 - 1)))


def load_avg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--url", help="base URL of a running ragd for HTTP latency")
    ap.add_argument("--http-only", action="store_true",
                    help="only the HTTP latency of --url (/v1/embeddings beside /embed); "
                         "needs no benchmark venv")
    ap.add_argument("--requests", type=int, default=300, help="HTTP requests per route")
    ap.add_argument("--ingest-only", action="store_true",
                    help="only the ingestion row (real ~200-piece chunks) and the peaks")
    ap.add_argument("--rounds", type=int, default=2, help="ingestion rounds (best kept)")
    a = ap.parse_args()
    if a.http_only:
        if not a.url:
            ap.error("--http-only needs --url")
        print("load average before: %s on %d cores" % (load_avg(), cores()), flush=True)
        print_http(a.url, make_texts(12), a.requests)
        print("\nload average after: %s" % load_avg())
        return 0
    mdir = model_dir()
    os.makedirs(OUT, exist_ok=True)
    sets = {"short": make_texts(12), "long": make_texts(120)}
    paths = {}
    for k, v in sets.items():
        paths[k] = os.path.join(OUT, k + ".txt")
        with open(paths[k], "w") as f:
            f.write("\n".join(v) + "\n")
    print("%s; load average before: %s on %d cores" % (cpu_model(), load_avg(), cores()),
          flush=True)
    res = {}
    ort_enc = ort_encoder(mdir)
    st_enc = st_encoder(mdir)
    peers = {"onnxruntime": ort_enc, "sentence-transformers": st_enc}
    ghz, peaks, per_cycle = measured_peaks()
    print_peaks(ghz, peaks, per_cycle)
    ingest_bench(a.seconds, a.rounds, peers, peaks)
    if a.ingest_only:
        print("\nload average after: %s" % load_avg())
        return 0
    # interleaved per (texts, batch), so every system sees the same machine load
    for k, texts in sets.items():
        for s in ("ragd fp32", "ragd bf16", *peers):
            res[(s, k)] = {"tput": {}, "cpu": {}, "gflops": {}}
        for b in BATCHES:
            for p in ("fp32", "bf16"):
                run_ragd(p, paths[k], a.seconds, [b], res[("ragd " + p, k)])
            for name, fn in peers.items():
                res[(name, k)]["tput"][b], res[(name, k)]["cpu"][b] = timed(fn, texts, b, a.seconds)
        for p in ("fp32", "bf16"):
            res[("ragd " + p, k)]["lat"] = run_ragd_latency(p, paths[k])
        for name, fn in peers.items():
            res[(name, k)]["lat"] = latency(fn, texts)
    systems = ["ragd fp32", "ragd bf16", "onnxruntime", "sentence-transformers"]
    print("\nsentences/s (higher is better); ratios = ragd / peer")
    hdr = "%-6s %5s" % ("texts", "batch") + "".join("%13s" % s[:13] for s in systems) + \
          "  fp32/ort bf16/ort fp32/st bf16/st"
    print(hdr)
    for k in sets:
        for b in BATCHES:
            v = [res[(s, k)]["tput"][b] for s in systems]
            print("%-6s %5d" % (k, b) + "".join("%13.1f" % x for x in v) +
                  "  %8.2f %8.2f %7.2f %7.2f" % (v[0] / v[2], v[1] / v[2], v[0] / v[3], v[1] / v[3]))
    print("\nsentences per CPU-second of each system's process (less sensitive to other load)")
    print(hdr)
    for k in sets:
        for b in BATCHES:
            v = [res[(s, k)]["cpu"][b] for s in systems]
            print("%-6s %5d" % (k, b) + "".join("%13.1f" % x for x in v) +
                  "  %8.2f %8.2f %7.2f %7.2f" % (v[0] / v[2], v[1] / v[2], v[0] / v[3], v[1] / v[3]))
    print("\nsingle-text latency in-process, ms (p50 / p99)")
    for k in sets:
        print("%-6s" % k + "".join("  %s %.2f / %.2f" % (s, *res[(s, k)]["lat"]) for s in systems))
    print("\nragd GFLOP/s (model FLOPs incl. attention) vs the measured peak of the kernel's path")
    for k in sets:
        for p in ("fp32", "bf16"):
            r = res[("ragd " + p, k)]
            peak = peaks.get(KERNEL_PEAK.get(r.get("kernel"), ""), float("nan"))
            g = r["gflops"]
            print("%-6s %s (%s): " % (k, p, r.get("kernel", "?")) +
                  "  ".join("b%d %.0f (%.0f%%)" % (b, g[b], 100 * g[b] / peak) for b in BATCHES))
    if a.url:
        print_http(a.url, sets["short"], a.requests)
    print("\nload average after: %s" % load_avg())


if __name__ == "__main__":
    sys.exit(main())
