/*
 * reply.h - SMTP reply parsing (RFC 5321 4.2), bounded: a hostile server
 * cannot make a reply grow without limit.
 */
#ifndef SENDMX_REPLY_H
#define SENDMX_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define REPLY_MAX_LINES 200        /* lines in one multi-line reply */
#define REPLY_MAX_BYTES (64 * 1024) /* text kept for one reply */

struct smtp_reply {
	int code;            /* 200..599 */
	char enhanced[16];   /* RFC 3463 "x.y.z" from the first line, or "" */
	struct buf text;     /* lines' text after "NNN-"/"NNN ", joined by '\n';
			      * enhanced code kept in the text */
	size_t nlines;
};

enum reply_feed {
	REPLY_MORE,     /* a "NNN-" line: the reply continues */
	REPLY_COMPLETE, /* a "NNN " line ended it */
	REPLY_BAD,      /* not a reply line, or the code changed mid-reply */
	REPLY_TOO_BIG   /* over REPLY_MAX_LINES lines or REPLY_MAX_BYTES of text */
};

void reply_init(struct smtp_reply *r);
void reply_reset(struct smtp_reply *r);
void reply_free(struct smtp_reply *r);

/* Feeds one line (without CRLF; may contain any bytes, NUL included:
 * they are replaced by '?' in the kept text). */
enum reply_feed reply_feed_line(struct smtp_reply *r, const char *line,
				size_t len);

/* "550 5.1.1 text of first line / second line": one line for messages,
 * control characters replaced. Allocated. */
char *reply_summary(const struct smtp_reply *r);

/* The class: 2, 3, 4 or 5. */
static inline int reply_class(const struct smtp_reply *r) { return r->code / 100; }

#endif
