/*
 * Who may do what, decided when it is asked, never remembered from the
 * connection's start: a participant session goes on while the registry
 * still holds its key for it and it is not suspended, and administers
 * while its key is in admin.keys; a local session administers while its
 * peer is root, tidsd's user, or in admin.group (primary or supplementary
 * group). Participant changes and reloads re-check every open session,
 * which then loses at once what it no longer has, and is told why.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "tidsd.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59      /* Linux 4.13 */
#endif

enum { CODE_PERMISSION_DENIED = 7, CODE_UNAUTHENTICATED = 16 };

#define PEER_GROUPS_MAX 65536   /* NGROUPS_MAX of Linux */

/* The groups of the peer's user in the group database: what it has at
 * login, for kernels without SO_PEERGROUPS. */
static int groups_of_user(struct session *s)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int n = 64;

	if (getpwuid_r(s->uid, &pw, buf, sizeof(buf), &res) != 0 || res == NULL)
		return 0;   /* no such user: only its uid and gid count */
	for (;;) {
		gid_t *g = realloc(s->groups, (size_t)n * sizeof(*g));
		int want = n;

		if (g == NULL)
			return -1;
		s->groups = g;
		if (getgrouplist(pw.pw_name, s->gid, g, &want) >= 0) {
			s->n_groups = (size_t)want;
			return 0;
		}
		if (want <= n || want > PEER_GROUPS_MAX)
			return -1;
		n = want;
	}
}

int rights_read_peer(int fd, struct session *s)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return -1;
	s->uid = cred.uid;
	s->gid = cred.gid;
	snprintf(s->peer, sizeof(s->peer), "local uid %u", (unsigned)cred.uid);
	/* The groups the peer had when it connected, as the kernel saw them
	 * (in our user namespace: under PrivateUsers= they would all read as
	 * nobody, which is why the unit does not set it). */
	len = 64 * sizeof(gid_t);
	for (;;) {
		gid_t *g = realloc(s->groups, len > 0 ? len : sizeof(gid_t));

		if (g == NULL)
			return -1;
		s->groups = g;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) == 0) {
			s->n_groups = len / sizeof(gid_t);
			return 0;
		}
		if (errno == ERANGE && len <= PEER_GROUPS_MAX * sizeof(gid_t))
			continue;   /* len now says how much is needed */
		if (errno == ENOPROTOOPT)
			return groups_of_user(s);
		return -1;
	}
}

static bool is_admin_key(const struct tidsd *d, const uint8_t pk[TIDS_PUBLIC_KEY_BYTES])
{
	for (size_t i = 0; i < d->conf->n_admin_keys; i++)
		if (sodium_memcmp(d->conf->admin_key[i], pk, TIDS_PUBLIC_KEY_BYTES) == 0)
			return true;
	return false;
}

static bool local_admin(const struct tidsd *d, const struct session *s)
{
	gid_t g = (gid_t)d->conf->admin_gid;

	if (s->uid == 0 || s->uid == getuid())
		return true;
	if (d->conf->admin_gid < 0)
		return false;
	if (s->gid == g)
		return true;
	for (size_t i = 0; i < s->n_groups; i++)
		if (s->groups[i] == g)
			return true;
	return false;
}

bool session_rights(const struct tidsd *d, const struct session *s, bool *admin, int *code, char *why,
		    size_t whylen)
{
	const struct participant *p;

	*admin = false;
	if (s->local) {
		*admin = local_admin(d, s);
		if (!*admin) {
			*code = CODE_PERMISSION_DENIED;
			snprintf(why, whylen, "the admin socket serves root, tidsd's user and admin.group only (%s, gid %u)",
				 s->peer, (unsigned)s->gid);
		}
		return *admin;
	}
	if (*s->peer_hub != '\0') {
		uint8_t key[TIDS_PUBLIC_KEY_BYTES];

		/* A peer hub: while its registration holds the key it proved. */
		if (!federation_peer_key(d, s->peer_hub, key) ||
		    sodium_memcmp(key, s->identity_key, TIDS_PUBLIC_KEY_BYTES) != 0) {
			*code = CODE_UNAUTHENTICATED;
			snprintf(why, whylen, "peer hub %s is no longer registered with this key at hub %s", s->peer_hub,
				 d->conf->hub_id);
			return false;
		}
		return true;
	}
	p = registry_participant(d, s->participant);
	if (p == NULL) {
		*code = CODE_UNAUTHENTICATED;
		snprintf(why, whylen, "participant %s is no longer registered at hub %s", s->participant, d->conf->hub_id);
		return false;
	}
	if (sodium_memcmp(p->p.identity_key, s->identity_key, TIDS_PUBLIC_KEY_BYTES) != 0) {
		*code = CODE_UNAUTHENTICATED;
		snprintf(why, whylen, "participant %s has another key at hub %s now; connect with that one",
			 s->participant, d->conf->hub_id);
		return false;
	}
	if (p->p.suspended) {
		*code = CODE_PERMISSION_DENIED;
		snprintf(why, whylen, "participant %s is suspended at hub %s", s->participant, d->conf->hub_id);
		return false;
	}
	if (*p->p.home_hub != '\0' && strcmp(p->p.home_hub, d->conf->hub_id) != 0) {
		*code = CODE_PERMISSION_DENIED;
		snprintf(why, whylen, "participant %s is served by hub %s; connect there", s->participant, p->p.home_hub);
		return false;
	}
	*admin = is_admin_key(d, s->identity_key);
	return true;
}

void session_recheck(struct tidsd *d, struct session *s, const char *cause)
{
	char why[512];
	bool admin;
	int code;

	s->recheck = false;
	/* Handshakes are checked when they end; closing sessions are gone. */
	if (s->w.fd < 0 || s->state != SESSION_OPEN)
		return;
	if (!session_rights(d, s, &admin, &code, why, sizeof(why))) {
		session_end(d, s, code, why);
		return;
	}
	if (s->admin && !admin) {
		/* Its admin rights are withdrawn: the session ends rather than
		 * go on with less than its holder may think it has. */
		snprintf(why, sizeof(why), "admin rights of participant %s withdrawn (%s: its key is not in admin.keys)",
			 s->participant, cause);
		session_end(d, s, CODE_PERMISSION_DENIED, why);
		return;
	}
	if (admin && !s->admin)
		tids_log_info("session %lu (%s, %s): admin rights granted (%s)", s->id, s->peer, s->participant, cause);
	s->admin = admin;
}

void sessions_recheck(struct tidsd *d, const char *cause)
{
	struct session *s, *next;

	for (s = d->sessions; s != NULL; s = next) {
		next = s->next;
		if (s == d->in_call || s->waiting)
			s->recheck = true;   /* after its call, so that it gets its answer */
		else
			session_recheck(d, s, cause);
	}
}
