/*
 * smtp_auth.c - the AUTH steps (RFC 4954) of the SMTP client's state
 * machine.
 */
#include "ac_config.h"

#include <stdlib.h>
#include <string.h>

#include "smtp_auth.h"
#include "smtp_txn.h"

#define MASK "********"

static void auth_continue(struct smtp_session *s, const struct smtp_reply *r);
static void auth_cancel(struct smtp_session *s, const char *why);
static void send_secret(struct smtp_session *s, const char *prefix,
			char *resp);
static void mask(char *text, size_t n, const char *secret);

/* Credential problems are configuration problems: TEMPFAIL keeps the
 * mail queued while someone fixes them. */
void smtp_auth_start(struct smtp_session *s)
{
	if (s->p.user == NULL) {
		smtp_txn_start(s);
		return;
	}
	s->stage = STAGE_AUTH;
	if (!s->tls_active && !s->p.allow_plaintext_auth) {
		smtp_fail_all(s, ST_TEMPFAIL, "%s at %s: refusing AUTH over "
			      "an unencrypted connection (set "
			      "allow_plaintext_auth to allow)", s->p.peer,
			      smtp_stage_name(s->stage));
		smtp_quit(s);
		return;
	}
	if (!s->ext.auth) {
		smtp_fail_all(s, ST_TEMPFAIL, "%s at %s: server offers no AUTH",
			      s->p.peer, smtp_stage_name(s->stage));
		smtp_quit(s);
		return;
	}
	s->mech = auth_choose(s->ext.auth_mechs.data, s->p.auth_mechanisms);
	if (s->mech == AUTH_MECH_NONE) {
		smtp_fail_all(s, ST_TEMPFAIL, "%s at %s: no common AUTH "
			      "mechanism (server offers: %s; allowed: %s)",
			      s->p.peer, smtp_stage_name(s->stage),
			      s->ext.auth_mechs.data,
			      s->p.auth_mechanisms ? s->p.auth_mechanisms
						   : "CRAM-MD5 PLAIN LOGIN");
		smtp_quit(s);
		return;
	}
	s->auth_step = 0;
	s->state = S_AUTH;
	if (s->mech == AUTH_MECH_PLAIN) {
		/* RFC 4954 4: the initial response saves a round trip. */
		send_secret(s, "AUTH PLAIN ",
			    auth_plain_response(s->p.user, s->p.password));
		return;
	}
	smtp_send_cmdf(s, "AUTH %s", auth_mech_name(s->mech));
}

void smtp_auth_on_reply(struct smtp_session *s, const struct smtp_reply *r)
{
	if (reply_class(r) == 2) {
		smtp_txn_start(s);
		return;
	}
	if (r->code == 334) {
		auth_continue(s, r);
		return;
	}
	smtp_fail_reply(s, ST_TEMPFAIL, r);
	smtp_end_after(s, r);
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
	send_secret(s, "", resp);
}

/* Sends prefix + resp with the response masked in the transcript, and
 * keeps resp (taken over) for smtp_redact. */
static void send_secret(struct smtp_session *s, const char *prefix,
			char *resp)
{
	char *cmd = xasprintf("%s%s", prefix, resp);
	char *disp = xasprintf("%s%s", prefix, MASK);

	smtp_send_cmd(s, cmd, disp);
	explicit_bzero(cmd, strlen(cmd));
	free(cmd);
	free(disp);
	if (s->nsecrets < SMTP_MAX_SECRETS) {
		s->secrets[s->nsecrets++] = resp;
	} else {
		explicit_bzero(resp, strlen(resp));
		free(resp);
	}
}

/* Only the AUTH exchange's replies can quote what it sent; masking
 * every reply would let a short password garble ordinary words. */
void smtp_redact(const struct smtp_session *s, char *text, size_t n)
{
	size_t i;

	if (s->stage != STAGE_AUTH)
		return;
	mask(text, n, s->p.password);
	for (i = 0; i < s->nsecrets; i++)
		mask(text, n, s->secrets[i]);
}

/* Overwrites each occurrence of secret in text with as many '*'. */
static void mask(char *text, size_t n, const char *secret)
{
	size_t len = strlen(secret);
	char *p = text, *hit;

	if (len == 0)
		return;
	while ((hit = memmem(p, n - (size_t)(p - text), secret, len)) != NULL) {
		memset(hit, '*', len);
		p = hit + len;
	}
}

static void auth_cancel(struct smtp_session *s, const char *why)
{
	smtp_fail_all(s, ST_TEMPFAIL, "%s at %s: %s", s->p.peer,
		      smtp_stage_name(STAGE_AUTH), why);
	smtp_send_cmd(s, "*", NULL);
	s->state = S_AUTH_CANCEL;
}
