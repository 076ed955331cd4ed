# What the Kafka test scripts share: free ports, cluster ids, the lines of
# server.properties every node has, and running a command against fresh
# brokers. Sourced (bash), not run; each script keeps only what differs.
# The script that sources it has set here (tests/kafka) and, for
# kafka_run_with, root (the repository).

# $1 distinct free loopback ports. Every socket stays bound until all are
# picked, so no two can be the same. They come from below the kernel's
# ephemeral range: a broker a test restarts binds its ports again, and a
# port the kernel chose could meanwhile be the local end of some process's
# outgoing connection.
kafka_free_ports() {
	python3 -c '
import random, socket, sys
with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
    lo = int(f.read().split()[0]) - 12000
socks = []
for _ in range(int(sys.argv[1])):
    for _ in range(100):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", random.randrange(lo, lo + 12000) if lo > 1024 else 0))
            break
        except OSError:
            s.close()
    else:
        sys.exit("no free port")
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
' "$1"
}

# A new Kafka cluster id: 16 random bytes in URL-safe base64, unpadded; like
# Kafka's own, never one that starts with "-" (it would read as an option).
kafka_cluster_id() {
	python3 -c '
import base64, os
while True:
    s = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    if not s.startswith("-"):
        print(s)
        break
'
}

# The server.properties lines of a KRaft node that is both broker and
# controller, the same for a lone broker and a cluster's node:
#   kafka_node_properties NODE_ID VOTERS PORT CONTROLLER_PORT LOG_DIR
kafka_node_properties() {
	cat <<EOF
process.roles=broker,controller
node.id=$1
controller.quorum.voters=$2
listeners=PLAINTEXT://127.0.0.1:$3,CONTROLLER://127.0.0.1:$4
advertised.listeners=PLAINTEXT://127.0.0.1:$3
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$5
EOF
}

# The test settings every node has: tids creates its topics explicitly,
# auto-create stays on for ad hoc tests; no wait for a group's first
# rebalance; after kill9 the new incarnation cannot register until the
# controller has expired the old one's session: 9 s by default, 4 s here.
kafka_test_properties() {
	cat <<'EOF'
auto.create.topics.enable=true
num.partitions=1
group.initial.rebalance.delay.ms=0
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=500
EOF
}

# Runs CMD against brokers that SCRIPT (broker.sh or cluster.sh, in the
# directory of the calling script) starts in a fresh directory named after
# TEMPLATE, exported to CMD as DIR_VAR with TIDS_TEST_KAFKA_BOOTSTRAP, and
# always stops them and removes the directory afterwards; exits with CMD's
# status (1 if it passed but the brokers would not stop).
#   kafka_run_with SCRIPT TEMPLATE DIR_VAR CMD [ARGS...]
kafka_run_with() {
	kafka_script=$1
	local template=$2 dir_var=$3 rc
	shift 3

	O=${O:-$root/build}
	mkdir -p "$O"
	O=$(cd "$O" && pwd)
	export O

	"$here/fetch.sh"

	kafka_dir=$(mktemp -d "${TMPDIR:-/tmp}/$template")
	trap kafka_cleanup EXIT
	# Turn signals into an exit so that the EXIT trap runs once.
	trap 'exit 130' INT
	trap 'exit 143' TERM

	TIDS_KAFKA_LIBS=$O/kafka/libs "$here/$kafka_script" start "$kafka_dir"
	TIDS_TEST_KAFKA_BOOTSTRAP=$(cat "$kafka_dir/bootstrap")
	export TIDS_TEST_KAFKA_BOOTSTRAP
	export "$dir_var=$kafka_dir"

	# CMD runs in the background so that a signal to this script is handled
	# at once (bash defers traps while a foreground child runs): it is
	# passed on as SIGTERM, because a background child ignores SIGINT.
	kafka_child=
	trap 'kafka_stop_child 130' INT
	trap 'kafka_stop_child 143' TERM
	"$@" <&0 &
	kafka_child=$!
	rc=0
	wait "$kafka_child" || rc=$?
	kafka_child=
	exit "$rc"
}

kafka_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	# Brokers that will not stop fail an otherwise green run.
	"$here/$kafka_script" stop "$kafka_dir" || [ "$rc" -ne 0 ] || rc=1
	rm -rf "$kafka_dir"
	exit "$rc"
}

kafka_stop_child() {
	[ -z "$kafka_child" ] || kill -TERM "$kafka_child" 2>/dev/null || true
	[ -z "$kafka_child" ] || wait "$kafka_child" 2>/dev/null || true
	exit "$1"
}
