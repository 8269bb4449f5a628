# shellcheck shell=bash
# test/pg-build.sh: a PostgreSQL major version that Debian 12 does not
# package (18), built from Debian's source package into a cache directory
# outside any work tree, with what the test suites need beside it.
#
# Sourced, never run:
#
#   . test/pg-build.sh
#   PG_CONFIG=$(mm_build_pg 18) || exit
#
# mm_build_pg prints the path of the build's pg_config on stdout (progress
# and errors go to stderr).  The first call, as root:
#   - installs the missing build dependencies from Debian 12 (apt);
#   - adds a deb-src entry for sid (/etc/apt/sources.list.d/sid-src.sources,
#     source indexes only: no binary package ever comes from sid) and fetches
#     the source package postgresql-MAJOR with `apt-get source
#     --download-only`, then builds its upstream tarball with configure
#     --prefix=$MM_PG_CACHE/pg-VERSION --enable-tap-tests --with-openssl
#     --without-icu and make -j$(nproc);
#   - installs the server, contrib's citext (tombstone_identity's test uses
#     it), the TAP modules (PostgreSQL::Test::Cluster), pg_regress and the
#     isolation tester where PGXS looks for them
#     ($(pg_config --pkglibdir)/pgxs/src/test/...);
#   - builds pgTAP from its Debian source package against that pg_config
#     and installs it there too (or, when the mirror does not serve that
#     source, copies the SQL-only pgTAP of postgresql-15-pgtap).
# The TAP modules of 17 and later take their directories from TESTDATADIR
# and TESTLOGDIR (15's read TESTDIR).
# Everything is built as root and left readable by all (the tests run the
# servers as postgres).  A lock file keeps two runs from building at once;
# a finished install is marked by the file .mm-complete in its prefix, and
# any later call returns that install at once without touching the network.
#
# Environment: MM_PG_CACHE (default /var/cache/multimaster) is the cache
# directory; the build log is $MM_PG_CACHE/pg-MAJOR-build.log.  The first
# build of 18.6 took 39 minutes on 2 cores shared with three other builds
# (9.5 minutes of CPU), most of it make; later calls take no time.

MM_PG_CACHE=${MM_PG_CACHE:-/var/cache/multimaster}
MM_PG_BUILD_DEPS=(build-essential bison flex libreadline-dev zlib1g-dev
	libssl-dev pkg-config libipc-run-perl perl ca-certificates)

mm_pg_say() { printf 'pg-build: %s\n' "$*" >&2; }

# Prints the first of the paths given that exists (a glob's first match);
# fails when none does (an unmatched glob stays as written).
mm_pg_first() {	# path...
	local f
	for f in "$@"; do
		if [ -e "$f" ]; then
			printf '%s\n' "$f"
			return 0
		fi
	done
	return 1
}

# Prints the pg_config of the newest finished install of major in the
# cache; fails when there is none.
mm_pg_cached() {	# major
	local d best=
	for d in "$MM_PG_CACHE/pg-$1".*; do
		if [ ! -f "$d/.mm-complete" ] || [ ! -x "$d/bin/pg_config" ]; then
			continue
		fi
		if [ -z "$best" ] ||
			[ "$(printf '%s\n%s\n' "$best" "$d" | sort -V | tail -n 1)" = "$d" ]; then
			best=$d
		fi
	done
	[ -n "$best" ] || return 1
	printf '%s\n' "$best/bin/pg_config"
}

mm_build_pg() {	# major
	local major=${1:?usage: mm_build_pg MAJOR}
	[[ $major =~ ^[1-9][0-9]*$ ]] || { mm_pg_say "bad major version '$major'"; return 2; }
	mm_pg_cached "$major" && return 0
	if [ "$(id -u)" -ne 0 ]; then
		mm_pg_say "no PostgreSQL $major in $MM_PG_CACHE, and building one needs root"
		return 2
	fi
	mkdir -p "$MM_PG_CACHE" && chmod 755 "$MM_PG_CACHE" || return
	# The build runs in a subshell holding the lock (fd 9); a second run
	# waits for it (up to an hour) and then finds the finished install.
	(
		exec 9>"$MM_PG_CACHE/pg-$major.lock"
		if ! flock -w 3600 9; then
			mm_pg_say "timed out waiting for another build of PostgreSQL $major"
			exit 1
		fi
		mm_pg_cached "$major" >/dev/null && exit 0
		mm_pg_build_locked "$major"
	) || return
	mm_pg_cached "$major"
}

