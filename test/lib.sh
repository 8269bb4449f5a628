# shellcheck shell=bash
# test/lib.sh: setup shared by the scripts that build multimaster and run
# throwaway servers (test/run-tests.sh, test/demo.sh, test/bench/*.sh).
#
# Sourced, never run, after the script's own `set -euo pipefail`:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# It defines constants (PGVER, PGBIN, PG_CONFIG, MM_DEBIAN_PG, PATH, REPO,
# MM_PROG, MM_NODE_CONF) and functions only.  No function relies on errexit:
# each one checks what it runs and returns a status (or dies), so it works
# the same when called from `if`, `||` or `!`.
#
# The PostgreSQL used is the one of the environment's PG_CONFIG, by default
# Debian's PostgreSQL 15 (/usr/lib/postgresql/15/bin/pg_config):
#   Debian's  (/usr/lib/postgresql/N/bin/pg_config, installed or not yet):
#             PGVER=N, its Debian packages (postgresql-N, ...) are installed
#             when missing (MM_DEBIAN_PG=1);
#   another   (an existing pg_config, path or command): PGBIN is its
#             --bindir, PGVER its major version; it must bring its server,
#             headers and extensions (pgtap) itself: no postgresql-N package
#             is installed for it (MM_DEBIAN_PG=0).

# The script's name without .sh: the prefix of its warnings.
MM_PROG=$(basename "${BASH_SOURCE[1]:-$0}" .sh)

# MM_PG=N (the scripts' --pg N, see test/pg-build.sh) picks PostgreSQL N:
# 15 from Debian, another one built once into a cache (as root).
if [ -n "${MM_PG:-}" ]; then
	# shellcheck source=SCRIPTDIR/pg-build.sh disable=SC1091
	. "$(dirname "${BASH_SOURCE[0]}")/pg-build.sh"
	if ! PG_CONFIG=$(mm_pg_config_for "$MM_PG"); then
		printf '%s: no PostgreSQL %s to use (see the messages above)\n' "$MM_PROG" "$MM_PG" >&2
		exit 2
	fi
fi

case ${PG_CONFIG:-} in
'')
	PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config ;;
