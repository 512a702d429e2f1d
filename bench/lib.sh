# shellcheck shell=bash
# Shared pieces of the benchmark scripts (sourced, not run): the paths, the
# generated CDR files and schemas every comparison starts from, and the
# arithmetic of the reports. A script sets nothing before sourcing it but
# may set B (the build dir) and OUT (where files go) first.
#   . "$(dirname "$0")/lib.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
B=${B:-build}
OUT=${OUT:-bench/out}
mkdir -p "$OUT"

# gen ROWS [ERROR_RATE]: path of the generated CDR file (made when missing;
# 0.1 % bad rows unless told, seed 1, so every script loads the same bytes)
gen() {
	local rate=${2:-0.001} f
	if [ "$rate" = 0.001 ]; then f=$OUT/cdr_$1.csv; else f=$OUT/cdr_$1_e$rate.csv; fi
	[ -s "$f" ] || "$B/sluice" gen cdr --rows "$1" --error-rate "$rate" --seed 1 -o "$f" >&2
	echo "$f"
}

# cdr_schemas: $OUT/cdr_key.yaml (examples/cdr.yaml without its index:
# lines: .import and DuckDB build no lookup indexes) and $OUT/cdr_nokey.yaml
# (the same without the key); sets SCHEMA and NOKEY to them
cdr_schemas() {
	SCHEMA=$OUT/cdr_key.yaml
	NOKEY=$OUT/cdr_nokey.yaml
	sed '/^[[:space:]]*index:/d' examples/cdr.yaml >"$SCHEMA"
	sed '/^key:/d' "$SCHEMA" >"$NOKEY"
}

# rmdb DB: a SQLite database and everything beside it (WAL, journal,
# DuckDB's .wal, sluice's access points)
rmdb() { rm -f "$1" "$1-wal" "$1-shm" "$1-journal" "$1.wal" "$1"-*.points; }

now() { date +%s.%N; }
sub() { echo "$1 $2" | awk '{printf "%.3f", $1-$2}'; }
ratio() { echo "$1 $2" | awk '{printf "%.2f", $1/$2}'; }
le() { echo "$1 $2" | awk '{exit !($1<=$2)}'; }
lt() { echo "$1 $2" | awk '{exit !($1<$2)}'; }
min() { echo "$1 $2" | awk '{print ($1<$2)?$1:$2}'; }
max() { echo "$1 $2" | awk '{print ($1>$2)?$1:$2}'; }
# met CMD...: "**met**" when CMD (e.g. `le A B`) succeeds
met() { if "$@"; then echo "**met**"; else echo "**not met**"; fi; }
