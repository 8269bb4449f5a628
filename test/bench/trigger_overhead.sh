#!/usr/bin/env bash
# test/bench/trigger_overhead.sh: what the multimaster row trigger costs.
#
#   sudo test/bench/trigger_overhead.sh [seconds]      (default 20 per run)
#
# Runs the classic recipe's write mix (test/bench/trigger_overhead_workload.sql:
# 5 upserts, 5 updates, 2 deletes = 12 row writes per transaction) with
# pgbench -M prepared -n -c 4 -j 2 against three variants of the table
# mm(id int primary key, info text, mod_time timestamp, mm_origin int,
# mm_version timestamptz, mm_generation bigint):
#
#   (a) none     no trigger (same columns, so the same row width);
#   (b) C        multimaster.add_table('mm'): the C trigger
#                "000_multimaster_resolve" and multimaster.tombstones;
#   (c) PL/pgSQL the same local-write work in PL/pgSQL with an identical
#                tombstone table (test/bench/trigger_overhead_plpgsql.sql).
#
# Each run gets a fresh database copied from a per-variant template holding
# the same pre-populated rows.  Runs are interleaved in rounds (the order is
# rotated each round) and the median TPS of each variant is reported, with
# the trigger cost per row written estimated as
# (1/TPS_variant - 1/TPS_none) / 12.
#
# Then a bulk write: one INSERT INTO mm SELECT ... FROM generate_series() of
# MM_BENCH_BULK_ROWS (1000000) new rows, timed by psql (\timing, commit
# included), in a fresh copy of each of MM_BENCH_BULK_VARIANTS ("none c")
# per round, MM_BENCH_BULK_ROUNDS (3) rounds with the order rotated; the
# median time, rows/s and WAL written per variant, and the ratio to no
# trigger (the target: >= 0.8).
#
# As root: installs the missing Debian packages (postgresql-15,
# postgresql-server-dev-15, make, gcc), builds a copy of the repository's
# sources and installs the extension, then runs one throwaway server as the
# `postgres` user under a fresh /tmp directory (loopback port, unix socket in
# that directory), stopped on exit.  Takes about 9 x (seconds + 2) + 35 s
# for the pgbench part, plus about 1-2 minutes for the bulk part: about 6
# minutes with the defaults on 2 busy cores.
#
# Environment: PG_CONFIG (the PostgreSQL 15 to build for and run, default
# the Debian server's), MM_BENCH_ROUNDS (3), MM_BENCH_ROWS (30000), MM_BENCH_PORT
# (first port tried, 55432), MM_BENCH_WARMUP (seconds of untimed warm-up,
# 5), MM_BENCH_BULK_ROWS (1000000; 0 = no bulk part), MM_BENCH_BULK_ROUNDS
# (3), MM_BENCH_BULK_VARIANTS ("none c"; also plpgsql), MM_BENCH_SKIP_BUILD=1 (use the installed extension), KEEP_TMP=1 (keep
# the temp directory: server log, pgbench logs).
set -euo pipefail

# PGVER, PGBIN, PG_CONFIG, PATH, REPO; as_pg and the mm_* setup functions.
# shellcheck source=SCRIPTDIR/../lib.sh disable=SC1091  # followed with -x
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)

DURATION=${1:-20}
WARMUP=${MM_BENCH_WARMUP:-5}
CLIENTS=4
THREADS=2
WRITES_PER_TXN=12
VARIANTS=(none c plpgsql)
declare -A LABEL=(
	[none]='(a) no trigger'
	[c]='(b) multimaster C trigger'
	[plpgsql]='(c) PL/pgSQL equivalent'
)

BULK_ROWS=${MM_BENCH_BULK_ROWS:-1000000}
BULK_ROUNDS=${MM_BENCH_BULK_ROUNDS:-3}
read -r -a BULK_VARIANTS <<<"${MM_BENCH_BULK_VARIANTS:-none c}"

# warn, die, note: the ones of lib.sh (on stderr)
mm_bench_args seconds "$DURATION" 3 30000
[[ $WARMUP =~ ^[0-9]+$ ]] || die "MM_BENCH_WARMUP must be a non-negative integer"
[[ $BULK_ROWS =~ ^[0-9]+$ ]] || die "MM_BENCH_BULK_ROWS must be a non-negative integer"
[[ $BULK_ROUNDS =~ ^[1-9][0-9]*$ ]] || die "MM_BENCH_BULK_ROUNDS must be a positive integer"
for v in "${BULK_VARIANTS[@]}"; do
	[ -n "${LABEL[$v]+x}" ] || die "unknown variant '$v' in MM_BENCH_BULK_VARIANTS (none c plpgsql)"
