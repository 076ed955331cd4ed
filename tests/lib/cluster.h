/*
 * The three-node Kafka cluster of tests/kafka/with-cluster.sh, for the
 * tests of a hub spread over several tidsd instances: its nodes are
 * stopped, killed and started one at a time.
 */
#ifndef TIDS_TEST_CLUSTER_H
#define TIDS_TEST_CLUSTER_H

/* The cluster's directory (TIDS_TEST_KAFKA_CLUSTER_DIR), or NULL when the
 * tests do not run under with-cluster.sh. */
const char *tids_test_cluster_dir(void);

/* Runs tests/kafka/broker.sh VERB DIR/nodeN (node 1..3; VERB start, stop,
 * kill9 or status) and waits; returns its exit status or -1. start
 * returns once the node answers again, on the same address. */
int tids_test_cluster_node(const char *verb, int node);

#endif
