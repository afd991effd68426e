/*
 * recipients.c - the envelope recipient set: validation, deduplication
 * and extraction from the header section (-t).
 */
#include "ac_config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "recipients.h"
#include "util.h"

static bool same_mailbox(const char *a, const char *b);
static size_t mailbox_hash(const char *m);
static void index_insert(struct address_list *l, size_t item);
static void index_update(struct address_list *l);

/* RFC 5321 2.4: the local part is case-sensitive, the domain is not. */
static bool same_mailbox(const char *a, const char *b)
{
	const char *da = address_domain(a), *db = address_domain(b);
	size_t la, lb;

	if (da == NULL || db == NULL)
		return da == NULL && db == NULL && strcmp(a, b) == 0;
	la = (size_t)(da - 1 - a);
	lb = (size_t)(db - 1 - b);
	return la == lb && memcmp(a, b, la) == 0 &&
	       ascii_strcasecmp(da, db) == 0;
}

enum status recipients_add(struct address_list *l, const char *display,
			   const char *mailbox, const char *domain,
			   const char *where, struct err *err)
{
	char *qualified;

	if (has_control_chars(mailbox)) {
		err_set(err, "control character in recipient address%s",
			where);
		return ST_PERMFAIL;
	}
	if (!address_valid_mailbox(mailbox, 1)) {
		err_set(err, "invalid recipient address '%s'%s", mailbox,
			where);
		return ST_PERMFAIL;
	}
	/* Qualified before the comparison, or "root" and "root@domain"
	 * would be delivered twice. */
	qualified = address_qualify(mailbox, domain);
	if (!recipients_contains(l, qualified))
		address_list_add(l, display, qualified);
	free(qualified);
	return ST_OK;
}

/* FNV-1a over the local part as it is and the domain in lower case,
 * matching same_mailbox(). */
static size_t mailbox_hash(const char *m)
{
	const char *d = address_domain(m);
	size_t h = 2166136261u;

	for (const char *p = m; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (d != NULL && p >= d && c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		h = (h ^ c) * 16777619u;
	}
	return h;
}

static void index_insert(struct address_list *l, size_t item)
{
	size_t k = mailbox_hash(l->items[item].mailbox) & (l->nslots - 1);

	while (l->slots[k] != 0)
		k = (k + 1) & (l->nslots - 1);
	l->slots[k] = item + 1;
}

/* Covers every item, including those added with address_list_add
 * since; grows to keep the table at most half full. */
static void index_update(struct address_list *l)
{
	if (l->nslots < 2 * (l->n + 1)) {
		size_t n = 64;

		while (n < 4 * (l->n + 1))
			n *= 2;
		free(l->slots);
		l->slots = xcalloc(n, sizeof *l->slots);
		l->nslots = n;
		l->indexed = 0;
	}
	for (; l->indexed < l->n; l->indexed++)
		index_insert(l, l->indexed);
}

/* A list of 10,000 recipients (-t, alias expansion) must not cost
 * 10,000^2 comparisons: a hash index, not a scan. */
bool recipients_contains(struct address_list *l, const char *mailbox)
{
	size_t k;

	index_update(l);
	k = mailbox_hash(mailbox) & (l->nslots - 1);
	for (; l->slots[k] != 0; k = (k + 1) & (l->nslots - 1))
		if (same_mailbox(l->items[l->slots[k] - 1].mailbox, mailbox))
			return true;
	return false;
}

/* -t: RFC 5322 3.6.6 says resent fields describe the latest
 * introduction of the message, so when there are any, their
 * destinations are the ones meant now. */
enum status recipients_extract(const struct header_block *h,
			       struct address_list *l, const char *domain,
			       struct err *err)
{
	static const char *const plain[] = { "To", "Cc", "Bcc" };
	static const char *const resent[] = { "Resent-To", "Resent-Cc",
					      "Resent-Bcc" };
	const char *const *names = plain;
	size_t i, k;

	for (i = 0; i < h->n; i++) {
		if (!h->fields[i].removed &&
		    ascii_strncasecmp(h->fields[i].name, "Resent-", 7) == 0)
			names = resent;
	}
	for (k = 0; k < 3; k++) {
		long f;

		for (f = header_find(h, names[k], 0); f >= 0;
		     f = header_find(h, names[k], (size_t)f + 1)) {
			struct address_list found;
			struct err e;
			char *v = header_value(h, (size_t)f);
			char *where = xasprintf(" in the %s: header",
						h->fields[f].name);
			enum status st = ST_OK;

			address_list_init(&found);
			if (address_parse_list(v, &found, &e) != ST_OK) {
				err_set(err, "bad address%s: %s", where,
					e.msg);
				st = ST_PERMFAIL;
			}
			for (i = 0; st == ST_OK && i < found.n; i++)
				st = recipients_add(l, found.items[i].display,
						    found.items[i].mailbox,
						    domain, where, err);
			address_list_free(&found);
			free(where);
			free(v);
			if (st != ST_OK)
				return st;
		}
	}
	return ST_OK;
}