done
[ "$(id -u)" = 0 ] || die "run as root (sudo $0): installs packages and runs the server as 'postgres'"

# set by mm_bench_server, read by its EXIT trap: none inherited
# shellcheck disable=SC2034
WORK='' DATA='' SERVER_STARTED=0
MM_KEPT='server.log, pgbench logs'
mm_exit_traps mm_bench_server_exit

# ---------------------------------------------------------------------------
# Packages, build, install, server
# ---------------------------------------------------------------------------
# Settings: the server, not the disk, is what is measured.
SETTINGS=(
	"shared_buffers = 256MB"
	"synchronous_commit = off"
	"max_wal_size = 4GB"
	"checkpoint_timeout = 30min"
	"autovacuum = off"
	"jit = off"
)
mm_bench_server "${MM_BENCH_PORT:-55432}" 0:0 "${SETTINGS[@]}"
mm_check_tools pgbench
mkdir -p "$WORK/logs" || die "cannot make $WORK/logs"
# reported with the settings: test/node.conf's, the script's, the plugins
mapfile -t NODE_SETTINGS < <(mm_node_settings | grep -v '^output_plugin_libraries')
SETTINGS=("${NODE_SETTINGS[@]}" "${SETTINGS[@]}")
[ -z "$MM_OUTPUT_PLUGIN_LINE" ] || SETTINGS+=("$MM_OUTPUT_PLUGIN_LINE")

psql_q() {	# db sql...: unaligned, tuples only, stop on error
	local db=$1
	shift
	as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres \
		-d "$db" -At "$@"
}

PG_VERSION=$(psql_q postgres -c 'SELECT version()')

