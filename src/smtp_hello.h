/*
 * smtp_hello.h - the opening of an SMTP session: the greeting, EHLO
 * (HELO when EHLO is refused) and STARTTLS (RFC 3207). Part of the
 * state machine behind smtp.h; called by smtp.c's dispatch.
 *
 * Each handler takes one complete reply in the state it names, queues the
 * next command and sets the next state. On success the session goes on
 * to AUTH (smtp_auth_start), which goes on to the mail transaction.
 * Failures make every open recipient final (TLS trouble is always
 * TEMPFAIL) and end the session with QUIT, or without it after a 421.
 */
#ifndef SENDMX_SMTP_HELLO_H
#define SENDMX_SMTP_HELLO_H

#include "smtp_int.h"

/* S_GREETING: a 2xx greeting is answered with EHLO. */
void smtp_hello_on_greeting(struct smtp_session *s,
			    const struct smtp_reply *r);

/* S_EHLO or S_HELO: records the extensions of a 2xx EHLO reply, then
 * STARTTLS if the session asks for it, else AUTH. A 5xx to EHLO falls
 * back to HELO (RFC 5321 4.1.4). */
void smtp_hello_on_reply(struct smtp_session *s, const struct smtp_reply *r);

/* S_STARTTLS: a 220 hands the handshake to the driver (S_TLS); the
 * driver reports its result with smtp_on_tls. */
void smtp_hello_on_starttls(struct smtp_session *s,
			    const struct smtp_reply *r);

#endif
