#!/usr/bin/env python3
"""The dependency direction of docs/ARCHITECTURE.md, checked on the sources.

usage: layers.py SOURCE_DIR

base <- csv, schema <- job <- pg <- store <- engine <- http, watch, cli; base <- s3 <- source <- engine, s3 <- watch: a module may
include, directly or through the headers it includes (public ones of
include/sluice/ and private ones of src/), only what is below it. A quoted
include names a public header ("sluice/x.h", owned by the module that
implements it) or a private one ("module/x.h"). Fails listing each include
that points up, with the chain that reaches it.
"""
import os
import re
import sys

# the module each public header belongs to
PUBLIC = {"error.h": "base", "str.h": "base", "csv.h": "csv", "schema.h": "schema",
          "infer.h": "schema", "gen.h": "gen", "job.h": "job", "ingest.h": "engine",
          "records.h": "engine", "refeed.h": "engine", "serve.h": "http", "watch.h": "watch"}
# what each module may reach (itself included)
BELOW = {"base": {"base"}, "csv": {"base", "csv"}, "gen": {"base", "gen"},
         "schema": {"base", "csv", "schema"}, "job": {"base", "job"},
         "pg": {"base", "csv", "schema", "job", "pg"},
         "store": {"base", "csv", "schema", "job", "pg", "store", "engine:records.h"},
         "s3": {"base", "s3"},
         "source": {"base", "s3", "source"},
         "engine": {"base", "csv", "schema", "job", "pg", "store", "s3", "source", "engine"},
         # the drop-folder loop: beside http, on the engine's public API only
         "watch": {"base", "csv", "schema", "job", "s3", "engine:ingest.h", "watch"}}
INC = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def owner(inc):
    if inc.startswith("sluice/"):
        return PUBLIC.get(inc[len("sluice/"):], "?")
    return inc.split("/")[0] if "/" in inc else None


def path_of(src, inc, here):
    for p in (os.path.join(src, "include", inc), os.path.join(src, "src", inc), os.path.join(here, inc)):
        if os.path.isfile(p):
            return p
    return None


def main():
    src = sys.argv[1]
    bad, files = [], 0
    for mod, allowed in BELOW.items():
        d = os.path.join(src, "src", mod)
        for name in sorted(os.listdir(d)):
            if not name.endswith((".c", ".h")):
                continue
            files += 1
            todo, seen = [(os.path.join(d, name), [name])], set()
            while todo:
                f, chain = todo.pop()
                if f in seen:
                    continue
                seen.add(f)
                for inc in INC.findall(open(f, encoding="utf-8").read()):
                    o = owner(inc)
                    if o is not None and o not in allowed and "%s:%s" % (o, os.path.basename(inc)) not in allowed:
                        bad.append("%s: %s includes %s (module %s)" % (mod, " -> ".join(chain), inc, o))
                        continue
                    p = path_of(src, inc, os.path.dirname(f))
                    if p:
                        todo.append((p, chain + [inc]))
    if files < 20:
        sys.exit("layers: only %d files read under %s/src" % (files, src))
    for b in bad:
        print("layers: " + b)
    print("layers: %d files, %d includes pointing up" % (files, len(bad)))
    return 1 if bad else 0


sys.exit(main())
