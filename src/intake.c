/*
 * intake.c - a message from stdin (or SMTP DATA) into its spool file.
 *
 * The input is processed as a byte stream in two stages so that memory
 * does not grow with the message:
 *
 *  1. line structure (line_reader): LF, CRLF and bare CR all end a line;
 *     the dot rule of the caller (sendmail's lone ".", -i, or SMTP DATA
 *     with its dot-stuffing) is applied at the start of each line;
 *  2. a sink, here: while in the header section, lines are collected
 *     (bounded by max_header_bytes) into a struct header_block; from the
 *     first body byte on, data goes straight to the spool, which breaks
 *     lines every 998 octets (RFC 5322 2.1.1).
 *
 * At the end of the header section the header block is completed (-t
 * extraction by recipients, Bcc removal and Date/Message-ID/From by
 * complete) and written, then the blank line, then the body.
 *
 * NUL bytes: in the body they are kept as they came (8BITMIME does not
 * allow them, but dropping data silently would be worse, and the relay
 * decides); in the header section each NUL is replaced by a space,
 * because a header field is handled as a C string here and downstream,
 * and a NUL there could hide the rest of a field from one reader but
 * not from another.
 */
#include "ac_config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "address.h"
#include "complete.h"
#include "header.h"
#include "intake.h"
#include "line_reader.h"
#include "recipients.h"
#include "spool.h"
#include "util.h"

#define LINE_OCTETS 998                   /* RFC 5322 2.1.1 */
#define DEFAULT_MAX_HEADER (1024L * 1024)

/* What a line in the header section turned out to be. */
enum line_class {
	LC_UNDECIDED,  /* not enough seen yet */
	LC_FIELD,      /* "name:" */
	LC_CONT,       /* WSP: continues the field above (RFC 5322 2.2.3) */
	LC_BODY,       /* anything else: the body starts here */
	LC_MBOX        /* a leading mbox "From " line, dropped */
};

struct intake {
	const struct intake_opts *o;
	struct err *err;
	enum status st;            /* first failure; later ones are ignored */
	struct line_reader *reader;

	/* header section */
	bool in_header;
	bool first_line;
	bool skip_line;            /* the mbox "From " line */
	enum line_class cls;
	struct buf line;           /* header line being read */
	struct buf field;          /* field being assembled, CRLF-joined */
	struct header_block hdr;
	size_t max_header;

	/* output */
	struct spool spool;

	/* results */
	char *sender;
	char *message_id;
	struct address_list rcpts;
};

