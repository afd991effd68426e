/*
 * smtp_hello.c - the greeting, EHLO/HELO and STARTTLS steps of the SMTP
 * client's state machine.
 */
#include "ac_config.h"

#include "smtp_auth.h"
#include "smtp_hello.h"

static void send_hello(struct smtp_session *s, const char *verb);
static void after_hello(struct smtp_session *s);

static void send_hello(struct smtp_session *s, const char *verb)
{
	s->stage = STAGE_EHLO;
	smtp_send_cmdf(s, "%s %s", verb, s->p.helo_name);
	s->state = verb[0] == 'E' ? S_EHLO : S_HELO;
}

void smtp_hello_on_greeting(struct smtp_session *s,
			    const struct smtp_reply *r)
{
	if (reply_class(r) == 2) {
		send_hello(s, "EHLO");
		return;
	}
	/* RFC 5321 3.1: a 554 greeting still expects QUIT. It refuses
	 * this client, not the message: temporary, so that the next MX
	 * host or a later try gets it (Postfix: smtp_skip_5xx_greeting). */
	smtp_fail_reply(s, ST_TEMPFAIL, r);
	smtp_end_after(s, r);
}

void smtp_hello_on_reply(struct smtp_session *s, const struct smtp_reply *r)
{
	if (reply_class(r) == 2) {
		smtp_ext_clear(&s->ext);
		if (s->state == S_EHLO)
			smtp_ext_parse(&s->ext, r);
		after_hello(s);
		return;
	}
	/* RFC 5321 4.1.4 / 3.2: a server that does not know EHLO answers
	 * 5xx; it still speaks plain RFC 821 after HELO. */
	if (s->state == S_EHLO && reply_class(r) == 5) {
		send_hello(s, "HELO");
		return;
	}
	smtp_fail_reply(s, smtp_status_of(r), r);
	smtp_end_after(s, r);
}

static void after_hello(struct smtp_session *s)
{
	/* Opportunistic (MX hosts): TLS when offered, plain when not. */
	if (s->p.tls == TLS_OPPORTUNISTIC && !s->tls_active &&
	    s->ext.starttls) {
		s->stage = STAGE_STARTTLS;
		smtp_send_cmd(s, "STARTTLS", NULL);
		s->state = S_STARTTLS;
		return;
	}
	if (s->p.tls == TLS_STARTTLS && !s->tls_active) {
		s->stage = STAGE_STARTTLS;
		/* TLS was asked for: never fall back to plain text. */
		if (!s->ext.starttls) {
			smtp_fail_all(s, ST_TEMPFAIL, "%s at %s: server does "
				      "not offer STARTTLS", s->p.peer,
				      smtp_stage_name(s->stage));
			smtp_quit(s);
			return;
		}
		smtp_send_cmd(s, "STARTTLS", NULL);
		s->state = S_STARTTLS;
		return;
	}
	smtp_auth_start(s);
}

/* TLS trouble is never the message's fault: always TEMPFAIL. */
void smtp_hello_on_starttls(struct smtp_session *s,
			    const struct smtp_reply *r)
{
	if (r->code == 220) {
		s->stage = STAGE_TLS;
		s->state = S_TLS;
		return;
	}
	/* Opportunistic: a refused STARTTLS command leaves a usable plain
	 * session (the refusal came before any handshake). */
	if (s->p.tls == TLS_OPPORTUNISTIC && r->code != 421) {
		smtp_auth_start(s);
		return;
	}
	smtp_fail_reply(s, ST_TEMPFAIL, r);
	smtp_end_after(s, r);
}

void smtp_on_tls(struct smtp_session *s, bool ok, const char *error)
{
	if (s->state != S_TLS)
		return;
	if (!ok) {
		smtp_fail_all(s, ST_TEMPFAIL, "%s at %s: %s", s->p.peer,
			      smtp_stage_name(STAGE_TLS),
			      error ? error : "handshake failed");
		s->state = S_CLOSE;
		return;
	}
	s->tls_active = true;
	/* RFC 3207 4.2: forget what the plain-text EHLO said, ask again. */
	smtp_ext_clear(&s->ext);
	send_hello(s, "EHLO");
}
