#!/usr/bin/env bash
# test/bench/apply_catchup.sh: how fast a subscriber applies a backlog.
#
#   sudo test/bench/apply_catchup.sh [K]   (K = single-row transactions, default 50000)
#
# Two throwaway servers, a publisher and a subscriber.  Table
# bench(id int primary key, v text), ROWS (20000) identical rows on both.
# With the subscription disabled, the publisher writes a backlog, then the
# subscription is enabled and timed until the subscriber has applied all of
# it.  Rate = rows / seconds.  Workloads (MM_BENCH_WORKLOADS), each backlog
# written by one procedure call on the publisher (bench_backlog below,
# fixed random seed, a COMMIT after every row but in bulk):
#
#   insert   K single-row transactions, each an INSERT of a new id
#   update   K single-row transactions, each an UPDATE of a random one of the
#            ROWS pre-populated ids
#   bulk     one transaction: INSERT ... SELECT of MM_BENCH_BULK (200000) new
#            rows
#   mix      (not by default) K single-row transactions, 70 % UPDATE of a
#            random pre-populated id, 30 % INSERT of a new id
#
# Variants (MM_BENCH_VARIANTS), on the same two servers:
#
#   (a) stock    pgoutput slot + CREATE SUBSCRIPTION (create_slot = false),
#                plain table (the baseline)
#   (b) mm       slot created with the 'multimaster' output plugin +
#                CREATE SUBSCRIPTION (create_slot = false) to publication
#                multimaster; init_node(1,'p') / init_node(2,'s') and
#                multimaster.add_table('public.bench') on both nodes: UPDATEs
#                travel as full-row INSERTs that the C trigger upserts
#   (c) plpgsql  (not by default) stock pgoutput into the same table as (b)
#                with an equivalent PL/pgSQL trigger enabled ALWAYS
#                (test/bench/apply_catchup_plpgsql.sql)
#   (d) pglogical  pglogical 2 (create_node, create_replication_set,
#                replication_set_add_table, create_subscription), plain table
#
# and two diagnostics, not run by default (MM_BENCH_VARIANTS="a b e f"):
#   (e) as (b), but the publisher's table REPLICA IDENTITY FULL (set by
#       hand; add_table() leaves DEFAULT): what the old tuple in the WAL
#       costs
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
# snapshot) until it reaches the publisher's WAL insert position taken
# after the backlog and the end marker is there; pglogical names its origin
# after its slot.  "seconds" = from the enable to the end
# marker's apply (worker start and decoding on the publisher included);
# "first-to-last" = between the two markers' applies (no worker start-up):
# the rate the targets are judged on.
#
# Memory: while each catch-up runs, the apply worker's /proc/PID/status is
# read every 100 ms: the peak of RssAnon (its private memory: what would
# grow with the backlog if the worker kept something per row) and, at the
# end, VmHWM (the kernel's peak of its whole RSS, which also counts the
# shared buffers it touched, so it grows with the table it writes).  Then,
# unless MM_BENCH_RSS_ROWS=0, one more bulk catch-up of MM_BENCH_RSS_ROWS
# (1000000) rows in one transaction for each of MM_BENCH_RSS_VARIANTS
# ("b"), whose peaks are set beside those of the MM_BENCH_BULK-row runs.
#
# Checks after each run: the subscriber's rows equal the publisher's (count
# and sum(hashtext((id, v)::text)); for the versioned variants also the
# whole rows, versions included), and no ERROR in the subscriber's log.
#
# Each round sets every variant up in a fresh pair of databases (the
# variants' order rotated each round), where the workloads then run in
# turn, each its backlog with the subscription disabled and then its timed
# catch-up (a new apply worker each time); a round starts only while the
# time budget lasts.  The median per workload and variant is reported as
# markdown tables, with the CPU time of the apply worker and of the
# walsender (both started by the enable) and the targets (multimaster
# >= 0.9 x stock and >= pglogical, first-to-last) said met or not.
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
# ports, unix sockets in that directory; test/lib.sh: mm_bench_nodes),
# stopped on exit.  About 7 minutes with the defaults on 2 busy cores (2
# rounds fit in the budget there, then the memory run); every wait is
# bounded.
#
# Environment: PG_CONFIG (the PostgreSQL 15 to build for and run, default
# the Debian server's), MM_BENCH_ROUNDS (3), MM_BENCH_ROWS (20000),
# MM_BENCH_BULK (200000), MM_BENCH_WORKLOADS ("insert update bulk"; also
# mix), MM_BENCH_VARIANTS ("a b d"; also c, diagnostics e f),
# MM_BENCH_RSS_ROWS (1000000; 0 = no such run), MM_BENCH_RSS_VARIANTS
# ("b"), MM_BENCH_PORT (first port tried, 56432), MM_BENCH_TIMEOUT
# (catch-up timeout in seconds per 200000 rows, at least 150),
# MM_BENCH_BUDGET (seconds after the start past which no new round starts,
# 240), MM_BENCH_PERF=1 (perf record -a -g during each catch-up, apply
# worker and walsender profiles in the kept logs, logs/perf_*.txt, see
# perf_summary; installs linux-perf; perturbs the timings), MM_BENCH_SKIP_BUILD=1 (use the installed extension), KEEP_TMP=1
# (keep the temp directory: server logs, perf profiles).
set -euo pipefail

