/*
 * smtp.c - the SMTP client (RFC 5321) as a state machine.
 *
 * Each reply handler decides the next command and queues it; smtp_next
 * hands queued bytes to the driver, or says what to wait for. Commands
 * queued before the driver asks are sent as one write, which is all
 * PIPELINING (RFC 2920) needs.
 */
#include "ac_config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp.h"

#define MASK "********"
#define MIN_MS (60 * 1000)

enum state {
	S_GREETING,    /* waiting for the 220 */
	S_EHLO,        /* waiting for the EHLO reply */
	S_HELO,        /* waiting for the HELO reply (EHLO refused) */
	S_STARTTLS,    /* waiting for the STARTTLS reply */
	S_TLS,         /* the driver does the handshake */
	S_AUTH,        /* waiting for a 334 or the final AUTH reply */
	S_AUTH_CANCEL, /* sent "*" (RFC 4954 4), waiting for the 501 */
	S_TXN,         /* waiting for MAIL, RCPT or DATA replies (txn_pos) */
	S_BODY,        /* the driver streams the message */
	S_DOT,         /* waiting for the reply to the final "." */
	S_DOT_IGNORE,  /* sent a lone "." to end an empty DATA; any reply */
	S_QUIT,        /* waiting for the QUIT reply; any reply */
	S_CLOSE        /* done */
};

struct rcpt {
	char *addr;
	enum status status;
	char *reply;
	bool final;
	bool accepted;  /* 2xx to RCPT: the outcome waits for the final "." */
};

struct ext {
	bool pipelining;
	bool eightbitmime;
	bool enhanced;
	bool starttls;
	bool size;
	long long size_max;    /* 0: none declared (RFC 1870 4) */
	bool auth;
	struct buf auth_mechs; /* space-separated */
};

struct smtp_session {
	struct smtp_params p;  /* strings below are our own copies */
	struct rcpt *rcpts;
	size_t *sent;          /* indexes of the recipients in RCPT commands */
	size_t nsent;
	size_t naccepted;

	enum state state;
	enum smtp_stage stage;
	bool pending;          /* out/disp hold a write the driver must do */
	struct buf out;
	struct buf disp;

	struct ext ext;
	bool tls_active;
	enum auth_mech mech;
	int auth_step;         /* 334 replies seen in this AUTH exchange */

	bool pipelined;        /* this transaction's commands went out together */
	size_t txn_pos;        /* 0 MAIL, 1..nsent RCPT, nsent+1 DATA */
	bool txn_failed;       /* MAIL refused: later replies are noise */
};

