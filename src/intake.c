/*
 * intake.c - a message from stdin (or SMTP DATA) into its spool file.
 *
 * The input is processed as a byte stream in two stages so that memory
 * does not grow with the message:
 *
 *  1. line structure: LF, CRLF and bare CR all end a line; the dot rule
 *     of the caller (sendmail's lone ".", -i, or SMTP DATA with its
 *     dot-stuffing) is applied at the start of each line;
 *  2. a sink: while in the header section, lines are collected (bounded
 *     by max_header_bytes) into a struct header_block; from the first
 *     body byte on, data goes straight to a 64 KiB output buffer, with
 *     CRLF inserted every 998 octets (RFC 5322 2.1.1).
 *
 * At the end of the header section the header block is completed (-t
 * extraction, Bcc removal, Date/Message-ID/From) and written, then the
 * blank line, then the body.
 *
 * NUL bytes: in the body they are kept as they came (8BITMIME does not
 * allow them, but dropping data silently would be worse, and the relay
 * decides); in the header section each NUL is replaced by a space,
 * because a header field is handled as a C string here and downstream,
 * and a NUL there could hide the rest of a field from one reader but
 * not from another.
 */
#include "ac_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
#include "header.h"
#include "intake.h"
#include "util.h"

#define IO_CHUNK (64 * 1024)
#define LINE_OCTETS 998                   /* RFC 5322 2.1.1 */
#define DEFAULT_MAX_HEADER (1024L * 1024)

/* Stage 1: where a line start's dot stands. */
enum dot_state {
	D_NONE,
	D_DOT,    /* "." at the start of a line */
	D_DOTCR   /* ".\r" in SMTP data: the end if LF follows */
};

/* What the filler knows of the current line (see fill_lines). */
enum fill_state { F_BOL, F_DOT, F_DOTCR, F_MID };

/* What a line in the header section turned out to be. */
enum line_class {
	LC_UNDECIDED,  /* not enough seen yet */
	LC_FIELD,      /* "name:" */
	LC_CONT,       /* WSP: continues the field above (RFC 5322 2.2.3) */
	LC_BODY,       /* anything else: the body starts here */
	LC_MBOX        /* a leading mbox "From " line, dropped */
};

struct intake {
	FILE *in;
	const struct intake_opts *o;
	struct err *err;
	enum status st;            /* first failure; later ones are ignored */
	char *ibuf;
	enum fill_state fill;
	bool block_reads;          /* fread whole blocks (see fill) */
	bool ended;                /* the dot rule ended the message */

	/* stage 1 */
	bool bol;                  /* at a line start where dots matter */
	bool cr_pending;           /* CR seen, LF may follow */
	bool line_open;            /* bytes since the last line end */
	enum dot_state dot;

	/* header section */
	bool in_header;
	bool first_line;
	bool skip_line;            /* the mbox "From " line */
	enum line_class cls;
	struct buf line;           /* header line being read */
	struct buf field;          /* field being assembled, CRLF-joined */
	struct header_block hdr;
	size_t max_header;

	/* body */
	size_t col;                /* octets on the current output line */
	unsigned char hi;          /* OR of the bytes: bit 7 means 8-bit data */

	/* output */
	int fd;
	char *obuf;
	size_t olen;
	off_t size;
	size_t header_lines;

	/* results */
	char *sender;
	char *message_id;
	struct address_list rcpts;
};