/usr/lib/postgresql/*/bin/pg_config) ;;
*)
	if ! MM_PATH=$(command -v "$PG_CONFIG") || [ ! -x "$MM_PATH" ] ||
	   ! PGBIN=$("$MM_PATH" --bindir) || ! PGVER=$("$MM_PATH" --version); then
		printf '%s: PG_CONFIG=%s: not a working pg_config\n' "$MM_PROG" "$PG_CONFIG" >&2
		exit 2
	fi
	PG_CONFIG=$MM_PATH
	unset MM_PATH
	;;
esac
case $PG_CONFIG in
/usr/lib/postgresql/*/bin/pg_config)
	MM_DEBIAN_PG=1
	PGBIN=${PG_CONFIG%/pg_config}
	PGVER=${PGBIN#/usr/lib/postgresql/}
	PGVER=${PGVER%/bin} ;;
*)
	MM_DEBIAN_PG=0
	# "PostgreSQL 15.20 (Debian ...)", "PostgreSQL 18beta1": the major.
	PGVER=${PGVER#PostgreSQL }
	PGVER=${PGVER%%[!0-9]*} ;;
esac
export PG_CONFIG
export PATH=$PGBIN:$PATH
export DEBIAN_FRONTEND=noninteractive

# The repository: the directory above this file's.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)

# ---------------------------------------------------------------------------
# Messages and exit
# ---------------------------------------------------------------------------
# warn, die and note, all on stderr; a script that says things its own way
# defines its own after sourcing this file (the last definition wins).
warn() { printf '%s: %s\n' "$MM_PROG" "$*" >&2; }
die() { warn "$*"; exit 1; }
note() { printf '%s\n' "$*" >&2; }

# The help of a script: its header comment, from line 2 to the line before
# the first one matching end, without the leading "# ".
mm_usage() {	# script end-regex
	sed -n "2,/$2/p" "$1" | sed -e '$d' -e 's/^# \{0,1\}//'
}

# The EXIT trap runs the function; INT and TERM exit with status 130 and
# 143, which runs it too.
mm_exit_traps() {	# function
	# shellcheck disable=SC2064  # the function's name, given now
	trap "$1" EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# Removes the script's temp directory $WORK (if any), or keeps it and says
# message (note) when KEEP_TMP=1 or when a non-zero exit status is given.
mm_remove_work() {	# message [exit-status]
	if [ -z "${WORK:-}" ] || [ ! -d "$WORK" ]; then
		return 0
	fi
	if [ "${2:-0}" -ne 0 ] || [ "${KEEP_TMP:-0}" = 1 ]; then
		note "$1"
	else
		rm -rf -- "$WORK"
	fi
}

# ---------------------------------------------------------------------------
# Commands as postgres
# ---------------------------------------------------------------------------
# Run a command as postgres (initdb and postgres refuse root), from a
# directory it can read, with a clean libpq environment so that nothing of
# the caller's leaks into the servers and tests.  HOME is the script's
# $WORK (its temp directory), else /tmp.
as_pg_in() {	# dir command...
	local dir=$1
	shift
	(cd "$dir" && runuser -u postgres -- env \
		-u PGHOST -u PGHOSTADDR -u PGPORT -u PGDATABASE -u PGUSER \
		-u PGPASSWORD -u PGPASSFILE -u PGSERVICE -u PGSERVICEFILE \
		-u PGOPTIONS -u PGSSLMODE -u PGDATA -u LC_ALL -u LANGUAGE \
		HOME="${WORK:-/tmp}" PATH="$PATH" PG_CONFIG="$PG_CONFIG" \
		LANG=C.UTF-8 LC_MESSAGES=C \
		"$@" </dev/null)
}

as_pg() {	# command...: as_pg_in $WORK (else /tmp)
	as_pg_in "${WORK:-/tmp}" "$@"
}

# A command with a time limit in seconds; 0 = no limit.
mm_limit() {	# seconds command...
	local secs=$1
	shift
	if [ "$secs" -gt 0 ]; then
		timeout "$secs" "$@"
	else
		"$@"
	fi
}

# ---------------------------------------------------------------------------
# Packages
# ---------------------------------------------------------------------------
mm_pkg_installed() {	# package
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

# Installs those of the Debian packages that are not installed, saying
# "installing: <them>" through the function log first; the others are left
# at their version.  MM_MISSING is set to the list of those installed (empty:
# nothing to do), MM_WANTED to those looked at.  The Debian default cluster (port 5432) that
# postgresql-common may create is never used by the scripts.
#
# With another PostgreSQL than Debian's (MM_DEBIAN_PG=0), the Debian
# packages of PostgreSQL $PGVER itself (postgresql-$PGVER,
# postgresql-$PGVER-*, postgresql-client-$PGVER, postgresql-server-dev-$PGVER)
# are left out: that install has its own.
mm_install_missing() {	# log-function update-secs install-secs package...
	local log=$1 update_secs=$2 install_secs=$3 p skipped=()
	shift 3
	MM_MISSING=() MM_WANTED=()
	for p in "$@"; do
		case $p in
		postgresql-"$PGVER"|postgresql-"$PGVER"-*|postgresql-client-"$PGVER"|postgresql-server-dev-"$PGVER")
			if [ "$MM_DEBIAN_PG" = 0 ]; then
				skipped+=("$p")
				continue
			fi ;;
		esac
		MM_WANTED+=("$p")
		mm_pkg_installed "$p" || MM_MISSING+=("$p")
	done
	if [ ${#skipped[@]} -gt 0 ]; then
		"$log" "not installed for $PG_CONFIG: ${skipped[*]}"
	fi
	[ ${#MM_MISSING[@]} -gt 0 ] || return 0
	"$log" "installing: ${MM_MISSING[*]}"
	mm_limit "$update_secs" apt-get update -q </dev/null || return
	mm_limit "$install_secs" apt-get install -y -q --no-install-recommends --no-upgrade \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		"${MM_MISSING[@]}" </dev/null
}

# Dies unless each tool (a path, or a command on PATH) is there and so is
# the postgres user, which runs the servers: postgresql-common creates it;
# without that package (another PostgreSQL than Debian's) it is created here
# as a system user.
mm_check_tools() {	# tool...
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null || die "missing $tool after install"
	done
	id postgres >/dev/null 2>&1 ||
		useradd --system --user-group --home-dir /var/lib/postgresql --create-home \
			--shell /bin/bash postgres </dev/null ||
		die "no 'postgres' system user and none could be created"
}

# ---------------------------------------------------------------------------
# Build and install
# ---------------------------------------------------------------------------
# The repository's build inputs copied into dest, without objects: a build
# there leaves the working tree untouched and reuses no stale object.
mm_copy_sources() {	# dest
	mkdir -p "$1" || return
	(cd "$REPO" && tar -cf - --exclude='*.o' --exclude='*.bc' --exclude='*.so' \
		Makefile ./*.control ./*.sql src) | tar -C "$1" -xf -
}

# make, then make install, in dir for this PG_CONFIG (stdin /dev/null).
# make's output goes to build-log, make install's to install-log (appended
# when it is build-log, else written afresh).
#   -c        make clean first, so that every file is compiled and its
#             warnings are seen
#   -s        make's output is also shown on stdout as it comes
#   -w        a compiler warning fails the build: nothing is installed
#   -t M:I    time limits in seconds for make (M) and make install (I)
# Status: 0 built and installed, 1 make failed, 2 compiler warnings (-w),
# 3 make install failed.  mm_build_warnings build-log tells whether make
# printed warnings.
mm_build_install() {	# [-c] [-s] [-w] [-t M:I] dir build-log install-log
	local clean=0 show=0 strict=0 make_secs=0 install_secs=0 dir blog ilog
	local -
	set -o pipefail
	while [ $# -gt 0 ]; do
		case $1 in
		-c) clean=1 ;;
		-s) show=1 ;;
		-w) strict=1 ;;
		-t) make_secs=${2%%:*} install_secs=${2#*:}; shift ;;
		*) break ;;
		esac
		shift
	done
	dir=$1 blog=$2 ilog=$3
	if [ "$clean" = 1 ]; then
		make -C "$dir" PG_CONFIG="$PG_CONFIG" clean </dev/null >/dev/null 2>&1 || true
	fi
	if [ "$show" = 1 ]; then
		mm_limit "$make_secs" make -C "$dir" PG_CONFIG="$PG_CONFIG" 2>&1 </dev/null |
			tee "$blog" || return 1
	else
		mm_limit "$make_secs" make -C "$dir" PG_CONFIG="$PG_CONFIG" </dev/null \
			>"$blog" 2>&1 || return 1
	fi
	if [ "$strict" = 1 ] && mm_build_warnings "$blog"; then
		return 2
	fi
	if [ "$ilog" = "$blog" ]; then
		mm_limit "$install_secs" make -C "$dir" PG_CONFIG="$PG_CONFIG" install \
			</dev/null >>"$ilog" 2>&1 || return 3
	else
		mm_limit "$install_secs" make -C "$dir" PG_CONFIG="$PG_CONFIG" install \
			</dev/null >"$ilog" 2>&1 || return 3
	fi
}

mm_build_warnings() {	# build-log: true if the compiler printed warnings
	grep -q 'warning:' "$1"
}

mm_installed() {	# extension: true if this PostgreSQL has it installed
	[ -f "$("$PG_CONFIG" --sharedir)/extension/$1.control" ]
}

# ---------------------------------------------------------------------------
# Benchmarks (test/bench/*.sh)
# ---------------------------------------------------------------------------
# What the benchmarks' command lines have in common: -h or --help as the
# argument prints the script's help and exits; else the argument's value
# (called name in messages) must be a positive integer.  ROUNDS and ROWS are
# set from MM_BENCH_ROUNDS and MM_BENCH_ROWS, else the benchmark's defaults;
# dies if they are not whole numbers (ROWS >= 2).
mm_bench_args() {	# name value default-rounds default-rows
	case $2 in
	-h|--help) mm_usage "${BASH_SOURCE[1]}" '^set -euo'; exit 0 ;;
	esac
	[[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive integer, not '$2'"
	ROUNDS=${MM_BENCH_ROUNDS:-$3}
	ROWS=${MM_BENCH_ROWS:-$4}
	[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "MM_BENCH_ROUNDS must be a positive integer"
	if ! [[ $ROWS =~ ^[1-9][0-9]*$ ]] || [ "$ROWS" -lt 2 ]; then
		die "MM_BENCH_ROWS must be an integer >= 2"
	fi
}

# Builds a copy of the sources in $WORK/build and installs it, unless
# MM_BENCH_SKIP_BUILD=1 (the installed extension is used): the working tree
# stays untouched (no objects written into it while others edit it) and
# stale objects are not reused.  Dies with make's output ($WORK/build.log)
# if the build or the install fails.
mm_bench_build() {	# make-secs:install-secs
	[ "${MM_BENCH_SKIP_BUILD:-0}" != 1 ] || return 0
	note "building multimaster from $REPO"
	mm_copy_sources "$WORK/build" || exit
	if ! mm_build_install -t "$1" "$WORK/build" "$WORK/build.log" "$WORK/build.log"; then
		cat "$WORK/build.log" >&2
		die "build or install failed"
	fi
}

# ---------------------------------------------------------------------------
# Ports
# ---------------------------------------------------------------------------
mm_port_busy() {	# port: something listening on 127.0.0.1 (or any address) answers
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Prints the first port from first on that nobody answers on; fails when
# the ports up to last are all taken.
mm_free_port() {	# first last
	local p=$1
	while mm_port_busy "$p"; do
		p=$((p + 1))
		[ "$p" -le "$2" ] || return 1
	done
	printf '%s\n' "$p"
}

# ---------------------------------------------------------------------------
# Nodes
# ---------------------------------------------------------------------------
# A new cluster in datadir, made as postgres: superuser postgres, trust
# authentication, UTF-8, locale C.UTF-8.  initdb's output goes to log.
mm_initdb() {	# datadir log
	as_pg initdb -D "$1" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
		--lc-messages=C --no-sync >"$2" 2>&1
}

# The settings every test node gets (see the file).
MM_NODE_CONF=$REPO/test/node.conf

# True if this server has the setting (postgres --describe-config, asked
# once, as postgres).
mm_knows_setting() {	# name
	if [ -z "${MM_KNOWN_SETTINGS:-}" ]; then
		MM_KNOWN_SETTINGS=$(as_pg "$PGBIN/postgres" --describe-config 2>/dev/null | cut -f1) ||
			MM_KNOWN_SETTINGS=
		[ -n "$MM_KNOWN_SETTINGS" ] || return 1
	fi
	grep -qxF -- "$1" <<<"$MM_KNOWN_SETTINGS"
}

# The setting lines of $MM_NODE_CONF, without comments and blank lines; a
# "#? name = value" line as "name = value" if the server has that setting.
mm_node_settings() {
	local line
	[ -r "$MM_NODE_CONF" ] || { warn "cannot read $MM_NODE_CONF"; return 1; }
	while IFS= read -r line || [ -n "$line" ]; do
		case $line in
		'#?'*)
			line=${line#'#?'}
			line=${line#"${line%%[![:space:]]*}"}
			mm_knows_setting "${line%%[[:space:]=]*}" || continue ;;
		''|'#'*) continue ;;
		esac
		printf '%s\n' "$line"
	done <"$MM_NODE_CONF"
}

# The classic recipe's pgbench script (test1.sql) for node k of n, ids in
# 1..ids: 5 upserts of the node's own ids (k-1 mod n, so that nodes never
# insert the same id), 5 updates and 2 deletes of any id.  Used by the demo
# and test/bench/mesh.sh.
mm_classic_script() {	# k n ids file
	local k=$1 n=$2 ids=$3 i
	{
		printf -- '-- node%d: inserts ids = %dn+%d (its own), updates and deletes any id\n' "$k" "$n" $((k - 1))
		for i in 1 2 3 4 5; do printf '\\set id%d random(1, %d)\n' "$i" "$ids"; done
		printf '\\set id random(1, %d)\n' "$ids"
		for i in 1 2 3 4 5; do
			printf 'insert into mm select %d*(random()*%d)::int+%d, md5(random()::text), now() on conflict(id) do update set info=excluded.info, mod_time=clock_timestamp();\n' \
				"$n" $((ids / n)) $((k - 1))
		done
		for i in 1 2 3 4 5; do
			printf 'update mm set info=md5(random()::text), mod_time=clock_timestamp() where id=:id%d;\n' "$i"
		done
		printf 'delete from mm where id=:id+1;\n'
		printf 'delete from mm where id=:id;\n'
	} >"$4" || return
	chown postgres:postgres "$4"
}

# Appends a node's settings to datadir/postgresql.conf: a comment "# title"
# (none if title is empty), listening on 127.0.0.1:port and in the unix
# socket directory sockdir, the settings of test/node.conf
# (mm_node_settings), then each setting line given (empty ones skipped;
# later lines win).  MM_OUTPUT_PLUGIN_LINE is set to the
# output_plugin_libraries line node.conf gave (PostgreSQL 15.19+ lets
# logical decoding load only the output plugins listed there), or empty
# when the server has no such setting.
mm_node_conf() {	# datadir title port sockdir [setting...]
	local d=$1 title=$2 port=$3 sock=$4 s node
	shift 4
	mm_knows_setting port || true	# asks the server once, here, not in $(...)
	node=$(mm_node_settings) || return
	# shellcheck disable=SC2034  # read by the scripts
	MM_OUTPUT_PLUGIN_LINE=$(grep -m1 '^output_plugin_libraries[[:space:]=]' <<<"$node") ||
		MM_OUTPUT_PLUGIN_LINE=
	{
		if [ -n "$title" ]; then
			printf '\n# %s\n' "$title"
		fi
		printf "listen_addresses = '127.0.0.1'\n"
		printf 'port = %s\n' "$port"
		printf "unix_socket_directories = '%s'\n" "$sock"
		printf '# test/node.conf\n%s\n' "$node"
		for s in "$@"; do
			if [ -n "$s" ]; then
				printf '%s\n' "$s"
			fi
		done
	} >>"$d/postgresql.conf"
}

# Starts the server of datadir as postgres, logging to log, and waits up to
# 60 s for it to accept connections.  pg_ctl's stdout is discarded.
mm_pg_start() {	# datadir log
	as_pg pg_ctl -D "$1" -l "$2" -w -t 60 start >/dev/null
}

# Stops the server of datadir: fast shutdown, else immediate.  Fails if
# neither worked.
mm_pg_stop() {	# datadir
	as_pg pg_ctl -D "$1" -m fast -w -t 60 stop >/dev/null 2>&1 ||
		as_pg pg_ctl -D "$1" -m immediate -w -t 30 stop >/dev/null 2>&1
}

# Stops the server of datadir if it has one running (a postmaster.pid);
# never fails.
mm_stop_node() {	# datadir
	[ -f "$1/postmaster.pid" ] || return 0
	mm_pg_stop "$1" || true
}

# ---------------------------------------------------------------------------
# One throwaway server (test/bench/*.sh)
# ---------------------------------------------------------------------------
# As root: the missing Debian packages (the server's, make, gcc), a temp
# directory $WORK, multimaster built there and installed for $PG_CONFIG
# (mm_bench_build), and one server in $WORK/data listening on
# 127.0.0.1:$PORT (the first free port from first on) and in the unix
# socket directory $SOCK, with the settings given (mm_node_conf), started
# as postgres.  Sets WORK, DATA, SOCK, PORT, and SERVER_STARTED=1 once the
# server runs; dies on failure.  Set the EXIT trap first:
# mm_exit_traps mm_bench_server_exit.
mm_bench_server() {	# first-port make-secs:install-secs [setting...]
	local first=$1 build=$2
	shift 2
	mm_install_missing note 0 0 "postgresql-$PGVER" "postgresql-server-dev-$PGVER" make gcc >&2 ||
		die "could not install the packages"
	mm_check_tools "$PG_CONFIG" initdb pg_ctl psql postgres
	WORK=$(mktemp -d /tmp/mm-bench.XXXXXX) || die "cannot make a temp directory"
	DATA=$WORK/data
	SOCK=$WORK/sock
	if ! chmod 755 "$WORK" || ! mkdir -p "$SOCK"; then
		die "cannot prepare $WORK"
	fi
	mm_bench_build "$build"
	mm_installed multimaster || die "multimaster is not installed for $PG_CONFIG"
	PORT=$(mm_free_port "$first" $((first + 200))) || die "no free port found"
	if ! chown -R postgres:postgres "$WORK" || ! chmod 700 "$SOCK"; then
		die "cannot hand $WORK to postgres"
	fi
	mm_initdb "$DATA" "$WORK/initdb.log" || { cat "$WORK/initdb.log" >&2; die "initdb failed"; }
	mm_node_conf "$DATA" '' "$PORT" "$SOCK" "$@" || die "cannot write $DATA/postgresql.conf"
	mm_pg_start "$DATA" "$WORK/server.log" || { cat "$WORK/server.log" >&2; die "server did not start"; }
	SERVER_STARTED=1
}

# The EXIT trap of a script that ran mm_bench_server: says that it failed
# (if it did), stops the server, and removes $WORK, or keeps it on failure
# or with KEEP_TMP=1, naming what is there: $MM_KEPT (default server.log).
# shellcheck disable=SC2317  # invoked by the EXIT trap
mm_bench_server_exit() {
	local rc=$?
	trap - EXIT INT TERM
	[ "$rc" -eq 0 ] || warn "failed (exit status $rc)"
	if [ "${SERVER_STARTED:-0}" = 1 ]; then
		mm_pg_stop "$DATA" || warn "could not stop the server of $DATA"
	fi
	mm_remove_work "kept $WORK (${MM_KEPT:-server.log})" "$rc"
	exit "$rc"
}

# ---------------------------------------------------------------------------
# Several throwaway servers (test/bench/apply_catchup.sh, mesh.sh, ...)
# ---------------------------------------------------------------------------
# As root: the missing Debian packages (the server's, make, gcc, and
# postgresql-N-pglogical with "pglogical"), a temp directory $WORK (unix
# sockets in $MM_SOCK), multimaster built there and installed for
# $PG_CONFIG (mm_bench_build), then n servers, node k in $WORK/node<k>
# (log $WORK/node<k>.log) listening on 127.0.0.1:${MM_PORT[k]} (free ports
# from first on) and in $MM_SOCK, with test/node.conf's settings and the
# ones given (mm_node_conf), started as postgres.  With "pglogical" (else
# give "-"), output_plugin_libraries also lists pglogical's plugin
# pglogical_output (its slots use it) and pglogical must be installed;
# shared_preload_libraries is the caller's to set.  Sets WORK, MM_SOCK,
# MM_PORT, MM_DATA, MM_NODES (how many were started so far: the EXIT trap
# stops them) and MM_BENCH_SETTINGS (every setting line of the nodes, for
# the report); dies on failure.  Set the EXIT trap first:
# mm_exit_traps mm_bench_nodes_exit.
declare -A MM_PORT=() MM_DATA=()
MM_NODES=0
mm_bench_nodes() {	# n first-port make-secs:install-secs pglogical|- [setting...]
	local n=$1 first=$2 build=$3 pgl=$4 k p plugin_line
	local pkgs=("postgresql-$PGVER" "postgresql-server-dev-$PGVER" make gcc)
	shift 4
	[ "$pgl" = - ] || pkgs+=("postgresql-$PGVER-pglogical")
	mm_install_missing note 300 600 "${pkgs[@]}" >&2 || die "could not install the packages"
	mm_check_tools "$PG_CONFIG" initdb pg_ctl psql postgres
	WORK=$(mktemp -d /tmp/mm-bench.XXXXXX) || die "cannot make a temp directory"
	MM_SOCK=$WORK/sock
	if ! chmod 755 "$WORK" || ! mkdir -p "$MM_SOCK"; then
		die "cannot prepare $WORK"
	fi
	mm_bench_build "$build"
	mm_installed multimaster || die "multimaster is not installed for $PG_CONFIG"
	if [ "$pgl" != - ]; then
		mm_installed pglogical || die "pglogical is not installed for $PG_CONFIG (postgresql-$PGVER-pglogical)"
	fi
	p=$first
	for ((k = 1; k <= n; k++)); do
		MM_PORT[$k]=$(mm_free_port "$p" $((first + 200))) || die "no free port found"
		p=$((MM_PORT[$k] + 1))
		MM_DATA[$k]=$WORK/node$k
	done
	if ! chown -R postgres:postgres "$WORK" || ! chmod 700 "$MM_SOCK"; then
		die "cannot hand $WORK to postgres"
	fi
	for ((k = 1; k <= n; k++)); do
		if ! mm_initdb "${MM_DATA[$k]}" "$WORK/initdb$k.log"; then
			cat "$WORK/initdb$k.log" >&2
			die "initdb failed (node $k)"
		fi
		mm_node_conf "${MM_DATA[$k]}" '' "${MM_PORT[$k]}" "$MM_SOCK" "$@" ||
			die "cannot write ${MM_DATA[$k]}/postgresql.conf"
		plugin_line=$MM_OUTPUT_PLUGIN_LINE
		if [ -n "$plugin_line" ] && [ "$pgl" != - ]; then
			# shellcheck disable=SC2089  # the quote closes the setting's value
			plugin_line="${plugin_line%\'}, pglogical_output'"
			printf '%s\n' "$plugin_line" >>"${MM_DATA[$k]}/postgresql.conf"
		fi
		MM_NODES=$k
		if ! mm_pg_start "${MM_DATA[$k]}" "$WORK/node$k.log"; then
			cat "$WORK/node$k.log" >&2
			die "node $k did not start"
		fi
	done
	# the settings in effect: a later line of a name wins over an earlier one
	# shellcheck disable=SC2034  # read by the scripts
	mapfile -t MM_BENCH_SETTINGS < <({
		mm_node_settings | grep -v '^output_plugin_libraries'
		printf '%s\n' "$@"
		[ -z "$plugin_line" ] || printf '%s\n' "$plugin_line"
	} | awk '{ name = $0; sub(/[ \t]*=.*/, "", name); line[NR] = $0; last[name] = NR; key[NR] = name }
		END { for (i = 1; i <= NR; i++) if (last[key[i]] == i) print line[i] }')
}

# The EXIT trap of a script that ran mm_bench_nodes: says that it failed
# (if it did), runs the script's mm_bench_cleanup function if it has one
# (background jobs to stop), stops the nodes, and removes $WORK, or keeps
# it on failure or with KEEP_TMP=1.
# shellcheck disable=SC2317  # invoked by the EXIT trap
mm_bench_nodes_exit() {
	local rc=$? k
	trap - EXIT INT TERM
	[ "$rc" -eq 0 ] || warn "failed (exit status $rc)"
	if declare -F mm_bench_cleanup >/dev/null; then
		mm_bench_cleanup || true
	fi
	for ((k = 1; k <= MM_NODES; k++)); do
		mm_pg_stop "${MM_DATA[$k]}" || warn "could not stop the server of ${MM_DATA[$k]}"
	done
	mm_remove_work "kept $WORK (node logs, logs/)" "$rc"
	exit "$rc"
}

# psql on node k's unix socket as postgres: unaligned, tuples only, stops
# at the first error, at most 15 minutes.
mm_bench_psql() {	# node db psql-args...
	local k=$1 db=$2
	shift 2
	as_pg timeout 900 psql -X -q -v ON_ERROR_STOP=1 -h "$MM_SOCK" -p "${MM_PORT[$k]}" \
		-U postgres -d "$db" -At "$@"
}

# Polls sql on node k every 100 ms until it returns t; dies after secs.
mm_bench_wait() {	# node db secs description sql
	local k=$1 db=$2 secs=$3 what=$4 sql=$5 end
	end=$((SECONDS + secs))
	while [ "$SECONDS" -le "$end" ]; do
		[ "$(mm_bench_psql "$k" "$db" -c "$sql" 2>/dev/null)" = t ] && return 0
		sleep 0.1
	done
	die "timed out after ${secs} s waiting for: $what (node $k, $db)"
}

# The median of numbers ("n/a" ignored; n/a if none), with digits decimals.
mm_median() {	# digits number...
	local digits=$1
	shift
	printf '%s\n' "$@" | awk '$0 != "n/a" && $0 != ""' | sort -g | awk -v d="$digits" '{ a[NR] = $1 }
		END { if (NR == 0) print "n/a"; else if (NR % 2) printf "%.*f", d, a[(NR + 1) / 2];
		      else printf "%.*f", d, (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# The machine, as the benchmarks' reports give it.
mm_machine() {
	local cpu
	cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
	printf 'nproc=%s%s, %s, kernel %s' "$(nproc)" "${cpu:+ ($cpu)}" \
		"$(awk '/^MemTotal/ { printf "%.0f GB RAM", $2 / 1048576 }' /proc/meminfo)" "$(uname -r)"
}
