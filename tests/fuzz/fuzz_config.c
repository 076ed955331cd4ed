/*
 * libFuzzer target for tidsd.conf: the input is a configuration file, read
 * by daemon/config.c exactly as tidsd reads it (config_load on a path),
 * then carried over onto a running configuration as a reload does, and its
 * kafka.* lines applied to a librdkafka configuration.
 *
 * The Makefile's fuzz rule builds lib/ and policy/ only, so config.c is
 * compiled into this file, with the one daemon function it calls.
 */
#include "../../daemon/config.c"

#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* main.c's: only a broken built-in default reaches it. */
void fatalx(const char *fmt, ...)
{
	(void)fmt;
	abort();
}

static const char running_conf[] =
	"hub.id = hub.sh\n"
	"hub.jurisdiction = CN-SH\n"
	"kafka.mode = embedded\n"
	"kafka.linger.ms = 5\n"
	"limits.frame_max = 64k\n";

/* An anonymous in-memory file, opened by path as tidsd opens its config. */
static int memfile = -1;
static char memfile_path[64];

static int put(const void *data, size_t size)
{
	if (ftruncate(memfile, 0) != 0 || (size > 0 && pwrite(memfile, data, size, 0) != (ssize_t)size))
		return -1;
	return 0;
}

static struct config *running(void)
{
	static struct config *c;
	struct tids_buf errs = { 0 };

	if (c == NULL && (put(running_conf, sizeof(running_conf) - 1) != 0 || config_load(memfile_path, &c, &errs) != 0))
		abort();
	tids_buf_free(&errs);
	return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tids_buf errs = { 0 };
	struct config *old, *c = NULL;
	char why[512];
	int r;

	if (memfile < 0) {
		/* Reload warnings would drown the fuzzer's own output. */
		tids_log_init("fuzz_config", TIDS_LOG_ERR);
		memfile = memfd_create("tidsd.conf", 0);
		if (memfile < 0)
			abort();
		snprintf(memfile_path, sizeof(memfile_path), "/proc/self/fd/%d", memfile);
	}
	old = running();
	if (put(data, size) != 0)
		abort();
	r = config_load(memfile_path, &c, &errs);
	if (r != 0) {
		/* Refused: not a config, and every problem is a line of text
		 * naming the file. */
		if (c != NULL || errs.len == 0 || tids_buf_head(&errs)[errs.len - 1] != '\n' ||
		    memcmp(tids_buf_head(&errs), memfile_path, strlen(memfile_path)) != 0)
			abort();
	} else {
		rd_kafka_conf_t *kc = rd_kafka_conf_new();

		/* Whatever config_load accepted is whole and within bounds. */
		if (c == NULL || errs.len != 0 || c->hub_id == NULL || c->jurisdiction == NULL ||
		    c->frame_max < 1024 || c->frame_max > TIDS_FRAME_MAX_LIMIT || c->max_connections < 1 ||
		    c->max_handshakes < 1 || c->max_handshakes_per_address < 1 || c->max_admin_connections < 1 ||
		    c->send_buffer < 65536 || c->handshake_timeout_ms < 100 || !tids_valid_id(c->hub_id))
			abort();
		/* Its kafka.* lines were checked by librdkafka already. */
		if (config_kafka(c, RD_KAFKA_PRODUCER, kc, why, sizeof(why)) != 0 ||
		    config_kafka(c, RD_KAFKA_CONSUMER, kc, why, sizeof(why)) != 0)
			abort();
		rd_kafka_conf_destroy(kc);
		config_carry_over(old, c);
		if (strcmp(c->hub_id, old->hub_id) != 0 || c->kafka_mode != old->kafka_mode)
			abort();   /* not reloadable: the running values stay */
		config_free(c);
	}
	tids_buf_free(&errs);
	return 0;
}