static void fail(struct intake *in, enum status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static bool is_wsp(char c);
static char *strip_controls(const char *s);
static const char *host_name(const struct intake *in);
static bool out_flush(struct intake *in);
static void out_write(struct intake *in, const void *p, size_t n);
static bool spool_open(struct intake *in);
static size_t fill_lines(struct intake *in);
static size_t fill(struct intake *in);
static bool can_read_ahead(FILE *fp, enum dot_rule dots);
static size_t plain_run(const char *p, size_t n, unsigned char *hi);
static void step(struct intake *in, unsigned char c);
static void feed(struct intake *in, const char *p, size_t n);
static void at_eof(struct intake *in);
static void run(struct intake *in);
static void eol(struct intake *in);
static void sink_data(struct intake *in, const char *p, size_t n);
static void sink_eol(struct intake *in);
static enum line_class classify(const struct intake *in, bool final);
static void hdr_data(struct intake *in, const char *p, size_t n);
static void hdr_eol(struct intake *in);
static void append_header_text(struct buf *b, const char *p, size_t n);
static void commit_field(struct intake *in);
static void start_body(struct intake *in);
static void body_data(struct intake *in, const char *p, size_t n);
static bool same_mailbox(const char *a, const char *b);
static bool add_rcpt(struct intake *in, const char *display,
		     const char *mailbox, const char *where);
static bool extract_rcpts(struct intake *in);
static char *rfc5322_date(time_t t);
static char *make_message_id(const struct intake *in);
static char *quote_display(const char *name);
static char *make_from(const struct intake *in);
static void complete_headers(struct intake *in);
static size_t fold_point(const char *p, size_t len, size_t room);
static void write_header_line(struct intake *in, const char *p, size_t len);
static void write_field(struct intake *in, const char *raw);
static void finish_headers(struct intake *in);
static bool envelope_sender(struct intake *in);
static void intake_init(struct intake *in, FILE *fp,
			const struct intake_opts *o, struct err *err);
static void intake_free(struct intake *in);

/* ---- message ---------------------------------------------------------- */

void message_init(struct message *m)
{
	m->spool_fd = -1;
	m->spool_path = NULL;
	m->size = 0;
	m->eightbit = false;
	m->sender = NULL;
	m->message_id = NULL;
	address_list_init(&m->rcpts);
	m->header_lines = 0;
}

void message_free(struct message *m)
{
	if (m->spool_fd >= 0)
		close(m->spool_fd);
	if (m->spool_path != NULL)
		unlink(m->spool_path);
	free(m->spool_path);
	free(m->sender);
	free(m->message_id);
	address_list_free(&m->rcpts);
	message_init(m);
}

/* ---- helpers ---------------------------------------------------------- */

static void fail(struct intake *in, enum status st, const char *fmt, ...)
{
	va_list ap;

	if (in->st != ST_OK)
		return;
	in->st = st;
	va_start(ap, fmt);
	err_vset(in->err, fmt, ap);
	va_end(ap);
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Drops CR, LF, NUL-free controls and DEL: what goes into a generated
 * header must not be able to end the field and start another one. */
static char *strip_controls(const char *s)
{
	char *r = xstrdup(s), *w = r;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c != 0x7f)
			*w++ = (char)c;
	}
	*w = '\0';
	return r;
}

static const char *host_name(const struct intake *in)
{
	return in->o->hostname && *in->o->hostname ? in->o->hostname
						   : "localhost";
}

/* ---- output ----------------------------------------------------------- */

static bool out_flush(struct intake *in)
{
	size_t off = 0;

	while (off < in->olen) {
		ssize_t w = write(in->fd, in->obuf + off, in->olen - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fail(in, ST_TEMPFAIL, "cannot write the spool file: %s",
			     w < 0 ? strerror(errno) : "short write");
			return false;
		}
		off += (size_t)w;
	}
	in->olen = 0;
	return true;
}

static void out_write(struct intake *in, const void *p, size_t n)
{
	const char *s = p;

	if (in->st != ST_OK)
		return;
	if (in->o->max_size > 0 && in->size + (off_t)n > in->o->max_size) {
		fail(in, ST_PERMFAIL, "message larger than %ld bytes",
		     in->o->max_size);
		return;
	}
	in->size += (off_t)n;
	while (n > 0) {
		size_t k;

		if (in->olen == IO_CHUNK && !out_flush(in))
			return;
		k = IO_CHUNK - in->olen;
		if (k > n)
			k = n;
		memcpy(in->obuf + in->olen, s, k);
		in->olen += k;
		s += k;
		n -= k;
	}
}

