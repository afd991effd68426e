/*
 * test_smtp.c - the SMTP client state machine, driven with scripted
 * replies; every test checks the exact bytes the session asks to write.
 */
#include "ac_config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp.h"
#include "smtp_ext.h"

#define PEER "mx.example.org[192.0.2.1]:25"
#define EHLO "EHLO client.example.org\r\n"
#define QUIT "QUIT\r\n"

static const char *const one_rcpt[] = { "bob@example.net" };
static const char *const three_rcpts[] = {
	"a@example.net", "b@example.net", "c@example.net"
};

/* ---- helpers ------------------------------------------------------------ */

static struct smtp_params params(const char *const *rcpts, size_t n)
{
	struct smtp_params p;

	memset(&p, 0, sizeof p);
	p.helo_name = "client.example.org";
	p.peer = PEER;
	p.tls = TLS_NONE;
	p.sender = "alice@example.org";
	p.rcpts = rcpts;
	p.nrcpts = n;
	p.size = 1234;
	return p;
}

static void want(struct smtp_session *s, enum smtp_want w)
{
	struct smtp_output o;

	assert_int_equal(smtp_next(s, &o), w);
}

static void expect_write_disp(struct smtp_session *s, const char *data,
			      const char *display)
{
	struct smtp_output o;

	assert_int_equal(smtp_next(s, &o), SMTP_WANT_WRITE);
	assert_non_null(o.data);
	assert_int_equal(o.len, strlen(data));
	assert_memory_equal(o.data, data, o.len);
	assert_string_equal(o.display, display);
}

static void expect_write(struct smtp_session *s, const char *data)
{
	expect_write_disp(s, data, data);
}

/* Feeds a scripted reply: lines separated by '\n'. The session must be
 * waiting for one. */
