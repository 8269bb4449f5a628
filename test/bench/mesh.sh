#!/usr/bin/env bash
# test/bench/mesh.sh: a 3-node mesh under the classic workload, multimaster
# against pglogical, and what each change costs on the wire.
#
#   sudo test/bench/mesh.sh [seconds]    (load per round, default 60)
#
# Three throwaway servers on this machine, the same for both systems; each
# round builds, in fresh databases on the three servers (variants'
# order rotated each round):
#
#   mm   a multimaster mesh: multimaster.create_mesh() over the three, then
#        add_table_mesh() of the tables (last_update_wins)
#   pgl  a pglogical 2 mesh: create_node on each, the tables in the default
#        replication set, and on each node a subscription to each other
#        node with forward_origins '{}' (no forwarding: each change crosses
#        each link once); conflicts resolved by pglogical.conflict_resolution
#        = last_update_wins (needs track_commit_timestamp = on, set on every
#        server, so for multimaster too)
#
# Table mm(id int primary key, info text, mod_time timestamp), empty at the
# start.  The load is the classic recipe's (test/t/005_classic_workload.pl):
# pgbench -M prepared -c MM_BENCH_CLIENTS on every node at once for the
# given seconds, node k (1..3) running 5 upserts of ids 3n + k-1 (its own
# stripe), 5 updates of random ids and 2 deletes of random ids in 1..30000
# per transaction, so that updates and deletes race between nodes.
#
# Measured per round:
#   TPS        per node and in total (pgbench's, without connection time)
#   lag        a heartbeat: during the load a procedure on every node
#              updates its row of a replicated table hb(node, seq, sent_at)
#              every 100 ms and, every 500 ms, records for each peer's row
#              clock_timestamp() - sent_at (the age of the newest heartbeat
#              of that peer it has applied: the lag plus up to 100 ms); p50,
#              p99 and max over all samples of all six links.  For
#              comparison the same procedure samples pg_stat_replication.
#              replay_lag of its own walsenders (the time from a local WAL
#              flush to the subscriber's report of having applied it;
#              NULL = caught up, counted as 0).
#   drain      after the load (all pgbench exited): every node writes a last
#              heartbeat; the time until every node has applied every
#              peer's last heartbeat, i.e. all of the load
#   converged  count and sum(hashtext(row)) of mm on every node after the
#              drain (with the version columns for multimaster)
#   WAL        pg_current_wal_lsn() per node, from the start of the load to
#              the end of the drain (local writes, applied peers' writes,
#              multimaster's tombstones and conflict log)
#   bytes      sent by the walsenders: the bytes_sent counters of the TCP
#              connections to the nodes' ports (ss -ti), which are only the
#              peers' replication connections (the links use 127.0.0.1,
#              the bench's own sessions the unix socket)
#   conflicts  multimaster.conflicts rows; pglogical's CONFLICT log lines
#   errors     ERROR lines in the server logs during the round
#
# Fan-out, after the rounds, multimaster only, for each N in MM_BENCH_FANOUT
# ("3 5"): a fresh N-node mesh (two more servers for N = 5), a witness slot
# with the multimaster plugin on every node (same publication and protocol
# as the links'), then on every node at once pgbench -t MM_BENCH_FANOUT_TXNS
# transactions of INSERT of a new id of its stripe, UPDATE of it and DELETE
# of it: 3 row changes of mm (and 1 tombstone) per transaction, known
# exactly.  After multimaster.wait_for_sync() on every node, each witness
# slot is decoded (pg_logical_slot_peek_binary_changes) and its row
# messages counted: what every link from that node carried.  Each change
# must have been shipped exactly once per link, by its own node only (no
# forwarding), over N-1 links per node: N-1 shipments per change.  Bytes per
# change: the walsenders' TCP bytes and the decoded payload.
#
# As root: installs the missing Debian packages (postgresql-15,
# postgresql-server-dev-15, postgresql-15-pglogical, make, gcc), builds a
# copy of the repository's sources and installs the extension for
# $PG_CONFIG, then runs the servers as the `postgres` user under a fresh
# /tmp directory (loopback ports, unix sockets there), stopped on exit.
# About 6-7 minutes with the defaults on 2 busy cores (a second round only
# starts within the budget); every wait is bounded.
#
# Environment: PG_CONFIG, MM_BENCH_ROUNDS (2; more for medians that mean
# something, with a larger MM_BENCH_BUDGET), MM_BENCH_CLIENTS (2 per node), MM_BENCH_FANOUT ("3 5"; empty:
# none), MM_BENCH_FANOUT_TXNS (1000 per node), MM_BENCH_PORT (first port
# tried, 58432), MM_BENCH_TIMEOUT (drain timeout in seconds, 300),
# MM_BENCH_BUDGET (seconds after the start past which no new round starts,
# 240), MM_BENCH_SKIP_BUILD=1 (use the installed extension), KEEP_TMP=1
# (keep the temp directory: server logs, pgbench logs).
set -euo pipefail

# PGVER, PGBIN, PG_CONFIG, PATH, REPO; as_pg and the mm_* setup functions.
# shellcheck source=SCRIPTDIR/../lib.sh disable=SC1091  # followed with -x
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