/* A private file (mkstemp: mode 0600) that nobody else can open by name:
 * it is unlinked at once, so it also disappears however we exit. */
static bool spool_open(struct intake *in)
{
	const char *dir = in->o->spool_dir ? in->o->spool_dir : "/tmp";
	char *path = xasprintf("%s/sendmx-XXXXXX", dir);
	bool ok = false;

	in->fd = mkstemp(path);
	if (in->fd < 0) {
		fail(in, ST_TEMPFAIL, "cannot create a spool file in %s: %s",
		     dir, strerror(errno));
		goto out;
	}
	if (unlink(path) < 0) {
		fail(in, ST_TEMPFAIL, "cannot unlink spool file %s: %s", path,
		     strerror(errno));
		goto out;
	}
	(void)fcntl(in->fd, F_SETFD, FD_CLOEXEC);
	ok = true;
out:
	free(path);
	return ok;
}

/* ---- input ------------------------------------------------------------ */

/*
 * When a lone "." can end the message, the input may go on after it:
 * the next SMTP command in -bs, or a terminal or pipe that stays open.
 * So this filler stops where step() may end the message (after the line
 * end of a "." line): nothing that follows the message is consumed, and
 * reading never blocks waiting for bytes the message does not need.
 * getc_unlocked keeps the cost per byte to a pointer compare.
 */
static size_t fill_lines(struct intake *in)
{
	enum fill_state s = in->fill;
	size_t n = 0;
	int c;

	while (n < IO_CHUNK && (c = getc_unlocked(in->in)) != EOF) {
		in->ibuf[n++] = (char)c;
		if (c == '\n') {
			bool stop = s == F_DOT || s == F_DOTCR;

			s = F_BOL;
			if (stop)
				break;
		} else if (c == '\r') {
			bool stop = s == F_DOT && in->o->dots == DOT_ENDS;

			s = s == F_DOT ? F_DOTCR : F_BOL;
			if (stop)
				break;  /* step() ends the message here */
		} else {
			/* after ".\r" a new line has begun, as in step() */
			bool bol = s == F_BOL || s == F_DOTCR;

			s = bol && c == '.' ? F_DOT : F_MID;
		}
	}
	in->fill = s;
	return n;
}

/* Large blocks where reading ahead can neither block nor take bytes
 * that belong to someone else: with -i only EOF ends the message, and a
 * regular file never blocks (the rest of it after a "." line is not
 * read by anyone: sendmail ignores it too). */
