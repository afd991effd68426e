/*
 * smtp.c - the SMTP client (RFC 5321) as a state machine: the session,
 * its results per recipient, its command queue, and the driver entry
 * points that hand each reply to the step that awaits it.
 *
 * Each reply handler decides the next command and queues it; smtp_next
 * hands queued bytes to the driver, or says what to wait for. Commands
 * queued before the driver asks are sent as one write, which is all
 * PIPELINING (RFC 2920) needs. The steps themselves live in
 * smtp_hello.c (greeting, EHLO, STARTTLS), smtp_auth.c (AUTH) and
 * smtp_txn.c (MAIL, RCPT, DATA, "."); smtp_int.h holds what they share.
 */
#include "ac_config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_auth.h"
#include "smtp_hello.h"
#include "smtp_int.h"
#include "smtp_txn.h"

#define MIN_MS (60 * 1000)

static char *dup_or_null(const char *s);
static char *dup_or_empty(const char *s);
static bool valid_param(const char *s);
static void validate(struct smtp_session *s);
static bool all_final(const struct smtp_session *s);

const char *smtp_stage_name(enum smtp_stage st)
{
	static const char *const names[] = {
		"connect", "TLS", "greeting", "EHLO", "STARTTLS", "AUTH",
		"MAIL", "RCPT", "DATA", "end of DATA", "QUIT"
	};

	if ((size_t)st < sizeof names / sizeof names[0])
		return names[st];
	return "?";
}

/* ---- set-up and results ------------------------------------------------ */

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static char *dup_or_empty(const char *s)
{
	return xstrdup(s ? s : "");
}

struct smtp_session *smtp_new(const struct smtp_params *p)
{
	struct smtp_session *s = xcalloc(1, sizeof *s);
	size_t i;

	/* Our own copies: the session may outlive the caller's strings. */
	s->p = *p;
	s->p.helo_name = dup_or_empty(p->helo_name);
	s->p.peer = dup_or_empty(p->peer);
	s->p.user = p->user && p->user[0] ? xstrdup(p->user) : NULL;
	s->p.password = dup_or_empty(p->password);
	s->p.auth_mechanisms = dup_or_null(p->auth_mechanisms);
	s->p.sender = dup_or_empty(p->sender);
	s->p.rcpts = NULL;
	s->rcpts = xcalloc(p->nrcpts, sizeof *s->rcpts);
	s->sent = xcalloc(p->nrcpts, sizeof *s->sent);
	for (i = 0; i < p->nrcpts; i++) {
		s->rcpts[i].addr = dup_or_empty(p->rcpts[i]);
		s->rcpts[i].status = ST_TEMPFAIL;
	}
	buf_init(&s->out);
	buf_init(&s->disp);
	smtp_ext_init(&s->ext);
	s->tls_active = p->tls == TLS_IMPLICIT;
	s->state = S_GREETING;
	s->stage = STAGE_GREETING;
	validate(s);
	return s;
}

void smtp_free(struct smtp_session *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->p.nrcpts; i++) {
		free(s->rcpts[i].addr);
		free(s->rcpts[i].reply);
		free(s->rcpts[i].deferred);
	}
	free(s->rcpts);
	free(s->sent);
	for (i = 0; i < s->nsecrets; i++) {
		explicit_bzero(s->secrets[i], strlen(s->secrets[i]));
		free(s->secrets[i]);
	}
	explicit_bzero((char *)s->p.password, strlen(s->p.password));
	if (s->out.data)
		explicit_bzero(s->out.data, s->out.cap);
	free((char *)s->p.helo_name);
	free((char *)s->p.peer);
	free((char *)s->p.user);
	free((char *)s->p.password);
	free((char *)s->p.auth_mechanisms);
	free((char *)s->p.sender);
	buf_free(&s->out);
	buf_free(&s->disp);
	smtp_ext_free(&s->ext);
	free(s);
}

/* What goes into a command must not end it early or start another
 * (STYLE 7): no CR, LF, NUL or other controls. */
static bool valid_param(const char *s)
{
	return !has_control_chars(s);
}

/* Refuses bad parameters before a byte is sent: a bad EHLO name or
 * sender fails everything, a bad recipient only itself. */
