/*
 * Gates and encoders for federation: a hub's signed Directory, the Pull
 * call's control messages and items, and the Admin/Peers reply. What a peer
 * hub sends passes here like anything a participant sends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire_internal.h"

#define DIRECTORY_MAX (TIDS_FRAME_MAX_DEFAULT - 1024)
#define PULL_ITEM_MAX (TIDS_FRAME_MAX_DEFAULT - 1024)
#define PEERS_MAX (1u << 20)

/* --- directories ---------------------------------------------------------- */

static int by_id(const void *a, const void *b)
{
	return strcmp((*(const struct tids_directory_entry *const *)a)->id,
		      (*(const struct tids_directory_entry *const *)b)->id);
}

static const struct tids_directory_entry *find_entry(const struct tids_directory_entry *const *sorted, size_t n,
						     const char *id)
{
	struct tids_directory_entry key = { .id = id };
	const struct tids_directory_entry *kp = &key;
	const struct tids_directory_entry *const *hit = bsearch(&kp, sorted, n, sizeof(*sorted), by_id);

	return hit != NULL ? *hit : NULL;
}

/* Converts m into d; arrays go into one block of b. */
static int directory_from(const Tids__V1__Directory *m, struct backing *b, struct tids_directory *d,
			  char *err, size_t errlen)
{
	const struct tids_directory_entry **sorted = NULL;
	size_t n = m->n_entries, ni = m->n_interests, nh = m->n_hubs, bytes;
	char *mem;
	int r = 0;

	memset(d, 0, sizeof(*d));
	if ((r = wire_need_id("directory: hub_id", m->hub_id, err, errlen)) < 0)
		return r;
	if (n > TIDS_DIRECTORY_ENTRIES_MAX || ni > TIDS_DIRECTORY_ENTRIES_MAX)
		return tids_fail(err, errlen, TIDS_ETOOMANY, "directory: %zu entries and %zu interests, at most %d each",
				 n, ni, TIDS_DIRECTORY_ENTRIES_MAX);
	if (nh > TIDS_DIRECTORY_HUBS_MAX)
		return tids_fail(err, errlen, TIDS_ETOOMANY, "directory: %zu hubs, at most %d", nh,
				 TIDS_DIRECTORY_HUBS_MAX);
	if (m->signature.len != 0 && m->signature.len != TIDS_SIGNATURE_BYTES)
		return tids_fail(err, errlen, TIDS_EINVAL, "directory: signature is %zu bytes, must be %d",
				 m->signature.len, TIDS_SIGNATURE_BYTES);
	if (m->version == 0)
		return tids_fail(err, errlen, TIDS_EINVAL, "directory: version must be >= 1");
	if (m->pages > TIDS_DIRECTORY_PAGES_MAX || m->page >= (m->pages > 0 ? m->pages : 1))
		return tids_fail(err, errlen, TIDS_EINVAL, "directory: page %u of %u (at most %d pages)", m->page,
				 m->pages, TIDS_DIRECTORY_PAGES_MAX);
	bytes = n * sizeof(*d->entries) + ni * sizeof(*d->interests) + nh * sizeof(*d->hubs);
	mem = b != NULL ? wire_alloc(b, bytes) : NULL;
	if (mem == NULL)
		return tids_fail(err, errlen, TIDS_ENOMEM, "directory: out of memory");
	d->entries = (struct tids_directory_entry *)(void *)mem;
	d->interests = (struct tids_interest *)(void *)(mem + n * sizeof(*d->entries));
	d->hubs = (struct tids_directory_hub *)(void *)(mem + n * sizeof(*d->entries) + ni * sizeof(*d->interests));
	for (size_t i = 0; i < nh; i++) {
		const Tids__V1__DirectoryHub *h = m->hubs[i];

		if ((r = wire_need_id("directory: hub", h->hub_id, err, errlen)) < 0 ||
		    (r = wire_need_jurisdiction("directory: hub jurisdiction", h->jurisdiction, err, errlen)) < 0 ||
		    (r = wire_bytes("directory: hub public_key", h->public_key, TIDS_PUBLIC_KEY_BYTES, err, errlen)) < 0)
			return r;
		if (strcmp(h->hub_id, m->hub_id) == 0)
			return tids_fail(err, errlen, TIDS_EINVAL, "directory: hub %s lists itself among its peers", h->hub_id);
		for (size_t j = 0; j < i; j++)
			if (strcmp(d->hubs[j].hub_id, h->hub_id) == 0)
				return tids_fail(err, errlen, TIDS_EDUP, "directory: hub %s listed twice", h->hub_id);
		d->hubs[i].hub_id = h->hub_id;
		d->hubs[i].jurisdiction = h->jurisdiction;
		memcpy(d->hubs[i].public_key, h->public_key.data, TIDS_PUBLIC_KEY_BYTES);
	}
	for (size_t i = 0; i < n; i++) {
		const Tids__V1__DirectoryEntry *e = m->entries[i];
		char what[64];

		snprintf(what, sizeof(what), "directory: entry %zu", i);
		if ((r = wire_need_id(what, e->id, err, errlen)) < 0 ||
		    (r = wire_need_name(what, e->role, err, errlen)) < 0 ||
		    (r = wire_need_jurisdiction(what, e->jurisdiction, err, errlen)) < 0 ||
		    (r = wire_bytes(what, e->identity_key, TIDS_PUBLIC_KEY_BYTES, err, errlen)) < 0)
			return r;
		d->entries[i].id = e->id;
		d->entries[i].role = e->role;
		d->entries[i].jurisdiction = e->jurisdiction;
		memcpy(d->entries[i].identity_key, e->identity_key.data, TIDS_PUBLIC_KEY_BYTES);
	}
	/* Sorted copies of the pointers: ids once each, interests of entries. */
	sorted = malloc((n > 0 ? n : 1) * sizeof(*sorted));
	if (sorted == NULL)
		return tids_fail(err, errlen, TIDS_ENOMEM, "directory: out of memory");
	for (size_t i = 0; i < n; i++)
		sorted[i] = &d->entries[i];
	qsort(sorted, n, sizeof(*sorted), by_id);
	for (size_t i = 1; i < n; i++)
		if (strcmp(sorted[i - 1]->id, sorted[i]->id) == 0) {
			r = tids_fail(err, errlen, TIDS_EDUP, "directory: participant %s listed twice", sorted[i]->id);
			goto out;
		}
	for (size_t i = 0; i < ni; i++) {
		const Tids__V1__Interest *it = m->interests[i];

		if ((r = wire_need_id("directory: interest participant", it->participant, err, errlen)) < 0 ||
		    (r = wire_list("directory: interest purposes", it->purposes, it->n_purposes, LIST_NAMES, 1,
				   &d->interests[i].purposes, err, errlen)) < 0)
			goto out;
		if (it->n_purposes > TIDS_INTEREST_PURPOSES_MAX) {
			r = tids_fail(err, errlen, TIDS_ETOOMANY, "directory: interest of %s: %zu purposes, at most %d",
				      it->participant, it->n_purposes, TIDS_INTEREST_PURPOSES_MAX);
			goto out;
		}
		if (find_entry(sorted, n, it->participant) == NULL) {
			r = tids_fail(err, errlen, TIDS_ENOENT, "directory: interest of %s, who is not listed",
				      it->participant);
			goto out;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(d->interests[j].participant, it->participant) == 0) {
				r = tids_fail(err, errlen, TIDS_EDUP, "directory: two interests of %s", it->participant);
				goto out;
			}
		d->interests[i].participant = it->participant;
	}
	d->hub_id = m->hub_id;
	d->version = m->version;
	d->n_entries = n;
	d->n_interests = ni;
	d->n_hubs = nh;
	d->signed_at_ms = m->signed_at_ms;
	d->page = m->page;
	d->pages = m->pages > 0 ? m->pages : 1;
	if (m->signature.len == TIDS_SIGNATURE_BYTES)
		memcpy(d->signature, m->signature.data, TIDS_SIGNATURE_BYTES);
out:
	free(sorted);
	return r;
}

