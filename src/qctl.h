/*
 * qctl.h - the control file of a queued message: its envelope and the
 * state of each recipient, as text. Pure serialize/parse over buffers;
 * queue.c does the I/O.
 *
 * Format (version 1). Text, one item per line, every line ends in LF,
 * no other control character anywhere, no line longer than
 * QCTL_LINE_MAX octets. The first line is "sendmx-queue 1", the last
 * "end" (a file without it was cut short). Between them, "key value"
 * lines in any order, each key exactly once, and one "rcpt" line per
 * recipient in recipient order:
 *
 *   sendmx-queue 1
 *   id 6560F3A40A2B100F2A
 *   arrival 1700671332
 *   sender alice@example.org
 *   size 1234
 *   eightbit 0
 *   message-id <20231122164212.1F2A@example.org>
 *   dsn-ret -
 *   dsn-notify failure,delay
 *   envid -
 *   is-bounce 0
 *   delay-notified 0
 *   rcpt pending 2 1700672532 1700671932 - bob@example.net mx.example.net[192.0.2.7]:25 451 4.7.1 Greylisted
 *   rcpt sent 1 0 1700671333 - carol@example.org mx.example.org[192.0.2.8]:25 250 2.0.0 Ok
 *   end
 *
 * Strings (sender, message-id, envid, and a recipient's orcpt, address
 * and relay) are written as RFC 3461 xtext: octets outside "!".."~",
 * and "+" and "=", become "+XX" (upper-case hex), so a normal address
 * reads as itself and a space or control character cannot break a
 * line. "-" stands for an empty or absent value (the null sender <>;
 * no message-id); a value that is "-" itself is written "+2D".
 *
 * rcpt fields, separated by one space: state (pending, sent, failed,
 * bounced), attempts, next try and last try (epoch seconds, 0: none),
 * orcpt, address, relay, then optionally one space and the last error
 * text up to the end of the line: raw, with control characters replaced
 * by spaces and cut to QCTL_ERROR_MAX octets by qctl_format.
 *
 * Numbers are decimal digits only (no sign), at most 18 of them; times
 * and sizes are >= 0. Booleans are 0 or 1. dsn-ret is "-", "full" or
 * "hdrs"; dsn-notify is "-" or a comma list of never, success, failure,
 * delay (never alone), RFC 3461 4.1/4.3.
 */
#ifndef SENDMX_QCTL_H
#define SENDMX_QCTL_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"
#include "util.h"

/* Queue ids: 8 hex digits of seconds since the epoch, 5 of microseconds,
 * 5 derived from the pid; upper case, fixed length, so that sorting ids
 * as strings sorts messages by arrival (until 2106). */
#define QUEUE_ID_LEN 18

#define QCTL_VERSION 1
#define QCTL_LINE_MAX 16384   /* longest line accepted, LF excluded */
#define QCTL_ERROR_MAX 2000   /* last error text kept, octets */

enum qrcpt_state {
	QRCPT_PENDING,  /* to be tried (again) at next_try */
	QRCPT_SENT,     /* delivered; kept until the message is removed */
	QRCPT_FAILED,   /* failed for good, no DSN sent for it yet */
	QRCPT_BOUNCED   /* failed for good and its DSN was sent (or none is
			 * due: a bounce never bounces) */
};

/* DSN RET (RFC 3461 4.3). */
enum qdsn_ret { QDSN_RET_UNSET = 0, QDSN_RET_FULL, QDSN_RET_HDRS };

/* DSN NOTIFY (RFC 3461 4.1) as bits; 0: not given (the default then is
 * FAILURE, and DELAY at the MTA's discretion). NEVER excludes the rest. */
#define QDSN_NOTIFY_NEVER   0x1u
#define QDSN_NOTIFY_SUCCESS 0x2u
#define QDSN_NOTIFY_FAILURE 0x4u
#define QDSN_NOTIFY_DELAY   0x8u

struct qrcpt {
	char *addr;              /* envelope recipient, never NULL */
	char *orcpt;             /* original recipient, RFC 3461 ORCPT
				  * ("rfc822;bob@example.net"); NULL: none */
	enum qrcpt_state state;
	int attempts;            /* delivery attempts made */
	long long next_try;      /* epoch s of the next attempt (pending) */
	long long last_try;      /* epoch s of the last attempt; 0: none */
	char *last_error;        /* last failure text; NULL: none */
	char *relay;             /* "host[ip]:port" that answered last; NULL */
};

struct qctl {
	int version;             /* QCTL_VERSION after parsing */
	char id[QUEUE_ID_LEN + 1];
	long long arrival;       /* epoch s */
	char *sender;            /* envelope sender; "" is the null sender */
	long long size;          /* message size in octets (the data file) */
	bool eightbit;
	char *message_id;        /* "<...>" or NULL */
	enum qdsn_ret dsn_ret;
	unsigned dsn_notify;     /* QDSN_NOTIFY_* bits, 0: not given */
	char *envid;             /* RFC 3461 ENVID or NULL */
	bool is_bounce;          /* this message is a DSN: never bounce it */
	bool delay_notified;     /* a delay DSN was sent already */
	struct qrcpt *rcpts;
	size_t nrcpts;
};

/* Zeroes c: no strings, no recipients, sender "" not yet set (NULL). */
void qctl_init(struct qctl *c);
/* Frees every string and the recipients; c is then as after qctl_init. */
void qctl_free(struct qctl *c);

/* Appends a pending recipient (attempts 0, next_try 0: due at once) with
 * a copy of addr and of orcpt (may be NULL); returns it. */
struct qrcpt *qctl_add_rcpt(struct qctl *c, const char *addr,
			    const char *orcpt);

/* Replaces r's last error (controls replaced by spaces here already) and
 * relay with copies; either may be NULL. */
void qrcpt_set_result(struct qrcpt *r, const char *error, const char *relay);

/* "pending", "sent", "failed", "bounced". */
const char *qrcpt_state_name(enum qrcpt_state s);

/* Valid queue id: QUEUE_ID_LEN characters 0-9 A-F. */
bool qctl_valid_id(const char *id);

/*
 * Appends the control file text of c to out. Everything qctl_format
 * writes, qctl_parse reads back equal (except that a last error has its
 * control characters replaced and is cut to QCTL_ERROR_MAX octets at a
 * UTF-8 character boundary, and an empty last error reads back NULL).
 * Returns ST_OK, or ST_PERMFAIL with err when c cannot be represented
 * (bad id, no recipient, negative number, sender NULL, bad state or DSN
 * values, a line over QCTL_LINE_MAX); out may then hold part of it.
 */
enum status qctl_format(const struct qctl *c, struct buf *out,
			struct err *err);

/*
 * Parses n octets of control file text into *out (initialized here).
 * Returns ST_OK, or ST_PERMFAIL with err "line N: what" (unknown
 * version, unknown or duplicate key, missing key, bad number, bad state,
 * bad xtext, control character, over-long line, no recipient, missing
 * end); *out is then empty (qctl_free is harmless).
 */
enum status qctl_parse(const char *text, size_t n, struct qctl *out,
		       struct err *err);

/* The earliest next_try among pending recipients; -1 when none pends. */
long long qctl_next_due(const struct qctl *c);

#endif