static void validate(struct smtp_session *s)
{
	size_t i;

	if (s->p.helo_name[0] == '\0' || !valid_param(s->p.helo_name)) {
		s->stage = STAGE_EHLO;
		smtp_fail_all(s, ST_PERMFAIL, "%s at %s: invalid EHLO name",
			      s->p.peer, smtp_stage_name(s->stage));
	}
	if (!valid_param(s->p.sender)) {
		s->stage = STAGE_MAIL;
		smtp_fail_all(s, ST_PERMFAIL, "%s at %s: control characters "
			      "in the sender address", s->p.peer,
			      smtp_stage_name(s->stage));
	}
	for (i = 0; i < s->p.nrcpts; i++) {
		struct rcpt *rc = &s->rcpts[i];

		if (rc->final)
			continue;
		if (rc->addr[0] == '\0' || !valid_param(rc->addr)) {
			smtp_set_result(rc, ST_PERMFAIL, xasprintf(
				"%s at RCPT: invalid recipient address", s->p.peer));
			continue;
		}
	}
	if (all_final(s)) {
		s->state = S_CLOSE;
		s->stage = STAGE_CONNECT;
	}
}

enum status smtp_rcpt_status(const struct smtp_session *s, size_t i)
{
	return i < s->p.nrcpts ? s->rcpts[i].status : ST_TEMPFAIL;
}

const char *smtp_rcpt_reply(const struct smtp_session *s, size_t i)
{
	if (i >= s->p.nrcpts || s->rcpts[i].reply == NULL)
		return "no result yet";
	return s->rcpts[i].reply;
}

bool smtp_tls_active(const struct smtp_session *s)
{
	return s->tls_active;
}

bool smtp_finished(const struct smtp_session *s)
{
	return all_final(s);
}

static bool all_final(const struct smtp_session *s)
{
	size_t i;

	for (i = 0; i < s->p.nrcpts; i++)
		if (!s->rcpts[i].final)
			return false;
	return true;
}

/* RFC 5321 4.2.1: 5yz is permanent, 4yz transient; anything else where a
 * failure is being reported is a confused server, and trying again later
 * is the safe answer. */
enum status smtp_status_of(const struct smtp_reply *r)
{
	return reply_class(r) == 5 ? ST_PERMFAIL : ST_TEMPFAIL;
}

void smtp_set_result(struct rcpt *rc, enum status st, char *reply)
{
	free(rc->reply);
	rc->reply = reply;
	rc->status = st;
	rc->final = true;
}

/* Every recipient without an outcome (accepted ones included: until the
 * final "." is acknowledged nothing is delivered) gets st and the text. */
void smtp_fail_all(struct smtp_session *s, enum status st,
		   const char *fmt, ...)
{
	va_list ap;
	struct err e;
	size_t i;

	/* struct err bounds the text (a server reply can be 64 KiB), and a
	 * cut diagnostic is still a diagnostic. */
	va_start(ap, fmt);
	err_vset(&e, fmt, ap);
	va_end(ap);
	for (i = 0; i < s->p.nrcpts; i++)
		if (!s->rcpts[i].final)
			smtp_set_result(&s->rcpts[i], st, xstrdup(e.msg));
}

void smtp_fail_reply(struct smtp_session *s, enum status st,
		     const struct smtp_reply *r)
{
	char *sum = reply_summary(r);

	smtp_redact(s, sum, strlen(sum));
	smtp_fail_all(s, st, "%s at %s: %s", s->p.peer,
		      smtp_stage_name(s->stage), sum);
	free(sum);
}

/* ---- output ------------------------------------------------------------- */

/* Commands queued before the driver's next smtp_next() share one write. */
void smtp_send_cmd(struct smtp_session *s, const char *text,
		   const char *display)
{
	if (!s->pending) {
		/* The last write may have carried an AUTH secret: wipe it, not
		 * just its length, or a shorter command leaves its tail in
		 * place and a later realloc copies it into freed memory. */
		if (s->out.data)
			explicit_bzero(s->out.data, s->out.len);
		buf_reset(&s->out);
		buf_reset(&s->disp);
		s->pending = true;
	}
	buf_appends(&s->out, text);
	buf_appends(&s->out, "\r\n");
	buf_appends(&s->disp, display ? display : text);
	buf_appends(&s->disp, "\r\n");
}