DURATION=${1:-60}
CLIENTS=${MM_BENCH_CLIENTS:-2}
TIMEOUT=${MM_BENCH_TIMEOUT:-300}
BUDGET=${MM_BENCH_BUDGET:-240}
FANOUT_TXNS=${MM_BENCH_FANOUT_TXNS:-1000}
read -r -a FANOUT <<<"${MM_BENCH_FANOUT-3 5}"
declare -A LABEL=([mm]='multimaster' [pgl]='pglogical 2')
IDS=30000	# the classic recipe's id range

# warn, die, note: the ones of lib.sh (on stderr)
mm_bench_args seconds "$DURATION" 2 2
for x in "$CLIENTS" "$TIMEOUT" "$FANOUT_TXNS"; do
	[[ $x =~ ^[1-9][0-9]*$ ]] ||
		die "MM_BENCH_CLIENTS, MM_BENCH_TIMEOUT and MM_BENCH_FANOUT_TXNS must be positive integers"
done
[[ $BUDGET =~ ^[0-9]+$ ]] || die "MM_BENCH_BUDGET must be a non-negative integer"
NMAX=3
for n in "${FANOUT[@]}"; do
	if ! [[ $n =~ ^[0-9]+$ ]] || [ "$n" -lt 2 ] || [ "$n" -gt 8 ]; then
		die "MM_BENCH_FANOUT: node counts from 2 to 8, not '$n'"
	fi
	[ "$n" -le "$NMAX" ] || NMAX=$n
done
[ "$(id -u)" = 0 ] || die "run as root (sudo $0): installs packages and runs the servers as 'postgres'"

START_TS=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
WORK=
mm_exit_traps mm_bench_nodes_exit

# ---------------------------------------------------------------------------
# Packages, build, servers
# ---------------------------------------------------------------------------
# On top of test/node.conf's.  Room for an 8-node mesh per database plus the
# witness slots, and for pglogical's workers.
SETTINGS=(
	"synchronous_commit = off"
	"shared_buffers = 128MB"
	"shared_preload_libraries = 'pglogical'"
	"track_commit_timestamp = on"
	"pglogical.conflict_resolution = 'last_update_wins'"
	"max_wal_size = 4GB"
	"checkpoint_timeout = 30min"
	"autovacuum = off"
	"jit = off"
	"max_connections = 60"
	"max_worker_processes = 40"
	"max_replication_slots = 20"
	"max_wal_senders = 20"
	"max_logical_replication_workers = 20"
)
mm_bench_nodes "$NMAX" "${MM_BENCH_PORT:-58432}" 300:120 pglogical "${SETTINGS[@]}"
mm_check_tools pgbench ss
mkdir -p "$WORK/logs"
chown postgres:postgres "$WORK/logs"
PG_VERSION=$(mm_bench_psql 1 postgres -c 'SELECT version()')
PGL_VERSION=$(mm_bench_psql 1 postgres -c "SELECT default_version FROM pg_available_extensions WHERE name = 'pglogical'")

q() {	# node db sql...: mm_bench_psql with fixed output settings
	local k=$1 db=$2
	shift 2
	mm_bench_psql "$k" "$db" -c "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 1" "$@"
}
tcp_dsn() {	# node db: the links go over TCP, whose bytes ss can count
	printf 'host=127.0.0.1 port=%s dbname=%s user=postgres' "${MM_PORT[$1]}" "$2"
}

# ---------------------------------------------------------------------------
# SQL of every mesh database
# ---------------------------------------------------------------------------
TABLES_SQL="
CREATE TABLE public.mm (id int PRIMARY KEY, info text, mod_time timestamp);
CREATE TABLE public.hb (node int PRIMARY KEY, seq bigint NOT NULL, sent_at timestamptz NOT NULL);
CREATE UNLOGGED TABLE public.bench_lag (at timestamptz, peer text, kind text, lag float8);"

# The heartbeat of node 'me' during the load (see the header).  replay_lag
# is read for the walsenders of this database's slots only.
HEARTBEAT_SQL="
CREATE PROCEDURE public.bench_heartbeat(me int, secs float8)
LANGUAGE plpgsql AS \$\$
DECLARE
    t0 timestamptz := pg_catalog.clock_timestamp();
    i bigint := 0;
BEGIN
    LOOP
        i := i + 1;
        UPDATE public.hb SET seq = i, sent_at = pg_catalog.clock_timestamp() WHERE node = me;
        COMMIT;
        IF i % 5 = 0 THEN
            INSERT INTO public.bench_lag
            SELECT pg_catalog.clock_timestamp(), h.node::text, 'heartbeat',
                   extract(epoch FROM pg_catalog.clock_timestamp() - greatest(h.sent_at, t0))
              FROM public.hb h WHERE h.node <> me;
            INSERT INTO public.bench_lag
            SELECT pg_catalog.clock_timestamp(), s.slot_name, 'replay_lag',
                   extract(epoch FROM r.replay_lag)
              FROM pg_catalog.pg_stat_replication r
              JOIN pg_catalog.pg_replication_slots s ON s.active_pid = r.pid
             WHERE s.database = pg_catalog.current_database() AND s.slot_type = 'logical';
            COMMIT;
        END IF;
        EXIT WHEN pg_catalog.clock_timestamp() - t0 >= pg_catalog.make_interval(secs => secs);
        PERFORM pg_catalog.pg_sleep(0.1);
    END LOOP;