static void fail(struct intake *in, enum status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static bool is_wsp(char c);
static void sink_data(void *ctx, const char *p, size_t n);
static void sink_eol(void *ctx);
static enum line_class classify(const struct intake *in, bool final);
static void hdr_data(struct intake *in, const char *p, size_t n);
static void hdr_eol(struct intake *in);
static void append_header_text(struct buf *b, const char *p, size_t n);
static void commit_field(struct intake *in);
static void start_body(struct intake *in);
static void body_data(struct intake *in, const char *p, size_t n);
static void body_eol(struct intake *in);
static void finish_headers(struct intake *in);
static bool envelope_sender(struct intake *in);
static void rewrite_sender(struct intake *in);
static void run(struct intake *in);
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
	m->too_big = false;
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

/* ---- header section or body ------------------------------------------- */

static void sink_data(void *ctx, const char *p, size_t n)
{
	struct intake *in = ctx;

	if (in->st != ST_OK)
		return;
	if (in->in_header)
		hdr_data(in, p, n);
	else
		body_data(in, p, n);
}

static void sink_eol(void *ctx)
{
	struct intake *in = ctx;

	if (in->st != ST_OK)
		return;
	if (in->in_header)
		hdr_eol(in);
	else
		body_eol(in);
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

		/* A name and colon that do not fit in one 998-octet line
		 * cannot be written as a field: the line is body. */
		if (c == ':')
			return i > 0 && i < LINE_OCTETS - 1 ? LC_FIELD : LC_BODY;
		if (c < 33 || c > 126)
			break;
	}
	if (i == 0)
		return LC_BODY;
	while (i < n && is_wsp(p[i]))
		i++;
	if (i == n)
		return final || n > LINE_OCTETS ? LC_BODY : LC_UNDECIDED;
	return p[i] == ':' && i < LINE_OCTETS - 1 ? LC_FIELD : LC_BODY;
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

/* RFC 5322 2.1.1: the spool breaks body lines longer than 998 octets. */
static void body_data(struct intake *in, const char *p, size_t n)
{
	struct err e;
	enum status st;

	if (in->st == ST_OK &&
	    (st = spool_write_body(&in->spool, p, n, &e)) != ST_OK)
		fail(in, st, "%s", e.msg);
}

static void body_eol(struct intake *in)
{
	struct err e;
	enum status st;

	if (in->st == ST_OK &&
	    (st = spool_end_body_line(&in->spool, &e)) != ST_OK)
		fail(in, st, "%s", e.msg);
}

/* ---- writing the header section ----------------------------------------- */

static void finish_headers(struct intake *in)
{
	struct originator orig;
	struct err e;
	enum status st;
	size_t i;

	commit_field(in);
	in->in_header = false;
	if (in->st != ST_OK)
		return;
	if (in->o->extract_recipients &&
	    (st = recipients_extract(&in->hdr, &in->rcpts, in->o->hostname,
				     &e)) != ST_OK) {
		fail(in, st, "%s", e.msg);
		return;
	}
	rewrite_headers(in->o->rewrite, &in->hdr);
	orig.sender = in->sender;
	orig.login = in->o->login;
	orig.full_name = in->o->full_name;
	orig.hostname = in->o->hostname;
	in->message_id = complete_headers(&in->hdr, &orig);
	for (i = 0; i < in->hdr.n && in->st == ST_OK; i++) {
		if (!in->hdr.fields[i].removed &&
		    (st = spool_write_field(&in->spool, in->hdr.fields[i].raw,
					    &e)) != ST_OK)
			fail(in, st, "%s", e.msg);
	}
	if (in->st == ST_OK &&
	    (st = spool_write(&in->spool, "\r\n", 2, &e)) != ST_OK)
		fail(in, st, "%s", e.msg);
}

/* ---- entry -------------------------------------------------------------- */

static bool envelope_sender(struct intake *in)
{
	char *qualified;
	struct err e;

	if (in->o->sender == NULL) {
		in->sender = complete_local_address(in->o->login,
						    in->o->hostname);
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
	/* What parses as RFC 5322 may still be no RFC 5321 Mailbox
	 * ("a@b_c.org"): refused here, as a recipient would be, not by the
	 * relay after the message was read. */
	if (*in->sender != '\0' && !address_valid_mailbox(in->sender, 1)) {
		fail(in, ST_PERMFAIL, "bad sender address: invalid address '%s'",
		     in->sender);
		return false;
	}
	/* A bare name ("-f root", "MAIL FROM:<root>") is qualified here, not
	 * later: the generated From must be an RFC 5322 3.4.1 addr-spec,
	 * which has a domain. */
	qualified = address_qualify(in->sender, in->o->hostname);
	free(in->sender);
	in->sender = qualified;
	return true;
}

/* How the sender looks to the world (rewrite.h): after -f or the
 * caller's name has been made an address. */
static void rewrite_sender(struct intake *in)
{
	char *n = rewrite_envelope_sender(in->o->rewrite, in->sender);

	if (n) {
		free(in->sender);
		in->sender = n;
	}
}

/* Reads until the message ends. After a failure in SMTP mode the data
 * is still read up to its final "." (and discarded): the client's next
 * command must not be taken from the middle of the message. */
static void run(struct intake *in)
{
	while (!line_reader_ended(in->reader) &&
	       (in->st == ST_OK || in->o->dots == DOT_SMTP)) {
		struct err e;
		enum status st = line_reader_read(in->reader, &e);

		if (st != ST_OK) {
			fail(in, st, "%s", e.msg);
			return;
		}
	}
}

static void intake_init(struct intake *in, FILE *fp,
			const struct intake_opts *o, struct err *err)
{
	struct line_sink sink = { sink_data, sink_eol, in };

	memset(in, 0, sizeof *in);
	in->o = o;
	in->err = err;
	in->st = ST_OK;
	in->reader = line_reader_new(fp, o->dots, &sink);
	in->in_header = true;
	in->first_line = true;
	in->cls = LC_UNDECIDED;
	buf_init(&in->line);
	buf_init(&in->field);
	header_init(&in->hdr);
	in->max_header = o->max_header_bytes > 0 ? (size_t)o->max_header_bytes
						 : (size_t)DEFAULT_MAX_HEADER;
	spool_init(&in->spool, o->max_size);
	address_list_init(&in->rcpts);
}

static void intake_free(struct intake *in)
{
	line_reader_free(in->reader);
	buf_free(&in->line);
	buf_free(&in->field);
	header_free(&in->hdr);
	spool_free(&in->spool);
	free(in->sender);
	free(in->message_id);
	address_list_free(&in->rcpts);
}

enum status intake_read(FILE *fp, const struct intake_opts *opts,
			const struct address_list *cmdline,
			struct message *msg, struct err *err)
{
	struct intake in;
	struct err e;
	enum status st;
	size_t i;

	message_init(msg);
	intake_init(&in, fp, opts, err);
	if (envelope_sender(&in)) {
		rewrite_sender(&in);
		for (i = 0; cmdline != NULL && i < cmdline->n; i++) {
			st = recipients_add(&in.rcpts,
					    cmdline->items[i].display,
					    cmdline->items[i].mailbox,
					    opts->hostname, "", &e);
			if (st != ST_OK) {
				fail(&in, st, "%s", e.msg);
				break;
			}
		}
	}
	/* sendmail without recipients and without -t fails before reading
	 * (SMTP data must still be read to its end). */
	if (in.st == ST_OK && in.rcpts.n == 0 && !opts->extract_recipients &&
	    opts->dots != DOT_SMTP)
		fail(&in, ST_PERMFAIL, "no recipients");
	if (in.st == ST_OK &&
	    (st = spool_open(&in.spool, opts->spool_dir, &e)) != ST_OK)
		fail(&in, st, "%s", e.msg);
	if (in.st == ST_OK || opts->dots == DOT_SMTP) {
		flockfile(fp);
		run(&in);
		funlockfile(fp);
	}
	if (in.st == ST_OK && in.in_header)
		finish_headers(&in);
	if (in.st == ST_OK && (st = spool_flush(&in.spool, &e)) != ST_OK)
		fail(&in, st, "%s", e.msg);
	if (in.st == ST_OK && in.rcpts.n == 0)
		fail(&in, ST_PERMFAIL, "no recipients");
	if (in.st == ST_OK && (st = spool_rewind(&in.spool, &e)) != ST_OK)
		fail(&in, st, "%s", e.msg);
	msg->too_big = in.spool.too_big;
	if (in.st != ST_OK)
		goto out;
	msg->spool_fd = spool_release(&in.spool);
	msg->size = in.spool.size;
	msg->eightbit = line_reader_eightbit(in.reader) ||
			(in.spool.hi & 0x80) != 0;
	msg->sender = in.sender;
	in.sender = NULL;
	msg->message_id = in.message_id;
	in.message_id = NULL;
	msg->rcpts = in.rcpts;
	address_list_init(&in.rcpts);
	msg->header_lines = in.spool.header_lines;
out:
	intake_free(&in);
	return in.st;
}
