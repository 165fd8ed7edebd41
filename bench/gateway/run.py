#!/usr/bin/env python3
"""bench/gateway: latency ragd adds in front of an LLM upstream, beside LiteLLM proxy.

One run, same machine, same fake OpenAI-compatible upstream (tests/e2e/fake_upstream.py
in its own process): wrk sends chat completions one at a time (-c1) for a few seconds
to (1) the upstream directly, (2) ragd with every request new (misses), (3) ragd with
one repeated request (hits), and the same two shapes to (4, 5) LiteLLM proxy with its
in-memory cache on. Added latency on a miss = proxy p50/p99 - direct p50/p99; a hit is
reported as total latency. Prints a table with the ratios.
Usage: bench/gateway/run.py [--duration 5]   (LiteLLM from .venv-bench, see
bench/requirements-gateway.txt)
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
import socket

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.dirname(os.path.abspath(__file__))
RAGD = os.environ.get("RAGD_BIN", os.path.join(ROOT, "build", "ragd"))
VENV_BENCH = os.path.join(ROOT, ".venv-bench", "bin")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=90):
    end = time.time() + timeout
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except urllib.error.HTTPError:
            return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError("no answer from " + url)


def to_ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    x = float(m.group(1))
    return {"us": x / 1000, "ms": x, "s": x * 1000}[m.group(2)]


def wrk(url, mode, duration, model="fake-model"):
    env = dict(os.environ, MODE=mode, PREFIX=f"{mode}-{time.time_ns()}", MODEL=model)
    out = subprocess.run(["wrk", "-t1", "-c1", f"-d{duration}s", "--latency", "-s",
                          os.path.join(HERE, "body.lua"), url],
                         capture_output=True, text=True, env=env, check=True).stdout
    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    n = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"p50": to_ms(lat["50"]), "p99": to_ms(lat["99"]), "n": n,
            "errors": int(bad.group(1)) if bad else 0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=5)
    args = ap.parse_args()
    procs, tmp = [], tempfile.mkdtemp(prefix="ragd-bench-gw-")
    try:
        up_port = free_port()
        procs.append(subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "e2e",
                                       "fake_upstream.py"), str(up_port)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        up = f"http://127.0.0.1:{up_port}/v1"
        wait_http(up + "/models")

        rp = free_port()
        env = dict(os.environ, RAGD_LOG_LEVEL="error", RAGD_UPSTREAM_URL=up)
        procs.append(subprocess.Popen([RAGD, "serve", "--listen", f"127.0.0.1:{rp}",
                                       "--data-dir", os.path.join(tmp, "ragd")], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_http(f"http://127.0.0.1:{rp}/health")

        lp, litellm = free_port(), os.path.join(VENV_BENCH, "litellm")
        have_litellm = os.path.exists(litellm)
        if have_litellm:
            cfg = os.path.join(tmp, "litellm.yaml")
            with open(cfg, "w") as f:
                f.write(f"""model_list:
  - model_name: fake-model
    litellm_params:
      model: openai/fake-model
      api_base: {up}
      api_key: sk-fake
litellm_settings:
  cache: true
  cache_params:
    type: local
""")
            procs.append(subprocess.Popen([litellm, "--config", cfg, "--port", str(lp),
                                           "--host", "127.0.0.1", "--num_workers", "1"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          env=dict(os.environ, LITELLM_LOG="ERROR")))
            wait_http(f"http://127.0.0.1:{lp}/health/liveliness")

        d = args.duration
        direct = wrk(up + "/chat/completions", "miss", d)
        rows = {"direct": direct}
        rows["ragd miss"] = wrk(f"http://127.0.0.1:{rp}/v1/chat/completions", "miss", d)
        wrk(f"http://127.0.0.1:{rp}/v1/chat/completions", "hit", 1)
        rows["ragd hit"] = wrk(f"http://127.0.0.1:{rp}/v1/chat/completions", "hit", d)
        if have_litellm:
            rows["litellm miss"] = wrk(f"http://127.0.0.1:{lp}/v1/chat/completions", "miss", d)
            wrk(f"http://127.0.0.1:{lp}/v1/chat/completions", "hit", 1)
            rows["litellm hit"] = wrk(f"http://127.0.0.1:{lp}/v1/chat/completions", "hit", d)

        print(f"{'target':<14}{'requests':>10}{'errors':>8}{'p50 ms':>10}{'p99 ms':>10}"
              f"{'added p50':>11}{'added p99':>11}")
        for name, r in rows.items():
            add50 = add99 = ""
            if "miss" in name:
                add50 = f"{r['p50'] - direct['p50']:.3f}"
                add99 = f"{r['p99'] - direct['p99']:.3f}"
            print(f"{name:<14}{r['n']:>10}{r['errors']:>8}{r['p50']:>10.3f}{r['p99']:>10.3f}"
                  f"{add50:>11}{add99:>11}")
        rm = rows["ragd miss"]["p50"] - direct["p50"]
        print(f"\nragd: hit p50 {rows['ragd hit']['p50']:.3f} ms (goal <= 0.3), "
              f"miss overhead p50 {rm:.3f} ms (goal <= 0.5)")
        if have_litellm:
            lm = rows["litellm miss"]["p50"] - direct["p50"]
            print(f"LiteLLM / ragd added latency on a miss (p50): {lm / max(rm, 1e-3):.1f}x "
                  f"(goal >= 20x)")
            print(f"LiteLLM / ragd hit latency (p50): "
                  f"{rows['litellm hit']['p50'] / rows['ragd hit']['p50']:.1f}x")
        else:
            print("LiteLLM not installed: python3 -m venv .venv-bench && "
                  ".venv-bench/bin/pip install -r bench/requirements-gateway.txt")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