int tids_wire_decode_directory(const uint8_t *buf, size_t len, struct tids_directory *out, char *err, size_t errlen)
{
	struct backing *b;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__directory__descriptor, buf, len, DIRECTORY_MAX, 0, &b, err, errlen);
	if (r < 0)
		return r;
	if ((r = directory_from((Tids__V1__Directory *)b->msg, b, out, err, errlen)) < 0) {
		memset(out, 0, sizeof(*out));
		wire_release(b);
		return r;
	}
	out->backing = b;
	return 0;
}

/* A protobuf-c view of d, borrowing its strings; free with view_free. */
struct directory_view {
	Tids__V1__Directory pb;
	Tids__V1__DirectoryEntry *entries;
	Tids__V1__DirectoryEntry **entry_ptrs;
	Tids__V1__Interest *interests;
	Tids__V1__Interest **interest_ptrs;
	Tids__V1__DirectoryHub *hubs;
	Tids__V1__DirectoryHub **hub_ptrs;
};

static int directory_view(const struct tids_directory *d, bool with_signature, struct directory_view *v)
{
	memset(v, 0, sizeof(*v));
	tids__v1__directory__init(&v->pb);
	v->entries = calloc(d->n_entries + 1, sizeof(*v->entries));
	v->entry_ptrs = calloc(d->n_entries + 1, sizeof(*v->entry_ptrs));
	v->interests = calloc(d->n_interests + 1, sizeof(*v->interests));
	v->interest_ptrs = calloc(d->n_interests + 1, sizeof(*v->interest_ptrs));
	v->hubs = calloc(d->n_hubs + 1, sizeof(*v->hubs));
	v->hub_ptrs = calloc(d->n_hubs + 1, sizeof(*v->hub_ptrs));
	if (v->entries == NULL || v->entry_ptrs == NULL || v->interests == NULL || v->interest_ptrs == NULL ||
	    v->hubs == NULL || v->hub_ptrs == NULL)
		return TIDS_ENOMEM;
	for (size_t i = 0; i < d->n_hubs; i++) {
		tids__v1__directory_hub__init(&v->hubs[i]);
		v->hubs[i].hub_id = (char *)d->hubs[i].hub_id;
		v->hubs[i].jurisdiction = (char *)d->hubs[i].jurisdiction;
		v->hubs[i].public_key.data = (uint8_t *)d->hubs[i].public_key;
		v->hubs[i].public_key.len = TIDS_PUBLIC_KEY_BYTES;
		v->hub_ptrs[i] = &v->hubs[i];
	}
	for (size_t i = 0; i < d->n_entries; i++) {
		tids__v1__directory_entry__init(&v->entries[i]);
		v->entries[i].id = (char *)d->entries[i].id;
		v->entries[i].role = (char *)d->entries[i].role;
		v->entries[i].jurisdiction = (char *)d->entries[i].jurisdiction;
		v->entries[i].identity_key.data = (uint8_t *)d->entries[i].identity_key;
		v->entries[i].identity_key.len = TIDS_PUBLIC_KEY_BYTES;
		v->entry_ptrs[i] = &v->entries[i];
	}
	for (size_t i = 0; i < d->n_interests; i++) {
		tids__v1__interest__init(&v->interests[i]);
		v->interests[i].participant = (char *)d->interests[i].participant;
		v->interests[i].purposes = (char **)d->interests[i].purposes.items;
		v->interests[i].n_purposes = d->interests[i].purposes.n;
		v->interest_ptrs[i] = &v->interests[i];
	}
	v->pb.hub_id = (char *)d->hub_id;
	v->pb.version = d->version;
	v->pb.entries = v->entry_ptrs;
	v->pb.n_entries = d->n_entries;
	v->pb.interests = v->interest_ptrs;
	v->pb.n_interests = d->n_interests;
	v->pb.hubs = v->hub_ptrs;
	v->pb.n_hubs = d->n_hubs;
	v->pb.signed_at_ms = d->signed_at_ms;
	/* One page is the directory of before pages: the same bytes. */
	if (d->pages > 1) {
		v->pb.page = d->page;
		v->pb.pages = d->pages;
	}
	if (with_signature) {
		v->pb.signature.data = (uint8_t *)d->signature;
		v->pb.signature.len = TIDS_SIGNATURE_BYTES;
	}
	return 0;
}

