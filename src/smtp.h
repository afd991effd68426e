/*
 * smtp.h - the SMTP client protocol (RFC 5321) as a state machine.
 *
 * It owns no socket and reads no file. The driver (deliver.c) asks it
 * what to do next with smtp_next(), performs that (write bytes, read one
 * reply, do a TLS handshake, stream the body) and reports back. That
 * keeps the protocol testable without a network and lets one event loop
 * run many sessions.
 *
 * Extensions used: PIPELINING (RFC 2920: MAIL, the transaction's RCPTs
 * and DATA in one write), SIZE (RFC 1870), 8BITMIME (RFC 6152), ENHANCEDSTATUSCODES,
 * STARTTLS (RFC 3207), AUTH (RFC 4954).
 */
#ifndef SENDMX_SMTP_H
#define SENDMX_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "auth.h"
#include "config.h"
#include "reply.h"
#include "status.h"

enum smtp_stage {
	STAGE_CONNECT, STAGE_TLS, STAGE_GREETING, STAGE_EHLO, STAGE_STARTTLS,
	STAGE_AUTH, STAGE_MAIL, STAGE_RCPT, STAGE_DATA, STAGE_DOT, STAGE_QUIT
};

/* "connect", "TLS", "greeting", "EHLO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "end of DATA", "QUIT" */
const char *smtp_stage_name(enum smtp_stage st);

struct smtp_params {
	const char *helo_name;      /* our EHLO argument (validated by the caller) */
	const char *peer;           /* "host[ip]:port", for messages only */
	enum tls_mode tls;          /* TLS_IMPLICIT: the channel is already TLS */
	const char *user;           /* NULL: no AUTH */
	const char *password;
	const char *auth_mechanisms;/* NULL: any we know */
	bool allow_plaintext_auth;
	const char *sender;         /* "" for the null sender */
	const char *const *rcpts;   /* envelope recipients of this transaction */
	size_t nrcpts;
	off_t size;                 /* message size, for SIZE= */
	bool eightbit;              /* message has 8-bit bytes: BODY=8BITMIME if offered */
	int timeout_s;              /* >0: one timeout for every reply; 0: RFC 5321 4.5.3.2 */
	size_t max_rcpt_per_txn;    /* RCPTs in one transaction; 0: all. More
				     * recipients, or a 452 "too many", go on
				     * in further transactions on the same
				     * connection (RFC 5321 4.5.3.1.10) */
};

enum smtp_want {
	SMTP_WANT_WRITE, /* send out->data (out->len bytes) now, completely */
	SMTP_WANT_READ,  /* read one complete reply, give it to smtp_on_reply */
	SMTP_WANT_TLS,   /* do the TLS handshake now, then call smtp_on_tls */
	SMTP_WANT_BODY,  /* stream the spool file dot-stuffed, then ".\r\n";
			  * then call smtp_body_done */
	SMTP_WANT_CLOSE  /* finished: close the connection, read results */
};

struct smtp_output {
	const char *data;     /* bytes to write (valid until the next call) */
	size_t len;
	const char *display;  /* the same text for a transcript, secrets masked */
};

struct smtp_session;

struct smtp_session *smtp_new(const struct smtp_params *p);
void smtp_free(struct smtp_session *s);

/* What to do next. For SMTP_WANT_WRITE, out is filled and the session
 * assumes the bytes are sent. */
enum smtp_want smtp_next(struct smtp_session *s, struct smtp_output *out);

/* Hands over one complete reply. */
void smtp_on_reply(struct smtp_session *s, const struct smtp_reply *r);

/* Result of the TLS handshake requested by SMTP_WANT_TLS (error: NULL on ok). */
void smtp_on_tls(struct smtp_session *s, bool ok, const char *error);

/* The body and its final ".\r\n" were written. */
void smtp_body_done(struct smtp_session *s);

/* The connection failed (I/O error, timeout, closed by the peer). Every
 * recipient not yet final becomes TEMPFAIL with this message. */
void smtp_on_io_error(struct smtp_session *s, const char *error);

/* The connection could not be made, or its implicit TLS failed: every
 * recipient becomes TEMPFAIL with "peer at connect: error" or "peer at
 * TLS: error". */
void smtp_on_connect_error(struct smtp_session *s, const char *error);
void smtp_on_tls_error(struct smtp_session *s, const char *error);

/* Milliseconds to wait for the reply being awaited now (RFC 5321
 * 4.5.3.2, or timeout_s), for the driver's deadline. */
int smtp_reply_timeout_ms(const struct smtp_session *s);

/* True once the transaction's outcome is known (QUIT may still be pending). */
bool smtp_finished(const struct smtp_session *s);

/* Results, valid after SMTP_WANT_CLOSE (or any time for what is final).
 * rcpt_status/rcpt_reply: per recipient i; reply text is the server's reply
 * summary ("250 2.0.0 Ok: queued as X") or our own error
 * ("smtp.example.org[192.0.2.1]:587 at AUTH: 535 5.7.8 ..."). */
enum status smtp_rcpt_status(const struct smtp_session *s, size_t i);
const char *smtp_rcpt_reply(const struct smtp_session *s, size_t i);

/* Masks with '*', in place, whatever in text (n bytes) quotes back a
 * secret of this session (the password, an AUTH response it sent), while
 * the AUTH exchange is under way: a confused server may echo what it did
 * not understand, and replies go to the transcript, logs and error
 * messages. The driver calls it on each reply line it shows. */
void smtp_redact(const struct smtp_session *s, char *text, size_t n);

/* Did TLS get established on this session (STARTTLS or implicit)? */
bool smtp_tls_active(const struct smtp_session *s);

/* RFC 5321 4.5.2 transparency: copies n bytes of message data to out,
 * doubling a '.' at the start of each line. *at_line_start carries the
 * state across calls (start with true). The data must already be CRLF. */
void smtp_dot_stuff(const char *in, size_t n, bool *at_line_start,
		    struct buf *out);

#endif
