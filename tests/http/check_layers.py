#!/usr/bin/env python3
"""No call circle among the files of src/http/ (issue 10, "one file, one job").

  check_layers.py OBJDIR

Reads the symbols each src/http/*.o defines and uses (nm), draws an edge
A -> B when A uses a function or object B defines, and fails when the graph
has a cycle (printing it), so the handlers depend on the reply helpers and
never the other way round. Also fails when fewer than 10 objects are found
(the split undone, or the wrong directory)."""
import subprocess
import sys
import os
import glob


def syms(path):
    out = subprocess.run(["nm", "-P", path], capture_output=True, text=True, check=True).stdout
    d, u = set(), set()
    for line in out.splitlines():
        f = line.split()
        if len(f) < 2:
            continue
        name, kind = f[0], f[1]
        if kind == "U":
            u.add(name)
        elif kind in "TDBR":
            d.add(name)
    return d, u


def main():
    objs = sorted(glob.glob(os.path.join(sys.argv[1], "**", "src", "http", "http_*.o"), recursive=True))
    if len(objs) < 10:
        print("found %d objects of src/http under %s" % (len(objs), sys.argv[1]))
        return 1
    defs, uses = {}, {}
    for o in objs:
        n = os.path.basename(o).split(".")[0]
        defs[n], uses[n] = syms(o)
    owner = {s: n for n, ds in defs.items() for s in ds}
    edges = {n: sorted({owner[s] for s in uses[n] if s in owner and owner[s] != n}) for n in defs}
    # depth-first search for a cycle
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in edges[n]:
            if state.get(m) == 1:
                cyc = stack[stack.index(m):] + [m]
                print("call circle: " + " -> ".join(cyc))
                return True
            if not state.get(m) and visit(m):
                return True
        stack.pop()
        state[n] = 2
        return False

    for n in sorted(edges):
        if not state.get(n) and visit(n):
            return 1
    for n in sorted(edges):
        print("%s -> %s" % (n, ", ".join(edges[n]) or "-"))
    print("no call circle among %d files of src/http" % len(objs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
