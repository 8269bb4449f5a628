#!/usr/bin/env bash
# test/bench/wal_update.sh: the WAL and the wire bytes of one replicated
# UPDATE, stock against multimaster, by replica identity.
#
#   sudo test/bench/wal_update.sh [rows]     (default 10000)
#
# One throwaway server.  Table mm(id int primary key, info text, mod_time
# timestamp), in two shapes:
#
#   small  those columns only: every value in line
#   toast  plus big text holding 12000 random characters (STORAGE
#          EXTERNAL), so that it lies out of line (TOAST), and the UPDATE
#          leaves it as it is
#
# and three variants, each in a fresh database:
#
#   stock      plain table, REPLICA IDENTITY DEFAULT, publication of it,
#              slot with pgoutput
#   mm DEFAULT multimaster.add_table('mm'): version columns, C trigger,
#              replica identity left DEFAULT; slot with the multimaster
#              plugin, publication multimaster.  An UPDATE that leaves an
#              out-of-line value unchanged gets it put back in line by the
#              trigger, so the value is toasted anew and in the WAL
#   mm FULL    the same, then ALTER TABLE ... REPLICA IDENTITY FULL by hand
#              (what multimaster 1.0 and 1.1 before this change set on
#              every table with a column that can lie out of line): the WAL
#              carries every old row whole, and the plugin takes unchanged
#              out-of-line values from there
#
# With the slot made, the rows in place and a CHECKPOINT, every row is
# updated once (info and mod_time; id and big unchanged), one UPDATE per
# transaction, by a procedure on the server.  Reported per UPDATE: the WAL
# written (pg_current_wal_insert_lsn() before and after, commit record
# included; full_page_writes = off so that page images do not count), and
# the bytes the slot's plugin produces for it (the messages of
# pg_logical_slot_peek_binary_changes(): what a walsender sends each
# subscriber, without its 25-byte XLogData header per message), with the
# kind of row message shipped.
#
# Both multimaster variants ship every UPDATE as an INSERT of the whole
# new row (src/mm_output.c), so that it is applied even where it overtook
# the INSERT of its row; a plain UPDATE (U) in the table below would be a
# bug: the apply worker skips one whose row is missing.
#
# As root: installs the missing Debian packages, builds a copy of the
# sources and installs the extension for $PG_CONFIG, then runs one server
# as `postgres` under a fresh /tmp directory (loopback port, unix socket
# there), stopped on exit.  About a minute.
#
# Environment: PG_CONFIG, MM_BENCH_PORT (first port tried, 59432),
# MM_BENCH_TOAST_ROWS (rows of the toast shape, 2000), MM_BENCH_SKIP_BUILD=1,
# KEEP_TMP=1.
set -euo pipefail

# PGVER, PGBIN, PG_CONFIG, PATH, REPO; as_pg and the mm_* setup functions.
# shellcheck source=SCRIPTDIR/../lib.sh disable=SC1091  # followed with -x
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

NROWS=${1:-10000}
TOAST_ROWS=${MM_BENCH_TOAST_ROWS:-2000}
case $NROWS in -h|--help) mm_usage "${BASH_SOURCE[0]}" '^set -euo'; exit 0 ;; esac
[[ $NROWS =~ ^[1-9][0-9]*$ ]] || die "rows must be a positive integer, not '$NROWS'"
[[ $TOAST_ROWS =~ ^[1-9][0-9]*$ ]] || die "MM_BENCH_TOAST_ROWS must be a positive integer"
[ "$(id -u)" = 0 ] || die "run as root (sudo $0): installs packages and runs the server as 'postgres'"

# set by mm_bench_server, read by its EXIT trap: none inherited
# shellcheck disable=SC2034
WORK='' DATA='' SERVER_STARTED=0
mm_exit_traps mm_bench_server_exit

SETTINGS=(
	"full_page_writes = off"
	"synchronous_commit = off"
	"shared_buffers = 128MB"
	"max_wal_size = 4GB"
	"checkpoint_timeout = 30min"
	"autovacuum = off"
	"jit = off"
)
mm_bench_server "${MM_BENCH_PORT:-59432}" 300:120 "${SETTINGS[@]}"

psql_q() {	# db sql...
	local db=$1
	shift
	as_pg timeout 600 psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres -d "$db" -At "$@"
}
PG_VERSION=$(psql_q postgres -c 'SELECT version()')

