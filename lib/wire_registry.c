/*
 * Gates and encoders for registry entries: Participant, Asset, Peer.
 */
#include <stdlib.h>
#include <string.h>

#include "wire_internal.h"

#define REGISTRY_MAX 32768

static int attributes_from(const char *what, Tids__V1__Attribute **in, size_t n,
			   struct backing *b, struct tids_attribute **out, char *err, size_t errlen)
{
	struct tids_attribute *a;

	if (n > TIDS_ATTRIBUTES_MAX)
		return tids_fail(err, errlen, TIDS_ETOOMANY, "%s: %zu attributes, at most %d",
				 what, n, TIDS_ATTRIBUTES_MAX);
	a = wire_alloc(b, n * sizeof(*a));
	if (a == NULL)
		return tids_fail(err, errlen, TIDS_ENOMEM, "%s: out of memory", what);
	for (size_t i = 0; i < n; i++) {
		if (!tids_valid_name(in[i]->name))
			return tids_fail(err, errlen, TIDS_EBADID,
					 "%s: attribute %zu name must be 1-64 of [a-z0-9_]", what, i);
		if (strlen(in[i]->value) > TIDS_ATTR_VALUE_MAX)
			return tids_fail(err, errlen, TIDS_ETOOBIG, "%s: attribute '%s' longer than %d bytes",
					 what, in[i]->name, TIDS_ATTR_VALUE_MAX);
		for (size_t j = 0; j < i; j++)
			if (strcmp(in[i]->name, in[j]->name) == 0)
				return tids_fail(err, errlen, TIDS_EDUP, "%s: attribute '%s' given twice",
						 what, in[i]->name);
		a[i].name = in[i]->name;
		a[i].value = in[i]->value;
	}
	*out = a;
	return 0;
}

static Tids__V1__Attribute **attributes_to(const struct tids_attribute *a, size_t n)
{
	Tids__V1__Attribute **ptrs = malloc(n * (sizeof(*ptrs) + sizeof(**ptrs)) + 1);
	Tids__V1__Attribute *pb;

	if (ptrs == NULL)
		return NULL;
	pb = (Tids__V1__Attribute *)(void *)(ptrs + n);
	for (size_t i = 0; i < n; i++) {
		tids__v1__attribute__init(&pb[i]);
		pb[i].name = (char *)a[i].name;
		pb[i].value = (char *)a[i].value;
		ptrs[i] = &pb[i];
	}
	return ptrs;
}

const char *tids_participant_attribute(const struct tids_participant *p, const char *name)
{
	for (size_t i = 0; i < p->n_attributes; i++)
		if (strcmp(p->attributes[i].name, name) == 0)
			return p->attributes[i].value;
	return NULL;
}

int tids_wire_decode_participant(const uint8_t *buf, size_t len, struct tids_participant *out,
				 char *err, size_t errlen)
{
	struct backing *b;
	Tids__V1__Participant *m;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__participant__descriptor, buf, len, REGISTRY_MAX, 0, &b, err, errlen);
	if (r < 0)
		return r;
	m = (Tids__V1__Participant *)b->msg;
	if ((r = wire_need_id("participant: id", m->id, err, errlen)) < 0 ||
	    (r = wire_need_name("participant: role", m->role, err, errlen)) < 0 ||
	    (r = wire_need_jurisdiction("participant: jurisdiction", m->jurisdiction, err, errlen)) < 0 ||
	    (r = wire_bytes("participant: identity_key", m->identity_key, TIDS_PUBLIC_KEY_BYTES, err, errlen)) < 0 ||
	    (r = wire_opt_id("participant: home_hub", m->home_hub, err, errlen)) < 0 ||
	    (r = wire_text("participant: display_name", m->display_name, 256, err, errlen)) < 0 ||
	    (r = attributes_from("participant", m->attributes, m->n_attributes, b, &out->attributes, err, errlen)) < 0)
		goto out;
	out->id = m->id;
	out->role = m->role;
	out->jurisdiction = m->jurisdiction;
	memcpy(out->identity_key, m->identity_key.data, TIDS_PUBLIC_KEY_BYTES);
	out->n_attributes = m->n_attributes;
	out->suspended = m->suspended != 0;
	out->home_hub = m->home_hub;
	out->display_name = m->display_name;
	out->backing = b;
	return 0;
