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
	size_t i;

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
	for (i = 0; i < l->n; i++) {
		if (same_mailbox(l->items[i].mailbox, qualified))
			goto out;
	}
	address_list_add(l, display, qualified);
out:
	free(qualified);
	return ST_OK;
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
