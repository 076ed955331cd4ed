/*
 * The evaluation report as one self-contained HTML page: no script, no
 * external asset, charts as inline SVG, a stylesheet that prints well.
 * Every chart has an id (chart-flows, chart-matrix, chart-denials,
 * chart-approvals, chart-counters) and a text alternative in a table, so
 * that the page reads without the pictures too.
 */
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "report.h"

static const char *const tier_names[REPORT_TIERS] = { "unset", "general", "important", "core" };
static const char *const tier_colors[REPORT_TIERS] = { "#bab0ac", "#4c78a8", "#f58518", "#e45756" };
#define DENIED_COLOR "#7f7f7f"

static void text(FILE *f, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f); break;
		}
	}
}

static void date(int64_t ms, bool with_time, char out[32])
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	if (gmtime_r(&s, &tm) == NULL || strftime(out, 32, with_time ? "%Y-%m-%d %H:%M" : "%Y-%m-%d", &tm) == 0)
		snprintf(out, 32, "%" PRId64, ms);
}

static const char style[] =
	"body{font:14px/1.45 system-ui,sans-serif;color:#222;max-width:1000px;margin:24px auto;padding:0 16px}"
	"h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}"
	"table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}"
	"th:first-child,td:first-child{text-align:left}.muted{color:#666}.ok{color:#1a7f37;font-weight:600}"
	".bad{color:#b42318;font-weight:600}svg{display:block;margin:8px 0}code{font-size:12px}"
	"@media print{body{margin:0;max-width:none}section{page-break-inside:avoid}}";

/* --- flows by tier over time: stacked permitted bars, denied beside ---------------- */

static void chart_flows(const struct report *r, FILE *f)
{
	const double W = 960, H = 300, L = 64, B = 48, T = 16;
	double bw = (W - L - 8) / (double)(r->n_buckets > 0 ? r->n_buckets : 1);
	uint64_t max = 1;

	for (size_t b = 0; b < r->n_buckets; b++) {
		uint64_t p = 0, d = 0;

		for (int t = 0; t < REPORT_TIERS; t++) {
			p += r->permitted[b][t];
			d += r->denied[b][t];
		}
		if (p > max)
			max = p;
		if (d > max)
			max = d;
	}
	fprintf(f, "<svg id=\"chart-flows\" role=\"img\" aria-label=\"decisions per %s by tier\" width=\"%.0f\" "
		   "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">\n",
		r->bucket_name, W, H, W, H);
	fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#999\"/>\n", L, H - B, W - 8, H - B);
	fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\" text-anchor=\"end\">%" PRIu64 "</text>\n", L - 6,
		T + 4, max);
	fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\" text-anchor=\"end\">0</text>\n", L - 6, H - B + 4);
	for (size_t b = 0; b < r->n_buckets; b++) {
		double x = L + (double)b * bw, y = H - B, h;
		char d[32];

		for (int t = 1; t < REPORT_TIERS; t++) {
			h = (H - B - T) * (double)r->permitted[b][t] / (double)max;
			if (h <= 0)
				continue;
			y -= h;
			fprintf(f, "<rect class=\"bar tier-%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
				   "fill=\"%s\"><title>%s permitted: %" PRIu64 "</title></rect>\n", tier_names[t], x + 1, y,
				bw * 0.55, h, tier_colors[t], tier_names[t], r->permitted[b][t]);
		}
		{
			uint64_t den = 0;

			for (int t = 0; t < REPORT_TIERS; t++)
				den += r->denied[b][t];
			h = (H - B - T) * (double)den / (double)max;
			if (h > 0)
				fprintf(f, "<rect class=\"bar denied\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
					   "fill=\"%s\"><title>denied: %" PRIu64 "</title></rect>\n", x + 1 + bw * 0.58,
					H - B - h, bw * 0.3, h, DENIED_COLOR, den);
		}
		if (r->n_buckets <= 12 || b % ((r->n_buckets + 7) / 8) == 0) {
			date(r->since_ms - (r->since_ms % r->bucket_ms + r->bucket_ms) % r->bucket_ms +
				     (int64_t)b * r->bucket_ms, r->bucket_ms < 86400000, d);
			fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" font-size=\"10\">%s</text>\n", x + 1, H - B + 14, d);
		}
	}
	for (int t = 1; t <= REPORT_TIERS; t++) {
		const char *name = t < REPORT_TIERS ? tier_names[t] : "denied";
		const char *color = t < REPORT_TIERS ? tier_colors[t] : DENIED_COLOR;
		double x = L + (double)(t - 1) * 130;

		fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"10\" height=\"10\" fill=\"%s\"/>"
			   "<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\">%s</text>\n", x, H - 16, color, x + 14, H - 7,
			t < REPORT_TIERS ? name : "denied (all tiers)");
	}
	fputs("</svg>\n", f);
}

