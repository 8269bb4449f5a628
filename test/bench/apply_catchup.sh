#!/usr/bin/env bash
# test/bench/apply_catchup.sh: how fast a subscriber applies a backlog.
#
#   sudo test/bench/apply_catchup.sh [K]        (K = backlog, default 50000)
#
# Two throwaway servers, a publisher and a subscriber.  Table
# bench(id int primary key, v text), 20000 identical rows on both.  With the
# subscription disabled, pgbench runs K single-row transactions on the
# publisher (test/bench/apply_catchup_workload.sql: 70% UPDATE of a random
# existing id, 30% INSERT of a new id, fixed random seed), then the
# subscription is enabled and timed until the subscriber has applied all of
# them.  Rate = K / seconds.  Variants, each in fresh databases on the same
# two servers:
#
#   (a) stock    pgoutput slot + CREATE SUBSCRIPTION (create_slot = false),
#                plain table (the baseline)
#   (b) mm       slot created with the 'multimaster' output plugin +
#                CREATE SUBSCRIPTION (create_slot = false) to publication
#                multimaster; init_node(1,'p') / init_node(2,'s') and
#                multimaster.add_table('public.bench') on both nodes: UPDATEs
#                travel as full-row INSERTs that the C trigger upserts
#   (c) plpgsql  stock pgoutput into the same table as (b) with an
#                equivalent PL/pgSQL trigger enabled ALWAYS
#                (test/bench/apply_catchup_plpgsql.sql)
#   (d) pglogical  pglogical 2 (create_node, create_replication_set,
#                replication_set_add_table, create_subscription), plain table
#
# and two diagnostics, not run by default (MM_BENCH_VARIANTS="a b e f"):
#   (e) as (b), but the publisher's table back to REPLICA IDENTITY DEFAULT
#       (add_table sets FULL on a table with a text column): what the old
#       tuple in the WAL costs
#   (f) the multimaster C trigger with a stock pgoutput slot: UPDATEs arrive
#       as UPDATEs, what upsert shipping costs
#
# (b), (c), (e), (f) carry the version columns mm_origin, mm_version,
# mm_generation, pre-populated with the same old version (node 1,
# 2024-01-01, generation 1) on both nodes.
#
# Timing: a marker row is committed on the publisher (table bench_mark,
# published in every variant) just before the backlog and one just after.
# On the subscriber an ENABLE ALWAYS trigger stamps each marker row with the
# time it was applied.  The catch-up is detected by polling the
# subscription's replication origin (pg_replication_origin_status, every
# 100 ms, from a procedure that commits between polls so that it holds no
# snapshot) until it passes the publisher's WAL insert position taken after
# the backlog, which only the end marker's commit can pass; pglogical names
# its origin after its slot.  "seconds" = from the enable to the end
# marker's apply (worker start and decoding on the publisher included);
# "first-to-last" = between the two markers' applies (no start-up).
#
# Checks after each run: the subscriber's rows equal the publisher's (count
# and sum(hashtext((id, v)::text)); for the versioned variants also the
# whole rows, versions included), and no ERROR in the subscriber's log.
#
# Variants run interleaved (order rotated each round) for MM_BENCH_ROUNDS
# rounds; a round starts only while the time budget lasts.  The median per
# variant is reported as a markdown table, with the CPU time of the apply
# worker and of the walsender (both started by the enable).
#
# Setup identical for every variant: shared_preload_libraries = 'pglogical'
# on both servers; output_plugin_libraries (PostgreSQL 15.19+) lists
# multimaster and pglogical's plugin pglogical_output as well, else
# pglogical cannot create its slot; wal_retrieve_retry_interval = 100ms, else
# the launcher may wait up to 5 s after the previous worker start before
# starting the enabled subscription's worker.  The run's databases are not
# dropped: DROP DATABASE waits for every process to absorb a
# ProcSignalBarrier, which pglogical's supervisor does not (it hangs).
#
# As root: installs the missing Debian packages (postgresql-15,
# postgresql-server-dev-15, postgresql-15-pglogical, make, gcc), builds a
# copy of the repository's sources and installs the extension, then runs
# two servers as the `postgres` user under a fresh /tmp directory (loopback
# ports, unix sockets in that directory), stopped on exit.  About 2-3 minutes
# with the defaults on 2 cores; every wait is bounded.
#
# Environment: MM_BENCH_ROUNDS (5), MM_BENCH_ROWS (20000), MM_BENCH_PORT
# (first port tried, 56432), MM_BENCH_TIMEOUT (catch-up timeout in seconds,
# 150), MM_BENCH_BUDGET (seconds after the start past which no new round
# starts, 330), MM_BENCH_VARIANTS ("a b c d"; diagnostics e f),
# MM_BENCH_PERF=1 (perf record during each catch-up, apply worker and
# walsender profiles in the kept logs; perturbs the timings),
# MM_BENCH_SKIP_BUILD=1 (use the installed extension), KEEP_TMP=1 (keep the
# temp directory: server logs, pgbench logs).
set -euo pipefail

