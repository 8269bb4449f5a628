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
# Printed as a markdown table.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ROWS=${1:-1000000}
[[ $ROWS =~ ^[0-9]+$ ]] || die "N must be a number"
[ "$(id -u)" = 0 ] || die "run as root (sudo $0): installs packages and runs the server as 'postgres'"

WORK=
DATA=
SERVER_STARTED=0

# shellcheck disable=SC2317  # invoked by the EXIT trap
on_exit() {
	local rc=$?
	trap - EXIT INT TERM
	[ "$rc" -eq 0 ] || warn "failed (exit status $rc)"
	if [ "$SERVER_STARTED" = 1 ]; then
		mm_pg_stop "$DATA" || warn "could not stop the server of $DATA"
	fi
	mm_remove_work "kept $WORK (server.log)" "$rc"
	exit "$rc"
}
mm_exit_traps on_exit

mm_install_missing note 0 0 "postgresql-$PGVER" "postgresql-server-dev-$PGVER" make gcc >&2
mm_check_tools "$PG_CONFIG" initdb pg_ctl psql postgres

WORK=$(mktemp -d /tmp/mm-bench.XXXXXX)
chmod 755 "$WORK"
DATA=$WORK/data
SOCK=$WORK/sock
mkdir -p "$SOCK"

mm_bench_build 0:0
mm_installed multimaster || die "multimaster is not installed"

PORT=$(mm_free_port "${MM_BENCH_PORT:-55432}" $(( ${MM_BENCH_PORT:-55432} + 200 ))) ||
	die "no free port found"
chown -R postgres:postgres "$WORK"
chmod 700 "$SOCK"
mm_initdb "$DATA" "$WORK/initdb.log" || { cat "$WORK/initdb.log" >&2; die "initdb failed"; }
mm_node_conf "$DATA" '' "$PORT" "$SOCK" "shared_buffers = 256MB" \
	"max_wal_size = 4GB" "autovacuum = off" "jit = off"
mm_pg_start "$DATA" "$WORK/server.log" || { cat "$WORK/server.log" >&2; die "server did not start"; }
SERVER_STARTED=1

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