# ---------------------------------------------------------------------------
# Templates: the same rows in every variant
# ---------------------------------------------------------------------------
cp "$SCRIPT_DIR/trigger_overhead_workload.sql" "$SCRIPT_DIR/trigger_overhead_plpgsql.sql" "$WORK/"
chown postgres:postgres "$WORK"/*.sql

# Rows carry an old version (1 Jan 2024, node 1, generation 1), so the first
# write of each one goes through the "newer than the old version" path, and
# REPLICA IDENTITY DEFAULT everywhere (what add_table leaves): only the
# triggers make the variants differ.
populate_sql="
CREATE TABLE public.mm (
    id int PRIMARY KEY, info text, mod_time timestamp,
    mm_origin integer, mm_version timestamptz, mm_generation bigint);
INSERT INTO public.mm
SELECT g, md5(g::text), timestamp '2024-01-01', 1, timestamptz '2024-01-01 00:00:00+00', 1
  FROM generate_series(1, $ROWS) g;"

make_template() {	# variant
	local v=$1 db=tmpl_$1
	psql_q postgres -c "CREATE DATABASE $db"
	psql_q "$db" -c "$populate_sql"
	case $v in
	c)
		psql_q "$db" -c "CREATE EXTENSION multimaster" \
			-c "SELECT multimaster.init_node(1, 'n1')" \
			-c "SELECT multimaster.add_table('public.mm')" >/dev/null
		;;
	plpgsql)
		psql_q "$db" -f "$WORK/trigger_overhead_plpgsql.sql"
		psql_q "$db" -c "CREATE TRIGGER \"000_multimaster_resolve\"
			BEFORE INSERT OR UPDATE OR DELETE ON public.mm FOR EACH ROW
			EXECUTE FUNCTION mmbench.resolve('1', 'public.mm')" \
			-c 'ALTER TABLE public.mm ENABLE ALWAYS TRIGGER "000_multimaster_resolve"'
		;;
	esac
	# Only mm: VACUUM of the still empty tombstone table would record it as
	# empty, and the PL/pgSQL lookups would then be planned (and cached) as
	# sequential scans of a table that grows to thousands of rows.
	psql_q "$db" -c "VACUUM (FREEZE, ANALYZE) public.mm"
	if [ "$v" = plpgsql ]; then
		# the generic plan the trigger's tombstone lookup will cache
		psql_q "$db" -c "SET plan_cache_mode = force_generic_plan" \
			-c "PREPARE q(text, text) AS SELECT t.mm_version FROM mmbench.tombstones t
				WHERE t.table_name = \$1 AND t.key = \$2" \
			-c "EXPLAIN (COSTS OFF) EXECUTE q('public.mm', '1')" | grep -q 'Index Scan' ||
			die "the PL/pgSQL tombstone lookup is not planned as an index scan"
	fi
	# the table must be the same in every variant
	psql_q "$db" -c "SELECT count(*), sum(hashtext(t::text)),
		(SELECT relreplident FROM pg_class WHERE oid = 'public.mm'::regclass),
		(SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
		   FROM pg_attribute WHERE attrelid = 'public.mm'::regclass AND attnum > 0 AND NOT attisdropped)
		FROM public.mm t"
}

note "preparing templates ($ROWS rows each)"
declare -A SHAPE=()
for v in "${VARIANTS[@]}"; do
	make_template "$v" >"$WORK/shape_$v"
	SHAPE[$v]=$(cat "$WORK/shape_$v")
done
if [ "${SHAPE[none]}" != "${SHAPE[c]}" ] || [ "${SHAPE[none]}" != "${SHAPE[plpgsql]}" ]; then
	printf '%s: %s\n' none "${SHAPE[none]}" c "${SHAPE[c]}" plpgsql "${SHAPE[plpgsql]}" >&2
	die "the variants' tables differ"
fi
# the triggers are there (and only there)
[ "$(psql_q tmpl_none -c "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.mm'::regclass")" = 0 ] ||
	die "variant (a) has a trigger"
for v in c plpgsql; do
	[ "$(psql_q "tmpl_$v" -c "SELECT tgenabled FROM pg_trigger
		WHERE tgrelid = 'public.mm'::regclass AND tgname = '000_multimaster_resolve'")" = A ] ||
		die "variant $v has no ENABLE ALWAYS trigger 000_multimaster_resolve"
done

# ---------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------
wait_no_backends() {	# db: backends gone = their statistics are flushed
	local db=$1 i
	# (the tombstone purge worker the deletes started stays: not a client)
	for i in $(seq 1 100); do
		[ "$(psql_q postgres -c "SELECT count(*) FROM pg_stat_activity
		                           WHERE datname = '$db' AND backend_type = 'client backend'")" = 0 ] &&
			return 0
		sleep 0.1
	done
	die "backends of $db did not exit"
}

declare -A TPS=() WRITES=() TOMBS=() STALE=()
RESULT_TPS='' RESULT_WRITES='' RESULT_TOMBS='' RESULT_STALE=''


run_one() {	# variant seconds tag
	local v=$1 secs=$2 tag=$3 db=run_$1 log out txns stats tomb_table tomb_name
	psql_q postgres -c "CREATE DATABASE $db TEMPLATE tmpl_$v"
	psql_q "$db" -c "SELECT count(*) FROM public.mm" -c "CHECKPOINT" >/dev/null
	log=$WORK/logs/$tag.log
	if ! as_pg pgbench -h "$SOCK" -p "$PORT" -U postgres -M prepared -n \
		-c "$CLIENTS" -j "$THREADS" -T "$secs" -P 1 -D rows="$ROWS" \
		-f "$WORK/trigger_overhead_workload.sql" "$db" >"$log" 2>&1; then
		cat "$log" >&2
		die "pgbench failed ($tag)"
	fi
	out=$(cat "$log")
	RESULT_TPS=$(awk '/^tps = / { printf "%.1f", $3; exit }' <<<"$out")
	txns=$(awk -F': *' '/^number of transactions actually processed/ { split($2, a, "/"); print a[1]; exit }' <<<"$out")
	if [ -z "$RESULT_TPS" ] || [ -z "$txns" ] || [ "$txns" = 0 ] ||
		grep -qiE '^number of failed transactions: [1-9]|aborted' <<<"$out"; then
		cat "$log" >&2
		die "pgbench run $tag did not complete cleanly"
	fi
	wait_no_backends "$db"
	stats=$(psql_q "$db" -c "SELECT n_tup_ins + n_tup_upd + n_tup_del
		FROM pg_stat_user_tables WHERE relid = 'public.mm'::regclass")
	RESULT_WRITES=$(awk -v w="$stats" -v t="$txns" 'BEGIN { printf "%.2f", w / t }')
	RESULT_TOMBS=- RESULT_STALE=-
	if [ "$v" != none ]; then
		# multimaster names a table always quoted, as its tombstones store it
		case $v in
		c) tomb_table=multimaster.tombstones tomb_name='"public"."mm"' ;;
		*) tomb_table=mmbench.tombstones tomb_name=public.mm ;;
		esac
		RESULT_TOMBS=$(psql_q "$db" -c "SELECT count(*) FROM $tomb_table WHERE table_name = '$tomb_name'")
		# The trigger did its job: deletes left tombstones, every row has a
		# version of this node, and rows were stamped during the run.
		[ "$RESULT_TOMBS" -gt 0 ] || die "variant $v wrote no tombstones ($tag)"
		[ "$(psql_q "$db" -c "SELECT count(*) FILTER (WHERE mm_version IS NULL OR mm_origin <> 1) = 0
			AND count(*) FILTER (WHERE mm_version > timestamptz '2024-01-01 00:00:00+00') > 0
			FROM public.mm")" = t ] ||
			die "variant $v left rows without a version of node 1 ($tag)"
		# Live rows whose version is older than their key's tombstone: an
		# INSERT ... ON CONFLICT stamped before it waited for a concurrent
		# DELETE of the same key.  Reported, not a failure of the benchmark.
		RESULT_STALE=$(psql_q "$db" -c "SELECT count(*) FROM public.mm m
			JOIN $tomb_table t ON t.table_name = '$tomb_name' AND t.key = m.id::text
			WHERE (m.mm_version, m.mm_origin, m.mm_generation)
			      < (t.mm_version, t.mm_origin, t.mm_generation)")
	fi
	psql_q postgres -c "DROP DATABASE $db WITH (FORCE)"
}

# Other processes on the machine (another test suite, say) show up as noise.
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
if awk -v l="${LOAD_START%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
	warn "the machine is busy (load average $LOAD_START on $(nproc) CPUs): expect noisy numbers"
fi

if [ "$WARMUP" -gt 0 ]; then
	note "warm-up: ${WARMUP} s of each variant (not counted)"
	for v in "${VARIANTS[@]}"; do
		run_one "$v" "$WARMUP" "warmup_$v"
	done
fi

nvar=${#VARIANTS[@]}
for ((r = 1; r <= ROUNDS; r++)); do
	for ((i = 0; i < nvar; i++)); do
		# rotate the order each round: no variant always runs first
		v=${VARIANTS[$(( (i + r - 1) % nvar ))]}
		note "round $r/$ROUNDS: ${LABEL[$v]} (${DURATION} s)"
		run_one "$v" "$DURATION" "round${r}_$v"
		TPS[$v]+="$RESULT_TPS "
		WRITES[$v]+="$RESULT_WRITES "
		TOMBS[$v]+="$RESULT_TOMBS "
		STALE[$v]+="$RESULT_STALE "
		note "  tps $RESULT_TPS, row writes/txn $RESULT_WRITES, tombstones $RESULT_TOMBS, live rows older than their tombstone $RESULT_STALE"
	done
done

# ---------------------------------------------------------------------------
# Bulk: one INSERT ... SELECT of BULK_ROWS new rows
# ---------------------------------------------------------------------------
declare -A BULK_MS=() BULK_WAL=()
bulk_one() {	# variant tag
	local v=$1 tag=$2 db=bulk_$1 lsn ms
	psql_q postgres -c "CREATE DATABASE $db TEMPLATE tmpl_$v"
	psql_q "$db" -c "SELECT count(*) FROM public.mm" -c "CHECKPOINT" >/dev/null
	lsn=$(psql_q "$db" -c "SELECT pg_current_wal_insert_lsn()")
	# psql's \timing: the statement and its commit, as the client sees them
	printf '%s\n' '\timing on' "INSERT INTO public.mm (id, info, mod_time)
		SELECT g, md5(g::text), now() FROM generate_series($((ROWS + 1)), $((ROWS + BULK_ROWS))) g;" \
		>"$WORK/bulk.sql"
	ms=$(as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres -d "$db" -f "$WORK/bulk.sql" |
		awk '/^Time: / { print $2 }') || die "the bulk insert failed ($tag)"
	[[ $ms =~ ^[0-9.]+$ ]] || die "no time for the bulk insert ($tag): $ms"
	BULK_MS[$v]+="$ms "
	BULK_WAL[$v]+="$(psql_q "$db" -c "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$lsn')") "
	[ "$(psql_q "$db" -c "SELECT count(*) FROM public.mm")" = $((ROWS + BULK_ROWS)) ] ||
		die "the bulk insert did not write $BULK_ROWS rows ($tag)"
	if [ "$v" != none ]; then
		[ "$(psql_q "$db" -c "SELECT count(*) FROM public.mm WHERE id > $ROWS AND (mm_origin IS DISTINCT FROM 1 OR mm_version IS NULL)")" = 0 ] ||
			die "variant $v left bulk rows without a version of node 1 ($tag)"
	fi
	psql_q postgres -c "DROP DATABASE $db WITH (FORCE)"
	note "  $(awk -v ms="$ms" -v n="$BULK_ROWS" 'BEGIN { printf "%.0f ms, %.0f rows/s", ms, n / ms * 1000 }')"
}
if [ "$BULK_ROWS" -gt 0 ]; then
	nbv=${#BULK_VARIANTS[@]}
	for ((r = 1; r <= BULK_ROUNDS; r++)); do
		for ((i = 0; i < nbv; i++)); do
			v=${BULK_VARIANTS[$(( (i + r - 1) % nbv ))]}
			note "bulk round $r/$BULK_ROUNDS: ${LABEL[$v]} (INSERT ... SELECT of $BULK_ROWS rows)"
			bulk_one "$v" "bulk${r}_$v"
		done
	done
fi

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
median() {	# numbers...
	printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 }
		END { if (NR % 2) printf "%.1f", a[(NR + 1) / 2]; else printf "%.1f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
declare -A MED=() MEDW=() COST=()
for v in "${VARIANTS[@]}"; do
	# shellcheck disable=SC2086  # word splitting intended
	MED[$v]=$(median ${TPS[$v]})
	# shellcheck disable=SC2086
	MEDW[$v]=$(median ${WRITES[$v]})
done
for v in "${VARIANTS[@]}"; do
	COST[$v]=$(awk -v t="${MED[$v]}" -v n="${MED[none]}" -v w="$WRITES_PER_TXN" \
		'BEGIN { printf "%.2f", (1 / t - 1 / n) / w * 1e6 }')
done

CPU_MODEL=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
printf '\n## Trigger overhead: multimaster C trigger vs PL/pgSQL equivalent\n\n'
printf -- '- machine: nproc=%s%s, %s, kernel %s\n' "$(nproc)" "${CPU_MODEL:+ ($CPU_MODEL)}" \
	"$(awk '/^MemTotal/ { printf "%.0f GB RAM", $2 / 1048576 }' /proc/meminfo)" "$(uname -r)"
printf -- '- server: %s\n' "$PG_VERSION"
printf -- '- load average (1, 5, 15 min): %s before the runs, %s after\n' "$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf -- '- settings: %s\n' "$(printf '%s; ' "${SETTINGS[@]}" | sed 's/; $//')"
printf -- '- synchronous_commit = off: commits do not wait for the WAL flush, to keep fsync latency out of the numbers (fsync itself stays on); autovacuum off, no checkpoint during a run (CHECKPOINT before each)\n'
printf -- '- workload: classic recipe test1.sql write mix (5 upserts, 5 updates, 2 deletes; ids uniform in 1..%s), %s rows pre-populated, every table REPLICA IDENTITY DEFAULT\n' "$ROWS" "$ROWS"
printf -- '- pgbench -M prepared -n -c %s -j %s -T %s; %s rounds, order rotated each round, fresh database per run; median TPS\n\n' \
	"$CLIENTS" "$THREADS" "$DURATION" "$ROUNDS"

printf '| variant | median TPS | ratio vs no trigger | trigger cost per row (µs) |\n'
printf '|---|---:|---:|---:|\n'
for v in "${VARIANTS[@]}"; do
	if [ "$v" = none ]; then
		cost=-
	else
		cost=${COST[$v]}
	fi
	printf '| %s | %s | %s | %s |\n' "${LABEL[$v]}" "${MED[$v]}" \
		"$(awk -v t="${MED[$v]}" -v n="${MED[none]}" 'BEGIN { printf "%.3f", t / n }')" "$cost"
done
RATIO=$(awk -v p="${COST[plpgsql]}" -v c="${COST[c]}" \
	'BEGIN { if (c > 0) printf "%.1fx", p / c; else print "n/a (C trigger cost within noise)" }')
printf '\nPL/pgSQL cost / C cost: %s\n' "$RATIO"
printf '\ntrigger cost per row = (1/TPS_variant - 1/TPS_none) / %s row writes per transaction: throughput cost (%s clients on %s CPUs), not single-row latency.\n' \
	"$WRITES_PER_TXN" "$CLIENTS" "$(nproc)"

printf '\n| variant | TPS per round | spread (max-min)/median | row writes/txn measured (median) | tombstones at end of runs | live rows older than their tombstone |\n'
printf '|---|---|---:|---:|---|---|\n'
for v in "${VARIANTS[@]}"; do
	# shellcheck disable=SC2086  # word splitting intended
	spread=$(printf '%s\n' ${TPS[$v]} | awk -v m="${MED[$v]}" \
		'NR == 1 { lo = hi = $1 } { if ($1 < lo) lo = $1; if ($1 > hi) hi = $1 }
		 END { printf "%.0f%%", (hi - lo) / m * 100 }')
	printf '| %s | %s | %s | %s | %s | %s |\n' "${LABEL[$v]}" "${TPS[$v]% }" "$spread" "${MEDW[$v]}" \
		"${TOMBS[$v]% }" "${STALE[$v]% }"
done
printf '\n(measured row writes = rows inserted + updated + deleted in mm per transaction, from pg_stat_user_tables: a missing key makes an UPDATE or DELETE write nothing.  Live rows older than their tombstone: an INSERT ... ON CONFLICT stamped its version before waiting for a concurrent DELETE of the same key; peers that apply the tombstone would drop that row.)\n'

if [ "$BULK_ROWS" -gt 0 ]; then
	printf '\n### One INSERT ... SELECT of %s rows\n\n' "$BULK_ROWS"
	printf -- '- INSERT INTO mm (id, info, mod_time) SELECT g, md5(g::text), now() FROM generate_series(...): %s new rows in one statement and transaction, into a fresh copy of each template (%s rows); time from psql'"'"'s \\timing (commit included); %s round(s), order rotated; medians\n\n' \
		"$BULK_ROWS" "$ROWS" "$BULK_ROUNDS"
	printf '| variant | ms per round | median ms | rows/s | ratio vs no trigger | WAL MB |\n'
	printf '|---|---|---:|---:|---:|---:|\n'
	# shellcheck disable=SC2086  # word splitting intended
	bulk_none=$(mm_median 1 ${BULK_MS[none]:-})
	for v in "${BULK_VARIANTS[@]}"; do
		# shellcheck disable=SC2086  # word splitting intended
		m=$(mm_median 1 ${BULK_MS[$v]})
		# shellcheck disable=SC2086
		w=$(mm_median 0 ${BULK_WAL[$v]})
		printf '| %s | %s | %s | %s | %s | %s |\n' "${LABEL[$v]}" "$(printf '%s' "${BULK_MS[$v]% }" | sed 's/ /, /g')" \
			"$m" "$(awk -v m="$m" -v n="$BULK_ROWS" 'BEGIN { printf "%.0f", n / m * 1000 }')" \
			"$(awk -v m="$m" -v b="$bulk_none" 'BEGIN { if (b == "n/a") print "n/a"; else printf "%.2f", b / m }')" \
			"$(awk -v w="$w" 'BEGIN { printf "%.1f", w / 1048576 }')"
	done
fi

printf '\nTargets: classic mix C trigger >= 0.95 x no trigger: %s (%s x)' \
	"$(awk -v t="${MED[c]}" -v n="${MED[none]}" 'BEGIN { print (t / n >= 0.95) ? "met" : "NOT met" }')" \
	"$(awk -v t="${MED[c]}" -v n="${MED[none]}" 'BEGIN { printf "%.3f", t / n }')"
if [ "$BULK_ROWS" -gt 0 ] && [ -n "${BULK_MS[c]:-}" ] && [ -n "${BULK_MS[none]:-}" ]; then
	# shellcheck disable=SC2086  # word splitting intended
	bulk_ratio=$(awk -v m="$(mm_median 1 ${BULK_MS[c]})" -v b="$bulk_none" 'BEGIN { printf "%.2f", b / m }')
	printf '; bulk INSERT ... SELECT >= 0.8 x no trigger: %s (%s x)' \
		"$(awk -v x="$bulk_ratio" 'BEGIN { print (x >= 0.8) ? "met" : "NOT met" }')" "$bulk_ratio"
fi
printf '\n'