static void directory_view_free(struct directory_view *v)
{
	free(v->entries);
	free(v->entry_ptrs);
	free(v->interests);
	free(v->interest_ptrs);
	free(v->hubs);
	free(v->hub_ptrs);
}

static int encode_directory(const struct tids_directory *in, bool with_signature, uint8_t **out, size_t *len)
{
	struct directory_view v;
	int r = directory_view(in, with_signature, &v);

	if (r == 0)
		r = wire_pack(&v.pb.base, out, len);
	directory_view_free(&v);
	return r;
}

int tids_wire_encode_directory(const struct tids_directory *in, uint8_t **out, size_t *len)
{
	return encode_directory(in, true, out, len);
}

int tids_wire_encode_directory_unsigned(const struct tids_directory *in, uint8_t **out, size_t *len)
{
	return encode_directory(in, false, out, len);
}

void tids_directory_free(struct tids_directory *d)
{
	if (d == NULL)
		return;
	wire_release(d->backing);
	memset(d, 0, sizeof(*d));
}

/* --- the Pull call ------------------------------------------------------------ */

int tids_wire_decode_pull_control(const uint8_t *buf, size_t len, struct tids_pull_control *out,
				  char *err, size_t errlen)
{
	struct backing *b;
	Tids__V1__PullControl *m;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__pull_control__descriptor, buf, len, 256, 0, &b, err, errlen);
	if (r < 0)
		return r;
	m = (Tids__V1__PullControl *)b->msg;
	switch (m->kind_case) {
	case TIDS__V1__PULL_CONTROL__KIND_START:
		if (m->start->window < 1 || m->start->window > TIDS_PULL_WINDOW_MAX) {
			r = tids_fail(err, errlen, TIDS_EINVAL, "pull: window %u (1-%d)", m->start->window,
				      TIDS_PULL_WINDOW_MAX);
			goto out;
		}
		out->from_position = m->start->from_position;
		out->window = m->start->window;
		out->epoch = m->start->epoch;
		break;
	case TIDS__V1__PULL_CONTROL__KIND_ACK:
		out->is_ack = true;
		out->ack_position = m->ack->position;
		break;
	default:
		r = tids_fail(err, errlen, TIDS_EMISSING, "pull: neither start nor ack");
		goto out;
	}
	out->backing = b;
	return 0;