END
\$\$;
-- Waits until every peer's heartbeat has reached seq; returns the time.
CREATE PROCEDURE public.bench_drained(me int, peers int, seq bigint, timeout_s float8,
                                      INOUT done float8 DEFAULT NULL)
LANGUAGE plpgsql AS \$\$
DECLARE
    t0 timestamptz := pg_catalog.clock_timestamp();
BEGIN
    LOOP
        IF (SELECT count(*) FROM public.hb h WHERE h.node <> me AND h.seq >= bench_drained.seq) >= peers THEN
            done := extract(epoch FROM pg_catalog.clock_timestamp());
            RETURN;
        END IF;
        IF pg_catalog.clock_timestamp() - t0 > pg_catalog.make_interval(secs => timeout_s) THEN
            RAISE EXCEPTION 'not drained after % s', timeout_s;
        END IF;
        COMMIT;
        PERFORM pg_catalog.pg_sleep(0.05);
    END LOOP;
END
\$\$;"

DIGEST_SQL="SELECT count(*) || ' ' || coalesce(sum(hashtext(t::text)), 0) FROM public.mm t"
LAST_SEQ=1000000000


# ---------------------------------------------------------------------------
# Meshes
# ---------------------------------------------------------------------------
# mm: create_mesh over nodes 1..n, tables registered; returns once every
# node has n-1 subscriptions with a running worker and all tables synced.
setup_mm() {	# db n table...
	local db=$1 n=$2 k dsns='' t
	shift 2
	for ((k = 1; k <= n; k++)); do
		mm_bench_psql "$k" postgres -c "CREATE DATABASE $db"
		q "$k" "$db" -c "CREATE EXTENSION multimaster" -c "$TABLES_SQL" -c "$HEARTBEAT_SQL"
		dsns+="${dsns:+, }'$(tcp_dsn "$k" "$db")'"
	done
	q 1 "$db" -c "SELECT multimaster.create_mesh(ARRAY[$dsns])" >/dev/null
	for t in "$@"; do
		q 1 "$db" -c "SELECT multimaster.add_table_mesh('$t')" >/dev/null
	done
	for ((k = 1; k <= n; k++)); do
		mm_bench_wait "$k" "$db" 120 "multimaster mesh ready" "
			SELECT count(*) = $((n - 1)) AND bool_and(s.subenabled AND w.pid IS NOT NULL)
			       AND NOT EXISTS (SELECT 1 FROM pg_subscription_rel r WHERE r.srsubstate <> 'r')
			  FROM pg_subscription s
			  LEFT JOIN pg_stat_subscription w ON w.subid = s.oid AND w.relid IS NULL"
	done
}

setup_pgl() {	# db n
	local db=$1 n=$2 k j
	for ((k = 1; k <= n; k++)); do
		mm_bench_psql "$k" postgres -c "CREATE DATABASE $db"
		q "$k" "$db" -c "CREATE EXTENSION pglogical" -c "$TABLES_SQL" -c "$HEARTBEAT_SQL" \
			-c "SELECT pglogical.create_node(node_name := 'n$k', dsn := '$(tcp_dsn "$k" "$db")')" \
			-c "SELECT pglogical.replication_set_add_table('default', 'public.mm', false)" \
			-c "SELECT pglogical.replication_set_add_table('default', 'public.hb', false)" >/dev/null
	done
	for ((k = 1; k <= n; k++)); do
		for ((j = 1; j <= n; j++)); do
			[ "$j" != "$k" ] || continue
			q "$k" "$db" -c "SELECT pglogical.create_subscription(
				subscription_name := 'sub_n${j}_n$k', provider_dsn := '$(tcp_dsn "$j" "$db")',
				replication_sets := ARRAY['default'], synchronize_structure := false,
				synchronize_data := false, forward_origins := '{}')" >/dev/null
		done
	done
	for ((k = 1; k <= n; k++)); do
		mm_bench_wait "$k" "$db" 120 "pglogical subscriptions replicating" "
			SELECT count(*) = $((n - 1)) AND bool_and(status = 'replicating')
			  FROM pglogical.show_subscription_status()"
	done
}

teardown() {	# variant db n: links gone (the databases stay, see apply_catchup.sh)
	local v=$1 db=$2 n=$3 k
	if [ "$v" = mm ]; then
		q 1 "$db" -c "SELECT multimaster.drop_mesh()" >/dev/null
	else
		for ((k = 1; k <= n; k++)); do
			q "$k" "$db" -c "SELECT pglogical.drop_subscription(sub_name) FROM pglogical.subscription" >/dev/null
		done
	fi
	for ((k = 1; k <= n; k++)); do
		mm_bench_wait "$k" postgres 60 "slots of $db dropped" \
			"SELECT count(*) = 0 FROM pg_replication_slots WHERE database = '$db'"
	done
	if [ "$v" = pgl ]; then
		for ((k = 1; k <= n; k++)); do
			q "$k" "$db" -c "SELECT pglogical.drop_node('n$k')" -c "DROP EXTENSION pglogical" >/dev/null
		done
	fi
}