out:
	memset(out, 0, sizeof(*out));
	wire_release(b);
	return r;
}

int tids_wire_encode_participant(const struct tids_participant *in, uint8_t **out, size_t *len)
{
	Tids__V1__Participant pb = TIDS__V1__PARTICIPANT__INIT;
	int r;

	pb.attributes = attributes_to(in->attributes, in->n_attributes);
	if (pb.attributes == NULL)
		return TIDS_ENOMEM;
	pb.n_attributes = in->n_attributes;
	pb.id = (char *)in->id;
	pb.role = (char *)in->role;
	pb.jurisdiction = (char *)in->jurisdiction;
	pb.identity_key.data = (uint8_t *)in->identity_key;
	pb.identity_key.len = TIDS_PUBLIC_KEY_BYTES;
	pb.suspended = in->suspended;
	pb.home_hub = (char *)(in->home_hub != NULL ? in->home_hub : "");
	pb.display_name = (char *)(in->display_name != NULL ? in->display_name : "");
	r = wire_pack(&pb.base, out, len);
	free(pb.attributes);
	return r;
}

void tids_participant_free(struct tids_participant *p)
{
	if (p == NULL)
		return;
	wire_release(p->backing);
	memset(p, 0, sizeof(*p));
}

/* A participant address: id, or id@hub for a participant of a peer hub. */
static int wire_opt_address(const char *what, const char *s, char *err, size_t errlen)
{
	char id[TIDS_ID_MAX + 1], hub[TIDS_ID_MAX + 1];

	if (s == NULL || *s == '\0' || tids_address_split(s, id, hub))
		return 0;
	return tids_fail(err, errlen, TIDS_EBADID, "%s must be id or id@hub (ids 1-%d of [A-Za-z0-9._:-])", what,
			 TIDS_ID_MAX);
}

int tids_wire_decode_asset(const uint8_t *buf, size_t len, struct tids_asset *out,
			   char *err, size_t errlen)
{
	struct backing *b;
	Tids__V1__Asset *m;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__asset__descriptor, buf, len, REGISTRY_MAX, 0, &b, err, errlen);
	if (r < 0)
		return r;
	m = (Tids__V1__Asset *)b->msg;
	if ((r = wire_need_id("asset: asset_id", m->asset_id, err, errlen)) < 0 ||
	    (r = wire_need_id("asset: lessee", m->lessee, err, errlen)) < 0 ||
	    (r = wire_opt_address("asset: lessor", m->lessor, err, errlen)) < 0 ||
	    (r = wire_opt_id("asset: site", m->site, err, errlen)) < 0 ||
	    (r = wire_opt_name("asset: kind", m->kind, err, errlen)) < 0 ||
	    (r = attributes_from("asset", m->attributes, m->n_attributes, b, &out->attributes, err, errlen)) < 0)
		goto out;
	if (*m->lessor != '\0' && strcmp(m->lessor, m->lessee) == 0) {
		r = tids_fail(err, errlen, TIDS_EINVAL, "asset: lessor and lessee are the same participant");
		goto out;
	}
	out->asset_id = m->asset_id;
	out->lessee = m->lessee;
	out->lessor = m->lessor;
	out->site = m->site;
	out->kind = m->kind;
	out->n_attributes = m->n_attributes;
	out->backing = b;
	return 0;
out:
	memset(out, 0, sizeof(*out));
	wire_release(b);
	return r;
}

int tids_wire_encode_asset(const struct tids_asset *in, uint8_t **out, size_t *len)
{
	Tids__V1__Asset pb = TIDS__V1__ASSET__INIT;
	int r;

	pb.attributes = attributes_to(in->attributes, in->n_attributes);
	if (pb.attributes == NULL)
		return TIDS_ENOMEM;
	pb.n_attributes = in->n_attributes;
	pb.asset_id = (char *)in->asset_id;
	pb.lessee = (char *)in->lessee;
	pb.lessor = (char *)(in->lessor != NULL ? in->lessor : "");
	pb.site = (char *)(in->site != NULL ? in->site : "");
	pb.kind = (char *)(in->kind != NULL ? in->kind : "");
	r = wire_pack(&pb.base, out, len);
	free(pb.attributes);
	return r;
}

