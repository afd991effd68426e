/*
 * recipients.h - the envelope recipients of a message being taken in:
 * each checked for what may reach an RCPT TO command, and each mailbox
 * once. With -t they also come from the header section.
 */
#ifndef SENDMX_RECIPIENTS_H
#define SENDMX_RECIPIENTS_H

#include "address.h"
#include "header.h"
#include "status.h"

/*
 * Appends display (may be NULL) and mailbox to l unless l holds the
 * same mailbox already; the same means an equal local part and an equal
 * domain ignoring ASCII case (RFC 5321 2.4: only the domain is
 * case-insensitive). A bare local part ("root") is qualified first as
 * "root@domain" when domain is neither NULL nor "", so that "root" and
 * "root@domain" are one recipient. where ends error messages: "" or,
 * say, " in the To: header".
 *
 * Returns ST_OK, or ST_PERMFAIL with err and l unchanged when mailbox
 * holds a control character ("control character in recipient
 * address...") or is not a valid RFC 5321 mailbox, where a bare local
 * part counts as valid ("invalid recipient address '...'...").
 */
enum status recipients_add(struct address_list *l, const char *display,
			   const char *mailbox, const char *domain,
			   const char *where, struct err *err);

/*
 * -t: appends (as recipients_add, with domain) every mailbox of the
 * To, Cc and Bcc fields of h, in that order of names and in header
 * order for each name; when h has any non-removed Resent- field, of
 * Resent-To, Resent-Cc and Resent-Bcc instead (RFC 5322 3.6.6: resent
 * fields describe the latest introduction of the message).
 *
 * Returns ST_OK, or ST_PERMFAIL with err at the first field that does
 * not parse ("bad address in the To: header: ...") or the first mailbox
 * recipients_add refuses; the mailboxes before it stay appended.
 */
/* Is mailbox (qualified) already in l? The local part compares exactly,
 * the domain without regard to case (RFC 5321 2.4). Keeps an index in l. */
bool recipients_contains(struct address_list *l, const char *mailbox);

enum status recipients_extract(const struct header_block *h,
			       struct address_list *l, const char *domain,
			       struct err *err);

#endif
