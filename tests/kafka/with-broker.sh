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
. "$here/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }

if [ -n "${TIDS_TEST_KAFKA_BOOTSTRAP:-}" ]; then
	echo "  KAFKA    using the broker at $TIDS_TEST_KAFKA_BOOTSTRAP"
	exec "$@"
fi

kafka_run_with broker.sh tids-kafka.XXXXXX TIDS_TEST_KAFKA_DIR "$@"
