/*
 * bounce.h - delivery status notifications (RFC 3464 inside an RFC 6522
 * multipart/report; RET, ENVID and ORCPT as RFC 3461 defines them).
 *
 * bounce_write produces the whole DSN message in wire form; the caller
 * enqueues it with the null reverse-path (RFC 5321 6.1: no bounce of a
 * bounce) addressed to orig_sender. This module sends nothing itself.
 *
 * The DSN has three parts: a text for people (what failed or is delayed,
 * and why), the message/delivery-status fields for programs, and the
 * returned message: its header section (text/rfc822-headers) or all of
 * it (message/rfc822).
 */
#ifndef SENDMX_BOUNCE_H
#define SENDMX_BOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "status.h"

/* RFC 3461 4.3: what to return of the original message. */
enum dsn_ret { DSN_RET_HDRS, DSN_RET_FULL };

/* One recipient to report. Strings may hold anything: what reaches a
 * header or a DSN field is cleaned (controls replaced, long text folded
 * or cut). Only addr is required. */
struct bounce_rcpt {
	const char *addr;         /* envelope recipient as received */
	bool failed;              /* true: Action: failed (given up);
				   * false: Action: delayed (still trying) */
	const char *status;       /* RFC 3463 "5.1.1"; NULL (or not a valid
				   * code): derived from diagnostic, see
				   * bounce_status() */
	const char *diagnostic;   /* server reply ("550 5.1.1 no such user",
				   * Diagnostic-Code: smtp) or our own error
				   * (Diagnostic-Code: X-Sendmx); NULL: none */
	const char *remote_mta;   /* host that gave the diagnostic; NULL:
				   * none (RFC 3464 2.3.5: then the reporting
				   * MTA issued it) */
	long long last_attempt;   /* epoch s; 0: no Last-Attempt-Date */
	/* Optional, zero when unused: */
	const char *orcpt;        /* RFC 3461 ORCPT, xtext already decoded:
				   * "rfc822;bob@example.org" (a bare address
				   * gets "rfc822;"). Original-Recipient. */
	long long retry_until;    /* epoch s; delayed recipients only:
				   * Will-Retry-Until (RFC 3464 2.3.9) */
};

struct bounce_info {
	const char *hostname;     /* ours: From: MAILER-DAEMON@hostname,
				   * Reporting-MTA: dns; hostname, Message-ID
				   * domain. NULL or "": "localhost" */
	const char *queue_id;     /* part of the boundary and Message-ID, and
				   * named in the text; NULL: none */
	const char *orig_sender;  /* envelope sender of the original: the To
				   * of the DSN. Must not be empty. */
	const char *envid;        /* RFC 3461 ENVID, xtext decoded; NULL: none
				   * (Original-Envelope-Id) */
	long long arrival;        /* epoch s; 0: no Arrival-Date */
	enum dsn_ret ret;
	const struct bounce_rcpt *rcpts;
	size_t n;                 /* at least one */
	long long now;            /* epoch s, for Date and Message-ID */
	/* Optional, zero when unused: */
	off_t full_limit;         /* DSN_RET_FULL returns only the header of
				   * originals bigger than this; 0: no limit */
};

/*
 * Writes the DSN message (header section, blank line, multipart body) to
 * out_fd (a file or a pipe; a non-blocking descriptor is waited for) in
 * wire form: CRLF line ends, no line over 998 octets, not dot-stuffed.
 *
 * The original is read with pread from orig_fd, offsets 0 to orig_size,
 * so orig_fd must be seekable (a spool or queue file) and its offset is
 * left alone. It must be in wire form itself (spool.h); its lines are
 * copied untouched, in bounded chunks: memory use does not depend on its
 * size. It is read twice: once to find the end of the header section,
 * whether it has 8-bit octets (then Content-Transfer-Encoding: 8bit) and
 * that the MIME boundary does not occur in it, once to copy it.
 * orig_fd < 0: no original part (the message is lost).
 *
 * Subject: "Undelivered Mail Returned to Sender" when any recipient
 * failed, else "Delayed Mail (still being retried)".
 *
 * *written (may be NULL) gets the bytes written, also on failure.
 * Returns ST_OK; ST_PERMFAIL with err for a DSN that must not or cannot
 * be made ("no DSN for the null sender", "no recipients to report");
 * ST_TEMPFAIL with err when the original cannot be read ("cannot read
 * the original message: ...", "... shorter than N bytes") or out_fd
 * cannot be written ("cannot write the DSN: ..."). After a failure part
 * of the DSN may have been written: the caller discards it.
 */
enum status bounce_write(int out_fd, const struct bounce_info *b,
			 int orig_fd, off_t orig_size, off_t *written,
			 struct err *err);

/*
 * The RFC 3463 status reported for r into out (16 bytes): r->status when
 * it is a valid code; else from r->diagnostic: "550 5.1.1 ..." gives
 * "5.1.1" (the enhanced code counts only when its class agrees with the
 * reply's, RFC 2034 4), a bare "550 ..." gives "5.0.0", "451 ..." gives
 * "4.0.0"; with no reply code: "5.0.0" when failed, "4.0.0" when delayed.
 * A delayed recipient always gets class 4 ("5.1.1" becomes "4.1.1"): it
 * is not a permanent failure while we keep trying. A failed one may keep
 * a 4.x.x code (RFC 3464 2.3.3: a transient failure that outlived the
 * queue lifetime).
 */
void bounce_status(const struct bounce_rcpt *r, char out[16]);

/* For tests only: when set, fills the random part of MIME boundaries and
 * Message-IDs instead of getrandom(). */
extern void (*bounce_random_hook)(unsigned char *p, size_t n);

#endif
