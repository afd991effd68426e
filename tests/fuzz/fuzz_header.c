/*
 * fuzz_header.c - libFuzzer target: the RFC 5322 header section
 * (header.c) and the address parser (address.c, rfc5322_lex.c).
 *
 * The input is a message: its header section becomes a header_block as
 * intake builds it, and every field value goes through
 * address_parse_list and address_parse_envelope; the whole input, as a
 * C string, goes through both parsers too. Besides memory errors, the
 * contracts of header.h and address.h are checked: an unfolded value
 * holds no CRLF, a failed parse appends nothing, a parsed mailbox or
 * display name holds no control character but TAB, an envelope address
 * none at all.
 */
#include "ac_config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "fuzz.h"
#include "header.h"
#include "status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* envelope: address_parse_envelope refuses every control character;
 * address_parse_list keeps a TAB of a quoted local part (RFC 5322 FWS,
 * left for recipients_add to refuse). */
static void check_mailbox(const char *m, bool envelope)
{
	const char *dom;
	char *q;

	FUZZ_CHECK(m != NULL, "NULL mailbox");
	FUZZ_CHECK(envelope ? !fuzz_has_ctl(m) : !fuzz_has_ctl_but_tab(m),
		   "control character in mailbox '%s'", m);
	dom = address_domain(m);
	FUZZ_CHECK(dom == NULL || (dom > m && dom <= m + strlen(m) &&
				   dom[-1] == '@'),
		   "address_domain of '%s' does not point after an '@'", m);
	(void)address_valid_mailbox(m, 0);
	(void)address_valid_mailbox(m, 1);
	q = address_qualify(m, "example.org");
	FUZZ_CHECK(q != NULL && (*m != '\0' || *q == '\0'),
		   "address_qualify broke '%s'", m);
	free(q);
}

/* Both parsers on one text; their contracts checked. */
static void parse_text(const char *text)
{
	struct address_list l;
	struct err e;
	char *env = NULL;
	size_t before;

	address_list_init(&l);
	address_list_add(&l, NULL, "sentinel@example.org");
	before = l.n;
	if (address_parse_list(text, &l, &e) == ST_OK) {
		fuzz_note("address_parse_list: %zu", l.n - before);
		for (size_t i = 0; i < l.n; i++) {
			check_mailbox(l.items[i].mailbox, false);
			FUZZ_CHECK(l.items[i].display == NULL ||
				   !fuzz_has_ctl_but_tab(l.items[i].display),
				   "control character in display name '%s'",
				   l.items[i].display);
		}
	} else {
		FUZZ_CHECK(l.n == before, "failed address_parse_list "
			   "appended %zu items", l.n - before);
		FUZZ_CHECK(e.msg[0] != '\0', "failure without a message");
	}
	address_list_free(&l);

	if (address_parse_envelope(text, &env, &e) == ST_OK) {
		FUZZ_CHECK(env != NULL, "envelope OK but NULL");
		check_mailbox(env, true);
		free(env);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct header_block h;
	char *whole;
	size_t i;

	header_init(&h);
	(void)fuzz_header_block(data, size, &h);
	for (i = 0; i < h.n; i++) {
		char *v = header_value(&h, i);
		long at;

		FUZZ_CHECK(v != NULL, "header_value NULL");
		FUZZ_CHECK(strstr(v, "\r\n") == NULL,
			   "unfolded value of %s still holds CRLF",
			   h.fields[i].name);
		FUZZ_CHECK(v[0] != ' ' && v[0] != '\t',
			   "value of %s starts with white space",
			   h.fields[i].name);
		parse_text(v);
		free(v);
		at = header_find(&h, h.fields[i].name, 0);
		FUZZ_CHECK(at >= 0 && (size_t)at <= i,
			   "header_find(%s) gave %ld for field %zu",
			   h.fields[i].name, at, i);
	}
	if (h.n > 0) {
		char *name = xstrdup(h.fields[h.n / 2].name);

		header_add(&h, "X-Fuzz", name, true);
		(void)header_remove(&h, name);
		FUZZ_CHECK(!header_has(&h, name),
			   "%s still there after header_remove", name);
		free(name);
	}
	header_free(&h);

	whole = fuzz_cstr(data, size);
	parse_text(whole);
	free(whole);
	return 0;
}
