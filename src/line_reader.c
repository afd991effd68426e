/*
 * line_reader.c - line ends and the dot rule, applied to a byte stream.
 *
 * Input is read in pieces of up to 64 KiB and scanned once. The common
 * case, a run of octets without CR or LF, goes to the sink in one call;
 * only the octets where state matters (after a CR, a dot at the start
 * of a line, the line start itself) are stepped through one by one.
 */
#include "ac_config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "line_reader.h"
#include "util.h"

#define IO_CHUNK (64 * 1024)

/* Where a line start's dot stands. */
enum dot_state {
	D_NONE,
	D_DOT,    /* "." at the start of a line */
	D_DOTCR   /* ".\r" in SMTP data: the end if LF follows */
};

/* What the filler knows of the current line (see fill_lines). */
enum fill_state { F_BOL, F_DOT, F_DOTCR, F_MID };

struct line_reader {
	FILE *in;
	enum dot_rule dots;
	struct line_sink sink;
	char *buf;
	enum fill_state fill;
	bool block_reads;          /* fread whole blocks (see fill) */
	bool ended;                /* the dot rule ended the message */
	bool bol;                  /* at a line start where dots matter */
	bool cr_pending;           /* CR seen, LF may follow */
	bool line_open;            /* bytes since the last line end */
	enum dot_state dot;
	unsigned char hi;          /* OR of the bytes: bit 7 means 8-bit data */
};

static size_t fill_lines(struct line_reader *r);
static size_t fill(struct line_reader *r);
static bool can_read_ahead(FILE *fp, enum dot_rule dots);
static size_t plain_run(const char *p, size_t n, unsigned char *hi);
static void emit(struct line_reader *r, const char *p, size_t n);
static void eol(struct line_reader *r);
static void step(struct line_reader *r, unsigned char c);
static void feed(struct line_reader *r, const char *p, size_t n);
static enum status at_eof(struct line_reader *r, struct err *err);

/* ---- input ------------------------------------------------------------ */

/*
 * When a lone "." can end the message, the input may go on after it:
 * the next SMTP command in -bs, or a terminal or pipe that stays open.
 * So this filler stops where step() may end the message (after the line
 * end of a "." line): nothing that follows the message is consumed, and
 * reading never blocks waiting for bytes the message does not need.
 * getc_unlocked keeps the cost per byte to a pointer compare.
 */
static size_t fill_lines(struct line_reader *r)
{
	enum fill_state s = r->fill;
	size_t n = 0;
	int c;

	while (n < IO_CHUNK && (c = getc_unlocked(r->in)) != EOF) {
		r->buf[n++] = (char)c;
		if (c == '\n') {
			bool stop = s == F_DOT || s == F_DOTCR;

			s = F_BOL;
			if (stop)
				break;
		} else if (c == '\r') {
			bool stop = s == F_DOT && r->dots == DOT_ENDS;

			s = s == F_DOT ? F_DOTCR : F_BOL;
			if (stop)
				break;  /* step() ends the message here */
		} else {
			/* after ".\r" a new line has begun, as in step() */
			bool bol = s == F_BOL || s == F_DOTCR;

			s = bol && c == '.' ? F_DOT : F_MID;
		}
	}
	r->fill = s;
	return n;
}

/* Large blocks where reading ahead can neither block nor take bytes
 * that belong to someone else: with -i only EOF ends the message, and a
 * regular file never blocks (the rest of it after a "." line is not
 * read by anyone: sendmail ignores it too). */
static size_t fill(struct line_reader *r)
{
	if (r->block_reads)
		return fread(r->buf, 1, IO_CHUNK, r->in);
	return fill_lines(r);
}

static bool can_read_ahead(FILE *fp, enum dot_rule dots)
{
	struct stat sb;
	int fd;

	if (dots == DOT_IGNORE)
		return true;
	if (dots != DOT_ENDS)
		return false;
	fd = fileno(fp);
	return fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Length of the run of bytes up to the next CR or LF. */
static size_t plain_run(const char *p, size_t n, unsigned char *hi)
{
	unsigned char acc = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\r' || c == '\n')
			break;
		acc |= c;
	}
	*hi |= acc;
	return i;
}

/* ---- line ends and the dot rule ---------------------------------------- */

static void emit(struct line_reader *r, const char *p, size_t n)
{
	r->line_open = true;
	r->sink.data(r->sink.ctx, p, n);
}