# Each node's heartbeat row, on every node.
heartbeat_rows() {	# db n
	local db=$1 n=$2 k
	for ((k = 1; k <= n; k++)); do
		q "$k" "$db" -c "INSERT INTO public.hb (node, seq, sent_at) VALUES ($k, 0, clock_timestamp())"
	done
	for ((k = 1; k <= n; k++)); do
		mm_bench_wait "$k" "$db" 60 "heartbeat rows replicated" "SELECT count(*) = $n FROM public.hb"
	done
}

# ---------------------------------------------------------------------------
# Byte counters of the links (TCP, loopback)
# ---------------------------------------------------------------------------
# "local-port peer bytes_sent" for every established TCP connection to the
# nodes' ports 1..n: the walsenders' side of every link.
link_bytes() {	# n
	local k filter=''
	for ((k = 1; k <= $1; k++)); do
		filter+="${filter:+ or }sport = :${MM_PORT[$k]}"
	done
	ss -tinH state established "( $filter )" 2>/dev/null | awk '
		/^[0-9]/ || NF >= 4 && $0 !~ /^[ \t]/ { local = $(NF - 1); peer = $NF; next }
		{ for (i = 1; i <= NF; i++) if ($i ~ /^bytes_sent:/) { split($i, a, ":"); print local, peer, a[2] } }'
}
# bytes sent since the "before" snapshot (connections opened since count
# from 0)
bytes_since() {	# before-file after-file
	awk 'NR == FNR { b[$1 " " $2] = $3; next } { s += $3 - (($1 " " $2) in b ? b[$1 " " $2] : 0) }
		END { printf "%.0f", s }' "$1" "$2"
}

# ---------------------------------------------------------------------------
# One round of one variant
# ---------------------------------------------------------------------------
declare -A TPS=() TOTAL=() TXNS=() HB50=() HB99=() HBMAX=() RL50=() RL99=() DRAIN=() CONV=()
declare -A WAL=() WALTXN=() BYTES=() BYTESTXN=() CONFL=() ERRS=() DEADLOCKS=() RESTARTS=()

percentiles() {	# file of numbers -> "p50 p99 max"
	sort -g "$1" | awk '{ a[NR] = $1 } END {
		if (NR == 0) { print "n/a n/a n/a"; exit }
		i50 = int(0.50 * NR + 0.999999); i99 = int(0.99 * NR + 0.999999)
		printf "%.3f %.3f %.3f\n", a[i50], a[i99], a[NR] }'
}

