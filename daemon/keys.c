/*
 * Keys at rest. What wraps what, where each key lives, what is erased when:
 *
 *   master key M     a file (hub.master_key), a systemd credential, or
 *                    state.dir/master.key. Never changes; wraps only D and
 *                    the epoch keys.
 *   hub data key D   the hub's, made by its first instance and given to
 *                    the others with the hub state (hubstate.c, entry
 *                    "hubkey/ingress"); registry kv hub_key/ingress,
 *                    wrapped under M. Never
 *                    used itself: each use has a key derived from it
 *                    (tids_seal_derive), so no ciphertext or MAC made for
 *                    one use is accepted by another:
 *                      K_ingress   seals important and core records on
 *                                  the ingress topic
 *                      K_delivery  seals deliveries that no grant carries
 *                      K_state     MACs the router's state entries
 *   epoch key E_n    the epoch key file (hub.epoch_key, by default
 *                    state.dir/epoch.key), wrapped under M with label
 *                    "epoch/<n>", kept apart from the registry so that no
 *                    copy of the registry holds it. Two slots: E_{n+1} is
 *                    on disk before E_n is overwritten with zeros.
 *   bucket keys B_b  registry kv key_bucket/<b>, b = 0..255: uint64be(n) ||
 *                    B_b wrapped under E_n with label "bucket/<b>".
 *   grant keys K_g   registry kv grant_key/<b>/<grant id>, wrapped under
 *                    B_b with label <grant id>, b the first byte of
 *                    BLAKE2b(grant id). K_g seals every delivery made under
 *                    grant g (tids_seal with an AD naming the recipient).
 *
 * Revoking or expiring grants destroys their keys: their rows are deleted,
 * each bucket that held one gets a fresh key (its live grants are wrapped
 * again), and every bucket key moves to a fresh epoch: E_{n+1} (random,
 * not derived from E_n, so a leaked old epoch key tells nothing of the
 * next) goes to the free slot and is synced, the registry commits, its WAL
 * is checkpointed and truncated, and E_n's slot is overwritten with zeros.
 * From then on nothing opens K_g: the copies of it left in WAL frames,
 * free pages (secure_delete zeroes those too) or any backup of the
 * registry are wrapped under the old B_b, which only E_n opened, and M
 * opens only D and E_{n+1}. The two levels keep the cost of a revocation at
 * one bucket's grants plus 256 bucket keys, whatever the number of grants.
 *
 * A hub of several instances: each keeps its own epoch and buckets; a
 * grant's key reaches them through the hub state, wrapped under M (entry
 * "grant/<id>"), and each destroys its copy when the revocation reaches
 * it. The hub state's copy is superseded by the revocation and leaves
 * Kafka's log when the topic is compacted (within max.compaction.lag.ms,
 * an hour, of the registry topic); until then, whoever holds M and a copy
 * of the topic's segments can open the revoked grant's deliveries.
 *
 * Not covered: a copy of the epoch key file opens the grants that were live
 * when it was taken, revoked or not (keep it out of backups); a
 * copy-on-write filesystem or an SSD may keep a block that was overwritten.
 *
 * In memory, M, the derived keys and the bucket keys live in one guarded
 * allocation (locked, left out of core dumps); D and E_n are wiped as soon
 * as what they open is open.
 *
 * Beside hub.key, the hub's public key is written as hub.pub, for
 * participants to pin (it is no secret).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "tids/epoch.h"
#include "tids/error.h"
#include "tids/seal.h"
#include "tids/secmem.h"
#include "tidsd.h"

#define BUCKETS 256
#define BUCKET_ROW_BYTES (8 + TIDS_SEAL_WRAPPED_KEY_BYTES)
#define NS_BUCKET "key_bucket"
#define NS_GRANT "grant_key"

struct keyring {
	uint8_t master[TIDS_SEAL_KEY_BYTES];
	uint8_t ingress[TIDS_SEAL_KEY_BYTES];
	uint8_t delivery[TIDS_SEAL_KEY_BYTES];
	uint8_t state_mac[TIDS_SEAL_KEY_BYTES];
	uint8_t bucket[BUCKETS][TIDS_SEAL_KEY_BYTES];
	uint64_t epoch;
	unsigned slot;                  /* the epoch file's slot holding E_epoch */
	char epoch_path[4096];
};