UPDATE_PROC="
CREATE PROCEDURE public.bench_update(n integer)
LANGUAGE plpgsql AS \$\$
BEGIN
    FOR i IN 1 .. n LOOP
        UPDATE public.mm SET info = pg_catalog.md5(i::text || 'x'), mod_time = pg_catalog.now()
         WHERE id = i;
        COMMIT;
    END LOOP;
END
\$\$;"

declare -A LABEL=([stock]='stock pgoutput' [full]='multimaster, FULL' [default]='multimaster, DEFAULT')
declare -A WALB=() WIREB=() KIND=() IDENT=() RECS=()

run_one() {	# shape variant
	local shape=$1 v=$2 db=upd_$1_$2 n cols='' vals='' slot=bench_slot plugin pub lsn0 lsn1 line
	local kinds='' total=0 k c b
	if [ "$shape" = toast ]; then
		n=$TOAST_ROWS
		cols=', big text'
		# random printable characters: pglz cannot compress them
		vals=", (SELECT string_agg(chr(33 + (random() * 93)::int), '') FROM generate_series(1, 12000 + g % 1) i)"
	else
		n=$NROWS
	fi
	psql_q postgres -c "CREATE DATABASE $db"
	psql_q "$db" -c "CREATE TABLE public.mm (id int PRIMARY KEY, info text, mod_time timestamp$cols)" \
		-c "$UPDATE_PROC"
	if [ "$shape" = toast ]; then
		psql_q "$db" -c "ALTER TABLE public.mm ALTER COLUMN big SET STORAGE EXTERNAL"
	fi
	psql_q "$db" -c "INSERT INTO public.mm SELECT g, md5(g::text), now()$vals FROM generate_series(1, $n) g"
	if [ "$v" = stock ]; then
		psql_q "$db" -c "CREATE PUBLICATION bench_pub FOR TABLE public.mm"
		plugin=pgoutput pub=bench_pub
	else
		psql_q "$db" -c "CREATE EXTENSION multimaster" -c "SELECT multimaster.init_node(1, 'n1')" \
			-c "SELECT multimaster.add_table('public.mm')" >/dev/null
		[ "$v" != full ] || psql_q "$db" -c "ALTER TABLE public.mm REPLICA IDENTITY FULL"
		plugin=multimaster pub=multimaster
	fi
	IDENT[$shape,$v]=$(psql_q "$db" -c "SELECT CASE relreplident WHEN 'd' THEN 'DEFAULT' WHEN 'f' THEN 'FULL'
		ELSE relreplident::text END FROM pg_class WHERE oid = 'public.mm'::regclass")
	case $v in
	stock|default) [ "${IDENT[$shape,$v]}" = DEFAULT ] || die "$db: replica identity ${IDENT[$shape,$v]}, not DEFAULT" ;;
	full) [ "${IDENT[$shape,$v]}" = FULL ] || die "$db: replica identity ${IDENT[$shape,$v]}, not FULL" ;;
	esac
	if [ "$shape" = toast ]; then
		# out of line and not compressed: the TOAST table holds them all
		[ "$(psql_q "$db" -c "SELECT pg_relation_size(reltoastrelid) >= $n * 11900
			FROM pg_class WHERE oid = 'public.mm'::regclass")" = t ] ||
			die "$db: the big values are not stored whole out of line"
	fi
	psql_q "$db" -c "VACUUM (FREEZE, ANALYZE) public.mm" \
		-c "SELECT pg_create_logical_replication_slot('$slot', '$plugin')" -c "CHECKPOINT" >/dev/null
	lsn0=$(psql_q "$db" -c "SELECT pg_current_wal_insert_lsn()")
	psql_q "$db" -c "CALL public.bench_update($n)"
	lsn1=$(psql_q "$db" -c "SELECT pg_current_wal_insert_lsn()")
	WALB[$shape,$v]=$(psql_q "$db" -c "SELECT round(pg_wal_lsn_diff('$lsn1', '$lsn0') / $n, 1)")
	# the WAL records behind it, by type: count and bytes per UPDATE (a
	# synchronous commit first, so that all of it is on disk)
	psql_q "$db" -c "SET synchronous_commit = on" -c "SELECT pg_current_xact_id()" >/dev/null
	as_pg pg_waldump -p "$DATA/pg_wal" -s "$lsn0" -e "$lsn1" --stats=record >"$WORK/waldump_$db.txt" 2>&1 ||
		warn "pg_waldump failed for $db (see $WORK/waldump_$db.txt)"
	RECS[$shape,$v]=$(awk -v n="$n" '$1 ~ /\// && $1 != "Type" {
			line = $0; gsub(/\([^)]*\)/, "", line); split(line, f, " ")
			if (f[5] / n >= 1) printf "%s%s %.2f x, %.0f B", sep, f[1], f[2] / n, f[5] / n; sep = "; " }' \
		"$WORK/waldump_$db.txt")
	# every message the plugin produces for the updates
	while IFS='|' read -r k c b; do
		total=$((total + b))
		case $k in
		I|U|D) kinds+="${kinds:+, }$c $k" ;;
		esac
	done < <(psql_q "$db" -c "SELECT chr(get_byte(data, 0)), count(*), sum(length(data))
		FROM pg_logical_slot_peek_binary_changes('$slot', '$lsn1', NULL,
		     'proto_version', '1', 'publication_names', '$pub')
		GROUP BY 1 ORDER BY 1")
	WIREB[$shape,$v]=$(awk -v t="$total" -v n="$n" 'BEGIN { printf "%.1f", t / n }')
	KIND[$shape,$v]=$kinds
	psql_q "$db" -c "SELECT pg_drop_replication_slot('$slot')" >/dev/null
	line="$shape, ${LABEL[$v]} (${IDENT[$shape,$v]}): ${WALB[$shape,$v]} WAL bytes, ${WIREB[$shape,$v]} wire bytes per UPDATE; row messages: $kinds"
	note "$line"
}

