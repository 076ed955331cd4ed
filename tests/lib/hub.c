/*
 * Starting and stopping a real tidsd for integration tests (see hub.h).
 */
#include "hub.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "clock.h"
#include "testenv.h"
#include "tids/error.h"

/* The lowest port the kernel gives outgoing connections; ports below it
 * are never taken by a connect(). */
static int ephemeral_low(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	int lo = 32768, hi;

	if (f != NULL) {
		if (fscanf(f, "%d %d", &lo, &hi) != 2)
			lo = 32768;
		fclose(f);
	}
	return lo;
}

/* n distinct free loopback ports: each socket stays bound until all are
 * picked, or the same port could be handed out twice (a hub's listener
 * and its metrics listener once got one port between them). They come
 * from below the ephemeral range: a tidsd a test restarts binds its port
 * again, and a port the kernel chose could meanwhile be the local end of
 * any process's outgoing connection ('Address already in use'). */
int tids_test_free_ports(int *ports, int n)
{
	int fds[4], lo = ephemeral_low() - 12000, r = 0;

	if (n > 4)
		return -1;
	for (int i = 0; i < n; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t sl = sizeof(sa);
		int tries = 0;

		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		ports[i] = -1;
		if (fds[i] < 0) {
			r = -1;
			continue;
		}
		/* A range too low to spare 12000 ports: the kernel's choice. */
		do
			sa.sin_port = lo > 1024 ? htons((uint16_t)(lo + (int)randombytes_uniform(12000))) : 0;
		while (bind(fds[i], (struct sockaddr *)&sa, sizeof(sa)) != 0 && ++tries < 100);
		if (tries < 100 && getsockname(fds[i], (struct sockaddr *)&sa, &sl) == 0)
			ports[i] = ntohs(sa.sin_port);
		else
			r = -1;
	}
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return r;
}

static int spawn(struct tids_test_hub *h)
{
	char bin[4096];
	const char *wrapper = getenv("TIDS_TEST_WRAPPER");
	int fd;

	snprintf(bin, sizeof(bin), "%s/tidsd", tids_test_build_dir());
	if (bin[0] != '/') {
		char abs[4096];

		if (realpath(bin, abs) != NULL)
			snprintf(bin, sizeof(bin), "%s", abs);
	}
	fflush(NULL);
	h->pid = fork();
	if (h->pid < 0)
		return -1;
	if (h->pid == 0) {
		fd = open(h->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (wrapper != NULL && *wrapper != '\0') {
			char cmd[8192];

			snprintf(cmd, sizeof(cmd), "exec %s %s -c %s", wrapper, bin, h->conf);
			execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		} else {
			execl(bin, bin, "-c", h->conf, (char *)NULL);
		}
		_exit(127);
	}
	/* Ready when the admin socket answers a ping. */
	for (int i = 0; i < 1200; i++) {
		struct tids_client *c;
		char who[160], err[256];
		int status;

		if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
			h->pid = 0;
			fprintf(stderr, "tidsd exited during start; its log %s:\n", h->log);
			snprintf(bin, sizeof(bin), "tail -30 %s >&2", h->log);
			if (system(bin) != 0)
				fprintf(stderr, "(no log)\n");
			return -1;
		}
		c = tids_test_hub_admin(h);
		if (c != NULL) {
			int r = tids_client_ping(c, who, sizeof(who), err, sizeof(err));

			tids_client_free(c);
			if (r == 0)
				return 0;
		}
		sleep_ms(100);
	}
	fprintf(stderr, "tidsd did not become ready in 120 s (log %s)\n", h->log);
	return -1;
}

/* Directory, names and ports of one instance; the keys are set apart. */
static int instance_dirs(struct tids_test_hub *h, const char *addr)
{
	int ports[2];

	snprintf(h->dir, sizeof(h->dir), "%s/tids-hub.XXXXXX", getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(h->dir) == NULL)
		return -1;
	snprintf(h->conf, sizeof(h->conf), "%s/tidsd.conf", h->dir);
	snprintf(h->sock, sizeof(h->sock), "%s/tidsd.sock", h->dir);
	snprintf(h->log, sizeof(h->log), "%s/tidsd.log", h->dir);
	if (tids_test_free_ports(ports, 2) != 0)
		return -1;
	if (addr != NULL)
		snprintf(h->addr, sizeof(h->addr), "%s", addr);
	else
		snprintf(h->addr, sizeof(h->addr), "127.0.0.1:%d", ports[0]);
	snprintf(h->metrics, sizeof(h->metrics), "127.0.0.1:%d", ports[1]);
	return 0;
}

