/*
 * Keys at rest, in the library: derived keys per use, associated data that
 * binds a sealing to kind, topic, party, label and record; the epoch key
 * file (parse, modes, erasure in place); the MAC gate of state entries,
 * with known answers; guarded memory that core dumps leave out.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "tids/epoch.h"
#include "tids/error.h"
#include "tids/seal.h"
#include "tids/secmem.h"
#include "tids/wire.h"

static char err[512];

START_TEST(derive_separates_uses)
{
	uint8_t key[32], a[32], b[32], again[32], want[32];

	randombytes_buf(key, sizeof(key));
	tids_seal_derive(key, TIDS_SEAL_DOMAIN_INGRESS, a);
	tids_seal_derive(key, TIDS_SEAL_DOMAIN_DELIVERY, b);
	tids_seal_derive(key, TIDS_SEAL_DOMAIN_INGRESS, again);
	ck_assert(memcmp(a, b, 32) != 0);
	ck_assert(memcmp(a, key, 32) != 0);
	ck_assert_mem_eq(a, again, 32);
	/* BLAKE2b-256 keyed with the key, over the domain: the documented form. */
	crypto_generichash(want, 32, (const uint8_t *)TIDS_SEAL_DOMAIN_DELIVERY, strlen(TIDS_SEAL_DOMAIN_DELIVERY),
			   key, 32);
	ck_assert_mem_eq(b, want, 32);
}
END_TEST

START_TEST(ad_binds_every_part)
{
	static const struct { const char *kind, *topic, *party, *label; } moved[] = {
		{ "ingress", "tids.h.deliver.lessor", "lessor", "hub" },      /* another kind */
		{ "delivery", "tids.h.deliver.other", "lessor", "hub" },      /* another topic */
		{ "delivery", "tids.h.deliver.lessor", "other", "hub" },      /* another recipient */
		{ "delivery", "tids.h.deliver.lessor", "lessor", "grant:g" }, /* another label */
		{ "delivery", "tids.h.deliver.lesso", "rlessor", "hub" },     /* shifted boundaries */
	};
	uint8_t key[32], rid[16], rid2[16], ad[TIDS_SEAL_AD_MAX], sealed[5 + TIDS_SEAL_OVERHEAD], out[64];
	char longtopic[800];
	size_t n, olen;

	randombytes_buf(key, sizeof(key));
	randombytes_buf(rid, sizeof(rid));
	memcpy(rid2, rid, 16);
	rid2[15] ^= 1;
	n = tids_seal_ad(ad, "delivery", "tids.h.deliver.lessor", "lessor", "hub", rid);
	ck_assert_uint_gt(n, 0);
	tids_seal(key, ad, n, (const uint8_t *)"hello", 5, sealed);
	ck_assert_int_eq(tids_seal_open(key, ad, n, sealed, sizeof(sealed), out, &olen), 0);
	ck_assert_uint_eq(olen, 5);
	ck_assert_mem_eq(out, "hello", 5);
	for (size_t i = 0; i < sizeof(moved) / sizeof(moved[0]); i++) {
		size_t m = tids_seal_ad(ad, moved[i].kind, moved[i].topic, moved[i].party, moved[i].label, rid);

		ck_assert_uint_gt(m, 0);
		ck_assert_msg(tids_seal_open(key, ad, m, sealed, sizeof(sealed), out, &olen) == TIDS_ECRYPTO,
			      "opened under AD variant %zu", i);
	}
	n = tids_seal_ad(ad, "delivery", "tids.h.deliver.lessor", "lessor", "hub", rid2);
	ck_assert_int_eq(tids_seal_open(key, ad, n, sealed, sizeof(sealed), out, &olen), TIDS_ECRYPTO);
	/* Too long to bind: nothing is sealed with a truncated AD. */
	memset(longtopic, 'x', sizeof(longtopic) - 1);
	longtopic[sizeof(longtopic) - 1] = '\0';
	ck_assert_uint_eq(tids_seal_ad(ad, "delivery", longtopic, "lessor", "", rid), 0);
}
END_TEST