out:
	memset(out, 0, sizeof(*out));
	wire_release(b);
	return r;
}

int tids_wire_encode_pull_control(const struct tids_pull_control *in, uint8_t **out, size_t *len)
{
	Tids__V1__PullControl pb = TIDS__V1__PULL_CONTROL__INIT;
	Tids__V1__PullStart start = TIDS__V1__PULL_START__INIT;
	Tids__V1__PullAck ack = TIDS__V1__PULL_ACK__INIT;

	if (in->is_ack) {
		ack.position = in->ack_position;
		pb.kind_case = TIDS__V1__PULL_CONTROL__KIND_ACK;
		pb.ack = &ack;
	} else {
		start.from_position = in->from_position;
		start.window = in->window;
		start.epoch = in->epoch;
		pb.kind_case = TIDS__V1__PULL_CONTROL__KIND_START;
		pb.start = &start;
	}
	return wire_pack(&pb.base, out, len);
}

void tids_pull_control_free(struct tids_pull_control *c)
{
	if (c == NULL)
		return;
	wire_release(c->backing);
	memset(c, 0, sizeof(*c));
}

/* --- consent pages ------------------------------------------------------------- */

/* Each blob through the gate of its kind (form only), then borrowed into
 * list. */
static int consent_blobs(const char *what, ProtobufCBinaryData *in, size_t n, bool grants, struct tids_bytes *list,
			 char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		char why[256];
		int r;

		if (grants) {
			struct tids_grant g;

			r = tids_wire_decode_signed_grant(in[i].data, in[i].len, &g, why, sizeof(why));
			if (r == 0)
				tids_grant_free(&g);
		} else {
			struct tids_approval a;

			r = tids_wire_decode_signed_approval(in[i].data, in[i].len, &a, why, sizeof(why));
			if (r == 0)
				tids_approval_free(&a);
		}
		if (r < 0)
			return tids_fail(err, errlen, r, "consent: %s %zu: %s", what, i, why);
		list[i] = (struct tids_bytes){ in[i].data, in[i].len };
	}
	return 0;
}

