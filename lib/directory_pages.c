/*
 * Directories of any size: a hub with more participants than one message
 * may list sends its directory in pages, each signed on its own and naming
 * its place; the receiving hub uses a version once it holds every page.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tids/error.h"
#include "tids/map.h"
#include "tids/wire.h"

int tids_directory_paginate(const struct tids_directory *d, size_t per_page, struct tids_directory **out, size_t *n)
{
	struct tids_map page_of = { 0 };
	struct tids_directory *pages = NULL;
	struct tids_interest *interests = NULL;
	size_t *at = NULL, n_pages;
	int r = TIDS_ENOMEM;

	*out = NULL;
	*n = 0;
	if (per_page == 0 || per_page > TIDS_DIRECTORY_ENTRIES_MAX)
		return TIDS_EINVAL;
	n_pages = d->n_entries > 0 ? (d->n_entries + per_page - 1) / per_page : 1;
	if (n_pages > TIDS_DIRECTORY_PAGES_MAX)
		return TIDS_ETOOMANY;
	pages = calloc(n_pages, sizeof(*pages));
	/* The interests, regrouped by page (each page's are contiguous). */
	interests = calloc(d->n_interests + 1, sizeof(*interests));
	at = calloc(n_pages + 1, sizeof(*at));
	if (pages == NULL || interests == NULL || at == NULL)
		goto out;
	for (size_t i = 0; i < d->n_entries; i++)
		if (tids_map_put_str(&page_of, d->entries[i].id, (void *)(uintptr_t)(i / per_page + 1), NULL) != 0)
			goto out;
	/* Counted per page, then placed: at[k] is where page k's go next. */
	for (size_t i = 0; i < d->n_interests; i++) {
		uintptr_t k = (uintptr_t)tids_map_get_str(&page_of, d->interests[i].participant);

		/* An interest of an unlisted participant goes nowhere (the
		 * gate would refuse it). */
		if (k != 0)
			at[k]++;
	}
	for (size_t k = 1; k <= n_pages; k++)
		at[k] += at[k - 1];
	for (size_t k = 0; k < n_pages; k++) {
		size_t first = k * per_page;
		size_t count = d->n_entries - first < per_page ? d->n_entries - first : per_page;

		pages[k] = (struct tids_directory){ .hub_id = d->hub_id, .version = d->version,
						    .signed_at_ms = d->signed_at_ms, .page = (uint32_t)k,
						    .pages = (uint32_t)n_pages };
		pages[k].entries = d->n_entries > 0 ? d->entries + first : NULL;
		pages[k].n_entries = d->n_entries > 0 ? count : 0;
		pages[k].interests = interests + at[k];
		pages[k].n_interests = at[k + 1] - at[k];
	}
	/* The hub's own peers (for statistics they pass on) ride on page 0. */
	pages[0].hubs = d->hubs;
	pages[0].n_hubs = d->n_hubs;
	for (size_t i = 0; i < d->n_interests; i++) {
		uintptr_t k = (uintptr_t)tids_map_get_str(&page_of, d->interests[i].participant);

		if (k != 0)
			interests[at[k - 1]++] = d->interests[i];
	}
	/* The interests block goes with the pages (tids_directory_pages_free). */
	*out = pages;
	*n = n_pages;
	pages = NULL;
	interests = NULL;
	r = 0;
out:
	tids_map_free(&page_of);
	free(at);
	free(pages);
	free(interests);
	return r;
}

void tids_directory_pages_free(struct tids_directory *pages, size_t n)
{
	if (pages == NULL)
		return;
	/* Page 0's interests start the block of all of them. */
	if (n > 0)
		free(pages[0].interests);
	free(pages);
}

int tids_directory_merge(const struct tids_directory *pages, size_t n, struct tids_directory *out, char *err,
			 size_t errlen)
{
	struct tids_map seen = { 0 };
	size_t ne = 0, ni = 0;
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (n == 0 || n != (pages[0].pages > 0 ? pages[0].pages : 1))
		return tids_fail(err, errlen, TIDS_EINVAL, "directory: %zu pages of %u", n, n > 0 ? pages[0].pages : 0);
	for (size_t k = 0; k < n; k++) {
		if (strcmp(pages[k].hub_id, pages[0].hub_id) != 0 || pages[k].version != pages[0].version ||
		    pages[k].page != k || (pages[k].pages > 0 ? pages[k].pages : 1) != n)
			return tids_fail(err, errlen, TIDS_EINVAL, "directory of %s: page %u of %u of version %llu where "
					 "page %zu of %zu of version %llu belongs", pages[k].hub_id, pages[k].page,
					 pages[k].pages, (unsigned long long)pages[k].version, k, n,
					 (unsigned long long)pages[0].version);
		ne += pages[k].n_entries;
		ni += pages[k].n_interests;
	}
	out->entries = calloc(ne + 1, sizeof(*out->entries));
	out->interests = calloc(ni + 1, sizeof(*out->interests));
	if (out->entries == NULL || out->interests == NULL) {
		r = tids_fail(err, errlen, TIDS_ENOMEM, "directory: out of memory");
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		for (size_t i = 0; i < pages[k].n_entries; i++) {
			const struct tids_directory_entry *e = &pages[k].entries[i];

			/* Each page's gate saw its own ids once; across pages, here. */
			if (tids_map_get_str(&seen, e->id) != NULL) {
				r = tids_fail(err, errlen, TIDS_EDUP, "directory of %s: participant %s listed twice",
					      pages[0].hub_id, e->id);
				goto out;
			}
			if (tids_map_put_str(&seen, e->id, (void *)e, NULL) != 0) {
				r = tids_fail(err, errlen, TIDS_ENOMEM, "directory: out of memory");
				goto out;
			}
			out->entries[out->n_entries++] = *e;
		}
		for (size_t i = 0; i < pages[k].n_interests; i++)
			out->interests[out->n_interests++] = pages[k].interests[i];
	}
	/* Borrowed from page 0, as the entries' strings are from theirs. */
	out->hubs = pages[0].hubs;
	out->n_hubs = pages[0].n_hubs;
	out->hub_id = pages[0].hub_id;
	out->version = pages[0].version;
	out->signed_at_ms = pages[0].signed_at_ms;
	out->pages = (uint32_t)n;
out:
	tids_map_free(&seen);
	if (r != 0)
		tids_directory_merged_free(out);
	return r;
}

void tids_directory_merged_free(struct tids_directory *d)
{
	if (d == NULL)
		return;
	free(d->entries);
	free(d->interests);
	memset(d, 0, sizeof(*d));
}
