/*
 * smtp_txn.c - the mail transaction steps of the SMTP client's state
 * machine (MAIL, RCPT, DATA, the final "."), and the transparency rule
 * for the body.
 */
#include "ac_config.h"

#include <stdlib.h>
#include <string.h>

#include "smtp_txn.h"

static size_t select_batch(struct smtp_session *s);
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
	if (select_batch(s) == 0) {
		smtp_quit(s);
		return;
	}
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
	s->txn_progress = false;
	s->state = S_TXN;
	/* RFC 2920 3.1: MAIL, RCPT and DATA may all go in one group; DATA
	 * is the last command in it. */
	if (s->pipelined) {
		for (k = 0; k < s->nsent; k++)
			send_rcpt(s, k);
		smtp_send_cmd(s, "DATA", NULL);
	}
}

/* The recipients of the next transaction: those deferred by a 452
 * first (they have waited), then the untried, up to max_rcpt_per_txn. */
static size_t select_batch(struct smtp_session *s)
{
	size_t max = s->p.max_rcpt_per_txn ? s->p.max_rcpt_per_txn
					   : s->p.nrcpts;

	s->nsent = 0;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < s->p.nrcpts && s->nsent < max; i++) {
			struct rcpt *rc = &s->rcpts[i];

			if (rc->final || (pass == 0) != (rc->deferred != NULL))
				continue;
			if (pass == 1 && rc->tried)
				continue;
			rc->tried = true;
			free(rc->deferred);
			rc->deferred = NULL;
			s->sent[s->nsent++] = i;
		}
	return s->nsent;
}

/* A transaction that settled nobody would settle nobody again: the
 * deferred then get their 452 as a temporary failure. */
void smtp_txn_next_or_quit(struct smtp_session *s)
{
	bool due = false;

	for (size_t i = 0; i < s->p.nrcpts; i++) {
		struct rcpt *rc = &s->rcpts[i];

		if (rc->final)
			continue;
		if (rc->deferred && !s->txn_progress) {
			smtp_set_result(rc, ST_TEMPFAIL, rc->deferred);
			rc->deferred = NULL;
			continue;
		}
		if (rc->deferred || !rc->tried)
			due = true;
	}
	if (!due) {
		smtp_quit(s);
		return;
	}
	if (!s->txn_open) {
		smtp_txn_start(s);
		return;
	}
	/* The server still holds the last MAIL: RSET first. Pipelined,
	 * it leads the next group (RFC 2920 3.1 allows it anywhere). */
	smtp_send_cmd(s, "RSET", NULL);
	s->txn_open = false;
	if (s->ext.pipelining) {
		s->rset_pending = true;
		smtp_txn_start(s);
	} else {
		s->state = S_RSET;
	}
}

void smtp_txn_on_rset(struct smtp_session *s, const struct smtp_reply *r)
{
	if (reply_class(r) == 2) {
		smtp_txn_start(s);
		return;
	}
	/* A server that cannot reset cannot take another transaction. */
	smtp_fail_reply(s, ST_TEMPFAIL, r);
	smtp_end_after(s, r);
}

static void send_rcpt(struct smtp_session *s, size_t k)
{
	smtp_send_cmdf(s, "RCPT TO:<%s>", s->rcpts[s->sent[k]].addr);
}

/* Replies arrive in command order (RFC 2920 3.2), so the position
 * alone says which command a reply answers. */
void smtp_txn_on_reply(struct smtp_session *s, const struct smtp_reply *r)
{
	if (s->rset_pending) {
		/* The RSET that led this group. */
		s->rset_pending = false;
		if (reply_class(r) != 2) {
			smtp_fail_reply(s, ST_TEMPFAIL, r);
			s->txn_failed = true;   /* the rest is noise now */
		}
		return;
	}
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
		s->txn_open = true;
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
			s->txn_progress = true;
		} else if (r->code == 452) {
			/* RFC 5321 4.5.3.1.10: too many recipients for this
			 * transaction; the next one takes the rest. */
			char *sum = reply_summary(r);

			rc->deferred = xasprintf("%s at %s: %s", s->p.peer,
						 smtp_stage_name(s->stage),
						 sum);
			free(sum);
		} else {
			s->txn_progress = true;
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
		smtp_txn_next_or_quit(s);
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
	/* Nobody was accepted: the refusal of DATA says nothing new about
	 * the recipients (each has its RCPT reply; a 452 waits for the
	 * next transaction). Postfix answers 554 "no valid recipients". */
	if (!s->txn_failed && s->naccepted == 0 && r->code != 421) {
		smtp_txn_next_or_quit(s);
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

	s->txn_open = false;   /* "." ends the transaction either way */

	if (reply_class(r) == 2) {
		char *sum = reply_summary(r);

		for (i = 0; i < s->p.nrcpts; i++)
			if (!s->rcpts[i].final && s->rcpts[i].accepted)
				smtp_set_result(&s->rcpts[i], ST_OK,
						xstrdup(sum));
		free(sum);
		smtp_txn_next_or_quit(s);
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
