/*
 * libFuzzer target for what reaches the metrics from outside: category and
 * rule names (from records and policies) become label values, and
 * librdkafka's statistics JSON decides Kafka's reachability. Whatever they
 * hold, the exposition stays well formed: every line a comment or a sample
 * whose label values are quoted and escaped.
 *
 * The input: NUL-separated names (category, rule, category, rule, ...),
 * then, after a 0xff byte, a statistics document. daemon/metrics.c is
 * compiled into this file (the fuzz rule builds lib/ and policy/ only).
 */
#include "../../daemon/metrics.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_exposition(const char *t, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t end = i;
		bool quoted = false;

		while (end < len && t[end] != '\n')
			end++;
		if (end == len)
			abort();                       /* every line ends in a newline */
		if (t[i] != '#') {
			if (t[i] < 'a' || t[i] > 'z')
				abort();
			for (size_t j = i; j < end; j++) {
				if (t[j] == '\\' && quoted)
					j++;
				else if (t[j] == '"')
					quoted = !quoted;
			}
			if (quoted)
				abort();                   /* a label value ran past its line */
		}
		i = end + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct metrics_route_stage st;
	struct metrics *m = metrics_new();
	const uint8_t *stats = memchr(data, 0xff, size);
	size_t names = stats != NULL ? (size_t)(stats - data) : size;
	struct metrics_info info = { "0.1.0", "hub", 1 };
	struct tids_buf b = { 0 };
	char name[METRICS_LABEL_MAX];
	size_t i = 0, k = 0, n = 0;

	if (m == NULL)
		return 0;
	for (i = 0; i <= names; i++) {
		if (i < names && data[i] != 0) {
			if (n < sizeof(name) - 1)
				name[n++] = (char)data[i];
			continue;
		}
		name[n] = '\0';
		metrics_stage_decision(m, &st, name, (enum metrics_decision)(k % MD_COUNT), (enum tids_tier)(k % 4),
				       k % 2 ? name : NULL);
		k++;
		n = 0;
	}
	metrics_stage_commit(m, &st);
	if (stats != NULL)
		metrics_kafka_stats(m, (const char *)stats + 1, size - names - 1, 1);
	if (metrics_render(m, &info, 1, &b) == 0)
		check_exposition((const char *)tids_buf_head(&b), b.len);
	tids_buf_free(&b);
	if (metrics_render_health(m, 1, &b) != 0 || b.len == 0)
		abort();
	tids_buf_free(&b);
	metrics_free(m);
	return 0;
}