/* Scratch for a change of epoch, guarded too. */
struct rekey {
	uint8_t epoch_key[TIDS_SEAL_KEY_BYTES];
	uint8_t bucket[BUCKETS][TIDS_SEAL_KEY_BYTES];
	uint8_t key[TIDS_SEAL_KEY_BYTES];
	uint8_t wrapped[TIDS_SEAL_WRAPPED_KEY_BYTES];
	bool fresh[BUCKETS];
};

static unsigned bucket_of(const char *grant_id)
{
	uint8_t h[16];

	crypto_generichash(h, sizeof(h), (const uint8_t *)grant_id, strlen(grant_id), NULL, 0);
	return h[0];
}

static void grant_row(const char *grant_id, char *key, size_t len)
{
	snprintf(key, len, "%03u/%s", bucket_of(grant_id), grant_id);
}

static void bucket_label(unsigned b, char *buf, size_t len)
{
	snprintf(buf, len, "bucket/%u", b);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* --- the master key and the hub data key ---------------------------------------- */

static int load_master(struct tidsd *d, struct keyring *k)
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
	r = tids_keyfile_read_secret(path, k->master, err, sizeof(err));
	if (r == TIDS_ENOENT && *d->conf->master_key == '\0' && (creds == NULL || *creds == '\0')) {
		/* First start with nothing configured: make one next to the data
		 * it protects. Operators who keep keys apart set hub.master_key
		 * or pass a credential. */
		randombytes_buf(k->master, sizeof(k->master));
		r = tids_keyfile_write_secret(path, k->master, err, sizeof(err));
		if (r == 0) {
			tids_log_info("created master key %s", path);
			r = tids_keyfile_read_secret(path, k->master, err, sizeof(err));
		}
	}
	if (r != 0)
		tids_log_warnx("master key: %s", err);
	return r;
}

/* hub.key -> hub.pub; any other name gets ".pub" appended. */
static int pub_path(const char *key_path, char *buf, size_t len)
{
	size_t n = strlen(key_path);
	int w;

	if (n > 4 && strcmp(key_path + n - 4, ".key") == 0)
		w = snprintf(buf, len, "%.*s.pub", (int)(n - 4), key_path);
	else
		w = snprintf(buf, len, "%s.pub", key_path);
	return w > 0 && (size_t)w < len ? 0 : TIDS_ETOOBIG;
}

int keys_write_hub_pub(struct tidsd *d)
{
	char path[4096], tmp[4200], text[TIDS_KEY_BASE64_BYTES + 1], have[TIDS_KEY_BASE64_BYTES + 8];
	size_t n;
	FILE *f;
	int fd;

	const char *creds = getenv("CREDENTIALS_DIRECTORY");
	size_t cl = creds != NULL ? strlen(creds) : 0;

	/* A credential's directory is read-only: hub.pub goes to state.dir. */
	if (cl > 0 && strncmp(d->conf->hub_key, creds, cl) == 0 && d->conf->hub_key[cl] == '/')
		config_state_path(d->conf, "hub.pub", path, sizeof(path));
	else if (pub_path(d->conf->hub_key, path, sizeof(path)) != 0)
		return TIDS_ETOOBIG;
	tids_key_to_base64(d->hub.sign_pk, text);
	n = strlen(text);
	text[n++] = '\n';
	/* Already there and right: leave it (and its mtime) alone. */
	f = fopen(path, "re");
	if (f != NULL) {
		size_t got = fread(have, 1, sizeof(have), f);

		fclose(f);
		if (got == n && memcmp(have, text, n) == 0)
			return 0;
	}
	/* The same format as tidsctl keygen's NAME.pub, written whole or not
	 * at all: a participant may copy it at any moment. */
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, n) != (ssize_t)n || fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
		tids_log_warnx("hub key: cannot write %s: %s", tmp, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		return TIDS_EIO;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		tids_log_warnx("hub key: cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		return TIDS_EIO;
	}
	tids_log_info("wrote the hub's public key to %s", path);
	return 0;
}

