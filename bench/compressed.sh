#!/usr/bin/env bash
# Compressed-file benchmark (issue 13, "Compressed files"); bench/ingest.sh
# runs it at its end (COMPRESSED=0 skips it) and appends its report,
# bench/out/compressed.md.
#   bench/compressed.sh [ROWS]      (default 5,000,000 rows)
#   REPEAT=3 bench/compressed.sh    best of 3 of each
# The CDR file of the ingest benchmark, plain, gzip -6 and zstd -3 (the
# commands' defaults), each loaded by sluice with the keyed CDR schema
# (examples/cdr.yaml less its index: lines) into a fresh database; beside
# them `gzip -dc` / `zstd -dc` to /dev/null (the decoding alone, one
# thread) and DuckDB's read_csv of the same .gz (bench/duckdb_load.mjs,
# key). Wall time and CPU time (user + system) by /usr/bin/time, peak RSS.
# The gzip decoders side by side: bench_gzip (the source stack's decoding
# alone, access points included) with ISA-L and with zlib
# (SLUICE_GZIP_DECODER=zlib), and sluice's ingest of the .gz with zlib.
# The .gz and .zst loads run twice: pipelined (the default) and planned
# whole first (SLUICE_PIPELINE=0), side by side in the same run.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROWS=${1:-${ROWS:-5000000}}
REPEAT=${REPEAT:-1}
cdr_schemas
F=$(gen "$ROWS")
[ -s "$F.gz" ] && [ "$F.gz" -nt "$F" ] || gzip -6 -c "$F" >"$F.gz"
[ -s "$F.zst" ] && [ "$F.zst" -nt "$F" ] || zstd -q -3 -c "$F" >"$F.zst"
cat "$F" "$F.gz" "$F.zst" >/dev/null # the page cache
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
DB=$OUT/compressed.db

# measure NAME CMD...: best wall time of REPEAT runs into W_NAME, its CPU
# seconds into C_NAME, the largest peak RSS (MB) into M_NAME
measure() {
	local name=$1 bw=999999 bc=0 pk=0 w u s m
	shift
	for _ in $(seq "$REPEAT"); do
		# a fresh database each run, DuckDB's too (a second run into the
		# same file fails at once, "table t already exists")
		rmdb "$DB"
		rm -f "$OUT/compressed.duckdb" "$OUT/compressed.duckdb.wal"
		/usr/bin/time -o "$OUT/compressed_$name.time" -f "%e %U %S %M" "$@" \
			>"$OUT/compressed_$name.out" 2>"$OUT/compressed_$name.err" || true
		read -r w u s m < <(tail -1 "$OUT/compressed_$name.time")
		if awk -v a="$w" -v b="$bw" 'BEGIN{exit !(a<b)}'; then
			bw=$w
			bc=$(awk -v a="$u" -v b="$s" 'BEGIN{printf "%.2f", a+b}')
		fi
		pk=$(awk -v a="$m" -v b="$pk" 'BEGIN{print (a>b)?a:b}')
	done
	printf -v "W_$name" '%s' "$bw"
	printf -v "C_$name" '%s' "$bc"
	printf -v "M_$name" '%.0f' "$(awk -v a="$pk" 'BEGIN{print a/1024}')"
	echo "$name: $bw s wall, $bc s CPU" >&2
}
measure plain $B/sluice ingest "$F" --schema "$SCHEMA" --db "$DB" --json --quiet
measure gz $B/sluice ingest "$F.gz" --schema "$SCHEMA" --db "$DB" --json --quiet
measure zst $B/sluice ingest "$F.zst" --schema "$SCHEMA" --db "$DB" --json --quiet
measure gz_zlib env SLUICE_GZIP_DECODER=zlib $B/sluice ingest "$F.gz" --schema "$SCHEMA" --db "$DB" --json --quiet
# the same, planned whole first (the chunks run after the planning pass):
# what the pipelined plan gains, side by side in one run
measure gz0 env SLUICE_PIPELINE=0 $B/sluice ingest "$F.gz" --schema "$SCHEMA" --db "$DB" --json --quiet
measure zst0 env SLUICE_PIPELINE=0 $B/sluice ingest "$F.zst" --schema "$SCHEMA" --db "$DB" --json --quiet
measure gunzip sh -c "gzip -dc '$F.gz' >/dev/null"
measure dec_isal $B/bench_gzip "$F.gz"
measure dec_zlib env SLUICE_GZIP_DECODER=zlib $B/bench_gzip "$F.gz"
measure unzstd sh -c "zstd -dc '$F.zst' >/dev/null"
DK=no
if [ -d bench/node_modules/@duckdb/node-api ]; then
	DK=yes
	DBD=$OUT/compressed.duckdb
	rm -f "$DBD" "$DBD.wal"
	measure dk_gz node bench/duckdb_load.mjs "$F.gz" "$DBD" key
	rm -f "$DBD" "$DBD.wal"
