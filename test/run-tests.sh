#!/usr/bin/env bash
# test/run-tests.sh: build, install and test multimaster on Debian 12.
#
#   sudo test/run-tests.sh [--pg 15|18] [regress] [pgtap] [tap] [chaos]
#
# No argument (or `all`) runs regress, pgtap and tap; the chaos campaign runs
# only when asked for.  --pg picks the PostgreSQL: 15 (the default) is
# Debian's package; 18 is built from Debian's source package the first time
# into /var/cache/multimaster (test/pg-build.sh: about 10 minutes on 2 idle
# cores) and reused afterwards.
#
# Runs as root: installs the Debian packages it needs (only the missing
# ones), builds with PGXS (`make`; any compiler warning fails the run) and
# installs the extension (`make install`), then runs every test stage as the
# unprivileged `postgres` user, each through a PGXS target of the Makefile
# run in a copy of the tests under a fresh /tmp directory:
#
#   regress  `make installcheck-regress` (the Makefile's REGRESS), then
#            `make installcheck-isolation` (its ISOLATION), against a
#            private server this script starts (loopback and unix socket
#            only; PGHOST, PGPORT and PGUSER point make at it);
#   pgtap    `make installcheck-pgtap`: test/pgtap/*.sql with pg_prove,
#            same server, fresh database;
#   tap      `make prove_installcheck`: test/t/*.pl (multi-node) with prove
#            and PostgreSQL::Test::Cluster, which start their own nodes (the
#            private server is stopped first);
#   chaos    `make prove_installcheck PROVE_TESTS=test/chaos/campaign.pl`,
#            the fault-injection campaign (link pauses, a node's clock
#            ahead under libfaketime, a node crashed mid-load, every run
#            checked against its clients' ledger): by default 10 seeds x 3
#            nodes and 10 seeds x 5 nodes, 45 s of load each, about 35
#            minutes.  Environment: MM_CHAOS_SEED (base seed; alone, one run
#            per node count: a failing run prints the command that replays
#            it), MM_CHAOS_NODES ("3 5"), MM_CHAOS_POLICY, MM_CHAOS_SECONDS,
#            MM_CHAOS_RUNS (per node count).  Use KEEP_TMP=1 to keep the
#            ledgers of failing runs.
#
# Every server gets the settings of test/node.conf, then its own.
#
# Counting: one pg_regress test = 1, one pgTAP assertion = 1, one TAP
# assertion (tap and chaos) = 1; a test file that dies or runs fewer
# assertions than it planned counts the missing ones (at least 1) as failed;
# a stage that cannot run at all counts 1 failed.  The last line printed is
# "N passed, N failed"; the exit status is non-zero if anything failed.
#
# Environment: PG_CONFIG picks the PostgreSQL to build and test with
# (default /usr/lib/postgresql/15/bin/pg_config; another install brings its
# own server, headers and pgtap: see test/lib.sh); KEEP_TMP=1 keeps the temp
# directory (data dirs, logs, results); MM_TAP_ONLY="006 008" runs only
# those TAP files; MM_TEST_PORT sets the first port tried (default 54321);
# MM_TEST_PRELOAD=1/0 forces shared_preload_libraries = 'multimaster' on or
# off (default: on only if the C code asks to be preloaded).
set -euo pipefail

# --pg N: PostgreSQL N (15: Debian's; 18: built once into a cache).
# shellcheck source=SCRIPTDIR/pg-build.sh disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/pg-build.sh"
mm_pg_args "$@"
set -- ${MM_ARGS[@]+"${MM_ARGS[@]}"}
# PGVER, PGBIN, PG_CONFIG, PATH, REPO; as_pg and the mm_* setup functions.
# shellcheck source=SCRIPTDIR/lib.sh disable=SC1091  # followed with -x
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PASSED=0
FAILED=0
declare -a STAGE_NOTES=()
WORK=
DATA=
SERVER_STARTED=0
SUMMARY_PRINTED=0

# warn: the one of lib.sh ("run-tests: ..." on stderr); notes go to stdout.
say()  { printf '\n=== %s\n' "$*"; }
note() { printf '%s\n' "$*"; }

usage() {
	mm_usage "${BASH_SOURCE[0]}" '^set -euo'
}