START_TEST(wrap_needs_its_label_and_key)
{
	uint8_t w[32], other[32], key[32], wrapped[TIDS_SEAL_WRAPPED_KEY_BYTES], back[32];

	randombytes_buf(w, 32);
	randombytes_buf(other, 32);
	randombytes_buf(key, 32);
	tids_seal_wrap_key(w, "g1", key, wrapped);
	ck_assert_int_eq(tids_seal_unwrap_key(w, "g1", wrapped, back), 0);
	ck_assert_mem_eq(back, key, 32);
	ck_assert_int_eq(tids_seal_unwrap_key(w, "g2", wrapped, back), TIDS_ECRYPTO);
	ck_assert(sodium_is_zero(back, 32));
	ck_assert_int_eq(tids_seal_unwrap_key(other, "g1", wrapped, back), TIDS_ECRYPTO);
}
END_TEST

static void file_bytes(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, cap);
	ck_assert_int_ge(n, 0);
	*len = (size_t)n;
	close(fd);
}

static void file_put(const char *path, const uint8_t *buf, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
	ck_assert_int_eq(chmod(path, mode), 0);
}

static int contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
	for (size_t i = 0; i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return 1;
	return 0;
}

START_TEST(epoch_file)
{
	char dir[] = "/tmp/tids-epoch-XXXXXX", path[128], link_path[128];
	struct tids_epoch_slot s1 = { 0 }, s2 = { 0 }, empty = { 0 }, got[2];
	uint8_t buf[512], master[32], e1[32], back[32];
	char label[32];
	size_t len;
	struct stat st;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/epoch.key", dir);
	ck_assert_int_eq(tids_epoch_read(path, got, err, sizeof(err)), TIDS_ENOENT);
	randombytes_buf(master, 32);
	randombytes_buf(e1, 32);
	s1.epoch = 1;
	tids_epoch_label(1, label, sizeof(label));
	ck_assert_str_eq(label, "epoch/1");
	tids_seal_wrap_key(master, label, e1, s1.wrapped);
	s2.epoch = 2;
	randombytes_buf(s2.wrapped, sizeof(s2.wrapped));

	ck_assert_int_eq(tids_epoch_write_slot(path, 0, &s1, err, sizeof(err)), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(st.st_size, TIDS_EPOCH_FILE_BYTES);
	ck_assert_int_eq(tids_epoch_read(path, got, err, sizeof(err)), 0);
	ck_assert_uint_eq(got[0].epoch, 1);
	ck_assert_uint_eq(got[1].epoch, 0);
	ck_assert_int_eq(tids_seal_unwrap_key(master, label, got[0].wrapped, back), 0);
	ck_assert_mem_eq(back, e1, 32);

	/* A second epoch beside the first, then the first erased in place. */
	ck_assert_int_eq(tids_epoch_write_slot(path, 1, &s2, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_epoch_read(path, got, err, sizeof(err)), 0);
	ck_assert_uint_eq(got[0].epoch, 1);
	ck_assert_uint_eq(got[1].epoch, 2);
	ck_assert_int_eq(tids_epoch_write_slot(path, 0, &empty, err, sizeof(err)), 0);
	file_bytes(path, buf, sizeof(buf), &len);
	ck_assert_uint_eq(len, TIDS_EPOCH_FILE_BYTES);
	ck_assert(!contains(buf, len, s1.wrapped, sizeof(s1.wrapped)));
	ck_assert(contains(buf, len, s2.wrapped, sizeof(s2.wrapped)));
	ck_assert_int_eq(tids_epoch_read(path, got, err, sizeof(err)), 0);
	ck_assert_uint_eq(got[0].epoch, 0);
	ck_assert_uint_eq(got[1].epoch, 2);
	ck_assert_int_eq(tids_epoch_write_slot(path, 2, &s2, err, sizeof(err)), TIDS_EINVAL);

	/* Readable by others, a symlink, another file: refused. */
	ck_assert_int_eq(chmod(path, 0640), 0);
	ck_assert_int_eq(tids_epoch_read(path, got, err, sizeof(err)), TIDS_EPERM);
	ck_assert_ptr_nonnull(strstr(err, "chmod 600"));
	ck_assert_int_eq(tids_epoch_write_slot(path, 0, &s1, err, sizeof(err)), TIDS_EPERM);
	ck_assert_int_eq(chmod(path, 0600), 0);
	snprintf(link_path, sizeof(link_path), "%s/link.key", dir);
	ck_assert_int_eq(symlink(path, link_path), 0);
	ck_assert_int_lt(tids_epoch_read(link_path, got, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "symlink"));
	unlink(link_path);
	file_put(path, (const uint8_t *)"not an epoch file\n", 18, 0600);
	ck_assert_int_eq(tids_epoch_read(path, got, err, sizeof(err)), TIDS_ETRUNC);
	ck_assert_int_eq(tids_epoch_write_slot(path, 0, &s1, err, sizeof(err)), TIDS_EINVAL);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(epoch_parse_refuses)
{
	uint8_t f[TIDS_EPOCH_FILE_BYTES + 1] = { 0 };
	struct tids_epoch_slot got[2];

	memcpy(f, TIDS_EPOCH_MAGIC, TIDS_EPOCH_MAGIC_BYTES);
	ck_assert_int_eq(tids_epoch_parse(f, TIDS_EPOCH_FILE_BYTES, got, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_epoch_parse(f, TIDS_EPOCH_FILE_BYTES - 1, got, err, sizeof(err)), TIDS_ETRUNC);
	ck_assert_int_eq(tids_epoch_parse(f, TIDS_EPOCH_FILE_BYTES + 1, got, err, sizeof(err)), TIDS_ETOOBIG);
	/* An empty slot with bytes left in it: a key not erased. */
	f[TIDS_EPOCH_MAGIC_BYTES + 20] = 1;
	ck_assert_int_eq(tids_epoch_parse(f, TIDS_EPOCH_FILE_BYTES, got, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not erased"));
	f[TIDS_EPOCH_MAGIC_BYTES + 20] = 0;
	/* Two slots, one epoch. */
	f[TIDS_EPOCH_MAGIC_BYTES + 7] = 3;
	f[TIDS_EPOCH_MAGIC_BYTES + TIDS_EPOCH_SLOT_BYTES + 7] = 3;
	ck_assert_int_eq(tids_epoch_parse(f, TIDS_EPOCH_FILE_BYTES, got, err, sizeof(err)), TIDS_EINVAL);
	f[TIDS_EPOCH_MAGIC_BYTES + TIDS_EPOCH_SLOT_BYTES + 7] = 4;
	ck_assert_int_eq(tids_epoch_parse(f, TIDS_EPOCH_FILE_BYTES, got, err, sizeof(err)), 0);
	ck_assert_uint_eq(got[0].epoch, 3);
	ck_assert_uint_eq(got[1].epoch, 4);
	f[0] = 'X';
	ck_assert_int_eq(tids_epoch_parse(f, TIDS_EPOCH_FILE_BYTES, got, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "magic"));
}
END_TEST

/* One state entry, signed as the router signs it. */
struct entry {
	uint8_t *value;
	size_t len;
	uint8_t mac[32], seq[8];
	struct tids_state_message m;
};

static void make_entry(struct entry *e, const uint8_t key[32], const char *topic, const char *k, uint64_t seq,
		       uint64_t count, int tombstone)
{
	struct tids_router_state st = { .kind = TIDS_STATE_COUNT, .count = count };

	memset(e, 0, sizeof(*e));
	if (!tombstone)
		ck_assert_int_eq(tids_wire_encode_router_state(&st, &e->value, &e->len), 0);
	for (int i = 7; i >= 0; i--, seq >>= 8)
		e->seq[i] = (uint8_t)seq;
	e->m = (struct tids_state_message){ topic, (const uint8_t *)k, strlen(k), e->value, e->len,
					    e->mac, 32, e->seq, 8 };
	{
		uint64_t s = 0;

		for (int i = 0; i < 8; i++)
			s = s << 8 | e->seq[i];
		tids_state_mac(key, topic, (const uint8_t *)k, strlen(k), s, e->value, e->len, e->mac);
	}
}

START_TEST(state_entries_need_their_mac)
{
	uint8_t key[32], other[32];
	struct tids_router_state st;
	struct entry e;
	uint64_t seq;

	randombytes_buf(key, 32);
	randombytes_buf(other, 32);
	make_entry(&e, key, "tids.h.state", "uses/g1", 7, 2, 0);
	ck_assert_int_eq(tids_wire_open_router_state(key, &e.m, &st, &seq, err, sizeof(err)), 0);
	ck_assert_int_eq(st.kind, TIDS_STATE_COUNT);
	ck_assert_uint_eq(st.count, 2);
	ck_assert_uint_eq(seq, 7);
	tids_router_state_free(&st);

	/* Another key, another topic, another hub's MAC key, a changed byte
	 * of the value or of the sequence: refused. */
	e.m.key = (const uint8_t *)"uses/g2";
	ck_assert_int_eq(tids_wire_open_router_state(key, &e.m, &st, &seq, err, sizeof(err)), TIDS_EAUTH);
	ck_assert_ptr_nonnull(strstr(err, "does not verify"));
	e.m.key = (const uint8_t *)"uses/g1";
	e.m.topic = "tids.other.state";
	ck_assert_int_eq(tids_wire_open_router_state(key, &e.m, &st, &seq, err, sizeof(err)), TIDS_EAUTH);
	e.m.topic = "tids.h.state";
	ck_assert_int_eq(tids_wire_open_router_state(other, &e.m, &st, &seq, err, sizeof(err)), TIDS_EAUTH);
	e.value[e.len - 1] ^= 1;
	ck_assert_int_eq(tids_wire_open_router_state(key, &e.m, &st, &seq, err, sizeof(err)), TIDS_EAUTH);
	e.value[e.len - 1] ^= 1;
	e.seq[7] ^= 1;
	ck_assert_int_eq(tids_wire_open_router_state(key, &e.m, &st, &seq, err, sizeof(err)), TIDS_EAUTH);
	e.seq[7] ^= 1;
	/* The value taken away makes a tombstone: refused too. */
	e.m.value = NULL;
	ck_assert_int_eq(tids_wire_open_router_state(key, &e.m, &st, &seq, err, sizeof(err)), TIDS_EAUTH);
	e.m.value = e.value;
	/* No headers: written by someone else. */
	e.m.mac = NULL;
	ck_assert_int_eq(tids_wire_open_router_state(key, &e.m, &st, &seq, err, sizeof(err)), TIDS_EAUTH);
	ck_assert_ptr_nonnull(strstr(err, "tids-mac"));
	e.m.mac = e.mac;
	e.m.seq_len = 7;
	ck_assert_int_eq(tids_wire_open_router_state(key, &e.m, &st, &seq, err, sizeof(err)), TIDS_EAUTH);
	e.m.seq_len = 8;
	e.m.key_len = 0;
	ck_assert_int_eq(tids_wire_open_router_state(key, &e.m, &st, &seq, err, sizeof(err)), TIDS_EBADID);
	e.m.key_len = TIDS_STATE_KEY_MAX + 1;
	ck_assert_int_eq(tids_wire_open_router_state(key, &e.m, &st, &seq, err, sizeof(err)), TIDS_EBADID);
	free(e.value);

	/* A tombstone with its MAC opens, as nothing. */
	make_entry(&e, key, "tids.h.state", "window/x", 9, 0, 1);
	ck_assert_int_eq(tids_wire_open_router_state(key, &e.m, &st, &seq, err, sizeof(err)), 0);
	ck_assert_int_eq(st.kind, 0);
	ck_assert_uint_eq(seq, 9);
	/* A MAC'd entry whose value is not a state entry: the gate says so. */
	make_entry(&e, key, "tids.h.state", "uses/g1", 10, 1, 1);
	{
		uint8_t junk[3] = { 0xff, 0xff, 0xff };

		e.m.value = junk;
		e.m.len = sizeof(junk);
		tids_state_mac(key, "tids.h.state", (const uint8_t *)"uses/g1", 7, 10, junk, sizeof(junk), e.mac);
		ck_assert_int_lt(tids_wire_open_router_state(key, &e.m, &st, &seq, err, sizeof(err)), 0);
		ck_assert_int_ne(tids_wire_open_router_state(key, &e.m, &st, &seq, err, sizeof(err)), TIDS_EAUTH);
	}
}
END_TEST

/* The MAC bytes of state entries, pinned: both gates share one opener, and
 * every hub's state topics must still verify after a change to it. The
 * answers were made by tids_state_mac before the gates were merged. */
static void unhex(const char *h, uint8_t *out, size_t n)
{
	size_t len = 0;

	ck_assert_int_eq(sodium_hex2bin(out, n, h, strlen(h), NULL, &len, NULL), 0);
	ck_assert_uint_eq(len, n);
}

START_TEST(state_entries_known_answers)
{
	static const uint8_t router_value[] = { 0x10, 0xac, 0x02 };   /* count 300 */
	uint8_t key[32], mac[TIDS_STATE_MAC_BYTES], want[TIDS_STATE_MAC_BYTES], hub_value[28];
	const uint8_t seq1[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, seq9[8] = { [7] = 9 }, seq5[8] = { [7] = 5 };
	struct tids_state_message m;
	struct tids_router_state st;
	struct tids_hub_state hs;
	uint64_t seq;

	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
	tids_state_mac(key, "tids.hub-a.state", (const uint8_t *)"uses/g1", 7, UINT64_C(0x0102030405060708),
		       router_value, sizeof(router_value), mac);
	unhex("56325f6626e9de6e06d24c38b84eea43af92d06a3b2ef7cc6b7d2b1d6bb8d029", want, sizeof(want));
	ck_assert_mem_eq(mac, want, sizeof(want));
	m = (struct tids_state_message){ "tids.hub-a.state", (const uint8_t *)"uses/g1", 7, router_value,
					 sizeof(router_value), want, sizeof(want), seq1, 8 };
	ck_assert_int_eq(tids_wire_open_router_state(key, &m, &st, &seq, err, sizeof(err)), 0);
	ck_assert_uint_eq(seq, UINT64_C(0x0102030405060708));
	ck_assert_int_eq(st.kind, TIDS_STATE_COUNT);
	ck_assert_uint_eq(st.count, 300);
	tids_router_state_free(&st);

	/* A tombstone. */
	tids_state_mac(key, "tids.hub-a.state", (const uint8_t *)"window/x", 8, 9, NULL, 0, mac);
	unhex("6161253e8b6c8eaf950de97047a872682fb069134b8167b7465fd7dac772a7bf", want, sizeof(want));
	ck_assert_mem_eq(mac, want, sizeof(want));
	m = (struct tids_state_message){ "tids.hub-a.state", (const uint8_t *)"window/x", 8, NULL, 0,
					 want, sizeof(want), seq9, 8 };
	ck_assert_int_eq(tids_wire_open_router_state(key, &m, &st, &seq, err, sizeof(err)), 0);
	ck_assert_uint_eq(seq, 9);
	ck_assert_int_eq(st.kind, 0);

	/* A hub state entry: body "body", actor "operator", instance "i-1". */
	unhex("0a04626f647922086f70657261746f722a03692d313080d8bdf3ac33", hub_value, sizeof(hub_value));
	tids_state_mac(key, "tids.hub-a.registry", (const uint8_t *)"grant/g-1", 9, 5, hub_value, sizeof(hub_value),
		       mac);
	unhex("eab40f3bca826655273c3b61a897a38fab12b265cbd0cd5cc6ad3da0ee761967", want, sizeof(want));
	ck_assert_mem_eq(mac, want, sizeof(want));
	m = (struct tids_state_message){ "tids.hub-a.registry", (const uint8_t *)"grant/g-1", 9, hub_value,
					 sizeof(hub_value), want, sizeof(want), seq5, 8 };
	ck_assert_int_eq(tids_wire_open_hub_state(key, &m, &hs, &seq, err, sizeof(err)), 0);
	ck_assert_uint_eq(seq, 5);
	ck_assert_uint_eq(hs.body.len, 4);
	ck_assert_mem_eq(hs.body.data, "body", 4);
	ck_assert_str_eq(hs.actor, "operator");
	ck_assert_str_eq(hs.instance, "i-1");
	ck_assert_int_eq(hs.at_ms, 1764400000000);
	tids_hub_state_free(&hs);
}
END_TEST

/* Does the mapping that holds p carry VmFlags "dd" (left out of core dumps)? */
static int dont_dump(const void *p)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int in = 0, dd = -1;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
			continue;
		}
		if (in && strncmp(line, "VmFlags:", 8) == 0) {
			dd = strstr(line, " dd") != NULL;
			break;
		}
	}
	fclose(f);
	return dd;
}

START_TEST(secmem_is_left_out_of_dumps)
{
	struct tids_secmem_pool *pool = tids_secmem_pool_new(32);
	uint8_t *one = tids_secmem_alloc(100), *slots[300], *heap = malloc(64);

	ck_assert_ptr_nonnull(pool);
	ck_assert_ptr_nonnull(one);
	ck_assert(sodium_is_zero(one, 100));
	ck_assert_int_eq(dont_dump(one), 1);
	/* The test can tell: ordinary heap memory is dumped. */
	ck_assert_int_eq(dont_dump(heap), 0);
	for (int i = 0; i < 300; i++) {
		slots[i] = tids_secmem_pool_get(pool);
		ck_assert_ptr_nonnull(slots[i]);
		ck_assert(sodium_is_zero(slots[i], 32));
		ck_assert_int_eq(dont_dump(slots[i]), 1);
		memset(slots[i], 0xa5, 32);
	}
	for (int i = 0; i < 300; i++)
		for (int j = i + 1; j < 300; j += 37)
			ck_assert_ptr_ne(slots[i], slots[j]);
	/* Given back wiped, handed out again zeroed. */
	tids_secmem_pool_put(pool, slots[5]);
	ck_assert(sodium_is_zero(slots[5] + sizeof(void *), 32 - sizeof(void *)));
	ck_assert_ptr_eq(tids_secmem_pool_get(pool), slots[5]);
	ck_assert(sodium_is_zero(slots[5], 32));
	ck_assert_ptr_null(tids_secmem_pool_new(0));
	ck_assert_ptr_null(tids_secmem_pool_new(5000));
	tids_secmem_pool_free(pool);
	tids_secmem_pool_free(NULL);
	tids_secmem_free(one);
	tids_secmem_free(NULL);
	free(heap);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("seal");
	TCase *tc = tcase_create("at rest");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tcase_add_test(tc, derive_separates_uses);
	tcase_add_test(tc, ad_binds_every_part);
	tcase_add_test(tc, wrap_needs_its_label_and_key);
	tcase_add_test(tc, epoch_file);
	tcase_add_test(tc, epoch_parse_refuses);
	tcase_add_test(tc, state_entries_need_their_mac);
	tcase_add_test(tc, state_entries_known_answers);
	tcase_add_test(tc, secmem_is_left_out_of_dumps);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