fi
rmdb "$DB"
loaded() { sed -n 's/.*"rows_loaded":\([0-9]*\).*/\1/p' "$OUT/compressed_$1.out"; }
{
	echo "## Compressed files ($(date -u +%Y-%m-%d))"
	echo
	echo "Command: \`bench/compressed.sh $ROWS\`$([ "$REPEAT" != 1 ] && echo " with REPEAT=$REPEAT"). The file:"
	echo "$(stat -c %s "$F") bytes plain, $(stat -c %s "$F.gz") as gzip -6, $(stat -c %s "$F.zst") as zstd -3;"
	echo "load average $LOAD at the start."
	echo
	echo "| run | wall s | CPU s | peak MB | rows loaded | wall / plain | CPU / plain |"
	echo "|---|---|---|---|---|---|---|"
	echo "| sluice, plain | $W_plain | $C_plain | $M_plain | $(loaded plain) | 1.00 | 1.00 |"
	echo "| sluice, .gz | $W_gz | $C_gz | $M_gz | $(loaded gz) | $(ratio "$W_gz" "$W_plain") | $(ratio "$C_gz" "$C_plain") |"
	echo "| sluice, .zst | $W_zst | $C_zst | $M_zst | $(loaded zst) | $(ratio "$W_zst" "$W_plain") | $(ratio "$C_zst" "$C_plain") |"
	echo "| sluice, .gz, zlib forced | $W_gz_zlib | $C_gz_zlib | $M_gz_zlib | $(loaded gz_zlib) | $(ratio "$W_gz_zlib" "$W_plain") | $(ratio "$C_gz_zlib" "$C_plain") |"
	echo "| sluice, .gz, planned whole first (\`SLUICE_PIPELINE=0\`) | $W_gz0 | $C_gz0 | $M_gz0 | $(loaded gz0) | $(ratio "$W_gz0" "$W_plain") | $(ratio "$C_gz0" "$C_plain") |"
	echo "| sluice, .zst, planned whole first (\`SLUICE_PIPELINE=0\`) | $W_zst0 | $C_zst0 | $M_zst0 | $(loaded zst0) | $(ratio "$W_zst0" "$W_plain") | $(ratio "$C_zst0" "$C_plain") |"
	echo "| \`gzip -dc\` > /dev/null | $W_gunzip | $C_gunzip | $M_gunzip | | | |"
	echo "| decoding alone, ISA-L (\`bench_gzip\`) | $W_dec_isal | $C_dec_isal | $M_dec_isal | | | |"
	echo "| decoding alone, zlib (\`bench_gzip\`) | $W_dec_zlib | $C_dec_zlib | $M_dec_zlib | | | |"
	echo "| \`zstd -dc\` > /dev/null | $W_unzstd | $C_unzstd | $M_unzstd | | | |"
	[ "$DK" = yes ] && echo "| DuckDB read_csv of the .gz (key) | $W_dk_gz | $C_dk_gz | $M_dk_gz | | $(ratio "$W_dk_gz" "$W_plain") | |"
	echo
	echo "Goals: gzip at most 1.3 times the plain load: $(met le "$(ratio "$W_gz" "$W_plain")" 1.3) by wall time"
	echo "($(met le "$(ratio "$C_gz" "$C_plain")" 1.3) by CPU time); zstd at most 1.1 times: $(met le "$(ratio "$W_zst" "$W_plain")" 1.1)"
	echo "by wall time ($(met le "$(ratio "$C_zst" "$C_plain")" 1.1) by CPU time)$([ "$DK" = yes ] && echo "; faster than DuckDB on the .gz: $(met lt "$W_gz" "$W_dk_gz")")."
	echo "gzip decoding alone: ISA-L $(ratio "$W_dec_zlib" "$W_dec_isal") times as fast as zlib by wall time"
	echo "($(ratio "$C_dec_zlib" "$C_dec_isal") by CPU time); bench_gzip keeps access points as planning does."
	echo "sluice decodes the file once, in its planning pass (one thread), into a spool the"
	echo "workers read in parallel (docs/sources.md); the pass hands each chunk to the workers"
	echo "as soon as it has found its end (pipelined), so the decoding overlaps the parsing;"
	echo "\`SLUICE_PIPELINE=0\` plans the whole file first, as before."
} >"$OUT/compressed.md"
cat "$OUT/compressed.md"
