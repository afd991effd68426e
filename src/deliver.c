/*
 * deliver.c - recipients -> destinations -> SMTP sessions -> one outcome
 * per recipient.
 *
 * Recipients that share a next hop travel in one transaction over one
 * connection (RFC 5321 3.3: many RCPTs, one DATA). The SMTP protocol
 * itself is the state machine in smtp.c; this file only drives it over a
 * struct conn: it writes what smtp asks for, reads whole replies, starts
 * TLS and streams the spool file, dot-stuffed, in large writes.
 */
#include "ac_config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deliver.h"
#include "log.h"
#include "net.h"
#include "reply.h"
#include "route.h"
#include "smtp.h"
#include "util.h"

/* Body writes go out in chunks of about this size: big enough that the
 * per-syscall cost vanishes, small enough to keep memory flat. */
#define BODY_CHUNK (64 * 1024)
/* RFC 5321 4.5.3.2.5: data block, 3 minutes. */
#define DATA_BLOCK_TIMEOUT_MS (3 * 60 * 1000)

struct destination {
	const struct relay_config *relay;
	size_t *idx;      /* indexes into msg->rcpts */
	size_t n;
};

static void set_outcome(struct delivery *d, size_t i, enum status st,
			const char *reply, const char *relay);
static void route_all(struct delivery *d, struct destination *dest);
static void run_relay(struct delivery *d, const struct destination *dest);
static void fail_all(struct delivery *d, const struct destination *dest,
		     enum status st, const char *text, const char *relay);
static void drive(struct delivery *d, struct conn *c,
		  struct smtp_session *s, const struct relay_config *relay);
static enum status read_reply(struct delivery *d, struct conn *c,
			      const struct smtp_session *s,
			      struct smtp_reply *r, int timeout_ms,
			      struct err *err);
static void show_reply_line(FILE *t, const struct smtp_session *s,
			    const char *p, size_t n);
static char *clean_copy(const struct smtp_session *s, const char *p,
			size_t n);
static enum status stream_body(struct delivery *d, struct conn *c,
			       int timeout_ms, struct err *err);
static void show(FILE *t, const char *prefix, const char *text);
static void log_outcomes(struct delivery *d);
static enum status start_tls(struct delivery *d, struct conn *c,
			     const struct relay_config *relay,
			     struct err *err);
static int data_timeout_ms(const struct config *cfg);

static void set_outcome(struct delivery *d, size_t i, enum status st,
			const char *reply, const char *relay)
{
	struct rcpt_outcome *o = &d->outcomes[i];

	free(o->reply);
	free(o->relay);
	o->status = st;
	o->reply = xstrdup(reply ? reply : "");
	o->relay = relay ? xstrdup(relay) : NULL;
}

static void fail_all(struct delivery *d, const struct destination *dest,
		     enum status st, const char *text, const char *relay)
{
	for (size_t k = 0; k < dest->n; k++)
		set_outcome(d, dest->idx[k], st, text, relay);
}

/* Sorts recipients into the relay destination or an immediate outcome.
 * One relay exists today, so one destination; the MX issue grows this
 * into one destination per next hop. */
static void route_all(struct delivery *d, struct destination *dest)
{
	const struct address_list *rcpts = &d->msg->rcpts;

	dest->relay = NULL;
	dest->idx = xcalloc(rcpts->n, sizeof *dest->idx);
	dest->n = 0;
	for (size_t i = 0; i < rcpts->n; i++) {
		struct next_hop hop =
			route_recipient(d->cfg, rcpts->items[i].mailbox);

		if (hop.kind == HOP_RELAY) {
			dest->relay = hop.relay;
			dest->idx[dest->n++] = i;
		} else {
			set_outcome(d, i, ST_TEMPFAIL,
				    hop.reason ? hop.reason : "no route", NULL);
		}
	}
}

enum status deliver_message(struct delivery *d)
{
	struct destination dest;
	size_t n = d->msg->rcpts.n;

	d->outcomes = xcalloc(n ? n : 1, sizeof *d->outcomes);
	for (size_t i = 0; i < n; i++)
		d->outcomes[i].status = ST_TEMPFAIL;

	route_all(d, &dest);
	if (dest.n > 0)
		run_relay(d, &dest);
	free(dest.idx);

	log_outcomes(d);
	return deliver_fold(d);
}

/* Any TEMPFAIL makes the message TEMPFAIL even when others failed for
 * good: the caller must learn that not all of it was taken. */
enum status deliver_fold(const struct delivery *d)
{
	enum status folded = ST_OK;

	for (size_t i = 0; i < d->msg->rcpts.n; i++) {
		if (d->outcomes[i].status == ST_TEMPFAIL)
			return ST_TEMPFAIL;
		if (d->outcomes[i].status == ST_PERMFAIL)
			folded = ST_PERMFAIL;
	}
	return folded;
}

void delivery_free_outcomes(struct delivery *d)
{
	if (d->outcomes == NULL)
		return;
	for (size_t i = 0; i < d->msg->rcpts.n; i++) {
		free(d->outcomes[i].reply);
		free(d->outcomes[i].relay);
	}
	free(d->outcomes);
	d->outcomes = NULL;
}

