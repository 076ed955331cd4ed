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
. "$here/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }

unset TIDS_TEST_KAFKA_DIR
kafka_run_with cluster.sh tids-kafka-cluster.XXXXXX TIDS_TEST_KAFKA_CLUSTER_DIR "$@"