static void eol(struct line_reader *r)
{
	r->sink.eol(r->sink.ctx);
	r->line_open = false;
	r->bol = r->dots != DOT_IGNORE;
}

/* One byte where state matters: after a CR, after a line start dot, or
 * at a line start. */
static void step(struct line_reader *r, unsigned char c)
{
	if (r->cr_pending) {
		r->cr_pending = false;
		eol(r);  /* CRLF, or a bare CR that becomes one */
		if (c == '\n')
			return;
	}
	if (r->dot == D_DOT) {
		r->dot = D_NONE;
		if (c == '\n' || (c == '\r' && r->dots == DOT_ENDS)) {
			r->ended = true;
			return;
		}
		if (c == '\r') {
			r->dot = D_DOTCR;
			return;
		}
		/* RFC 5321 4.5.2: in SMTP data the first of the leading
		 * dots was added by the sender; elsewhere it is data. */
		if (r->dots != DOT_SMTP)
			emit(r, ".", 1);
	} else if (r->dot == D_DOTCR) {
		r->dot = D_NONE;
		if (c == '\n') {
			r->ended = true;
			return;
		}
		emit(r, ".", 1);  /* ".", ended by a bare CR: data */
		eol(r);
	}
	if (r->bol) {
		r->bol = false;
		if (c == '.') {
			r->dot = D_DOT;
			return;
		}
	}
	if (c == '\r') {
		r->cr_pending = true;
	} else if (c == '\n') {
		eol(r);
	} else {
		r->hi |= c;
		emit(r, (const char *)&c, 1);
	}
}

/* The common cases inline; step() for the rest. */
static void feed(struct line_reader *r, const char *p, size_t n)
{
	const char *end = p + n;

	while (p < end && !r->ended) {
		unsigned char c = (unsigned char)*p;
		size_t k;

		if (r->cr_pending && c == '\n') {
			r->cr_pending = false;
			p++;
			eol(r);
			continue;
		}
		if (r->cr_pending || r->dot != D_NONE ||
		    (r->bol && c == '.')) {
			step(r, c);
			p++;
			continue;
		}
		r->bol = false;
		if (c == '\n' || c == '\r') {
			p++;
			if (c == '\n')
				eol(r);
			else
				r->cr_pending = true;
			continue;
		}
		k = plain_run(p, (size_t)(end - p), &r->hi);
		emit(r, p, k);
		p += k;
	}
}

static enum status at_eof(struct line_reader *r, struct err *err)
{
	if (r->cr_pending) {
		r->cr_pending = false;
		eol(r);
	}
	if (r->dots == DOT_SMTP) {
		/* RFC 5321 4.1.1.4: only "." ends the data; a sender that
		 * vanished earlier did not mean to send this message. */
		err_set(err, "SMTP data ended by EOF before the final '.'");
		return ST_PERMFAIL;
	}
	if (r->dot == D_DOT) {
		r->ended = true;  /* a last line "." without newline */
		return ST_OK;
	}
	if (r->line_open)
		eol(r);  /* the missing final newline */
	r->ended = true;
	return ST_OK;
}

/* ---- entry -------------------------------------------------------------- */

struct line_reader *line_reader_new(FILE *in, enum dot_rule dots,
				    const struct line_sink *sink)
{
	struct line_reader *r = xcalloc(1, sizeof *r);

	r->in = in;
	r->dots = dots;
	r->sink = *sink;
	r->buf = xmalloc(IO_CHUNK);
	r->fill = F_BOL;
	r->block_reads = can_read_ahead(in, dots);
	r->bol = dots != DOT_IGNORE;
	r->dot = D_NONE;
	return r;
}

void line_reader_free(struct line_reader *r)
{
	if (r == NULL)
		return;
	free(r->buf);
	free(r);
}

enum status line_reader_read(struct line_reader *r, struct err *err)
{
	size_t n = fill(r);

	if (n == 0) {
		if (ferror(r->in)) {
			err_set(err, "cannot read the message: %s",
				strerror(errno));
			return ST_TEMPFAIL;
		}
		return at_eof(r, err);
	}
	feed(r, r->buf, n);
	return ST_OK;
}

bool line_reader_ended(const struct line_reader *r)
{
	return r->ended;
}

bool line_reader_eightbit(const struct line_reader *r)
{
	return (r->hi & 0x80) != 0;
}