static char *dup_or_null(const char *s);
static char *dup_or_empty(const char *s);
static bool valid_param(const char *s);
static void validate(struct smtp_session *s);
static enum status status_of(const struct smtp_reply *r);
static void set_result(struct rcpt *rc, enum status st, char *reply);
static void fail_all(struct smtp_session *s, enum status st,
		     const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail_reply(struct smtp_session *s, enum status st,
		       const struct smtp_reply *r);
static bool all_final(const struct smtp_session *s);
static void send_cmd(struct smtp_session *s, const char *text,
		     const char *display);
static void send_cmdf(struct smtp_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void go_close(struct smtp_session *s);
static void quit(struct smtp_session *s);
static void end_after(struct smtp_session *s, const struct smtp_reply *r);
static void send_hello(struct smtp_session *s, const char *verb);
static void ext_clear(struct ext *e);
static void ext_line(struct ext *e, const char *line, size_t len);
static void ext_parse(struct ext *e, const struct smtp_reply *r);
static void on_greeting(struct smtp_session *s, const struct smtp_reply *r);
static void on_hello(struct smtp_session *s, const struct smtp_reply *r);
static void after_hello(struct smtp_session *s);
static void on_starttls(struct smtp_session *s, const struct smtp_reply *r);
static void start_auth(struct smtp_session *s);
static void on_auth(struct smtp_session *s, const struct smtp_reply *r);
static void auth_continue(struct smtp_session *s, const struct smtp_reply *r);
static void auth_cancel(struct smtp_session *s, const char *why);
static void start_mail(struct smtp_session *s);
static void send_rcpt(struct smtp_session *s, size_t k);
static void on_txn(struct smtp_session *s, const struct smtp_reply *r);
static enum smtp_stage txn_stage(const struct smtp_session *s);
static void on_mail(struct smtp_session *s, const struct smtp_reply *r);
static void on_rcpt(struct smtp_session *s, const struct smtp_reply *r);
static void after_rcpt(struct smtp_session *s);
static void on_data(struct smtp_session *s, const struct smtp_reply *r);
static void on_dot(struct smtp_session *s, const struct smtp_reply *r);

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
	buf_init(&s->ext.auth_mechs);
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
	}
	free(s->rcpts);
	free(s->sent);
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
	buf_free(&s->ext.auth_mechs);
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
		fail_all(s, ST_PERMFAIL, "%s at %s: invalid EHLO name", s->p.peer,
			 smtp_stage_name(s->stage));
	}
	if (!valid_param(s->p.sender)) {
		s->stage = STAGE_MAIL;
		fail_all(s, ST_PERMFAIL,
			 "%s at %s: control characters in the sender address",
			 s->p.peer, smtp_stage_name(s->stage));
	}
	for (i = 0; i < s->p.nrcpts; i++) {
		struct rcpt *rc = &s->rcpts[i];

		if (rc->final)
			continue;
		if (rc->addr[0] == '\0' || !valid_param(rc->addr)) {
			set_result(rc, ST_PERMFAIL, xasprintf(
				"%s at RCPT: invalid recipient address", s->p.peer));
			continue;
		}
		s->sent[s->nsent++] = i;
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
static enum status status_of(const struct smtp_reply *r)
{
	return reply_class(r) == 5 ? ST_PERMFAIL : ST_TEMPFAIL;
}

static void set_result(struct rcpt *rc, enum status st, char *reply)
{
	free(rc->reply);
	rc->reply = reply;
	rc->status = st;
	rc->final = true;
}

/* Every recipient without an outcome (accepted ones included: until the
 * final "." is acknowledged nothing is delivered) gets st and the text. */
static void fail_all(struct smtp_session *s, enum status st,
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
			set_result(&s->rcpts[i], st, xstrdup(e.msg));
}

static void fail_reply(struct smtp_session *s, enum status st,
		       const struct smtp_reply *r)
{
	char *sum = reply_summary(r);

	fail_all(s, st, "%s at %s: %s", s->p.peer, smtp_stage_name(s->stage),
		 sum);
	free(sum);
}

/* ---- output ------------------------------------------------------------- */

/* Commands queued before the driver's next smtp_next() share one write. */
static void send_cmd(struct smtp_session *s, const char *text,
		     const char *display)
{
	if (!s->pending) {
		buf_reset(&s->out);
		buf_reset(&s->disp);
		s->pending = true;
	}
	buf_appends(&s->out, text);
	buf_appends(&s->out, "\r\n");
	buf_appends(&s->disp, display ? display : text);
	buf_appends(&s->disp, "\r\n");
}

static void send_cmdf(struct smtp_session *s, const char *fmt, ...)
{
	va_list ap;
	char *text;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0)
		text = xstrdup("");
	send_cmd(s, text, NULL);
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

static void go_close(struct smtp_session *s)
{
	fail_all(s, ST_TEMPFAIL, "%s at %s: session ended without a result",
		 s->p.peer, smtp_stage_name(s->stage));
	s->state = S_CLOSE;
}

/* RFC 5321 4.1.1.10: end politely, also after a failure. */
static void quit(struct smtp_session *s)
{
	s->stage = STAGE_QUIT;
	send_cmd(s, "QUIT", NULL);
	s->state = S_QUIT;
}

/* RFC 5321 3.8: a 421 means the server is closing the channel; talking
 * on would only produce a write error. */
static void end_after(struct smtp_session *s, const struct smtp_reply *r)
{
	if (r->code == 421)
		go_close(s);
	else
		quit(s);
}

/* ---- greeting, EHLO, STARTTLS ------------------------------------------- */

static void send_hello(struct smtp_session *s, const char *verb)
{
	s->stage = STAGE_EHLO;
	send_cmdf(s, "%s %s", verb, s->p.helo_name);
	s->state = verb[0] == 'E' ? S_EHLO : S_HELO;
}

static void on_greeting(struct smtp_session *s, const struct smtp_reply *r)
{
	if (reply_class(r) == 2) {
		send_hello(s, "EHLO");
		return;
	}
	/* RFC 5321 3.1: a 554 greeting still expects QUIT. */
	fail_reply(s, status_of(r), r);
	end_after(s, r);
}

static void ext_clear(struct ext *e)
{
	struct buf keep = e->auth_mechs;

	memset(e, 0, sizeof *e);
	e->auth_mechs = keep;
	buf_reset(&e->auth_mechs);
}

/* One EHLO keyword line (RFC 5321 4.1.1.1): keyword [SP params]. Old
 * servers write "AUTH=LOGIN PLAIN" (pre-RFC 2554 drafts); take both. */
static void ext_line(struct ext *e, const char *line, size_t len)
{
	size_t kw = 0;
	char *copy = xstrndup(line, len);
	const char *arg;

	while (copy[kw] != '\0' && copy[kw] != ' ' && copy[kw] != '=')
		kw++;
	arg = copy + kw + (copy[kw] != '\0');
	if (kw == 4 && ascii_strncasecmp(copy, "AUTH", 4) == 0) {
		e->auth = true;
		if (e->auth_mechs.len > 0)
			buf_append(&e->auth_mechs, " ", 1);
		buf_appends(&e->auth_mechs, arg);
		goto out;
	}
	copy[kw] = '\0';
	if (ascii_strcasecmp(copy, "PIPELINING") == 0) {
		e->pipelining = true;
	} else if (ascii_strcasecmp(copy, "8BITMIME") == 0) {
		e->eightbitmime = true;
	} else if (ascii_strcasecmp(copy, "ENHANCEDSTATUSCODES") == 0) {
		e->enhanced = true;
	} else if (ascii_strcasecmp(copy, "STARTTLS") == 0) {
		e->starttls = true;
	} else if (ascii_strcasecmp(copy, "SIZE") == 0) {
		char *end;
		long long v;

		e->size = true;
		errno = 0;
		v = strtoll(arg, &end, 10);
		/* RFC 1870 4: no number or 0 means no fixed limit. */
		if (errno == 0 && end != arg && v > 0)
			e->size_max = v;
	}
out:
	free(copy);
}

/* The first line is the server's name and greeting; each further line
 * names one extension. */
static void ext_parse(struct ext *e, const struct smtp_reply *r)
{
	const char *p = r->text.data ? r->text.data : "";
	const char *end = p + r->text.len;
	const char *nl = memchr(p, '\n', r->text.len);

	while (nl != NULL) {
		const char *line = nl + 1;

		nl = memchr(line, '\n', (size_t)(end - line));
		ext_line(e, line, (size_t)((nl ? nl : end) - line));
	}
}

static void on_hello(struct smtp_session *s, const struct smtp_reply *r)
{
	if (reply_class(r) == 2) {
		ext_clear(&s->ext);
		if (s->state == S_EHLO)
			ext_parse(&s->ext, r);
		after_hello(s);
		return;
	}
	/* RFC 5321 4.1.4 / 3.2: a server that does not know EHLO answers
	 * 5xx; it still speaks plain RFC 821 after HELO. */
	if (s->state == S_EHLO && reply_class(r) == 5) {
		send_hello(s, "HELO");
		return;
	}
	fail_reply(s, status_of(r), r);
	end_after(s, r);
}

static void after_hello(struct smtp_session *s)
{
	if (s->p.tls == TLS_STARTTLS && !s->tls_active) {
		s->stage = STAGE_STARTTLS;
		/* TLS was asked for: never fall back to plain text. */
		if (!s->ext.starttls) {
			fail_all(s, ST_TEMPFAIL,
				 "%s at %s: server does not offer STARTTLS",
				 s->p.peer, smtp_stage_name(s->stage));
			quit(s);
			return;
		}
		send_cmd(s, "STARTTLS", NULL);
		s->state = S_STARTTLS;
		return;
	}
	start_auth(s);
}

/* TLS trouble is never the message's fault: always TEMPFAIL. */
static void on_starttls(struct smtp_session *s, const struct smtp_reply *r)
{
	if (r->code == 220) {
		s->stage = STAGE_TLS;
		s->state = S_TLS;
		return;
	}
	fail_reply(s, ST_TEMPFAIL, r);
	end_after(s, r);
}

void smtp_on_tls(struct smtp_session *s, bool ok, const char *error)
{
	if (s->state != S_TLS)
		return;
	if (!ok) {
		fail_all(s, ST_TEMPFAIL, "%s at %s: %s", s->p.peer,
			 smtp_stage_name(STAGE_TLS),
			 error ? error : "handshake failed");
		s->state = S_CLOSE;
		return;
	}
	s->tls_active = true;
	/* RFC 3207 4.2: forget what the plain-text EHLO said, ask again. */
	ext_clear(&s->ext);
	send_hello(s, "EHLO");
}

/* ---- AUTH (RFC 4954) ------------------------------------------------------ */

/* Credential problems are configuration problems: TEMPFAIL keeps the
 * mail queued while someone fixes them. */
static void start_auth(struct smtp_session *s)
{
	char *resp;

	if (s->p.user == NULL) {
		start_mail(s);
		return;
	}
	s->stage = STAGE_AUTH;
	if (!s->tls_active && !s->p.allow_plaintext_auth) {
		fail_all(s, ST_TEMPFAIL, "%s at %s: refusing AUTH over an "
			 "unencrypted connection (set allow_plaintext_auth to allow)",
			 s->p.peer, smtp_stage_name(s->stage));
		quit(s);
		return;
	}
	if (!s->ext.auth) {
		fail_all(s, ST_TEMPFAIL, "%s at %s: server offers no AUTH",
			 s->p.peer, smtp_stage_name(s->stage));
		quit(s);
		return;
	}
	s->mech = auth_choose(s->ext.auth_mechs.data, s->p.auth_mechanisms);
	if (s->mech == AUTH_MECH_NONE) {
		fail_all(s, ST_TEMPFAIL, "%s at %s: no common AUTH mechanism "
			 "(server offers: %s; allowed: %s)", s->p.peer,
			 smtp_stage_name(s->stage), s->ext.auth_mechs.data,
			 s->p.auth_mechanisms ? s->p.auth_mechanisms
					      : "CRAM-MD5 PLAIN LOGIN");
		quit(s);
		return;
	}
	s->auth_step = 0;
	s->state = S_AUTH;
	if (s->mech == AUTH_MECH_PLAIN) {
		/* RFC 4954 4: the initial response saves a round trip. */
		char *cmd;

		resp = auth_plain_response(s->p.user, s->p.password);
		cmd = xasprintf("AUTH PLAIN %s", resp);
		send_cmd(s, cmd, "AUTH PLAIN " MASK);
		explicit_bzero(cmd, strlen(cmd));
		explicit_bzero(resp, strlen(resp));
		free(cmd);
		free(resp);
		return;
	}
	send_cmdf(s, "AUTH %s", auth_mech_name(s->mech));
}

static void on_auth(struct smtp_session *s, const struct smtp_reply *r)
{
	if (reply_class(r) == 2) {
		start_mail(s);
		return;
	}
	if (r->code == 334) {
		auth_continue(s, r);
		return;
	}
	fail_reply(s, ST_TEMPFAIL, r);
	end_after(s, r);
}

/* One 334 challenge: LOGIN wants the user then the password (each
 * base64), CRAM-MD5 one digest. Anything more is a confused server. */
static void auth_continue(struct smtp_session *s, const struct smtp_reply *r)
{
	const char *secret = NULL;
	char *resp = NULL;
	int step = s->auth_step++;

	if (s->mech == AUTH_MECH_LOGIN && step == 0)
		secret = s->p.user;
	else if (s->mech == AUTH_MECH_LOGIN && step == 1)
		secret = s->p.password;
	if (secret != NULL) {
		resp = auth_base64_encode(secret, strlen(secret));
	} else if (s->mech == AUTH_MECH_CRAM_MD5 && step == 0) {
		resp = auth_cram_md5_response(s->p.user, s->p.password,
					      r->text.data ? r->text.data : "");
		if (resp == NULL) {
			auth_cancel(s, "invalid CRAM-MD5 challenge");
			return;
		}
	} else {
		auth_cancel(s, "unexpected 334 challenge");
		return;
	}
	send_cmd(s, resp, MASK);
	explicit_bzero(resp, strlen(resp));
	free(resp);
}

static void auth_cancel(struct smtp_session *s, const char *why)
{
	fail_all(s, ST_TEMPFAIL, "%s at %s: %s", s->p.peer,
		 smtp_stage_name(STAGE_AUTH), why);
	send_cmd(s, "*", NULL);
	s->state = S_AUTH_CANCEL;
}

/* ---- the mail transaction --------------------------------------------- */

static void start_mail(struct smtp_session *s)
{
	struct buf cmd;
	size_t k;

	s->stage = STAGE_MAIL;
	/* RFC 1870 6.1: a message over the declared limit is refused
	 * permanently; do not even start the transaction. */
	if (s->ext.size_max > 0 && (long long)s->p.size > s->ext.size_max) {
		fail_all(s, ST_PERMFAIL, "%s at %s: 5.3.4 message size %lld "
			 "exceeds the server's limit of %lld bytes", s->p.peer,
			 smtp_stage_name(s->stage), (long long)s->p.size,
			 s->ext.size_max);
		quit(s);
		return;
	}
	buf_init(&cmd);
	buf_appendf(&cmd, "MAIL FROM:<%s>", s->p.sender);
	if (s->ext.size && s->p.size > 0)
		buf_appendf(&cmd, " SIZE=%lld", (long long)s->p.size);
	if (s->p.eightbit && s->ext.eightbitmime)
		buf_appends(&cmd, " BODY=8BITMIME");
	send_cmd(s, cmd.data, NULL);
	buf_free(&cmd);

	s->pipelined = s->ext.pipelining;
	s->txn_pos = 0;
	s->txn_failed = false;
	s->naccepted = 0;
	s->state = S_TXN;
	/* RFC 2920 3.1: MAIL, RCPT and DATA may all go in one group; DATA
	 * is the last command in it. */
	if (s->pipelined) {
		for (k = 0; k < s->nsent; k++)
			send_rcpt(s, k);
		send_cmd(s, "DATA", NULL);
	}
}

static void send_rcpt(struct smtp_session *s, size_t k)
{
	send_cmdf(s, "RCPT TO:<%s>", s->rcpts[s->sent[k]].addr);
}

/* Replies arrive in command order (RFC 2920 3.2), so the position
 * alone says which command a reply answers. */
static void on_txn(struct smtp_session *s, const struct smtp_reply *r)
{
	s->stage = txn_stage(s);
	if (s->stage == STAGE_MAIL)
		on_mail(s, r);
	else if (s->stage == STAGE_RCPT)
		on_rcpt(s, r);
	else
		on_data(s, r);
	/* Name what is awaited next, for timeouts and error messages. */
	if (s->state == S_TXN)
		s->stage = txn_stage(s);
}

static enum smtp_stage txn_stage(const struct smtp_session *s)
{
	if (s->txn_pos == 0)
		return STAGE_MAIL;
	return s->txn_pos <= s->nsent ? STAGE_RCPT : STAGE_DATA;
}

static void on_mail(struct smtp_session *s, const struct smtp_reply *r)
{
	s->txn_pos = 1;
	if (reply_class(r) == 2) {
		if (!s->pipelined)
			send_rcpt(s, 0);
		return;
	}
	fail_reply(s, status_of(r), r);
	if (s->pipelined && r->code != 421) {
		/* The RCPT and DATA replies are still on their way. */
		s->txn_failed = true;
		return;
	}
	end_after(s, r);
}

static void on_rcpt(struct smtp_session *s, const struct smtp_reply *r)
{
	struct rcpt *rc = &s->rcpts[s->sent[s->txn_pos - 1]];

	s->txn_pos++;
	if (r->code == 421) {
		fail_reply(s, ST_TEMPFAIL, r);
		go_close(s);
		return;
	}
	if (!s->txn_failed) {
		if (reply_class(r) == 2) {
			rc->accepted = true;
			s->naccepted++;
		} else {
			char *sum = reply_summary(r);

			set_result(rc, status_of(r), xasprintf("%s at %s: %s",
				   s->p.peer, smtp_stage_name(s->stage), sum));
			free(sum);
		}
	}
	if (!s->pipelined)
		after_rcpt(s);
}

/* Without pipelining: the next RCPT, then DATA only if someone was
 * accepted (RFC 5321 3.3: DATA needs at least one good RCPT). */
static void after_rcpt(struct smtp_session *s)
{
	if (s->txn_pos <= s->nsent) {
		send_rcpt(s, s->txn_pos - 1);
		return;
	}
	if (s->naccepted == 0) {
		quit(s);
		return;
	}
	s->stage = STAGE_DATA;
	send_cmd(s, "DATA", NULL);
}

static void on_data(struct smtp_session *s, const struct smtp_reply *r)
{
	if (r->code == 354) {
		if (s->naccepted > 0 && !s->txn_failed) {
			s->state = S_BODY;
			return;
		}
		/* RFC 2920 3.1: with every RCPT refused, a pipelining server
		 * may still answer 354; an empty message ends it. */
		send_cmd(s, ".", NULL);
		s->state = S_DOT_IGNORE;
		return;
	}
	if (!s->txn_failed)
		fail_reply(s, status_of(r), r);
	end_after(s, r);
}

void smtp_body_done(struct smtp_session *s)
{
	if (s->state != S_BODY)
		return;
	s->stage = STAGE_DOT;
	s->state = S_DOT;
}

static void on_dot(struct smtp_session *s, const struct smtp_reply *r)
{
	size_t i;

	if (reply_class(r) == 2) {
		char *sum = reply_summary(r);

		for (i = 0; i < s->p.nrcpts; i++)
			if (!s->rcpts[i].final && s->rcpts[i].accepted)
				set_result(&s->rcpts[i], ST_OK, xstrdup(sum));
		free(sum);
		quit(s);
		return;
	}
	fail_reply(s, status_of(r), r);
	end_after(s, r);
}

/* ---- driver entry points ------------------------------------------------ */

void smtp_on_reply(struct smtp_session *s, const struct smtp_reply *r)
{
	switch (s->state) {
	case S_GREETING:
		on_greeting(s, r);
		break;
	case S_EHLO:
	case S_HELO:
		on_hello(s, r);
		break;
	case S_STARTTLS:
		on_starttls(s, r);
		break;
	case S_AUTH:
		on_auth(s, r);
		break;
	case S_TXN:
		on_txn(s, r);
		break;
	case S_DOT:
		on_dot(s, r);
		break;
	case S_AUTH_CANCEL:
	case S_DOT_IGNORE:
		end_after(s, r);
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
	fail_all(s, ST_TEMPFAIL, "%s at %s: %s", s->p.peer,
		 smtp_stage_name(s->stage), error ? error : "connection failed");
	s->pending = false;
	s->state = S_CLOSE;
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

/* ---- transparency --------------------------------------------------------- */

void smtp_dot_stuff(const char *in, size_t n, bool *at_line_start,
		    struct buf *out)
{
	const char *p = in;
	const char *end = in + n;

	while (p < end) {
		const char *nl;
		size_t len;

		/* RFC 5321 4.5.2: a line starting with "." gets one more. */
		if (*at_line_start && *p == '.')
			buf_append(out, ".", 1);
		nl = memchr(p, '\n', (size_t)(end - p));
		len = (size_t)((nl ? nl + 1 : end) - p);
		buf_append(out, p, len);
		*at_line_start = nl != NULL;
		p += len;
	}
}
