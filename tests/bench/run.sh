#!/bin/sh
# make bench: runs every benchmark binary in turn (under
# tests/kafka/with-broker.sh, for those that need the real broker) and
# prints their figures. Benchmarks measure; they never pass or fail on a
# figure, because these machines are shared and noisy.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
O=${O:-$root/build}
TIDS_SOURCE_DIR=$root
TIDS_BUILD_DIR=$(cd "$O" && pwd)
export TIDS_SOURCE_DIR TIDS_BUILD_DIR
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
for bin in "$@"; do
	echo
	echo "== $(basename "$bin")"
	"$bin"
done
