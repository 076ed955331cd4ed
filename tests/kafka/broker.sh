#!/bin/bash
# Runs a single-node Apache Kafka broker (KRaft, broker+controller) in DIR for
# the integration tests: start, stop, restart (same ports and data), kill9
# (crash it), pause and resume (SIGSTOP and SIGCONT: connections stay open
# and requests go unanswered, as with a broker stuck in a long GC pause)
# and status. The jars come from tests/kafka/fetch.sh.
#
#   broker.sh start|stop|restart|kill9|pause|resume|status DIR
#
# TIDS_KAFKA_HEAP (e.g. 256m) sets the JVM's heap, for tests that run
# several brokers at once.
#
# A DIR that holds server.properties (and cluster.id) when first started is
# one node of a cluster that tests/kafka/cluster.sh laid out.
#
# DIR keeps everything: server.properties, data/, logs/broker.log,
# broker.out (JVM stdout/stderr), broker.pid (+ broker.start, its start time)
# and bootstrap (host:port).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib.sh"

usage() {
	echo "usage: $0 start|stop|restart|kill9|pause|resume|status DIR" >&2
	exit 2
}

[ $# -eq 2 ] || usage
verb=$1
if [ ! -d "$2" ]; then
	# Nothing was ever started there.
	case $verb in
	start) mkdir -p "$2" ;;
	stop | kill9 | pause | resume) exit 0 ;;
	status) echo stopped && exit 3 ;;
	*) usage ;;
	esac
fi
dir=$(cd "$2" && pwd)