/* D; only what is derived from it is kept. */
static int load_data_key(struct tidsd *d, struct keyring *k, struct rekey *t)
{
	size_t len;
	int r = store_get_blob(d->store, "hub_key", "ingress", t->wrapped, sizeof(t->wrapped), &len);

	/* Made once for the hub, by its first instance, and given to the
	 * others through the hub state (hubstate.c). */
	if (r == TIDS_ENOENT) {
		tids_log_warnx("no hub data key in the view of the hub state");
		return TIDS_ECRYPTO;
	} else if (r != 0 || len != sizeof(t->wrapped)) {
		return TIDS_EDB;
	} else if (tids_seal_unwrap_key(k->master, "ingress", t->wrapped, t->key) != 0) {
		tids_log_warnx("the hub data key does not unwrap: wrong master key for this registry?");
		return TIDS_ECRYPTO;
	}
	tids_seal_derive(t->key, TIDS_SEAL_DOMAIN_INGRESS, k->ingress);
	tids_seal_derive(t->key, TIDS_SEAL_DOMAIN_DELIVERY, k->delivery);
	tids_seal_derive(t->key, TIDS_DOMAIN_STATE, k->state_mac);
	sodium_memzero(t->key, sizeof(t->key));
	return 0;
}

/* --- epochs and buckets ------------------------------------------------------- */

/* Writes the bucket keys of t (all of them) under t's epoch key. */
static int store_buckets(struct tidsd *d, struct rekey *t, uint64_t epoch)
{
	uint8_t row[BUCKET_ROW_BYTES];
	char label[32], key[8];
	int r = 0;

	for (unsigned b = 0; b < BUCKETS && r == 0; b++) {
		bucket_label(b, label, sizeof(label));
		snprintf(key, sizeof(key), "%03u", b);
		put64(row, epoch);
		tids_seal_wrap_key(t->epoch_key, label, t->bucket[b], row + 8);
		r = store_set_blob(d->store, NS_BUCKET, key, row, sizeof(row));
	}
	return r != 0 ? TIDS_EDB : 0;
}

/* Writes t's epoch key into slot as epoch, wrapped under M. */
static int write_slot(struct keyring *k, unsigned slot, uint64_t epoch, const uint8_t *epoch_key)
{
	struct tids_epoch_slot s = { .epoch = epoch };
	char label[32], err[512];
	int r;

	if (epoch != 0) {
		tids_epoch_label(epoch, label, sizeof(label));
		tids_seal_wrap_key(k->master, label, epoch_key, s.wrapped);
	}
	r = tids_epoch_write_slot(k->epoch_path, slot, &s, err, sizeof(err));
	if (r != 0)
		tids_log_warnx("epoch key: %s", err);
	return r;
}

struct bucket_load {
	struct keyring *k;
	const uint8_t *epoch_key;
	uint64_t epoch;
	size_t loaded, foreign;
	bool seen[BUCKETS];
};

static int load_bucket(void *ctx, const char *id, const uint8_t *blob, size_t len)
{
	struct bucket_load *bl = ctx;
	char label[32];
	unsigned b;

	if (sscanf(id, "%3u", &b) != 1 || b >= BUCKETS || len != BUCKET_ROW_BYTES)
		return 0;
	bucket_label(b, label, sizeof(label));
	if (bl->epoch_key == NULL || get64(blob) != bl->epoch ||
	    tids_seal_unwrap_key(bl->epoch_key, label, blob + 8, bl->k->bucket[b]) != 0) {
		bl->foreign++;
		return 0;
	}
	bl->seen[b] = true;
	bl->loaded++;
	return 0;
}

/* The epoch of the bucket rows (the newest if they disagree), 0 if none. */
static int bucket_epoch(void *ctx, const char *id, const uint8_t *blob, size_t len)
{
	uint64_t *epoch = ctx;

	(void)id;
	if (len == BUCKET_ROW_BYTES && get64(blob) > *epoch)
		*epoch = get64(blob);
	return 0;
}

/* Starts epoch `epoch` with fresh bucket keys (a new hub, or one whose
 * epoch key is gone): every grant key stored before is unrecoverable. */
static int fresh_epoch(struct tidsd *d, struct keyring *k, struct rekey *t, uint64_t epoch, unsigned slot)
{
	int r;

	randombytes_buf(t->epoch_key, sizeof(t->epoch_key));
	randombytes_buf(t->bucket, sizeof(t->bucket));
	if ((r = write_slot(k, slot, epoch, t->epoch_key)) != 0)
		return r;
	if ((r = store_buckets(d, t, epoch)) != 0 || (r = store_checkpoint(d->store)) != 0)
		return r;
	if ((r = write_slot(k, 1 - slot, 0, NULL)) != 0)
		return r;
	memcpy(k->bucket, t->bucket, sizeof(k->bucket));
	k->epoch = epoch;
	k->slot = slot;
	return 0;
}

