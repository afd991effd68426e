/*
 * bounce_int.h - what bounce.c (the DSN and its parts) shares with
 * bounce_text.c (the buffered writer, folding, and the cleaning of what
 * others wrote). Only those files include it; the rest see bounce.h.
 */
#ifndef SENDMX_BOUNCE_INT_H
#define SENDMX_BOUNCE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "status.h"
#include "util.h"

/* A buffered writer to the DSN's descriptor with a sticky failure: the
 * writers can be called in sequence and the outcome checked once. */
struct out {
	int fd;
	struct buf b;
	off_t written;
	enum status st;
	struct err err;
};

/* ---- output (bounce_text.c) ---------------------------------------------- */

/* Records the first failure (st, formatted message); later ones are
 * dropped, and every writer does nothing once o->st is not ST_OK. */
void bounce_out_fail(struct out *o, enum status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Writes n octets to o->fd now, past the buffer (flush it first); waits
 * on a non-blocking descriptor; counts o->written. */
void bounce_out_write(struct out *o, const char *p, size_t n);

/* Writes out what the buffer holds. */
void bounce_out_flush(struct out *o);

/* Buffered output of s, or of the formatted text. */
void bounce_out_puts(struct out *o, const char *s);
void bounce_out_printf(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Writes prefix and text as a line ending in CRLF, folded before spaces
 * to stay within 78 octets where the words allow and never over 998.
 * header: RFC 5322 2.2.3 folding, the space stays at the start of the
 * next line (unfolding gives the text back). Otherwise, for people, the
 * space becomes the line break and indent starts the next.
 */
void bounce_out_wrap(struct out *o, const char *prefix, const char *text,
		     const char *indent, bool header);

/* "name: value" folded as a header field; value already clean. */
void bounce_out_field(struct out *o, const char *name, const char *value);

/* "name: " and the RFC 5322 date of t (epoch s). */
void bounce_out_date_field(struct out *o, const char *name, long long t);

/* ---- cleaning what others wrote (bounce_text.c) -------------------------- */

/* A diagnostic or ENVID for one field (allocated): runs of controls and
 * spaces become one space, 8-bit octets '?', trimmed, cut at 2000
 * octets with "...". */
char *bounce_clean_text(const char *s);

/* An address as received (allocated), controls replaced by '?'. */
char *bounce_clean_addr(const char *s);

/* A host name or queue id safe for a boundary, msg-id or From
 * (allocated): characters other than letters, digits and ".-_:[]"
 * become '-', cut at 255; NULL or "" gives dflt. */
char *bounce_clean_name(const char *s, const char *dflt);

/* Whether s has an octet >= 0x80. */
bool bounce_has_8bit(const char *s);

#endif