# A stage that could not run counts as one failure, with the reason kept for
# the summary.
stage_error() {
	FAILED=$((FAILED + 1))
	STAGE_NOTES+=("$1: ERROR: $2")
	warn "$1: $2"
}

stage_result() {	# stage passed failed [extra]
	PASSED=$((PASSED + $2))
	FAILED=$((FAILED + $3))
	STAGE_NOTES+=("$1: $2 passed, $3 failed${4:+ ($4)}")
}

# ---------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------
RUN_REGRESS=0 RUN_PGTAP=0 RUN_TAP=0 RUN_CHAOS=0
if [ $# -eq 0 ]; then
	RUN_REGRESS=1 RUN_PGTAP=1 RUN_TAP=1
fi
for arg in "$@"; do
	case $arg in
	regress|pg_regress) RUN_REGRESS=1 ;;
	pgtap) RUN_PGTAP=1 ;;
	tap|prove) RUN_TAP=1 ;;
	chaos) RUN_CHAOS=1 ;;
	all) RUN_REGRESS=1 RUN_PGTAP=1 RUN_TAP=1 ;;
	-h|--help) usage; exit 0 ;;
	*) warn "unknown argument '$arg' (expected: regress, pgtap, tap, chaos, all)"; exit 2 ;;
	esac
done

if [ "$(id -u)" -ne 0 ]; then
	warn "must run as root (it installs packages and the extension, and runs the servers as 'postgres'): sudo $0 $*"
	exit 2
fi

# ---------------------------------------------------------------------------
# Cleanup: stop only what this run started, then remove the temp directory.
# ---------------------------------------------------------------------------
cleanup() {
	local pid_file d
	if [ "$SERVER_STARTED" = 1 ] && [ -n "$DATA" ]; then
		mm_stop_node "$DATA"
		SERVER_STARTED=0
	fi
	# Nodes of TAP tests and of the chaos campaign stop themselves; if a
	# test was interrupted, stop the ones left under our own temp directory
	# (and only those).
	for d in "$WORK/tap" "$WORK/chaos"; do
		if [ -n "$WORK" ] && [ -d "$d" ]; then
			while IFS= read -r pid_file; do
				mm_stop_node "$(dirname "$pid_file")"
			done < <(find "$d" -name postmaster.pid 2>/dev/null)
		fi
	done
	mm_remove_work "KEEP_TMP=1: kept $WORK"
	WORK=
}

print_summary() {
	local n
	SUMMARY_PRINTED=1
	say "Summary"
	for n in "${STAGE_NOTES[@]}"; do
		note "  $n"
	done
	if [ $((PASSED + FAILED)) -eq 0 ]; then
		note "  no test ran"
	fi
	printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
on_exit() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	# A signal's trap may run while a stage's output is redirected to a
	# log file: report on the original stdout and stderr.
	exec 1>&7 2>&8
	cleanup
	if [ "$SUMMARY_PRINTED" = 0 ]; then
		warn "aborted (exit status $rc)"
		FAILED=$((FAILED + 1))
		STAGE_NOTES+=("run aborted with exit status $rc")
		print_summary
		[ "$rc" -eq 0 ] && rc=1
	fi
	exit "$rc"
}
exec 7>&1 8>&2
mm_exit_traps on_exit

# ---------------------------------------------------------------------------
# Packages
# ---------------------------------------------------------------------------
# pg_prove comes with libtap-parser-sourcehandler-pgtap-perl; prove with perl.
# The postgresql-$PGVER* ones only for Debian's PostgreSQL (test/lib.sh).
# The chaos tests' clients use DBD::Pg; their clock skew, libfaketime.
PACKAGES=(
	"postgresql-$PGVER" "postgresql-server-dev-$PGVER" "postgresql-$PGVER-pgtap"
	libipc-run-perl libtap-parser-sourcehandler-pgtap-perl perl
	libdbd-pg-perl faketime
	libpq-dev make gcc
)