static int load_epoch(struct tidsd *d, struct keyring *k, struct rekey *t)
{
	struct tids_epoch_slot slots[TIDS_EPOCH_SLOTS];
	struct bucket_load bl = { .k = k };
	char err[512], label[32];
	uint64_t used = 0, newest = 0;
	int r, at = -1;

	r = tids_epoch_read(k->epoch_path, slots, err, sizeof(err));
	if (r != 0 && r != TIDS_ENOENT) {
		tids_log_warnx("epoch key: %s", err);
		return r;
	}
	if (store_each_kv(d->store, NS_BUCKET, bucket_epoch, &used) != 0)
		return TIDS_EDB;
	for (int i = 0; i < TIDS_EPOCH_SLOTS; i++) {
		newest = slots[i].epoch > newest ? slots[i].epoch : newest;
		if (used != 0 && slots[i].epoch == used)
			at = i;
	}
	newest = used > newest ? used : newest;
	if (used == 0) {
		tids_log_info("keys: epoch %llu begins (%s)", (unsigned long long)newest + 1, k->epoch_path);
		return fresh_epoch(d, k, t, newest + 1, 0);
	}
	if (at < 0) {
		tids_log_warnx("keys: the registry's grant keys are wrapped under epoch %llu, which %s does not hold "
			       "(erased, or the registry comes from a backup): they cannot be recovered, and their grants "
			       "carry no data until they are granted anew", (unsigned long long)used, k->epoch_path);
		return fresh_epoch(d, k, t, newest + 1, 0);
	}
	tids_epoch_label(used, label, sizeof(label));
	if (tids_seal_unwrap_key(k->master, label, slots[at].wrapped, t->epoch_key) != 0) {
		tids_log_warnx("keys: epoch %llu in %s does not unwrap under the master key: wrong master key?",
			       (unsigned long long)used, k->epoch_path);
		return TIDS_ECRYPTO;
	}
	bl.epoch_key = t->epoch_key;
	bl.epoch = used;
	r = store_each_kv(d->store, NS_BUCKET, load_bucket, &bl);
	sodium_memzero(t->epoch_key, sizeof(t->epoch_key));
	if (r != 0)
		return TIDS_EDB;
	if (bl.loaded != BUCKETS)
		tids_log_warnx("keys: %zu of %d bucket keys of epoch %llu are missing or damaged: the grants in them "
			       "cannot be opened", (size_t)BUCKETS - bl.loaded, BUCKETS, (unsigned long long)used);
	k->epoch = used;
	k->slot = (unsigned)at;
	/* A change of epoch interrupted by a crash: finish erasing. */
	if (slots[1 - at].epoch != 0) {
		tids_log_info("keys: erasing epoch %llu, left by an interrupted change of epoch",
			      (unsigned long long)slots[1 - at].epoch);
		if ((r = store_checkpoint(d->store)) != 0 || (r = write_slot(k, 1 - (unsigned)at, 0, NULL)) != 0)
			return r;
	}
	return 0;
}

/* Grant keys of the first layout (one row per grant, wrapped under M):
 * wrapped again under their bucket, and the old rows deleted. */
struct migrate {
	struct tidsd *d;
	struct rekey *t;
	char (*ids)[TIDS_ID_MAX + 1];
	size_t n, cap;
};

static int collect_old(void *ctx, const char *id, const uint8_t *blob, size_t len)
{
	struct migrate *m = ctx;

	(void)blob;
	if (strchr(id, '/') != NULL || len != TIDS_SEAL_WRAPPED_KEY_BYTES || strlen(id) > TIDS_ID_MAX)
		return 0;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		char (*ids)[TIDS_ID_MAX + 1] = realloc(m->ids, cap * sizeof(*ids));

		if (ids == NULL)
			return TIDS_ENOMEM;
		m->ids = ids;
		m->cap = cap;
	}
	snprintf(m->ids[m->n++], TIDS_ID_MAX + 1, "%s", id);
	return 0;
}

