#!/usr/bin/env bash
# test/bench/status_conflicts.sh: the cost of reading multimaster.status
# when the conflict log is long.
#
#   sudo test/bench/status_conflicts.sh [N]      (N = logged conflicts, default 1000000)
#
# One throwaway server, two databases a and b linked by create_mesh() (a
# two-node mesh on one server).  N conflict log rows from node b are written
# into a's multimaster.conflicts (and its per-peer count).  Then, 7 times
# each, median reported:
#
#   status    SELECT * FROM multimaster.status on a (one row per peer; it
#             connects to the peer for its slot, the per-peer conflict count
#             comes from multimaster.conflict_counts)
#   count     SELECT count(*) FROM multimaster.conflicts WHERE remote_origin = 2:
#             what the view did before the per-peer counts existed
#   purge     multimaster.purge_conflicts('0') of the whole log, once
#
# Printed as a markdown table.  PG_CONFIG, if set, names the PostgreSQL 15
# to build for and run (default the Debian server's).
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ROWS=${1:-1000000}
[[ $ROWS =~ ^[0-9]+$ ]] || die "N must be a number"
[ "$(id -u)" = 0 ] || die "run as root (sudo $0): installs packages and runs the server as 'postgres'"

# set by mm_bench_server, read by its EXIT trap: none inherited
# shellcheck disable=SC2034
WORK='' DATA='' SERVER_STARTED=0
mm_exit_traps mm_bench_server_exit
mm_bench_server "${MM_BENCH_PORT:-55432}" 0:0 "shared_buffers = 256MB" "wal_level = logical" \
	"max_wal_size = 4GB" "autovacuum = off" "jit = off"

psql_q() {	# db sql...
	local db=$1
	shift
	as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres -d "$db" -At "$@"
}

for db in a b; do
	psql_q postgres -c "CREATE DATABASE $db"
	psql_q "$db" -c 'CREATE EXTENSION multimaster'
done
dsn() { printf "host=%s port=%s dbname=%s user=postgres" "$SOCK" "$PORT" "$1"; }
psql_q a -c "SELECT multimaster.create_mesh(ARRAY['$(dsn a)', '$(dsn b)'])" >/dev/null

note "logging $ROWS conflicts"
psql_q a -c "INSERT INTO multimaster.conflicts (table_name, key, kind, resolution, remote_origin,
		remote_version, remote_generation, local_origin, local_version, local_generation)
	SELECT 'public.t', g::text, 'update_update', 'apply_remote', 2, now(), 2, 1, now(), 2
	  FROM generate_series(1, $ROWS) g" \
	-c "INSERT INTO multimaster.conflict_counts VALUES (2, $ROWS)
	    ON CONFLICT (remote_origin) DO UPDATE SET conflicts = excluded.conflicts" \
	-c 'VACUUM ANALYZE multimaster.conflicts'

timed() {	# db sql: milliseconds of one run, measured inside the server
	psql_q "$1" -c "DO \$\$DECLARE t0 timestamptz := clock_timestamp(); BEGIN
		PERFORM * FROM ($2) q;
		RAISE NOTICE 'ms=%', round(extract(epoch FROM clock_timestamp() - t0) * 1000, 2);
		END\$\$" 2>&1 | sed -n 's/.*ms=//p'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

STATUS=$(for _ in 1 2 3 4 5 6 7; do timed a 'SELECT * FROM multimaster.status'; done | median)
COUNT=$(for _ in 1 2 3 4 5 6 7; do timed a 'SELECT count(*) FROM multimaster.conflicts WHERE remote_origin = 2'; done | median)
SHOWN=$(psql_q a -c 'SELECT conflicts FROM multimaster.status')
PURGE=$(timed a "SELECT multimaster.purge_conflicts('0')")
AFTER=$(psql_q a -c 'SELECT count(*) FROM multimaster.conflicts')

printf '\n%s logged conflicts (status shows %s; after the purge the log holds %s rows)\n\n' \
	"$ROWS" "$SHOWN" "$AFTER"
printf '| what | ms (median of 7) |\n| --- | --- |\n'
printf '| `SELECT * FROM multimaster.status` | %s |\n' "$STATUS"
printf '| the per-peer `count(*)` the view used to run | %s |\n' "$COUNT"
printf '| `purge_conflicts('"'"'0'"'"')` of the whole log (once) | %s |\n' "$PURGE"
