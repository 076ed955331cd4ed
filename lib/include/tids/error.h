/*
 * Error codes shared by lib/, policy/, daemon/ and cli/. Functions return 0
 * or a negative TIDS_E* code; callers that face a peer turn it into a
 * tids.v1.Code with tids_error_code().
 */
#ifndef TIDS_ERROR_H
#define TIDS_ERROR_H

#include <stddef.h>

enum tids_error {
	TIDS_OK = 0,
	TIDS_EINVAL = -1,    /* a value is out of range or malformed */
	TIDS_ENOMEM = -2,    /* out of memory */
	TIDS_ETOOBIG = -3,   /* input longer than its limit */
	TIDS_ETRUNC = -4,    /* input ends before it should */
	TIDS_EDECODE = -5,   /* not a valid protobuf encoding of the message */
	TIDS_EMISSING = -6,  /* a required field is absent */
	TIDS_ENOTIER = -7,   /* record or field without a classification tier */
	TIDS_EBADID = -8,    /* an identifier has a bad length or character */
	TIDS_ETOOMANY = -9,  /* a repeated field has too many elements */
	TIDS_EBADSIG = -10,  /* a signature or Merkle root does not verify */
	TIDS_EIO = -11,      /* a file or socket operation failed */
	TIDS_EPERM = -12,    /* not allowed (also: key file readable by others) */
	TIDS_ENOENT = -13,   /* no such participant, asset, grant, file */
	TIDS_EREPLAY = -14,  /* sequence number replayed or out of order */
	TIDS_EAUTH = -15,    /* authentication failed */
	TIDS_EKAFKA = -16,   /* Kafka refused or is unreachable */
	TIDS_EDB = -17,      /* SQLite failed */
	TIDS_ECRYPTO = -18,  /* decryption failed or key unavailable */
	TIDS_EPOLICY = -19,  /* policy text does not parse or check */
	TIDS_EDENIED = -20,  /* policy denied */
	TIDS_EUNAVAIL = -21, /* temporarily unavailable; retry */
	TIDS_EEXIST = -22,   /* already exists */
	TIDS_ECONFIG = -23,  /* bad configuration */
	TIDS_EAGAIN = -24,   /* would block; try again when ready */
	TIDS_EPROTO = -25,   /* peer broke the protocol */
	TIDS_EUNKNOWN = -26, /* unknown method or kind */
	TIDS_EDUP = -27,     /* duplicate element (e.g. field name) */
	TIDS_ERROR_MIN = -27
};

/* A short, constant description of err. Never NULL. */
const char *tids_strerror(int err);

/* The tids.v1.Code (gRPC numbering) that reports err to a peer. */
int tids_error_code(int err);

/* Formats into err (size errlen, may be 0) like snprintf; returns code.
 * Lets a gate fail in one line: return tids_fail(err, errlen, TIDS_EINVAL, ...). */
int tids_fail(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