# The build itself, under the lock; exits (it runs in a subshell).
mm_pg_build_locked() {	# major
	local major=$1 log="$MM_PG_CACHE/pg-$1-build.log" src="$MM_PG_CACHE/src-$1"
	local start end missing=() p dsc version tarball prefix top
	umask 022
	export DEBIAN_FRONTEND=noninteractive
	start=$(date +%s)
	: >"$log" || exit
	mm_pg_say "building PostgreSQL $major into $MM_PG_CACHE (log: $log)"

	for p in "${MM_PG_BUILD_DEPS[@]}"; do
		[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] ||
			missing+=("$p")
	done
	mm_pg_add_sid_src || exit
	mm_pg_say "apt-get update"
	timeout 600 apt-get update -q -o DPkg::Lock::Timeout=300 </dev/null >>"$log" 2>&1 ||
		{ mm_pg_say "apt-get update failed (see $log)"; exit 1; }
	if [ ${#missing[@]} -gt 0 ]; then
		mm_pg_say "installing: ${missing[*]}"
		timeout 900 apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends --no-upgrade \
			-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
			"${missing[@]}" </dev/null >>"$log" 2>&1 ||
			{ mm_pg_say "apt-get install failed (see $log)"; exit 1; }
	fi

	rm -rf "$src" && mkdir -p "$src" || exit
	mm_pg_say "fetching the source package postgresql-$major"
	(cd "$src" && timeout 900 apt-get source --download-only -q "postgresql-$major" \
		</dev/null >>"$log" 2>&1) ||
		{ mm_pg_say "apt-get source postgresql-$major failed (see $log)"; exit 1; }
	dsc=$(mm_pg_first "$src"/postgresql-"$major"_*.dsc) ||
		{ mm_pg_say "no .dsc for postgresql-$major"; exit 1; }
	# postgresql-18_18.1-1.dsc -> 18.1 (the upstream version: the tarball's).
	version=$(basename "$dsc" .dsc)
	version=${version#postgresql-"$major"_}
	version=${version%%-*}
	version=${version#*:}
	tarball=$(mm_pg_first "$src"/postgresql-"$major"_"$version".orig.tar.*) ||
		{ mm_pg_say "no upstream tarball in $src"; exit 1; }
	tar -C "$src" -xf "$tarball" || exit
	top="$src/postgresql-$version"
	[ -x "$top/configure" ] || { mm_pg_say "no configure in $top"; exit 1; }
	prefix="$MM_PG_CACHE/pg-$version"
	rm -rf "$prefix"

	mm_pg_say "configure --prefix=$prefix"
	(cd "$top" && ./configure --prefix="$prefix" --enable-tap-tests --with-openssl \
		--without-icu --with-readline --with-zlib \
		</dev/null >>"$log" 2>&1) ||
		{ mm_pg_say "configure failed (see $log)"; exit 1; }
	mm_pg_say "make -j$(nproc)"
	make -C "$top" -j"$(nproc)" </dev/null >>"$log" 2>&1 ||
		{ mm_pg_say "make failed (see $log)"; exit 1; }
	mm_pg_say "make install (server, citext, TAP modules, pg_regress, isolation tester)"
	{
		make -C "$top" install &&
		make -C "$top/contrib/citext" install &&
		make -C "$top/src/test/perl" install &&
		make -C "$top/src/test/regress" install &&
		make -C "$top/src/test/isolation" -j"$(nproc)" install
	} </dev/null >>"$log" 2>&1 ||
		{ mm_pg_say "make install failed (see $log)"; exit 1; }

	mm_pg_build_pgtap "$prefix/bin/pg_config" "$log" || exit
	chmod -R a+rX "$prefix" || exit
	end=$(date +%s)
	printf 'PostgreSQL %s built from %s in %s s\n' "$version" "$(basename "$dsc")" \
		"$((end - start))" >"$prefix/.mm-complete"
	mm_pg_say "PostgreSQL $version ready in $((end - start)) s"
	# The sources are no longer needed: tests use only the install.
	rm -rf "$src"
}

# A deb-src entry for sid, in the deb822 format of the bookworm one; only
# source indexes, so nothing installed by apt-get install ever comes from
# sid.  Left alone when it exists.
mm_pg_add_sid_src() {
	local f=/etc/apt/sources.list.d/sid-src.sources
	[ -f "$f" ] && return 0
	cat >"$f" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
}

# pgTAP beside the PostgreSQL of pg_config.  First from its Debian source
# package (the newest one apt knows: sid's, else the release's), built with
# PGXS against that pg_config.  The mirror may list a source package whose
# files it no longer serves; pgTAP is then taken from the release's binary
# package postgresql-15-pgtap: it is SQL only (no shared library), and its
# scripts install into any version (the build only drops functions older
# servers lack).
mm_pg_build_pgtap() {	# pg_config log
	local pgc=$1 log=$2 dir tarball top codename ext
	codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-bookworm}")
	ext="$("$pgc" --sharedir)/extension"
	dir=$(mktemp -d "$MM_PG_CACHE/pgtap.XXXXXX") || return
	# apt fetches as its sandbox user _apt, who must be able to write here
	chmod 777 "$dir"
	mm_pg_say "fetching and building pgtap"
	if mm_pg_fetch_src "$dir" "$log" pgtap || mm_pg_fetch_src "$dir" "$log" "pgtap/$codename"; then
		if ! tarball=$(mm_pg_first "$dir"/pgtap_*.orig.tar.*) ||
			! tar -C "$dir" -xf "$tarball"; then
			rm -rf "$dir"
			return 1
		fi
		top=$(find "$dir" -mindepth 1 -maxdepth 1 -type d | head -n 1)
		{
			make -C "$top" PG_CONFIG="$pgc" &&
			make -C "$top" PG_CONFIG="$pgc" install
		} </dev/null >>"$log" 2>&1 ||
			{ mm_pg_say "pgtap build failed (see $log)"; rm -rf "$dir"; return 1; }
	else
		mm_pg_say "no pgtap source on the mirror: taking the SQL of postgresql-15-pgtap"
		if ! (cd "$dir" && timeout 900 apt-get download -q postgresql-15-pgtap \
			</dev/null >>"$log" 2>&1) ||
			! dpkg-deb -x "$(mm_pg_first "$dir"/postgresql-15-pgtap_*.deb)" "$dir/root" ||
			! install -m 644 "$dir"/root/usr/share/postgresql/15/extension/pgtap* "$ext"/; then
			mm_pg_say "could not install pgtap (see $log)"
			rm -rf "$dir"
			return 1
		fi
	fi
	rm -rf "$dir"
}

# apt-get source --download-only of what into dir; fails (leaving dir
# empty) when apt cannot fetch every file of it.
mm_pg_fetch_src() {	# dir log what
	if (cd "$1" && timeout 900 apt-get source --download-only -q "$3" </dev/null >>"$2" 2>&1) &&
		mm_pg_first "$1"/*.orig.tar.* >/dev/null; then
		return 0
	fi
	find "$1" -mindepth 1 -delete
	return 1
}

# The scripts' --pg option: `--pg N` or `--pg=N` anywhere in the arguments
# sets MM_PG=N; MM_ARGS is what remains.  Call before sourcing lib.sh,
# then `set -- "${MM_ARGS[@]}"`; lib.sh then picks that PostgreSQL.
mm_pg_args() {	# arg...
	MM_ARGS=()
	while [ $# -gt 0 ]; do
		case $1 in
		--pg)
			[ $# -ge 2 ] || { mm_pg_say "--pg needs a major version (15, 18)"; exit 2; }
			MM_PG=$2
			shift 2 ;;
		--pg=*)
			MM_PG=${1#--pg=}
			shift ;;
		*)
			MM_ARGS+=("$1")
			shift ;;
		esac
	done
	if [ -n "${MM_PG:-}" ] && ! [[ $MM_PG =~ ^[1-9][0-9]$ ]]; then
		mm_pg_say "--pg: '$MM_PG' is not a major version (15, 18)"
		exit 2
	fi
	export MM_PG
}

# The pg_config of PostgreSQL major: Debian's package when Debian 12 has it
# (15), else the cached build (made first, as root, when missing).
mm_pg_config_for() {	# major
	if [ "$1" = 15 ]; then
		printf '%s\n' /usr/lib/postgresql/15/bin/pg_config
		return 0
	fi
	mm_build_pg "$1"
}
