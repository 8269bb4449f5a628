#!/usr/bin/env bash
# test/bench/compare_bytes.sh: what multimaster.compare_table_keys() moves
# between nodes to find a handful of differing keys in a large table.
#
#   sudo test/bench/compare_bytes.sh [ROWS...]     (default: 100000 1000000)
#
# One throwaway server, three databases a, b and c linked by create_mesh()
# (a three-node mesh on one server: every byte still crosses a libpq
# connection).  For each table size, a table t<ROWS>(id int primary key,
# v text) is registered with add_table_mesh(), then every node loads the
# same ROWS rows with the same version under a replication origin (so
# nothing replicates: the load costs no apply), and then a few keys drift
# apart the same way (MM_BENCH_DIFF keys, default 5, in turn: a newer row
# on b, a row lost on c, a row only a has, a row only b has).
#
# Once every link has caught up (the walsenders decode the loads' WAL, to
# ship none of it), compare_table_keys() runs on a, MM_BENCH_ROUNDS times
# (default 3).  Printed as a markdown table, a line per size: the
# differing keys it found (it must find exactly those made, else the
# script fails), the bytes that came back from the nodes and the bytes of
# statements and parameters sent (from its NOTICE; libpq's own framing is
# not counted), the median wall-clock seconds of a call (psql's start
# included), and for scale the size of the table's rows as text on one
# node times three (what shipping every node's rows would move).
#
# As root: installs the missing Debian packages (postgresql-15,
# postgresql-server-dev-15, make, gcc), builds a copy of the repository's
# sources and installs the extension for $PG_CONFIG (default the Debian
# server's; set it to use another installation of PostgreSQL 15), then
# runs the server as the `postgres` user under a fresh /tmp directory
# (loopback only, unix socket there), stopped on exit.  About 8 minutes
# with the defaults on 2 cores, most of it loading the million rows three
# times and decoding that WAL; every wait is bounded.
#
# Environment: PG_CONFIG, MM_BENCH_ROUNDS (3), MM_BENCH_DIFF (5),
# MM_BENCH_PORT (first port tried, 57432), MM_BENCH_SKIP_BUILD=1 (use the
# installed extension), KEEP_TMP=1 (keep the temp directory and its
# server.log).
set -euo pipefail

# PGVER, PGBIN, PG_CONFIG, PATH, REPO; as_pg and the mm_* setup functions.
# shellcheck source=SCRIPTDIR/../lib.sh disable=SC1091  # followed with -x
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

case ${1:-} in
-h|--help) mm_usage "${BASH_SOURCE[0]}" '^set -euo'; exit 0 ;;
esac
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(100000 1000000)
for s in "${SIZES[@]}"; do
	if ! [[ $s =~ ^[1-9][0-9]*$ ]] || [ "$s" -lt 100 ]; then
		die "ROWS must be integers >= 100, not '$s'"
	fi
done
ROUNDS=${MM_BENCH_ROUNDS:-3}
DIFF=${MM_BENCH_DIFF:-5}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "MM_BENCH_ROUNDS must be a positive integer"
if ! [[ $DIFF =~ ^[1-9][0-9]*$ ]] || [ "$DIFF" -gt 50 ]; then
	die "MM_BENCH_DIFF must be an integer from 1 to 50"
fi
[ "$(id -u)" = 0 ] || die "run as root (sudo $0): installs packages and runs the server as 'postgres'"

# set by mm_bench_server, read by its EXIT trap: none inherited
# shellcheck disable=SC2034
WORK='' DATA='' SERVER_STARTED=0
mm_exit_traps mm_bench_server_exit
# three nodes: six links, each an apply worker and a walsender
mm_bench_server "${MM_BENCH_PORT:-57432}" 0:0 "shared_buffers = 256MB" "wal_level = logical" \
	"max_wal_size = 4GB" "jit = off" "max_worker_processes = 16" \
	"max_logical_replication_workers = 10" "max_replication_slots = 10" "max_wal_senders = 10"

psql_q() {	# db sql...
	local db=$1
	shift
	as_pg timeout 900 psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres -d "$db" -At "$@"
}

DBS=(a b c)
for db in "${DBS[@]}"; do
	psql_q postgres -c "CREATE DATABASE $db"
	psql_q "$db" -c 'CREATE EXTENSION multimaster'
done
dsn() { printf "host=%s port=%s dbname=%s user=postgres" "$SOCK" "$PORT" "$1"; }
psql_q a -c "SELECT multimaster.create_mesh(ARRAY['$(dsn a)', '$(dsn b)', '$(dsn c)'])" >/dev/null