static int consent_from(const Tids__V1__Consent *m, struct backing *b, struct tids_consent_page *c, char *err,
			size_t errlen)
{
	struct tids_bytes *list;
	int r;

	memset(c, 0, sizeof(*c));
	if (m->n_grants > TIDS_CONSENT_PAGE_MAX || m->n_approvals > TIDS_CONSENT_PAGE_MAX)
		return tids_fail(err, errlen, TIDS_ETOOMANY, "consent: %zu grants and %zu approvals in one page, at "
				 "most %d each", m->n_grants, m->n_approvals, TIDS_CONSENT_PAGE_MAX);
	/* One block for both lists (a backing holds one allocation). */
	list = wire_alloc(b, (m->n_grants + m->n_approvals + 1) * sizeof(*list));
	if (list == NULL)
		return tids_fail(err, errlen, TIDS_ENOMEM, "consent: out of memory");
	if ((r = consent_blobs("grant", m->grants, m->n_grants, true, list, err, errlen)) < 0 ||
	    (r = consent_blobs("approval", m->approvals, m->n_approvals, false, list + m->n_grants, err, errlen)) < 0)
		return r;
	c->grants = list;
	c->n_grants = m->n_grants;
	c->approvals = list + m->n_grants;
	c->n_approvals = m->n_approvals;
	c->round = m->round;
	c->complete = m->complete != 0;
	return 0;
}

static int encode_consent(Tids__V1__PullItem *pb, const struct tids_consent_page *in, uint8_t **out, size_t *len)
{
	Tids__V1__Consent c = TIDS__V1__CONSENT__INIT;
	ProtobufCBinaryData *g = calloc(in->n_grants + 1, sizeof(*g)), *a = calloc(in->n_approvals + 1, sizeof(*a));
	int r = TIDS_ENOMEM;

	if (g != NULL && a != NULL) {
		for (size_t i = 0; i < in->n_grants; i++)
			g[i] = (ProtobufCBinaryData){ in->grants[i].len, (uint8_t *)in->grants[i].data };
		for (size_t i = 0; i < in->n_approvals; i++)
			a[i] = (ProtobufCBinaryData){ in->approvals[i].len, (uint8_t *)in->approvals[i].data };
		c.round = in->round;
		c.grants = g;
		c.n_grants = in->n_grants;
		c.approvals = a;
		c.n_approvals = in->n_approvals;
		c.complete = in->complete;
		pb->kind_case = TIDS__V1__PULL_ITEM__KIND_CONSENT;
		pb->consent = &c;
		r = wire_pack(&pb->base, out, len);
	}
	free(g);
	free(a);
	return r;
}