for shape in small toast; do
	for v in stock default full; do
		run_one "$shape" "$v"
	done
done

printf '\n## WAL and wire bytes per replicated UPDATE\n\n'
printf -- '- machine: %s; load average %s\n' "$(mm_machine)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf -- '- server: %s\n' "$PG_VERSION"
printf -- '- UPDATE mm SET info = md5(...), mod_time = now() WHERE id = i, one per transaction, every row once: %s rows of the small shape (id int, info text of 32 characters, mod_time), %s of the toast shape (the same plus big text, 12000 characters out of line, unchanged); full_page_writes = off; WAL per UPDATE includes its commit record; wire = the bytes of the messages the slot'"'"'s plugin produced for the updates (begin, relation, row, commit; protocol 1), per UPDATE\n\n' \
	"$NROWS" "$TOAST_ROWS"
printf '| row shape | variant | replica identity | WAL bytes per UPDATE | vs stock | wire bytes per UPDATE | row messages shipped | upsert shipping safe |\n'
printf '|---|---|---|---:|---:|---:|---|---|\n'
for shape in small toast; do
	for v in stock default full; do
		if [ "$v" = stock ]; then
			safe='n/a (no upserts)'
		elif [[ ${KIND[$shape,$v]} == *U* ]]; then
			safe='NO: sent as a plain UPDATE'
		else
			safe=yes
		fi
		printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$shape" "${LABEL[$v]}" "${IDENT[$shape,$v]}" \
			"${WALB[$shape,$v]}" "$(awk -v x="${WALB[$shape,$v]}" -v b="${WALB[$shape,stock]}" 'BEGIN { printf "%.2f", x / b }')" \
			"${WIREB[$shape,$v]}" "${KIND[$shape,$v]}" "$safe"
	done
done
printf '\nWAL records per UPDATE (pg_waldump --stats=record; types of at least 1 byte per UPDATE: records per UPDATE, bytes per UPDATE):\n\n'
for shape in small toast; do
	for v in stock default full; do
		printf -- '- %s, %s: %s\n' "$shape" "${LABEL[$v]}" "${RECS[$shape,$v]:-n/a}"
	done
done
printf '\n(multimaster ships an UPDATE as an INSERT (I) of the whole new row, the old tuple never travels; with DEFAULT the trigger puts an unchanged out-of-line value back into the new row, with FULL the plugin takes it from the old row, which the WAL then carries whole. A plain UPDATE (U) would mean a value could not be supplied.)\n'