# Writes on a node that never replicate: a replication origin is set, so
# the trigger takes the versions given and the output plugin ships nothing.
drift() {	# db sql
	psql_q "$1" -c "SELECT pg_replication_origin_create('bench')
	                 WHERE NOT EXISTS (SELECT 1 FROM pg_replication_origin WHERE roname = 'bench')" \
		-c "SELECT pg_replication_origin_session_setup('bench');
		    SET session_replication_role = replica;
		    $2" >/dev/null
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# other processes on the machine show up in the seconds, not in the bytes
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
RESULTS=()
for rows in "${SIZES[@]}"; do
	t=t$rows
	for db in "${DBS[@]}"; do
		psql_q "$db" -c "CREATE TABLE $t (id int PRIMARY KEY, v text)"
	done
	psql_q a -c "SELECT multimaster.add_table_mesh('$t')" >/dev/null
	# the initial copies (of empty tables) done before anything is loaded
	for db in "${DBS[@]}"; do
		ready=0
		for ((w = 0; w < 600; w++)); do
			ready=$(psql_q "$db" -c "SELECT count(*) FROM pg_subscription_rel
			                          WHERE srrelid = '$t'::regclass AND srsubstate = 'r'")
			[ "$ready" = 2 ] && break
			sleep 0.1
		done
		[ "$ready" = 2 ] || die "the links into $db did not get $t ready within 60 s"
	done
	for db in "${DBS[@]}"; do
		note "loading $rows rows into $t on $db"
		drift "$db" "INSERT INTO $t SELECT g, md5(g::text), 1, '2024-01-01 00:00:00+00', 1
		              FROM generate_series(1, $rows) g"
		psql_q "$db" -c "VACUUM ANALYZE $t"
	done
	for ((j = 1; j <= DIFF; j++)); do
		id=$(( (j * 7919) % rows + 1 ))
		case $((j % 4)) in
		1) drift b "INSERT INTO $t VALUES ($id, 'newer on b', 2, now(), 2)" ;;
		2) drift c "DELETE FROM $t WHERE id = $id" ;;
		3) drift a "INSERT INTO $t VALUES ($rows + $j, 'only on a', 1, now(), 1)" ;;
		0) drift b "INSERT INTO $t VALUES ($rows + $j, 'only on b', 2, now(), 1)" ;;
		esac
	done
	TEXT_BYTES=$(psql_q a -c "SELECT 3 * sum(pg_catalog.octet_length(x::text)) FROM $t x")
	# the walsenders decode (and filter out) the loads' WAL: not while timing
	for db in "${DBS[@]}"; do
		[ "$(psql_q "$db" -c "SELECT multimaster.wait_for_sync('600 s')")" = t ] ||
			die "$db did not catch up with its peers within 600 s"
	done
	psql_q a -c CHECKPOINT

	times=()
	for ((r = 1; r <= ROUNDS; r++)); do
		t0=$(date +%s%N)
		out=$(psql_q a -c "SELECT count(DISTINCT key) FROM multimaster.compare_table_keys('$t')" 2>&1)
		t1=$(date +%s%N)
		times+=("$(awk -v ns=$((t1 - t0)) 'BEGIN {printf "%.2f", ns / 1e9}')")
		found=$(printf '%s\n' "$out" | grep -v NOTICE | tail -1)
		back=$(printf '%s\n' "$out" | sed -n 's/.* \([0-9]*\) bytes came back.*/\1/p')
		sent=$(printf '%s\n' "$out" | sed -n 's/.* \([0-9]*\) bytes were sent.*/\1/p')
		[ "$found" = "$DIFF" ] || die "compare_table_keys('$t') found '$found' differing keys, not $DIFF: $out"
		if [ -z "$back" ] || [ -z "$sent" ]; then
			die "no byte counts in the NOTICE of compare_table_keys('$t'): $out"
		fi
	done
	secs=$(printf '%s\n' "${times[@]}" | median)
	RESULTS+=("| $rows | 3 | $found | $back | $sent | $secs | $TEXT_BYTES |")
	note "$t: $found keys, $back bytes back, $sent bytes sent, $secs s"
done

printf '\ncompare_table_keys() on a three-node mesh, %s differing keys (median of %s calls; load average %s at the start, on %s CPUs)\n\n' \
	"$DIFF" "$ROUNDS" "$LOAD_START" "$(nproc)"
printf '| rows | nodes | differing keys found | bytes came back | bytes sent | seconds | rows as text, 3 nodes (bytes) |\n'
printf '| --- | --- | --- | --- | --- | --- | --- |\n'
printf '%s\n' "${RESULTS[@]}"