/* --- the cross-border matrix: origin country x destination country -------------- */

static int country_index(char (*list)[8], size_t n, const char *c)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], c) == 0)
			return (int)i;
	return -1;
}

static void chart_matrix(const struct report *r, FILE *f)
{
	char from[32][8], to[32][8];
	size_t nf = 0, nt = 0;
	const double C = 84, L = 70, T = 40;
	uint64_t max = 1;

	for (size_t i = 0; i < r->n_pairs; i++) {
		const char *a = *r->pairs[i].from ? r->pairs[i].from : "-", *b = *r->pairs[i].to ? r->pairs[i].to : "-";

		if (country_index(from, nf, a) < 0 && nf < 32)
			snprintf(from[nf++], 8, "%s", a);
		if (country_index(to, nt, b) < 0 && nt < 32)
			snprintf(to[nt++], 8, "%s", b);
		if (r->pairs[i].permitted + r->pairs[i].denied > max)
			max = r->pairs[i].permitted + r->pairs[i].denied;
	}
	fprintf(f, "<svg id=\"chart-matrix\" role=\"img\" aria-label=\"decisions per origin and destination country\" "
		   "width=\"%.0f\" height=\"%.0f\">\n", L + C * (double)(nt ? nt : 1) + 8,
		T + 34 * (double)(nf ? nf : 1) + 8);
	fprintf(f, "<text x=\"4\" y=\"14\" font-size=\"11\" class=\"muted\">from \\ to</text>\n");
	for (size_t j = 0; j < nt; j++)
		fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" text-anchor=\"middle\">%s</text>\n",
			L + C * (double)j + C / 2, T - 10, to[j]);
	for (size_t i = 0; i < nf; i++)
		fprintf(f, "<text x=\"4\" y=\"%.0f\" font-size=\"12\">%s</text>\n", T + 34 * (double)i + 21, from[i]);
	for (size_t k = 0; k < r->n_pairs; k++) {
		const struct report_pair *p = &r->pairs[k];
		int i = country_index(from, nf, *p->from ? p->from : "-"), j = country_index(to, nt, *p->to ? p->to : "-");
		double a = 0.12 + 0.88 * (double)(p->permitted + p->denied) / (double)max;
		bool cross = strcmp(p->from, p->to) != 0;

		if (i < 0 || j < 0)
			continue;
		fprintf(f, "<rect class=\"cell%s\" x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"30\" fill=\"%s\" "
			   "fill-opacity=\"%.2f\"><title>%s to %s: %" PRIu64 " permitted, %" PRIu64 " denied</title></rect>\n",
			cross ? " cross-border" : "", L + C * j + 2, T + 34 * i, C - 4, cross ? "#e45756" : "#4c78a8", a,
			p->from, p->to, p->permitted, p->denied);
		fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\" text-anchor=\"middle\">%" PRIu64 " / %" PRIu64
			   "</text>\n", L + C * j + C / 2, T + 34 * i + 19, p->permitted, p->denied);
	}
	if (r->n_pairs == 0)
		fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\">no decisions</text>\n", L, T + 20);
	fputs("</svg>\n<p class=\"muted\">Cells: permitted / denied. Red: across a border.</p>\n", f);
}

/* --- horizontal bars: denial rules, approvals, counters ------------------------------ */