static void run_relay(struct delivery *d, const struct destination *dest)
{
	const struct relay_config *relay = dest->relay;
	const struct config *cfg = d->cfg;
	int connect_ms = cfg->connect_timeout * 1000;
	struct smtp_params p = { 0 };
	struct smtp_session *s = NULL;
	const char **rcpts = NULL;
	struct conn *c = NULL;
	struct err err;
	char *text = NULL;

	if (net_connect(relay->host, relay->port, connect_ms, &c, &err) != ST_OK) {
		text = xasprintf("%s:%d at connect: %s", relay->host,
				 relay->port, err.msg);
		fail_all(d, dest, ST_TEMPFAIL, text, NULL);
		goto out;
	}
	if (d->transcript)
		fprintf(d->transcript, "sendmx: connected to %s\n", net_peer(c));
	if (relay->tls == TLS_IMPLICIT && start_tls(d, c, relay, &err) != ST_OK) {
		text = xasprintf("%s at TLS: %s", net_peer(c), err.msg);
		fail_all(d, dest, ST_TEMPFAIL, text, net_peer(c));
		goto out;
	}

	rcpts = xcalloc(dest->n, sizeof *rcpts);
	for (size_t k = 0; k < dest->n; k++)
		rcpts[k] = d->msg->rcpts.items[dest->idx[k]].mailbox;
	p.helo_name = cfg->hostname;
	p.peer = net_peer(c);
	p.tls = relay->tls;
	p.user = relay->user;
	p.password = relay->password;
	p.auth_mechanisms = relay->auth_mechanisms;
	p.allow_plaintext_auth = relay->allow_plaintext_auth;
	p.sender = d->msg->sender;
	p.rcpts = rcpts;
	p.nrcpts = dest->n;
	p.size = d->msg->size;
	p.eightbit = d->msg->eightbit;
	p.timeout_s = cfg->timeout;

	s = smtp_new(&p);
	drive(d, c, s, relay);
	for (size_t k = 0; k < dest->n; k++)
		set_outcome(d, dest->idx[k], smtp_rcpt_status(s, k),
			    smtp_rcpt_reply(s, k), net_peer(c));
out:
	free(text);
	free(rcpts);
	if (s)
		smtp_free(s);
	if (c)
		net_close(c);
}

/* Runs one session to its end: every step the state machine asks for. */
static void drive(struct delivery *d, struct conn *c,
		  struct smtp_session *s, const struct relay_config *relay)
{
	struct smtp_reply r;
	struct smtp_output out;
	struct err err;
	enum smtp_want want;

	reply_init(&r);
	while ((want = smtp_next(s, &out)) != SMTP_WANT_CLOSE) {
		switch (want) {
		case SMTP_WANT_WRITE:
			show(d->transcript, ">>> ", out.display);
			if (net_write(c, out.data, out.len,
				      smtp_reply_timeout_ms(s), &err) != ST_OK)
				smtp_on_io_error(s, err.msg);
			break;
		case SMTP_WANT_READ:
			if (read_reply(d, c, s, &r, smtp_reply_timeout_ms(s),
				       &err) == ST_OK)
				smtp_on_reply(s, &r);
			else
				smtp_on_io_error(s, err.msg);
			break;
		case SMTP_WANT_TLS:
			if (start_tls(d, c, relay, &err) == ST_OK)
				smtp_on_tls(s, true, NULL);
			else
				smtp_on_tls(s, false, err.msg);
			break;
		case SMTP_WANT_BODY:
			show(d->transcript, ">>> ", "(message body)\r\n.");
			if (stream_body(d, c, data_timeout_ms(d->cfg), &err) ==
			    ST_OK)
				smtp_body_done(s);
			else
				smtp_on_io_error(s, err.msg);
			break;
		case SMTP_WANT_CLOSE:
			break;
		}
	}
	reply_free(&r);
}

/* TLS on c, implicit or after STARTTLS, verified as the relay's config
 * says, within connect_timeout (the handshake belongs to connecting). */
static enum status start_tls(struct delivery *d, struct conn *c,
			     const struct relay_config *relay,
			     struct err *err)
{
	struct tls_params tp = { relay->host, relay->verify, relay->ca_file,
				 relay->ca_path };

	if (net_start_tls(c, &tp, d->cfg->connect_timeout * 1000, err) !=
	    ST_OK)
		return ST_TEMPFAIL;
	if (d->transcript)
		fprintf(d->transcript, "sendmx: TLS: %s\n", net_tls_describe(c));
	return ST_OK;
}

static int data_timeout_ms(const struct config *cfg)
{
	return cfg->timeout > 0 ? cfg->timeout * 1000 : DATA_BLOCK_TIMEOUT_MS;
}

/* Reads lines until one complete reply; a malformed or oversized reply
 * is an I/O error for the session (whose message adds peer and stage).
 * The timeout is for the whole reply (RFC 5321 4.5.3.2 times replies,
 * not lines): a server trickling out continuation lines must not
 * stretch it up to REPLY_MAX_LINES times. */
