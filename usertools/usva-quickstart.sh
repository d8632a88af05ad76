#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# usva quickstart: install what is missing, configure, build, then run.
#
#   ./usertools/usva-quickstart.sh          set up, build, run the demo
#                                           (usva-selfcheck, then the
#                                           usva-ondemand-paging example)
#   ./usertools/usva-quickstart.sh test     set up, build, run the test suite
#   ./usertools/usva-quickstart.sh setup    set up and build only
#
# Set-up installs the Debian packages usva needs (only those missing; apt-get
# update runs once, and only then), configures the build directory with
# meson (reconfiguring only when the options asked for changed) and builds
# it with ninja.
#
# `test` runs usva-test on the fast and stress suites; the last line it
# prints is "N passed, N failed[, N skipped]" and it exits non-zero if any
# case failed, the runner crashed or it ran out of time.
#
# The self-check and the examples can be run by hand after a build:
#   build/app/usva-selfcheck/usva-selfcheck -l 0-1
#   build/examples/usva-ondemand-paging -l 0-1 -- --pager mirror
#   build/examples/usva-sva-copy -l 0-1
#
# Environment:
#   USVA_BUILD_DIR     build directory, relative to the source tree or
#                      absolute (default: build)
#   USVA_MESON_OPTS    extra `meson setup` options, split on blanks, e.g.
#                      "-Db_sanitize=address,undefined -Db_lundef=false"
#   USVA_TEST_SUITES   suites for `test` (default: fast,stress)
#   USVA_TEST_ARGS     extra usva-test options for `test`, e.g. "--seed 7"
#   USVA_EAL_ARGS      EAL options for the demo and the tests (default:
#                      "-l 0-1", or the first two CPUs this process may use)
#   USVA_TEST_TIMEOUT  seconds before `test` gives up (default: 1800)
#   USVA_SKIP_INSTALL  set to 1 to skip the package check
set -euo pipefail

PACKAGES=(libdpdk-dev libnuma-dev liburing-dev meson ninja-build pkg-config
	  gcc clang libclang-rt-14-dev gnuplot-nox doxygen python3)
COUNT_RE='^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$'

SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${USVA_BUILD_DIR:-build}"
MESON_OPTS="${USVA_MESON_OPTS:-}"
TEST_SUITES="${USVA_TEST_SUITES:-fast,stress}"
TEST_TIMEOUT="${USVA_TEST_TIMEOUT:-1800}"

say() { printf 'usva-quickstart: %s\n' "$*"; }
die() { printf 'usva-quickstart: error: %s\n' "$*" >&2; exit 1; }

