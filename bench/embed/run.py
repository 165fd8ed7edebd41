#!/usr/bin/env python3
"""run.py - embeddings throughput and latency, ragd beside its peers, same texts.

Measures sentences/s at batch 1, 8, 32, 128 on short (~12 words) and long
(~120 words) texts for:
  ragd fp32 / ragd bf16  in-process C driver (build/embed_bench), tokenisation included
  onnxruntime            ONNX export (torch.onnx) of the same model, optimised with
                         onnxruntime.transformers (fused attention/LayerNorm/GELU),
                         intra_op threads = cores, all graph optimisations; fast
                         tokenizer + mean pooling + L2 in numpy included
  sentence-transformers  PyTorch CPU, torch threads = cores
then single-text latency p50/p99 (in-process), ragd's GFLOP/s against the
machine's peak, and optionally HTTP latency of a running ragd (--url).
Usage: bench/embed/run.sh [--seconds S] [--url http://127.0.0.1:8080]
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


def peak_gflops():
    """Peak = cores x clock x FMA units (2) x 16 FP32 lanes (AVX-512) x 2 flops;
    AMX BF16: cores x clock x 1024 flops/cycle (16x16x32 BF16 MACs per 16 cycles)."""
    mhz = 0.0
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("cpu MHz"):
                mhz = max(mhz, float(line.split(":")[1]))
    ghz = mhz / 1000 if mhz else 2.0
    return ghz, cores() * ghz * 2 * 16 * 2, cores() * ghz * 1024


def run_ragd(precision, path, seconds, batches):
    exe = os.path.join(ROOT, "build", "embed_bench")
    args = [exe, model_dir(), path, precision, str(seconds)] + [str(b) for b in batches] + ["latency"]
    res = {"tput": {}, "gflops": {}}
    for line in subprocess.run(args, check=True, capture_output=True, text=True).stdout.splitlines():
        j = json.loads(line)
        if j["kind"] == "throughput":
            res["tput"][j["batch"]] = j["sent_per_s"]
            res["gflops"][j["batch"]] = j["gflops"]
        elif j["kind"] == "latency":
            res["lat"] = (j["p50_ms"], j["p99_ms"])
        elif j["kind"] == "info":
            res["kernel"] = j["kernel"]
    return res


def timed(fn, texts, batch, seconds):
    fn(texts[:batch])  # warm-up
    done, at, t0 = 0, 0, time.perf_counter()
    while True:
        chunk = [texts[(at + i) % len(texts)] for i in range(batch)]
        at += batch
        fn(chunk)
        done += batch
        el = time.perf_counter() - t0
        if el >= seconds:
            return done / el


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


def http_latency(base_url, texts, n=300, model="all-MiniLM-L6-v2"):
    """p50/p99 ms of single-text POST {base_url}/v1/embeddings (keep-alive-less)."""
    url = base_url.rstrip("/") + "/v1/embeddings"
    lat = []
    for i in range(n + 10):
        body = json.dumps({"input": texts[i % len(texts)], "model": model}).encode()
        req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        t = time.perf_counter()
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()
        if i >= 10:
            lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    return lat[len(lat) // 2], lat[int(len(lat) * 0.99)]


def load_avg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--url", help="base URL of a running ragd for HTTP latency")
    a = ap.parse_args()
    mdir = model_dir()
    os.makedirs(OUT, exist_ok=True)
    sets = {"short": make_texts(12), "long": make_texts(120)}
    paths = {}
    for k, v in sets.items():
        paths[k] = os.path.join(OUT, k + ".txt")
        with open(paths[k], "w") as f:
            f.write("\n".join(v) + "\n")
    print("load average before: %s on %d cores" % (load_avg(), cores()), flush=True)
    res = {}
    for k in sets:
        for p in ("fp32", "bf16"):
            res[("ragd " + p, k)] = run_ragd(p, paths[k], a.seconds, BATCHES)
    ort_enc = ort_encoder(mdir)
    st_enc = st_encoder(mdir)
    for k, texts in sets.items():
        res[("onnxruntime", k)] = {"tput": {b: timed(ort_enc, texts, b, a.seconds) for b in BATCHES},
                                   "lat": latency(ort_enc, texts)}
        res[("sentence-transformers", k)] = {"tput": {b: timed(st_enc, texts, b, a.seconds) for b in BATCHES},
                                             "lat": latency(st_enc, texts)}
    ghz, peak32, peak_amx = peak_gflops()
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
    print("\nsingle-text latency in-process, ms (p50 / p99)")
    for k in sets:
        print("%-6s" % k + "".join("  %s %.2f / %.2f" % (s, *res[(s, k)]["lat"]) for s in systems))
    print("\nragd GFLOP/s (model FLOPs incl. attention) vs peak; peak = %d cores x %.2f GHz x "
          "2 FMA x 16 lanes x 2 = %.0f GFLOP/s FP32 (AVX-512), %.0f BF16 (AMX 1024 flop/cycle)"
          % (cores(), ghz, peak32, peak_amx))
    for k in sets:
        for p, peak in (("fp32", peak32), ("bf16", peak_amx)):
            g = res[("ragd " + p, k)]["gflops"]
            print("%-6s %s (%s): " % (k, p, res[("ragd " + p, k)].get("kernel", "?")) +
                  "  ".join("b%d %.0f (%.0f%%)" % (b, g[b], 100 * g[b] / peak) for b in BATCHES))
    if a.url:
        p50, p99 = http_latency(a.url, sets["short"])
        print("\nHTTP /v1/embeddings single short text: p50 %.2f ms, p99 %.2f ms" % (p50, p99))
    print("\nload average after: %s" % load_avg())


if __name__ == "__main__":
    sys.exit(main())
