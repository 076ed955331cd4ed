/*
 * A byte buffer with a read offset: appended at the tail, consumed from the
 * head, compacted when space runs out. Connection I/O and encoders use it.
 * Memory it gives back (when it grows, when it is freed) is wiped first.
 */
#ifndef TIDS_BUF_H
#define TIDS_BUF_H

#include <stddef.h>
#include <stdint.h>

struct tids_buf {
	uint8_t *data;
	size_t off;     /* first unread byte */
	size_t len;     /* unread bytes */
	size_t cap;
};

/* Room for `extra` more bytes at the tail; 0 or TIDS_ENOMEM. */
__attribute__((warn_unused_result))
int tids_buf_reserve(struct tids_buf *b, size_t extra);
__attribute__((warn_unused_result))
int tids_buf_append(struct tids_buf *b, const void *p, size_t n);
static inline const uint8_t *tids_buf_head(const struct tids_buf *b) { return b->data + b->off; }
static inline uint8_t *tids_buf_tail(struct tids_buf *b) { return b->data + b->off + b->len; }
static inline size_t tids_buf_room(const struct tids_buf *b) { return b->cap - b->off - b->len; }
/* After writing n bytes at the tail (after tids_buf_reserve). */
void tids_buf_commit(struct tids_buf *b, size_t n);
void tids_buf_consume(struct tids_buf *b, size_t n);
/* Zeroes the contents (plaintext, keys) and empties the buffer. */
void tids_buf_wipe(struct tids_buf *b);
/* The same for a buffer only appended to since it was last emptied:
 * everything it held is below off + len (growing wipes the block it
 * leaves), so only that is zeroed, not the whole capacity. Not for a
 * buffer that was consumed or emptied and refilled shorter. */
void tids_buf_wipe_used(struct tids_buf *b);
/* Wipes and releases the memory. */
void tids_buf_free(struct tids_buf *b);

#endif