say "Packages"
# Only the missing packages; present ones are left at their version.
mm_install_missing note 0 0 "${PACKAGES[@]}"
[ ${#MM_MISSING[@]} -gt 0 ] || note "all present: ${MM_WANTED[*]}"
mm_check_tools "$PG_CONFIG" "$PGBIN/initdb" "$PGBIN/pg_ctl" "$PGBIN/psql" make prove pg_prove

PKGLIBDIR=$("$PG_CONFIG" --pkglibdir)
PG_PERL=$PKGLIBDIR/pgxs/src/test/perl
note "$("$PGBIN/postgres" --version)"

# ---------------------------------------------------------------------------
# Build and install (as root, in the repository)
# ---------------------------------------------------------------------------
say "Build"
WORK=$(mktemp -d /tmp/multimaster-tests.XXXXXX)
chmod 700 "$WORK"
chown postgres:postgres "$WORK"
BUILD_LOG=$WORK/build.log

# Clean first so that every file is compiled now and its warnings are seen;
# make's output is shown, any warning fails the build.
build_rc=0
mm_build_install -c -s -w "$REPO" "$BUILD_LOG" "$WORK/install.log" || build_rc=$?
case $build_rc in
0)	note "built and installed into $PKGLIBDIR and $("$PG_CONFIG" --sharedir)/extension" ;;
1)	stage_error build "make failed" ;;
2)	note "--- compiler warnings:"
	grep -B2 -A4 'warning:' "$BUILD_LOG" || true
	stage_error build "compiler warnings (see above)" ;;
*)	cat "$WORK/install.log"
	stage_error build "make install failed" ;;
esac

if [ "$build_rc" != 0 ]; then
	cleanup
	print_summary
	exit 1
fi

# ---------------------------------------------------------------------------
# Copies of what the tests read, one per directory the make targets run in
# (the repository may be unreadable for postgres, e.g. under /root; it is
# never chowned): $WORK/src for regress, isolation and pgTAP, $WORK/tap and
# $WORK/chaos for the prove stages, whose tmp_check/ (logs, nodes, ledgers)
# is then kept apart.
# ---------------------------------------------------------------------------
copy_tests() {	# dest
	local d
	mkdir -p "$1"
	for d in sql expected input output data test; do
		[ -d "$REPO/$d" ] && cp -a "$REPO/$d" "$1/"
	done
	cp -a "$REPO/Makefile" "$1/"
	chown -R postgres:postgres "$1"
}
SRC=$WORK/src
copy_tests "$SRC"

# make target [VAR=value...] as postgres in dir, output to log; the
# environment assignments before it (env's syntax) come first:
#   stage_make dir log [NAME=value...] -- target [VAR=value...]
stage_make() {
	local dir=$1 log=$2 envs=()
	shift 2
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		envs+=("$1")
		shift
	done
	shift
	as_pg_in "$dir" env "${envs[@]+"${envs[@]}"}" \
		make --no-print-directory PG_CONFIG="$PG_CONFIG" "$@" >"$log" 2>&1
}

# ---------------------------------------------------------------------------
# Stage 1/2 cluster
# ---------------------------------------------------------------------------
PORT=
SOCK=$WORK/sock
DATA=$WORK/data
PRELOAD=

