#!/bin/bash
# Runs a command against a fresh, private three-node Apache Kafka cluster
# (tests/kafka/cluster.sh) and always tears it down afterwards; exits with
# the command's status.
#
#   with-cluster.sh CMD [ARGS...]
#
# The command sees TIDS_TEST_KAFKA_BOOTSTRAP (the three host:port) and
# TIDS_TEST_KAFKA_CLUSTER_DIR (node N is in DIR/nodeN, for
# tests/kafka/broker.sh kill9|start DIR/nodeN). It does not see
# TIDS_TEST_KAFKA_DIR: no single broker is its to stop.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

[ $# -ge 1 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }

O=${O:-$root/build}
mkdir -p "$O"
O=$(cd "$O" && pwd)
export O

"$here/fetch.sh"

dir=$(mktemp -d "${TMPDIR:-/tmp}/tids-kafka-cluster.XXXXXX")
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	"$here/cluster.sh" stop "$dir" || [ "$rc" -ne 0 ] || rc=1
	rm -rf "$dir"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

TIDS_KAFKA_LIBS=$O/kafka/libs "$here/cluster.sh" start "$dir"
TIDS_TEST_KAFKA_BOOTSTRAP=$(cat "$dir/bootstrap")
TIDS_TEST_KAFKA_CLUSTER_DIR=$dir
export TIDS_TEST_KAFKA_BOOTSTRAP TIDS_TEST_KAFKA_CLUSTER_DIR
unset TIDS_TEST_KAFKA_DIR

child=
stop_child() {
	[ -z "$child" ] || kill -TERM "$child" 2>/dev/null || true
	[ -z "$child" ] || wait "$child" 2>/dev/null || true
	exit "$1"
}
trap 'stop_child 130' INT
trap 'stop_child 143' TERM
"$@" <&0 &
child=$!
rc=0
wait "$child" || rc=$?
child=
exit "$rc"