# PGVER, PGBIN, PG_CONFIG, PATH, REPO; as_pg and the mm_* setup functions.
# shellcheck source=SCRIPTDIR/../lib.sh disable=SC1091  # followed with -x
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)

K=${1:-50000}
BULK=${MM_BENCH_BULK:-200000}
RSS_ROWS=${MM_BENCH_RSS_ROWS:-1000000}
TIMEOUT=${MM_BENCH_TIMEOUT:-150}
BUDGET=${MM_BENCH_BUDGET:-240}
read -r -a WORKLOADS <<<"${MM_BENCH_WORKLOADS:-insert update bulk}"
read -r -a VARIANTS <<<"${MM_BENCH_VARIANTS:-a b d}"
read -r -a RSS_VARIANTS <<<"${MM_BENCH_RSS_VARIANTS:-b}"
SEED=0.20240101
declare -A LABEL=(
	[a]='(a) stock pgoutput, plain table'
	[b]='(b) multimaster plugin + C trigger'
	[c]='(c) stock pgoutput + PL/pgSQL trigger'
	[d]='(d) pglogical 2'
	[e]='(e) diagnostic: (b) with REPLICA IDENTITY FULL'
	[f]='(f) diagnostic: multimaster C trigger, stock pgoutput'
)
declare -A WLABEL=(
	[insert]='insert-only'
	[update]='update-only'
	[bulk]='bulk'
	[mix]='70/30 update/insert'
)