run_round() {	# variant round
	local v=$1 r=$2 db=mesh_$1_$2 n=3 k pids=() lsn0=() off=() t_end drained d
	local tag=${v}_$r tps txns total=0 alltx=0 wal walsum=0 conflicts=0 errs=0 digests=() out
	local p50 p99 pmax drain deadlocks=0 restarts=0 conv
	note "round $r: ${LABEL[$v]}: setting up the mesh"
	if [ "$v" = mm ]; then setup_mm "$db" "$n" mm hb; else setup_pgl "$db" "$n"; fi
	heartbeat_rows "$db" "$n"
	for ((k = 1; k <= n; k++)); do
		mm_classic_script "$k" "$n" "$IDS" "$WORK/classic_$k.sql"
		q "$k" "$db" -c "CHECKPOINT"
		lsn0[k]=$(q "$k" "$db" -c "SELECT pg_current_wal_lsn()")
		off[k]=$(stat -c %s "$WORK/node$k.log")
	done
	link_bytes "$n" >"$WORK/logs/bytes0_$tag"

	note "round $r: ${LABEL[$v]}: ${DURATION} s of load, $CLIENTS clients per node"
	for ((k = 1; k <= n; k++)); do
		as_pg timeout $((DURATION + 120)) pgbench -h "$MM_SOCK" -p "${MM_PORT[$k]}" -U postgres \
			-M prepared -n -P 10 -c "$CLIENTS" -j "$CLIENTS" -T "$DURATION" -f "$WORK/classic_$k.sql" "$db" \
			>"$WORK/logs/pgbench_${tag}_$k.log" 2>&1 &
		pids+=($!)
		q "$k" "$db" -c "CALL public.bench_heartbeat($k, $DURATION)" \
			>"$WORK/logs/heartbeat_${tag}_$k.log" 2>&1 &
		pids+=($!)
	done
	for k in "${pids[@]}"; do
		wait "$k" || die "a pgbench or heartbeat of round $r ($v) failed: see $WORK/logs/*_$tag*"
	done
	t_end=$(date +%s.%N)

	# drain: a last heartbeat from every node, applied everywhere
	for ((k = 1; k <= n; k++)); do
		q "$k" "$db" -c "UPDATE public.hb SET seq = $LAST_SEQ, sent_at = clock_timestamp() WHERE node = $k"
	done
	pids=()
	for ((k = 1; k <= n; k++)); do
		q "$k" "$db" -c "CALL public.bench_drained($k, $((n - 1)), $LAST_SEQ, $TIMEOUT)" \
			>"$WORK/logs/drained_${tag}_$k" 2>&1 &
		pids+=($!)
	done
	drained=0
	for ((k = 1; k <= n; k++)); do
		wait "${pids[k-1]}" || die "node $k did not apply its peers' load within $TIMEOUT s ($v, round $r)"
		d=$(tail -n 1 "$WORK/logs/drained_${tag}_$k")
		drained=$(awk -v a="$drained" -v b="$d" 'BEGIN { print (b > a ? b : a) }')
	done
	drain=$(awk -v a="$drained" -v b="$t_end" 'BEGIN { printf "%.2f", a - b }')
	DRAIN[$v]+="$drain "

	# per node: TPS, WAL, digest, conflicts, errors
	for ((k = 1; k <= n; k++)); do
		out=$(cat "$WORK/logs/pgbench_${tag}_$k.log")
		tps=$(awk '/^tps = / { printf "%.1f", $3; exit }' <<<"$out")
		txns=$(awk -F': *' '/^number of transactions actually processed/ { split($2, a, "/"); print a[1]; exit }' <<<"$out")
		if [ -z "$tps" ] || [ -z "$txns" ]; then
			cat "$WORK/logs/pgbench_${tag}_$k.log" >&2
			die "no TPS from pgbench ($tag, node $k)"
		fi
		TPS[$v,$k]+="$tps "
		total=$(awk -v a="$total" -v b="$tps" 'BEGIN { printf "%.1f", a + b }')
		alltx=$((alltx + txns))
		wal=$(q "$k" "$db" -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '${lsn0[k]}')")
		WAL[$v,$k]+="$wal "
		walsum=$((walsum + wal))
		digests+=("$(q "$k" "$db" -c "$DIGEST_SQL")")
		if [ "$v" = mm ]; then
			conflicts=$((conflicts + $(q "$k" "$db" -c "SELECT count(*) FROM multimaster.conflicts")))
		else
			conflicts=$((conflicts + $(tail -c +"$((off[k] + 1))" "$WORK/node$k.log" | grep -c 'CONFLICT: ' || true)))
		fi
		errs=$((errs + $(tail -c +"$((off[k] + 1))" "$WORK/node$k.log" | grep -c 'ERROR: ' || true)))
		deadlocks=$((deadlocks + $(tail -c +"$((off[k] + 1))" "$WORK/node$k.log" | grep -c 'ERROR:  deadlock detected' || true)))
		restarts=$((restarts + $(tail -c +"$((off[k] + 1))" "$WORK/node$k.log" |
			grep -cE 'background worker "(logical replication worker|pglogical apply[^"]*)" \(PID [0-9]+\) exited with exit code 1' || true)))
		q "$k" "$db" -c "SELECT kind, coalesce(lag::text, 'null') FROM public.bench_lag" -F ' ' >>"$WORK/logs/lag_$tag"
	done
	link_bytes "$n" >"$WORK/logs/bytes1_$tag"
	TOTAL[$v]+="$total "
	TXNS[$v]+="$alltx "
	WAL[$v]+="$walsum "
	WALTXN[$v]+="$(awk -v w="$walsum" -v t="$alltx" 'BEGIN { printf "%.0f", w / t }') "
	d=$(bytes_since "$WORK/logs/bytes0_$tag" "$WORK/logs/bytes1_$tag")
	BYTES[$v]+="$d "
	BYTESTXN[$v]+="$(awk -v w="$d" -v t="$alltx" 'BEGIN { printf "%.0f", w / t }') "
	CONFL[$v]+="$conflicts "
	ERRS[$v]+="$errs "
	DEADLOCKS[$v]+="$deadlocks "
	RESTARTS[$v]+="$restarts "
	awk '$1 == "heartbeat" { print $2 }' "$WORK/logs/lag_$tag" >"$WORK/logs/hb_$tag"
	# replay_lag: NULL = caught up = 0, unless it never was set at all
	if awk '$1 == "replay_lag" && $2 != "null" { found = 1 } END { exit !found }' "$WORK/logs/lag_$tag"; then
		awk '$1 == "replay_lag" { print ($2 == "null" ? 0 : $2) }' "$WORK/logs/lag_$tag" >"$WORK/logs/rl_$tag"
	else
		: >"$WORK/logs/rl_$tag"
	fi
	read -r p50 p99 pmax <<<"$(percentiles "$WORK/logs/hb_$tag")"
	HB50[$v]+="$p50 " HB99[$v]+="$p99 " HBMAX[$v]+="$pmax "
	read -r p50 p99 pmax <<<"$(percentiles "$WORK/logs/rl_$tag")"
	RL50[$v]+="$p50 " RL99[$v]+="$p99 "
	if [ "$(printf '%s\n' "${digests[@]}" | sort -u | wc -l)" = 1 ]; then
		conv="yes (${digests[0]%% *} rows)"
	else
		conv="NO (rows per node: $(printf '%s\n' "${digests[@]%% *}" | paste -sd/))"
		warn "round $r ($v): the nodes' tables differ after the drain: ${digests[*]}"
	fi
	CONV[$v]+="${CONV[$v]:+; }r$r: $conv"
	note "round $r: ${LABEL[$v]}: $total TPS, heartbeat lag p50/p99/max $(percentiles "$WORK/logs/hb_$tag") s, replay_lag p50/p99/max $(percentiles "$WORK/logs/rl_$tag") s, drain $drain s, conflicts $conflicts, errors $errs (deadlocks $deadlocks, apply worker exits $restarts), converged $conv"
	teardown "$v" "$db" "$n"
}

