/*
 * The test environment, read from the variables that tests/integration/run.sh
 * and tests/kafka/with-broker.sh export. No Check here: bench binaries link
 * this file too, so a missing broker aborts with a message on stderr.
 */
#include "testenv.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : fallback;
}

const char *tids_test_kafka_bootstrap(void)
{
	const char *v = env_or("TIDS_TEST_KAFKA_BOOTSTRAP", NULL);

	if (v == NULL) {
		fprintf(stderr, "TIDS_TEST_KAFKA_BOOTSTRAP is not set: run integration "
				"tests with 'make test-integration' or under "
				"tests/kafka/with-broker.sh\n");
		abort();
	}
	return v;
}

const char *tids_test_kafka_dir(void)
{
	return env_or("TIDS_TEST_KAFKA_DIR", NULL);
}

const char *tids_test_source_dir(void)
{
	return env_or("TIDS_SOURCE_DIR", ".");
}

const char *tids_test_build_dir(void)
{
	return env_or("TIDS_BUILD_DIR", "build");
}

int tids_test_broker(const char *verb)
{
	const char *dir = tids_test_kafka_dir();

	if (dir == NULL) {
		fprintf(stderr, "tids_test_broker %s: TIDS_TEST_KAFKA_DIR is not set "
				"(not our broker)\n", verb);
		return -1;
	}
	return tids_test_broker_in(verb, dir);
}

void tids_test_broker_unpause(void)
{
	if (tids_test_kafka_dir() != NULL)
		(void)tids_test_broker("resume");
}

int tids_test_broker_start_in(char dir[256], char bootstrap[64])
{
	char path[300];
	FILE *f;
	int r;

	if (dir[0] == '\0') {
		snprintf(dir, 256, "%s/tids-kafka-extra.XXXXXX", env_or("TMPDIR", "/tmp"));
		if (mkdtemp(dir) == NULL)
			return -1;
	}
	/* 512m as the first broker: a hub makes a delivery topic for each
	 * participant it registers, and itest_federation's Chongqing
	 * registers 4097 at once (about 4100 partitions, which ran a 256m
	 * broker out of heap). */
	if (getenv("TIDS_KAFKA_HEAP") == NULL)
		setenv("TIDS_KAFKA_HEAP", "512m", 1);
	if ((r = tids_test_broker_in("start", dir)) != 0)
		return r;
	snprintf(path, sizeof(path), "%s/bootstrap", dir);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	r = fgets(bootstrap, 64, f) != NULL ? 0 : -1;
	fclose(f);
	bootstrap[strcspn(bootstrap, "\n")] = '\0';
	return r;
}

int tids_test_broker_in(const char *verb, const char *dir)
{
	char script[4096];
	pid_t pid;
	int n, status;

	n = snprintf(script, sizeof(script), "%s/tests/kafka/broker.sh",
		     tids_test_source_dir());
	if (n < 0 || (size_t)n >= sizeof(script))
		return -1;
	/* Whatever the test buffered must not be written twice by the child. */
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execl(script, script, verb, dir, (char *)NULL);
		fprintf(stderr, "tids_test_broker: cannot run %s: %s\n", script,
			strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	if (strcmp(verb, "stop") == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    (tids_test_kafka_dir() == NULL || strcmp(dir, tids_test_kafka_dir()) != 0) &&
	    getenv("TIDS_TEST_KEEP") == NULL) {
		snprintf(script, sizeof(script), "rm -rf '%s'", dir);
		if (system(script) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void tids_test_unique_name(char *buf, size_t len, const char *prefix)
{
	static unsigned int counter;
	struct timespec ts;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	n = snprintf(buf, len, "%s-%ld-%jx-%u", prefix, (long)getpid(),
		     (uintmax_t)ts.tv_sec * 1000000000u + (uintmax_t)ts.tv_nsec,
		     counter++);
	if (n < 0 || (size_t)n >= len) {
		fprintf(stderr, "tids_test_unique_name: %zu bytes are too few for "
				"prefix '%s'\n", len, prefix);
		abort();
	}
}
