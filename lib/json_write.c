/*
 * The JSON writer: appends values to a growing buffer and keeps the output
 * well formed (commas, quoting, nesting), so callers never hand-assemble
 * JSON. The first error sticks; later calls do nothing.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tids/error.h"
#include "json_impl.h"

void tids_jw_init(struct tids_jw *w)
{
	memset(w, 0, sizeof(*w));
}

void tids_jw_reset(struct tids_jw *w)
{
	char *buf = w->buf;
	size_t cap = w->cap;

	memset(w, 0, sizeof(*w));
	w->buf = buf;
	w->cap = cap;
	if (buf != NULL)
		buf[0] = '\0';
}

void tids_jw_free(struct tids_jw *w)
{
	if (w == NULL)
		return;
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

static void set_err(struct tids_jw *w, int code)
{
	if (w->err == 0)
		w->err = code;
}

/* Room for n more bytes and the terminating NUL. */
static bool room(struct tids_jw *w, size_t n)
{
	size_t need, cap;
	char *buf;

	if (w->err != 0)
		return false;
	if (n > SIZE_MAX - w->len - 1) {
		set_err(w, TIDS_ENOMEM);
		return false;
	}
	need = w->len + n + 1;
	if (need <= w->cap)
		return true;
	for (cap = w->cap ? w->cap : 256; cap < need;)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	buf = realloc(w->buf, cap);
	if (buf == NULL) {
		set_err(w, TIDS_ENOMEM);
		return false;
	}
	w->buf = buf;
	w->cap = cap;
	return true;
}

