#!/bin/sh
# Runs the integration test binaries one after the other and stops at the
# first that fails. tests/kafka/with-broker.sh provides the Kafka broker.
#
#   run.sh BIN...
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
O=${O:-$root/build}
mkdir -p "$O"

TIDS_SOURCE_DIR=$root
TIDS_BUILD_DIR=$(cd "$O" && pwd)
export TIDS_SOURCE_DIR TIDS_BUILD_DIR
# Check prints one line per failure unless asked for more.
CK_VERBOSITY=${CK_VERBOSITY:-normal}
export CK_VERBOSITY

# Tests pin hub keys in files of their own, never in the user's
# ~/.config/tids/known_hubs (a port reused by another hub would be refused).
pins=$(mktemp -d "${TMPDIR:-/tmp}/tids-known-hubs.XXXXXX")
trap 'rm -rf "$pins"' EXIT

# A sanitizer build (make O=build-asan SANITIZE=address,undefined
# test-integration): every process the tests start (tidsd, tidsctl, the test
# binaries and their forks) writes its reports, leaks included, to files in
# $san, and any report fails the run. Exit statuses alone would not do: a
# test that stops tidsd with SIGTERM does not always look at how it exited.
san=
if [ -n "${SANITIZE:-}" ]; then
	san=$TIDS_BUILD_DIR/sanitizer-reports
	rm -rf "$san"
	mkdir -p "$san"
	ASAN_OPTIONS="log_path=$san/asan:detect_leaks=1:abort_on_error=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
	UBSAN_OPTIONS="log_path=$san/ubsan:print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
	LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
	export ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
fi

sanitizer_reports() {
	[ -n "$san" ] || return 0
	set -- "$san"/*
	[ -e "$1" ] || return 0
	for f in "$@"; do
		echo "  SANITIZE $f" >&2
		cat "$f" >&2
	done
	return 1
}

for bin in "$@"; do
	name=$(basename "$bin")
	TIDS_KNOWN_HUBS=$pins/$name
	export TIDS_KNOWN_HUBS
	echo "  ITEST    $name"
	if ! "$bin"; then
		echo "  FAIL     $name" >&2
		sanitizer_reports || true
		exit 1
	fi
	if ! sanitizer_reports; then
		echo "  FAIL     $name: sanitizer reports above" >&2
		exit 1
	fi
done
