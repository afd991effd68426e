/*
 * fuzz_recipients.c - libFuzzer target: -t recipient extraction
 * (recipients_extract over a parsed header section, recipients.c).
 *
 * Checked besides memory errors (recipients.h): every recipient is a
 * valid RFC 5321 mailbox without control characters (its display name
 * may keep a TAB of folding white space), qualified when a
 * domain is given, and each appears once (local part exact, domain
 * case-insensitive); adding one again changes nothing.
 */
#include "ac_config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "fuzz.h"
#include "header.h"
#include "recipients.h"
#include "status.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Same recipient as recipients.h defines it. */
static bool same_rcpt(const char *a, const char *b)
{
	const char *da = address_domain(a), *db = address_domain(b);
	size_t la = da ? (size_t)(da - a) : strlen(a);
	size_t lb = db ? (size_t)(db - b) : strlen(b);

	if (la != lb || memcmp(a, b, la) != 0)
		return false;
	if ((da == NULL) != (db == NULL))
		return false;
	return da == NULL || ascii_strcasecmp(da, db) == 0;
}

static void extract(const struct header_block *h, const char *domain)
{
	struct address_list l;
	struct err e;
	enum status st;
	size_t i, j, n;

	address_list_init(&l);
	st = recipients_extract(h, &l, domain, &e);
	fuzz_note("recipients_extract(%s): %s, %zu", domain ? domain : "NULL",
		  st == ST_OK ? "OK" : e.msg, l.n);
	for (i = 0; i < l.n; i++)
		fuzz_note("  %s", l.items[i].mailbox);
	FUZZ_CHECK(st == ST_OK || st == ST_PERMFAIL, "status %d", (int)st);
	if (st != ST_OK)
		FUZZ_CHECK(e.msg[0] != '\0', "failure without a message");
	for (i = 0; i < l.n; i++) {
		const char *m = l.items[i].mailbox;

		FUZZ_CHECK(!fuzz_has_ctl(m), "control character in '%s'", m);
		FUZZ_CHECK(address_valid_mailbox(m, 1),
			   "invalid recipient '%s' accepted", m);
		FUZZ_CHECK(domain == NULL || address_domain(m) != NULL,
			   "'%s' not qualified with %s", m, domain);
		FUZZ_CHECK(l.items[i].display == NULL ||
			   !fuzz_has_ctl_but_tab(l.items[i].display),
			   "control character in display name of '%s'", m);
		for (j = 0; j < i; j++)
			FUZZ_CHECK(!same_rcpt(l.items[j].mailbox, m),
				   "'%s' and '%s' both kept",
				   l.items[j].mailbox, m);
	}
	n = l.n;
	for (i = 0; i < n; i++) {
		char *m = xstrdup(l.items[i].mailbox);

		FUZZ_CHECK(recipients_add(&l, NULL, m, domain, "", &e) == ST_OK,
			   "a kept recipient '%s' refused the second time: %s",
			   m, e.msg);
		FUZZ_CHECK(l.n == n, "'%s' added twice", m);
		free(m);
	}
	address_list_free(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct header_block h;

	header_init(&h);
	(void)fuzz_header_block(data, size, &h);
	extract(&h, "host.example.org");
	extract(&h, NULL);
	header_free(&h);
	return 0;
}