static int migrate_v1(struct tidsd *d, struct keyring *k, struct rekey *t)
{
	struct migrate m = { .d = d, .t = t };
	char row[TIDS_ID_MAX + 8];
	size_t len, done = 0;
	int r = store_each_kv(d->store, NS_GRANT, collect_old, &m);

	for (size_t i = 0; r == 0 && i < m.n; i++) {
		const char *id = m.ids[i];

		if (store_get_blob(d->store, NS_GRANT, id, t->wrapped, sizeof(t->wrapped), &len) != 0 ||
		    len != sizeof(t->wrapped) || tids_seal_unwrap_key(k->master, id, t->wrapped, t->key) != 0) {
			tids_log_warnx("keys: grant %s: its key of the first layout does not unwrap; dropped", id);
		} else {
			grant_row(id, row, sizeof(row));
			tids_seal_wrap_key(k->bucket[bucket_of(id)], id, t->key, t->wrapped);
			if (store_set_blob(d->store, NS_GRANT, row, t->wrapped, sizeof(t->wrapped)) != 0)
				r = TIDS_EDB;
			done++;
		}
		if (r == 0 && store_delete_key(d->store, NS_GRANT, id) != 0)
			r = TIDS_EDB;
	}
	sodium_memzero(t->key, sizeof(t->key));
	free(m.ids);
	if (r != 0 || m.n == 0)
		return r;
	tids_log_info("keys: %zu grant keys moved from the master key to epoch %llu", done,
		      (unsigned long long)k->epoch);
	/* The copies wrapped under M must not stay in the WAL. */
	return store_checkpoint(d->store);
}

int keys_open(struct tidsd *d)
{
	struct keyring *k = tids_secmem_alloc(sizeof(*k));
	struct rekey *t = tids_secmem_alloc(sizeof(*t));
	int r;

	if (k == NULL || t == NULL) {
		tids_secmem_free(k);
		tids_secmem_free(t);
		return TIDS_ENOMEM;
	}
	if (*d->conf->epoch_key != '\0')
		snprintf(k->epoch_path, sizeof(k->epoch_path), "%s", d->conf->epoch_key);
	else
		config_state_path(d->conf, "epoch.key", k->epoch_path, sizeof(k->epoch_path));
	if ((r = load_master(d, k)) != 0 || (r = load_epoch(d, k, t)) != 0 || (r = migrate_v1(d, k, t)) != 0) {
		tids_secmem_free(k);
		tids_secmem_free(t);
		return r;
	}
	tids_secmem_free(t);
	d->keys = k;
	return 0;
}

int keys_open_data(struct tidsd *d)
{
	struct rekey *t = tids_secmem_alloc(sizeof(*t));
	int r;

	if (t == NULL)
		return TIDS_ENOMEM;
	r = load_data_key(d, d->keys, t);
	tids_secmem_free(t);
	return r;
}

/* --- keys that travel with the hub state -------------------------------------- */

void keys_hub_state_mac(const struct tidsd *d, uint8_t out[TIDS_SEAL_KEY_BYTES])
{
	tids_seal_derive(d->keys->master, "tids.v1.registry", out);
}

void keys_wrap_for_hub(const struct tidsd *d, const char *label, const uint8_t key[TIDS_SEAL_KEY_BYTES],
		       uint8_t out[TIDS_SEAL_WRAPPED_KEY_BYTES])
{
	tids_seal_wrap_key(d->keys->master, label, key, out);
}

int keys_unwrap_from_hub(const struct tidsd *d, const char *label, const uint8_t in[TIDS_SEAL_WRAPPED_KEY_BYTES],
			 uint8_t key[TIDS_SEAL_KEY_BYTES])
{
	return tids_seal_unwrap_key(d->keys->master, label, in, key);
}

int keys_grant_import(struct tidsd *d, const char *grant_id, const uint8_t in[TIDS_SEAL_WRAPPED_KEY_BYTES])
{
	uint8_t key[TIDS_SEAL_KEY_BYTES], wrapped[TIDS_SEAL_WRAPPED_KEY_BYTES];
	char row[TIDS_ID_MAX + 8];
	int r;

	if (tids_seal_unwrap_key(d->keys->master, grant_id, in, key) != 0)
		return TIDS_ECRYPTO;
	tids_seal_wrap_key(d->keys->bucket[bucket_of(grant_id)], grant_id, key, wrapped);
	sodium_memzero(key, sizeof(key));
	grant_row(grant_id, row, sizeof(row));
	r = store_set_blob(d->store, NS_GRANT, row, wrapped, sizeof(wrapped));
	return r != 0 ? TIDS_EDB : 0;
}