static void reply(struct smtp_session *s, const char *text)
{
	struct smtp_reply r;
	const char *p = text;

	want(s, SMTP_WANT_READ);
	reply_init(&r);
	for (;;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		enum reply_feed f = reply_feed_line(&r, p, len);

		assert_int_equal(f, nl ? REPLY_MORE : REPLY_COMPLETE);
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	smtp_on_reply(s, &r);
	reply_free(&r);
}

static void check_rcpt(struct smtp_session *s, size_t i, enum status st,
		       const char *text)
{
	assert_int_equal(smtp_rcpt_status(s, i), st);
	assert_string_equal(smtp_rcpt_reply(s, i), text);
}

/* Greeting and EHLO with the given EHLO reply. */
static void hello(struct smtp_session *s, const char *ehlo_reply)
{
	reply(s, "220 mx.example.org ESMTP");
	expect_write(s, EHLO);
	reply(s, ehlo_reply);
}

/* QUIT, its reply, and the end. */
static void finish(struct smtp_session *s)
{
	expect_write(s, QUIT);
	reply(s, "221 2.0.0 Bye");
	want(s, SMTP_WANT_CLOSE);
}

/* ---- transactions --------------------------------------------------------- */

/* RFC 2920: MAIL, every RCPT and DATA in one write; replies in order. */
static void test_pipelining_mixed_rcpts(void **state)
{
	struct smtp_params p = params(three_rcpts, 3);
	struct smtp_session *s;

	(void)state;
	p.eightbit = true;
	s = smtp_new(&p);
	assert_int_equal(smtp_reply_timeout_ms(s), 5 * 60 * 1000);
	hello(s, "250-mx.example.org hello\n250-PIPELINING\n250-SIZE 10000\n"
		 "250-8BITMIME\n250 ENHANCEDSTATUSCODES");
	expect_write(s, "MAIL FROM:<alice@example.org> SIZE=1234 BODY=8BITMIME\r\n"
		     "RCPT TO:<a@example.net>\r\n"
		     "RCPT TO:<b@example.net>\r\n"
		     "RCPT TO:<c@example.net>\r\n"
		     "DATA\r\n");
	reply(s, "250 2.1.0 Ok");
	reply(s, "250 2.1.5 Ok");
	reply(s, "450 4.2.0 <b@example.net>: mailbox busy");
	assert_int_equal(smtp_reply_timeout_ms(s), 5 * 60 * 1000);
	reply(s, "550-5.1.1 <c@example.net>: user unknown\n550 5.1.1 try later");
	assert_int_equal(smtp_reply_timeout_ms(s), 2 * 60 * 1000);
	assert_false(smtp_finished(s));
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
	want(s, SMTP_WANT_BODY);
	assert_int_equal(smtp_reply_timeout_ms(s), 3 * 60 * 1000);
	smtp_body_done(s);
	assert_int_equal(smtp_reply_timeout_ms(s), 10 * 60 * 1000);
	reply(s, "250 2.0.0 Ok: queued as 4ABC");
	assert_true(smtp_finished(s));
	finish(s);
	check_rcpt(s, 0, ST_OK, "250 2.0.0 Ok: queued as 4ABC");
	check_rcpt(s, 1, ST_TEMPFAIL,
		   PEER " at RCPT: 450 4.2.0 <b@example.net>: mailbox busy");
	check_rcpt(s, 2, ST_PERMFAIL, PEER " at RCPT: 550 5.1.1 "
		   "<c@example.net>: user unknown / try later");
	assert_false(smtp_tls_active(s));
	smtp_free(s);
}

/* Without PIPELINING each command waits for the previous reply. */
static void test_no_pipelining(void **state)
{
	struct smtp_params p = params(three_rcpts, 3);
	struct smtp_session *s;

	(void)state;
	p.eightbit = true;	/* 8BITMIME not offered: no BODY= */
	p.sender = "";		/* the null sender */
	s = smtp_new(&p);
	hello(s, "250-mx.example.org\n250 SIZE");
	expect_write(s, "MAIL FROM:<> SIZE=1234\r\n");
	reply(s, "250 ok");
	expect_write(s, "RCPT TO:<a@example.net>\r\n");
	reply(s, "550 no such user");
	expect_write(s, "RCPT TO:<b@example.net>\r\n");
	reply(s, "251 will forward");
	expect_write(s, "RCPT TO:<c@example.net>\r\n");
	reply(s, "250 ok");
	expect_write(s, "DATA\r\n");
	reply(s, "354 go ahead");
	want(s, SMTP_WANT_BODY);
	smtp_body_done(s);
	reply(s, "250 queued");
	finish(s);
	check_rcpt(s, 0, ST_PERMFAIL, PEER " at RCPT: 550 no such user");
	check_rcpt(s, 1, ST_OK, "250 queued");
	check_rcpt(s, 2, ST_OK, "250 queued");
	smtp_free(s);
}

/* No SIZE keyword: no SIZE= parameter; SIZE 0 means no limit. */
static void test_size_params(void **state)
{
	struct smtp_params p = params(one_rcpt, 1);
	struct smtp_session *s;

	(void)state;
	s = smtp_new(&p);
	hello(s, "250-mx\n250 8BITMIME");
	expect_write(s, "MAIL FROM:<alice@example.org>\r\n");
	smtp_free(s);

	p.size = 99999999;
	p.eightbit = true;
	s = smtp_new(&p);
	hello(s, "250-mx\n250-size 0\n250 8bitmime");
	expect_write(s,
		     "MAIL FROM:<alice@example.org> SIZE=99999999 BODY=8BITMIME\r\n");
	smtp_free(s);
}

/* RFC 1870 6.1: over the declared limit, MAIL is never sent. */
static void test_size_exceeded(void **state)
{
	struct smtp_params p = params(three_rcpts, 3);
	struct smtp_session *s;

	(void)state;
	p.size = 20000;
	s = smtp_new(&p);
	hello(s, "250-mx\n250-PIPELINING\n250 SIZE 10000");
	assert_true(smtp_finished(s));
	finish(s);
	check_rcpt(s, 0, ST_PERMFAIL, PEER " at MAIL: 5.3.4 message size 20000 "
		   "exceeds the server's limit of 10000 bytes");
	assert_int_equal(smtp_rcpt_status(s, 2), ST_PERMFAIL);
	smtp_free(s);
}

static void test_helo_fallback(void **state)
{
	struct smtp_params p = params(one_rcpt, 1);
	struct smtp_session *s;

	(void)state;
	s = smtp_new(&p);
	hello(s, "502 5.5.2 command not recognized");
	expect_write(s, "HELO client.example.org\r\n");
	/* HELO replies carry no extensions, whatever they say. */
	reply(s, "250-mx.example.org\n250 PIPELINING");
	expect_write(s, "MAIL FROM:<alice@example.org>\r\n");
	reply(s, "250 ok");
	expect_write(s, "RCPT TO:<bob@example.net>\r\n");
	smtp_free(s);

	s = smtp_new(&p);
	hello(s, "500 what?");
	expect_write(s, "HELO client.example.org\r\n");
	reply(s, "550 go away");
	finish(s);
	check_rcpt(s, 0, ST_PERMFAIL, PEER " at EHLO: 550 go away");
	smtp_free(s);

	/* A 4xx to EHLO is temporary, not a reason to try HELO. */
	s = smtp_new(&p);
	hello(s, "451 busy");
	finish(s);
	check_rcpt(s, 0, ST_TEMPFAIL, PEER " at EHLO: 451 busy");
	smtp_free(s);
}

/* ---- STARTTLS ---------------------------------------------------------------- */

static void test_starttls(void **state)
{
	struct smtp_params p = params(one_rcpt, 1);
	struct smtp_session *s;

	(void)state;
	p.tls = TLS_STARTTLS;
	s = smtp_new(&p);
	hello(s, "250-mx.example.org\n250-PIPELINING\n250 STARTTLS");
	expect_write(s, "STARTTLS\r\n");
	reply(s, "220 2.0.0 Ready to start TLS");
	want(s, SMTP_WANT_TLS);
	want(s, SMTP_WANT_TLS);
	assert_false(smtp_tls_active(s));
	smtp_on_tls(s, true, NULL);
	assert_true(smtp_tls_active(s));
	/* RFC 3207 4.2: EHLO again; PIPELINING from before is forgotten. */
	expect_write(s, EHLO);
	reply(s, "250-mx.example.org\n250 SIZE 50000");
	expect_write(s, "MAIL FROM:<alice@example.org> SIZE=1234\r\n");
	smtp_free(s);
}

static void test_starttls_not_offered(void **state)
{
	struct smtp_params p = params(one_rcpt, 1);
	struct smtp_session *s;

	(void)state;
	p.tls = TLS_STARTTLS;
	s = smtp_new(&p);
	hello(s, "250-mx.example.org\n250 PIPELINING");
	finish(s);
	check_rcpt(s, 0, ST_TEMPFAIL,
		   PEER " at STARTTLS: server does not offer STARTTLS");
	smtp_free(s);
}

static void test_starttls_failures(void **state)
{
	struct smtp_params p = params(one_rcpt, 1);
	struct smtp_session *s;

	(void)state;
	p.tls = TLS_STARTTLS;
	s = smtp_new(&p);
	hello(s, "250-mx\n250 STARTTLS");
	expect_write(s, "STARTTLS\r\n");
	reply(s, "454 4.7.0 TLS not available");
	finish(s);
	check_rcpt(s, 0, ST_TEMPFAIL,
		   PEER " at STARTTLS: 454 4.7.0 TLS not available");
	smtp_free(s);

	/* A failed handshake leaves nothing to talk on: close at once. */
	s = smtp_new(&p);
	hello(s, "250-mx\n250 STARTTLS");
	expect_write(s, "STARTTLS\r\n");
	reply(s, "220 go");
	smtp_on_tls(s, false, "certificate verify failed");
	want(s, SMTP_WANT_CLOSE);
	check_rcpt(s, 0, ST_TEMPFAIL, PEER " at TLS: certificate verify failed");
	assert_false(smtp_tls_active(s));
	smtp_free(s);
}

/* ---- AUTH -------------------------------------------------------------------- */

static void test_auth_plain(void **state)
{
	struct smtp_params p = params(one_rcpt, 1);
	struct smtp_session *s;

	(void)state;
	p.tls = TLS_IMPLICIT;
	p.user = "alice";
	p.password = "secret";
	s = smtp_new(&p);
	assert_true(smtp_tls_active(s));
	hello(s, "250-mx\n250 AUTH PLAIN LOGIN");
	expect_write_disp(s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
			  "AUTH PLAIN ********\r\n");
	assert_int_equal(smtp_reply_timeout_ms(s), 5 * 60 * 1000);
	reply(s, "235 2.7.0 Authentication successful");
	expect_write(s, "MAIL FROM:<alice@example.org>\r\n");
	smtp_free(s);
}

/* LOGIN over plain text when allowed; the old "AUTH=" form. */
static void test_auth_login(void **state)
{
	struct smtp_params p = params(one_rcpt, 1);
	struct smtp_session *s;

	(void)state;
	p.user = "alice";
	p.password = "secret";
	p.allow_plaintext_auth = true;
	s = smtp_new(&p);
	hello(s, "250-mx\n250 AUTH=LOGIN");
	expect_write(s, "AUTH LOGIN\r\n");
	reply(s, "334 VXNlcm5hbWU6");
	expect_write_disp(s, "YWxpY2U=\r\n", "********\r\n");
	reply(s, "334 UGFzc3dvcmQ6");
	expect_write_disp(s, "c2VjcmV0\r\n", "********\r\n");
	reply(s, "235 ok");
	expect_write(s, "MAIL FROM:<alice@example.org>\r\n");
	smtp_free(s);
}

/* RFC 2195 2 example exchange. */
static void test_auth_cram_md5(void **state)
{
	struct smtp_params p = params(one_rcpt, 1);
	struct smtp_session *s;

	(void)state;
	p.tls = TLS_IMPLICIT;
	p.user = "tim";
	p.password = "tanstaaftanstaaf";
	s = smtp_new(&p);
	hello(s, "250-mx\n250-AUTH PLAIN LOGIN\n250 AUTH=CRAM-MD5");
	expect_write(s, "AUTH CRAM-MD5\r\n");
	reply(s, "334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+");
	expect_write_disp(s, "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n",
			  "********\r\n");
	reply(s, "235 ok");
	expect_write(s, "MAIL FROM:<alice@example.org>\r\n");
	smtp_free(s);

	/* A challenge that is not base64: cancel with "*" (RFC 4954 4). */
	s = smtp_new(&p);
	hello(s, "250-mx\n250 AUTH CRAM-MD5");
	expect_write(s, "AUTH CRAM-MD5\r\n");
	reply(s, "334 !!!");
	expect_write(s, "*\r\n");
	reply(s, "501 5.7.0 cancelled");
	finish(s);
	check_rcpt(s, 0, ST_TEMPFAIL,
		   PEER " at AUTH: invalid CRAM-MD5 challenge");
	smtp_free(s);
}

static void test_auth_restricted(void **state)
{
	struct smtp_params p = params(one_rcpt, 1);
	struct smtp_session *s;

	(void)state;
	p.tls = TLS_IMPLICIT;
	p.user = "alice";
	p.password = "secret";
	p.auth_mechanisms = "LOGIN";
	s = smtp_new(&p);
	hello(s, "250-mx\n250 AUTH CRAM-MD5 PLAIN LOGIN");
	expect_write(s, "AUTH LOGIN\r\n");
	smtp_free(s);

	p.auth_mechanisms = "CRAM-MD5";
	s = smtp_new(&p);
	hello(s, "250-mx\n250 AUTH PLAIN LOGIN");
	finish(s);
	check_rcpt(s, 0, ST_TEMPFAIL, PEER " at AUTH: no common AUTH mechanism "
		   "(server offers: PLAIN LOGIN; allowed: CRAM-MD5)");
	smtp_free(s);
}

static void test_auth_refusals(void **state)
{
	struct smtp_params p = params(three_rcpts, 3);
	struct smtp_session *s;

	(void)state;
	p.user = "alice";
	p.password = "secret";
	/* Never send a password in the clear unless told to. */
	s = smtp_new(&p);
	hello(s, "250-mx\n250 AUTH PLAIN LOGIN");
	finish(s);
	check_rcpt(s, 0, ST_TEMPFAIL, PEER " at AUTH: refusing AUTH over an "
		   "unencrypted connection (set allow_plaintext_auth to allow)");
	assert_int_equal(smtp_rcpt_status(s, 2), ST_TEMPFAIL);
	smtp_free(s);

	p.tls = TLS_IMPLICIT;
	s = smtp_new(&p);
	hello(s, "250-mx\n250 PIPELINING");
	finish(s);
	check_rcpt(s, 1, ST_TEMPFAIL, PEER " at AUTH: server offers no AUTH");
	smtp_free(s);

	/* A 535 is a configuration problem: TEMPFAIL keeps the mail. */
	s = smtp_new(&p);
	hello(s, "250-mx\n250 AUTH PLAIN");
	expect_write_disp(s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
			  "AUTH PLAIN ********\r\n");
	reply(s, "535 5.7.8 Authentication credentials invalid");
	finish(s);
	check_rcpt(s, 0, ST_TEMPFAIL, PEER " at AUTH: 535 5.7.8 "
		   "Authentication credentials invalid");
	smtp_free(s);
}

/* A confused server that quotes back what it did not understand must not
 * put the password into the transcript or the error message. */
static void test_auth_echo_redacted(void **state)
{
	struct smtp_params p = params(one_rcpt, 1);
	struct smtp_session *s;
	char line[128];

	(void)state;
	p.user = "alice";
	p.password = "secret";
	p.allow_plaintext_auth = true;
	s = smtp_new(&p);
	hello(s, "250-mx\n250 AUTH LOGIN");
	expect_write(s, "AUTH LOGIN\r\n");
	reply(s, "334 VXNlcm5hbWU6");
	expect_write_disp(s, "YWxpY2U=\r\n", "********\r\n");
	reply(s, "334 UGFzc3dvcmQ6");
	expect_write_disp(s, "c2VjcmV0\r\n", "********\r\n");
	/* What the driver shows: the reply line, redacted in place. */
	snprintf(line, sizeof line, "500 5.5.1 Command unrecognized: "
		 "\"c2VjcmV0\" (secret)");
	smtp_redact(s, line, strlen(line));
	assert_string_equal(line, "500 5.5.1 Command unrecognized: "
			    "\"********\" (******)");
	reply(s, "500 5.5.1 Command unrecognized: \"c2VjcmV0\" (secret)");
	finish(s);
	check_rcpt(s, 0, ST_TEMPFAIL, PEER " at AUTH: 500 5.5.1 Command "
		   "unrecognized: \"********\" (******)");
	/* Only the AUTH exchange is redacted: afterwards text stays as sent. */
	snprintf(line, sizeof line, "221 secret c2VjcmV0");
	smtp_redact(s, line, strlen(line));
	assert_string_equal(line, "221 secret c2VjcmV0");
	smtp_free(s);

	/* PLAIN: its initial response too. */
	p.tls = TLS_IMPLICIT;
	s = smtp_new(&p);
	hello(s, "250-mx\n250 AUTH PLAIN");
	expect_write_disp(s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
			  "AUTH PLAIN ********\r\n");
	reply(s, "501 5.5.2 cannot decode AGFsaWNlAHNlY3JldA==");
	finish(s);
	check_rcpt(s, 0, ST_TEMPFAIL, PEER " at AUTH: 501 5.5.2 cannot decode "
		   "********************");
	smtp_free(s);
}

/* The command buffer is reused: once the password line is sent, a
 * shorter command after it must not leave the password's tail behind
 * (a later realloc would copy it into freed memory). White box: the
 * bytes past the new command are still the same allocation. */
static void test_auth_secret_wiped_from_buffer(void **state)
{
	static const char pass[] = "a-long-password-that-is-longer-than-mail-from-0123456789";
	struct smtp_params p = params(one_rcpt, 1);
	struct smtp_session *s;
	struct smtp_output o;
	char *b64 = auth_base64_encode(pass, strlen(pass));
	size_t n = strlen(b64) + 2;

	(void)state;
	p.user = "alice";
	p.password = pass;
	p.sender = "";
	p.tls = TLS_IMPLICIT;
	s = smtp_new(&p);
	hello(s, "250-mx\n250 AUTH LOGIN");
	expect_write(s, "AUTH LOGIN\r\n");
	reply(s, "334 VXNlcm5hbWU6");
	expect_write_disp(s, "YWxpY2U=\r\n", "********\r\n");
	reply(s, "334 UGFzc3dvcmQ6");
	assert_int_equal(smtp_next(s, &o), SMTP_WANT_WRITE);
	assert_int_equal(o.len, n);
	assert_memory_equal(o.data, b64, n - 2);
	reply(s, "235 ok");
	assert_int_equal(smtp_next(s, &o), SMTP_WANT_WRITE);
	assert_string_equal(o.data, "MAIL FROM:<>\r\n");
	assert_true(o.len < n);
	assert_null(memmem(o.data, n, b64 + n - 12, 10));
	smtp_free(s);
	free(b64);
}

/* ---- failures in the transaction ------------------------------------------- */

static void test_mail_refused(void **state)
{
	struct smtp_params p = params(three_rcpts, 3);
	struct smtp_session *s;

	(void)state;
	s = smtp_new(&p);
	hello(s, "250 mx");
	expect_write(s, "MAIL FROM:<alice@example.org>\r\n");
	reply(s, "553 5.7.1 sender rejected");
	finish(s);
	check_rcpt(s, 0, ST_PERMFAIL, PEER " at MAIL: 553 5.7.1 sender rejected");
	check_rcpt(s, 2, ST_PERMFAIL, PEER " at MAIL: 553 5.7.1 sender rejected");
	smtp_free(s);

	/* Pipelined: the remaining replies are read and ignored. */
	p.nrcpts = 2;
	s = smtp_new(&p);
	hello(s, "250-mx\n250 PIPELINING");
	expect_write(s, "MAIL FROM:<alice@example.org>\r\n"
		     "RCPT TO:<a@example.net>\r\nRCPT TO:<b@example.net>\r\n"
		     "DATA\r\n");
	reply(s, "451 4.3.0 try later");
	reply(s, "503 5.5.1 need MAIL");
	reply(s, "503 5.5.1 need MAIL");
	reply(s, "554 5.5.1 no valid recipients");
	finish(s);
	check_rcpt(s, 0, ST_TEMPFAIL, PEER " at MAIL: 451 4.3.0 try later");
	check_rcpt(s, 1, ST_TEMPFAIL, PEER " at MAIL: 451 4.3.0 try later");
	smtp_free(s);
}

static void test_no_rcpt_accepted(void **state)
{
	struct smtp_params p = params(one_rcpt, 1);
	struct smtp_session *s;

	(void)state;
	/* Without pipelining DATA is never sent. */
	s = smtp_new(&p);
	hello(s, "250 mx");
	expect_write(s, "MAIL FROM:<alice@example.org>\r\n");
	reply(s, "250 ok");
	expect_write(s, "RCPT TO:<bob@example.net>\r\n");
	reply(s, "550 5.1.1 <bob@x>: user unknown");
	assert_true(smtp_finished(s));
	finish(s);
	check_rcpt(s, 0, ST_PERMFAIL,
		   PEER " at RCPT: 550 5.1.1 <bob@x>: user unknown");
	smtp_free(s);

	/* Pipelined, and the server says 354 anyway: send a lone dot. */
	s = smtp_new(&p);
	hello(s, "250-mx\n250 PIPELINING");
	expect_write(s, "MAIL FROM:<alice@example.org>\r\n"
		     "RCPT TO:<bob@example.net>\r\nDATA\r\n");
	reply(s, "250 ok");
	reply(s, "550 5.1.1 <bob@x>: user unknown");
	reply(s, "354 go ahead");
	expect_write(s, ".\r\n");
	reply(s, "554 5.5.1 no valid recipients");
	finish(s);
	check_rcpt(s, 0, ST_PERMFAIL,
		   PEER " at RCPT: 550 5.1.1 <bob@x>: user unknown");
	smtp_free(s);
}

static void test_data_refused(void **state)
{
	struct smtp_params p = params(three_rcpts, 2);
	struct smtp_session *s;

	(void)state;
	s = smtp_new(&p);
	hello(s, "250-mx\n250 PIPELINING");
	expect_write(s, "MAIL FROM:<alice@example.org>\r\n"
		     "RCPT TO:<a@example.net>\r\nRCPT TO:<b@example.net>\r\n"
		     "DATA\r\n");
	reply(s, "250 ok");
	reply(s, "450 busy");
	reply(s, "250 ok");
	reply(s, "554 5.3.0 no thanks");
	finish(s);
	check_rcpt(s, 0, ST_TEMPFAIL, PEER " at RCPT: 450 busy");
	check_rcpt(s, 1, ST_PERMFAIL, PEER " at DATA: 554 5.3.0 no thanks");
	smtp_free(s);
}

static void run_to_dot(struct smtp_session *s)
{
	hello(s, "250-mx\n250 PIPELINING");
	expect_write(s, "MAIL FROM:<alice@example.org>\r\n"
		     "RCPT TO:<a@example.net>\r\nRCPT TO:<b@example.net>\r\n"
		     "DATA\r\n");
	reply(s, "250 ok");
	reply(s, "250 ok");
	reply(s, "550 5.1.1 unknown");
	reply(s, "354 go ahead");
	want(s, SMTP_WANT_BODY);
	smtp_body_done(s);
}

static void test_final_dot_failures(void **state)
{
	struct smtp_params p = params(three_rcpts, 2);
	struct smtp_session *s;

	(void)state;
	s = smtp_new(&p);
	run_to_dot(s);
	reply(s, "451 4.3.0 local error in processing");
	finish(s);
	check_rcpt(s, 0, ST_TEMPFAIL,
		   PEER " at end of DATA: 451 4.3.0 local error in processing");
	check_rcpt(s, 1, ST_PERMFAIL, PEER " at RCPT: 550 5.1.1 unknown");
	smtp_free(s);

	s = smtp_new(&p);
	run_to_dot(s);
	reply(s, "554 5.7.1 spam");
	finish(s);
	check_rcpt(s, 0, ST_PERMFAIL, PEER " at end of DATA: 554 5.7.1 spam");
	smtp_free(s);
}

static void test_io_error(void **state)
{
	struct smtp_params p = params(three_rcpts, 3);
	struct smtp_session *s;

	(void)state;
	s = smtp_new(&p);
	hello(s, "250-mx\n250 PIPELINING");
	want(s, SMTP_WANT_WRITE);
	reply(s, "250 ok");
	reply(s, "550 no");
	smtp_on_io_error(s, "connection reset by peer");
	want(s, SMTP_WANT_CLOSE);
	assert_true(smtp_finished(s));
	check_rcpt(s, 0, ST_PERMFAIL, PEER " at RCPT: 550 no");
	check_rcpt(s, 1, ST_TEMPFAIL, PEER " at RCPT: connection reset by peer");
	check_rcpt(s, 2, ST_TEMPFAIL, PEER " at RCPT: connection reset by peer");
	smtp_free(s);

	/* A timeout after the body: the outcome is unknown, so TEMPFAIL. */
	p.nrcpts = 2;
	s = smtp_new(&p);
	run_to_dot(s);
	smtp_on_io_error(s, "timed out");
	want(s, SMTP_WANT_CLOSE);
	check_rcpt(s, 0, ST_TEMPFAIL, PEER " at end of DATA: timed out");
	smtp_free(s);

	/* Losing the connection during QUIT changes nothing. */
	s = smtp_new(&p);
	run_to_dot(s);
	reply(s, "250 2.0.0 queued");
	expect_write(s, QUIT);
	smtp_on_io_error(s, "connection closed");
	want(s, SMTP_WANT_CLOSE);
	check_rcpt(s, 0, ST_OK, "250 2.0.0 queued");
	smtp_free(s);
}

/* RFC 5321 3.8: after a 421 the server closes; no QUIT. */
static void test_greeting_failures(void **state)
{
	struct smtp_params p = params(three_rcpts, 2);
	struct smtp_session *s;

	(void)state;
	s = smtp_new(&p);
	reply(s, "421 4.3.2 mx.example.org too busy");
	want(s, SMTP_WANT_CLOSE);
	check_rcpt(s, 0, ST_TEMPFAIL,
		   PEER " at greeting: 421 4.3.2 mx.example.org too busy");
	check_rcpt(s, 1, ST_TEMPFAIL,
		   PEER " at greeting: 421 4.3.2 mx.example.org too busy");
	smtp_free(s);

	/* RFC 5321 3.1: a 554 greeting still gets a QUIT. */
	s = smtp_new(&p);
	reply(s, "554 no service for you");
	finish(s);
	/* A refusal of the connection says nothing about the message:
	 * temporary, so the next MX host (or a later try) gets it. */
	check_rcpt(s, 1, ST_TEMPFAIL, PEER " at greeting: 554 no service for you");
	smtp_free(s);

	/* 421 in the middle of a pipelined transaction. */
	s = smtp_new(&p);
	hello(s, "250-mx\n250 PIPELINING");
	want(s, SMTP_WANT_WRITE);
	reply(s, "250 ok");
	reply(s, "421 4.4.2 timeout, closing");
	want(s, SMTP_WANT_CLOSE);
	check_rcpt(s, 0, ST_TEMPFAIL, PEER " at RCPT: 421 4.4.2 timeout, closing");
	check_rcpt(s, 1, ST_TEMPFAIL, PEER " at RCPT: 421 4.4.2 timeout, closing");
	smtp_free(s);
}

/* ---- transaction batching (max_rcpt_per_txn, 452) --------------------------- */

static const char *const five_rcpts[] = {
	"r1@example.net", "r2@example.net", "r3@example.net",
	"r4@example.net", "r5@example.net"
};

#define MAIL "MAIL FROM:<alice@example.org>\r\n"
#define RCPT(n) "RCPT TO:<r" #n "@example.net>\r\n"
#define DATA "DATA\r\n"
#define TOO_MANY "452 4.5.3 Too many recipients"

/* The body phase and the reply to the final ".". */
static void body_and_dot(struct smtp_session *s, const char *dot_reply)
{
	reply(s, "354 go ahead");
	want(s, SMTP_WANT_BODY);
	smtp_body_done(s);
	reply(s, dot_reply);
}

/* One pipelined transaction in which MAIL and every RCPT are accepted. */
static void pipelined_txn(struct smtp_session *s, const char *group,
			  size_t nrcpt, const char *dot_reply)
{
	size_t i;

	expect_write(s, group);
	reply(s, "250 2.1.0 Ok");
	for (i = 0; i < nrcpt; i++)
		reply(s, "250 2.1.5 Ok");
	body_and_dot(s, dot_reply);
}

/* RFC 5321 4.5.3.1.10: 5 recipients, 2 per transaction: three
 * transactions on one connection, then a single QUIT. */
static void test_batch_pipelined(void **state)
{
	struct smtp_params p = params(five_rcpts, 5);
	struct smtp_session *s;
	size_t i;

	(void)state;
	p.max_rcpt_per_txn = 2;
	s = smtp_new(&p);
	hello(s, "250-mx\n250 PIPELINING");
	pipelined_txn(s, MAIL RCPT(1) RCPT(2) DATA, 2, "250 2.0.0 queued as A");
	assert_false(smtp_finished(s));
	pipelined_txn(s, MAIL RCPT(3) RCPT(4) DATA, 2, "250 2.0.0 queued as B");
	assert_false(smtp_finished(s));
	pipelined_txn(s, MAIL RCPT(5) DATA, 1, "250 2.0.0 queued as C");
	assert_true(smtp_finished(s));
	finish(s);
	check_rcpt(s, 0, ST_OK, "250 2.0.0 queued as A");
	check_rcpt(s, 1, ST_OK, "250 2.0.0 queued as A");
	check_rcpt(s, 2, ST_OK, "250 2.0.0 queued as B");
	check_rcpt(s, 3, ST_OK, "250 2.0.0 queued as B");
	check_rcpt(s, 4, ST_OK, "250 2.0.0 queued as C");
	for (i = 0; i < 5; i++)
		assert_int_equal(smtp_rcpt_status(s, i), ST_OK);
	smtp_free(s);

	/* A limit at or above the number of recipients: one transaction. */
	p.max_rcpt_per_txn = 5;
	s = smtp_new(&p);
	hello(s, "250-mx\n250 PIPELINING");
	pipelined_txn(s, MAIL RCPT(1) RCPT(2) RCPT(3) RCPT(4) RCPT(5) DATA, 5,
		      "250 ok");
	finish(s);
	check_rcpt(s, 4, ST_OK, "250 ok");
	smtp_free(s);
}

/* One non-pipelined transaction: each command waits for its reply. */
static void plain_txn(struct smtp_session *s, const char *const *rcpt_cmds,
		      const char *dot_reply)
{
	expect_write(s, MAIL);
	reply(s, "250 2.1.0 Ok");
	for (; *rcpt_cmds; rcpt_cmds++) {
		expect_write(s, *rcpt_cmds);
		reply(s, "250 2.1.5 Ok");
	}
	expect_write(s, DATA);
	body_and_dot(s, dot_reply);
}

static void test_batch_no_pipelining(void **state)
{
	static const char *const b1[] = { RCPT(1), RCPT(2), NULL };
	static const char *const b2[] = { RCPT(3), RCPT(4), NULL };
	static const char *const b3[] = { RCPT(5), NULL };
	struct smtp_params p = params(five_rcpts, 5);
	struct smtp_session *s;

	(void)state;
	p.max_rcpt_per_txn = 2;
	s = smtp_new(&p);
	hello(s, "250 mx");
	plain_txn(s, b1, "250 queued as A");
	plain_txn(s, b2, "250 queued as B");
	plain_txn(s, b3, "250 queued as C");
	finish(s);
	check_rcpt(s, 1, ST_OK, "250 queued as A");
	check_rcpt(s, 2, ST_OK, "250 queued as B");
	check_rcpt(s, 4, ST_OK, "250 queued as C");
	smtp_free(s);
}

/* A 452 to the 4th RCPT (and so to the 5th): the next transaction
 * carries recipients 4 and 5. */
static void test_452_defers_pipelined(void **state)
{
	struct smtp_params p = params(five_rcpts, 5);
	struct smtp_session *s;

	(void)state;
	s = smtp_new(&p);
	hello(s, "250-mx\n250 PIPELINING");
	expect_write(s, MAIL RCPT(1) RCPT(2) RCPT(3) RCPT(4) RCPT(5) DATA);
	reply(s, "250 ok");
	reply(s, "250 ok");
	reply(s, "250 ok");
	reply(s, "250 ok");
	reply(s, TOO_MANY);
	reply(s, TOO_MANY);
	body_and_dot(s, "250 queued as A");
	/* Deferred, not failed: no result yet for 4 and 5. */
	assert_false(smtp_finished(s));
	check_rcpt(s, 2, ST_OK, "250 queued as A");
	pipelined_txn(s, MAIL RCPT(4) RCPT(5) DATA, 2, "250 queued as B");
	finish(s);
	check_rcpt(s, 0, ST_OK, "250 queued as A");
	check_rcpt(s, 3, ST_OK, "250 queued as B");
	check_rcpt(s, 4, ST_OK, "250 queued as B");
	smtp_free(s);
}

static void test_452_defers_no_pipelining(void **state)
{
	static const char *const b2[] = { RCPT(4), RCPT(5), NULL };
	struct smtp_params p = params(five_rcpts, 5);
	struct smtp_session *s;

	(void)state;
	s = smtp_new(&p);
	hello(s, "250 mx");
	expect_write(s, MAIL);
	reply(s, "250 ok");
	expect_write(s, RCPT(1));
	reply(s, "250 ok");
	expect_write(s, RCPT(2));
	reply(s, "250 ok");
	expect_write(s, RCPT(3));
	reply(s, "250 ok");
	expect_write(s, RCPT(4));
	reply(s, TOO_MANY);
	expect_write(s, RCPT(5));
	reply(s, TOO_MANY);
	expect_write(s, DATA);
	body_and_dot(s, "250 queued as A");
	plain_txn(s, b2, "250 queued as B");
	finish(s);
	check_rcpt(s, 2, ST_OK, "250 queued as A");
	check_rcpt(s, 3, ST_OK, "250 queued as B");
	check_rcpt(s, 4, ST_OK, "250 queued as B");
	smtp_free(s);
}

/* Deferred recipients go first in the next transaction, before the
 * untried ones; the limit still holds. */
static void test_452_with_limit(void **state)
{
	struct smtp_params p = params(five_rcpts, 5);
	struct smtp_session *s;

	(void)state;
	p.max_rcpt_per_txn = 3;
	s = smtp_new(&p);
	hello(s, "250-mx\n250 PIPELINING");
	expect_write(s, MAIL RCPT(1) RCPT(2) RCPT(3) DATA);
	reply(s, "250 ok");
	reply(s, "250 ok");
	reply(s, TOO_MANY);
	reply(s, TOO_MANY);
	body_and_dot(s, "250 queued as A");
	pipelined_txn(s, MAIL RCPT(2) RCPT(3) RCPT(4) DATA, 3,
		      "250 queued as B");
	pipelined_txn(s, MAIL RCPT(5) DATA, 1, "250 queued as C");
	finish(s);
	check_rcpt(s, 0, ST_OK, "250 queued as A");
	check_rcpt(s, 1, ST_OK, "250 queued as B");
	check_rcpt(s, 3, ST_OK, "250 queued as B");
	check_rcpt(s, 4, ST_OK, "250 queued as C");
	smtp_free(s);
}

/* A server that answers 452 to every RCPT: no endless retry; each
 * deferred recipient ends TEMPFAIL with the 452 text. Without
 * pipelining DATA is never sent. */
static void test_all_452_no_pipelining(void **state)
{
	struct smtp_params p = params(three_rcpts, 2);
	struct smtp_session *s;

	(void)state;
	s = smtp_new(&p);
	hello(s, "250 mx");
	expect_write(s, MAIL);
	reply(s, "250 ok");
	expect_write(s, "RCPT TO:<a@example.net>\r\n");
	reply(s, TOO_MANY);
	expect_write(s, "RCPT TO:<b@example.net>\r\n");
	reply(s, TOO_MANY);
	assert_true(smtp_finished(s));
	finish(s);
	check_rcpt(s, 0, ST_TEMPFAIL, PEER " at RCPT: " TOO_MANY);
	check_rcpt(s, 1, ST_TEMPFAIL, PEER " at RCPT: " TOO_MANY);
	smtp_free(s);
}

/* Pipelined, and the server answers the DATA of an all-452 transaction
 * with 354 anyway: a lone "." ends it, then TEMPFAIL and QUIT. */
static void test_all_452_pipelined_354(void **state)
{
	struct smtp_params p = params(three_rcpts, 2);
	struct smtp_session *s;

	(void)state;
	s = smtp_new(&p);
	hello(s, "250-mx\n250 PIPELINING");
	expect_write(s, MAIL "RCPT TO:<a@example.net>\r\n"
		     "RCPT TO:<b@example.net>\r\n" DATA);
	reply(s, "250 ok");
	reply(s, TOO_MANY);
	reply(s, TOO_MANY);
	reply(s, "354 go ahead");
	expect_write(s, ".\r\n");
	reply(s, "554 5.5.1 no valid recipients");
	assert_true(smtp_finished(s));
	finish(s);
	check_rcpt(s, 0, ST_TEMPFAIL, PEER " at RCPT: " TOO_MANY);
	check_rcpt(s, 1, ST_TEMPFAIL, PEER " at RCPT: " TOO_MANY);
	smtp_free(s);
}

/*
 * Regression (found by this test, fixed): pipelined, every
 * RCPT answered 452 and DATA refused as a real server does ("554 5.5.1
 * Error: no valid recipients", Postfix; Exim says 503). Expected: both
 * TEMPFAIL with the 452 text. Got: both PERMFAIL with "... at DATA: 554
 * 5.5.1 Error: no valid recipients": on_data() (smtp_txn.c) fails every
 * open recipient with the DATA reply even when none was accepted.
 */
static void test_all_452_pipelined_data_refused(void **state)
{
	struct smtp_params p = params(three_rcpts, 2);
	struct smtp_session *s;

	(void)state;
	s = smtp_new(&p);
	hello(s, "250-mx\n250 PIPELINING");
	expect_write(s, MAIL "RCPT TO:<a@example.net>\r\n"
		     "RCPT TO:<b@example.net>\r\n" DATA);
	reply(s, "250 ok");
	reply(s, TOO_MANY);
	reply(s, TOO_MANY);
	reply(s, "554 5.5.1 Error: no valid recipients");
	assert_true(smtp_finished(s));
	finish(s);
	check_rcpt(s, 0, ST_TEMPFAIL, PEER " at RCPT: " TOO_MANY);
	check_rcpt(s, 1, ST_TEMPFAIL, PEER " at RCPT: " TOO_MANY);
	smtp_free(s);
}

/*
 * Regression (found by this test, fixed): the everyday
 * form of the bug above. One recipient, pipelined; its mailbox is full
 * ("452 4.2.2 Mailbox full", a 452 that has nothing to do with the
 * number of recipients) and a Postfix-like server refuses the DATA.
 * Expected: TEMPFAIL with the 452 text (retry later). Got: PERMFAIL
 * "... at DATA: 554 5.5.1 Error: no valid recipients", i.e. a bounce.
 */
static void test_452_single_rcpt_pipelined(void **state)
{
	struct smtp_params p = params(one_rcpt, 1);
	struct smtp_session *s;

	(void)state;
	s = smtp_new(&p);
	hello(s, "250-mx\n250 PIPELINING");
	expect_write(s, MAIL "RCPT TO:<bob@example.net>\r\n" DATA);
	reply(s, "250 ok");
	reply(s, "452 4.2.2 Mailbox full");
	reply(s, "554 5.5.1 Error: no valid recipients");
	finish(s);
	check_rcpt(s, 0, ST_TEMPFAIL, PEER " at RCPT: 452 4.2.2 Mailbox full");
	smtp_free(s);
}

/*
 * Regression (found by this test, fixed): pipelined, 4
 * recipients, 2 per transaction; the first batch is refused (550, 550)
 * and DATA answered "554 5.5.1 Error: no valid recipients". Expected: r1
 * and r2 PERMFAIL with their 550, then a second transaction for r3 and
 * r4 (after RSET: the MAIL of the first is still open). Got: r3 and r4,
 * never tried, PERMFAIL "... at DATA: 554 5.5.1 Error: no valid
 * recipients", and QUIT.
 */
static void test_batch_refused_then_next(void **state)
{
	struct smtp_params p = params(five_rcpts, 4);
	struct smtp_session *s;

	(void)state;
	p.max_rcpt_per_txn = 2;
	s = smtp_new(&p);
	hello(s, "250-mx\n250 PIPELINING");
	expect_write(s, MAIL RCPT(1) RCPT(2) DATA);
	reply(s, "250 ok");
	reply(s, "550 5.1.1 unknown");
	reply(s, "550 5.1.1 unknown");
	reply(s, "554 5.5.1 Error: no valid recipients");
	assert_false(smtp_finished(s));
	check_rcpt(s, 0, ST_PERMFAIL, PEER " at RCPT: 550 5.1.1 unknown");
	check_rcpt(s, 1, ST_PERMFAIL, PEER " at RCPT: 550 5.1.1 unknown");
	expect_write(s, "RSET\r\n" MAIL RCPT(3) RCPT(4) DATA);
	smtp_free(s);
}

/*
 * Regression (found by this test, fixed): without
 * pipelining, 2 recipients, 1 per transaction; the first RCPT gets 550.
 * The server's transaction is still open (MAIL was accepted), so a new
 * MAIL is out of order (RFC 5321 4.1.4: 503, Postfix "503 5.5.1 Error:
 * nested MAIL command"). Expected: "RSET\r\n" (and its 250) before the
 * next MAIL. Got: "MAIL FROM:<alice@example.org>\r\n" at once.
 */
static void test_no_rset_before_next_mail(void **state)
{
	struct smtp_params p = params(five_rcpts, 2);
	struct smtp_session *s;

	(void)state;
	p.max_rcpt_per_txn = 1;
	s = smtp_new(&p);
	hello(s, "250 mx");
	expect_write(s, MAIL);
	reply(s, "250 ok");
	expect_write(s, RCPT(1));
	reply(s, "550 5.1.1 unknown");
	expect_write(s, "RSET\r\n");
	reply(s, "250 2.0.0 Ok");
	expect_write(s, MAIL);
	smtp_free(s);
}

/* Pipelined: the first batch is refused and the server answers DATA
 * with 354 anyway; the lone "." ends that transaction, and the next
 * batch follows. */
static void test_batch_refused_354_then_next(void **state)
{
	struct smtp_params p = params(five_rcpts, 4);
	struct smtp_session *s;

	(void)state;
	p.max_rcpt_per_txn = 2;
	s = smtp_new(&p);
	hello(s, "250-mx\n250 PIPELINING");
	expect_write(s, MAIL RCPT(1) RCPT(2) DATA);
	reply(s, "250 ok");
	reply(s, "550 5.1.1 unknown");
	reply(s, "550 5.1.1 unknown");
	reply(s, "354 go ahead");
	expect_write(s, ".\r\n");
	reply(s, "554 5.5.1 no valid recipients");
	pipelined_txn(s, MAIL RCPT(3) RCPT(4) DATA, 2, "250 queued as B");
	finish(s);
	check_rcpt(s, 0, ST_PERMFAIL, PEER " at RCPT: 550 5.1.1 unknown");
	check_rcpt(s, 1, ST_PERMFAIL, PEER " at RCPT: 550 5.1.1 unknown");
	check_rcpt(s, 2, ST_OK, "250 queued as B");
	check_rcpt(s, 3, ST_OK, "250 queued as B");
	smtp_free(s);
}

/* A 550 is final: the next transaction (for a 452) does not retry it. */
static void test_550_not_retried(void **state)
{
	struct smtp_params p = params(three_rcpts, 3);
	struct smtp_session *s;

	(void)state;
	s = smtp_new(&p);
	hello(s, "250-mx\n250 PIPELINING");
	expect_write(s, MAIL "RCPT TO:<a@example.net>\r\n"
		     "RCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\n"
		     DATA);
	reply(s, "250 ok");
	reply(s, "550 5.1.1 <a@example.net>: unknown");
	reply(s, TOO_MANY);
	reply(s, "250 ok");
	body_and_dot(s, "250 queued as A");
	check_rcpt(s, 0, ST_PERMFAIL,
		   PEER " at RCPT: 550 5.1.1 <a@example.net>: unknown");
	pipelined_txn(s, MAIL "RCPT TO:<b@example.net>\r\n" DATA, 1,
		      "250 queued as B");
	finish(s);
	check_rcpt(s, 0, ST_PERMFAIL,
		   PEER " at RCPT: 550 5.1.1 <a@example.net>: unknown");
	check_rcpt(s, 1, ST_OK, "250 queued as B");
	check_rcpt(s, 2, ST_OK, "250 queued as A");
	smtp_free(s);
}

/* A 452 again in the second transaction after progress: a third one. A
 * transaction that settles nobody ends the deferred ones. */
static void test_452_repeated(void **state)
{
	struct smtp_params p = params(five_rcpts, 3);
	struct smtp_session *s;

	(void)state;
	s = smtp_new(&p);
	hello(s, "250-mx\n250 PIPELINING");
	expect_write(s, MAIL RCPT(1) RCPT(2) RCPT(3) DATA);
	reply(s, "250 ok");
	reply(s, "250 ok");
	reply(s, TOO_MANY);
	reply(s, TOO_MANY);
	body_and_dot(s, "250 queued as A");
	expect_write(s, MAIL RCPT(2) RCPT(3) DATA);
	reply(s, "250 ok");
	reply(s, "250 ok");
	reply(s, "452 4.5.3 still too many");
	body_and_dot(s, "250 queued as B");
	expect_write(s, MAIL RCPT(3) DATA);
	reply(s, "250 ok");
	reply(s, "452 4.5.3 no more today");
	reply(s, "354 go ahead");
	expect_write(s, ".\r\n");
	reply(s, "554 5.5.1 no valid recipients");
	finish(s);
	check_rcpt(s, 0, ST_OK, "250 queued as A");
	check_rcpt(s, 1, ST_OK, "250 queued as B");
	check_rcpt(s, 2, ST_TEMPFAIL, PEER " at RCPT: 452 4.5.3 no more today");
	smtp_free(s);
}

/* MAIL refused in the second transaction: the rest of the recipients
 * fail with that reply; the first transaction's stay delivered. */
static void test_mail_refused_second_txn(void **state)
{
	struct smtp_params p = params(five_rcpts, 4);
	struct smtp_session *s;

	(void)state;
	p.max_rcpt_per_txn = 2;
	s = smtp_new(&p);
	hello(s, "250-mx\n250 PIPELINING");
	pipelined_txn(s, MAIL RCPT(1) RCPT(2) DATA, 2, "250 queued as A");
	expect_write(s, MAIL RCPT(3) RCPT(4) DATA);
	reply(s, "451 4.3.2 System not accepting network messages");
	reply(s, "503 5.5.1 need MAIL");
	reply(s, "503 5.5.1 need MAIL");
	reply(s, "503 5.5.1 need MAIL");
	assert_true(smtp_finished(s));
	finish(s);
	check_rcpt(s, 0, ST_OK, "250 queued as A");
	check_rcpt(s, 1, ST_OK, "250 queued as A");
	check_rcpt(s, 2, ST_TEMPFAIL, PEER " at MAIL: 451 4.3.2 System not "
		   "accepting network messages");
	check_rcpt(s, 3, ST_TEMPFAIL, PEER " at MAIL: 451 4.3.2 System not "
		   "accepting network messages");
	smtp_free(s);

	/* Without pipelining, and a permanent refusal that also ends the
	 * recipients never named in a RCPT. */
	p = params(five_rcpts, 5);
	p.max_rcpt_per_txn = 2;
	s = smtp_new(&p);
	hello(s, "250 mx");
	{
		static const char *const b1[] = { RCPT(1), RCPT(2), NULL };

		plain_txn(s, b1, "250 queued as A");
	}
	expect_write(s, MAIL);
	reply(s, "550 5.7.1 sender rate limited");
	finish(s);
	check_rcpt(s, 1, ST_OK, "250 queued as A");
	check_rcpt(s, 2, ST_PERMFAIL, PEER " at MAIL: 550 5.7.1 sender rate limited");
	check_rcpt(s, 4, ST_PERMFAIL, PEER " at MAIL: 550 5.7.1 sender rate limited");
	smtp_free(s);
}

/* A 421 to the second MAIL: close at once, no QUIT. */
static void test_421_second_txn(void **state)
{
	struct smtp_params p = params(five_rcpts, 3);
	struct smtp_session *s;

	(void)state;
	p.max_rcpt_per_txn = 2;
	s = smtp_new(&p);
	hello(s, "250-mx\n250 PIPELINING");
	pipelined_txn(s, MAIL RCPT(1) RCPT(2) DATA, 2, "250 queued as A");
	expect_write(s, MAIL RCPT(3) DATA);
	reply(s, "421 4.4.2 closing");
	want(s, SMTP_WANT_CLOSE);
	check_rcpt(s, 0, ST_OK, "250 queued as A");
	check_rcpt(s, 2, ST_TEMPFAIL, PEER " at MAIL: 421 4.4.2 closing");
	smtp_free(s);
}

/* ---- opportunistic TLS ------------------------------------------------------- */

static void test_opportunistic_offered(void **state)
{
	struct smtp_params p = params(one_rcpt, 1);
	struct smtp_session *s;

	(void)state;
	p.tls = TLS_OPPORTUNISTIC;
	s = smtp_new(&p);
	assert_false(smtp_tls_active(s));
	hello(s, "250-mx\n250-PIPELINING\n250 STARTTLS");
	expect_write(s, "STARTTLS\r\n");
	reply(s, "220 2.0.0 Ready to start TLS");
	want(s, SMTP_WANT_TLS);
	smtp_on_tls(s, true, NULL);
	assert_true(smtp_tls_active(s));
	expect_write(s, EHLO);
	reply(s, "250-mx\n250 PIPELINING");
	pipelined_txn(s, MAIL "RCPT TO:<bob@example.net>\r\n" DATA, 1,
		      "250 queued");
	finish(s);
	check_rcpt(s, 0, ST_OK, "250 queued");
	assert_true(smtp_tls_active(s));
	smtp_free(s);

	/* A failed handshake: TEMPFAIL and close (the driver may retry the
	 * address in plain text). */
	s = smtp_new(&p);
	hello(s, "250-mx\n250 STARTTLS");
	expect_write(s, "STARTTLS\r\n");
	reply(s, "220 go");
	smtp_on_tls(s, false, "handshake failure");
	want(s, SMTP_WANT_CLOSE);
	check_rcpt(s, 0, ST_TEMPFAIL, PEER " at TLS: handshake failure");
	smtp_free(s);
}

static void test_opportunistic_not_offered(void **state)
{
	struct smtp_params p = params(one_rcpt, 1);
	struct smtp_session *s;

	(void)state;
	p.tls = TLS_OPPORTUNISTIC;
	s = smtp_new(&p);
	hello(s, "250-mx\n250 PIPELINING");
	pipelined_txn(s, MAIL "RCPT TO:<bob@example.net>\r\n" DATA, 1,
		      "250 queued");
	finish(s);
	check_rcpt(s, 0, ST_OK, "250 queued");
	assert_false(smtp_tls_active(s));
	smtp_free(s);
}

/* A refused STARTTLS leaves a usable plain session; the plain EHLO's
 * extensions still hold. A 421 still ends it. */
static void test_opportunistic_refused(void **state)
{
	struct smtp_params p = params(one_rcpt, 1);
	struct smtp_session *s;

	(void)state;
	p.tls = TLS_OPPORTUNISTIC;
	s = smtp_new(&p);
	hello(s, "250-mx\n250-PIPELINING\n250 STARTTLS");
	expect_write(s, "STARTTLS\r\n");
	reply(s, "454 4.7.0 TLS not available due to local problem");
	pipelined_txn(s, MAIL "RCPT TO:<bob@example.net>\r\n" DATA, 1,
		      "250 queued");
	finish(s);
	check_rcpt(s, 0, ST_OK, "250 queued");
	assert_false(smtp_tls_active(s));
	smtp_free(s);

	s = smtp_new(&p);
	hello(s, "250-mx\n250 STARTTLS");
	expect_write(s, "STARTTLS\r\n");
	reply(s, "421 4.3.2 shutting down");
	want(s, SMTP_WANT_CLOSE);
	check_rcpt(s, 0, ST_TEMPFAIL, PEER " at STARTTLS: 421 4.3.2 shutting down");
	smtp_free(s);
}

/* ---- validation ----------------------------------------------------------- */

static void test_control_chars_refused(void **state)
{
	static const char *const rcpts[] = {
		"good@example.net", "bad@example.net>\r\nRSET", "x\ty@example.net"
	};
	struct smtp_params p = params(rcpts, 3);
	struct smtp_session *s;

	(void)state;
	s = smtp_new(&p);
	/* Bad recipients are final before a byte is sent. */
	check_rcpt(s, 1, ST_PERMFAIL, PEER " at RCPT: invalid recipient address");
	check_rcpt(s, 2, ST_PERMFAIL, PEER " at RCPT: invalid recipient address");
	hello(s, "250-mx\n250 PIPELINING");
	expect_write(s, "MAIL FROM:<alice@example.org>\r\n"
		     "RCPT TO:<good@example.net>\r\nDATA\r\n");
	reply(s, "250 ok");
	reply(s, "250 ok");
	reply(s, "354 go");
	want(s, SMTP_WANT_BODY);
	smtp_body_done(s);
	reply(s, "250 done");
	finish(s);
	check_rcpt(s, 0, ST_OK, "250 done");
	check_rcpt(s, 1, ST_PERMFAIL, PEER " at RCPT: invalid recipient address");
	smtp_free(s);

	/* Nothing valid to send: close without a word. */
	p.rcpts = rcpts + 1;
	p.nrcpts = 2;
	s = smtp_new(&p);
	assert_true(smtp_finished(s));
	want(s, SMTP_WANT_CLOSE);
	smtp_free(s);

	p = params(one_rcpt, 1);
	p.sender = "alice@example.org\nDATA";
	s = smtp_new(&p);
	want(s, SMTP_WANT_CLOSE);
	check_rcpt(s, 0, ST_PERMFAIL,
		   PEER " at MAIL: control characters in the sender address");
	smtp_free(s);

	p = params(one_rcpt, 1);
	p.helo_name = "client\r\nMAIL FROM:<x>";
	s = smtp_new(&p);
	want(s, SMTP_WANT_CLOSE);
	check_rcpt(s, 0, ST_PERMFAIL, PEER " at EHLO: invalid EHLO name");
	smtp_free(s);
}

/* ---- odds and ends ---------------------------------------------------------- */

static void test_timeouts(void **state)
{
	struct smtp_params p = params(one_rcpt, 1);
	struct smtp_session *s;

	(void)state;
	p.timeout_s = 30;
	s = smtp_new(&p);
	assert_int_equal(smtp_reply_timeout_ms(s), 30000);
	hello(s, "250 mx");
	expect_write(s, "MAIL FROM:<alice@example.org>\r\n");
	assert_int_equal(smtp_reply_timeout_ms(s), 30000);
	smtp_free(s);

	p.timeout_s = 0;
	s = smtp_new(&p);
	hello(s, "250 mx");
	expect_write(s, "MAIL FROM:<alice@example.org>\r\n");
	assert_int_equal(smtp_reply_timeout_ms(s), 5 * 60 * 1000);
	reply(s, "250 ok");
	expect_write(s, "RCPT TO:<bob@example.net>\r\n");
	assert_int_equal(smtp_reply_timeout_ms(s), 5 * 60 * 1000);
	reply(s, "250 ok");
	expect_write(s, "DATA\r\n");
	assert_int_equal(smtp_reply_timeout_ms(s), 2 * 60 * 1000);
	reply(s, "354 go");
	smtp_body_done(s);
	assert_int_equal(smtp_reply_timeout_ms(s), 10 * 60 * 1000);
	reply(s, "250 ok");
	expect_write(s, QUIT);
	assert_int_equal(smtp_reply_timeout_ms(s), 5 * 60 * 1000);
	smtp_free(s);
}

static void test_stage_names(void **state)
{
	(void)state;
	assert_string_equal(smtp_stage_name(STAGE_CONNECT), "connect");
	assert_string_equal(smtp_stage_name(STAGE_TLS), "TLS");
	assert_string_equal(smtp_stage_name(STAGE_GREETING), "greeting");
	assert_string_equal(smtp_stage_name(STAGE_RCPT), "RCPT");
	assert_string_equal(smtp_stage_name(STAGE_DOT), "end of DATA");
	assert_string_equal(smtp_stage_name(STAGE_QUIT), "QUIT");
}

static void stuff(const char *in, size_t n, bool *bol, struct buf *out)
{
	smtp_dot_stuff(in, n, bol, out);
}

/* RFC 5321 4.5.2, with the input cut at every possible point. */
static void test_dot_stuff(void **state)
{
	static const char in[] = ".start\r\nmid.dle\r\n.\r\n..two\r\nend.";
	static const char want_out[] =
		"..start\r\nmid.dle\r\n..\r\n...two\r\nend.";
	size_t n = sizeof in - 1;
	size_t i, j;
	struct buf out;
	bool bol;

	(void)state;
	buf_init(&out);
	for (i = 0; i <= n; i++) {
		for (j = i; j <= n; j++) {
			buf_reset(&out);
			bol = true;
			stuff(in, i, &bol, &out);
			stuff(in + i, j - i, &bol, &out);
			stuff(in + j, n - j, &bol, &out);
			assert_int_equal(out.len, sizeof want_out - 1);
			assert_memory_equal(out.data, want_out, out.len);
			assert_false(bol);
		}
	}
	/* A chunk ending in LF: the next chunk's dot is at a line start. */
	buf_reset(&out);
	bol = true;
	stuff("a\r\n", 3, &bol, &out);
	assert_true(bol);
	stuff(".", 1, &bol, &out);
	assert_int_equal(out.len, 5);
	assert_memory_equal(out.data, "a\r\n..", 5);
	buf_free(&out);
}

/* ---- EHLO extensions (smtp_ext) ------------------------------------------ */

/* Parses a scripted EHLO reply (lines separated by '\n') into e. */
static void ext_of(struct smtp_ext *e, const char *text)
{
	struct smtp_reply r;
	const char *p = text;

	reply_init(&r);
	for (;;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		assert_int_equal(reply_feed_line(&r, p, len),
				 nl ? REPLY_MORE : REPLY_COMPLETE);
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	smtp_ext_clear(e);
	smtp_ext_parse(e, &r);
	reply_free(&r);
}

static void test_ext_parse(void **state)
{
	struct smtp_ext e;

	(void)state;
	smtp_ext_init(&e);
	assert_false(e.pipelining || e.eightbitmime || e.enhanced ||
		     e.starttls || e.size || e.auth);
	assert_int_equal(e.size_max, 0);
	assert_int_equal(e.auth_mechs.len, 0);

	/* Keywords in any case; old "AUTH=" lines add to the list;
	 * unknown keywords and look-alikes are ignored. */
	ext_of(&e, "250-mx.example.org hello\n250-pipelining\n"
		   "250-Size 10240000\n250-8BITMIME\n250-ENHANCEDSTATUSCODES\n"
		   "250-STARTTLS\n250-AUTH PLAIN LOGIN\n250-AUTH=CRAM-MD5\n"
		   "250-AUTHENTICATE X\n250-PIPELININGX\n250 X-UNKNOWN foo");
	assert_true(e.pipelining);
	assert_true(e.eightbitmime);
	assert_true(e.enhanced);
	assert_true(e.starttls);
	assert_true(e.size);
	assert_int_equal(e.size_max, 10240000);
	assert_true(e.auth);
	assert_string_equal(e.auth_mechs.data, "PLAIN LOGIN CRAM-MD5");

	/* clear forgets everything. */
	smtp_ext_clear(&e);
	assert_false(e.pipelining || e.eightbitmime || e.enhanced ||
		     e.starttls || e.size || e.auth);
	assert_int_equal(e.size_max, 0);
	assert_int_equal(e.auth_mechs.len, 0);

	/* The first line is the greeting, never an extension. */
	ext_of(&e, "250 PIPELINING STARTTLS");
	assert_false(e.pipelining || e.starttls);
	ext_of(&e, "250-mx.example.org\n250 AUTH");
	assert_true(e.auth);
	assert_int_equal(e.auth_mechs.len, 0);
	smtp_ext_free(&e);
}

/* RFC 1870 4: SIZE with no number or 0 declares no fixed limit; neither
 * does a number that is not one. */
static void test_ext_size(void **state)
{
	static const char *const no_limit[] = {
		"250-x\n250 SIZE", "250-x\n250 SIZE 0", "250-x\n250 SIZE abc",
		"250-x\n250 SIZE -5", "250-x\n250 SIZE 99999999999999999999",
		"250-x\n250 SIZE="
	};
	struct smtp_ext e;
	size_t i;

	(void)state;
	smtp_ext_init(&e);
	for (i = 0; i < sizeof no_limit / sizeof no_limit[0]; i++) {
		ext_of(&e, no_limit[i]);
		assert_true(e.size);
		assert_int_equal(e.size_max, 0);
	}
	ext_of(&e, "250-x\n250 SIZE 1");
	assert_int_equal(e.size_max, 1);
	ext_of(&e, "250-x\n250 SIZE=52428800");
	assert_int_equal(e.size_max, 52428800);
	smtp_ext_free(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelining_mixed_rcpts),
		cmocka_unit_test(test_no_pipelining),
		cmocka_unit_test(test_size_params),
		cmocka_unit_test(test_size_exceeded),
		cmocka_unit_test(test_helo_fallback),
		cmocka_unit_test(test_starttls),
		cmocka_unit_test(test_starttls_not_offered),
		cmocka_unit_test(test_starttls_failures),
		cmocka_unit_test(test_auth_plain),
		cmocka_unit_test(test_auth_login),
		cmocka_unit_test(test_auth_cram_md5),
		cmocka_unit_test(test_auth_restricted),
		cmocka_unit_test(test_auth_refusals),
		cmocka_unit_test(test_auth_echo_redacted),
		cmocka_unit_test(test_auth_secret_wiped_from_buffer),
		cmocka_unit_test(test_mail_refused),
		cmocka_unit_test(test_no_rcpt_accepted),
		cmocka_unit_test(test_data_refused),
		cmocka_unit_test(test_final_dot_failures),
		cmocka_unit_test(test_io_error),
		cmocka_unit_test(test_greeting_failures),
		cmocka_unit_test(test_batch_pipelined),
		cmocka_unit_test(test_batch_no_pipelining),
		cmocka_unit_test(test_452_defers_pipelined),
		cmocka_unit_test(test_452_defers_no_pipelining),
		cmocka_unit_test(test_452_with_limit),
		cmocka_unit_test(test_all_452_no_pipelining),
		cmocka_unit_test(test_all_452_pipelined_354),
		cmocka_unit_test(test_batch_refused_354_then_next),
		cmocka_unit_test(test_550_not_retried),
		cmocka_unit_test(test_452_repeated),
		cmocka_unit_test(test_mail_refused_second_txn),
		cmocka_unit_test(test_421_second_txn),
		cmocka_unit_test(test_opportunistic_offered),
		cmocka_unit_test(test_opportunistic_not_offered),
		cmocka_unit_test(test_opportunistic_refused),
		cmocka_unit_test(test_control_chars_refused),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_stage_names),
		cmocka_unit_test(test_dot_stuff),
		cmocka_unit_test(test_ext_parse),
		cmocka_unit_test(test_ext_size),
		cmocka_unit_test(test_all_452_pipelined_data_refused),
		cmocka_unit_test(test_452_single_rcpt_pipelined),
		cmocka_unit_test(test_batch_refused_then_next),
		cmocka_unit_test(test_no_rset_before_next_mail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
