/*
 * Keys at rest: the master key (a file, or a systemd credential) that wraps
 * every data key in the registry; the hub data key that seals important and
 * core records on the ingress topic; and the per-grant keys that seal their
 * deliveries, destroyed when the grant ends. The data keys come wrapped
 * from the hub state on Kafka (hubstate.c), which every instance shares;
 * the master key is the hub's, given to each instance.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tids/error.h"
#include "tids/seal.h"
#include "tidsd.h"

int keys_load_master(struct tidsd *d)
{
	const char *creds = getenv("CREDENTIALS_DIRECTORY");
	char path[4096], err[512];
	int r;

	if (*d->conf->master_key != '\0')
		snprintf(path, sizeof(path), "%s", d->conf->master_key);
	else if (creds != NULL && *creds != '\0')
		snprintf(path, sizeof(path), "%s/master.key", creds);
	else
		config_state_path(d->conf, "master.key", path, sizeof(path));
	r = tids_keyfile_read_secret(path, d->master_key, err, sizeof(err));
	if (r == TIDS_ENOENT && *d->conf->master_key == '\0' && (creds == NULL || *creds == '\0')) {
		uint8_t key[32];

		/* First start with nothing configured: make one next to the data
		 * it protects. Operators who keep keys apart set hub.master_key
		 * or pass a credential. */
		randombytes_buf(key, sizeof(key));
		r = tids_keyfile_write_secret(path, key, err, sizeof(err));
		sodium_memzero(key, sizeof(key));
		if (r == 0) {
			tids_log_info("created master key %s", path);
			r = tids_keyfile_read_secret(path, d->master_key, err, sizeof(err));
		}
	}
	if (r != 0)
		tids_log_warnx("master key: %s", err);
	return r;
}

int keys_data_key(struct tidsd *d, uint8_t key[TIDS_SEAL_KEY_BYTES])
{
	uint8_t wrapped[TIDS_SEAL_WRAPPED_KEY_BYTES];
	size_t len;
	int r = store_get_blob(d->store, "hub_key", "ingress", wrapped, sizeof(wrapped), &len);

	/* Made once for the hub, by its first instance, and given to the
	 * others through the hub state (hubstate.c). */
	if (r == TIDS_ENOENT) {
		tids_log_warnx("no hub data key in the view of the hub state");
		return TIDS_ECRYPTO;
	}
	if (r != 0 || len != sizeof(wrapped))
		return TIDS_EDB;
	if (tids_seal_unwrap_key(d->master_key, "ingress", wrapped, key) != 0) {
		tids_log_warnx("the hub data key does not unwrap: wrong master key for this registry?");
		return TIDS_ECRYPTO;
	}
	return 0;
}

int keys_grant_key(struct tidsd *d, const char *grant_id, uint8_t key[TIDS_SEAL_KEY_BYTES])
{
	uint8_t wrapped[TIDS_SEAL_WRAPPED_KEY_BYTES];
	size_t len;
	int r = store_get_blob(d->store, "grant_key", grant_id, wrapped, sizeof(wrapped), &len);

	if (r != 0)
		return r == TIDS_ENOENT ? TIDS_ECRYPTO : r;
	if (len != sizeof(wrapped))
		return TIDS_EDB;
	return tids_seal_unwrap_key(d->master_key, grant_id, wrapped, key);
}