int keys_grant_export(struct tidsd *d, const char *grant_id, uint8_t out[TIDS_SEAL_WRAPPED_KEY_BYTES])
{
	uint8_t key[TIDS_SEAL_KEY_BYTES];
	int r = keys_grant_key(d, grant_id, key);

	if (r == 0)
		tids_seal_wrap_key(d->keys->master, grant_id, key, out);
	sodium_memzero(key, sizeof(key));
	return r;
}

void keys_close(struct tidsd *d)
{
	tids_secmem_free(d->keys);
	d->keys = NULL;
}

const uint8_t *keys_ingress(const struct tidsd *d)
{
	return d->keys->ingress;
}

const uint8_t *keys_delivery(const struct tidsd *d)
{
	return d->keys->delivery;
}

const uint8_t *keys_state_mac(const struct tidsd *d)
{
	return d->keys->state_mac;
}

/* --- grant keys ----------------------------------------------------------------- */

int keys_grant_create(struct tidsd *d, const char *grant_id)
{
	uint8_t key[TIDS_SEAL_KEY_BYTES], wrapped[TIDS_SEAL_WRAPPED_KEY_BYTES];
	char row[TIDS_ID_MAX + 8];
	int r;

	randombytes_buf(key, sizeof(key));
	tids_seal_wrap_key(d->keys->bucket[bucket_of(grant_id)], grant_id, key, wrapped);
	sodium_memzero(key, sizeof(key));
	grant_row(grant_id, row, sizeof(row));
	r = store_set_blob(d->store, NS_GRANT, row, wrapped, sizeof(wrapped));
	return r != 0 ? TIDS_EDB : 0;
}

int keys_grant_key(struct tidsd *d, const char *grant_id, uint8_t key[TIDS_SEAL_KEY_BYTES])
{
	uint8_t wrapped[TIDS_SEAL_WRAPPED_KEY_BYTES];
	char row[TIDS_ID_MAX + 8];
	size_t len;
	int r;

	grant_row(grant_id, row, sizeof(row));
	r = store_get_blob(d->store, NS_GRANT, row, wrapped, sizeof(wrapped), &len);
	if (r != 0)
		return r == TIDS_ENOENT ? TIDS_ECRYPTO : r;
	if (len != sizeof(wrapped))
		return TIDS_EDB;
	return tids_seal_unwrap_key(d->keys->bucket[bucket_of(grant_id)], grant_id, wrapped, key);
}

/* The rows of one bucket, collected before any is rewritten (a row
 * replaced under a running SELECT could be visited again). */
struct bucket_rows {
	char (*rows)[TIDS_ID_MAX + 8];
	uint8_t (*wrapped)[TIDS_SEAL_WRAPPED_KEY_BYTES];
	size_t n, cap;
};

static int collect_row(void *ctx, const char *row, const uint8_t *blob, size_t len)
{
	struct bucket_rows *br = ctx;

	if (len != TIDS_SEAL_WRAPPED_KEY_BYTES || strlen(row) >= TIDS_ID_MAX + 8)
		return 0;
	if (br->n == br->cap) {
		size_t cap = br->cap ? br->cap * 2 : 64;
		void *rows = realloc(br->rows, cap * sizeof(*br->rows));

		if (rows == NULL)
			return TIDS_ENOMEM;
		br->rows = rows;
		rows = realloc(br->wrapped, cap * sizeof(*br->wrapped));
		if (rows == NULL)
			return TIDS_ENOMEM;
		br->wrapped = rows;
		br->cap = cap;
	}
	snprintf(br->rows[br->n], sizeof(br->rows[0]), "%s", row);
	memcpy(br->wrapped[br->n++], blob, TIDS_SEAL_WRAPPED_KEY_BYTES);
	return 0;
}

