#!/usr/bin/env bash
# test/demo.sh: see multimaster work, in one command, on Debian 12.
#
#   sudo test/demo.sh [--pg 15|18]
#
# Installs what is missing (PostgreSQL 15 server, headers, client, make,
# gcc), builds and installs the extension from this repository, starts three
# private nodes on loopback ports as the `postgres` user, meshes them with
# one call to multimaster.create_mesh(), runs the classic three-node pgbench
# workload (each node inserts its own ids, updates and deletes any id) on all
# nodes at once, waits for replication to settle and prints a summary: TPS,
# lag, conflicts resolved, apply errors, row counts and checksums, and
# CONVERGED (exit 0) or DIVERGED (exit 1).
#
# The nodes are stopped and their directory removed at the end and on Ctrl-C.
#
# Environment:
#   MM_DEMO_SECONDS=30   duration of the pgbench workload, in seconds
#   MM_DEMO_KEEP=1       leave the nodes running and print how to use them
#   MM_DEMO_DIR=path     directory for the nodes (default: a fresh /tmp dir)
#   MM_DEMO_PORT=5441    first port tried (the next free ones are taken)
# shellcheck disable=SC2317  # cleanup functions are called from traps
set -euo pipefail

# --pg N: PostgreSQL N (15: Debian's; 18: built once into a cache).
# shellcheck source=SCRIPTDIR/pg-build.sh disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/pg-build.sh"
mm_pg_args "$@"
set -- ${MM_ARGS[@]+"${MM_ARGS[@]}"}
# PGVER, PGBIN, PG_CONFIG, REPO; as_pg and the mm_* setup functions.
# shellcheck source=SCRIPTDIR/lib.sh disable=SC1091  # followed with -x
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export PATH=$PGBIN:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Nothing of the caller's libpq environment may redirect the demo.
unset PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGPASSWORD PGPASSFILE \
	PGSERVICE PGSERVICEFILE PGOPTIONS PGSSLMODE PGDATA PGTZ PGDATESTYLE \
	PSQLRC LC_ALL LANGUAGE 2>/dev/null || true
export LANG=C.UTF-8 LC_MESSAGES=C PGCONNECT_TIMEOUT=10

SCRIPT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/$(basename "${BASH_SOURCE[0]}")

NODES=3
SECONDS_RUN=${MM_DEMO_SECONDS:-30}
KEEP=${MM_DEMO_KEEP:-0}
BASE_PORT=${MM_DEMO_PORT:-5441}
T0=$EPOCHSECONDS

# ---------------------------------------------------------------------------
# Output helpers
# ---------------------------------------------------------------------------
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ] && [ "${CI:-}" != true ]; then
	B=$'\e[1m' G=$'\e[1;32m' R=$'\e[1;31m' Y=$'\e[1;33m' N=$'\e[0m'
else
	B='' G='' R='' Y='' N=''
fi
STEP=0
STEPS=6
step() { STEP=$((STEP + 1)); printf '\n%s==> [%d/%d] %s%s\n' "$B" "$STEP" "$STEPS" "$*" "$N"; }
say()  { printf '    %s\n' "$*"; }
warn() { printf '%sdemo: %s%s\n' "$Y" "$*" "$N" >&2; }
die()  { printf '%sdemo: %s%s\n' "$R" "$*" "$N" >&2; exit 1; }

case ${1:-} in
-h|--help)
	mm_usage "$SCRIPT" '^# shellcheck'
	exit 0 ;;
"") ;;
*) die "unknown argument '$1' (try --help)" ;;
esac

case $SECONDS_RUN in
''|*[!0-9]*|0) die "MM_DEMO_SECONDS must be a positive number of seconds, not '$SECONDS_RUN'" ;;
esac
case $BASE_PORT in
''|*[!0-9]*) die "MM_DEMO_PORT must be a port number, not '$BASE_PORT'" ;;
esac
if [ "$BASE_PORT" -lt 1024 ] || [ "$BASE_PORT" -gt 65000 ]; then
	die "MM_DEMO_PORT must be between 1024 and 65000"
fi