static size_t fill(struct intake *in)
{
	if (in->block_reads)
		return fread(in->ibuf, 1, IO_CHUNK, in->in);
	return fill_lines(in);
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

/* ---- stage 1: line ends and the dot rule ------------------------------- */

static void eol(struct intake *in)
{
	sink_eol(in);
	in->line_open = false;
	in->bol = in->o->dots != DOT_IGNORE;
}

/* One byte where state matters: after a CR, after a line start dot, or
 * at a line start. */
static void step(struct intake *in, unsigned char c)
{
	if (in->cr_pending) {
		in->cr_pending = false;
		eol(in);  /* CRLF, or a bare CR that becomes one */
		if (c == '\n')
			return;
	}
	if (in->dot == D_DOT) {
		in->dot = D_NONE;
		if (c == '\n' || (c == '\r' && in->o->dots == DOT_ENDS)) {
			in->ended = true;
			return;
		}
		if (c == '\r') {
			in->dot = D_DOTCR;
			return;
		}
		/* RFC 5321 4.5.2: in SMTP data the first of the leading
		 * dots was added by the sender; elsewhere it is data. */
		if (in->o->dots != DOT_SMTP)
			sink_data(in, ".", 1);
	} else if (in->dot == D_DOTCR) {
		in->dot = D_NONE;
		if (c == '\n') {
			in->ended = true;
			return;
		}
		sink_data(in, ".", 1);  /* ".", ended by a bare CR: data */
		eol(in);
	}
	if (in->bol) {
		in->bol = false;
		if (c == '.') {
			in->dot = D_DOT;
			return;
		}
	}
	if (c == '\r') {
		in->cr_pending = true;
	} else if (c == '\n') {
		eol(in);
	} else {
		in->hi |= c;
		sink_data(in, (const char *)&c, 1);
	}
}

/* The common cases inline; step() for the rest. */
static void feed(struct intake *in, const char *p, size_t n)
{
	const char *end = p + n;

	while (p < end && !in->ended) {
		unsigned char c = (unsigned char)*p;
		size_t k;

		if (in->cr_pending && c == '\n') {
			in->cr_pending = false;
			p++;
			eol(in);
			continue;
		}
		if (in->cr_pending || in->dot != D_NONE ||
		    (in->bol && c == '.')) {
			step(in, c);
			p++;
			continue;
		}
		in->bol = false;
		if (c == '\n' || c == '\r') {
			p++;
			if (c == '\n')
				eol(in);
			else
				in->cr_pending = true;
			continue;
		}
		k = plain_run(p, (size_t)(end - p), &in->hi);
		sink_data(in, p, k);
		p += k;
	}
}

static void at_eof(struct intake *in)
{
	if (in->cr_pending) {
		in->cr_pending = false;
		eol(in);
	}
	if (in->o->dots == DOT_SMTP) {
		/* RFC 5321 4.1.1.4: only "." ends the data; a sender that
		 * vanished earlier did not mean to send this message. */
		fail(in, ST_PERMFAIL,
		     "SMTP data ended by EOF before the final '.'");
		return;
	}
	if (in->dot == D_DOT) {
		in->ended = true;  /* a last line "." without newline */
		return;
	}
	if (in->line_open)
		eol(in);  /* the missing final newline */
	in->ended = true;
}

/* Reads until the message ends. After a failure in SMTP mode the data
 * is still read up to its final "." (and discarded): the client's next
 * command must not be taken from the middle of the message. */
static void run(struct intake *in)
{
	while (!in->ended &&
	       (in->st == ST_OK || in->o->dots == DOT_SMTP)) {
		size_t n = fill(in);

		if (n == 0) {
			if (ferror(in->in))
				fail(in, ST_TEMPFAIL,
				     "cannot read the message: %s",
				     strerror(errno));
			else
				at_eof(in);
			return;
		}
		feed(in, in->ibuf, n);
	}
}

/* ---- stage 2: header section or body ----------------------------------- */

static void sink_data(struct intake *in, const char *p, size_t n)
{
	in->line_open = true;
	if (in->st != ST_OK)
		return;
	if (in->in_header)
		hdr_data(in, p, n);
	else
		body_data(in, p, n);
}

static void sink_eol(struct intake *in)
{
	if (in->st != ST_OK)
		return;
	if (in->in_header) {
		hdr_eol(in);
	} else {
		out_write(in, "\r\n", 2);
		in->col = 0;
	}
}

/*
 * RFC 5322 2.2: a field starts with a name of printable ASCII except ':'
 * (obs-optional: WSP may precede the colon, as header_line_is_field
 * accepts). Decided as early as possible so that a body without headers
 * never waits in the header buffer. A name cannot be longer than a line
 * may be, which bounds the undecided case too.
 */
static enum line_class classify(const struct intake *in, bool final)
{
	const char *p = in->line.data;
	size_t n = in->line.len, i;

	if (n == 0)
		return final ? LC_BODY : LC_UNDECIDED;
	if (in->first_line && memcmp(p, "From ", n < 5 ? n : 5) == 0) {
		if (n >= 5)
			return LC_MBOX;
		if (!final)
			return LC_UNDECIDED;
	}
	if (is_wsp(p[0]))
		return in->field.len > 0 ? LC_CONT : LC_BODY;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == ':')
			return i > 0 ? LC_FIELD : LC_BODY;
		if (c < 33 || c > 126)
			break;
	}
	if (i == 0)
		return LC_BODY;
	while (i < n && is_wsp(p[i]))
		i++;
	if (i == n)
		return final || n > LINE_OCTETS ? LC_BODY : LC_UNDECIDED;
	return p[i] == ':' ? LC_FIELD : LC_BODY;
}

