/*
 * mx.c - MX record lists: RFC 5321 5.1 ordering, RFC 7505 null MX, the
 * own-host rule, and answer parsing. Pure; see mx.h for the contracts.
 */
#include "ac_config.h"

#include <stdlib.h>
#include <string.h>

#include <ares.h>

#include "mx.h"
#include "util.h"

struct sort_item {
	struct mx_record rec;
	size_t pos;   /* original position: makes qsort stable */
};

static int cmp_item(const void *a, const void *b);
static bool same_name(const char *a, const char *b);
static void drop_from(struct mx_list *l, size_t from);

void mx_list_init(struct mx_list *l)
{
	l->recs = NULL;
	l->n = 0;
	l->null_mx = false;
}

void mx_list_free(struct mx_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->recs[i].name);
	free(l->recs);
	mx_list_init(l);
}

void mx_list_add(struct mx_list *l, const char *name, int pref)
{
	size_t len = strlen(name);

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0) {
		/* RFC 7505: "MX 0 ." - c-ares 1.18 shows the root as "". */
		l->null_mx = true;
		return;
	}
	l->recs = xreallocarray(l->recs, l->n + 1, sizeof *l->recs);
	l->recs[l->n].name = xstrndup(name, len);
	l->recs[l->n].pref = pref;
	l->n++;
}

static int cmp_item(const void *a, const void *b)
{
	const struct sort_item *x = a, *y = b;

	if (x->rec.pref != y->rec.pref)
		return x->rec.pref < y->rec.pref ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Host names compare ASCII case-insensitively, one trailing dot ignored. */
static bool same_name(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && ascii_strncasecmp(a, b, la) == 0;
}

/* Frees records from index `from` on and shortens the list. */
static void drop_from(struct mx_list *l, size_t from)
{
	size_t i;

	for (i = from; i < l->n; i++)
		free(l->recs[i].name);
	l->n = from;
}

void mx_order(struct mx_list *l, mx_random_fn rnd, void *rctx)
{
	struct sort_item *items;
	size_t i, j, kept, start;

	if (l->null_mx) {
		/* RFC 7505 3: the domain accepts no mail; other records
		 * (which it must not publish) change nothing. */
		drop_from(l, 0);
		return;
	}
	if (l->n == 0)
		return;

	items = xreallocarray(NULL, l->n, sizeof *items);
	for (i = 0; i < l->n; i++) {
		items[i].rec = l->recs[i];
		items[i].pos = i;
	}
	qsort(items, l->n, sizeof *items, cmp_item);

	/* Sorted first, so the first occurrence of a name is its most
	 * preferred one: trying the same host twice gains nothing. */
	kept = 0;
	for (i = 0; i < l->n; i++) {
		bool dup = false;

		for (j = 0; j < kept && !dup; j++)
			dup = same_name(l->recs[j].name, items[i].rec.name);
		if (dup)
			free(items[i].rec.name);
		else
			l->recs[kept++] = items[i].rec;
	}
	l->n = kept;
	free(items);

	/* RFC 5321 5.1: hosts of equal preference in random order. */
	for (start = 0; start < l->n; start = j) {
		for (j = start + 1; j < l->n && l->recs[j].pref == l->recs[start].pref; j++)
			;
		for (i = j - start; i > 1; i--) {
			size_t k = (size_t)(rnd(rctx) % i);
			struct mx_record t = l->recs[start + i - 1];

			l->recs[start + i - 1] = l->recs[start + k];
			l->recs[start + k] = t;
		}
	}
}

enum mx_self mx_drop_self(struct mx_list *l, const char *self)
{
	size_t i;

	if (self == NULL || *self == '\0')
		return MX_SELF_ABSENT;
	for (i = 0; i < l->n; i++) {
		int pref;
		size_t first;

		if (!same_name(l->recs[i].name, self))
			continue;
		/* The list is ordered: everything from the first record of
		 * our preference on is as or less preferred than we are. */
		pref = l->recs[i].pref;
		for (first = i; first > 0 && l->recs[first - 1].pref == pref; first--)
			;
		drop_from(l, first);
		return first == 0 ? MX_SELF_BEST : MX_SELF_TRIMMED;
	}
	return MX_SELF_ABSENT;
}

bool mx_valid_name(const char *name)
{
	size_t len = strlen(name), label = 0, i;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > MX_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

enum mx_answer mx_from_answer(const unsigned char *abuf, int alen,
			      mx_random_fn rnd, void *rctx,
			      struct mx_list *out)
{
	struct ares_mx_reply *mx = NULL, *p;
	int rc;

	mx_list_free(out);
	if (abuf == NULL || alen <= 0)
		return MX_ANSWER_BAD;
	rc = ares_parse_mx_reply(abuf, alen, &mx);
	if (rc == ARES_ENODATA)
		return MX_ANSWER_NONE;
	if (rc != ARES_SUCCESS)
		return MX_ANSWER_BAD;
	for (p = mx; p != NULL; p = p->next)
		mx_list_add(out, p->host != NULL ? p->host : "", p->priority);
	ares_free_data(mx);
	mx_order(out, rnd, rctx);
	if (out->null_mx)
		return MX_ANSWER_NULL;
	return out->n > 0 ? MX_ANSWER_RECORDS : MX_ANSWER_NONE;
}