static void chart_bars(FILE *f, const char *id, const char *label, const struct report_list *l, size_t top,
		       bool counters)
{
	const double W = 960, L = 300, R = 90, RowH = 24;
	size_t n = l->n < top ? l->n : top;
	uint64_t max = 1;

	for (size_t i = 0; i < n; i++) {
		uint64_t v = l->items[i].permitted + l->items[i].denied;

		if (v > max)
			max = v;
		for (int k = 0; counters && k < 2; k++)
			if (l->items[i].threshold[k] > max)
				max = l->items[i].threshold[k];
	}
	fprintf(f, "<svg id=\"%s\" role=\"img\" aria-label=\"%s\" width=\"%.0f\" height=\"%.0f\">\n", id, label, W, RowH * (double)(n ? n : 1) + 12);
	if (n == 0)
		fputs("<text x=\"4\" y=\"16\" font-size=\"12\">none in this period</text>\n", f);
	for (size_t i = 0; i < n; i++) {
		const struct report_item *it = &l->items[i];
		double y = RowH * (double)i + 4, span = W - L - R;
		/* Counters span orders of magnitude (30 individuals against a
		 * million): on a log scale both show. */
#define X(v) (counters ? span * log10(1.0 + (double)(v)) / log10(1.0 + (double)max) : span * (double)(v) / (double)max)

		fputs("<text x=\"4\" y=\"", f);
		fprintf(f, "%.0f\" font-size=\"12\">", y + 14);
		text(f, it->name);
		fputs("</text>\n", f);
		if (it->permitted > 0)
			fprintf(f, "<rect class=\"bar\" x=\"%.0f\" y=\"%.0f\" width=\"%.1f\" height=\"16\" fill=\"%s\"/>\n", L,
				y + 2, X(it->permitted), counters ? "#f58518" : "#4c78a8");
		if (it->denied > 0)
			fprintf(f, "<rect class=\"bar\" x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"16\" fill=\"%s\"/>\n",
				L + X(it->permitted), y + 2, X(it->permitted + it->denied) - X(it->permitted), DENIED_COLOR);
		for (int k = 0; counters && k < 2; k++)
			if (it->threshold[k] > 0)
				fprintf(f, "<line class=\"threshold\" x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" "
					   "stroke=\"#b42318\" stroke-width=\"2\"><title>%s: %" PRIu64 "</title></line>\n",
					L + X(it->threshold[k]), y, L + X(it->threshold[k]), y + 20, it->threshold_label[k],
					it->threshold[k]);
		fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" text-anchor=\"end\">%" PRIu64 "</text>\n", W - 4,
			y + 14, it->permitted + it->denied);
	}
#undef X
	fputs("</svg>\n", f);
	if (counters && n > 0)
		fputs("<p class=\"muted\">Logarithmic scale.</p>\n", f);
}

static void item_table(FILE *f, const struct report_list *l, const char *name_head, const char *detail_head,
		       bool counters)
{
	if (l->n == 0)
		return;
	fprintf(f, "<table><tr><th>%s</th>%s%s<th>permitted</th><th>denied</th>%s</tr>\n", name_head,
		detail_head != NULL ? "<th>" : "", detail_head != NULL ? detail_head : "",
		counters ? "<th>thresholds</th>" : "");
	for (size_t i = 0; i < l->n; i++) {
		const struct report_item *it = &l->items[i];

		fputs("<tr><td>", f);
		text(f, it->name);
		if (counters)
			fprintf(f, " (%" PRId64 ")", it->period);
		fputs("</td>", f);
		if (detail_head != NULL) {
			fputs("<td>", f);
			text(f, it->detail);
			fputs("</td>", f);
		}
		fprintf(f, "<td>%" PRIu64 "</td><td>%" PRIu64 "</td>", it->permitted, it->denied);
		if (counters) {
			fputs("<td>", f);
			for (int k = 0; k < 2; k++)
				if (it->threshold[k] > 0) {
					fprintf(f, "%s%" PRIu64 ": ", k > 0 ? "; " : "", it->threshold[k]);
					text(f, it->threshold_label[k]);
				}
			fputs("</td>", f);
		}
		fputs("</tr>\n", f);
	}
	fputs("</table>\n", f);
}

/* --- the verification and the checkpoints it rests on ----------------------------------- */