static void hdr_data(struct intake *in, const char *p, size_t n)
{
	if (in->skip_line)
		return;
	buf_append(&in->line, p, n);
	if (in->cls == LC_UNDECIDED)
		in->cls = classify(in, false);
	if (in->cls == LC_MBOX) {
		in->skip_line = true;
		buf_reset(&in->line);
		return;
	}
	if (in->cls == LC_BODY) {
		start_body(in);
		return;
	}
	if (in->hdr.bytes + in->field.len + in->line.len > in->max_header)
		fail(in, ST_PERMFAIL, "header section larger than %zu bytes",
		     in->max_header);
}

static void append_header_text(struct buf *b, const char *p, size_t n)
{
	size_t from = b->len, i;

	buf_append(b, p, n);
	for (i = from; i < b->len; i++) {
		if (b->data[i] == '\0')
			b->data[i] = ' ';
	}
}

static void hdr_eol(struct intake *in)
{
	enum line_class cls;

	if (in->skip_line) {
		in->skip_line = false;
		in->first_line = false;
		in->cls = LC_UNDECIDED;
		return;
	}
	if (in->line.len == 0) {
		/* RFC 5322 2.1: the empty line ends the header section;
		 * finish_headers writes its own. */
		finish_headers(in);
		return;
	}
	cls = in->cls == LC_UNDECIDED ? classify(in, true) : in->cls;
	if (cls == LC_BODY || cls == LC_MBOX) {
		start_body(in);
		sink_eol(in);
		return;
	}
	if (cls == LC_FIELD)
		commit_field(in);
	else
		buf_append(&in->field, "\r\n", 2);
	append_header_text(&in->field, in->line.data, in->line.len);
	buf_reset(&in->line);
	in->cls = LC_UNDECIDED;
	in->first_line = false;
}

static void commit_field(struct intake *in)
{
	if (in->field.len > 0)
		(void)header_add_raw(&in->hdr, in->field.data);
	buf_reset(&in->field);
}

/* The line in in->line is the first of the body: there was no empty
 * line, or no header at all. The empty line is still written. */
static void start_body(struct intake *in)
{
	finish_headers(in);
	body_data(in, in->line.data, in->line.len);
	buf_reset(&in->line);
}

/* RFC 5322 2.1.1: no line longer than 998 octets; a longer body line is
 * broken, which changes it, but a relay would refuse it whole. */
static void body_data(struct intake *in, const char *p, size_t n)
{
	while (n > 0) {
		size_t k;

		if (in->col == LINE_OCTETS) {
			out_write(in, "\r\n", 2);
			in->col = 0;
		}
		k = LINE_OCTETS - in->col;
		if (k > n)
			k = n;
		out_write(in, p, k);
		in->col += k;
		p += k;
		n -= k;
	}
}

/* ---- recipients --------------------------------------------------------- */

/* RFC 5321 2.4: the local part is case-sensitive, the domain is not. */
static bool same_mailbox(const char *a, const char *b)
{
	const char *da = address_domain(a), *db = address_domain(b);
	size_t la, lb;

	if (da == NULL || db == NULL)
		return da == NULL && db == NULL && strcmp(a, b) == 0;
	la = (size_t)(da - 1 - a);
	lb = (size_t)(db - 1 - b);
	return la == lb && memcmp(a, b, la) == 0 &&
	       ascii_strcasecmp(da, db) == 0;
}