want_preload() {
	case ${MM_TEST_PRELOAD:-auto} in
	1|on|yes|true) return 0 ;;
	0|off|no|false) return 1 ;;
	esac
	grep -Eqs 'process_shared_preload_libraries_in_progress|shmem_request_hook|RegisterBackgroundWorker\(' \
		"$REPO"/src/*.c "$REPO"/*.c
}

start_cluster() {
	if ! PORT=$(mm_free_port "${MM_TEST_PORT:-54321}" $(( ${MM_TEST_PORT:-54321} + 200 ))); then
		warn "no free port found from ${MM_TEST_PORT:-54321}"
		return 1
	fi
	mkdir -p "$SOCK"
	chown postgres:postgres "$SOCK"
	chmod 700 "$SOCK"

	say "Cluster (initdb, port $PORT, socket $SOCK)"
	if ! mm_initdb "$DATA" "$WORK/initdb.log"; then
		cat "$WORK/initdb.log"
		return 1
	fi
	if want_preload; then
		PRELOAD=multimaster
	fi
	# test/node.conf's settings, then the runner's own.
	mm_node_conf "$DATA" 'run-tests.sh: private test cluster' "$PORT" "$SOCK" \
		'fsync = off' \
		"log_line_prefix = '%m [%p] %q%a '" \
		${PRELOAD:+"shared_preload_libraries = '$PRELOAD'"}

	if ! mm_pg_start "$DATA" "$WORK/server.log"; then
		warn "server did not start; log:"
		tail -n 50 "$WORK/server.log" >&2 || true
		return 1
	fi
	SERVER_STARTED=1
	note "server: $(as_pg psql -X -At -h "$SOCK" -p "$PORT" -d postgres -c 'SELECT version()')"
	if [ -n "$MM_OUTPUT_PLUGIN_LINE" ]; then
		note "output_plugin_libraries = $(as_pg psql -X -At -h "$SOCK" -p "$PORT" -d postgres -c 'SHOW output_plugin_libraries')"
	else
		note "output_plugin_libraries: not known to this server (before 15.19), not set"
	fi
	[ -n "$PRELOAD" ] && note "shared_preload_libraries = $PRELOAD"
	return 0
}

# Parse a TAP::Harness summary (prove, pg_prove) and print "passed failed".
# Tests=N is every assertion run; a file's Failed: count is its failing
# assertions; planned-but-not-run assertions are failures; a file that died
# or had no plan without any of those counts 1.
harness_counts() {	# logfile
	awk '
	function flush() {
		if (infile) {
			extra = missing
			if (extra == 0 && ff == 0 && (bad || wstat != 0)) extra = 1
			failed += ff + extra
		}
		infile = 0; ff = 0; missing = 0; bad = 0; wstat = 0
	}
	/\(Wstat: [0-9]+.*Tests: [0-9]+ Failed: [0-9]+\)/ {
		flush(); infile = 1
		s = $0; sub(/.*\(Wstat: /, "", s); wstat = s + 0
		s = $0; sub(/.* Failed: /, "", s); ff = s + 0; asserts_failed += ff
		next
	}
	infile && /You planned [0-9]+ tests? but ran [0-9]+/ {
		s = $0; sub(/.*You planned /, "", s); planned = s + 0
		s = $0; sub(/.* but ran /, "", s); ran = s + 0
		if (planned > ran) missing = planned - ran
		next
	}
	infile && /Parse errors:|Non-zero exit status|No plan found/ { bad = 1; next }
	/^Files=[0-9]+, Tests=[0-9]+/ {
		flush(); seen = 1
		s = $0; sub(/^Files=[0-9]+, Tests=/, "", s); tests = s + 0
		next
	}
	/^Result: FAIL/ { result_fail = 1 }
	END {
		flush()
		if (!seen) { print "-1 -1"; exit }
		if (result_fail && failed == 0) failed = 1
		print tests - asserts_failed, failed + 0
	}' "$1"
}

# Names of the files a harness reported as failing.
harness_failed_files() {	# logfile
	sed -n 's/^\([^ ].*[^ ]\) *(Wstat: .*$/\1/p' "$1"
}

# ---------------------------------------------------------------------------
# Stage 1: pg_regress, 1b: isolation (concurrent sessions on one node)
# ---------------------------------------------------------------------------
# The value of a Makefile variable (make handles continuation lines and +=).
make_var() {	# name
	local mk=$WORK/print-var.mk
	# shellcheck disable=SC2016  # $($*) is for make
	[ -f "$mk" ] || printf 'print-var-%%:\n\t@printf "%%s\\n" "$($*)"\n' >"$mk"
	make -s --no-print-directory -C "$REPO" -f Makefile -f "$mk" \
		PG_CONFIG="$PG_CONFIG" "print-var-$1" 2>/dev/null </dev/null
}

# "passed failed" of a pg_regress or pg_isolation_regress output: lines
# "test name ... ok" / "name ... FAILED" (PostgreSQL 15), "ok N - name" /
# "not ok N - name" (16 and later); "failed (ignored)" counts as passed.
regress_counts() {	# output
	local passed failed ignored
	passed=$(grep -Ec '^[[:space:]]*(test[[:space:]]+)?[^[:space:]]+[[:space:]]+\.\.\.[[:space:]]+ok|^ok [0-9]+ +[-+] ' "$1" || true)
	failed=$(grep -Ec '^[[:space:]]*(test[[:space:]]+)?[^[:space:]]+[[:space:]]+\.\.\.[[:space:]]+FAILED|^not ok [0-9]+ +[-+] ' "$1" || true)
	ignored=$(grep -Ec '\.\.\.[[:space:]]+failed \(ignored\)' "$1" || true)
	printf '%d %d\n' $((passed + ignored)) "$failed"
}

# Runs one pg_regress-style suite through its make target against the
# stage server and records its result.
run_regress_suite() {	# title stage target variable diffs-file
	local title=$1 stage=$2 target=$3 var=$4 diffs=$5 tests=() rc=0 out counts passed failed missing
	read -r -a tests <<<"$(make_var "$var" | tr '\n' ' ')"
	say "$title: make $target (${#tests[@]} tests: ${tests[*]:-none})"
	if [ ${#tests[@]} -eq 0 ]; then
		if [ "$var" = REGRESS ]; then
			stage_error "$stage" "no tests in the Makefile's $var variable"
		else
			note "no tests in the Makefile's $var variable, skipped"
		fi
		return
	fi
	out=$WORK/$stage.out
	stage_make "$SRC" "$out" PGHOST="$SOCK" PGPORT="$PORT" PGUSER=postgres -- "$target" || rc=$?
	cat "$out"
	counts=$(regress_counts "$out")
	passed=${counts% *} failed=${counts#* }
	missing=$(( ${#tests[@]} - passed - failed ))
	[ "$missing" -lt 0 ] && missing=0
	if [ -s "$diffs" ] && { [ "$failed" -gt 0 ] || [ "$rc" -ne 0 ]; }; then
		note "--- $diffs:"
		cat "$diffs"
	fi
	if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && [ "$missing" -eq 0 ]; then
		stage_result "$stage" "$passed" 0
		stage_error "$stage" "make $target exited with status $rc"
		return
	fi
	stage_result "$stage" "$passed" $((failed + missing)) \
		"$( [ "$missing" -gt 0 ] && printf '%d did not run' "$missing" )"
}

run_regress() {
	local t
	for t in $(make_var REGRESS); do
		if [ ! -f "$SRC/sql/$t.sql" ] && [ ! -f "$SRC/input/$t.source" ]; then
			warn "regress: sql/$t.sql does not exist"
		fi
	done
	run_regress_suite 'Stage 1: pg_regress' regress installcheck-regress REGRESS "$SRC/regression.diffs"
}

run_isolation() {
	run_regress_suite 'Stage 1b: isolation' isolation installcheck-isolation ISOLATION "$SRC/output_iso/regression.diffs"
}

# ---------------------------------------------------------------------------
# Stage 2: pgTAP
# ---------------------------------------------------------------------------
run_pgtap() {
	local rc=0 out counts n
	n=$(find "$SRC/test/pgtap" -maxdepth 1 -name '*.sql' 2>/dev/null | wc -l)
	say "Stage 2: make installcheck-pgtap ($n files)"
	if [ "$n" -eq 0 ]; then
		stage_error pgtap "no test/pgtap/*.sql files"
		return
	fi
	out=$WORK/pgtap.out
	stage_make "$SRC" "$out" PGHOST="$SOCK" PGPORT="$PORT" PGUSER=postgres -- \
		installcheck-pgtap PGTAP_PROVE_FLAGS='--verbose --nocolor' || rc=$?
	cat "$out"
	counts=$(harness_counts "$out")
	if [ "$counts" = "-1 -1" ]; then
		stage_error pgtap "no pg_prove summary (make exit status $rc; see above: were the extensions pgtap and multimaster created?)"
		return
	fi
	# shellcheck disable=SC2086
	stage_result pgtap $counts
	if [ "$rc" -ne 0 ] && [ "${counts#* }" = 0 ]; then
		stage_error pgtap "make installcheck-pgtap exited with status $rc"
	fi
}

# ---------------------------------------------------------------------------
# Stages 3 (tap) and 4 (chaos): prove through make prove_installcheck, in
# dir (a copy of the tests; TESTDIR, so the nodes' logs are in
# dir/tmp_check/log).  Sets PROVE_RC.
# ---------------------------------------------------------------------------
run_prove() {	# stage dir file...
	local stage=$1 dir=$2 out counts
	shift 2
	PROVE_RC=0
	if [ ! -f "$PG_PERL/PostgreSQL/Test/Cluster.pm" ]; then
		stage_error "$stage" "$PG_PERL/PostgreSQL/Test/Cluster.pm not found"
		PROVE_RC=1
		return
	fi
	out=$WORK/$stage.out
	stage_make "$dir" "$out" \
		MM_CHAOS_SEED="${MM_CHAOS_SEED:-}" MM_CHAOS_NODES="${MM_CHAOS_NODES:-}" \
		MM_CHAOS_POLICY="${MM_CHAOS_POLICY:-}" MM_CHAOS_SECONDS="${MM_CHAOS_SECONDS:-}" \
		MM_CHAOS_RUNS="${MM_CHAOS_RUNS:-}" -- \
		prove_installcheck PROVE_TESTS="$*" PROVE_FLAGS='--verbose --nocolor' || PROVE_RC=$?
	cat "$out"
	counts=$(harness_counts "$out")
	if [ "$counts" = "-1 -1" ]; then
		stage_error "$stage" "prove printed no summary (make exit status $PROVE_RC)"
	else
		# shellcheck disable=SC2086
		stage_result "$stage" $counts
		if [ "$PROVE_RC" -ne 0 ] && [ "${counts#* }" = 0 ]; then
			stage_error "$stage" "make prove_installcheck exited with status $PROVE_RC"
		fi
	fi
}

run_tap() {
	local files=() f tapdir=$WORK/tap name log
	shopt -s nullglob
	for f in "$SRC"/test/t/*.pl; do
		# MM_TAP_ONLY="006 008": run only the files whose names start so
		if [ -n "${MM_TAP_ONLY:-}" ]; then
			case " $MM_TAP_ONLY " in
			*" $(basename "$f" | cut -c1-3) "*) ;;
			*) continue ;;
			esac
		fi
		files+=("test/t/$(basename "$f")")
	done
	shopt -u nullglob
	say "Stage 3: multi-node TAP tests, make prove_installcheck (${#files[@]} files)"
	if [ ${#files[@]} -eq 0 ]; then
		note "no test/t/*.pl: skipped"
		STAGE_NOTES+=("tap: skipped (no test/t/*.pl)")
		return
	fi
	copy_tests "$tapdir"
	run_prove tap "$tapdir" "${files[@]}"
	if [ "$PROVE_RC" -ne 0 ]; then
		while IFS= read -r f; do
			name=$(basename "$f" .pl)
			for log in "$tapdir/tmp_check/log/regress_log_$name" "$tapdir/tmp_check/log/${name}"_*.log; do
				[ -f "$log" ] || continue
				note "--- tail of $log:"
				tail -n 80 "$log"
			done
		done < <(harness_failed_files "$WORK/tap.out")
	fi
}

run_chaos() {
	local f=test/chaos/campaign.pl chaosdir=$WORK/chaos log
	say "Stage 4: chaos campaign, make prove_installcheck PROVE_TESTS=$f"
	if [ ! -f "$SRC/$f" ]; then
		stage_error chaos "$f not found"
		return
	fi
	copy_tests "$chaosdir"
	run_prove chaos "$chaosdir" "$f"
	if [ "$PROVE_RC" -ne 0 ]; then
		log=$chaosdir/tmp_check/log/regress_log_campaign
		if [ -f "$log" ]; then
			note "--- tail of $log:"
			tail -n 80 "$log"
		fi
		note "ledgers and reports of the failing runs: $chaosdir/tmp_check/chaos (kept with KEEP_TMP=1)"
	fi
}

# ---------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------
if [ "$RUN_REGRESS" = 1 ] || [ "$RUN_PGTAP" = 1 ]; then
	if start_cluster; then
		if [ "$RUN_REGRESS" = 1 ]; then run_regress; run_isolation; fi
		if [ "$RUN_PGTAP" = 1 ]; then run_pgtap; fi
		# The TAP tests start their own nodes: free this one's memory first.
		mm_stop_node "$DATA"
		SERVER_STARTED=0
	else
		if [ "$RUN_REGRESS" = 1 ]; then stage_error regress "test cluster could not be started"; fi
		if [ "$RUN_PGTAP" = 1 ]; then stage_error pgtap "test cluster could not be started"; fi
	fi
fi
if [ "$RUN_TAP" = 1 ]; then run_tap; fi
if [ "$RUN_CHAOS" = 1 ]; then run_chaos; fi

say "Cleanup"
cleanup
note "test servers stopped"

print_summary
if [ "$FAILED" -gt 0 ] || [ $((PASSED + FAILED)) -eq 0 ]; then
	exit 1
fi
exit 0
