/*
 * smtpd.c - "sendmx -bs": the server side of SMTP (RFC 5321) on a pair of
 * stdio streams, minimal and strict. Each message goes through intake,
 * like one read by -bm, and then to the caller's function, which delivers
 * it before we answer the final dot.
 *
 * Command lines are read with a bound and the excess is discarded, never
 * buffered. The DATA section is read by intake itself under the SMTP dot
 * rule (line_reader.c), which owns where the data ends: it reads up to
 * the terminating "." line and never past it, also when it refuses the
 * message, so message text is never taken for commands.
 */
#include "ac_config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "address.h"
#include "intake.h"
#include "log.h"
#include "smtpd.h"
#include "util.h"

#define SMTPD_MAX_LINE 1000      /* command line octets, CRLF excluded;
				  * RFC 5321 4.5.3.1.4 needs only 512 */
#define SMTPD_MAX_RCPTS 1000     /* RFC 5321 4.5.3.1.8 asks for >= 100 */
#define SMTPD_MAX_REPLY_TEXT 400 /* our share of a 512-octet reply line */

enum line_result { LINE_OK, LINE_TOO_LONG, LINE_EOF };
enum cmd_result { CMD_CONTINUE, CMD_QUIT, CMD_EOF };

struct session {
	FILE *in, *out;
	const struct smtpd_opts *opts;
	smtpd_message_fn fn;
	void *ctx;
	bool ehlo;                  /* EHLO (not HELO): parameters allowed */
	bool write_failed;
	char *sender;               /* MAIL FROM; NULL outside a transaction */
	struct address_list rcpts;
};

struct command {
	const char *verb;
	enum cmd_result (*run)(struct session *s, const char *arg);
};