static bool add_rcpt(struct intake *in, const char *display,
		     const char *mailbox, const char *where)
{
	size_t i;

	if (has_control_chars(mailbox)) {
		fail(in, ST_PERMFAIL,
		     "control character in recipient address%s", where);
		return false;
	}
	if (!address_valid_mailbox(mailbox, 1)) {
		fail(in, ST_PERMFAIL, "invalid recipient address '%s'%s",
		     mailbox, where);
		return false;
	}
	for (i = 0; i < in->rcpts.n; i++) {
		if (same_mailbox(in->rcpts.items[i].mailbox, mailbox))
			return true;
	}
	address_list_add(&in->rcpts, display, mailbox);
	return true;
}

/* -t: RFC 5322 3.6.6 says resent fields describe the latest
 * introduction of the message, so when there are any, their
 * destinations are the ones meant now. */
static bool extract_rcpts(struct intake *in)
{
	static const char *const plain[] = { "To", "Cc", "Bcc" };
	static const char *const resent[] = { "Resent-To", "Resent-Cc",
					      "Resent-Bcc" };
	const char *const *names = plain;
	struct header_block *h = &in->hdr;
	size_t i, k;

	for (i = 0; i < h->n; i++) {
		if (!h->fields[i].removed &&
		    ascii_strncasecmp(h->fields[i].name, "Resent-", 7) == 0)
			names = resent;
	}
	for (k = 0; k < 3; k++) {
		long f;

		for (f = header_find(h, names[k], 0); f >= 0;
		     f = header_find(h, names[k], (size_t)f + 1)) {
			struct address_list l;
			struct err e;
			char *v = header_value(h, (size_t)f);
			char *where = xasprintf(" in the %s: header",
						h->fields[f].name);
			bool ok;

			address_list_init(&l);
			ok = address_parse_list(v, &l, &e) == ST_OK;

			if (!ok)
				fail(in, ST_PERMFAIL, "bad address%s: %s",
				     where, e.msg);
			for (i = 0; ok && i < l.n; i++)
				ok = add_rcpt(in, l.items[i].display,
					      l.items[i].mailbox, where);
			address_list_free(&l);
			free(where);
			free(v);
			if (!ok)
				return false;
		}
	}
	return true;
}

/* ---- generated fields --------------------------------------------------- */

/* RFC 5322 3.3 date-time in local time with its numeric zone. Names are
 * spelled out here: strftime's %a and %b follow the locale. */
static char *rfc5322_date(time_t t)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu",
					 "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr",
					    "May", "Jun", "Jul", "Aug",
					    "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	long off;
	char sign = '+';

	if (localtime_r(&t, &tm) == NULL) {
		gmtime_r(&t, &tm);
		tm.tm_gmtoff = 0;
	}
	off = tm.tm_gmtoff / 60;
	if (off < 0) {
		sign = '-';
		off = -off;
	}
	return xasprintf("%s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld",
			 days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
			 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 sign, off / 60, off % 60);
}

/* RFC 5322 3.6.4: "<time.pid.random@host>": unique without state. */
static char *make_message_id(const struct intake *in)
{
	static unsigned counter;
	uint64_t r = 0;
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
		r = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^
		    ((uint64_t)++counter << 48);
	gmtime_r(&ts.tv_sec, &tm);
	return xasprintf("<%04d%02d%02d%02d%02d%02d.%ld.%016llx@%s>",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			 tm.tm_hour, tm.tm_min, tm.tm_sec, (long)getpid(),
			 (unsigned long long)r, host_name(in));
}

/* RFC 5322 3.2.4: a display name as one quoted-string, always valid
 * whatever it holds; controls were removed by the caller. */
static char *quote_display(const char *name)
{
	struct buf b;

	buf_init(&b);
	buf_append(&b, "\"", 1);
	for (; *name; name++) {
		if (*name == '"' || *name == '\\')
			buf_append(&b, "\\", 1);
		buf_append(&b, name, 1);
	}
	buf_append(&b, "\"", 1);
	return b.data;
}