static enum status read_reply(struct delivery *d, struct conn *c,
			      const struct smtp_session *s,
			      struct smtp_reply *r, int timeout_ms,
			      struct err *err)
{
	long long deadline = net_deadline(timeout_ms);
	struct buf line;
	enum status st = ST_OK;

	buf_init(&line);
	reply_reset(r);
	for (;;) {
		enum reply_feed f;

		st = net_read_line_until(c, &line, deadline, timeout_ms, err);
		if (st != ST_OK)
			break;
		show_reply_line(d->transcript, s, line.data ? line.data : "",
				line.len);
		f = reply_feed_line(r, line.data ? line.data : "", line.len);
		if (f == REPLY_COMPLETE)
			break;
		if (f == REPLY_BAD) {
			/* Show the line: it tells a POP3 or HTTP server on the
			 * wrong port from a garbled reply. */
			char *text = clean_copy(s, line.data ? line.data : "",
						line.len);

			err_set(err, "malformed reply line \"%.120s%s\"", text,
				line.len > 120 ? "..." : "");
			explicit_bzero(text, line.len);
			free(text);
			st = ST_TEMPFAIL;
			break;
		}
		if (f == REPLY_TOO_BIG) {
			err_set(err, "reply longer than %d lines or %d bytes",
				REPLY_MAX_LINES, REPLY_MAX_BYTES);
			st = ST_TEMPFAIL;
			break;
		}
	}
	buf_free(&line);
	return st;
}

/*
 * Streams the spool file dot-stuffed (RFC 5321 4.5.2), ending with
 * ".\r\n" in the same write as the last data so the end of DATA never
 * sits alone in a small packet.
 */
static enum status stream_body(struct delivery *d, struct conn *c,
			       int timeout_ms, struct err *err)
{
	static char in[BODY_CHUNK];
	struct buf out;
	bool bol = true;
	enum status st = ST_OK;
	off_t off = 0;

	buf_init(&out);
	for (;;) {
		ssize_t n = pread(d->msg->spool_fd, in, sizeof in, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set(err, "reading the spool file: %s",
				strerror(errno));
			st = ST_TEMPFAIL;
			goto out;
		}
		if (n == 0)
			break;
		off += n;
		smtp_dot_stuff(in, (size_t)n, &bol, &out);
		if (out.len >= BODY_CHUNK) {
			st = net_write(c, out.data, out.len, timeout_ms, err);
			if (st != ST_OK)
				goto out;
			buf_reset(&out);
		}
	}
	/* The spool always ends in CRLF; guard anyway so "." is on its own line. */
	if (!bol)
		buf_appends(&out, "\r\n");
	buf_appends(&out, ".\r\n");
	st = net_write(c, out.data, out.len, timeout_ms, err);
out:
	buf_free(&out);
	return st;
}

/* One reply line for the transcript, as the reply's own text is kept
 * (reply.c): control bytes become '?', so that a hostile server cannot
 * drive the terminal of whoever runs -v, and a NUL cannot hide the rest
 * of the line. Secrets the server quotes back are masked (smtp_redact). */
static void show_reply_line(FILE *t, const struct smtp_session *s,
			    const char *p, size_t n)
{
	char *copy;

	if (t == NULL)
		return;
	copy = clean_copy(s, p, n);
	fprintf(t, "<<< %s\n", copy);
	explicit_bzero(copy, n);
	free(copy);
}

/* n bytes of a line from the server as a string fit to show: secrets
 * it quotes back masked, control bytes (NUL included) as '?'. */
static char *clean_copy(const struct smtp_session *s, const char *p,
			size_t n)
{
	char *copy = xmalloc(n + 1);

	memcpy(copy, p, n);
	copy[n] = '\0';
	smtp_redact(s, copy, n);
	replace_controls(copy, n, '?');
	return copy;
}

/* Writes text line by line to the transcript, each with the prefix. */
static void show(FILE *t, const char *prefix, const char *text)
{
	const char *p = text;

	if (t == NULL || text == NULL)
		return;
	while (*p) {
		size_t len = strcspn(p, "\r\n");

		fprintf(t, "%s%.*s\n", prefix, (int)len, p);
		p += len;
		while (*p == '\r' || *p == '\n')
			p++;
	}
}

static void log_outcomes(struct delivery *d)
{
	double delay = (double)(now_ms() - d->arrival_ms) / 1000.0;

	for (size_t i = 0; i < d->msg->rcpts.n; i++) {
		const struct rcpt_outcome *o = &d->outcomes[i];
		const char *status = o->status == ST_OK	      ? "sent"
				     : o->status == ST_TEMPFAIL ? "deferred"
								: "bounced";

		log_info(d->queue_id,
			 "to=<%s>, relay=%s, delay=%.2f, status=%s (%s)",
			 d->msg->rcpts.items[i].mailbox,
			 o->relay ? o->relay : "none", delay, status,
			 o->reply ? o->reply : "");
	}
}