static void verification(const struct report *r, FILE *f)
{
	if (!r->verified) {
		fputs("<p class=\"bad\">Not verified: this report was made without the hub's public key "
		      "(--hub-key). Its numbers come from the ledger's index and are only as good as the file.</p>\n", f);
		return;
	}
	fprintf(f, "<p class=\"%s\">%s</p>\n", r->verify_ok ? "ok" : "bad",
		r->verify_ok ? "The ledger verifies: every chain recomputes and every checkpoint signature holds "
			       "under the hub key." : "The ledger does NOT verify:");
	if (!r->verify_ok) {
		fputs("<p class=\"bad\">", f);
		text(f, r->verify_what);
		fputs("</p>\n", f);
	}
	fprintf(f, "<p>%" PRIu64 " entries and %" PRIu64 " signed checkpoints checked; %" PRIu64 " entries after the "
		   "last checkpoint of their chain are chained but not signed yet.</p>\n", r->verify.entries,
		r->verify.checkpoints, r->verify.unanchored);
	fputs("<table><tr><th>chain</th><th>entries</th><th>signed up to</th><th>signed at (UTC)</th>"
	      "<th>signed head</th><th>state</th></tr>\n", f);
	for (size_t i = 0; i < r->verify.n_chains; i++) {
		const struct tids_ledger_chain_report *c = &r->verify.chains[i];
		char d[32], head[2 * TIDS_HASH_BYTES + 1];

		date(c->signed_at_ms, true, d);
		for (size_t k = 0; k < TIDS_HASH_BYTES; k++)
			snprintf(head + 2 * k, 3, "%02x", c->signed_head[k]);
		fprintf(f, "<tr><td>%d</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>%s</td><td><code>%s</code></td>"
			   "<td class=\"%s\">%s</td></tr>\n", c->partition, c->entries, c->signed_seq,
			c->signed_at_ms > 0 ? d : "-", c->signed_seq > 0 ? head : "-", c->ok ? "ok" : "bad",
			c->ok ? "ok" : "FAILED");
	}
	fputs("</table>\n", f);
}

bool report_write_html(const struct report *r, FILE *f)
{
	char since[32], until[32], made[32];
	uint64_t perm = 0, den = 0;

	date(r->since_ms, true, since);
	date(r->until_ms, true, until);
	date(r->created_ms, true, made);
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>", f);
	text(f, r->title);
	fprintf(f, "</title>\n<style>%s</style></head><body>\n<header><h1>", style);
	text(f, r->title);
	fputs("</h1><p class=\"muted\">Hub <b>", f);
	text(f, r->hub_id);
	fprintf(f, "</b> &middot; decisions from %s to %s UTC &middot; made %s UTC by tidsctl audit report</p>"
		   "</header>\n", since, until, made);

	fputs("<section id=\"summary\"><h2>Decisions by tier</h2><table><tr><th>tier</th><th>permitted</th>"
	      "<th>denied</th></tr>\n", f);
	for (int t = 1; t < REPORT_TIERS; t++) {
		fprintf(f, "<tr><td>%s</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td></tr>\n", tier_names[t],
			r->total_permitted[t], r->total_denied[t]);
		perm += r->total_permitted[t];
		den += r->total_denied[t];
	}
	fprintf(f, "<tr><th>all</th><th>%" PRIu64 "</th><th>%" PRIu64 "</th></tr></table></section>\n", perm, den);

	fprintf(f, "<section id=\"flows\"><h2>Flows by tier over time (per %s)</h2>\n", r->bucket_name);
	chart_flows(r, f);
	fputs("</section>\n<section id=\"cross-border\"><h2>Flows between countries</h2>\n", f);
	chart_matrix(r, f);
	fputs("</section>\n<section id=\"denials\"><h2>Rules that denied most</h2>\n", f);
	chart_bars(f, "chart-denials", "decisions denied per rule", &r->denial_rules, 12, false);
	item_table(f, &r->denial_rules, "rule", NULL, false);
	fputs("</section>\n<section id=\"approvals\"><h2>Approvals used</h2>\n", f);
	chart_bars(f, "chart-approvals", "decisions per approval", &r->approvals, 12, false);
	item_table(f, &r->approvals, "approval", "exporter -> recipient", false);
	fputs("</section>\n<section id=\"personal-information\"><h2>Personal information sent abroad, against the "
	      "thresholds</h2>\n<p class=\"muted\">Individuals counted by the policy's count duties on decisions "
	      "that crossed a border, per counter, exporter and period; red marks: the thresholds of the 2024 "
	      "provisions.</p>\n", f);
	chart_bars(f, "chart-counters", "individuals per counter against thresholds", &r->counters, 12, true);
	item_table(f, &r->counters, "counter / key (period)", NULL, true);
	fputs("</section>\n<section id=\"categories\"><h2>Categories</h2>\n", f);
	item_table(f, &r->categories, "category", NULL, false);
	fputs("</section>\n<section id=\"verification\"><h2>Ledger verification and signed checkpoints</h2>\n", f);
	verification(r, f);
	fputs("</section>\n</body></html>\n", f);
	return !ferror(f);
}
