/*
 * complete.h - completing the header section of a submitted message
 * (RFC 6409 8: a submission agent may add what the author left out):
 * Bcc fields removed, Date, Message-ID and From added when missing.
 */
#ifndef SENDMX_COMPLETE_H
#define SENDMX_COMPLETE_H

#include <time.h>

#include "header.h"

/* Who submits the message, for the generated fields. */
struct originator {
	const char *sender;     /* envelope sender; "" for the null sender */
	const char *login;      /* the caller's login; NULL: "nobody" */
	const char *full_name;  /* -F; NULL or "": no display name */
	const char *hostname;   /* NULL or "": "localhost" */
};

/*
 * Makes h ready to be written: marks Bcc and Resent-Bcc removed (blind
 * copies stay blind), then appends Date (now), Message-ID and From
 * (complete_from) when h has none. Returns the message id, allocated:
 * the value of h's Message-ID field without trailing white space when
 * there is one, else the one generated. Never fails.
 */
char *complete_headers(struct header_block *h, const struct originator *o);

/* RFC 5322 3.3 date-time of t in local time with its numeric zone, day
 * and month names in English whatever the locale ("Thu, 01 Jan 2026
 * 00:00:00 +0100"). Allocated. */
char *complete_date(time_t t);

/* A new RFC 5322 3.6.4 msg-id "<YYYYMMDDhhmmss.pid.random@hostname>"
 * (UTC time, 16 hex digits of randomness). Allocated. */
char *complete_message_id(const char *hostname);

/* "login@hostname" with control characters (CR, LF, < 0x20, DEL)
 * removed from login, so that it cannot end a header field. Allocated. */
char *complete_local_address(const char *login, const char *hostname);

/*
 * A From value: o->sender, or complete_local_address() for the null
 * sender; with a full name (controls removed) as one quoted-string
 * before it: "\"Full \\\"Q\\\" Name\" <user@host>". Allocated.
 */
char *complete_from(const struct originator *o);

#endif
