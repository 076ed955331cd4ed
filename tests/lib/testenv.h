/*
 * Where a test finds its environment: the Kafka broker that
 * tests/kafka/with-broker.sh started (and how to stop or restart it), the
 * source and build directories, and names unique to one test run.
 */
#ifndef TIDS_TEST_TESTENV_H
#define TIDS_TEST_TESTENV_H

#include <stddef.h>

/*
 * host:port of the test broker (TIDS_TEST_KAFKA_BOOTSTRAP). Aborts the test
 * with a message naming the variable if it is not set: integration tests run
 * under tests/kafka/with-broker.sh (make test-integration).
 */
const char *tids_test_kafka_bootstrap(void);

/* The broker's directory (TIDS_TEST_KAFKA_DIR), or NULL when the tests run
 * against a developer's own broker, which they must not stop. */
const char *tids_test_kafka_dir(void);

/*
 * Runs tests/kafka/broker.sh VERB DIR (VERB is start, stop, restart, kill9
 * or status) and waits for it. Returns its exit status, or -1 if there is no
 * broker directory or the script could not be run. start and restart return
 * once the broker answers again, on the same address.
 */
int tids_test_broker(const char *verb);
/* A Check teardown (unchecked: it runs in the parent even when the test
 * failed) for tests that pause the broker: resumes it, so that a test
 * failing while it is paused does not hang every test after it. */
void tids_test_broker_unpause(void);

/*
 * More brokers, for tests of several hubs each with its own Kafka: runs
 * tests/kafka/broker.sh VERB DIR for a broker of the test's own. start
 * creates dir (a fresh temporary directory when *dir is empty), gives the
 * broker a small heap (TIDS_KAFKA_HEAP, 256m unless set) and writes its
 * host:port into bootstrap. stop also removes dir.
 */
int tids_test_broker_start_in(char dir[256], char bootstrap[64]);
int tids_test_broker_in(const char *verb, const char *dir);

/*
 * Writes "PREFIX-PID-TIME-N" into buf: a topic, group or transactional id
 * that no other test, run or process uses. PREFIX should be made of
 * [a-z0-9-] to be valid everywhere. Aborts if buf is too small.
 */
void tids_test_unique_name(char *buf, size_t len, const char *prefix);

/* Repository root (TIDS_SOURCE_DIR, else the current directory) and build
 * directory (TIDS_BUILD_DIR, else "build"), without a trailing slash. */
const char *tids_test_source_dir(void);
const char *tids_test_build_dir(void);

#endif
