/*
 * smtp_txn.h - the mail transaction (RFC 5321 3.3) of the SMTP client's
 * state machine: MAIL, RCPT, DATA and the reply to the final ".".
 * Called by smtp_auth.c and by smtp.c's dispatch; smtp_body_done and
 * smtp_dot_stuff (smtp.h) live here too.
 *
 * With PIPELINING (RFC 2920) MAIL, every RCPT and DATA go out in one
 * write; otherwise one command per reply, and DATA only when a recipient
 * was accepted. A refused RCPT makes that recipient final; accepted ones
 * become final with the reply to the final ".".
 */
#ifndef SENDMX_SMTP_TXN_H
#define SENDMX_SMTP_TXN_H

#include "smtp_int.h"

/* Starts the transaction (S_TXN). A message larger than the server's
 * declared SIZE fails every recipient with ST_PERMFAIL (RFC 1870 6.1)
 * and ends the session with QUIT instead. */
void smtp_txn_start(struct smtp_session *s);

/* After a transaction: the next one for recipients still due (not yet
 * named in a RCPT, or answered 452 last time), else QUIT. */
void smtp_txn_next_or_quit(struct smtp_session *s);

/* S_TXN: one reply to MAIL, RCPT or DATA; replies arrive in command
 * order, so the position alone says which command it answers. A 354 with
 * an accepted recipient hands the body to the driver (S_BODY). */
void smtp_txn_on_reply(struct smtp_session *s, const struct smtp_reply *r);

/* S_DOT: the reply to the final "." decides every accepted recipient. */
void smtp_txn_on_dot(struct smtp_session *s, const struct smtp_reply *r);

/* The reply to an RSET sent alone (S_RSET). */
void smtp_txn_on_rset(struct smtp_session *s, const struct smtp_reply *r);

#endif