static int write_conf(struct tids_test_hub *h, const char *extra_conf)
{
	char src[4096];
	FILE *f;

	/* The config wants absolute paths. */
	if (realpath(tids_test_source_dir(), src) == NULL)
		return -1;
	f = fopen(h->conf, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "hub.id = %s\nhub.jurisdiction = %s\n"
		   "listen.tcp = %s\nlisten.unix = %s\naudit.checkpoint_interval = 500ms\n",
		h->hub_id, h->jurisdiction, h->addr, h->sock);
	/* Tests may put the state elsewhere (a small file system). */
	if (extra_conf == NULL || strstr(extra_conf, "state.dir") == NULL)
		fprintf(f, "state.dir = %s/state\n", h->dir);
	/* A test may give an instance keys that are not the hub's. */
	if (extra_conf == NULL || strstr(extra_conf, "hub.key") == NULL)
		fprintf(f, "hub.key = %s\n", h->key_path);
	if (extra_conf == NULL || strstr(extra_conf, "hub.master_key") == NULL)
		fprintf(f, "hub.master_key = %s\n", h->master_path);
	if (extra_conf == NULL || strstr(extra_conf, "hub.instance") == NULL)
		fprintf(f, "hub.instance = %s\n", h->instance);
	/* Tests may bring policies of their own. */
	if (extra_conf == NULL || strstr(extra_conf, "policy.dir") == NULL)
		fprintf(f, "policy.dir = %s/policy/default\n", src);
	if (extra_conf == NULL || strstr(extra_conf, "kafka.mode = embedded") == NULL)
		fprintf(f, "kafka.mode = external\nkafka.bootstrap.servers = %s\n",
			*h->bootstrap != '\0' ? h->bootstrap : tids_test_kafka_bootstrap());
	/* Never the default port: tests run side by side. */
	if (extra_conf == NULL || strstr(extra_conf, "metrics.listen") == NULL)
		fprintf(f, "metrics.listen = %s\n", h->metrics);
	if (extra_conf != NULL)
		fprintf(f, "%s\n", extra_conf);
	fclose(f);
	return 0;
}

int tids_test_hub_start(struct tids_test_hub *h, const char *extra_conf)
{
	return tids_test_hub_start_as(h, "hub", "CN-SH", NULL, extra_conf);
}

static int start(struct tids_test_hub *h, const char *name, const char *hub_id, const char *addr,
		 const char *jurisdiction, const char *bootstrap, const char *extra_conf);

int tids_test_hub_start_as(struct tids_test_hub *h, const char *name, const char *jurisdiction,
			   const char *bootstrap, const char *extra_conf)
{
	return start(h, name, NULL, NULL, jurisdiction, bootstrap, extra_conf);
}

int tids_test_hub_start_at(struct tids_test_hub *h, const char *hub_id, const char *addr, const char *extra_conf)
{
	return start(h, "hub", hub_id, addr, "CN-SH", NULL, extra_conf);
}

/* A hub named after name, or with exactly hub_id; at addr, or a free port. */
static int start(struct tids_test_hub *h, const char *name, const char *hub_id, const char *addr,
		 const char *jurisdiction, const char *bootstrap, const char *extra_conf)
{
	static unsigned counter;
	char err[256];
	struct tids_identity hub;
	uint8_t master[32];

	memset(h, 0, sizeof(*h));
	snprintf(h->jurisdiction, sizeof(h->jurisdiction), "%s", jurisdiction);
	snprintf(h->bootstrap, sizeof(h->bootstrap), "%s", bootstrap != NULL ? bootstrap : "");
	if (instance_dirs(h, addr) != 0)
		return -1;
	if (hub_id != NULL)
		snprintf(h->hub_id, sizeof(h->hub_id), "%s", hub_id);
	else if (strcmp(name, "hub") == 0)
		snprintf(h->hub_id, sizeof(h->hub_id), "hub%ld-%u-%ld", (long)getpid(), counter++, (long)time(NULL) % 100000);
	else
		snprintf(h->hub_id, sizeof(h->hub_id), "%s-%ld-%u", name, (long)getpid(), counter++);
	snprintf(h->instance, sizeof(h->instance), "a");
	/* The hub's keys are made here so that tests know them before the
	 * start, and other instances of the hub share them. */
	snprintf(h->key_path, sizeof(h->key_path), "%s/hub.key", h->dir);
	snprintf(h->master_path, sizeof(h->master_path), "%s/master.key", h->dir);
	if (tids_identity_generate(&hub) != 0 || tids_keyfile_write_identity(h->key_path, &hub, err, sizeof(err)) != 0) {
		fprintf(stderr, "hub key: %s\n", err);
		return -1;
	}
	memcpy(h->hub_pk, hub.sign_pk, 32);
	tids_identity_wipe(&hub);
	randombytes_buf(master, sizeof(master));
	if (tids_keyfile_write_secret(h->master_path, master, err, sizeof(err)) != 0) {
		fprintf(stderr, "master key: %s\n", err);
		return -1;
	}
	sodium_memzero(master, sizeof(master));
	if (write_conf(h, extra_conf) != 0)
		return -1;
	return spawn(h);
}

