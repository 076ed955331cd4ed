#!/bin/bash
# Runs a three-node Apache Kafka cluster on loopback for the tests of a hub
# spread over several tidsd instances: KRaft, each node both broker and
# controller (a quorum of three), replication factor 3 and
# min.insync.replicas 2 for every topic, a small heap each (256m, or
# TIDS_KAFKA_HEAP). Each node is a directory that tests/kafka/broker.sh
# runs, so one node can be killed and restarted on its own.
#
#   cluster.sh start|stop|status DIR
#
# DIR keeps node1/, node2/, node3/ (broker.sh directories), cluster.id and
# bootstrap (the three host:port, comma-separated).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
NODES=3

usage() {
	echo "usage: $0 start|stop|status DIR" >&2
	exit 2
}

[ $# -eq 2 ] || usage
verb=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)
export TIDS_KAFKA_HEAP=${TIDS_KAFKA_HEAP:-256m}

layout() {
	local ports voters="" bootstrap="" i port cport
	[ -f "$dir/cluster.id" ] && return 0
	read -r -a ports <<<"$(kafka_free_ports $((2 * NODES)))"
	for i in $(seq 1 $NODES); do
		voters="$voters${voters:+,}$i@127.0.0.1:${ports[$((2 * i - 1))]}"
		bootstrap="$bootstrap${bootstrap:+,}127.0.0.1:${ports[$((2 * i - 2))]}"
	done
	for i in $(seq 1 $NODES); do
		port=${ports[$((2 * i - 2))]}
		cport=${ports[$((2 * i - 1))]}
		mkdir -p "$dir/node$i"
		{
			echo "# Written by tests/kafka/cluster.sh: node $i of a three-node KRaft cluster."
			kafka_node_properties "$i" "$voters" "$port" "$cport" "$dir/node$i/data"
			cat <<EOC

# Every topic on all three, a write acknowledged by two: one node may die.
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
unclean.leader.election.enable=false
# A transaction of a killed tidsd is aborted once its timeout has passed:
# checked every second, not every ten.
transaction.abort.timed.out.transaction.cleanup.interval.ms=1000
offsets.topic.num.partitions=4
transaction.state.log.num.partitions=4

# Small machine: few threads, small segments.
num.network.threads=2
num.io.threads=2
num.replica.fetchers=1
log.segment.bytes=16777216
log.retention.hours=24

EOC
			kafka_test_properties
		} >"$dir/node$i/server.properties"
		echo "127.0.0.1:$port" >"$dir/node$i/bootstrap"
	done
	kafka_cluster_id >"$dir/cluster.id"
	for i in $(seq 1 $NODES); do
		cp "$dir/cluster.id" "$dir/node$i/cluster.id"
	done
	echo "$bootstrap" >"$dir/bootstrap"
}

# Runs broker.sh VERB on every node at once; fails if any of them fails.
on_every_node() {
	local i pids=() rc=0
	for i in $(seq 1 $NODES); do
		"$here/broker.sh" "$1" "$dir/node$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i" || rc=1
	done
	return $rc
}

start() {
	local t0
	t0=$(date +%s%N)
	layout
	# Together: a node answers only once a quorum of controllers is up.
	if ! on_every_node start; then
		echo "cluster.sh: the cluster in $dir did not start" >&2
		stop
		exit 1
	fi
	t0=$((($(date +%s%N) - t0) / 1000000))
	printf '  KAFKA    cluster of %d up on %s (%d.%03ds)\n' $NODES "$(cat "$dir/bootstrap")" $((t0 / 1000)) $((t0 % 1000))
}

stop() {
	on_every_node stop
}

status() {
	local i rc=0
	for i in $(seq 1 $NODES); do
		printf 'node%d: ' "$i"
		"$here/broker.sh" status "$dir/node$i" || rc=3
	done
	return $rc
}

case $verb in
start) start ;;
stop) stop ;;
status) status ;;
*) usage ;;
esac