void smtp_send_cmdf(struct smtp_session *s, const char *fmt, ...)
{
	va_list ap;
	char *text;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	smtp_send_cmd(s, text, NULL);
	free(text);
}

enum smtp_want smtp_next(struct smtp_session *s, struct smtp_output *out)
{
	out->data = NULL;
	out->len = 0;
	out->display = NULL;
	if (s->pending) {
		s->pending = false;
		out->data = s->out.data;
		out->len = s->out.len;
		out->display = s->disp.data;
		return SMTP_WANT_WRITE;
	}
	switch (s->state) {
	case S_TLS:
		return SMTP_WANT_TLS;
	case S_BODY:
		return SMTP_WANT_BODY;
	case S_CLOSE:
		return SMTP_WANT_CLOSE;
	default:
		return SMTP_WANT_READ;
	}
}

/* ---- ending ------------------------------------------------------------- */

void smtp_go_close(struct smtp_session *s)
{
	smtp_fail_all(s, ST_TEMPFAIL,
		      "%s at %s: session ended without a result",
		      s->p.peer, smtp_stage_name(s->stage));
	s->state = S_CLOSE;
}

/* RFC 5321 4.1.1.10: end politely, also after a failure. */
void smtp_quit(struct smtp_session *s)
{
	s->stage = STAGE_QUIT;
	smtp_send_cmd(s, "QUIT", NULL);
	s->state = S_QUIT;
}

/* RFC 5321 3.8: a 421 means the server is closing the channel; talking
 * on would only produce a write error. */
void smtp_end_after(struct smtp_session *s, const struct smtp_reply *r)
{
	if (r->code == 421)
		smtp_go_close(s);
	else
		smtp_quit(s);
}

/* ---- driver entry points ------------------------------------------------ */

void smtp_on_reply(struct smtp_session *s, const struct smtp_reply *r)
{
	switch (s->state) {
	case S_GREETING:
		smtp_hello_on_greeting(s, r);
		break;
	case S_EHLO:
	case S_HELO:
		smtp_hello_on_reply(s, r);
		break;
	case S_STARTTLS:
		smtp_hello_on_starttls(s, r);
		break;
	case S_AUTH:
		smtp_auth_on_reply(s, r);
		break;
	case S_TXN:
		smtp_txn_on_reply(s, r);
		break;
	case S_DOT:
		smtp_txn_on_dot(s, r);
		break;
	case S_AUTH_CANCEL:
		smtp_end_after(s, r);
		break;
	case S_RSET:
		smtp_txn_on_rset(s, r);
		break;
	case S_DOT_IGNORE:
		s->txn_open = false;
		if (r->code == 421)
			smtp_go_close(s);
		else
			smtp_txn_next_or_quit(s);
		break;
	case S_QUIT:
		s->state = S_CLOSE;
		break;
	case S_TLS:
	case S_BODY:
	case S_CLOSE:
		/* Not waiting for a reply: nothing sensible to do with it. */
		break;
	}
}

void smtp_on_io_error(struct smtp_session *s, const char *error)
{
	smtp_fail_all(s, ST_TEMPFAIL, "%s at %s: %s", s->p.peer,
		      smtp_stage_name(s->stage),
		      error ? error : "connection failed");
	s->pending = false;
	s->state = S_CLOSE;
}

void smtp_on_connect_error(struct smtp_session *s, const char *error)
{
	s->stage = STAGE_CONNECT;
	smtp_on_io_error(s, error);
}

void smtp_on_tls_error(struct smtp_session *s, const char *error)
{
	s->stage = STAGE_TLS;
	smtp_on_io_error(s, error);
}

/* RFC 5321 4.5.3.2: initial 220 5 min, MAIL 5, RCPT 5, DATA initiation
 * 2, data block 3, final "." 10 min. It names no value for EHLO, AUTH,
 * STARTTLS or QUIT; 5 min, like MAIL, is the common choice. */
int smtp_reply_timeout_ms(const struct smtp_session *s)
{
	if (s->p.timeout_s > 0)
		return s->p.timeout_s * 1000;
	if (s->state == S_BODY)
		return 3 * MIN_MS;
	switch (s->stage) {
	case STAGE_DATA:
		return 2 * MIN_MS;
	case STAGE_DOT:
		return 10 * MIN_MS;
	default:
		return 5 * MIN_MS;
	}
}