int tids_test_hub_join(struct tids_test_hub *h, const struct tids_test_hub *first, const char *instance,
		       const char *extra_conf)
{
	memset(h, 0, sizeof(*h));
	if (instance_dirs(h, NULL) != 0)
		return -1;
	snprintf(h->hub_id, sizeof(h->hub_id), "%s", first->hub_id);
	snprintf(h->jurisdiction, sizeof(h->jurisdiction), "%s", first->jurisdiction);
	snprintf(h->bootstrap, sizeof(h->bootstrap), "%s", first->bootstrap);
	snprintf(h->instance, sizeof(h->instance), "%s", instance);
	snprintf(h->key_path, sizeof(h->key_path), "%s", first->key_path);
	snprintf(h->master_path, sizeof(h->master_path), "%s", first->master_path);
	memcpy(h->hub_pk, first->hub_pk, sizeof(h->hub_pk));
	if (write_conf(h, extra_conf) != 0)
		return -1;
	return spawn(h);
}

int tids_test_hub_peer(struct tids_test_hub *h, const struct tids_test_hub *other)
{
	struct tids_peer p = { .hub_id = other->hub_id, .jurisdiction = other->jurisdiction, .address = other->addr };
	struct tids_client *c = tids_test_hub_admin(h);
	char err[256];
	int r;

	if (c == NULL)
		return -1;
	memcpy(p.public_key, other->hub_pk, 32);
	r = tids_client_register_peer(c, &p, err, sizeof(err));
	if (r != 0)
		fprintf(stderr, "register peer %s at %s: %s\n", other->hub_id, h->hub_id, err);
	tids_client_free(c);
	return r;
}

int tids_test_hub_restart(struct tids_test_hub *h)
{
	if (h->pid > 0)
		return -1;
	return spawn(h);
}

int tids_test_hub_stop(struct tids_test_hub *h)
{
	int status;

	if (h->pid <= 0)
		return -1;
	kill(h->pid, SIGTERM);
	for (int i = 0; i < 600; i++) {
		if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
			int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

			h->pid = 0;
			/* It was gone already (a start that failed, a crash):
			 * its log says why, and a test only sees the code. */
			if (rc != 0)
				tids_test_hub_log_tail(h, 30);
			return rc;
		}
		sleep_ms(100);
	}
	fprintf(stderr, "tidsd did not stop within 60 s of SIGTERM; killing it\n");
	tids_test_hub_kill(h);
	return -1;
}

void tids_test_hub_kill(struct tids_test_hub *h)
{
	if (h->pid <= 0)
		return;
	kill(h->pid, SIGKILL);
	waitpid(h->pid, NULL, 0);
	h->pid = 0;
}

void tids_test_hub_destroy(struct tids_test_hub *h)
{
	char cmd[600];

	if (h->pid > 0)
		tids_test_hub_stop(h);
	if (h->dir[0] != '\0' && getenv("TIDS_TEST_KEEP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", h->dir);
	}
}

bool tids_test_hub_alive(struct tids_test_hub *h)
{
	int status;

	if (h->pid <= 0)
		return false;
	if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
		h->pid = 0;
		return false;
	}
	return true;
}

int tids_test_hub_signal(struct tids_test_hub *h, int sig)
{
	return h->pid > 0 ? kill(h->pid, sig) : -1;
}

struct tids_client *tids_test_hub_admin(struct tids_test_hub *h)
{
	struct tids_client_options o = { .address = h->sock, .timeout_ms = 30000 };
	struct tids_client *c = NULL;
	char err[256];

	if (tids_client_connect(&o, &c, err, sizeof(err)) != 0)
		return NULL;
	return c;
}

struct tids_client *tids_test_hub_connect(struct tids_test_hub *h, const struct tids_identity *id)
{
	struct tids_client_options o = { .address = h->addr, .identity = id, .hub_key = h->hub_pk,
					 .timeout_ms = 30000 };
	struct tids_client *c = NULL;
	char err[256];

	if (tids_client_connect(&o, &c, err, sizeof(err)) != 0) {
		fprintf(stderr, "connect to %s: %s\n", h->addr, err);
		return NULL;
	}
	return c;
}

