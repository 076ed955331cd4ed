/*
 * The protobuf base-128 varint, for the writers that lay out messages by
 * hand (lib/wire_write.c, the router's audit and delivery framing). Inline
 * here rather than a function of libtids: the daemon uses it too, and it
 * must add no symbol to the shared library's interface.
 */
#ifndef TIDS_VARINT_H
#define TIDS_VARINT_H

#include <stddef.h>
#include <stdint.h>

static inline size_t tids_varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Writes v at p, which has room for tids_varint_len(v) bytes (10 at the
 * most); returns that length. */
static inline size_t tids_varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

#endif
