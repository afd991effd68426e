/*
 * address.h - RFC 5322 address lists (3.4): display names, angle
 * addresses, quoted local parts, comments, groups ("undisclosed-recipients:;").
 * Knows nothing about headers.
 */
#ifndef SENDMX_ADDRESS_H
#define SENDMX_ADDRESS_H

#include <stddef.h>

#include "status.h"

struct address {
	char *display;  /* decoded display name (quotes removed), or NULL */
	char *mailbox;  /* addr-spec "local@domain" or "local" (no domain), as
			 * to be used in MAIL FROM/RCPT TO: comments and
			 * folding white space removed; a quoted local part
			 * keeps its quotes when they are needed */
};

struct address_list {
	struct address *items;
	size_t n, cap;
	/* Duplicate index for recipients_contains() (recipients.c): an
	 * open-addressing table of item numbers + 1, covering items
	 * [0, indexed). Owned by the list; NULL until first used. */
	size_t *slots;
	size_t nslots, indexed;
};

void address_list_init(struct address_list *l);
void address_list_free(struct address_list *l);
/* Appends copies of display (may be NULL) and mailbox. */
void address_list_add(struct address_list *l, const char *display,
		      const char *mailbox);

/*
 * Parses an RFC 5322 address-list (the value of To/Cc/Bcc, unfolded or
 * not) and appends every mailbox to *out. Groups contribute their
 * members; an empty group contributes nothing. Obsolete forms that real
 * mail still uses (bare local parts without domain, trailing commas,
 * empty list elements) are accepted.
 *
 * Returns ST_OK, or ST_PERMFAIL with err saying what and where ("unterminated
 * quoted string in '...'", "control character in address") when the text
 * does not parse; nothing is appended on failure.
 */
enum status address_parse_list(const char *text, struct address_list *out,
			       struct err *err);

/*
 * Parses one envelope address as given to -f or in SMTP MAIL FROM/RCPT TO:
 * "user@dom", "<user@dom>", "<>" (null sender: *out becomes ""), or a
 * display-name form "Name <user@dom>". Rejects CR, LF, NUL and other
 * control characters. *out is allocated.
 */
enum status address_parse_envelope(const char *text, char **out,
				   struct err *err);

/* True if mailbox is a syntactically valid addr-spec for SMTP (RFC 5321
 * 4.1.2 Mailbox, or a bare local part when allow_no_domain). */
int address_valid_mailbox(const char *mailbox, int allow_no_domain);

/* An allocated copy of mailbox, with "@domain" appended when it is a
 * bare local name ("root") and domain is neither NULL nor "": RFC 5321
 * 4.1.2 wants a domain in MAIL FROM and RCPT TO, and sendmail qualifies
 * with its own name ($j). The null sender "" stays "". */
char *address_qualify(const char *mailbox, const char *domain);

/* Returns a pointer to the domain part of mailbox (after the last '@'
 * outside quotes), or NULL when there is none. */
const char *address_domain(const char *mailbox);

#endif
