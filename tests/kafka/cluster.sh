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

# 2 * NODES distinct free ports, chosen by the kernel (held until all are picked).
free_ports() {
	python3 -c '
import socket, sys
n = int(sys.argv[1])
socks = [socket.socket() for _ in range(n)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
' $((2 * NODES))
}

layout() {
	local ports voters="" bootstrap="" i port cport
	[ -f "$dir/cluster.id" ] && return 0
	read -r -a ports <<<"$(free_ports)"
	for i in $(seq 1 $NODES); do
		voters="$voters${voters:+,}$i@127.0.0.1:${ports[$((2 * i - 1))]}"
		bootstrap="$bootstrap${bootstrap:+,}127.0.0.1:${ports[$((2 * i - 2))]}"
	done
	for i in $(seq 1 $NODES); do
		port=${ports[$((2 * i - 2))]}
		cport=${ports[$((2 * i - 1))]}
		mkdir -p "$dir/node$i"
		cat >"$dir/node$i/server.properties" <<EOC
# Written by tests/kafka/cluster.sh: node $i of a three-node KRaft cluster.
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/node$i/data

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

auto.create.topics.enable=true
num.partitions=1
group.initial.rebalance.delay.ms=0
# A killed node's session expires in 4 s, not 9, so its restart can register.
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=500

# Small machine: few threads, small segments.
num.network.threads=2
num.io.threads=2
num.replica.fetchers=1
log.segment.bytes=16777216
log.retention.hours=24
EOC
		echo "127.0.0.1:$port" >"$dir/node$i/bootstrap"
	done
	python3 -c '
import base64, os
while True:
    s = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    if not s.startswith("-"):
        print(s)
        break
' >"$dir/cluster.id"
	for i in $(seq 1 $NODES); do
		cp "$dir/cluster.id" "$dir/node$i/cluster.id"
	done
	echo "$bootstrap" >"$dir/bootstrap"
}

start() {
	local i pids=() rc=0 t0
	t0=$(date +%s%N)
	layout
	# Together: a node answers only once a quorum of controllers is up.
	for i in $(seq 1 $NODES); do
		"$here/broker.sh" start "$dir/node$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i" || rc=1
	done
	if [ "$rc" -ne 0 ]; then
		echo "cluster.sh: the cluster in $dir did not start" >&2
		stop
		exit 1
	fi
	t0=$((($(date +%s%N) - t0) / 1000000))
	printf '  KAFKA    cluster of %d up on %s (%d.%03ds)\n' $NODES "$(cat "$dir/bootstrap")" $((t0 / 1000)) $((t0 % 1000))
}

stop() {
	local i pids=() rc=0
	for i in $(seq 1 $NODES); do
		"$here/broker.sh" stop "$dir/node$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i" || rc=1
	done
	return $rc
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
