/*
 * Error strings and the mapping from TIDS_E* to the wire's status codes.
 */
#include <stdarg.h>
#include <stdio.h>

#include "tids/error.h"

/* tids.v1.Code numbers (gRPC's). */
enum {
	CODE_OK = 0, CODE_INVALID_ARGUMENT = 3, CODE_NOT_FOUND = 5,
	CODE_ALREADY_EXISTS = 6, CODE_PERMISSION_DENIED = 7,
	CODE_RESOURCE_EXHAUSTED = 8, CODE_FAILED_PRECONDITION = 9,
	CODE_UNIMPLEMENTED = 12, CODE_INTERNAL = 13, CODE_UNAVAILABLE = 14,
	CODE_UNAUTHENTICATED = 16,
};

static const struct {
	const char *text;
	int code;
} errors[] = {
	[0] = { "success", CODE_OK },
	[-TIDS_EINVAL] = { "invalid value", CODE_INVALID_ARGUMENT },
	[-TIDS_ENOMEM] = { "out of memory", CODE_RESOURCE_EXHAUSTED },
	[-TIDS_ETOOBIG] = { "too large", CODE_RESOURCE_EXHAUSTED },
	[-TIDS_ETRUNC] = { "truncated", CODE_INVALID_ARGUMENT },
	[-TIDS_EDECODE] = { "not a valid protobuf message", CODE_INVALID_ARGUMENT },
	[-TIDS_EMISSING] = { "required field missing", CODE_INVALID_ARGUMENT },
	[-TIDS_ENOTIER] = { "no classification tier", CODE_INVALID_ARGUMENT },
	[-TIDS_EBADID] = { "malformed identifier", CODE_INVALID_ARGUMENT },
	[-TIDS_ETOOMANY] = { "too many elements", CODE_INVALID_ARGUMENT },
	[-TIDS_EBADSIG] = { "bad signature", CODE_UNAUTHENTICATED },
	[-TIDS_EIO] = { "input/output error", CODE_INTERNAL },
	[-TIDS_EPERM] = { "not permitted", CODE_PERMISSION_DENIED },
	[-TIDS_ENOENT] = { "not found", CODE_NOT_FOUND },
	[-TIDS_EREPLAY] = { "replayed or out-of-order sequence", CODE_FAILED_PRECONDITION },
	[-TIDS_EAUTH] = { "authentication failed", CODE_UNAUTHENTICATED },
	[-TIDS_EKAFKA] = { "Kafka error", CODE_UNAVAILABLE },
	[-TIDS_EDB] = { "database error", CODE_INTERNAL },
	[-TIDS_ECRYPTO] = { "decryption failed", CODE_PERMISSION_DENIED },
	[-TIDS_EPOLICY] = { "policy error", CODE_FAILED_PRECONDITION },
	[-TIDS_EDENIED] = { "denied by policy", CODE_PERMISSION_DENIED },
	[-TIDS_EUNAVAIL] = { "temporarily unavailable", CODE_UNAVAILABLE },
	[-TIDS_EEXIST] = { "already exists", CODE_ALREADY_EXISTS },
	[-TIDS_ECONFIG] = { "configuration error", CODE_INVALID_ARGUMENT },
	[-TIDS_EAGAIN] = { "try again", CODE_UNAVAILABLE },
	[-TIDS_EPROTO] = { "protocol violation", CODE_INVALID_ARGUMENT },
	[-TIDS_EUNKNOWN] = { "unknown method or kind", CODE_UNIMPLEMENTED },
	[-TIDS_EDUP] = { "duplicate element", CODE_INVALID_ARGUMENT },
};

const char *tids_strerror(int err)
{
	if (err > 0 || err < TIDS_ERROR_MIN)
		return "unknown error";
	return errors[-err].text;
}

int tids_error_code(int err)
{
	if (err > 0 || err < TIDS_ERROR_MIN)
		return CODE_INTERNAL;
	return errors[-err].code;
}

int tids_fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}