START_TIMEOUT=${TIDS_KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=${TIDS_KAFKA_STOP_TIMEOUT:-30}

if [ -n "${JAVA_HOME:-}" ]; then
	java=$JAVA_HOME/bin/java
else
	java=${JAVA:-java}
fi

# The start time (in clock ticks since boot) of process $1, or nothing.
start_time() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	# Fields after "pid (comm) ": state is the 1st, starttime the 20th.
	# shellcheck disable=SC2086 # splitting the fields is the point
	set -- ${stat##*) }
	echo "${20:-}"
}

# Our broker's pid, or nothing if it is not running. The pid must have the
# start time recorded with it, so a recycled pid never gets a signal from us.
# A JVM's main thread can exit (and show as a zombie, with an empty cmdline)
# while its other threads still shut down: alive means any thread is.
broker_pid() {
	local pid task state
	[ -f "$dir/broker.pid" ] && [ -f "$dir/broker.start" ] || return 0
	pid=$(cat "$dir/broker.pid")
	[ -n "$pid" ] && [ "$(start_time "$pid")" = "$(cat "$dir/broker.start")" ] || return 0
	for task in /proc/"$pid"/task/*/stat; do
		state=$(cat "$task" 2>/dev/null) || continue
		state=${state##*) }
		case $state in
		Z* | X*) ;;
		*)
			echo "$pid"
			return 0
			;;
		esac
	done
}

log_tail() {
	local f
	for f in "$dir/format.log" "$dir/broker.out" "$dir/logs/broker.log"; do
		[ -s "$f" ] || continue
		echo "--- last lines of $f" >&2
		tail -n 40 "$f" >&2
	done
}

# The libs dir is recorded on first start so that stop/restart from a test
# (which knows only DIR) use the same jars.
libs_dir() {
	local libs
	if [ -f "$dir/libs" ]; then
		cat "$dir/libs"
		return
	fi
	libs=${TIDS_KAFKA_LIBS:-${O:-$root/build}/kafka/libs}
	if ! ls "$libs"/kafka_2.13-*.jar >/dev/null 2>&1; then
		echo "broker.sh: no Kafka jars in $libs; run 'make kafka-fetch' first" >&2
		exit 1
	fi
	libs=$(cd "$libs" && pwd)
	echo "$libs" >"$dir/libs"
	echo "$libs"
}

write_config() {
	local port cport
	read -r port cport <<<"$(kafka_free_ports 2)"
	{
		echo "# Written by tests/kafka/broker.sh: single-node KRaft broker for tests."
		kafka_node_properties 1 "1@127.0.0.1:$cport" "$port" "$cport" "$dir/data"
		cat <<EOF

# One node: every internal topic has one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
# Fewer partitions in the internal topics: the first group or transaction of
# a run waits for all of them to load (50 each by default).
offsets.topic.num.partitions=4
transaction.state.log.num.partitions=4

# Small machine (2 cores): fewer threads, small segments.
num.network.threads=2
num.io.threads=4
log.segment.bytes=16777216
log.retention.hours=24

EOF
		kafka_test_properties
	} >"$dir/server.properties"
	echo "127.0.0.1:$port" >"$dir/bootstrap"
}

# JVM options shared by the storage tool and the broker: a small heap and a
# simple collector fit a 2-core test machine.
jvm_opts() {
	local libs
	libs=$(libs_dir)
	# TIDS_KAFKA_HEAP: a smaller heap when a test runs several brokers.
	jvm=("$java" "-Xmx${TIDS_KAFKA_HEAP:-512m}" "-Xms${TIDS_KAFKA_HEAP:-256m}" -XX:+UseSerialGC
		-Djava.awt.headless=true
		-Dlog4j2.configurationFile="$here/log4j2.properties"
		-Dkafka.logs.dir="$dir/logs" -cp "$libs/*")
	# Class data sharing: the first broker that stops cleanly leaves an
	# archive of the classes it loaded next to the jars; later JVMs map it
	# and start about 2 s sooner. A stale archive (new jars or JDK) is
	# ignored by the JVM and only costs that time; fetch.sh removes it.
	cds=$(dirname "$libs")/kafka.jsa
	if [ -s "$cds" ]; then
		jvm+=(-XX:SharedArchiveFile="$cds" -Xlog:cds=error)
		broker_cds=()
	else
		# The dump lists every class it skips; only errors are of interest.
		broker_cds=(-XX:ArchiveClassesAtExit="$dir/kafka.jsa" -Xlog:cds=error -Xlog:cds+dynamic=error)
	fi
}

# After a clean stop: publish the archive the broker dumped, if none exists.
# Copied then renamed, so no JVM ever maps a half-written file.
publish_cds() {
	local cds
	[ -s "$dir/kafka.jsa" ] || return 0
	cds=$(dirname "$(libs_dir)")/kafka.jsa
	if [ ! -e "$cds" ] && cp "$dir/kafka.jsa" "$cds.tmp.$$" 2>/dev/null; then
		mv -f "$cds.tmp.$$" "$cds"
	fi
	rm -f "$dir/kafka.jsa" "$cds.tmp.$$"
}

format() {
	local id
	[ ! -f "$dir/data/meta.properties" ] || return 0
	# The nodes of a cluster share one (cluster.sh writes it).
	if [ -f "$dir/cluster.id" ]; then
		id=$(cat "$dir/cluster.id")
	else
		id=$(kafka_cluster_id)
	fi
	# Tiered compilation stops early: this short-lived JVM only needs to start.
	if ! "${jvm[@]}" -XX:TieredStopAtLevel=1 kafka.tools.StorageTool format \
		-t "$id" -c "$dir/server.properties" >"$dir/format.log" 2>&1; then
		echo "broker.sh: formatting the storage in $dir/data failed" >&2
		log_tail
		exit 1
	fi
}

# Ready means: the broker answers a Metadata request, lists itself and knows
# the active controller. (Bound ports alone come earlier than that.)
answers() {
	python3 - "$1" <<'EOF'
import socket, struct, sys
host, port = sys.argv[1].rsplit(":", 1)
client = b"tids-broker-sh"
# Metadata v4 (the oldest Kafka 4 accepts): all topics, no auto-create.
body = struct.pack(">hhih", 3, 4, 1, len(client)) + client + struct.pack(">ib", 0, 0)
try:
    with socket.create_connection((host, int(port)), timeout=2) as s:
        s.sendall(struct.pack(">i", len(body)) + body)
        buf = b""
        while len(buf) < 4 or len(buf) < 4 + struct.unpack(">i", buf[:4])[0]:
            chunk = s.recv(65536)
            if not chunk:
                sys.exit(1)
            buf += chunk
except OSError:
    sys.exit(1)
try:
    off = 4 + 4 + 4  # size, correlation id, throttle time
    (nbrokers,) = struct.unpack_from(">i", buf, off)
    off += 4
    for _ in range(nbrokers):
        off += 4  # node id
        (hlen,) = struct.unpack_from(">h", buf, off)
        off += 2 + hlen + 4  # host, port
        (rlen,) = struct.unpack_from(">h", buf, off)
        off += 2 + max(rlen, 0)  # rack
    (clen,) = struct.unpack_from(">h", buf, off)
    off += 2 + max(clen, 0)  # cluster id
    (controller,) = struct.unpack_from(">i", buf, off)
except struct.error:
    sys.exit(1)
sys.exit(0 if nbrokers >= 1 and controller >= 0 else 1)
EOF
}

start() {
	local pid bootstrap t0 deadline jvm cds broker_cds
	pid=$(broker_pid)
	if [ -n "$pid" ]; then
		echo "broker.sh: already running in $dir (pid $pid)" >&2
		return 0
	fi
	t0=$(date +%s%N)
	mkdir -p "$dir/logs"
	jvm_opts
	# A restart keeps ports and data: the tests hold on to the bootstrap.
	[ -f "$dir/server.properties" ] || write_config
	format
	bootstrap=$(cat "$dir/bootstrap")
	echo "=== start $(date '+%F %T')" >>"$dir/broker.out"
	# A session of its own: a test that restarts the broker runs in a
	# process group that Check kills when the test ends, and the broker
	# must outlive it. (Not a group leader here, so setsid keeps the pid.)
	setsid "${jvm[@]}" "${broker_cds[@]}" kafka.Kafka "$dir/server.properties" \
		>>"$dir/broker.out" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$dir/broker.pid"
	start_time "$pid" >"$dir/broker.start"
	deadline=$(($(date +%s) + START_TIMEOUT))
	until answers "$bootstrap"; do
		if [ -z "$(broker_pid)" ]; then
			echo "broker.sh: the Kafka broker in $dir exited during start" >&2
			log_tail
			rm -f "$dir/broker.pid" "$dir/broker.start"
			exit 1
		fi
		if [ "$(date +%s)" -ge "$deadline" ]; then
			echo "broker.sh: the Kafka broker in $dir did not answer on $bootstrap within ${START_TIMEOUT}s" >&2
			log_tail
			kill -KILL "$pid" 2>/dev/null || true
			wait_gone 10 || true
			rm -f "$dir/broker.pid" "$dir/broker.start"
			exit 1
		fi
		sleep 0.2
	done
	t0=$((($(date +%s%N) - t0) / 1000000))
	printf '  KAFKA    broker up on %s (pid %s, %d.%03ds)\n' "$bootstrap" "$pid" \
		$((t0 / 1000)) $((t0 % 1000))
}

# Waits up to $1 seconds for the broker to be gone.
wait_gone() {
	local i=0
	while [ -n "$(broker_pid)" ]; do
		[ "$i" -lt $(($1 * 10)) ] || return 1
		sleep 0.1
		i=$((i + 1))
	done
}

stop() {
	local pid
	pid=$(broker_pid)
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		# A paused broker takes the TERM only once it runs again.
		kill -CONT "$pid" 2>/dev/null || true
		if ! wait_gone "$STOP_TIMEOUT"; then
			echo "broker.sh: broker pid $pid ignored SIGTERM for ${STOP_TIMEOUT}s; killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
			wait_gone 10 || { echo "broker.sh: broker pid $pid survives SIGKILL" >&2; exit 1; }
		fi
		publish_cds
	fi
	rm -f "$dir/broker.pid" "$dir/broker.start"
}

kill9() {
	local pid
	pid=$(broker_pid)
	if [ -n "$pid" ]; then
		kill -KILL "$pid" 2>/dev/null || true
		wait_gone 10 || { echo "broker.sh: broker pid $pid survives SIGKILL" >&2; exit 1; }
	fi
	rm -f "$dir/broker.pid" "$dir/broker.start"
}

# SIGSTOP or SIGCONT to the broker, which must be running.
signal() {
	local pid
	pid=$(broker_pid)
	[ -n "$pid" ] || { echo "broker.sh: no broker running in $dir" >&2; exit 1; }
	kill "-$1" "$pid"
}

status() {
	local pid
	pid=$(broker_pid)
	if [ -n "$pid" ]; then
		echo "running pid $pid bootstrap $(cat "$dir/bootstrap")"
	else
		echo "stopped"
		exit 3
	fi
}

case $verb in
start) start ;;
stop) stop ;;
restart) stop && start ;;
kill9) kill9 ;;
pause) signal STOP ;;
resume) signal CONT ;;
status) status ;;
*) usage ;;
esac