# ---------------------------------------------------------------------------
# Fan-out: what each change costs on the wire in an N-node mesh
# ---------------------------------------------------------------------------
declare -A FO=()
fanout() {	# n
	local n=$1 db=fan_$1 k pids=() per txns sum_txns=0 ships=0 changes=0 payload=0 links
	local mmrel tombrel digests=() ok=yes line kind rel cnt bytes m t bad=''
	note "fan-out: a $n-node multimaster mesh"
	setup_mm "$db" "$n" mm
	for ((k = 1; k <= n; k++)); do
		q "$k" "$db" -c "CREATE SEQUENCE public.fan_seq" \
			-c "SELECT pg_create_logical_replication_slot('witness_$k', 'multimaster')" >/dev/null
		printf '%s\n' 'BEGIN;' \
			"INSERT INTO mm (id, info, mod_time) VALUES (nextval('fan_seq') * $n + $((k - 1)), md5(random()::text), now());" \
			"UPDATE mm SET info = md5(random()::text), mod_time = clock_timestamp() WHERE id = currval('fan_seq') * $n + $((k - 1));" \
			"DELETE FROM mm WHERE id = currval('fan_seq') * $n + $((k - 1));" \
			'COMMIT;' >"$WORK/fan_$k.sql"
		chown postgres:postgres "$WORK/fan_$k.sql"
	done
	link_bytes "$n" >"$WORK/logs/bytes0_fan$n"
	per=$(( (FANOUT_TXNS + CLIENTS - 1) / CLIENTS ))
	for ((k = 1; k <= n; k++)); do
		as_pg timeout 600 pgbench -h "$MM_SOCK" -p "${MM_PORT[$k]}" -U postgres -n \
			-c "$CLIENTS" -j "$CLIENTS" -t "$per" -f "$WORK/fan_$k.sql" "$db" \
			>"$WORK/logs/pgbench_fan${n}_$k.log" 2>&1 &
		pids+=($!)
	done
	for k in "${pids[@]}"; do
		wait "$k" || die "a pgbench of the $n-node fan-out failed: see $WORK/logs/pgbench_fan${n}_*"
	done
	for ((k = 1; k <= n; k++)); do
		[ "$(q "$k" "$db" -c "SELECT multimaster.wait_for_sync('$TIMEOUT s')")" = t ] ||
			die "fan-out: node $k of $n did not sync within $TIMEOUT s"
	done
	link_bytes "$n" >"$WORK/logs/bytes1_fan$n"
	for ((k = 1; k <= n; k++)); do
		txns=$(awk -F': *' '/^number of transactions actually processed/ { split($2, a, "/"); print a[1]; exit }' \
			"$WORK/logs/pgbench_fan${n}_$k.log")
		[ "$txns" = $((per * CLIENTS)) ] || die "fan-out: node $k ran $txns transactions, not $((per * CLIENTS))"
		sum_txns=$((sum_txns + txns))
		digests+=("$(q "$k" "$db" -c "$DIGEST_SQL")")
		links=$(q "$k" "$db" -c "SELECT count(*) FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid
			WHERE s.database = current_database() AND s.slot_name <> 'witness_$k'")
		mmrel=$(q "$k" "$db" -c "SELECT 'public.mm'::regclass::oid")
		tombrel=$(q "$k" "$db" -c "SELECT 'multimaster.tombstones'::regclass::oid")
		# row messages per relation, and all messages' bytes
		m=0 t=0 bytes=0
		while read -r kind rel cnt line; do
			bytes=$((bytes + line))
			case $kind:$rel in
			I:"$mmrel"|U:"$mmrel"|D:"$mmrel") m=$((m + cnt)) ;;
			I:"$tombrel"|U:"$tombrel"|D:"$tombrel") t=$((t + cnt)) ;;
			I:*|U:*|D:*) bad+=" node $k: $cnt $kind of relation $rel" ;;
			esac
		done < <(q "$k" "$db" -F ' ' -c "
			SELECT chr(get_byte(data, 0)),
			       CASE WHEN get_byte(data, 0) IN (73, 85, 68)
			            THEN ('x' || encode(substring(data FROM 2 FOR 4), 'hex'))::bit(32)::int::oid::text
			            ELSE '-' END,
			       count(*), sum(length(data))
			  FROM pg_logical_slot_peek_binary_changes('witness_$k', NULL, NULL,
			       'proto_version', '1', 'publication_names', 'multimaster')
			 GROUP BY 1, 2")
		q "$k" "$db" -c "SELECT pg_drop_replication_slot('witness_$k')" >/dev/null
		# every link from node k carries what its witness decoded
		ships=$((ships + m * links))
		changes=$((changes + 3 * txns))
		payload=$((payload + bytes))
		FO[$n,detail]+="${FO[$n,detail]:+; }node $k: $((3 * txns)) changes, $m row messages of mm and $t of tombstones per link, $links links"
		if [ "$m" != $((3 * txns)) ] || [ "$t" != "$txns" ] || [ "$links" != $((n - 1)) ]; then
			ok=NO
		fi
	done
	[ -z "$bad" ] || { ok=NO; FO[$n,detail]+="; messages of other relations:$bad"; }
	FO[$n,txns]=$sum_txns
	FO[$n,changes]=$changes
	FO[$n,ships]=$(awk -v s="$ships" -v c="$changes" 'BEGIN { printf "%.3f", s / c }')
	FO[$n,ok]=$ok
	FO[$n,payload]=$(awk -v b="$payload" -v c="$changes" 'BEGIN { printf "%.1f", b / c }')
	bytes=$(bytes_since "$WORK/logs/bytes0_fan$n" "$WORK/logs/bytes1_fan$n")
	FO[$n,tcp]=$(awk -v b="$bytes" -v c="$changes" 'BEGIN { printf "%.1f", b / c }')
	FO[$n,tcplink]=$(awk -v b="$bytes" -v c="$changes" -v l=$((n - 1)) 'BEGIN { printf "%.1f", b / c / l }')
	if [ "$(printf '%s\n' "${digests[@]}" | sort -u | wc -l)" = 1 ]; then
		FO[$n,conv]="yes (${digests[0]%% *} rows)"
	else
		FO[$n,conv]="NO: ${digests[*]}"
	fi
	note "fan-out N=$n: ${FO[$n,ships]} shipments per change (${FO[$n,ok]}), ${FO[$n,tcp]} TCP bytes per change over all links; ${FO[$n,detail]}"
	teardown mm "$db" "$n"
}

