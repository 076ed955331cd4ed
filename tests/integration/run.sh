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

for bin in "$@"; do
	name=$(basename "$bin")
	TIDS_KNOWN_HUBS=$pins/$name
	export TIDS_KNOWN_HUBS
	echo "  ITEST    $name"
	if ! "$bin"; then
		echo "  FAIL     $name" >&2
		exit 1
	fi
done