int tids_test_hub_participant(struct tids_test_hub *h, const char *id, const char *role, const char *jurisdiction,
			      const char *attr, struct tids_identity *out)
{
	struct tids_attribute a;
	struct tids_participant p = { .id = id, .role = role, .jurisdiction = jurisdiction };
	struct tids_client *c;
	char buf[256], err[256];
	int r;

	if (tids_identity_generate(out) != 0)
		return -1;
	memcpy(p.identity_key, out->sign_pk, 32);
	if (attr != NULL) {
		snprintf(buf, sizeof(buf), "%s", attr);
		a.name = buf;
		a.value = strchr(buf, '=') != NULL ? strchr(buf, '=') + 1 : "";
		if (strchr(buf, '=') != NULL)
			*strchr(buf, '=') = '\0';
		p.attributes = &a;
		p.n_attributes = 1;
	}
	c = tids_test_hub_admin(h);
	if (c == NULL)
		return -1;
	r = tids_client_register_participant(c, &p, err, sizeof(err));
	if (r != 0)
		fprintf(stderr, "register %s: %s\n", id, err);
	tids_client_free(c);
	return r;
}

int tids_test_hub_asset(struct tids_test_hub *h, const char *id, const char *lessee, const char *lessor,
			const char *site)
{
	struct tids_asset a = { .asset_id = id, .lessee = lessee, .lessor = lessor, .site = site };
	struct tids_client *c = tids_test_hub_admin(h);
	char err[256];
	int r;

	if (c == NULL)
		return -1;
	r = tids_client_register_asset(c, &a, err, sizeof(err));
	if (r != 0)
		fprintf(stderr, "register asset %s: %s\n", id, err);
	tids_client_free(c);
	return r;
}

void tids_test_hub_log_tail(const struct tids_test_hub *h, int lines)
{
	tids_test_hub_log_tail_without(h, lines, NULL);
}

void tids_test_hub_log_tail_without(const struct tids_test_hub *h, int lines, const char *const *skip)
{
	char cmd[2 * sizeof(h->log) + 512];
	int n = snprintf(cmd, sizeof(cmd), "echo '--- tail of %s:'; cat '%s'", h->log, h->log);

	/* The words are the test's own literals, never quotes. */
	for (size_t i = 0; skip != NULL && skip[i] != NULL && n > 0 && (size_t)n < sizeof(cmd); i++)
		n += snprintf(cmd + n, sizeof(cmd) - (size_t)n, " | grep -v -e '%s'", skip[i]);
	if (n > 0 && (size_t)n < sizeof(cmd))
		snprintf(cmd + n, sizeof(cmd) - (size_t)n, " | tail -%d", lines);
	if (system(cmd) != 0)
		fprintf(stderr, "(no log)\n");
}

int tids_test_hub_log_count(struct tids_test_hub *h, const char *needle)
{
	char line[4096];
	int n = 0;
	FILE *f = fopen(h->log, "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, needle) != NULL)
			n++;
	fclose(f);
	return n;
}

int tids_test_hub_await_log(struct tids_test_hub *h, const char *needle, int count, int timeout_ms)
{
	for (int waited = 0; tids_test_hub_log_count(h, needle) < count; waited += 100) {
		if (waited >= timeout_ms)
			return -1;
		sleep_ms(100);
	}
	return 0;
}

long tids_test_hub_publish_until_acked(struct tids_test_hub *h, struct tids_client **c, const struct tids_identity *id,
				       const char *owner, uint64_t seq, const struct tids_bytes *recs, size_t n,
				       bool restart_dead, char *err, size_t errlen)
{
	char why[512] = "";

	for (int attempt = 0; attempt < 600; attempt++) {
		struct tids_publish_ack ack;
		long accepted;
		int r;

		if (*c == NULL) {
			if (restart_dead && !tids_test_hub_alive(h) && tids_test_hub_restart(h) != 0) {
				snprintf(err, errlen, "batch %llu: hub %s died and did not start again",
					 (unsigned long long)seq, h->hub_id);
				return -1;
			}
			*c = tids_test_hub_connect(h, id);
			if (*c == NULL) {
				sleep_ms(200);
				continue;
			}
		}
		r = tids_client_publish(*c, id, owner, seq, recs, n, &ack, why, sizeof(why));
		if (r == 0) {
			if (ack.n_errors > 0)
				snprintf(err, errlen, "batch %llu: %zu records refused: %s", (unsigned long long)seq,
					 ack.n_errors, ack.errors[0].message);
			accepted = ack.n_errors > 0 ? -1 : (long)ack.accepted;
			tids_publish_ack_free(&ack);
			return accepted;
		}
		/* Refused for now (being written, Kafka away) on a session that
		 * stands; any other failure lost the connection. */
		if (r != TIDS_EDENIED) {
			tids_client_free(*c);
			*c = NULL;
		}
		sleep_ms(200);
	}
	snprintf(err, errlen, "batch %llu never acknowledged: %s", (unsigned long long)seq, why);
	return -1;
}