if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		# Keep the demo's own settings across sudo.
		exec sudo -- env PG_CONFIG="$PG_CONFIG" MM_DEMO_SECONDS="$SECONDS_RUN" MM_DEMO_KEEP="$KEEP" \
			MM_DEMO_PORT="$BASE_PORT" ${MM_DEMO_DIR:+MM_DEMO_DIR="$MM_DEMO_DIR"} \
			${CI:+CI="$CI"} ${NO_COLOR:+NO_COLOR="$NO_COLOR"} "$SCRIPT" "$@"
	fi
	die "must run as root (it installs packages and the extension): sudo $0"
fi

# ---------------------------------------------------------------------------
# State and cleanup: only the servers of this run, only its directory.
# ---------------------------------------------------------------------------
WORK=
WORK_CREATED=0
SOCK=
declare -a PORTS=() DATADIRS=() BENCH_PIDS=() LABEL_PIDS=()
CLEANED=0
MARKER=.multimaster-demo

stop_nodes() {
	local d pids=()
	for d in "${DATADIRS[@]}"; do
		mm_stop_node "$d" &
		pids+=($!)
	done
	for d in "${pids[@]}"; do
		wait "$d" 2>/dev/null || true
	done
}

cleanup() {
	local rc=$1 p
	[ "$CLEANED" = 1 ] && return 0
	CLEANED=1
	set +e
	if [ ${#BENCH_PIDS[@]} -gt 0 ]; then
		for p in "${BENCH_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
		sleep 0.5
		for p in "${BENCH_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	fi
	[ -n "$WORK" ] || return 0
	if [ "$KEEP" = 1 ] && [ "$rc" -ne 130 ] && [ "$rc" -ne 143 ] && [ ${#DATADIRS[@]} -gt 0 ]; then
		print_keep
		return 0
	fi
	if [ ${#DATADIRS[@]} -gt 0 ]; then
		printf '\n%s==> stopping the demo nodes%s\n' "$B" "$N"
		stop_nodes
	fi
	if [ "$WORK_CREATED" = 1 ]; then
		rm -rf -- "$WORK"
	else
		# A directory given by MM_DEMO_DIR: remove only what the demo put there.
		rm -rf -- "${WORK:?}"/node* "${WORK:?}"/sock "${WORK:?}"/*.log \
			"${WORK:?}"/*.sql "${WORK:?}"/stop.sh "${WORK:?}/$MARKER"
	fi
	say "stopped; removed $WORK"
	return 0
}

print_keep() {
	local k
	printf '\n%s==> MM_DEMO_KEEP=1: the nodes keep running%s\n' "$B" "$N"
	for k in $(seq 1 "${#DATADIRS[@]}"); do
		say "node$k:  psql -h 127.0.0.1 -p ${PORTS[k-1]:-?} -U postgres postgres     (or -h $SOCK)"
	done
	say "workload: pgbench -M prepared -n -P 5 -c 4 -j 2 -T 30 -h 127.0.0.1 -p ${PORTS[0]:-?} -U postgres -f $WORK/node1.sql postgres"
	say "logs:     $WORK/node*.log"
	say "stop them and remove $WORK:  sudo $WORK/stop.sh"
	say "  (or, for each node: sudo runuser -u postgres -- $PGBIN/pg_ctl -D $WORK/nodeK -m fast stop)"
}

# shellcheck disable=SC2317  # invoked by traps
on_exit() {
	local rc=$?
	trap - EXIT INT TERM
	cleanup "$rc"
	exit "$rc"
}
# shellcheck disable=SC2317
on_signal() {
	local rc=$1
	trap - EXIT INT TERM
	printf '\n' >&2
	warn "interrupted: stopping the demo nodes"
	cleanup "$rc"
	exit "$rc"
}
trap on_exit EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

# ---------------------------------------------------------------------------
# 1. Packages, build, install
# ---------------------------------------------------------------------------
step "Packages and build"
PACKAGES=("postgresql-$PGVER" "postgresql-server-dev-$PGVER" "postgresql-client-$PGVER"
	make gcc libpq-dev)
mm_install_missing say 900 1800 "${PACKAGES[@]}"
[ ${#MM_MISSING[@]} -gt 0 ] || say "present: ${MM_WANTED[*]}"
for tool in "$PG_CONFIG" "$PGBIN/initdb" "$PGBIN/pg_ctl" "$PGBIN/postgres" \
	"$PGBIN/psql" "$PGBIN/pgbench"; do
	[ -x "$tool" ] || die "missing $tool after installing packages"
done
mm_check_tools "$PGBIN/postgres"	# and the postgres user (created if missing)
command -v runuser >/dev/null 2>&1 || die "runuser (util-linux) is needed to run the servers as postgres"
say "$("$PGBIN/postgres" --version)"

BUILD_LOG=$(mktemp /tmp/multimaster-demo-build.XXXXXX)
build_rc=0
mm_build_install "$REPO" "$BUILD_LOG" "$BUILD_LOG.install" || build_rc=$?
if [ "$build_rc" = 1 ]; then
	cat "$BUILD_LOG" >&2
	rm -f "$BUILD_LOG"
	die "build failed (make in $REPO)"
fi
if mm_build_warnings "$BUILD_LOG"; then
	grep -A3 'warning:' "$BUILD_LOG" | sed 's/^/    /' >&2
	warn "the build printed compiler warnings (above)"
fi
if [ "$build_rc" != 0 ]; then
	cat "$BUILD_LOG.install" >&2
	rm -f "$BUILD_LOG" "$BUILD_LOG.install"
	die "make install failed"
fi
rm -f "$BUILD_LOG" "$BUILD_LOG.install"
say "built $REPO and installed it into $("$PG_CONFIG" --pkglibdir)"

# ---------------------------------------------------------------------------
# 2. Three nodes
# ---------------------------------------------------------------------------
step "Starting $NODES nodes"
if [ -n "${MM_DEMO_DIR:-}" ]; then
	case $MM_DEMO_DIR in /*) ;; *) MM_DEMO_DIR=$PWD/$MM_DEMO_DIR ;; esac
	if [ -d "$MM_DEMO_DIR" ]; then
		if [ -e "$MM_DEMO_DIR/$MARKER" ]; then
			# A previous demo kept its nodes here: stop them, start afresh.
			for d in "$MM_DEMO_DIR"/node[0-9]*; do
				[ -f "$d/postmaster.pid" ] || continue
				say "stopping the node a previous demo left in $d"
				WORK=$MM_DEMO_DIR mm_stop_node "$d"
			done
			rm -rf -- "$MM_DEMO_DIR"/node* "$MM_DEMO_DIR"/sock
		elif [ -n "$(ls -A "$MM_DEMO_DIR")" ]; then
			die "MM_DEMO_DIR=$MM_DEMO_DIR is not empty and not a demo directory; give an empty or new one"
		fi
	else
		mkdir -p "$MM_DEMO_DIR"
		WORK_CREATED=1
	fi
	WORK=$MM_DEMO_DIR
else
	WORK=$(mktemp -d /tmp/multimaster-demo.XXXXXX)
	WORK_CREATED=1
fi
touch "$WORK/$MARKER"
chown postgres:postgres "$WORK" "$WORK/$MARKER"
chmod 755 "$WORK"
runuser -u postgres -- test -w "$WORK" </dev/null ||
	die "user postgres cannot write to $WORK (is a parent directory private?); set MM_DEMO_DIR elsewhere"
SOCK=$WORK/sock
[ ${#SOCK} -le 90 ] || die "socket directory path too long for a unix socket: $SOCK (set a shorter MM_DEMO_DIR)"
mkdir -p "$SOCK"
chown postgres:postgres "$SOCK"
chmod 700 "$SOCK"
say "directory: $WORK"

NEXT_PORT=$BASE_PORT
next_free_port() {
	FREE_PORT=$(mm_free_port "$NEXT_PORT" $((BASE_PORT + 200))) ||
		die "no free port in $BASE_PORT..$((BASE_PORT + 200))"
	NEXT_PORT=$((FREE_PORT + 1))
}

start_node() {	# k
	local k=$1 d=$WORK/node$1 log=$WORK/node$1.log
	mm_initdb "$d" "$WORK/initdb$k.log" ||
		{ cat "$WORK/initdb$k.log" >&2; die "initdb failed for node$k"; }
	rm -f "$WORK/initdb$k.log"
	cp "$d/postgresql.conf" "$d/postgresql.conf.initdb"
	# A port can be taken between the check and the start: retry a few times.
	for _ in 1 2 3 4 5; do
		next_free_port
		cp "$d/postgresql.conf.initdb" "$d/postgresql.conf"
		# test/node.conf's settings, then the demo's own.
		mm_node_conf "$d" "multimaster demo: node$k" "$FREE_PORT" "$SOCK" \
			"cluster_name = 'mm_demo_node$k'" \
			"log_line_prefix = '%m [%p] %q%a '"
		chown postgres:postgres "$d/postgresql.conf"
		DATADIRS[k-1]=$d
		if mm_pg_start "$d" "$log" 2>/dev/null; then
			PORTS[k-1]=$FREE_PORT
			say "node$k: port $FREE_PORT, data $d, log $log$([ -n "$MM_OUTPUT_PLUGIN_LINE" ] && printf ', output_plugin_libraries set')"
			return 0
		fi
		if grep -q 'could not bind\|Address already in use\|could not create any TCP/IP sockets' "$log" 2>/dev/null; then
			warn "port $FREE_PORT was taken meanwhile, trying the next one"
			mm_stop_node "$d"
			continue
		fi
		tail -n 30 "$log" >&2 || true
		die "node$k did not start"
	done
	die "node$k: no port could be bound"
}

for k in $(seq 1 $NODES); do
	start_node "$k"
done

# psql on node k through its unix socket; fails on the first error.
psql_node() {	# k, psql args...
	local k=$1
	shift
	timeout --foreground -k 5 300 psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" \
		-p "${PORTS[k-1]}" -U postgres -d postgres "$@" </dev/null
}
q() {	# k sql: one unaligned value or row
	psql_node "$1" -At -F '|' -c "$2"
}

cat >"$WORK/stop.sh" <<EOF
#!/bin/sh
# Stops the nodes of the multimaster demo started in $WORK and removes it.
for d in $WORK/node[0-9]*; do
	[ -f "\$d/postmaster.pid" ] &&
		(cd /tmp && runuser -u postgres -- $PGBIN/pg_ctl -D "\$d" -m fast -w -t 60 stop)
done
rm -rf -- "$WORK"
EOF
chmod 755 "$WORK/stop.sh"

# ---------------------------------------------------------------------------
# 3. Extension, table, mesh
# ---------------------------------------------------------------------------
step "Extension, table mm and the mesh"
for k in $(seq 1 $NODES); do
	psql_node "$k" -c 'CREATE EXTENSION IF NOT EXISTS multimaster' \
		-c 'CREATE TABLE IF NOT EXISTS mm (id int PRIMARY KEY, info text, mod_time timestamp)'
	say "node$k: CREATE EXTENSION multimaster; CREATE TABLE mm (id int primary key, info text, mod_time timestamp)"
done

dsns=()
for k in $(seq 1 $NODES); do
	dsns+=("'host=127.0.0.1 port=${PORTS[k-1]} dbname=postgres user=postgres'")
done
MESH_SQL="SELECT multimaster.create_mesh(ARRAY[$(IFS=,; printf '%s' "${dsns[*]}" | sed "s/','/', '/g")])"
say "node1: $MESH_SQL;"
psql_node 1 -c "$MESH_SQL" >/dev/null
say "node1: SELECT multimaster.add_table_mesh('mm');"
psql_node 1 -c "SELECT multimaster.add_table_mesh('mm')" >/dev/null

printf '\n'
psql_node 1 -P footer=off -c "SELECT node_id, node_name, is_local, dsn FROM multimaster.nodes ORDER BY node_id" |
	sed 's/^/    /'
printf '    subscriptions (multimaster_<from>_<to>):\n'
for k in $(seq 1 $NODES); do
	say "  node$k: $(q "$k" "SELECT string_agg(subname || CASE WHEN subenabled THEN '' ELSE ' (disabled)' END, ', ' ORDER BY subname) FROM pg_subscription")"
done

# The table's initial synchronisation must be over before the workload.
for k in $(seq 1 $NODES); do
	ok=$(q "$k" "SELECT multimaster.wait_for_sync('60 s')")
	[ "$ok" = t ] || die "node$k: the mesh did not become ready within 60 s (see $WORK/node$k.log)"
done
say "mesh ready: every node has synchronised table mm from its peers"

# ---------------------------------------------------------------------------
# 4. The classic workload on all nodes at once
# ---------------------------------------------------------------------------
step "Classic workload: pgbench on all $NODES nodes for $SECONDS_RUN s"
for k in $(seq 1 $NODES); do
	mm_classic_script "$k" "$NODES" 30000 "$WORK/node$k.sql" || die "cannot write $WORK/node$k.sql"
done
say "scripts: $WORK/node{1..$NODES}.sql (5 upserts of own ids, 5 updates and 2 deletes of any id)"
say "pgbench -M prepared -n -P 5 -c 4 -j 2 -T $SECONDS_RUN -h 127.0.0.1 -p PORT -U postgres -f nodeK.sql postgres"
printf '\n'

for k in $(seq 1 $NODES); do
	# Each pgbench writes through a labeller that also keeps its output.
	# The settings lines of the final report repeat the command line: skip them.
	exec {fd}> >(tee "$WORK/pgbench$k.log" | sed -u \
		-e '/^\(pgbench (.*)\|transaction type:\|scaling factor:\|query mode:\|number of clients:\|number of threads:\|maximum number of tries:\|duration:\|initial connection time\)/d' \
		-e "s/^/    [node$k] /")
	LABEL_PIDS+=($!)
	pgbench -M prepared -n -P 5 -c 4 -j 2 -T "$SECONDS_RUN" -h 127.0.0.1 \
		-p "${PORTS[k-1]}" -U postgres -f "$WORK/node$k.sql" postgres \
		>&"$fd" 2>&1 </dev/null &
	BENCH_PIDS+=($!)
	exec {fd}>&-
done

BENCH_RC=()
deadline=$((EPOCHSECONDS + SECONDS_RUN + 120))
for k in $(seq 1 $NODES); do
	pid=${BENCH_PIDS[k-1]}
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$EPOCHSECONDS" -gt "$deadline" ]; then
			warn "pgbench on node$k did not finish in time, stopping it"
			kill -TERM "$pid" 2>/dev/null || true
			break
		fi
		sleep 1 &
		wait $! || true
	done
	rc=0
	wait "$pid" || rc=$?
	BENCH_RC[k-1]=$rc
done
BENCH_PIDS=()
for p in "${LABEL_PIDS[@]}"; do
	wait "$p" 2>/dev/null || true
done
LABEL_PIDS=()

# ---------------------------------------------------------------------------
# 5. Sync and summary
# ---------------------------------------------------------------------------
step "Waiting for every node to apply every peer's changes"
SYNC_OK=1
for k in $(seq 1 $NODES); do
	s0=$EPOCHSECONDS
	ok=$(q "$k" "SELECT multimaster.wait_for_sync('120 s')" 2>"$WORK/sync$k.err") || ok=error
	if [ "$ok" = t ]; then
		say "node$k: in sync ($((EPOCHSECONDS - s0)) s)"
	else
		SYNC_OK=0
		if [ "$ok" = f ]; then
			warn "node$k: NOT in sync: multimaster.wait_for_sync('120 s') returned false after $((EPOCHSECONDS - s0)) s"
		else
			warn "node$k: multimaster.wait_for_sync('120 s') failed after $((EPOCHSECONDS - s0)) s"
		fi
		sed 's/^/    /' "$WORK/sync$k.err" >&2
	fi
	rm -f "$WORK/sync$k.err"
done

step "Summary"
tps_of() {	# k
	sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' \
		"$WORK/pgbench$1.log" 2>/dev/null | head -n 1
}
COMPARE=$(q 1 "SELECT node_id, row_count, checksum, consistent FROM multimaster.compare_table('mm') ORDER BY node_id" 2>&1) ||
	{ warn "multimaster.compare_table('mm') failed: $COMPARE"; COMPARE=; }

declare -a SEED_SUMS=() COUNTS=() CHECKS=() KINDS=()
CONSISTENT=1
row_out() {
	printf '    %-6s %5s %9s %9s %10s %10s %7s %8s %20s %16s\n' "$@"
}
row_out node port TPS lag_bytes lag conflicts errors rows "checksum" "sum(hashtext)"
row_out ------ ----- --------- --------- ---------- ---------- ------- -------- -------------------- ----------------
for k in $(seq 1 $NODES); do
	tps=$(tps_of "$k")
	[ -n "$tps" ] && tps=$(printf '%.1f' "$tps") || tps='-'
	IFS='|' read -r lagb lag errs <<<"$(q "$k" "SELECT coalesce(max(lag_bytes)::text, '?'), coalesce(max(lag)::text, '?'), coalesce(sum(errors)::text, '0') FROM multimaster.status" 2>/dev/null || echo '?|?|?')"
	conflicts=$(q "$k" "SELECT count(*) FROM multimaster.conflicts" 2>/dev/null || echo '?')
	KINDS[k-1]=$(q "$k" "SELECT coalesce(string_agg(kind || ' ' || n, ', ' ORDER BY n DESC, kind), 'none') FROM (SELECT kind, count(*) AS n FROM multimaster.conflicts GROUP BY kind) c" 2>/dev/null || echo '?')
	SEED_SUMS[k-1]=$(q "$k" "select coalesce(sum(hashtext(t.id||t.info||t.mod_time)), 0) from mm t" 2>/dev/null || echo '?')
	row=$(printf '%s\n' "$COMPARE" | awk -F'|' -v k="$k" '$1 == k')
	IFS='|' read -r _ cnt chk cons <<<"${row:-|?|?|f}"
	COUNTS[k-1]=$cnt
	CHECKS[k-1]=$chk
	[ "$cons" = t ] || CONSISTENT=0
	row_out "node$k" "${PORTS[k-1]}" "$tps" "$lagb" "${lag%%.*}" "$conflicts" "$errs" "$cnt" "$chk" "${SEED_SUMS[k-1]}"
done
printf '\n    conflicts resolved, by kind:\n'
for k in $(seq 1 $NODES); do
	say "  node$k: ${KINDS[k-1]}"
done
for k in $(seq 1 $NODES); do
	if [ "${BENCH_RC[k-1]}" -ne 0 ]; then
		warn "pgbench on node$k exited with status ${BENCH_RC[k-1]} (see the [node$k] lines above)"
	fi
done
printf '\n    lag_bytes, lag, errors: multimaster.status, largest over the peers a node receives from\n'
printf '      (a few bytes of WAL without changes, not yet acknowledged, are normal)\n'
printf '    rows, checksum: multimaster.compare_table('"'"'mm'"'"'); sum(hashtext): the classic recipe'"'"'s check\n'
printf '      select sum(hashtext(t.id||t.info||t.mod_time)) from mm t;\n'

same() {	# values...: all equal and known
	local first=$1 v
	for v in "$@"; do
		[ "$v" = "$first" ] && [ "$v" != '?' ] && [ -n "$v" ] || return 1
	done
}
VERDICT=1
[ -n "$COMPARE" ] && [ "$CONSISTENT" = 1 ] || VERDICT=0
same "${COUNTS[@]}" && same "${CHECKS[@]}" && same "${SEED_SUMS[@]}" || VERDICT=0

banner() {	# colour text
	local line
	line=$(printf '#%.0s' $(seq 1 $((${#2} + 10))))
	printf '%s    %s\n    ##   %s   ##\n    %s%s\n' "$1" "$line" "$2" "$line" "$N"
}
ELAPSED=$((EPOCHSECONDS - T0))
printf '\n'
if [ "$VERDICT" = 1 ]; then
	banner "$G" "CONVERGED: all $NODES nodes hold identical data"
	[ "$SYNC_OK" = 1 ] || warn "converged although wait_for_sync() reported a node out of sync"
	RC=0
else
	banner "$R" "DIVERGED: the nodes do not hold the same data"
	[ "$SYNC_OK" = 1 ] || say "(replication had not caught up: see the warnings above and $WORK/node*.log)"
	RC=1
fi
printf '\n    demo took %d s (workload %d s)\n' "$ELAPSED" "$SECONDS_RUN"
if [ "$KEEP" = 1 ]; then
	: # the nodes stay up; how to use them is printed on exit
else
	say "to keep the nodes running, rerun with MM_DEMO_KEEP=1 (for example: sudo env MM_DEMO_KEEP=1 $0)"
fi
exit "$RC"