void tids_asset_free(struct tids_asset *a)
{
	if (a == NULL)
		return;
	wire_release(a->backing);
	memset(a, 0, sizeof(*a));
}

/* "host:port", "[v6]:port": a host of [A-Za-z0-9.-] (or a bracketed
 * address of hex digits, colons and dots) and a port 1-65535. */
static bool valid_host_port(const char *s)
{
	const char *colon = strrchr(s, ':');
	size_t hn;
	long port = 0;

	if (colon == NULL || colon == s || colon[1] == '\0' || strlen(colon + 1) > 5)
		return false;
	for (const char *p = colon + 1; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return false;
		port = port * 10 + (*p - '0');
	}
	if (port < 1 || port > 65535)
		return false;
	hn = (size_t)(colon - s);
	if (hn > 253)
		return false;
	if (s[0] == '[') {
		if (hn < 3 || s[hn - 1] != ']')
			return false;
		for (size_t i = 1; i + 1 < hn; i++)
			if (strchr("0123456789abcdefABCDEF:.", s[i]) == NULL)
				return false;
		return true;
	}
	for (size_t i = 0; i < hn; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
			return false;
	}
	return true;
}

bool tids_address_split(const char *addr, char id[TIDS_ID_MAX + 1], char hub[TIDS_ID_MAX + 1])
{
	const char *at = strchr(addr, '@');
	size_t n = at != NULL ? (size_t)(at - addr) : strlen(addr);

	if (n == 0 || n > TIDS_ID_MAX)
		return false;
	memcpy(id, addr, n);
	id[n] = '\0';
	hub[0] = '\0';
	if (at != NULL) {
		if (strlen(at + 1) > TIDS_ID_MAX)
			return false;
		strcpy(hub, at + 1);
		if (!tids_valid_id(hub))
			return false;
	}
	return tids_valid_id(id);
}

int tids_wire_decode_peer(const uint8_t *buf, size_t len, struct tids_peer *out,
			  char *err, size_t errlen)
{
	struct backing *b;
	Tids__V1__Peer *m;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__peer__descriptor, buf, len, REGISTRY_MAX, 0, &b, err, errlen);
	if (r < 0)
		return r;
	m = (Tids__V1__Peer *)b->msg;
	if ((r = wire_need_id("peer: hub_id", m->hub_id, err, errlen)) < 0 ||
	    (r = wire_need_jurisdiction("peer: jurisdiction", m->jurisdiction, err, errlen)) < 0 ||
	    (r = wire_bytes("peer: public_key", m->public_key, TIDS_PUBLIC_KEY_BYTES, err, errlen)) < 0)
		goto out;
	if (!valid_host_port(m->address)) {
		r = tids_fail(err, errlen, *m->address == '\0' ? TIDS_EMISSING : TIDS_EINVAL,
			      "peer: address must be HOST:PORT (the peer's participant listener)");
		goto out;
	}
	out->hub_id = m->hub_id;
	out->jurisdiction = m->jurisdiction;
	memcpy(out->public_key, m->public_key.data, TIDS_PUBLIC_KEY_BYTES);
	out->address = m->address;
	out->backing = b;
	return 0;
out:
	memset(out, 0, sizeof(*out));
	wire_release(b);
	return r;
}

int tids_wire_encode_peer(const struct tids_peer *in, uint8_t **out, size_t *len)
{
	Tids__V1__Peer pb = TIDS__V1__PEER__INIT;

	pb.hub_id = (char *)in->hub_id;
	pb.jurisdiction = (char *)in->jurisdiction;
	pb.public_key.data = (uint8_t *)in->public_key;
	pb.public_key.len = TIDS_PUBLIC_KEY_BYTES;
	pb.address = (char *)(in->address != NULL ? in->address : "");
	return wire_pack(&pb.base, out, len);
}

void tids_peer_free(struct tids_peer *p)
{
	if (p == NULL)
		return;
	wire_release(p->backing);
	memset(p, 0, sizeof(*p));
}