static void put(struct tids_jw *w, const char *s, size_t n)
{
	if (!room(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static void put_char(struct tids_jw *w, char c)
{
	put(w, &c, 1);
}

/* Comma or newline before a value, and the check that it may stand here. */
static bool value_begins(struct tids_jw *w)
{
	if (w->err != 0)
		return false;
	if (w->after_key) {
		w->after_key = false;
		return true;
	}
	if (w->depth > 0 && w->in_object[w->depth]) {
		set_err(w, TIDS_EINVAL);   /* a member value needs its key first */
		return false;
	}
	if (w->need_comma[w->depth])
		put_char(w, w->depth > 0 ? ',' : '\n');
	w->need_comma[w->depth] = true;
	return w->err == 0;
}

/* A quoted, escaped string; refuses invalid UTF-8 so that what this writes
 * the reader accepts. */
static void quote(struct tids_jw *w, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run, n;

	put_char(w, '"');
	while (i < len && w->err == 0) {
		for (run = i; run < len && u[run] >= 0x20 && u[run] < 0x80 &&
			      u[run] != '"' && u[run] != '\\'; run++)
			;
		put(w, s + i, run - i);
		if (run >= len)
			break;
		i = run;
		if (u[i] >= 0x80) {
			n = tids_json_utf8_seq(u + i, len - i);
			if (n == 0) {
				set_err(w, TIDS_EINVAL);
				return;
			}
			put(w, s + i, n);
			i += n;
		} else if (u[i] == '"' || u[i] == '\\') {
			char e[2] = { '\\', (char)u[i] };

			put(w, e, 2);
			i++;
		} else {
			char e[6] = { '\\', 'u', '0', '0', hex[u[i] >> 4], hex[u[i] & 15] };

			put(w, e, 6);
			i++;
		}
	}
	put_char(w, '"');
}

static void open_container(struct tids_jw *w, char c, bool object)
{
	if (w->err == 0 && w->depth >= TIDS_JSON_DEPTH_MAX)
		set_err(w, TIDS_EINVAL);
	if (!value_begins(w))
		return;
	put_char(w, c);
	w->depth++;
	w->need_comma[w->depth] = false;
	w->in_object[w->depth] = object;
}

static void close_container(struct tids_jw *w, char c, bool object)
{
	if (w->err != 0)
		return;
	if (w->depth == 0 || w->in_object[w->depth] != object || w->after_key) {
		set_err(w, TIDS_EINVAL);
		return;
	}
	put_char(w, c);
	w->depth--;
}

void tids_jw_object_begin(struct tids_jw *w)
{
	open_container(w, '{', true);
}

void tids_jw_object_end(struct tids_jw *w)
{
	close_container(w, '}', true);
}

void tids_jw_array_begin(struct tids_jw *w)
{
	open_container(w, '[', false);
}

void tids_jw_array_end(struct tids_jw *w)
{
	close_container(w, ']', false);
}

void tids_jw_key(struct tids_jw *w, const char *key)
{
	if (w->err != 0)
		return;
	if (key == NULL || w->depth == 0 || !w->in_object[w->depth] || w->after_key) {
		set_err(w, TIDS_EINVAL);
		return;
	}
	if (w->need_comma[w->depth])
		put_char(w, ',');
	w->need_comma[w->depth] = true;
	quote(w, key, strlen(key));
	put_char(w, ':');
	w->after_key = true;
}

void tids_jw_string(struct tids_jw *w, const char *s)
{
	/* NULL is "no string": JSON null rather than a crash. */
	if (s == NULL)
		tids_jw_null(w);
	else
		tids_jw_string_len(w, s, strlen(s));
}

void tids_jw_string_len(struct tids_jw *w, const char *s, size_t len)
{
	if (s == NULL && len > 0)
		set_err(w, TIDS_EINVAL);
	if (value_begins(w))
		quote(w, s, len);
}

static void put_number(struct tids_jw *w, const char *text, int n)
{
	if (n < 0) {
		set_err(w, TIDS_EINVAL);
		return;
	}
	if (value_begins(w))
		put(w, text, (size_t)n);
}

void tids_jw_int64(struct tids_jw *w, int64_t v)
{
	char buf[24];

	put_number(w, buf, snprintf(buf, sizeof(buf), "%" PRId64, v));
}

void tids_jw_uint64(struct tids_jw *w, uint64_t v)
{
	char buf[24];

	put_number(w, buf, snprintf(buf, sizeof(buf), "%" PRIu64, v));
}

/* The fewest significant digits that read back as the same double; 17
 * always do. %g writes 100 as 1e+02 at one digit: below 1e15 such a value is
 * a whole number (exact in a double), clearer in full. A result that looks
 * like an integer gets ".0" so that it reads back as a real, not as an
 * integer (records keep REAL and INT apart). */
void tids_jw_double(struct tids_jw *w, double v)
{
	char buf[40];
	int n = 0;

	if (!isfinite(v)) {
		set_err(w, TIDS_EINVAL);
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		n = snprintf(buf, sizeof(buf) - 2, "%.*g", prec, v);
		if (n < 0 || strtod(buf, NULL) == v)
			break;
	}
	if (n > 0 && strchr(buf, 'e') != NULL && fabs(v) < 1e15 && v == trunc(v))
		n = snprintf(buf, sizeof(buf) - 2, "%.0f", v);
	if (n > 0 && strpbrk(buf, ".e") == NULL) {
		memcpy(buf + n, ".0", 3);
		n += 2;
	}
	put_number(w, buf, n);
}

void tids_jw_bool(struct tids_jw *w, bool v)
{
	if (value_begins(w))
		put(w, v ? "true" : "false", v ? 4 : 5);
}

void tids_jw_null(struct tids_jw *w)
{
	if (value_begins(w))
		put(w, "null", 4);
}

/* Encoded text of n bytes (NUL excluded) between quotes, by encode. */
static char *reserve_quoted(struct tids_jw *w, const uint8_t *data, size_t len, size_t n)
{
	char *at;

	if (data == NULL && len > 0)
		set_err(w, TIDS_EINVAL);
	if (!value_begins(w) || !room(w, n + 2))
		return NULL;
	at = w->buf + w->len + 1;
	w->buf[w->len] = '"';
	return at;
}

static void finish_quoted(struct tids_jw *w, size_t n)
{
	w->len += n + 1;
	w->buf[w->len++] = '"';
	w->buf[w->len] = '\0';
}

void tids_jw_hex(struct tids_jw *w, const uint8_t *data, size_t len)
{
	char *at;

	if (len > (SIZE_MAX - 8) / 2) {
		set_err(w, TIDS_ENOMEM);
		return;
	}
	at = reserve_quoted(w, data, len, 2 * len);
	if (at == NULL)
		return;
	/* room() left space for the NUL that sodium_bin2hex writes. */
	sodium_bin2hex(at, 2 * len + 1, data, len);
	finish_quoted(w, 2 * len);
}

void tids_jw_base64(struct tids_jw *w, const uint8_t *data, size_t len)
{
	size_t enc;
	char *at;

	if (len > SIZE_MAX / 2) {
		set_err(w, TIDS_ENOMEM);
		return;
	}
	enc = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	at = reserve_quoted(w, data, len, enc - 1);
	if (at == NULL)
		return;
	sodium_bin2base64(at, enc, data, len, sodium_base64_VARIANT_ORIGINAL);
	finish_quoted(w, enc - 1);
}