# PGVER, PGBIN, PG_CONFIG, PATH, REPO; as_pg and the mm_* setup functions.
# shellcheck source=SCRIPTDIR/../lib.sh disable=SC1091  # followed with -x
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)

K=${1:-50000}
TIMEOUT=${MM_BENCH_TIMEOUT:-150}
BUDGET=${MM_BENCH_BUDGET:-330}
read -r -a VARIANTS <<<"${MM_BENCH_VARIANTS:-a b c d}"
SEED=20240101
declare -A LABEL=(
	[a]='(a) stock pgoutput, plain table'
	[b]='(b) multimaster plugin + C trigger'
	[c]='(c) stock pgoutput + PL/pgSQL trigger'
	[d]='(d) pglogical 2'
	[e]='(e) diagnostic: (b) with REPLICA IDENTITY DEFAULT'
	[f]='(f) diagnostic: multimaster C trigger, stock pgoutput'
)

# warn, die, note: the ones of lib.sh (on stderr)
mm_bench_args K "$K" 5 20000
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "MM_BENCH_TIMEOUT must be a positive integer"
[[ $BUDGET =~ ^[0-9]+$ ]] || die "MM_BENCH_BUDGET must be a non-negative integer"
[ ${#VARIANTS[@]} -gt 0 ] || die "MM_BENCH_VARIANTS is empty"
for v in "${VARIANTS[@]}"; do
	[ -n "${LABEL[$v]+x}" ] || die "unknown variant '$v' in MM_BENCH_VARIANTS (a b c d, diagnostics e f)"
done
[ "$(id -u)" = 0 ] || die "run as root (sudo $0): installs packages and runs the servers as 'postgres'"

# pgbench clients: 4 when K splits evenly (a faster backlog), else 1
if [ $((K % 4)) = 0 ]; then CLIENTS=4; else CLIENTS=1; fi
PER_CLIENT=$((K / CLIENTS))

START_TS=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
WORK=
NODES=(pub sub)
declare -A DATA=() PORT=() STARTED=()

PERF_PID=
stop_perf() {	# the perf record started for this run, if any
	if [ -n "$PERF_PID" ]; then
		kill -INT "$PERF_PID" 2>/dev/null || true
		wait "$PERF_PID" 2>/dev/null || true
		PERF_PID=
	fi
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
on_exit() {
	local rc=$? n
	trap - EXIT INT TERM
	[ "$rc" -eq 0 ] || warn "failed (exit status $rc)"
	stop_perf
	for n in "${NODES[@]}"; do
		if [ "${STARTED[$n]:-0}" = 1 ]; then
			mm_pg_stop "${DATA[$n]}" || warn "could not stop the server of ${DATA[$n]}"
		fi
	done
	mm_remove_work "kept $WORK (pub.log, sub.log, pgbench logs)" "$rc"
	exit "$rc"
}
mm_exit_traps on_exit

# ---------------------------------------------------------------------------
# Packages, build, install
# ---------------------------------------------------------------------------
mm_install_missing note 300 600 "postgresql-$PGVER" "postgresql-server-dev-$PGVER" \
	"postgresql-$PGVER-pglogical" make gcc >&2
mm_check_tools "$PG_CONFIG" initdb pg_ctl psql pgbench postgres

WORK=$(mktemp -d /tmp/mm-catchup.XXXXXX)
chmod 755 "$WORK"
SOCK=$WORK/sock
mkdir -p "$SOCK" "$WORK/logs"

mm_bench_build 300:120
mm_installed multimaster || die "multimaster is not installed"
mm_installed pglogical || die "pglogical is not installed (postgresql-$PGVER-pglogical)"

# ---------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------
p=${MM_BENCH_PORT:-56432}
for n in "${NODES[@]}"; do
	PORT[$n]=$(mm_free_port "$p" $(( ${MM_BENCH_PORT:-56432} + 200 ))) ||
		die "no free port found"
	p=$(( ${PORT[$n]} + 1 ))
	DATA[$n]=$WORK/$n
done

chown -R postgres:postgres "$WORK"
chmod 700 "$SOCK"

# On top of test/node.conf's.
SETTINGS=(
	"synchronous_commit = off"
	"shared_buffers = 256MB"
	"shared_preload_libraries = 'pglogical'"
	"max_wal_size = 4GB"
	"checkpoint_timeout = 30min"
	"autovacuum = off"
	"jit = off"
	"wal_retrieve_retry_interval = 100ms"
)
for n in "${NODES[@]}"; do
	if ! mm_initdb "${DATA[$n]}" "$WORK/initdb_$n.log"; then
		cat "$WORK/initdb_$n.log" >&2
		die "initdb failed ($n)"
	fi
done
for n in "${NODES[@]}"; do
	mm_node_conf "${DATA[$n]}" '' "${PORT[$n]}" "$SOCK" "${SETTINGS[@]}"
	# output_plugin_libraries (PostgreSQL 15.19+, from test/node.conf) lists
	# pglogical's plugin too: its slots use "pglogical_output".
	if [ -n "$MM_OUTPUT_PLUGIN_LINE" ]; then
		MM_OUTPUT_PLUGIN_LINE="${MM_OUTPUT_PLUGIN_LINE%\'}, pglogical_output'"
		printf '%s\n' "$MM_OUTPUT_PLUGIN_LINE" >>"${DATA[$n]}/postgresql.conf"
	fi
	if ! mm_pg_start "${DATA[$n]}" "$WORK/$n.log"; then
		cat "$WORK/$n.log" >&2
		die "server $n did not start"
	fi
	STARTED[$n]=1
done
# reported with the settings: test/node.conf's, the script's, the plugins
mapfile -t NODE_SETTINGS < <(mm_node_settings | grep -v '^output_plugin_libraries')
SETTINGS=("${NODE_SETTINGS[@]}" "${SETTINGS[@]}")
[ -z "$MM_OUTPUT_PLUGIN_LINE" ] || SETTINGS+=("$MM_OUTPUT_PLUGIN_LINE")

psql_q() {	# node db sql...: unaligned, tuples only, stop on error
	local n=$1 db=$2
	shift 2
	as_pg timeout 300 psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "${PORT[$n]}" -U postgres \
		-d "$db" -At "$@"
}
dsn() {	# node db
	printf 'host=%s port=%s dbname=%s user=postgres' "$SOCK" "${PORT[$1]}" "$2"
}
wait_for() {	# node db seconds description sql-returning-t
	local n=$1 db=$2 secs=$3 what=$4 sql=$5 i
	for ((i = 0; i < secs * 10; i++)); do
		[ "$(psql_q "$n" "$db" -c "$sql")" = t ] && return 0
		sleep 0.1
	done
	die "timed out after ${secs} s waiting for: $what ($n, $db)"
}

PG_VERSION=$(psql_q pub postgres -c 'SELECT version()')
PGL_VERSION=$(psql_q pub postgres -c "SELECT default_version FROM pg_available_extensions WHERE name = 'pglogical'")
HZ=$(getconf CLK_TCK)

cp "$SCRIPT_DIR/apply_catchup_workload.sql" "$SCRIPT_DIR/apply_catchup_plpgsql.sql" "$WORK/"
chown postgres:postgres "$WORK"/*.sql

# ---------------------------------------------------------------------------
# One run
# ---------------------------------------------------------------------------
cpu_seconds() {	# pid: user + system CPU time so far, in seconds
	local stat
	if [ -n "$1" ] && stat=$(cat "/proc/$1/stat" 2>/dev/null); then
		# fields after the command name, which is in parentheses
		awk -v hz="$HZ" '{ printf "%.2f", ($12 + $13) / hz }' <<<"${stat##*) }"
	else
		printf 'n/a'
	fi
}

# The subscriber's catch-up wait: polls the origin every 100 ms, committing
# each time so that no snapshot holds back pruning on the subscriber.
WAIT_PROC="
CREATE PROCEDURE public.bench_wait(origin text, target pg_lsn, t0 timestamptz,
                                   timeout_s float8, INOUT secs float8 DEFAULT NULL)
LANGUAGE plpgsql AS \$\$
DECLARE
    lsn pg_lsn;
BEGIN
    LOOP
        SELECT s.remote_lsn INTO lsn FROM pg_catalog.pg_replication_origin_status s
         WHERE s.external_id = origin;
        IF lsn >= target THEN
            secs := extract(epoch FROM pg_catalog.clock_timestamp() - t0);
            RETURN;
        END IF;
        IF pg_catalog.clock_timestamp() - t0 > pg_catalog.make_interval(secs => timeout_s) THEN
            RAISE EXCEPTION 'catch-up not done after % s: origin % at %, target %',
                timeout_s, origin, coalesce(lsn::text, '(none)'), target;
        END IF;
        COMMIT;
        PERFORM pg_catalog.pg_sleep(0.1);
        COMMIT;
    END LOOP;
END
\$\$;"

# shellcheck disable=SC2153  # ROWS: set by mm_bench_args (lib.sh)
populate_sql() {	# variant
	local cols='' vals=''
	case $1 in
	b|c|e|f)
		cols=', mm_origin integer, mm_version timestamptz, mm_generation bigint'
		vals=", 1, timestamptz '2024-01-01 00:00:00+00', 1"
		;;
	esac
	printf '%s\n' "
CREATE TABLE public.bench (id int PRIMARY KEY, v text$cols);
INSERT INTO public.bench SELECT g, md5(g::text)$vals FROM generate_series(1, $ROWS) g;
CREATE TABLE public.bench_mark (id int PRIMARY KEY, applied_at timestamptz);"
}

# On the subscriber, the two marker rows record when they were applied.
MARK_TRIGGER_SQL="
CREATE FUNCTION public.bench_mark_stamp() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
    NEW.applied_at := pg_catalog.clock_timestamp();
    RETURN NEW;
END
\$\$;
CREATE TRIGGER bench_mark_stamp BEFORE INSERT ON public.bench_mark
    FOR EACH ROW EXECUTE FUNCTION public.bench_mark_stamp();
ALTER TABLE public.bench_mark ENABLE ALWAYS TRIGGER bench_mark_stamp;"

# rows as (count, checksum of (id, v), checksum of whole rows)
CHECK_SQL="SELECT count(*) || ' ' || coalesce(sum(hashtext((b.id, b.v)::text)), 0)
    || ' ' || coalesce(sum(hashtext(b::text)), 0) FROM public.bench b"

RESULT_SECS='' RESULT_APPLY_SECS='' RESULT_CHECK='' RESULT_APPLY_CPU='' RESULT_WS_CPU='' RESULT_NOTE=''

run_one() {	# variant round
	local v=$1 r=$2 db=cu_$1_$2 slot=bench_$1_$2 origin='' target secs
	local pubdsn subdsn wsql apply_pid ws_pid pubck subck sublog_off errs out polled apply_secs
	pubdsn=$(dsn pub "$db")
	subdsn=$(dsn sub "$db")
	RESULT_NOTE=

	for n in "${NODES[@]}"; do
		psql_q "$n" postgres -c "CREATE DATABASE $db"
		psql_q "$n" "$db" -c "$(populate_sql "$v")"
	done
	psql_q pub "$db" -c "CREATE SEQUENCE public.bench_new_id START $((ROWS + 1))"
	psql_q sub "$db" -c "$MARK_TRIGGER_SQL"
	[ "$v" = d ] || psql_q pub "$db" -c "CREATE PUBLICATION bench_mark_pub FOR TABLE public.bench_mark"

	# --- schema, publication, slot, subscription --------------------------
	case $v in
	a)
		psql_q pub "$db" -c "CREATE PUBLICATION bench_pub FOR TABLE public.bench" \
			-c "SELECT pg_create_logical_replication_slot('$slot', 'pgoutput')" >/dev/null
		psql_q sub "$db" -c "CREATE SUBSCRIPTION bench_sub CONNECTION '$pubdsn'
			PUBLICATION bench_pub, bench_mark_pub
			WITH (create_slot = false, slot_name = '$slot', copy_data = false)"
		;;
	b|e|f)
		local id=1 name=p plugin=multimaster
		for n in pub sub; do
			psql_q "$n" "$db" -c "CREATE EXTENSION multimaster" \
				-c "SELECT multimaster.init_node($id, '$name')" \
				-c "SELECT multimaster.add_table('public.bench')" >/dev/null
			id=2 name=s
		done
		# diagnostics: (e) without the old tuple in the WAL, (f) UPDATEs as UPDATEs
		[ "$v" != e ] || psql_q pub "$db" -c "ALTER TABLE public.bench REPLICA IDENTITY DEFAULT"
		[ "$v" != f ] || plugin=pgoutput
		psql_q pub "$db" -c "SELECT pg_create_logical_replication_slot('$slot', '$plugin')" >/dev/null
		psql_q sub "$db" -c "CREATE SUBSCRIPTION bench_sub CONNECTION '$pubdsn'
			PUBLICATION multimaster, bench_mark_pub
			WITH (create_slot = false, slot_name = '$slot', copy_data = false)"
		;;
	c)
		local id=1
		for n in pub sub; do
			psql_q "$n" "$db" -f "$WORK/apply_catchup_plpgsql.sql" \
				-c "CREATE TRIGGER \"000_bench_resolve\" BEFORE INSERT OR UPDATE ON public.bench
					FOR EACH ROW EXECUTE FUNCTION mmbench.resolve('$id')" \
				-c 'ALTER TABLE public.bench ENABLE ALWAYS TRIGGER "000_bench_resolve"'
			id=2
		done
		psql_q pub "$db" -c "CREATE PUBLICATION bench_pub FOR TABLE public.bench" \
			-c "SELECT pg_create_logical_replication_slot('$slot', 'pgoutput')" >/dev/null
		psql_q sub "$db" -c "CREATE SUBSCRIPTION bench_sub CONNECTION '$pubdsn'
			PUBLICATION bench_pub, bench_mark_pub
			WITH (create_slot = false, slot_name = '$slot', copy_data = false)"
		;;
	d)
		psql_q pub "$db" -c "CREATE EXTENSION pglogical" \
			-c "SELECT pglogical.create_node(node_name := 'pub', dsn := '$pubdsn')" \
			-c "SELECT pglogical.create_replication_set('bench_set')" \
			-c "SELECT pglogical.replication_set_add_table('bench_set', 'public.bench', false)" \
			-c "SELECT pglogical.replication_set_add_table('bench_set', 'public.bench_mark', false)" >/dev/null
		psql_q sub "$db" -c "CREATE EXTENSION pglogical" \
			-c "SELECT pglogical.create_node(node_name := 'sub', dsn := '$subdsn')" \
			-c "SELECT pglogical.create_subscription(subscription_name := 'bench_sub',
				provider_dsn := '$pubdsn', replication_sets := ARRAY['bench_set'],
				synchronize_structure := false, synchronize_data := false,
				forward_origins := '{}')" >/dev/null
		;;
	esac
	psql_q sub "$db" -c "$WAIT_PROC"

	# --- streaming once (the setup works), then disabled --------------------
	if [ "$v" = d ]; then
		wait_for sub "$db" 60 "pglogical subscription replicating" \
			"SELECT coalesce(bool_and(status = 'replicating'), false) FROM pglogical.show_subscription_status('bench_sub')"
		slot=$(psql_q sub "$db" -c "SELECT slot_name FROM pglogical.show_subscription_status('bench_sub')")
		wait_for pub "$db" 60 "slot $slot active" \
			"SELECT coalesce(bool_and(active), false) FROM pg_replication_slots WHERE slot_name = '$slot'"
		psql_q sub "$db" -c "SELECT pglogical.alter_subscription_disable('bench_sub', true)" >/dev/null
		# pglogical names the apply worker's replication origin after the slot
		origin=$slot
	else
		wait_for sub "$db" 60 "apply worker streaming" \
			"SELECT count(*) = 1 FROM pg_stat_subscription WHERE subname = 'bench_sub' AND pid IS NOT NULL AND received_lsn IS NOT NULL"
		psql_q sub "$db" -c "ALTER SUBSCRIPTION bench_sub DISABLE"
		wait_for sub "$db" 60 "apply worker gone" \
			"SELECT count(*) = 0 FROM pg_stat_subscription WHERE subname = 'bench_sub' AND pid IS NOT NULL"
		origin=$(psql_q sub "$db" -c "SELECT 'pg_' || oid FROM pg_subscription WHERE subname = 'bench_sub'")
	fi
	wait_for pub "$db" 60 "slot $slot inactive" \
		"SELECT count(*) = 1 AND bool_and(NOT active) FROM pg_replication_slots WHERE slot_name = '$slot'"
	[ "$(psql_q sub "$db" -c "SELECT count(*) FROM pg_replication_origin WHERE roname = '$origin'")" = 1 ] ||
		die "no replication origin '$origin' on the subscriber ($v)"

	# --- backlog -------------------------------------------------------------
	psql_q pub "$db" -c "VACUUM ANALYZE public.bench" -c "CHECKPOINT" \
		-c "INSERT INTO public.bench_mark VALUES (1, NULL)"
	local log=$WORK/logs/pgbench_${v}_$r.log
	if ! as_pg timeout 600 pgbench -h "$SOCK" -p "${PORT[pub]}" -U postgres -n \
		-c "$CLIENTS" -j "$((CLIENTS > 1 ? 2 : 1))" -t "$PER_CLIENT" --random-seed="$SEED" \
		-D rows="$ROWS" -f "$WORK/apply_catchup_workload.sql" "$db" >"$log" 2>&1; then
		cat "$log" >&2
		die "pgbench failed ($v, round $r)"
	fi
	grep -q "^number of transactions actually processed: $K/$K" "$log" || {
		cat "$log" >&2
		die "pgbench did not process $K transactions ($v, round $r)"
	}
	# The apply has caught up when the origin passes this position: only the
	# marker transaction's commit, written after it, can.
	target=$(psql_q pub "$db" -c "SELECT pg_current_wal_insert_lsn()")
	psql_q pub "$db" -c "INSERT INTO public.bench_mark VALUES (2, NULL)"
	psql_q sub "$db" -c "VACUUM ANALYZE public.bench"
	psql_q pub "$db" -c "CHECKPOINT"
	psql_q sub "$db" -c "CHECKPOINT"
	sublog_off=$(stat -c %s "$WORK/sub.log")

	# --- timed catch-up ----------------------------------------------------------
	if [ "$v" = d ]; then
		wsql="SELECT pglogical.alter_subscription_enable('bench_sub', true)"
	else
		wsql="ALTER SUBSCRIPTION bench_sub ENABLE"
	fi
	printf '%s\n' "SELECT pg_catalog.clock_timestamp() AS t0 \\gset" "$wsql;" \
		"CALL public.bench_wait('$origin', '$target', :'t0', $TIMEOUT);" \
		"SELECT coalesce(extract(epoch FROM (SELECT applied_at FROM public.bench_mark WHERE id = 2) - :'t0')::text, 'n/a')
		        || ' ' || coalesce(extract(epoch FROM (SELECT applied_at FROM public.bench_mark WHERE id = 2)
		                                   - (SELECT applied_at FROM public.bench_mark WHERE id = 1))::text, 'n/a');" \
		>"$WORK/catchup_${v}_$r.sql"
	chown postgres:postgres "$WORK/catchup_${v}_$r.sql"
	if [ "${MM_BENCH_PERF:-0}" = 1 ]; then
		perf record -a -F 1999 -o "$WORK/logs/perf_${v}_$r.data" >"$WORK/logs/perf_${v}_$r.log" 2>&1 &
		PERF_PID=$!
		sleep 1
	fi
	if ! out=$(psql_q sub "$db" -f "$WORK/catchup_${v}_$r.sql" 2>"$WORK/logs/wait_${v}_$r.err"); then
		cat "$WORK/logs/wait_${v}_$r.err" >&2
		warn "subscriber log since the enable:"
		tail -c +"$((sublog_off + 1))" "$WORK/sub.log" | tail -n 30 >&2
		die "catch-up of variant $v failed (round $r)"
	fi
	stop_perf
	polled=$(tail -n 2 <<<"$out" | head -n 1)
	read -r secs apply_secs <<<"$(tail -n 1 <<<"$out")"
	[[ $polled =~ ^[0-9.]+$ ]] || die "no catch-up time ($v, round $r): $out"
	if ! [[ $secs =~ ^[0-9.]+$ ]]; then
		# the end marker was applied but not stamped: the polled time
		RESULT_NOTE="marker rows not stamped on the subscriber, polled time used"
		secs=$polled
	fi

	# CPU of the two processes that did the work (both started at the enable)
	if [ "$v" = d ]; then
		apply_pid=$(psql_q sub "$db" -c "SELECT pid FROM pg_stat_activity
			WHERE datname = '$db' AND backend_type LIKE 'pglogical apply%' LIMIT 1")
	else
		apply_pid=$(psql_q sub "$db" -c "SELECT pid FROM pg_stat_subscription
			WHERE subname = 'bench_sub' AND relid IS NULL")
	fi
	ws_pid=$(psql_q pub "$db" -c "SELECT active_pid FROM pg_replication_slots WHERE slot_name = '$slot'")
	RESULT_APPLY_CPU=$(cpu_seconds "$apply_pid")
	RESULT_WS_CPU=$(cpu_seconds "$ws_pid")
	if [ "${MM_BENCH_PERF:-0}" = 1 ]; then
		{
			printf '== apply worker (pid %s)\n' "$apply_pid"
			perf report -i "$WORK/logs/perf_${v}_$r.data" --pid "$apply_pid" --stdio \
				--percentage relative --sort dso 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 8
			perf report -i "$WORK/logs/perf_${v}_$r.data" --pid "$apply_pid" --stdio \
				--percentage relative --sort dso,sym 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 40
			printf '== walsender (pid %s)\n' "$ws_pid"
			perf report -i "$WORK/logs/perf_${v}_$r.data" --pid "$ws_pid" --stdio \
				--percentage relative --sort dso,sym 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 25
		} >"$WORK/logs/perf_${v}_$r.txt" || true
	fi

	# --- the subscriber has the publisher's rows -------------------------------------
	pubck=$(psql_q pub "$db" -c "$CHECK_SQL")
	subck=$(psql_q sub "$db" -c "$CHECK_SQL")
	if [ "${pubck% *}" = "${subck% *}" ]; then
		RESULT_CHECK=identical
		if [ "$v" != a ] && [ "$v" != d ]; then
			if [ "${pubck##* }" = "${subck##* }" ]; then
				RESULT_CHECK='identical (versions too)'
			else
				RESULT_CHECK='(id, v) identical, versions differ'
			fi
		fi
	else
		RESULT_CHECK="DIFFERENT: publisher ${pubck% *}, subscriber ${subck% *} (count checksum)"
		warn "variant $v round $r: subscriber rows differ from the publisher's"
	fi
	errs=$(tail -c +"$((sublog_off + 1))" "$WORK/sub.log" | grep -c 'ERROR:' || true)
	if [ "$errs" != 0 ]; then
		RESULT_NOTE="$errs ERROR lines in the subscriber log"
		warn "variant $v round $r: $RESULT_NOTE:"
		tail -c +"$((sublog_off + 1))" "$WORK/sub.log" | grep 'ERROR:' | head -n 5 >&2
	fi
	RESULT_SECS=$(awk -v s="$secs" 'BEGIN { printf "%.3f", s }')
	if [[ $apply_secs =~ ^[0-9.]+$ ]]; then
		RESULT_APPLY_SECS=$(awk -v s="$apply_secs" 'BEGIN { printf "%.3f", s }')
	else
		RESULT_APPLY_SECS=n/a
	fi

	# --- cleanup -------------------------------------------------------------
	# The databases stay (the servers are thrown away at the end): DROP
	# DATABASE waits for every process to absorb a ProcSignalBarrier, and
	# pglogical 2.4.2's supervisor (preloaded on both servers) does not (a
	# DROP DATABASE waited more than 5 minutes for it).
	if [ "$v" = d ]; then
		psql_q sub "$db" -c "SELECT pglogical.drop_subscription('bench_sub')" \
			-c "SELECT pglogical.drop_node('sub')" >/dev/null
		psql_q pub "$db" -c "SELECT pglogical.drop_node('pub')" >/dev/null
	else
		psql_q sub "$db" -c "DROP SUBSCRIPTION bench_sub" 2>/dev/null
	fi
	wait_for pub postgres 30 "slot $slot dropped" \
		"SELECT count(*) = 0 FROM pg_replication_slots WHERE slot_name = '$slot'"
}

# ---------------------------------------------------------------------------
# Rounds
# ---------------------------------------------------------------------------
declare -A SECS=() ASECS=() CHECKS=() APCPU=() WSCPU=() NOTES=()
nvar=${#VARIANTS[@]}
rounds_done=0
for ((r = 1; r <= ROUNDS; r++)); do
	now=$(date +%s)
	if [ "$r" -gt 1 ] && [ $((now - START_TS)) -ge "$BUDGET" ]; then
		note "time budget (${BUDGET} s) used: no round $r"
		break
	fi
	for ((i = 0; i < nvar; i++)); do
		v=${VARIANTS[$(( (i + r - 1) % nvar ))]}
		note "round $r/$ROUNDS: ${LABEL[$v]} ($K transactions)"
		run_one "$v" "$r"
		SECS[$v]+="$RESULT_SECS "
		ASECS[$v]+="$RESULT_APPLY_SECS "
		APCPU[$v]+="$RESULT_APPLY_CPU "
		WSCPU[$v]+="$RESULT_WS_CPU "
		CHECKS[$v]+="${CHECKS[$v]:+; }r$r: $RESULT_CHECK"
		[ -z "$RESULT_NOTE" ] || NOTES[$v]+="${NOTES[$v]:+; }r$r: $RESULT_NOTE"
		note "  $(awk -v s="$RESULT_SECS" -v k="$K" 'BEGIN { printf "%.3f s, %.0f txns/s", s, k / s }') (first to last applied: $RESULT_APPLY_SECS s), apply CPU $RESULT_APPLY_CPU s, walsender CPU $RESULT_WS_CPU s, rows $RESULT_CHECK${RESULT_NOTE:+, $RESULT_NOTE}"
	done
	rounds_done=$r
done

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
median() {	# numbers... ("n/a" ignored)
	printf '%s\n' "$@" | grep -v '^n/a$' | sort -g | awk '{ a[NR] = $1 }
		END { if (NR == 0) print "n/a"; else if (NR % 2) printf "%.3f", a[(NR + 1) / 2];
		      else printf "%.3f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
rate() {	# seconds
	awk -v s="$1" -v k="$K" 'BEGIN { if (s == "n/a" || s <= 0) print "n/a"; else printf "%.0f", k / s }'
}
declare -A MSECS=() MASECS=() RATE=() ARATE=() MAPCPU=() MWSCPU=()
for v in "${VARIANTS[@]}"; do
	# shellcheck disable=SC2086  # word splitting intended
	MSECS[$v]=$(median ${SECS[$v]})
	# shellcheck disable=SC2086
	MASECS[$v]=$(median ${ASECS[$v]})
	# shellcheck disable=SC2086
	MAPCPU[$v]=$(median ${APCPU[$v]})
	# shellcheck disable=SC2086
	MWSCPU[$v]=$(median ${WSCPU[$v]})
	RATE[$v]=$(rate "${MSECS[$v]}")
	ARATE[$v]=$(rate "${MASECS[$v]}")
done
ratio() {	# value baseline
	awk -v x="$1" -v b="$2" 'BEGIN { if (x == "n/a" || b == "n/a" || b == "") print "n/a"; else printf "%.2f", x / b }'
}
list() {	# words -> "w1, w2"
	printf '%s' "${1% }" | sed 's/ /, /g'
}

CPU_MODEL=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
printf '\n## Apply catch-up: replicated single-row transactions applied per second\n\n'
printf -- '- machine: nproc=%s%s, %s, kernel %s\n' "$(nproc)" "${CPU_MODEL:+ ($CPU_MODEL)}" \
	"$(awk '/^MemTotal/ { printf "%.0f GB RAM", $2 / 1048576 }' /proc/meminfo)" "$(uname -r)"
printf -- '- server: %s; pglogical %s\n' "$PG_VERSION" "$PGL_VERSION"
printf -- '- both nodes: %s\n' "$(printf '%s; ' "${SETTINGS[@]}" | sed 's/; $//')"
printf -- '- backlog: %s single-row transactions on the publisher while the subscription is disabled (pgbench -n -c %s -t %s, fixed seed; 70%% UPDATE of a random one of %s pre-populated ids, 30%% INSERT of a new id)\n' \
	"$K" "$CLIENTS" "$PER_CLIENT" "$ROWS"
printf -- '- seconds: from the enable until the subscriber has applied the backlog (origin polled every 100 ms; the end is the apply time of a marker transaction committed after the backlog, stamped on the subscriber); includes worker start and decoding on the publisher\n'
printf -- '- %s round(s), variants interleaved (order rotated), fresh databases per run; median per variant\n\n' "$rounds_done"

printf '| variant | txns | seconds | txns/s | ratio vs stock pgoutput |\n'
printf '|---|---:|---:|---:|---:|\n'
for v in "${VARIANTS[@]}"; do
	printf '| %s | %s | %s | %s | %s |\n' "${LABEL[$v]}" "$K" "${MSECS[$v]}" "${RATE[$v]}" \
		"$(ratio "${RATE[$v]}" "${RATE[a]:-}")"
done

printf '\n| variant | seconds per round | first-to-last applied s (median) | txns/s first-to-last | ratio | apply worker CPU s | µs apply CPU per txn | CPU ratio vs stock | walsender CPU s | rows after catch-up |\n'
printf '|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n'
for v in "${VARIANTS[@]}"; do
	per=$(awk -v c="${MAPCPU[$v]}" -v k="$K" 'BEGIN { if (c == "n/a") print "n/a"; else printf "%.1f", c / k * 1e6 }')
	if [[ ${CHECKS[$v]} =~ DIFFERENT|differ ]]; then
		rows=${CHECKS[$v]}
	else
		rows="${CHECKS[$v]##*: } in all $rounds_done round(s)"
	fi
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "${LABEL[$v]}" "$(list "${SECS[$v]}")" \
		"${MASECS[$v]}" "${ARATE[$v]}" "$(ratio "${ARATE[$v]}" "${ARATE[a]:-}")" \
		"${MAPCPU[$v]}" "$per" "$(ratio "${MAPCPU[a]:-}" "${MAPCPU[$v]}")" "${MWSCPU[$v]}" "$rows"
done
for v in "${VARIANTS[@]}"; do
	[ -z "${NOTES[$v]:-}" ] || printf '\n%s: %s\n' "${LABEL[$v]}" "${NOTES[$v]}"
done
printf '\n(first-to-last applied: between the subscriber'"'"'s apply of a marker transaction committed just before the backlog and one just after, i.e. without worker start-up. CPU = utime + stime, medians, of the apply worker on the subscriber and of the walsender on the publisher, both started by the enable; CPU ratio = stock apply CPU / variant apply CPU, the rate ratio an apply worker with a CPU of its own would see. %s CPUs shared by both servers and whatever else runs; load average at start %s, at end %s: with other load, wall-clock times vary far more than CPU times.)\n' \
	"$(nproc)" "$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)"