int tids_wire_decode_pull_item(const uint8_t *buf, size_t len, struct tids_pull_item *out, char *err, size_t errlen)
{
	struct backing *b;
	Tids__V1__PullItem *m;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__pull_item__descriptor, buf, len, PULL_ITEM_MAX, 0, &b, err, errlen);
	if (r < 0)
		return r;
	m = (Tids__V1__PullItem *)b->msg;
	switch (m->kind_case) {
	case TIDS__V1__PULL_ITEM__KIND_FORWARD:
		if (m->forward->record == NULL) {
			r = tids_fail(err, errlen, TIDS_EMISSING, "pull: forward without a record");
			goto out;
		}
		if ((r = wire_ingress_from(m->forward->record, b, &out->record, err, errlen)) < 0)
			goto out;
		if (!out->record.forwarded.present || out->record.sealed) {
			r = tids_fail(err, errlen, TIDS_EINVAL, "pull: a forward must say what was decided, unsealed");
			goto out;
		}
		out->kind = TIDS_PULL_FORWARD;
		out->position = m->forward->position;
		out->epoch = m->forward->epoch;
		break;
	case TIDS__V1__PULL_ITEM__KIND_DIRECTORY:
		if ((r = directory_from(m->directory, b, &out->directory, err, errlen)) < 0)
			goto out;
		out->kind = TIDS_PULL_DIRECTORY;
		break;
	case TIDS__V1__PULL_ITEM__KIND_CHECKPOINT:
		if ((r = wire_checkpoint_from(m->checkpoint, &out->checkpoint, err, errlen)) < 0)
			goto out;
		out->kind = TIDS_PULL_CHECKPOINT;
		break;
	case TIDS__V1__PULL_ITEM__KIND_CONSENT:
		if ((r = consent_from(m->consent, b, &out->consent, err, errlen)) < 0)
			goto out;
		out->kind = TIDS_PULL_CONSENT;
		break;
	default:
		r = tids_fail(err, errlen, TIDS_EMISSING, "pull: item of no known kind");
		goto out;
	}
	out->backing = b;
	return 0;
out:
	memset(out, 0, sizeof(*out));
	wire_release(b);
	return r;
}

int tids_wire_encode_pull_item(const struct tids_pull_item *in, uint8_t **out, size_t *len)
{
	Tids__V1__PullItem pb = TIDS__V1__PULL_ITEM__INIT;
	Tids__V1__Forward fw = TIDS__V1__FORWARD__INIT;
	Tids__V1__AuditCheckpoint cp;
	struct ingress_view iv;
	struct directory_view dv = { 0 };
	int r;

	switch (in->kind) {
	case TIDS_PULL_FORWARD:
		wire_ingress_view(&in->record, &iv);
		fw.position = in->position;
		fw.epoch = in->epoch;
		fw.record = &iv.pb;
		pb.kind_case = TIDS__V1__PULL_ITEM__KIND_FORWARD;
		pb.forward = &fw;
		return wire_pack(&pb.base, out, len);
	case TIDS_PULL_DIRECTORY:
		if ((r = directory_view(&in->directory, true, &dv)) == 0) {
			pb.kind_case = TIDS__V1__PULL_ITEM__KIND_DIRECTORY;
			pb.directory = &dv.pb;
			r = wire_pack(&pb.base, out, len);
		}
		directory_view_free(&dv);
		return r;
	case TIDS_PULL_CHECKPOINT:
		wire_checkpoint_view(&in->checkpoint, true, &cp);
		pb.kind_case = TIDS__V1__PULL_ITEM__KIND_CHECKPOINT;
		pb.checkpoint = &cp;
		return wire_pack(&pb.base, out, len);
	case TIDS_PULL_CONSENT:
		return encode_consent(&pb, &in->consent, out, len);
	}
	return TIDS_EINVAL;
}

void tids_pull_item_free(struct tids_pull_item *i)
{
	if (i == NULL)
		return;
	wire_release(i->backing);
	memset(i, 0, sizeof(*i));
}

/* --- Admin/Peers ------------------------------------------------------------ */

