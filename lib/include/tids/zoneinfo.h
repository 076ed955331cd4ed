/*
 * Reading a time zone's TZif data from the system's zoneinfo directory
 * ($TZDIR, else /usr/share/zoneinfo), for the policy engine's calendar
 * (which reads no files itself: tids_policy_tz_parse in policy/policy.h).
 */
#ifndef TIDS_ZONEINFO_H
#define TIDS_ZONEINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TIDS_ZONEINFO_MAX (1u << 20)

/* Is name a zone name: "UTC", "Asia/Shanghai", "Etc/GMT+8" (1 to 128 of
 * [A-Za-z0-9_+-], parts joined by '/', none empty, "." or "..")? */
bool tids_zoneinfo_valid_name(const char *name);

/* Reads zone name's file into *data (malloc'd, the caller frees) and
 * *len. Returns 0; TIDS_EINVAL for a bad name, TIDS_ENOENT when there is
 * no such zone, TIDS_ETOOBIG, TIDS_EIO or TIDS_ENOMEM; err says which. */
__attribute__((warn_unused_result))
int tids_zoneinfo_read(const char *name, uint8_t **data, size_t *len, char *err, size_t errlen);

#endif