static enum line_result read_line(FILE *in, struct buf *line);
static enum cmd_result dispatch(struct session *s, struct buf *line);
static void reply(struct session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void reply_part(struct session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void clean_text(const char *in, char *out, size_t cap);
static void reset_transaction(struct session *s);
static bool parse_path(const char *p, char **path, const char **rest);
static bool mail_params_ok(struct session *s, const char *params);
static enum cmd_result cmd_ehlo(struct session *s, const char *arg);
static enum cmd_result cmd_helo(struct session *s, const char *arg);
static enum cmd_result cmd_mail(struct session *s, const char *arg);
static enum cmd_result cmd_rcpt(struct session *s, const char *arg);
static enum cmd_result cmd_data(struct session *s, const char *arg);
static enum cmd_result cmd_rset(struct session *s, const char *arg);
static enum cmd_result cmd_noop(struct session *s, const char *arg);
static enum cmd_result cmd_quit(struct session *s, const char *arg);
static enum cmd_result cmd_vrfy(struct session *s, const char *arg);
static enum cmd_result cmd_help(struct session *s, const char *arg);
static enum cmd_result cmd_not_implemented(struct session *s,
					   const char *arg);
static enum cmd_result take_message(struct session *s);
static void finish_message(struct session *s, struct message *msg,
			   enum status st, struct err *err);

static const struct command commands[] = {
	{ "EHLO", cmd_ehlo },
	{ "HELO", cmd_helo },
	{ "MAIL", cmd_mail },
	{ "RCPT", cmd_rcpt },
	{ "DATA", cmd_data },
	{ "RSET", cmd_rset },
	{ "NOOP", cmd_noop },
	{ "QUIT", cmd_quit },
	{ "VRFY", cmd_vrfy },
	{ "HELP", cmd_help },
	{ "EXPN", cmd_not_implemented },
	{ "STARTTLS", cmd_not_implemented },
	{ "AUTH", cmd_not_implemented },
	{ "BDAT", cmd_not_implemented },
	{ "ETRN", cmd_not_implemented },
	{ "TURN", cmd_not_implemented },
};

enum status smtpd_run(FILE *in, FILE *out, const struct smtpd_opts *opts,
		      smtpd_message_fn fn, void *ctx)
{
	struct session s = { .in = in, .out = out, .opts = opts, .fn = fn,
			     .ctx = ctx };
	enum cmd_result r = CMD_CONTINUE;
	struct buf line;

	buf_init(&line);
	address_list_init(&s.rcpts);
	reply(&s, "220 %s ESMTP sendmx", opts->hostname);
	while (r == CMD_CONTINUE && !s.write_failed) {
		switch (read_line(in, &line)) {
		case LINE_EOF:
			r = CMD_EOF;
			break;
		case LINE_TOO_LONG:
			reply(&s, "500 5.5.6 Line too long");
			break;
		case LINE_OK:
			r = dispatch(&s, &line);
			break;
		}
	}
	reset_transaction(&s);
	buf_free(&line);
	return r == CMD_QUIT && !s.write_failed ? ST_OK : ST_TEMPFAIL;
}

/*
 * One line without its CRLF (or bare LF) into line. Past SMTPD_MAX_LINE
 * octets the rest of the line is read and dropped. A last line without
 * LF counts as EOF: the client is gone.
 */
static enum line_result read_line(FILE *in, struct buf *line)
{
	bool too_long = false;
	int c;

	buf_reset(line);
	while ((c = getc(in)) != EOF && c != '\n') {
		if (line->len < SMTPD_MAX_LINE + 1) {
			char ch = (char)c;
			buf_append(line, &ch, 1);
		} else {
			too_long = true;
		}
	}
	if (c == EOF)
		return LINE_EOF;
	if (line->len > 0 && line->data[line->len - 1] == '\r')
		line->data[--line->len] = '\0';
	if (too_long || line->len > SMTPD_MAX_LINE)
		return LINE_TOO_LONG;
	return LINE_OK;
}

static enum cmd_result dispatch(struct session *s, struct buf *line)
{
	const char *p = line->data ? line->data : "";
	size_t verb_len = strcspn(p, " ");
	const char *arg = p + verb_len;
	size_t k;

	if (strlen(p) != line->len) {
		reply(s, "500 5.5.2 NUL character in command");
		return CMD_CONTINUE;
	}
	while (*arg == ' ')
		arg++;
	for (k = 0; k < sizeof commands / sizeof commands[0]; k++)
		if (strlen(commands[k].verb) == verb_len &&
		    ascii_strncasecmp(p, commands[k].verb, verb_len) == 0)
			return commands[k].run(s, arg);
	reply(s, "500 5.5.2 Command not recognized");
	return CMD_CONTINUE;
}

static void vreply(struct session *s, bool flush, const char *fmt,
		   va_list ap) __attribute__((format(printf, 3, 0)));

static void vreply(struct session *s, bool flush, const char *fmt, va_list ap)
{
	if (s->write_failed)
		return;
	if (vfprintf(s->out, fmt, ap) < 0 || fputs("\r\n", s->out) == EOF ||
	    (flush && fflush(s->out) == EOF) || ferror(s->out))
		s->write_failed = true;
}

/* A complete reply: sent at once. */
static void reply(struct session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreply(s, true, fmt, ap);
	va_end(ap);
}

/* A line of a multi-line reply: flushed with the last one. */
static void reply_part(struct session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreply(s, false, fmt, ap);
	va_end(ap);
}

/* Text from elsewhere (errors, a client's Message-ID) made fit for a
 * reply line: no controls, bounded. */
static void clean_text(const char *in, char *out, size_t cap)
{
	size_t n = in ? strnlen(in, cap - 1) : 0;

	memcpy(out, in ? in : "", n);
	out[n] = '\0';
	replace_controls(out, n, ' ');
}

static void reset_transaction(struct session *s)
{
	free(s->sender);
	s->sender = NULL;
	address_list_free(&s->rcpts);
	address_list_init(&s->rcpts);
}

/*
 * "<...>" at p, a '>' inside a quoted local part not ending it. *path is
 * the bracketed text, *rest what follows (empty, or parameters after a
 * space).
 */
static bool parse_path(const char *p, char **path, const char **rest)
{
	const char *q;
	bool quoted = false;

	if (*p != '<')
		return false;
	for (q = p + 1; *q; q++) {
		if (quoted && *q == '\\' && q[1] != '\0')
			q++;
		else if (*q == '"')
			quoted = !quoted;
		else if (!quoted && *q == '>')
			break;
	}
	if (*q != '>' || (q[1] != '\0' && q[1] != ' '))
		return false;
	*path = xstrndup(p, (size_t)(q - p + 1));
	*rest = q + 1;
	while (**rest == ' ')
		(*rest)++;
	return true;
}

/* RFC 1870 SIZE and RFC 6152 BODY; replies itself when refusing. */
static bool mail_params_ok(struct session *s, const char *params)
{
	char *copy = xstrdup(params), *save = NULL, *tok;
	bool ok = true;

	for (tok = strtok_r(copy, " ", &save); tok && ok;
	     tok = strtok_r(NULL, " ", &save)) {
		if (!s->ehlo) {
			reply(s, "555 5.5.4 MAIL parameters need EHLO");
			ok = false;
		} else if (ascii_strncasecmp(tok, "SIZE=", 5) == 0) {
			const char *v = tok + 5;
			size_t digits = strspn(v, "0123456789");
			if (digits == 0 || v[digits] != '\0' || digits > 18) {
				reply(s, "501 5.5.4 Bad SIZE parameter");
				ok = false;
			} else if (s->opts->max_size > 0 &&
				   strtoll(v, NULL, 10) > s->opts->max_size) {
				reply(s, "552 5.3.4 Message size exceeds "
				      "fixed maximum message size");
				ok = false;
			}
		} else if (ascii_strcasecmp(tok, "BODY=7BIT") != 0 &&
			   ascii_strcasecmp(tok, "BODY=8BITMIME") != 0) {
			reply(s, "555 5.5.4 Unsupported MAIL parameter");
			ok = false;
		}
	}
	free(copy);
	return ok;
}

static bool valid_helo_arg(const char *arg)
{
	return *arg != '\0' && !has_control_chars(arg);
}

static enum cmd_result cmd_ehlo(struct session *s, const char *arg)
{
	if (!valid_helo_arg(arg)) {
		reply(s, "501 5.5.4 Syntax: EHLO hostname");
		return CMD_CONTINUE;
	}
	/* RFC 5321 4.1.4: EHLO also resets the transaction. */
	reset_transaction(s);
	s->ehlo = true;
	reply_part(s, "250-%s", s->opts->hostname);
	reply_part(s, "250-PIPELINING");
	reply_part(s, "250-8BITMIME");
	if (s->opts->max_size > 0)
		reply_part(s, "250-SIZE %ld", s->opts->max_size);
	else
		reply_part(s, "250-SIZE");
	reply(s, "250 ENHANCEDSTATUSCODES");
	return CMD_CONTINUE;
}

static enum cmd_result cmd_helo(struct session *s, const char *arg)
{
	if (!valid_helo_arg(arg)) {
		reply(s, "501 5.5.4 Syntax: HELO hostname");
		return CMD_CONTINUE;
	}
	reset_transaction(s);
	s->ehlo = false;
	reply(s, "250 %s", s->opts->hostname);
	return CMD_CONTINUE;
}

static enum cmd_result cmd_mail(struct session *s, const char *arg)
{
	struct err err;
	char *path = NULL, *addr = NULL;
	const char *params;

	if (s->sender) {
		reply(s, "503 5.5.1 Error: nested MAIL command");
		return CMD_CONTINUE;
	}
	if (ascii_strncasecmp(arg, "FROM:", 5) != 0) {
		reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return CMD_CONTINUE;
	}
	arg += 5;
	while (*arg == ' ')
		arg++;
	if (!parse_path(arg, &path, &params)) {
		reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		goto out;
	}
	if (!mail_params_ok(s, params))
		goto out;
	if (address_parse_envelope(path, &addr, &err) != ST_OK ||
	    (*addr != '\0' && !address_valid_mailbox(addr, 1))) {
		reply(s, "501 5.1.7 Bad sender address syntax");
		free(addr);
		goto out;
	}
	s->sender = addr;
	reply(s, "250 2.1.0 Ok");
out:
	free(path);
	return CMD_CONTINUE;
}

static enum cmd_result cmd_rcpt(struct session *s, const char *arg)
{
	struct err err;
	char *path = NULL, *addr = NULL;
	const char *params;

	if (s->sender == NULL) {
		reply(s, "503 5.5.1 Error: need MAIL command");
		return CMD_CONTINUE;
	}
	if (ascii_strncasecmp(arg, "TO:", 3) != 0) {
		reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return CMD_CONTINUE;
	}
	arg += 3;
	while (*arg == ' ')
		arg++;
	if (!parse_path(arg, &path, &params)) {
		reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		goto out;
	}
	if (*params != '\0') {
		reply(s, "555 5.5.4 Unsupported RCPT parameter");
		goto out;
	}
	/* Checked as intake will check it (RFC 5321 4.1.2 Mailbox): an
	 * address taken here but refused after DATA would cost the message
	 * its other recipients too. */
	if (address_parse_envelope(path, &addr, &err) != ST_OK ||
	    *addr == '\0' || !address_valid_mailbox(addr, 1)) {
		reply(s, "501 5.1.3 Bad recipient address syntax");
		goto out;
	}
	if (s->rcpts.n >= SMTPD_MAX_RCPTS) {
		reply(s, "452 4.5.3 Too many recipients");
		goto out;
	}
	address_list_add(&s->rcpts, NULL, addr);
	reply(s, "250 2.1.5 Ok");
out:
	free(addr);
	free(path);
	return CMD_CONTINUE;
}

static enum cmd_result cmd_data(struct session *s, const char *arg)
{
	if (*arg != '\0')
		reply(s, "501 5.5.4 Syntax: DATA");
	else if (s->sender == NULL)
		reply(s, "503 5.5.1 Error: need MAIL command");
	else if (s->rcpts.n == 0)
		reply(s, "503 5.5.1 Error: need RCPT command");
	else
		return take_message(s);
	return CMD_CONTINUE;
}

static enum cmd_result cmd_rset(struct session *s, const char *arg)
{
	if (*arg != '\0') {
		reply(s, "501 5.5.4 Syntax: RSET");
		return CMD_CONTINUE;
	}
	reset_transaction(s);
	reply(s, "250 2.0.0 Ok");
	return CMD_CONTINUE;
}

static enum cmd_result cmd_noop(struct session *s, const char *arg)
{
	(void)arg;  /* RFC 5321 4.1.1.9: a NOOP argument is ignored */
	reply(s, "250 2.0.0 Ok");
	return CMD_CONTINUE;
}

static enum cmd_result cmd_quit(struct session *s, const char *arg)
{
	(void)arg;
	reply(s, "221 2.0.0 %s closing connection", s->opts->hostname);
	return CMD_QUIT;
}

static enum cmd_result cmd_vrfy(struct session *s, const char *arg)
{
	(void)arg;  /* RFC 5321 3.5.3: 252 when we will not verify */
	reply(s, "252 2.5.2 Cannot VRFY user; send mail and delivery "
	      "will be attempted");
	return CMD_CONTINUE;
}

static enum cmd_result cmd_help(struct session *s, const char *arg)
{
	(void)arg;
	reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP "
	      "QUIT VRFY HELP");
	return CMD_CONTINUE;
}

static enum cmd_result cmd_not_implemented(struct session *s,
					   const char *arg)
{
	(void)arg;
	reply(s, "502 5.5.1 Command not implemented");
	return CMD_CONTINUE;
}

/*
 * DATA accepted: 354, intake, delivery, the final reply. intake reads the
 * data under the SMTP dot rule straight from the client's stream: it
 * stops after the "." line and reads that far even when it refuses the
 * message, so the next command is left where read_line finds it.
 */
static enum cmd_result take_message(struct session *s)
{
	struct intake_opts io_opts = {
		.dots = DOT_SMTP,
		.hostname = s->opts->hostname,
		.sender = s->sender,
		.login = s->opts->login,
		.spool_dir = s->opts->spool_dir,
		.max_size = s->opts->max_size,
		.rewrite = s->opts->rewrite,
	};
	enum cmd_result r = CMD_CONTINUE;
	struct message msg;
	struct err err;
	enum status st;

	reply(s, "354 End data with <CR><LF>.<CR><LF>");
	if (s->write_failed)
		return CMD_EOF;
	st = intake_read(s->in, &io_opts, &s->rcpts, &msg, &err);
	if (st != ST_OK && feof(s->in)) {
		r = CMD_EOF;  /* the client vanished: no one to answer */
		goto out;
	}
	/* RFC 1870 6.3: exceeding the declared SIZE limit is 552 (RFC 3463
	 * 5.3.4), not a content error. */
	if (msg.too_big) {
		log_error(NULL, "-bs: message from=<%s> refused: message larger "
			  "than %ld bytes", s->sender, s->opts->max_size);
		reply(s, "552 5.3.4 Message size exceeds fixed limit of %ld "
		      "bytes", s->opts->max_size);
		goto out;
	}
	finish_message(s, &msg, st, &err);
out:
	message_free(&msg);
	reset_transaction(s);
	return r;
}

/* Hands an intake'd message to the caller and answers the final dot. */
static void finish_message(struct session *s, struct message *msg,
			   enum status st, struct err *err)
{
	char text[SMTPD_MAX_REPLY_TEXT];

	if (st == ST_OK) {
		err_set(err, "delivery failed");
		st = s->fn(s->ctx, msg, err);
		if (st == ST_OK) {
			clean_text(msg->message_id ? msg->message_id : "queued",
				   text, sizeof text);
			reply(s, "250 2.0.0 Ok: %s", text);
			return;
		}
		clean_text(err->msg, text, sizeof text);
		if (st == ST_TEMPFAIL)
			reply(s, "451 4.3.0 %s", text);
		else
			reply(s, "554 5.0.0 %s", text);
		return;
	}
	/* Refused before delivery began: deliver logs nothing for it, and
	 * the client's reply is the only other trace. */
	log_error(NULL, "-bs: message from=<%s> refused: %s", s->sender,
		  err->msg);
	clean_text(err->msg, text, sizeof text);
	if (st == ST_TEMPFAIL)
		reply(s, "451 4.3.0 %s", text);
	else
		reply(s, "554 5.6.0 %s", text);  /* RFC 3463: message content */
}