/* Wraps the live grants of bucket b again, under its new key in t. */
static int rewrap_bucket(struct tidsd *d, struct rekey *t, unsigned b)
{
	struct bucket_rows br = { 0 };
	char prefix[8];
	int r;

	snprintf(prefix, sizeof(prefix), "%03u/", b);
	r = store_each_kv_prefix(d->store, NS_GRANT, prefix, collect_row, &br);
	for (size_t i = 0; r == 0 && i < br.n; i++) {
		const char *id = br.rows[i] + 4;

		if (tids_seal_unwrap_key(d->keys->bucket[b], id, br.wrapped[i], t->key) != 0) {
			/* Not openable now, not openable ever: drop it. */
			tids_log_warnx("keys: grant %s: its key does not unwrap; dropped", id);
			r = store_delete_key(d->store, NS_GRANT, br.rows[i]);
			continue;
		}
		tids_seal_wrap_key(t->bucket[b], id, t->key, t->wrapped);
		sodium_memzero(t->key, sizeof(t->key));
		r = store_set_blob(d->store, NS_GRANT, br.rows[i], t->wrapped, sizeof(t->wrapped));
	}
	free(br.rows);
	free(br.wrapped);
	return r != 0 ? TIDS_EDB : 0;
}

int keys_grants_destroy(struct tidsd *d, const char *const *ids, size_t n, char *err, size_t errlen)
{
	struct keyring *k = d->keys;
	struct rekey *t;
	char row[TIDS_ID_MAX + 8];
	uint64_t epoch = k->epoch + 1;
	unsigned slot = 1 - k->slot;
	int r = 0;

	if (n == 0)
		return 0;
	/* What is already batched is made durable on its own: if the change
	 * of keys fails, it alone is rolled back. */
	if (store_commit(d->store) != 0)
		return tids_fail(err, errlen, TIDS_EDB, "registry could not be written");
	t = tids_secmem_alloc(sizeof(*t));
	if (t == NULL)
		return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
	memcpy(t->bucket, k->bucket, sizeof(t->bucket));
	randombytes_buf(t->epoch_key, sizeof(t->epoch_key));
	/* 1. The new epoch key is on disk before anything is wrapped under it. */
	if ((r = write_slot(k, slot, epoch, t->epoch_key)) != 0) {
		r = tids_fail(err, errlen, TIDS_EIO, "epoch key file could not be written");
		goto out;
	}
	/* 2. The keys go; their buckets get new keys; every bucket moves to the
	 * new epoch. One SQLite transaction. */
	for (size_t i = 0; i < n; i++) {
		unsigned b = bucket_of(ids[i]);

		grant_row(ids[i], row, sizeof(row));
		if (store_delete_key(d->store, NS_GRANT, row) != 0) {
			r = TIDS_EDB;
			break;
		}
		if (!t->fresh[b]) {
			t->fresh[b] = true;
			randombytes_buf(t->bucket[b], sizeof(t->bucket[b]));
		}
	}
	for (unsigned b = 0; r == 0 && b < BUCKETS; b++)
		if (t->fresh[b])
			r = rewrap_bucket(d, t, b);
	if (r == 0)
		r = store_buckets(d, t, epoch);
	if (r == 0)
		r = store_commit(d->store);
	if (r != 0) {
		store_rollback(d->store);
		if (write_slot(k, slot, 0, NULL) != 0)
			tids_log_warnx("keys: the unused epoch %llu could not be erased", (unsigned long long)epoch);
		r = tids_fail(err, errlen, TIDS_EDB, "registry could not be written; the keys are unchanged");
		goto out;
	}
	memcpy(k->bucket, t->bucket, sizeof(k->bucket));
	k->epoch = epoch;
	k->slot = slot;
	/* 3. No older page of the registry stays in its WAL. */
	if (store_checkpoint(d->store) != 0)
		tids_log_warnx("keys: the registry's WAL could not be truncated; old wrapped keys stay in it "
			       "(useless once epoch %llu is erased)", (unsigned long long)epoch - 1);
	/* 4. The old epoch key is overwritten: whatever it wrapped is gone. */
	if (write_slot(k, 1 - slot, 0, NULL) != 0)
		tids_log_warnx("keys: epoch %llu could not be erased from %s: the revoked grants' keys can be "
			       "recovered until the next change of epoch", (unsigned long long)epoch - 1, k->epoch_path);
	tids_log_info("keys: %zu grant keys destroyed; epoch %llu begins", n, (unsigned long long)epoch);
	r = 0;
out:
	tids_secmem_free(t);
	return r;
}
