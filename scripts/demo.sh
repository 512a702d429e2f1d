#!/usr/bin/env bash
# `make demo`: the main job on the embedded default. Until `sluice ingest`
# exists this is: generate a sample of call detail records with bad rows,
# then check it in parallel and show where the bad rows are.
set -euo pipefail
cd "$(dirname "$0")/.."
S=build/sluice
mkdir -p demo
echo "== sluice gen cdr --rows 1000000 --error-rate 0.01 -o demo/cdr.csv"
$S gen cdr --rows 1000000 --error-rate 0.01 --seed 42 --manifest demo/cdr.manifest.tsv -o demo/cdr.csv
echo
echo "== sluice csv check demo/cdr.csv"
$S csv check demo/cdr.csv || true # exit 3: some records have errors
echo
echo "== the first bad records, as sluice csv dump reports them"
$S csv dump demo/cdr.csv | grep '"error"' | head -5 || true
echo
echo "(demo/cdr.manifest.tsv lists every injected defect: record, line, kind)"
