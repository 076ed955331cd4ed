#!/bin/bash
# Runs a command against a fresh, private Apache Kafka broker and always tears
# the broker and its directory down afterwards; exits with the command's status.
#
#   with-broker.sh CMD [ARGS...]
#
# The command sees TIDS_TEST_KAFKA_BOOTSTRAP (host:port) and TIDS_TEST_KAFKA_DIR
# (for tests/kafka/broker.sh stop|start|restart|kill9). If
# TIDS_TEST_KAFKA_BOOTSTRAP is already set, CMD runs against that broker instead.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

[ $# -ge 1 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }

if [ -n "${TIDS_TEST_KAFKA_BOOTSTRAP:-}" ]; then
	echo "  KAFKA    using the broker at $TIDS_TEST_KAFKA_BOOTSTRAP"
	exec "$@"
fi

O=${O:-$root/build}
mkdir -p "$O"
O=$(cd "$O" && pwd)
export O

"$here/fetch.sh"

dir=$(mktemp -d "${TMPDIR:-/tmp}/tids-kafka.XXXXXX")
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	# A broker that will not stop fails an otherwise green run.
	"$here/broker.sh" stop "$dir" || [ "$rc" -ne 0 ] || rc=1
	rm -rf "$dir"
	exit "$rc"
}
trap cleanup EXIT
# Turn signals into an exit so that the EXIT trap runs once.
trap 'exit 130' INT
trap 'exit 143' TERM

TIDS_KAFKA_LIBS=$O/kafka/libs "$here/broker.sh" start "$dir"
TIDS_TEST_KAFKA_BOOTSTRAP=$(cat "$dir/bootstrap")
TIDS_TEST_KAFKA_DIR=$dir
export TIDS_TEST_KAFKA_BOOTSTRAP TIDS_TEST_KAFKA_DIR

# CMD runs in the background so that a signal to this script is handled at
# once (bash defers traps while a foreground child runs): it is passed on as
# SIGTERM, because a background child ignores SIGINT.
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
