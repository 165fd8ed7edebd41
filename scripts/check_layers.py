#!/usr/bin/env python3
"""check_layers.py - calls between ragd's source files must run one way.

Reads the symbols of every object file built from src/ (nm on the build
directory's objects, by default build-debug), links each undefined symbol to
the file that defines it, and fails if the "uses" graph has a cycle: two .c
files that call each other, or a longer loop (a -> b -> c -> a). Each file may
use only files below it, as docs/ARCHITECTURE.md draws per module.

Usage: scripts/check_layers.py [BUILD_DIR]     (exit 0 = no cycle, 1 = cycles,
                                                2 = nothing to check)
"""
import collections
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFINED = set("TDBRVWGSC")  # nm -P types of symbols an object defines


def objects(build):
    """(source path relative to src/, object path) of every src/ object that
    still has its source (objects of deleted files linger in a build tree)."""
    base = os.path.join(build, "CMakeFiles", "ragd_core.dir", "src")
    for d, _, files in os.walk(base):
        for f in files:
            if not f.endswith(".c.o"):
                continue
            obj = os.path.join(d, f)
            src = os.path.relpath(obj, base)[: -len(".o")]
            if os.path.exists(os.path.join(ROOT, "src", src)):
                yield src, obj


def symbols(objs):
    """defs: symbol -> file; uses: file -> undefined symbols."""
    defs, uses = {}, collections.defaultdict(set)
    for src, obj in objs:
        out = subprocess.run(["nm", "-P", obj], capture_output=True, text=True, check=True)
        for line in out.stdout.splitlines():
            f = line.split()
            if len(f) < 2:
                continue
            if f[1] == "U":
                uses[src].add(f[0])
            elif f[1] in DEFINED:
                defs[f[0]] = src
    return defs, uses


def graph(defs, uses):
    """file -> {used file: [symbols]}"""
    g = collections.defaultdict(lambda: collections.defaultdict(list))
    for a, syms in uses.items():
        for s in sorted(syms):
            b = defs.get(s)
            if b and b != a:
                g[a][b].append(s)
    return g


def cycles(g, nodes):
    """Strongly connected components of more than one file (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        work = [(v, iter(sorted(g[v])))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]
                    counter[0] += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(g[nxt]))))
                elif nxt in on:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build-debug")
    objs = list(objects(build))
    if not objs:
        print(f"check_layers: no object files under {build} (build first)", file=sys.stderr)
        return 2
    defs, uses = symbols(objs)
    g = graph(defs, uses)
    bad = cycles(g, [s for s, _ in objs])
    if not bad:
        print(f"check_layers: {len(objs)} files, calls run one way")
        return 0
    for comp in bad:
        print("check_layers: these files call each other in a loop:", " ".join(comp))
        members = set(comp)
        for a in comp:
            for b, syms in sorted(g[a].items()):
                if b in members:
                    print(f"  {a} -> {b}: {', '.join(syms)}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
