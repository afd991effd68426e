/*
 * smtp_auth.h - the AUTH exchange (RFC 4954) of the SMTP client's state
 * machine. The SASL encoding itself is auth.h's; this file decides what
 * to send when, and what a refusal means. Called by smtp_hello.c and by
 * smtp.c's dispatch.
 *
 * Credential problems are configuration problems: every AUTH failure is
 * ST_TEMPFAIL for every open recipient, so the mail stays queued while
 * someone fixes them. Secrets never reach the transcript (display text),
 * nor do replies that quote them back (smtp_redact, in this file).
 */
#ifndef SENDMX_SMTP_AUTH_H
#define SENDMX_SMTP_AUTH_H

#include "smtp_int.h"

/*
 * After EHLO (and STARTTLS): without a user, straight on to the mail
 * transaction (smtp_txn_start). Otherwise refuses AUTH over plain text
 * unless allow_plaintext_auth, needs the server to offer AUTH and a
 * mechanism both sides allow (auth_choose), and sends AUTH (PLAIN with
 * its initial response). Refusals end the session with QUIT.
 */
void smtp_auth_start(struct smtp_session *s);

/* S_AUTH: 2xx goes on to the mail transaction; 334 is answered (LOGIN:
 * user, then password; CRAM-MD5: one digest), and a challenge that does
 * not fit is cancelled with "*" (S_AUTH_CANCEL); anything else fails. */
void smtp_auth_on_reply(struct smtp_session *s, const struct smtp_reply *r);

#endif
