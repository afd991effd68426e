/*
 * bounce_text.c - writing the text of a DSN: a small output buffer with
 * one sticky failure (as in spool.c), line folding within the RFC 5322
 * limits, and the cleaning of everything that comes from elsewhere
 * (addresses, server replies, the ENVID) before it reaches a header or a
 * DSN field: a CR or LF there would let a hostile server or sender add
 * fields of its own. bounce.c builds the DSN with these (bounce_int.h).
 */
#include "ac_config.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bounce_int.h"
#include "complete.h"
#include "util.h"

#define OUT_FLUSH (16 * 1024)
#define LINE_OCTETS 998        /* RFC 5322 2.1.1: MUST */
#define FOLD_WIDTH 78          /* RFC 5322 2.1.1: SHOULD */
#define TEXT_MAX 2000          /* octets kept of a diagnostic or ENVID */

static void out_put(struct out *o, const void *p, size_t n);
static void put_hard(struct out *o, const char *p, size_t n, size_t *col,
		     const char *cont);

/* ---- output ----------------------------------------------------------- */

void bounce_out_fail(struct out *o, enum status st, const char *fmt, ...)
{
	va_list ap;

	if (o->st != ST_OK)
		return;
	o->st = st;
	va_start(ap, fmt);
	err_vset(&o->err, fmt, ap);
	va_end(ap);
}

/* A pipe to a submission process may be non-blocking: wait, don't fail. */
void bounce_out_write(struct out *o, const char *p, size_t n)
{
	ssize_t r;

	while (n > 0 && o->st == ST_OK) {
		r = write(o->fd, p, n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if ((errno == EAGAIN || errno == EWOULDBLOCK) &&
			    poll_fd(o->fd, POLLOUT, -1) >= 0)
				continue;
			bounce_out_fail(o, ST_TEMPFAIL,
					"cannot write the DSN: %s",
					strerror(errno));
			return;
		}
		p += r;
		n -= (size_t)r;
		o->written += r;
	}
}

void bounce_out_flush(struct out *o)
{
	bounce_out_write(o, o->b.data, o->b.len);
	buf_reset(&o->b);
}

static void out_put(struct out *o, const void *p, size_t n)
{
	if (o->st != ST_OK)
		return;
	buf_append(&o->b, p, n);
	if (o->b.len >= OUT_FLUSH)
		bounce_out_flush(o);
}

void bounce_out_puts(struct out *o, const char *s)
{
	out_put(o, s, strlen(s));
}

void bounce_out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	bounce_out_puts(o, s);
	free(s);
}

/* Writes n octets at column *col, breaking the line (CRLF, then cont)
 * where it would pass LINE_OCTETS: only for words too long to fold. */
static void put_hard(struct out *o, const char *p, size_t n, size_t *col,
		     const char *cont)
{
	size_t room, k;

	while (n > 0) {
		room = *col < LINE_OCTETS ? LINE_OCTETS - *col : 0;
		k = n < room ? n : room;
		out_put(o, p, k);
		*col += k;
		p += k;
		n -= k;
		if (n > 0) {
			bounce_out_puts(o, "\r\n");
			bounce_out_puts(o, cont);
			*col = strlen(cont);
		}
	}
}

/*
 * Writes prefix and text as a line ending in CRLF, folded before spaces
 * to stay within FOLD_WIDTH where the words allow and never over
 * LINE_OCTETS. header: RFC 5322 2.2.3 folding, the space stays at the
 * start of the next line (unfolding gives the text back). Otherwise, for
 * people, the space becomes the line break and indent starts the next.
 */
void bounce_out_wrap(struct out *o, const char *prefix, const char *text,
		     const char *indent, bool header)
{
	const char *cont = header ? " " : indent;
	size_t col = strlen(prefix);
	const char *p = text, *w;
	size_t n, lead;
	bool any = false;

	bounce_out_puts(o, prefix);
	while (*p != '\0') {
		w = p;
		for (lead = 0; w[lead] == ' '; lead++)
			;
		for (n = lead; w[n] != '\0' && w[n] != ' '; n++)
			;
		p = w + n;
		if (any && lead > 0 && col + n > FOLD_WIDTH) {
			bounce_out_puts(o, "\r\n");
			col = 0;
			if (!header) {
				bounce_out_puts(o, indent);
				col = strlen(indent);
				w += lead;
				n -= lead;
			}
		}
		put_hard(o, w, n, &col, cont);
		any = true;
	}
	bounce_out_puts(o, "\r\n");
}

void bounce_out_field(struct out *o, const char *name, const char *value)
{
	char *prefix = xasprintf("%s: ", name);

	bounce_out_wrap(o, prefix, value, NULL, true);
	free(prefix);
}

void bounce_out_date_field(struct out *o, const char *name, long long t)
{
	char *d = complete_date((time_t)t);

	bounce_out_field(o, name, d);
	free(d);
}

/* ---- cleaning what others wrote --------------------------------------- */

/*
 * A diagnostic or ENVID for one field: each run of control octets (CR,
 * LF, TAB and the rest) becomes one space, 8-bit octets become '?' (RFC
 * 3464 fields are US-ASCII), no space at either end, cut to TEXT_MAX
 * with "..." (a reply is bounded by reply.h; ours need no more).
 */
char *bounce_clean_text(const char *s)
{
	struct buf b;
	bool space = false;
	unsigned char c;

	buf_init(&b);
	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f || c == ' ') {
			space = b.len > 0;
			continue;
		}
		if (space)
			buf_append(&b, " ", 1);
		space = false;
		buf_append(&b, c >= 0x80 ? "?" : s, 1);
		if (b.len >= TEXT_MAX) {
			buf_appends(&b, "...");
			break;
		}
	}
	if (b.data == NULL)
		buf_appends(&b, "");
	return b.data;
}

/* RFC 3464 2.3.2: report the address exactly as received, unless it has
 * characters such as CR or LF: those (all controls) become '?'. */
char *bounce_clean_addr(const char *s)
{
	char *a = xstrdup(s);

	replace_controls(a, strlen(a), '?');
	return a;
}

/* Our host name or queue id, for places where a stray character would
 * break the syntax (boundary, msg-id, From): only host name and address
 * literal characters stay, anything else becomes '-'. */
char *bounce_clean_name(const char *s, const char *dflt)
{
	char *n, *p;

	if (s == NULL || *s == '\0')
		s = dflt;
	n = xstrndup(s, 255);
	for (p = n; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr(".-_:[]", c) != NULL))
			*p = '-';
	}
	return n;
}

bool bounce_has_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}
