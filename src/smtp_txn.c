/*
 * smtp_txn.c - the mail transaction steps of the SMTP client's state
 * machine (MAIL, RCPT, DATA, the final "."), and the transparency rule
 * for the body.
 */
#include "ac_config.h"

#include <stdlib.h>
#include <string.h>

#include "smtp_txn.h"

static void send_rcpt(struct smtp_session *s, size_t k);
static enum smtp_stage txn_stage(const struct smtp_session *s);
static void on_mail(struct smtp_session *s, const struct smtp_reply *r);
static void on_rcpt(struct smtp_session *s, const struct smtp_reply *r);
static void after_rcpt(struct smtp_session *s);
static void on_data(struct smtp_session *s, const struct smtp_reply *r);

void smtp_txn_start(struct smtp_session *s)
{
	struct buf cmd;
	size_t k;

	s->stage = STAGE_MAIL;
	/* RFC 1870 6.1: a message over the declared limit is refused
	 * permanently; do not even start the transaction. */
	if (s->ext.size_max > 0 && (long long)s->p.size > s->ext.size_max) {
		smtp_fail_all(s, ST_PERMFAIL, "%s at %s: 5.3.4 message size "
			      "%lld exceeds the server's limit of %lld bytes",
			      s->p.peer, smtp_stage_name(s->stage),
			      (long long)s->p.size, s->ext.size_max);
		smtp_quit(s);
		return;
	}
	buf_init(&cmd);
	buf_appendf(&cmd, "MAIL FROM:<%s>", s->p.sender);
	if (s->ext.size && s->p.size > 0)
		buf_appendf(&cmd, " SIZE=%lld", (long long)s->p.size);
	if (s->p.eightbit && s->ext.eightbitmime)
		buf_appends(&cmd, " BODY=8BITMIME");
	smtp_send_cmd(s, cmd.data, NULL);
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
		smtp_send_cmd(s, "DATA", NULL);
	}
}

static void send_rcpt(struct smtp_session *s, size_t k)
{
	smtp_send_cmdf(s, "RCPT TO:<%s>", s->rcpts[s->sent[k]].addr);
}

/* Replies arrive in command order (RFC 2920 3.2), so the position
 * alone says which command a reply answers. */
void smtp_txn_on_reply(struct smtp_session *s, const struct smtp_reply *r)
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
	smtp_fail_reply(s, smtp_status_of(r), r);
	if (s->pipelined && r->code != 421) {
		/* The RCPT and DATA replies are still on their way. */
		s->txn_failed = true;
		return;
	}
	smtp_end_after(s, r);
}

static void on_rcpt(struct smtp_session *s, const struct smtp_reply *r)
{
	struct rcpt *rc = &s->rcpts[s->sent[s->txn_pos - 1]];

	s->txn_pos++;
	if (r->code == 421) {
		smtp_fail_reply(s, ST_TEMPFAIL, r);
		smtp_go_close(s);
		return;
	}
	if (!s->txn_failed) {
		if (reply_class(r) == 2) {
			rc->accepted = true;
			s->naccepted++;
		} else {
			char *sum = reply_summary(r);

			smtp_set_result(rc, smtp_status_of(r),
					xasprintf("%s at %s: %s", s->p.peer,
						  smtp_stage_name(s->stage),
						  sum));
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
		smtp_quit(s);
		return;
	}
	s->stage = STAGE_DATA;
	smtp_send_cmd(s, "DATA", NULL);
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
		smtp_send_cmd(s, ".", NULL);
		s->state = S_DOT_IGNORE;
		return;
	}
	if (!s->txn_failed)
		smtp_fail_reply(s, smtp_status_of(r), r);
	smtp_end_after(s, r);
}

void smtp_body_done(struct smtp_session *s)
{
	if (s->state != S_BODY)
		return;
	s->stage = STAGE_DOT;
	s->state = S_DOT;
}

void smtp_txn_on_dot(struct smtp_session *s, const struct smtp_reply *r)
{
	size_t i;

	if (reply_class(r) == 2) {
		char *sum = reply_summary(r);

		for (i = 0; i < s->p.nrcpts; i++)
			if (!s->rcpts[i].final && s->rcpts[i].accepted)
				smtp_set_result(&s->rcpts[i], ST_OK,
						xstrdup(sum));
		free(sum);
		smtp_quit(s);
		return;
	}
	smtp_fail_reply(s, smtp_status_of(r), r);
	smtp_end_after(s, r);
}

/* ---- transparency ------------------------------------------------------- */

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