static char *make_from(const struct intake *in)
{
	char *addr, *name, *quoted, *v;

	if (*in->sender != '\0') {
		addr = xstrdup(in->sender);
	} else {
		char *login = strip_controls(in->o->login ? in->o->login
							  : "nobody");

		addr = xasprintf("%s@%s", login, host_name(in));
		free(login);
	}
	name = strip_controls(in->o->full_name ? in->o->full_name : "");
	if (*name == '\0') {
		free(name);
		return addr;
	}
	quoted = quote_display(name);
	v = xasprintf("%s <%s>", quoted, addr);
	free(quoted);
	free(name);
	free(addr);
	return v;
}

static void complete_headers(struct intake *in)
{
	struct header_block *h = &in->hdr;
	long i;

	if (!header_has(h, "Date")) {
		char *d = rfc5322_date(time(NULL));

		header_add(h, "Date", d, false);
		free(d);
	}
	i = header_find(h, "Message-ID", 0);
	if (i >= 0) {
		char *v = header_value(h, (size_t)i);
		size_t n = strlen(v);

		while (n > 0 && (is_wsp(v[n - 1]) || v[n - 1] == '\r' ||
				 v[n - 1] == '\n'))
			v[--n] = '\0';
		in->message_id = v;
	} else {
		in->message_id = make_message_id(in);
		header_add(h, "Message-ID", in->message_id, false);
	}
	if (!header_has(h, "From")) {
		char *f = make_from(in);

		header_add(h, "From", f, false);
		free(f);
	}
}

/* ---- writing the header section ----------------------------------------- */

/* Where to fold a line that is too long: the last WSP at or before room
 * that has something other than WSP before it (RFC 5322 3.2.2: a folded
 * line must not be only white space). 0 when there is none. */
static size_t fold_point(const char *p, size_t len, size_t room)
{
	size_t first = 0, k;

	while (first < len && is_wsp(p[first]))
		first++;
	for (k = room < len - 1 ? room : len - 1; k > first; k--) {
		if (is_wsp(p[k]))
			return k;
	}
	return 0;
}

/* One physical line, folded (RFC 5322 2.2.3) so that no output line is
 * longer than 998 octets; without white space to fold at, the line is
 * broken with CRLF SP, which adds a space to the value but keeps the
 * message deliverable. */
static void write_header_line(struct intake *in, const char *p, size_t len)
{
	size_t col = 0, i;

	for (i = 0; i < len; i++)
		in->hi |= (unsigned char)p[i];
	while (col + len > LINE_OCTETS) {
		size_t room = LINE_OCTETS - col;
		size_t k = fold_point(p, len, room);

		if (k > 0) {
			out_write(in, p, k);
			out_write(in, "\r\n", 2);
			col = 0;
		} else {
			k = room;
			out_write(in, p, k);
			out_write(in, "\r\n ", 3);
			col = 1;
		}
		p += k;
		len -= k;
		in->header_lines++;
	}
	out_write(in, p, len);
	out_write(in, "\r\n", 2);
	in->header_lines++;
}

static void write_field(struct intake *in, const char *raw)
{
	const char *nl;

	while ((nl = strstr(raw, "\r\n")) != NULL) {
		write_header_line(in, raw, (size_t)(nl - raw));
		raw = nl + 2;
	}
	write_header_line(in, raw, strlen(raw));
}

static void finish_headers(struct intake *in)
{
	size_t i;

	commit_field(in);
	in->in_header = false;
	if (in->st != ST_OK)
		return;
	if (in->o->extract_recipients && !extract_rcpts(in))
		return;
	/* Blind copies stay blind: never written, with or without -t. */
	header_remove(&in->hdr, "Bcc");
	header_remove(&in->hdr, "Resent-Bcc");
	complete_headers(in);
	for (i = 0; i < in->hdr.n; i++) {
		if (!in->hdr.fields[i].removed)
			write_field(in, in->hdr.fields[i].raw);
	}
	out_write(in, "\r\n", 2);
}

/* ---- entry -------------------------------------------------------------- */