usage() {
	sed -n '4,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

# ---- packages ----------------------------------------------------------

install_missing() {
	local missing=() sudo=() p

	if [[ "${USVA_SKIP_INSTALL:-0}" == 1 ]]; then
		say "USVA_SKIP_INSTALL=1: not checking packages"
		return
	fi
	if ! command -v dpkg-query >/dev/null 2>&1; then
		say "not a Debian system: install the equivalents of" \
		    "${PACKAGES[*]} yourself; trying the build anyway"
		return
	fi
	for p in "${PACKAGES[@]}"; do
		if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != \
		      "install ok installed" ]]; then
			missing+=("$p")
		fi
	done
	if ((${#missing[@]} == 0)); then
		say "all ${#PACKAGES[@]} packages present"
		return
	fi
	if [[ "$(id -u)" != 0 ]]; then
		command -v sudo >/dev/null 2>&1 ||
			die "need root or sudo to install: ${missing[*]}"
		sudo=(sudo)
	fi
	say "installing: ${missing[*]}"
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# ---- configure and build -----------------------------------------------

# Names of the -D options in a meson option string, sorted.
option_names() {
	local w
	for w in $1; do
		case "$w" in
		-D*=*) w="${w#-D}"; printf '%s\n' "${w%%=*}" ;;
		esac
	done | sort -u
}

configure() {
	local stamp="$BUILD_DIR/.usva-quickstart-options" old opts=()

	read -r -a opts <<<"$MESON_OPTS"
	if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
		if [[ -d "$BUILD_DIR/meson-private" ]]; then
			say "configuring $BUILD_DIR afresh (previous set-up incomplete)"
			meson setup --wipe "${opts[@]}" "$BUILD_DIR"
		else
			say "configuring $BUILD_DIR${MESON_OPTS:+ with $MESON_OPTS}"
			meson setup "${opts[@]}" "$BUILD_DIR"
		fi
	elif ! meson introspect --projectinfo "$BUILD_DIR" >/dev/null 2>&1; then
		say "configuring $BUILD_DIR afresh (made by another meson version)"
		meson setup --wipe "${opts[@]}" "$BUILD_DIR"
	else
		old="$(cat "$stamp" 2>/dev/null || true)"
		if [[ "$old" == "$MESON_OPTS" ]]; then
			say "$BUILD_DIR is configured${MESON_OPTS:+ with $MESON_OPTS}"
		elif [[ -n "$(comm -23 <(option_names "$old") \
				       <(option_names "$MESON_OPTS"))" ]]; then
			# An option given before and not now must go back to its
			# default, which neither --reconfigure nor --wipe does:
			# start from an empty directory (one meson made).
			say "configuring $BUILD_DIR afresh: options were '$old'," \
			    "now '$MESON_OPTS'"
			rm -rf -- "$BUILD_DIR"
			meson setup "${opts[@]}" "$BUILD_DIR"
		else
			say "reconfiguring $BUILD_DIR with $MESON_OPTS"
			meson setup --reconfigure "${opts[@]}" "$BUILD_DIR"
		fi
	fi
	printf '%s\n' "$MESON_OPTS" >"$stamp"
}

build() {
	say "building $BUILD_DIR"
	ninja -C "$BUILD_DIR"
}

# ---- running -----------------------------------------------------------

# CPUs this process may run on, one per line, in order.
allowed_cpus() {
	local list range i
	list="$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status 2>/dev/null)"
	[[ -n "$list" ]] || { echo 0; return; }
	for range in ${list//,/ }; do
		if [[ "$range" == *-* ]]; then
			for ((i = ${range%-*}; i <= ${range#*-}; i++)); do
				echo "$i"
			done
		else
			echo "$range"
		fi
	done
}

# Default EAL options: two lcores (a main one and a worker), on the first
# two CPUs we are allowed, which is -l 0-1 on most machines.
eal_args() {
	local cpus
	if [[ -n "${USVA_EAL_ARGS:-}" ]]; then
		echo "$USVA_EAL_ARGS"
		return
	fi
	mapfile -t cpus < <(allowed_cpus | head -n 2)
	if ((${#cpus[@]} >= 2)); then
		if [[ "${cpus[0]}" == 0 && "${cpus[1]}" == 1 ]]; then
			echo "-l 0-1"
		else
			echo "-l ${cpus[0]},${cpus[1]}"
		fi
	else
		echo "-l ${cpus[0]:-0}"
	fi
}

# The demo: first the self-check, quietly (its log is shown only if it
# fails), then the on-demand paging example (doc/examples.md).
run_demo() {
	local eal log selfcheck="$BUILD_DIR/app/usva-selfcheck/usva-selfcheck"
	local demo="$BUILD_DIR/examples/usva-ondemand-paging"
	read -r -a eal <<<"$(eal_args)"
	log="$(mktemp)"
	# shellcheck disable=SC2064
	trap "rm -f '$log'" EXIT
	if ! "$selfcheck" "${eal[@]}" >"$log" 2>&1; then
		cat "$log" >&2
		die "the self-check failed: $selfcheck ${eal[*]}"
	fi
	say "self-check: $(tail -n 1 "$log")"
	say "running the demo: $demo ${eal[*]}"
	"$demo" "${eal[@]}"
}

run_tests() {
	local eal extra log rc count last passed failed skipped why
	read -r -a eal <<<"$(eal_args)"
	read -r -a extra <<<"${USVA_TEST_ARGS:-}"
	log="$(mktemp)"
	# shellcheck disable=SC2064
	trap "rm -f '$log'" EXIT

	say "running $BUILD_DIR/app/test/usva-test ${eal[*]} -- --suite $TEST_SUITES ${extra[*]}"
	set +e
	timeout --kill-after=30 "$TEST_TIMEOUT" \
		"$BUILD_DIR/app/test/usva-test" "${eal[@]}" -- \
		--suite "$TEST_SUITES" "${extra[@]}" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	set -e

	count="$(grep -E "$COUNT_RE" "$log" | tail -n 1 || true)"
	last="$(tail -n 1 "$log")"
	if [[ -n "$count" ]]; then
		read -r passed _ failed _ skipped _ <<<"${count//,/}"
		skipped="${skipped:-0}"
	else
		passed=$(grep -c '^\[  OK  \]' "$log" || true)
		failed=$(grep -c '^\[ FAIL \]' "$log" || true)
		skipped=$(grep -c '^\[ SKIP \]' "$log" || true)
	fi

	# How it ended, when that was not a clean exit with its count.
	why=
	if ((rc == 124 || rc == 137)); then
		why="ran out of time (${TEST_TIMEOUT} s)"
	elif ((rc > 128)); then
		why="died on signal $((rc - 128))"
	elif [[ -z "$count" ]]; then
		why="exited with status $rc without its count line"
	elif ((rc != 0 && failed == 0)); then
		why="exited with status $rc after counting no failure (see above)"
	elif ((rc != 0 && rc != 1)); then
		why="exited with status $rc"
	fi
	# A runner that died counts the case it died in as failed; one that
	# counted no failure but did not exit cleanly (a sanitizer report at
	# exit, an error in cleanup) counts one failure.
	if [[ -z "$count" ]]; then
		failed=$((failed + 1))
	elif ((rc != 0 && failed == 0)); then
		failed=1
	fi
	if [[ -n "$why" ]]; then
		say "usva-test $why"
		last=
	fi
	if ((skipped > 0)); then
		count="$passed passed, $failed failed, $skipped skipped"
	else
		count="$passed passed, $failed failed"
	fi
	# The count is the last line, whatever was printed after the runner's.
	if [[ "$last" != "$count" ]]; then
		printf '%s\n' "$count"
	fi
	((failed == 0 && rc == 0))
}

# ---- main --------------------------------------------------------------

mode="${1:-demo}"
case "$mode" in
demo|test|setup) ;;
-h|--help|help) usage; exit 0 ;;
*) printf 'usva-quickstart: unknown mode "%s"\n\n' "$mode" >&2; usage >&2; exit 2 ;;
esac

cd "$SRC_DIR"
install_missing
configure
build
case "$mode" in
demo) run_demo ;;
test) run_tests ;;
setup) say "built in $BUILD_DIR" ;;
esac