# ---------------------------------------------------------------------------
# Rounds
# ---------------------------------------------------------------------------
rounds_done=0
for ((r = 1; r <= ROUNDS; r++)); do
	if [ "$r" -gt 1 ] && [ $(($(date +%s) - START_TS)) -ge "$BUDGET" ]; then
		note "time budget (${BUDGET} s) used: no round $r"
		break
	fi
	if [ $((r % 2)) = 1 ]; then order=(mm pgl); else order=(pgl mm); fi
	for v in "${order[@]}"; do
		run_round "$v" "$r"
	done
	rounds_done=$r
done
for n in "${FANOUT[@]}"; do
	fanout "$n"
done

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
med() {	# digits "numbers"
	local xs
	read -r -a xs <<<"$2"
	mm_median "$1" "${xs[@]}"
}
ratio() {	# value baseline
	awk -v x="$1" -v b="$2" 'BEGIN { if (x == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.2f", x / b }'
}
list() { printf '%s' "${1% }" | sed 's/ /, /g'; }

printf '\n## Mesh: the classic workload on 3 nodes, multimaster vs pglogical\n\n'
printf -- '- machine: %s; all nodes on it\n' "$(mm_machine)"
printf -- '- server: %s; pglogical %s\n' "$PG_VERSION" "$PGL_VERSION"
printf -- '- every node: %s\n' "$(printf '%s; ' "${MM_BENCH_SETTINGS[@]}" | sed 's/; $//')"
printf -- '- load: pgbench -M prepared -n -c %s -j %s -T %s on each of 3 nodes at once, the classic recipe: per pgbench transaction 5 upserts of the node'"'"'s own ids (3n + k-1), 5 updates and 2 deletes of random ids in 1..%s, each statement its own transaction; table empty at the start\n' \
	"$CLIENTS" "$CLIENTS" "$DURATION" "$IDS"
printf -- '- %s round(s), the two systems interleaved (order alternating), fresh databases each; medians\n\n' "$rounds_done"

printf '| | %s | %s | ratio |\n|---|---:|---:|---:|\n' "${LABEL[mm]}" "${LABEL[pgl]}"
row() {	# title mm pgl [ratio]
	printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "${4:-}"
}
for k in 1 2 3; do
	row "TPS node $k" "$(med 1 "${TPS[mm,$k]:-}")" "$(med 1 "${TPS[pgl,$k]:-}")"
done
row "TPS total" "$(med 1 "${TOTAL[mm]:-}")" "$(med 1 "${TOTAL[pgl]:-}")" "$(ratio "$(med 1 "${TOTAL[mm]:-}")" "$(med 1 "${TOTAL[pgl]:-}")")"
row "lag p50, heartbeat (s)" "$(med 3 "${HB50[mm]:-}")" "$(med 3 "${HB50[pgl]:-}")"
row "lag p99, heartbeat (s)" "$(med 3 "${HB99[mm]:-}")" "$(med 3 "${HB99[pgl]:-}")"
row "lag max, heartbeat (s)" "$(med 3 "${HBMAX[mm]:-}")" "$(med 3 "${HBMAX[pgl]:-}")"
row "replay_lag p50 (s), n/a = never set"  "$(med 3 "${RL50[mm]:-}")" "$(med 3 "${RL50[pgl]:-}")"
row "replay_lag p99 (s)" "$(med 3 "${RL99[mm]:-}")" "$(med 3 "${RL99[pgl]:-}")"
row "drain after the load (s)" "$(med 2 "${DRAIN[mm]:-}")" "$(med 2 "${DRAIN[pgl]:-}")" "$(ratio "$(med 2 "${DRAIN[mm]:-}")" "$(med 2 "${DRAIN[pgl]:-}")")"
row "converged" "${CONV[mm]}" "${CONV[pgl]}"
for k in 1 2 3; do
	row "WAL node $k (MB)" "$(awk -v b="$(med 0 "${WAL[mm,$k]:-}")" 'BEGIN { printf "%.1f", b / 1048576 }')" \
		"$(awk -v b="$(med 0 "${WAL[pgl,$k]:-}")" 'BEGIN { printf "%.1f", b / 1048576 }')"
