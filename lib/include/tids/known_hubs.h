/*
 * Pinned hub keys, as ssh's known_hosts pins host keys: a text file with
 * one "ADDRESS HUB-ID KEY" line per hub a client has met (KEY is the hub's
 * Ed25519 public key in base64, as in hub.pub). A client that finds the hub
 * it dials there must be shown the same key; one it does not know yet is
 * pinned on first use. The file is the user's own (default
 * ~/.config/tids/known_hubs, or $TIDS_KNOWN_HUBS); nothing in it is secret.
 */
#ifndef TIDS_KNOWN_HUBS_H
#define TIDS_KNOWN_HUBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tids/record.h"
#include "tids/wire.h"

#define TIDS_KNOWN_HUBS_ENV "TIDS_KNOWN_HUBS"
#define TIDS_ADDRESS_MAX 255            /* host:port as the user wrote it */
#define TIDS_KNOWN_HUBS_LINE_MAX 1024
#define TIDS_KNOWN_HUBS_FILE_MAX (4u << 20)

struct tids_known_hub {
	unsigned line;                  /* in the file, from 1 */
	char address[TIDS_ADDRESS_MAX + 1];
	char hub_id[TIDS_ID_MAX + 1];
	uint8_t key[TIDS_PUBLIC_KEY_BYTES];
};

/* Called for each entry in file order; a non-zero return stops the walk
 * and is returned. */
typedef int tids_known_hubs_fn(void *ctx, const struct tids_known_hub *h);

/* The gate for the file's text: blank lines and '#' comments are skipped,
 * every other line must be ADDRESS HUB-ID KEY. On a bad line returns
 * TIDS_EINVAL with "line N: what" in err. */
__attribute__((warn_unused_result))
int tids_known_hubs_parse(const char *text, size_t len, tids_known_hubs_fn *fn, void *ctx, char *err,
			  size_t errlen);

/* $TIDS_KNOWN_HUBS, else $XDG_CONFIG_HOME/tids/known_hubs, else
 * $HOME/.config/tids/known_hubs. TIDS_ENOENT when none can be formed. */
__attribute__((warn_unused_result))
int tids_known_hubs_default_path(char *buf, size_t len);

enum tids_hub_pin {
	TIDS_HUB_UNKNOWN = 0,           /* neither the address nor the hub is in the file */
	TIDS_HUB_KNOWN = 1,             /* this hub at this address, with this key */
	TIDS_HUB_KNOWN_ELSEWHERE = 2,   /* this hub and key, pinned at another address */
	TIDS_HUB_CHANGED = 3,           /* another key for this hub, or another hub at this address */
};

/* Looks (address, hub_id, key) up in the file at path; a file that does
 * not exist knows no hub. entry (may be NULL) receives the line that
 * matched or conflicts. Addresses compare as strings. TIDS_EINVAL when the
 * file does not parse (err names path:line). */
__attribute__((warn_unused_result))
int tids_known_hubs_lookup(const char *path, const char *address, const char *hub_id,
			   const uint8_t key[TIDS_PUBLIC_KEY_BYTES], enum tids_hub_pin *verdict,
			   struct tids_known_hub *entry, char *err, size_t errlen);

/* The key pinned for hub_id, at whatever address: TIDS_ENOENT if none,
 * TIDS_EDUP if the file pins two different keys for it. */
__attribute__((warn_unused_result))
int tids_known_hubs_find(const char *path, const char *hub_id, uint8_t key[TIDS_PUBLIC_KEY_BYTES],
			 struct tids_known_hub *entry, char *err, size_t errlen);

/* Appends an entry (one write, O_APPEND); creates the file (0644) and its
 * directory (0700) when missing. */
__attribute__((warn_unused_result))
int tids_known_hubs_add(const char *path, const char *address, const char *hub_id,
			const uint8_t key[TIDS_PUBLIC_KEY_BYTES], char *err, size_t errlen);

/* An entry's text without its newline: "ADDRESS HUB-ID KEY". */
__attribute__((warn_unused_result))
int tids_known_hubs_format(const char *address, const char *hub_id, const uint8_t key[TIDS_PUBLIC_KEY_BYTES],
			   char *out, size_t outlen);

#endif