static bool envelope_sender(struct intake *in)
{
	struct err e;

	if (in->o->sender == NULL) {
		char *login = strip_controls(in->o->login ? in->o->login
							  : "nobody");

		in->sender = xasprintf("%s@%s", login, host_name(in));
		free(login);
		return true;
	}
	if (*in->o->sender == '\0') {
		in->sender = xstrdup("");
		return true;
	}
	if (address_parse_envelope(in->o->sender, &in->sender, &e) != ST_OK) {
		fail(in, ST_PERMFAIL, "bad sender address: %s", e.msg);
		return false;
	}
	return true;
}

static void intake_init(struct intake *in, FILE *fp,
			const struct intake_opts *o, struct err *err)
{
	memset(in, 0, sizeof *in);
	in->in = fp;
	in->o = o;
	in->err = err;
	in->st = ST_OK;
	in->ibuf = xmalloc(IO_CHUNK);
	in->obuf = xmalloc(IO_CHUNK);
	in->fill = F_BOL;
	in->block_reads = can_read_ahead(fp, o->dots);
	in->bol = o->dots != DOT_IGNORE;
	in->dot = D_NONE;
	in->in_header = true;
	in->first_line = true;
	in->cls = LC_UNDECIDED;
	buf_init(&in->line);
	buf_init(&in->field);
	header_init(&in->hdr);
	in->max_header = o->max_header_bytes > 0 ? (size_t)o->max_header_bytes
						 : (size_t)DEFAULT_MAX_HEADER;
	in->fd = -1;
	address_list_init(&in->rcpts);
}

static void intake_free(struct intake *in)
{
	free(in->ibuf);
	free(in->obuf);
	buf_free(&in->line);
	buf_free(&in->field);
	header_free(&in->hdr);
	if (in->fd >= 0)
		close(in->fd);
	free(in->sender);
	free(in->message_id);
	address_list_free(&in->rcpts);
}

enum status intake_read(FILE *fp, const struct intake_opts *opts,
			const struct address_list *cmdline,
			struct message *msg, struct err *err)
{
	struct intake in;
	size_t i;

	message_init(msg);
	intake_init(&in, fp, opts, err);
	if (envelope_sender(&in)) {
		for (i = 0; cmdline != NULL && i < cmdline->n; i++) {
			if (!add_rcpt(&in, cmdline->items[i].display,
				      cmdline->items[i].mailbox, ""))
				break;
		}
	}
	/* sendmail without recipients and without -t fails before reading
	 * (SMTP data must still be read to its end). */
	if (in.st == ST_OK && in.rcpts.n == 0 && !opts->extract_recipients &&
	    opts->dots != DOT_SMTP)
		fail(&in, ST_PERMFAIL, "no recipients");
	if (in.st == ST_OK)
		spool_open(&in);
	if (in.st == ST_OK || opts->dots == DOT_SMTP) {
		flockfile(fp);
		run(&in);
		funlockfile(fp);
	}
	if (in.st == ST_OK && in.in_header)
		finish_headers(&in);
	if (in.st == ST_OK)
		out_flush(&in);
	if (in.st == ST_OK && in.rcpts.n == 0)
		fail(&in, ST_PERMFAIL, "no recipients");
	if (in.st == ST_OK && lseek(in.fd, 0, SEEK_SET) < 0)
		fail(&in, ST_TEMPFAIL, "cannot rewind the spool file: %s",
		     strerror(errno));
	if (in.st != ST_OK)
		goto out;
	msg->spool_fd = in.fd;
	in.fd = -1;
	msg->size = in.size;
	msg->eightbit = (in.hi & 0x80) != 0;
	msg->sender = in.sender;
	in.sender = NULL;
	msg->message_id = in.message_id;
	in.message_id = NULL;
	msg->rcpts = in.rcpts;
	address_list_init(&in.rcpts);
	msg->header_lines = in.header_lines;
out:
	intake_free(&in);
	return in.st;
}
