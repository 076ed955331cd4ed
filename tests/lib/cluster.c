/*
 * Nodes of the test cluster (see cluster.h).
 */
#include "cluster.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testenv.h"

const char *tids_test_cluster_dir(void)
{
	const char *v = getenv("TIDS_TEST_KAFKA_CLUSTER_DIR");

	return v != NULL && *v != '\0' ? v : NULL;
}

int tids_test_cluster_node(const char *verb, int node)
{
	const char *dir = tids_test_cluster_dir();
	char script[4096], nodedir[4096];
	pid_t pid;
	int status;

	if (dir == NULL) {
		fprintf(stderr, "tids_test_cluster_node %s %d: TIDS_TEST_KAFKA_CLUSTER_DIR is not set\n", verb, node);
		return -1;
	}
	snprintf(script, sizeof(script), "%s/tests/kafka/broker.sh", tids_test_source_dir());
	snprintf(nodedir, sizeof(nodedir), "%s/node%d", dir, node);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* The nodes run with the cluster's small heap. */
		if (getenv("TIDS_KAFKA_HEAP") == NULL)
			setenv("TIDS_KAFKA_HEAP", "256m", 1);
		execl("/bin/bash", "bash", script, verb, nodedir, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