done
row "WAL bytes per pgbench transaction, all nodes" "$(med 0 "${WALTXN[mm]:-}")" "$(med 0 "${WALTXN[pgl]:-}")" \
	"$(ratio "$(med 0 "${WALTXN[mm]:-}")" "$(med 0 "${WALTXN[pgl]:-}")")"
row "walsender bytes sent per pgbench transaction, all links" "$(med 0 "${BYTESTXN[mm]:-}")" "$(med 0 "${BYTESTXN[pgl]:-}")" \
	"$(ratio "$(med 0 "${BYTESTXN[mm]:-}")" "$(med 0 "${BYTESTXN[pgl]:-}")")"
row "conflicts logged" "$(list "${CONFL[mm]}")" "$(list "${CONFL[pgl]}")"
row "ERROR lines in the logs" "$(list "${ERRS[mm]}")" "$(list "${ERRS[pgl]}")"
row "of them deadlocks" "$(list "${DEADLOCKS[mm]}")" "$(list "${DEADLOCKS[pgl]}")"
row "apply workers that exited on an error" "$(list "${RESTARTS[mm]}")" "$(list "${RESTARTS[pgl]}")"
row "TPS total per round" "$(list "${TOTAL[mm]}")" "$(list "${TOTAL[pgl]}")"
row "drain per round (s)" "$(list "${DRAIN[mm]}")" "$(list "${DRAIN[pgl]}")"

t_tps=$(ratio "$(med 1 "${TOTAL[mm]:-}")" "$(med 1 "${TOTAL[pgl]:-}")")
t_drain=$(ratio "$(med 2 "${DRAIN[mm]:-}")" "$(med 2 "${DRAIN[pgl]:-}")")
printf '\nTargets: total TPS >= pglogical'"'"'s: %s (%s x); drain <= pglogical'"'"'s: %s (%s x)\n' \
	"$(awk -v x="$t_tps" 'BEGIN { print (x != "n/a" && x >= 1) ? "met" : "NOT met" }')" "$t_tps" \
	"$(awk -v x="$t_drain" 'BEGIN { print (x != "n/a" && x <= 1) ? "met" : "NOT met" }')" "$t_drain"
printf '\n(heartbeat lag: age of the newest applied heartbeat of each peer, sampled every 500 ms on every node during the load, all six links pooled; it includes up to 100 ms of heartbeat interval. replay_lag: pg_stat_replication on the sending side, NULL = caught up = 0. Both lags also include up to wal_writer_delay (200 ms): with synchronous_commit = off a commit'"'"'s WAL is sent once the WAL writer has flushed it. drain: from the end of the load until every node had applied a heartbeat every peer wrote after it. An apply worker that exits on an error (a deadlock, say) is restarted after wal_retrieve_retry_interval (1 s) and its link stalls meanwhile. WAL: from the start of the load to the end of the drain. walsender bytes: TCP bytes_sent of the links, ss -ti. conflicts: multimaster.conflicts rows; pglogical: CONFLICT lines in the server logs. load average at start %s, at end %s on %s CPUs.)\n' \
	"$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)"

if [ ${#FANOUT[@]} -gt 0 ]; then
	printf '\n## Fan-out: what one change costs on the wire (multimaster)\n\n'
	printf -- '- every node at once: pgbench -c %s -t %s of BEGIN; INSERT of a new id of its own; UPDATE of it; DELETE of it; COMMIT: 3 row changes of mm per transaction (plus the DELETE'"'"'s tombstone row)\n' \
		"$CLIENTS" "$(( (FANOUT_TXNS + CLIENTS - 1) / CLIENTS ))"
	printf -- '- shipments: a witness slot with the multimaster plugin on every node (publication multimaster, protocol 1, as the links), decoded after multimaster.wait_for_sync() on every node; row messages of mm x streaming links per node, summed, / row changes committed\n\n'
	printf '| N | transactions | row changes committed | shipments per change | expected | exact | payload bytes per change per link | TCP bytes sent per change, all links | per link | converged |\n'
	printf '|---:|---:|---:|---:|---:|---|---:|---:|---:|---|\n'
	for n in "${FANOUT[@]}"; do
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$n" "${FO[$n,txns]}" "${FO[$n,changes]}" \
			"${FO[$n,ships]}" "$((n - 1))" "${FO[$n,ok]}" "${FO[$n,payload]}" "${FO[$n,tcp]}" "${FO[$n,tcplink]}" "${FO[$n,conv]}"
	done
	for n in "${FANOUT[@]}"; do
		printf '\nN=%s: %s\n' "$n" "${FO[$n,detail]}"
	done
	printf '\n(payload: the bytes of all messages the witness decoded (begin, relation, row, commit), per row change; TCP: bytes_sent of the links over the run, keepalives and framing included; exact: every node shipped every one of its changes once per link and nothing else, over N-1 streaming links.)\n'
fi