# warn, die, note: the ones of lib.sh (on stderr)
mm_bench_args K "$K" 3 20000
[[ $BULK =~ ^[1-9][0-9]*$ ]] || die "MM_BENCH_BULK must be a positive integer"
[[ $RSS_ROWS =~ ^[0-9]+$ ]] || die "MM_BENCH_RSS_ROWS must be a non-negative integer"
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "MM_BENCH_TIMEOUT must be a positive integer"
[[ $BUDGET =~ ^[0-9]+$ ]] || die "MM_BENCH_BUDGET must be a non-negative integer"
[ ${#VARIANTS[@]} -gt 0 ] || die "MM_BENCH_VARIANTS is empty"
[ ${#WORKLOADS[@]} -gt 0 ] || die "MM_BENCH_WORKLOADS is empty"
for v in "${VARIANTS[@]}" "${RSS_VARIANTS[@]}"; do
	[ -n "${LABEL[$v]+x}" ] || die "unknown variant '$v' (a b c d, diagnostics e f)"
done
for w in "${WORKLOADS[@]}"; do
	[ -n "${WLABEL[$w]+x}" ] || die "unknown workload '$w' in MM_BENCH_WORKLOADS (insert update bulk mix)"
done
[ "$(id -u)" = 0 ] || die "run as root (sudo $0): installs packages and runs the servers as 'postgres'"

START_TS=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
WORK=
# the publisher is node 1, the subscriber node 2 (mm_bench_nodes)
declare -A NODE=([pub]=1 [sub]=2)
NODES=(pub sub)

PERF_PID='' SAMPLER_PID=''
stop_perf() {	# the perf record started for this run, if any
	if [ -n "$PERF_PID" ]; then
		kill -INT "$PERF_PID" 2>/dev/null || true
		wait "$PERF_PID" 2>/dev/null || true
		PERF_PID=
	fi
}
stop_sampler() {	# the memory sampler of this run, if any
	if [ -n "$SAMPLER_PID" ]; then
		touch "$WORK/sampler.stop"
		wait "$SAMPLER_PID" 2>/dev/null || true
		SAMPLER_PID=
	fi
}
# shellcheck disable=SC2317  # run by mm_bench_nodes_exit
mm_bench_cleanup() {
	stop_perf
	stop_sampler
}
mm_exit_traps mm_bench_nodes_exit

# ---------------------------------------------------------------------------
# Packages, build, servers
# ---------------------------------------------------------------------------
if [ "${MM_BENCH_PERF:-0}" = 1 ]; then
	mm_install_missing note 300 600 linux-perf >&2 || die "could not install linux-perf"
fi
# On top of test/node.conf's.  max_worker_processes: each database where
# pglogical ran keeps a manager process until its extension is dropped.
SETTINGS=(
	"synchronous_commit = off"
	"shared_buffers = 256MB"
	"shared_preload_libraries = 'pglogical'"
	"max_wal_size = 4GB"
	"checkpoint_timeout = 30min"
	"autovacuum = off"
	"jit = off"
	"wal_retrieve_retry_interval = 100ms"
	"max_worker_processes = 40"
)
mm_bench_nodes 2 "${MM_BENCH_PORT:-56432}" 300:120 pglogical "${SETTINGS[@]}"
mkdir -p "$WORK/logs"
SUBLOG=$WORK/node${NODE[sub]}.log
SUB_POSTMASTER=$(head -n 1 "${MM_DATA[${NODE[sub]}]}/postmaster.pid")

psql_q() {	# pub|sub db sql...: unaligned, tuples only, stop on error
	local n=$1
	shift
	mm_bench_psql "${NODE[$n]}" "$@"
}
dsn() {	# pub|sub db
	printf 'host=%s port=%s dbname=%s user=postgres' "$MM_SOCK" "${MM_PORT[${NODE[$1]}]}" "$2"
}
wait_for() {	# pub|sub db seconds description sql-returning-t
	mm_bench_wait "${NODE[$1]}" "${@:2}"
}

PG_VERSION=$(psql_q pub postgres -c 'SELECT version()')
PGL_VERSION=$(psql_q pub postgres -c "SELECT default_version FROM pg_available_extensions WHERE name = 'pglogical'")
HZ=$(getconf CLK_TCK)

cp "$SCRIPT_DIR/apply_catchup_plpgsql.sql" "$WORK/"
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

status_kb() {	# pid field: a "kB" field of /proc/PID/status (n/a if gone)
	local k v _
	while read -r k v _; do
		if [ "$k" = "$2:" ]; then
			printf '%s' "$v"
			return 0
		fi
	done 2>/dev/null <"/proc/$1/status" || true
	printf 'n/a'
}

# The apply worker's memory during a catch-up: finds the worker among the
# subscriber postmaster's children by its process title, then reads its
# RssAnon every 100 ms until $WORK/sampler.stop exists or secs have passed.
# Writes "peak-RssAnon-kB pid" to file (n/a if no worker was found).
rss_sampler() {	# title-pattern file secs
	local pat=$1 out=$2 end=$((SECONDS + $3)) pid='' d ppid _ title anon peak=0
	while [ ! -e "$WORK/sampler.stop" ] && [ "$SECONDS" -lt "$end" ]; do
		if [ -z "$pid" ]; then
			for d in /proc/[0-9]*; do
				read -r _ _ _ ppid _ 2>/dev/null <"$d/stat" || continue
				[ "$ppid" = "$SUB_POSTMASTER" ] || continue
				title=$(tr '\0' ' ' 2>/dev/null <"$d/cmdline") || continue
				case $title in
				*"$pat"*) pid=${d#/proc/}; break ;;
				esac
			done
		fi
		if [ -n "$pid" ]; then
			anon=$(status_kb "$pid" RssAnon)
			[ "$anon" = n/a ] || [ "$anon" -le "$peak" ] || peak=$anon
		fi
		sleep 0.1
	done
	if [ -n "$pid" ]; then
		printf '%s %s\n' "$peak" "$pid" >"$out"
	else
		printf 'n/a -\n' >"$out"
	fi
}

# The subscriber's catch-up wait: polls the origin and the end marker every
# 100 ms, committing each time so that no snapshot holds back pruning on
# the subscriber.  (The origin alone is not enough: the end of the
# backlog's last commit record can be the very position taken as the
# target, and after a 200000-row transaction pglogical applied the end
# marker that much later that it was not there yet when looked at.)
WAIT_PROC="
CREATE PROCEDURE public.bench_wait(origin text, target pg_lsn, mark integer, t0 timestamptz,
                                   timeout_s float8, INOUT secs float8 DEFAULT NULL)
LANGUAGE plpgsql AS \$\$
DECLARE
    lsn pg_lsn;
BEGIN
    LOOP
        SELECT s.remote_lsn INTO lsn FROM pg_catalog.pg_replication_origin_status s
         WHERE s.external_id = origin;
        IF lsn >= target AND EXISTS (SELECT 1 FROM public.bench_mark m WHERE m.id = mark) THEN
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

# The backlog, written on the publisher by one CALL: a COMMIT after each
# row (single-row transactions without a client round trip per row), or one
# INSERT ... SELECT (bulk).  The random ids and values come from a fixed
# seed, so every variant gets the same backlog.  The update's id is drawn
# into a variable first: a volatile random() in the WHERE clause would be
# evaluated per row of a sequential scan.
BACKLOG_PROC="
CREATE PROCEDURE public.bench_backlog(kind text, n integer, nrows integer, seed float8)
LANGUAGE plpgsql AS \$\$
DECLARE
    next_id integer;
    k integer;
BEGIN
    PERFORM pg_catalog.setseed(seed);
    SELECT coalesce(max(b.id), 0) INTO next_id FROM public.bench b;
    IF kind = 'bulk' THEN
        INSERT INTO public.bench (id, v)
        SELECT g, pg_catalog.md5(g::text) FROM pg_catalog.generate_series(next_id + 1, next_id + n) g;
        RETURN;
    END IF;
    FOR i IN 1 .. n LOOP
        IF kind = 'insert' OR (kind = 'mix' AND pg_catalog.random() >= 0.7) THEN
            next_id := next_id + 1;
            INSERT INTO public.bench (id, v) VALUES (next_id, pg_catalog.md5(pg_catalog.random()::text));
        ELSE
            k := 1 + pg_catalog.floor(pg_catalog.random() * nrows)::integer;
            UPDATE public.bench SET v = pg_catalog.md5(pg_catalog.random()::text) WHERE id = k;
        END IF;
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

RESULT_SECS='' RESULT_APPLY_SECS='' RESULT_CHECK='' RESULT_APPLY_CPU='' RESULT_WS_CPU=''
RESULT_NOTE='' RESULT_ANON='' RESULT_HWM=''

# The pair of databases of a variant in a round: set up once, streaming
# checked once, then one catch-up per workload (setup_pair, catch_up,
# drop_pair).  PAIR_DB, PAIR_SLOT, PAIR_ORIGIN describe it.
PAIR_DB='' PAIR_SLOT='' PAIR_ORIGIN='' PAIR_VARIANT='' PAIR_MARK=0

setup_pair() {	# variant round
	local v=$1 db=cu_$1_$2 slot=bench_$1_$2 pubdsn subdsn origin
	pubdsn=$(dsn pub "$db")
	subdsn=$(dsn sub "$db")

	for n in "${NODES[@]}"; do
		psql_q "$n" postgres -c "CREATE DATABASE $db"
		psql_q "$n" "$db" -c "$(populate_sql "$v")"
	done
	psql_q pub "$db" -c "$BACKLOG_PROC"
	psql_q sub "$db" -c "$MARK_TRIGGER_SQL" -c "$WAIT_PROC"
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
		# (e): REPLICA IDENTITY FULL set by hand on the publisher (add_table()
		# leaves DEFAULT: the trigger carries unchanged out-of-line values)
		[ "$v" != e ] || psql_q pub "$db" -c "ALTER TABLE public.bench REPLICA IDENTITY FULL"
		# (f): UPDATEs as UPDATEs
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

	# --- streaming once (the setup works) ----------------------------------
	if [ "$v" = d ]; then
		wait_for sub "$db" 60 "pglogical subscription replicating" \
			"SELECT coalesce(bool_and(status = 'replicating'), false) FROM pglogical.show_subscription_status('bench_sub')"
		slot=$(psql_q sub "$db" -c "SELECT slot_name FROM pglogical.show_subscription_status('bench_sub')")
		# pglogical names the apply worker's replication origin after the slot
		origin=$slot
	else
		wait_for sub "$db" 60 "apply worker streaming" \
			"SELECT count(*) = 1 FROM pg_stat_subscription WHERE subname = 'bench_sub' AND pid IS NOT NULL AND received_lsn IS NOT NULL"
		origin=$(psql_q sub "$db" -c "SELECT 'pg_' || oid FROM pg_subscription WHERE subname = 'bench_sub'")
	fi
	wait_for pub "$db" 60 "slot $slot active" \
		"SELECT coalesce(bool_and(active), false) FROM pg_replication_slots WHERE slot_name = '$slot'"
	[ "$(psql_q sub "$db" -c "SELECT count(*) FROM pg_replication_origin WHERE roname = '$origin'")" = 1 ] ||
		die "no replication origin '$origin' on the subscriber ($v)"
	PAIR_DB=$db PAIR_SLOT=$slot PAIR_ORIGIN=$origin PAIR_VARIANT=$v PAIR_MARK=0
}

# The subscription of the pair disabled, its worker and walsender gone.
disable_pair() {
	local db=$PAIR_DB
	if [ "$PAIR_VARIANT" = d ]; then
		psql_q sub "$db" -c "SELECT pglogical.alter_subscription_disable('bench_sub', true)" >/dev/null
	else
		psql_q sub "$db" -c "ALTER SUBSCRIPTION bench_sub DISABLE"
		wait_for sub "$db" 60 "apply worker gone" \
			"SELECT count(*) = 0 FROM pg_stat_subscription WHERE subname = 'bench_sub' AND pid IS NOT NULL"
	fi
	wait_for pub "$db" 60 "slot $PAIR_SLOT inactive" \
		"SELECT count(*) = 1 AND bool_and(NOT active) FROM pg_replication_slots WHERE slot_name = '$PAIR_SLOT'"
}

# The profile of a catch-up (MM_BENCH_PERF=1): the apply worker's samples
# by library and by function (self), its inclusive shares for the
# functions of the apply and trigger path (from frame-pointer call chains:
# Debian's postgres is stripped and partly built without frame pointers,
# so these are approximate, and a sample may count twice), and the
# walsender's top functions.
perf_summary() {	# data apply-pid walsender-pid
	local data=$1 apid=$2 wpid=$3
	printf '== apply worker (pid %s): share of its samples by library (self)\n' "$apid"
	perf report -i "$data" --pid "$apid" --stdio --no-children -g none --percentage relative \
		--sort dso,sym 2>/dev/null | grep -v '^#' | grep -v '^$' |
		awk '{ gsub(/%/, "", $1); s[$2] += $1 } END { for (d in s) printf "%7.2f%%  %s\n", s[d], d }' |
		sort -rn | head -n 8
	printf '== apply worker: top functions (self)\n'
	perf report -i "$data" --pid "$apid" --stdio --no-children -g none --percentage relative \
		--sort dso,sym 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 40
	printf '== apply worker: inclusive shares of the apply path (approximate; %% of the samples under ApplyWorkerMain)\n'
	perf report -i "$data" --pid "$apid" --stdio --children -g none --percentage relative \
		--sort sym 2>/dev/null | grep -v '^#' |
		grep -E ' (ApplyWorkerMain|mm_[a-z_]+|key_present|ExecSimpleRelation(Insert|Update|Delete)|ExecBR(Insert|Update|Delete)Triggers|heap_(insert|update|delete)|ExecInsertIndexTuples|XLogInsert|PQconsumeInput|CommitTransactionCommand|logicalrep_rel_open)$' |
		awk '{ v = $1; sub(/%/, "", v); if ($NF == "ApplyWorkerMain") base = v; name[NR] = $NF; val[NR] = v }
			END { if (base > 0) for (i = 1; i <= NR && i <= 30; i++) printf "%7.2f%%  %s\n", val[i] / base * 100, name[i] }' 
	printf '== walsender (pid %s): top functions (self)\n' "$wpid"
	perf report -i "$data" --pid "$wpid" --stdio --no-children -g none --percentage relative \
		--sort dso,sym 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 25
}

# One timed catch-up of the pair: a backlog of workload w written while
# the subscription is disabled, then the enable, timed.
catch_up() {	# workload n tag
	local w=$1 nrows=$2 tag=$3 v=$PAIR_VARIANT db=$PAIR_DB slot=$PAIR_SLOT origin=$PAIR_ORIGIN
	local target secs wsql apply_pid ws_pid pubck subck sublog_off errs out polled apply_secs
	local timeout pat sampled_pid m1 m2
	timeout=$(( TIMEOUT * (nrows + 199999) / 200000 ))
	[ "$timeout" -ge "$TIMEOUT" ] || timeout=$TIMEOUT
	m1=$((PAIR_MARK + 1)) m2=$((PAIR_MARK + 2))
	PAIR_MARK=$m2
	RESULT_NOTE=

	disable_pair
	# --- backlog -------------------------------------------------------------
	psql_q pub "$db" -c "INSERT INTO public.bench_mark VALUES ($m1, NULL)"
	psql_q pub "$db" -c "CALL public.bench_backlog('$w', $nrows, $ROWS, $SEED)" ||
		die "the backlog failed ($tag)"
	# The apply has caught up when the origin has reached this position and
	# the end marker, committed after it, has been applied.
	target=$(psql_q pub "$db" -c "SELECT pg_current_wal_insert_lsn()")
	psql_q pub "$db" -c "INSERT INTO public.bench_mark VALUES ($m2, NULL)"
	psql_q sub "$db" -c "VACUUM ANALYZE public.bench" -c "CHECKPOINT" &
	psql_q pub "$db" -c "CHECKPOINT" || die "checkpoint failed"
	wait $! || die "vacuum or checkpoint failed on the subscriber"
	sublog_off=$(stat -c %s "$SUBLOG")

	# --- timed catch-up ----------------------------------------------------------
	if [ "$v" = d ]; then
		wsql="SELECT pglogical.alter_subscription_enable('bench_sub', true)"
		pat='pglogical apply'
	else
		wsql="ALTER SUBSCRIPTION bench_sub ENABLE"
		pat='logical replication worker for subscription'
	fi
	printf '%s\n' "SELECT pg_catalog.clock_timestamp() AS t0 \\gset" "$wsql;" \
		"CALL public.bench_wait('$origin', '$target', $m2, :'t0', $timeout);" \
		"SELECT coalesce(extract(epoch FROM (SELECT applied_at FROM public.bench_mark WHERE id = $m2) - :'t0')::text, 'n/a')
		        || ' ' || coalesce(extract(epoch FROM (SELECT applied_at FROM public.bench_mark WHERE id = $m2)
		                                   - (SELECT applied_at FROM public.bench_mark WHERE id = $m1))::text, 'n/a');" \
		>"$WORK/catchup_$tag.sql"
	chown postgres:postgres "$WORK/catchup_$tag.sql"
	if [ "${MM_BENCH_PERF:-0}" = 1 ]; then
		perf record -a -g -F 1999 -o "$WORK/logs/perf_$tag.data" >"$WORK/logs/perf_$tag.log" 2>&1 &
		PERF_PID=$!
		sleep 1
	fi
	rm -f "$WORK/sampler.stop" "$WORK/logs/rss_$tag"
	rss_sampler "$pat" "$WORK/logs/rss_$tag" $((timeout + 30)) &
	SAMPLER_PID=$!
	if ! out=$(psql_q sub "$db" -f "$WORK/catchup_$tag.sql" 2>"$WORK/logs/wait_$tag.err"); then
		cat "$WORK/logs/wait_$tag.err" >&2
		warn "subscriber log since the enable:"
		tail -c +"$((sublog_off + 1))" "$SUBLOG" | tail -n 30 >&2
		die "catch-up of variant $v, workload $w failed ($tag)"
	fi
	stop_perf
	stop_sampler
	polled=$(tail -n 2 <<<"$out" | head -n 1)
	read -r secs apply_secs <<<"$(tail -n 1 <<<"$out")"
	[[ $polled =~ ^[0-9.]+$ ]] || die "no catch-up time ($tag): $out"
	if ! [[ $secs =~ ^[0-9.]+$ ]]; then
		# the end marker was applied but not stamped: the polled time
		RESULT_NOTE="marker rows not stamped on the subscriber, polled time used"
		secs=$polled
	fi

	# CPU and memory of the two processes that did the work (both started
	# at the enable)
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
	RESULT_HWM=n/a
	[ -z "$apply_pid" ] || RESULT_HWM=$(status_kb "$apply_pid" VmHWM)
	RESULT_ANON=n/a
	if [ -s "$WORK/logs/rss_$tag" ]; then
		read -r RESULT_ANON sampled_pid <"$WORK/logs/rss_$tag"
		if [ "$sampled_pid" != "$apply_pid" ]; then
			RESULT_NOTE+="${RESULT_NOTE:+; }memory sampled from pid $sampled_pid, the apply worker is $apply_pid"
			RESULT_ANON=n/a
		fi
	fi
	if [ "${MM_BENCH_PERF:-0}" = 1 ]; then
		perf_summary "$WORK/logs/perf_$tag.data" "$apply_pid" "$ws_pid" >"$WORK/logs/perf_$tag.txt" || true
		note "  perf profile: $WORK/logs/perf_$tag.txt"
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
		warn "$tag: subscriber rows differ from the publisher's"
	fi
	errs=$(tail -c +"$((sublog_off + 1))" "$SUBLOG" | grep -c 'ERROR:' || true)
	if [ "$errs" != 0 ]; then
		RESULT_NOTE+="${RESULT_NOTE:+; }$errs ERROR lines in the subscriber log"
		warn "$tag: $errs ERROR lines in the subscriber log:"
		tail -c +"$((sublog_off + 1))" "$SUBLOG" | grep 'ERROR:' | head -n 5 >&2
	fi
	RESULT_SECS=$(awk -v s="$secs" 'BEGIN { printf "%.3f", s }')
	if [[ $apply_secs =~ ^[0-9.]+$ ]]; then
		RESULT_APPLY_SECS=$(awk -v s="$apply_secs" 'BEGIN { printf "%.3f", s }')
	else
		RESULT_APPLY_SECS=n/a
	fi
}

# The subscription and its slot gone.  The databases stay (the servers are
# thrown away at the end): DROP DATABASE waits for every process to absorb
# a ProcSignalBarrier, and pglogical 2.4.2's supervisor (preloaded on both
# servers) does not (a DROP DATABASE waited more than 5 minutes for it).
# Without its extension, a database gets no pglogical manager process any
# more.
drop_pair() {
	local db=$PAIR_DB
	if [ "$PAIR_VARIANT" = d ]; then
		psql_q sub "$db" -c "SELECT pglogical.drop_subscription('bench_sub')" \
			-c "SELECT pglogical.drop_node('sub')" -c "DROP EXTENSION pglogical" >/dev/null
		psql_q pub "$db" -c "SELECT pglogical.drop_node('pub')" -c "DROP EXTENSION pglogical" >/dev/null
	else
		psql_q sub "$db" -c "DROP SUBSCRIPTION bench_sub" 2>/dev/null
	fi
	wait_for pub postgres 30 "slot $PAIR_SLOT dropped" \
		"SELECT count(*) = 0 FROM pg_replication_slots WHERE slot_name = '$PAIR_SLOT'"
	PAIR_DB=''
}

# ---------------------------------------------------------------------------
# Rounds
# ---------------------------------------------------------------------------
workload_rows() {	# workload
	case $1 in
	bulk) printf '%s' "$BULK" ;;
	*) printf '%s' "$K" ;;
	esac
}

declare -A SECS=() ASECS=() CHECKS=() APCPU=() WSCPU=() NOTES=() ANON=() HWM=()
record() {	# key round
	SECS[$1]+="$RESULT_SECS "
	ASECS[$1]+="$RESULT_APPLY_SECS "
	APCPU[$1]+="$RESULT_APPLY_CPU "
	WSCPU[$1]+="$RESULT_WS_CPU "
	ANON[$1]+="$RESULT_ANON "
	HWM[$1]+="$RESULT_HWM "
	CHECKS[$1]+="${CHECKS[$1]:+; }r$2: $RESULT_CHECK"
	[ -z "$RESULT_NOTE" ] || NOTES[$1]+="${NOTES[$1]:+; }r$2: $RESULT_NOTE"
}
say_run() {	# rows
	note "  $(awk -v s="$RESULT_SECS" -v a="$RESULT_APPLY_SECS" -v k="$1" 'BEGIN {
		printf "%.3f s, %.0f rows/s; first to last applied %s s", s, k / s, a;
		if (a != "n/a" && a > 0) printf ", %.0f rows/s", k / a }'), apply CPU $RESULT_APPLY_CPU s, walsender CPU $RESULT_WS_CPU s, apply RssAnon peak $RESULT_ANON kB, VmHWM $RESULT_HWM kB, rows $RESULT_CHECK${RESULT_NOTE:+, $RESULT_NOTE}"
}

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
		setup_pair "$v" "$r"
		for w in "${WORKLOADS[@]}"; do
			rows=$(workload_rows "$w")
			note "round $r/$ROUNDS: ${LABEL[$v]}, ${WLABEL[$w]} ($rows rows)"
			catch_up "$w" "$rows" "${v}_${r}_$w"
			record "$w,$v" "$r"
			say_run "$rows"
		done
		drop_pair
	done
	rounds_done=$r
done

# The apply worker's memory over a large catch-up
if [ "$RSS_ROWS" -gt 0 ]; then
	for v in "${RSS_VARIANTS[@]}"; do
		note "memory: ${LABEL[$v]}, bulk ($RSS_ROWS rows in one transaction)"
		setup_pair "$v" rss
		catch_up bulk "$RSS_ROWS" "${v}_rss"
		record "rss,$v" rss
		say_run "$RSS_ROWS"
		drop_pair
	done
fi

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
median() { mm_median 3 "$@"; }
rate() {	# rows seconds
	awk -v s="$2" -v k="$1" 'BEGIN { if (s == "n/a" || s <= 0) print "n/a"; else printf "%.0f", k / s }'
}
ratio() {	# value baseline
	awk -v x="$1" -v b="$2" 'BEGIN { if (x == "n/a" || x == "" || b == "n/a" || b == "" || b == 0) print "n/a"; else printf "%.2f", x / b }'
}
mb() {	# kB
	awk -v k="$1" 'BEGIN { if (k == "n/a" || k == "") print "n/a"; else printf "%.1f", k / 1024 }'
}
list() {	# words -> "w1, w2"
	printf '%s' "${1% }" | sed 's/ /, /g'
}
declare -A MSECS=() MASECS=() RATE=() ARATE=() MAPCPU=() MWSCPU=() MANON=() MHWM=()
for key in "${!SECS[@]}"; do
	w=${key%%,*}
	if [ "$w" = rss ]; then rows=$RSS_ROWS; else rows=$(workload_rows "$w"); fi
	# shellcheck disable=SC2086  # word splitting intended
	MSECS[$key]=$(median ${SECS[$key]})
	# shellcheck disable=SC2086
	MASECS[$key]=$(median ${ASECS[$key]})
	# shellcheck disable=SC2086
	MAPCPU[$key]=$(median ${APCPU[$key]})
	# shellcheck disable=SC2086
	MWSCPU[$key]=$(median ${WSCPU[$key]})
	# shellcheck disable=SC2086
	MANON[$key]=$(median ${ANON[$key]})
	# shellcheck disable=SC2086
	MHWM[$key]=$(median ${HWM[$key]})
	RATE[$key]=$(rate "$rows" "${MSECS[$key]}")
	ARATE[$key]=$(rate "$rows" "${MASECS[$key]}")
done

printf '\n## Apply catch-up: replicated rows applied per second\n\n'
printf -- '- machine: %s\n' "$(mm_machine)"
printf -- '- server: %s; pglogical %s\n' "$PG_VERSION" "$PGL_VERSION"
printf -- '- both nodes: %s\n' "$(printf '%s; ' "${MM_BENCH_SETTINGS[@]}" | sed 's/; $//')"
printf -- '- backlogs, written on the publisher while the subscription is disabled (one CALL, fixed seed), on %s pre-populated rows: insert-only = %s single-row INSERT transactions of new ids; update-only = %s single-row UPDATE transactions of random pre-populated ids; bulk = one INSERT ... SELECT of %s new rows; 70/30 = %s single-row transactions, 70%% UPDATE, 30%% INSERT\n' \
	"$ROWS" "$K" "$K" "$BULK" "$K"
printf -- '- seconds: from the enable until the subscriber has applied the backlog (origin polled every 100 ms; the end is the apply time of a marker transaction committed after the backlog, stamped on the subscriber); includes worker start and decoding on the publisher. first-to-last: between the applies of a marker committed just before the backlog and one just after (no worker start-up); the targets are judged on it\n'
printf -- '- %s round(s), each variant in a fresh pair of databases per round (order rotated each round), its workloads in turn (a new apply worker each); medians\n\n' "$rounds_done"

printf '| workload | variant | rows | seconds | first-to-last s | rows/s (first-to-last) | vs stock | vs pglogical | apply CPU µs/row | walsender CPU s | apply RssAnon peak MB | apply VmHWM MB |\n'
printf '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for w in "${WORKLOADS[@]}"; do
	rows=$(workload_rows "$w")
	for v in "${VARIANTS[@]}"; do
		key=$w,$v
		per=$(awk -v c="${MAPCPU[$key]}" -v k="$rows" 'BEGIN { if (c == "n/a") print "n/a"; else printf "%.1f", c / k * 1e6 }')
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "${WLABEL[$w]}" "${LABEL[$v]}" \
			"$rows" "${MSECS[$key]}" "${MASECS[$key]}" "${ARATE[$key]}" \
			"$(ratio "${ARATE[$key]}" "${ARATE[$w,a]:-}")" "$(ratio "${ARATE[$key]}" "${ARATE[$w,d]:-}")" \
			"$per" "${MWSCPU[$key]}" "$(mb "${MANON[$key]}")" "$(mb "${MHWM[$key]}")"
	done
done

printf '\n| workload | variant | seconds per round | first-to-last s per round | rows/s from the enable | apply CPU s | CPU ratio stock/variant | rows after catch-up |\n'
printf '|---|---|---|---|---:|---:|---:|---|\n'
for w in "${WORKLOADS[@]}"; do
	for v in "${VARIANTS[@]}"; do
		key=$w,$v
		if [[ ${CHECKS[$key]} =~ DIFFERENT|differ ]]; then
			rowcheck=${CHECKS[$key]}
		else
			rowcheck="${CHECKS[$key]##*: } in all $rounds_done round(s)"
		fi
		printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "${WLABEL[$w]}" "${LABEL[$v]}" \
			"$(list "${SECS[$key]}")" "$(list "${ASECS[$key]}")" "${RATE[$key]}" "${MAPCPU[$key]}" \
			"$(ratio "${MAPCPU[$w,a]:-}" "${MAPCPU[$key]}")" "$rowcheck"
	done
done
for key in "${!NOTES[@]}"; do
	printf '\n%s, %s: %s\n' "${WLABEL[${key%%,*}]:-memory run}" "${LABEL[${key#*,}]}" "${NOTES[$key]}"
done

# targets: multimaster >= 0.9 x stock and >= pglogical, first-to-last
if [[ " ${VARIANTS[*]} " == *" b "* ]]; then
	printf '\nTargets (multimaster, first-to-last rows/s, medians of this run):\n'
	for w in "${WORKLOADS[@]}"; do
		t1=$(ratio "${ARATE[$w,b]:-n/a}" "${ARATE[$w,a]:-n/a}")
		t2=$(ratio "${ARATE[$w,b]:-n/a}" "${ARATE[$w,d]:-n/a}")
		printf -- '- %s: %s x stock (target >= 0.90: %s), %s x pglogical (target >= 1.00: %s)\n' "${WLABEL[$w]}" \
			"$t1" "$(awk -v x="$t1" 'BEGIN { if (x == "n/a") print "not measured"; else print (x >= 0.9 ? "met" : "NOT met") }')" \
			"$t2" "$(awk -v x="$t2" 'BEGIN { if (x == "n/a") print "not measured"; else print (x >= 1.0 ? "met" : "NOT met") }')"
	done
fi

if [ "$RSS_ROWS" -gt 0 ]; then
	printf '\n### Apply worker memory over a catch-up of %s rows in one transaction (and of the %s-row bulk runs)\n\n' "$RSS_ROWS" "$BULK"
	printf '| variant | rows | first-to-last s | rows/s | apply RssAnon peak MB | apply VmHWM MB | rows after catch-up |\n'
	printf '|---|---:|---:|---:|---:|---:|---|\n'
	for v in "${RSS_VARIANTS[@]}"; do
		if [ -n "${SECS[bulk,$v]:-}" ]; then
			printf '| %s | %s | %s | %s | %s | %s | %s |\n' "${LABEL[$v]}" "$BULK" "${MASECS[bulk,$v]}" \
				"${ARATE[bulk,$v]}" "$(mb "${MANON[bulk,$v]}")" "$(mb "${MHWM[bulk,$v]}")" "${CHECKS[bulk,$v]##*: }"
		fi
		printf '| %s | %s | %s | %s | %s | %s | %s |\n' "${LABEL[$v]}" "$RSS_ROWS" "${MASECS[rss,$v]}" \
			"${ARATE[rss,$v]}" "$(mb "${MANON[rss,$v]}")" "$(mb "${MHWM[rss,$v]}")" "${CHECKS[rss,$v]##*: }"
	done
	printf '\n(RssAnon: the apply worker'"'"'s private memory, read from /proc/PID/status every 100 ms during the catch-up, peak; VmHWM: the kernel'"'"'s peak of its whole resident set at the end of the catch-up, shared buffers it touched included (shared_buffers = 256MB), so it grows with the pages it writes, not with what it keeps.)\n'
fi

printf '\n(CPU = utime + stime, medians, of the apply worker on the subscriber and of the walsender on the publisher, both started by the enable; CPU ratio = stock apply CPU / variant apply CPU, the rate ratio an apply worker with a CPU of its own would see. %s CPUs shared by both servers and whatever else runs; load average at start %s, at end %s: with other load, wall-clock times vary far more than CPU times.)\n' \
	"$(nproc)" "$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)"