int tids_wire_decode_peers_reply(const uint8_t *buf, size_t len, struct tids_peers_reply *out,
				 char *err, size_t errlen)
{
	struct backing *b;
	Tids__V1__PeersReply *m;
	struct tids_peer_status *ps;
	int r = 0;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__peers_reply__descriptor, buf, len, PEERS_MAX, 0, &b, err, errlen);
	if (r < 0)
		return r;
	m = (Tids__V1__PeersReply *)b->msg;
	if (m->n_peers > 4096) {
		r = tids_fail(err, errlen, TIDS_ETOOMANY, "peers: %zu peers", m->n_peers);
		goto out;
	}
	ps = wire_alloc(b, m->n_peers * sizeof(*ps));
	if (ps == NULL) {
		r = tids_fail(err, errlen, TIDS_ENOMEM, "peers: out of memory");
		goto out;
	}
	for (size_t i = 0; i < m->n_peers; i++) {
		const Tids__V1__PeerStatus *p = m->peers[i];

		if ((r = wire_need_id("peers: hub_id", p->hub_id, err, errlen)) < 0 ||
		    (r = wire_opt_jurisdiction("peers: jurisdiction", p->jurisdiction, err, errlen)) < 0 ||
		    (r = wire_text("peers: address", p->address, 300, err, errlen)) < 0 ||
		    (r = wire_text("peers: last_error", p->last_error, 512, err, errlen)) < 0)
			goto out;
		ps[i] = (struct tids_peer_status){
			.hub_id = p->hub_id, .jurisdiction = p->jurisdiction, .address = p->address,
			.link_up = p->link_up != 0, .serving = p->serving != 0, .forwarded = p->forwarded,
			.imported = p->imported, .lag = p->lag, .last_error = p->last_error,
			.last_error_ms = p->last_error_ms, .directory_version = p->directory_version,
			.directory_entries = p->directory_entries, .conflicts = p->conflicts,
			.witnessed_seq = p->witnessed_seq, .refused = p->refused,
		};
	}
	out->peers = ps;
	out->n_peers = m->n_peers;
	out->backing = b;
	return 0;
out:
	memset(out, 0, sizeof(*out));
	wire_release(b);
	return r;
}

int tids_wire_encode_peers_reply(const struct tids_peers_reply *in, uint8_t **out, size_t *len)
{
	Tids__V1__PeersReply pb = TIDS__V1__PEERS_REPLY__INIT;
	Tids__V1__PeerStatus *ps = calloc(in->n_peers + 1, sizeof(*ps));
	Tids__V1__PeerStatus **ptrs = calloc(in->n_peers + 1, sizeof(*ptrs));
	int r = TIDS_ENOMEM;

	if (ps != NULL && ptrs != NULL) {
		for (size_t i = 0; i < in->n_peers; i++) {
			const struct tids_peer_status *p = &in->peers[i];

			tids__v1__peer_status__init(&ps[i]);
			ps[i].hub_id = (char *)p->hub_id;
			ps[i].jurisdiction = (char *)(p->jurisdiction != NULL ? p->jurisdiction : "");
			ps[i].address = (char *)(p->address != NULL ? p->address : "");
			ps[i].link_up = p->link_up;
			ps[i].serving = p->serving;
			ps[i].forwarded = p->forwarded;
			ps[i].imported = p->imported;
			ps[i].lag = p->lag;
			ps[i].last_error = (char *)(p->last_error != NULL ? p->last_error : "");
			ps[i].last_error_ms = p->last_error_ms;
			ps[i].directory_version = p->directory_version;
			ps[i].directory_entries = p->directory_entries;
			ps[i].conflicts = p->conflicts;
			ps[i].witnessed_seq = p->witnessed_seq;
			ps[i].refused = p->refused;
			ptrs[i] = &ps[i];
		}
		pb.peers = ptrs;
		pb.n_peers = in->n_peers;
		r = wire_pack(&pb.base, out, len);
	}
	free(ps);
	free(ptrs);
	return r;
}

void tids_peers_reply_free(struct tids_peers_reply *r)
{
	if (r == NULL)
		return;
	wire_release(r->backing);
	memset(r, 0, sizeof(*r));
}
