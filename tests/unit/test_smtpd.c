/* test_smtpd.c - scripted -bs sessions against smtpd_run. */
#include "ac_config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "smtpd.h"
#include "util.h"

#define MAX_CALLS 4

/* What the delivery callback saw, and what it answers. */
struct recorder {
	int calls;
	char *sender[MAX_CALLS];
	char *rcpts[MAX_CALLS];    /* "a@x b@y" */
	char *spool[MAX_CALLS];    /* the spool file's contents */
	enum status answer[MAX_CALLS];
	const char *answer_text;
};

/* One session's outcome. */
struct session_result {
	enum status st;
	char *out;
	size_t outlen;
	char *lines[64];           /* reply lines, CRLF removed */
	size_t nlines;
};

static char *read_spool(int fd)
{
	struct buf b;
	char chunk[4096];
	ssize_t n;

	buf_init(&b);
	buf_appends(&b, "");
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		buf_append(&b, chunk, (size_t)n);
	return b.data;
}

static enum status record(void *ctx, struct message *msg, struct err *err)
{
	struct recorder *r = ctx;
	int k = r->calls++;
	struct buf rc;
	size_t i;

	assert_true(k < MAX_CALLS);
	r->sender[k] = xstrdup(msg->sender);
	buf_init(&rc);
	buf_appends(&rc, "");
	for (i = 0; i < msg->rcpts.n; i++)
		buf_appendf(&rc, "%s%s", i ? " " : "", msg->rcpts.items[i].mailbox);
	r->rcpts[k] = rc.data;
	r->spool[k] = read_spool(msg->spool_fd);
	if (r->answer[k] != ST_OK)
		err_set(err, "%s", r->answer_text);
	return r->answer[k];
}

static void recorder_free(struct recorder *r)
{
	int k;

	for (k = 0; k < r->calls; k++) {
		free(r->sender[k]);
		free(r->rcpts[k]);
		free(r->spool[k]);
	}
}

static void split_lines(struct session_result *res)
{
	char *p = res->out, *e;

	res->nlines = 0;
	while (p && *p && res->nlines < 64) {
		e = strstr(p, "\r\n");
		assert_non_null(e);  /* every reply line ends in CRLF */
		*e = '\0';
		res->lines[res->nlines++] = p;
		p = e + 2;
	}
}

static void run_session(const char *script, long max_size,
			struct recorder *r, struct session_result *res)
{
	struct smtpd_opts opts = {
		.hostname = "mx.test.example",
		.login = "tester",
		.spool_dir = "/tmp",
		.max_size = max_size,
	};
	FILE *in = fmemopen((void *)script, strlen(script), "r");
	FILE *out;

	memset(res, 0, sizeof *res);
	assert_non_null(in);
	out = open_memstream(&res->out, &res->outlen);
	assert_non_null(out);
	res->st = smtpd_run(in, out, &opts, record, r);
	fclose(out);
	fclose(in);
	split_lines(res);
}

static void result_free(struct session_result *res)
{
	free(res->out);
}

/* Asserts that the reply lines start with these prefixes, in order. */
static void expect_replies(const struct session_result *res, ...)
{
	const char *want;
	size_t i = 0;
	va_list ap;

	va_start(ap, res);
	while ((want = va_arg(ap, const char *)) != NULL) {
		if (i >= res->nlines)
			fail_msg("reply %zu missing, wanted '%s'", i, want);
		if (strncmp(res->lines[i], want, strlen(want)) != 0)
			fail_msg("reply %zu is '%s', wanted '%s'", i,
				 res->lines[i], want);
		i++;
	}
	va_end(ap);
	if (i != res->nlines)
		fail_msg("%zu extra replies, first '%s'", res->nlines - i,
			 res->lines[i]);
}

static void test_two_messages(void **state)
{
	struct recorder r = { 0 };
	struct session_result res;

	(void)state;
	run_session("EHLO client.example\r\n"
		    "MAIL FROM:<alice@example.org>\r\n"
		    "RCPT TO:<bob@example.org>\r\n"
		    "RCPT TO:<carol@example.net>\r\n"
		    "DATA\r\n"
		    "Subject: one\r\n"
		    "\r\n"
		    "first body\r\n"
		    ".\r\n"
		    "MAIL FROM:<>\r\n"
		    "RCPT TO:<dave@example.com>\r\n"
		    "DATA\r\n"
		    "Subject: two\r\n"
		    "\r\n"
		    "..leading dot\r\n"
		    "second body\r\n"
		    ".\r\n"
		    "QUIT\r\n", 0, &r, &res);
	assert_int_equal(res.st, ST_OK);
	expect_replies(&res, "220 mx.test.example ESMTP sendmx",
		       "250-mx.test.example", "250-PIPELINING", "250-8BITMIME",
		       "250-SIZE", "250 ENHANCEDSTATUSCODES",
		       "250 2.1.0", "250 2.1.5", "250 2.1.5", "354 ",
		       "250 2.0.0 Ok: <",
		       "250 2.1.0", "250 2.1.5", "354 ", "250 2.0.0 Ok: <",
		       "221 2.0.0", NULL);
	assert_int_equal(r.calls, 2);
	assert_string_equal(r.sender[0], "alice@example.org");
	assert_string_equal(r.rcpts[0], "bob@example.org carol@example.net");
	assert_non_null(strstr(r.spool[0], "Subject: one\r\n"));
	assert_non_null(strstr(r.spool[0], "\r\n\r\nfirst body\r\n"));
	assert_null(strstr(r.spool[0], "second body"));
	assert_string_equal(r.sender[1], "");
	assert_string_equal(r.rcpts[1], "dave@example.com");
	/* RFC 5321 4.5.2: the added dot is removed. */
	assert_non_null(strstr(r.spool[1], "\r\n.leading dot\r\nsecond body\r\n"));
	assert_null(strstr(r.spool[1], "..leading"));
	recorder_free(&r);
	result_free(&res);
}

static void test_message_id_in_reply(void **state)
{
	struct recorder r = { 0 };
	struct session_result res;

	(void)state;
	run_session("HELO c\r\nMAIL FROM:<a@example.org>\r\n"
		    "RCPT TO:<b@example.org>\r\nDATA\r\n"
		    "Message-ID: <abc.123@example.org>\r\n\r\nx\r\n.\r\n"
		    "QUIT\r\n", 0, &r, &res);
	assert_int_equal(res.st, ST_OK);
	expect_replies(&res, "220 ", "250 mx.test.example", "250 2.1.0",
		       "250 2.1.5", "354 ",
		       "250 2.0.0 Ok: <abc.123@example.org>", "221 ", NULL);
	recorder_free(&r);
	result_free(&res);
}

static void test_rset(void **state)
{
	struct recorder r = { 0 };
	struct session_result res;

	(void)state;
	run_session("EHLO c\r\n"
		    "MAIL FROM:<a@example.org>\r\n"
		    "RCPT TO:<b@example.org>\r\n"
		    "RSET\r\n"
		    "RCPT TO:<b@example.org>\r\n"
		    "DATA\r\n"
		    "RSET extra\r\n"
		    "MAIL FROM:<c@example.org>\r\n"
		    "RCPT TO:<d@example.org>\r\n"
		    "DATA\r\n"
		    "\r\nbody\r\n.\r\n"
		    "QUIT\r\n", 0, &r, &res);
	assert_int_equal(res.st, ST_OK);
	expect_replies(&res, "220 ", "250-", "250-", "250-", "250-", "250 ",
		       "250 2.1.0", "250 2.1.5", "250 2.0.0",
		       "503 5.5.1", "503 5.5.1", "501 5.5.4",
		       "250 2.1.0", "250 2.1.5", "354 ", "250 2.0.0 Ok",
		       "221 ", NULL);
	assert_int_equal(r.calls, 1);
	assert_string_equal(r.sender[0], "c@example.org");
	assert_string_equal(r.rcpts[0], "d@example.org");
	recorder_free(&r);
	result_free(&res);
}

static void test_bad_sequence(void **state)
{
	struct recorder r = { 0 };
	struct session_result res;

	(void)state;
	run_session("RCPT TO:<b@example.org>\r\n"
		    "DATA\r\n"
		    "MAIL FROM:<a@example.org>\r\n"
		    "MAIL FROM:<a@example.org>\r\n"
		    "DATA\r\n"
		    "QUIT\r\n", 0, &r, &res);
	assert_int_equal(res.st, ST_OK);
	expect_replies(&res, "220 ", "503 5.5.1 Error: need MAIL",
		       "503 5.5.1 Error: need MAIL", "250 2.1.0",
		       "503 5.5.1 Error: nested MAIL",
		       "503 5.5.1 Error: need RCPT", "221 ", NULL);
	assert_int_equal(r.calls, 0);
	result_free(&res);
}

static void test_callback_failures(void **state)
{
	struct recorder r = { 0 };
	struct session_result res;

	(void)state;
	r.answer[0] = ST_TEMPFAIL;
	r.answer[1] = ST_PERMFAIL;
	r.answer_text = "relay.example[192.0.2.1]:587 at RCPT: 450 try\r\nlater";
	run_session("EHLO c\r\n"
		    "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n"
		    "DATA\r\n\r\none\r\n.\r\n"
		    "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n"
		    "DATA\r\n\r\ntwo\r\n.\r\n"
		    "QUIT\r\n", 0, &r, &res);
	assert_int_equal(res.st, ST_OK);
	expect_replies(&res, "220 ", "250-", "250-", "250-", "250-", "250 ",
		       "250 2.1.0", "250 2.1.5", "354 ",
		       "451 4.3.0 relay.example[192.0.2.1]:587 at RCPT: 450 "
		       "try  later",
		       "250 2.1.0", "250 2.1.5", "354 ", "554 5.0.0 relay.",
		       "221 ", NULL);
	assert_int_equal(r.calls, 2);
	recorder_free(&r);
	result_free(&res);
}

static void test_pipelined_lf_only(void **state)
{
	struct recorder r = { 0 };
	struct session_result res;

	(void)state;
	/* Everything at once, bare LF line ends, lower case commands. */
	run_session("ehlo c\nmail from:<a@example.org> BODY=8BITMIME\n"
		    "rcpt to:<b@example.org>\nrcpt to:<bad address>\ndata\n"
		    "Subject: lf\n\nbody\n.\nnoop\nquit\n", 0, &r, &res);
	assert_int_equal(res.st, ST_OK);
	expect_replies(&res, "220 ", "250-", "250-", "250-", "250-", "250 ",
		       "250 2.1.0", "250 2.1.5", "501 5.1.3", "354 ",
		       "250 2.0.0 Ok", "250 2.0.0", "221 ", NULL);
	assert_int_equal(r.calls, 1);
	assert_string_equal(r.rcpts[0], "b@example.org");
	assert_non_null(strstr(r.spool[0], "Subject: lf\r\n"));
	assert_non_null(strstr(r.spool[0], "\r\n\r\nbody\r\n"));
	recorder_free(&r);
	result_free(&res);
}

static void test_eof_mid_session(void **state)
{
	struct recorder r = { 0 };
	struct session_result res;

	(void)state;
	run_session("EHLO c\r\nMAIL FROM:<a@example.org>\r\n", 0, &r, &res);
	assert_int_equal(res.st, ST_TEMPFAIL);
	expect_replies(&res, "220 ", "250-", "250-", "250-", "250-", "250 ",
		       "250 2.1.0", NULL);
	result_free(&res);

	/* The client vanishes in the middle of the message: not delivered. */
	run_session("EHLO c\r\nMAIL FROM:<a@example.org>\r\n"
		    "RCPT TO:<b@example.org>\r\nDATA\r\n\r\npartial\r\n",
		    0, &r, &res);
	assert_int_equal(res.st, ST_TEMPFAIL);
	assert_int_equal(r.calls, 0);
	assert_string_equal(res.lines[res.nlines - 1],
			    "354 End data with <CR><LF>.<CR><LF>");
	result_free(&res);

	/* A last command without its line end is not a command. */
	run_session("NOOP\r\nQUIT", 0, &r, &res);
	assert_int_equal(res.st, ST_TEMPFAIL);
	expect_replies(&res, "220 ", "250 2.0.0", NULL);
	result_free(&res);
}

static void test_long_line(void **state)
{
	struct recorder r = { 0 };
	struct session_result res;
	struct buf script;
	size_t k;

	(void)state;
	buf_init(&script);
	buf_appends(&script, "NOOP ");
	for (k = 0; k < 5000; k++)
		buf_appends(&script, "x");
	buf_appends(&script, "\r\nNOOP\r\nQUIT\r\n");
	run_session(script.data, 0, &r, &res);
	assert_int_equal(res.st, ST_OK);
	expect_replies(&res, "220 ", "500 5.5.6 Line too long", "250 2.0.0",
		       "221 ", NULL);
	buf_free(&script);
	result_free(&res);
}

static void test_other_commands(void **state)
{
	struct recorder r = { 0 };
	struct session_result res;

	(void)state;
	run_session("HELP\r\nVRFY root\r\nNOOP\r\nEXPN list\r\nFOO\r\n\r\n"
		    "EHLO\r\nHELO\r\nMAIL TO:<a@b>\r\nMAIL FROM:a@example.org\r\n"
		    "MAIL FROM:<a@example.org> SIZE=10\r\n"
		    "QuIt\r\n", 0, &r, &res);
	assert_int_equal(res.st, ST_OK);
	expect_replies(&res, "220 ", "214 ", "252 ", "250 2.0.0",
		       "502 5.5.1", "500 5.5.2", "500 5.5.2",
		       "501 5.5.4 Syntax: EHLO", "501 5.5.4 Syntax: HELO",
		       "501 5.5.4 Syntax: MAIL", "501 5.5.4 Syntax: MAIL",
		       "555 5.5.4", /* parameters need EHLO */
		       "221 2.0.0 mx.test.example", NULL);
	result_free(&res);
}

static void test_addresses(void **state)
{
	struct recorder r = { 0 };
	struct session_result res;

	(void)state;
	run_session("EHLO c\r\n"
		    "MAIL FROM:<a\001b@example.org>\r\n"
		    "MAIL FROM: <\"odd>name\"@example.org>\r\n"
		    "RCPT TO:<>\r\n"
		    "RCPT TO:<b@example.org> NOTIFY=NEVER\r\n"
		    "RCPT TO:b@example.org\r\n"
		    "RCPT TO:<b@example.org>\r\n"
		    "DATA\r\n\r\nx\r\n.\r\nQUIT\r\n", 0, &r, &res);
	assert_int_equal(res.st, ST_OK);
	expect_replies(&res, "220 ", "250-", "250-", "250-", "250-", "250 ",
		       "501 5.1.7", "250 2.1.0", "501 5.1.3", "555 5.5.4",
		       "501 5.5.4", "250 2.1.5", "354 ", "250 2.0.0", "221 ",
		       NULL);
	assert_int_equal(r.calls, 1);
	assert_string_equal(r.sender[0], "\"odd>name\"@example.org");
	recorder_free(&r);
	result_free(&res);
}

/* An address intake would refuse is refused at its own command: taken
 * there and refused after DATA, it would sink the whole message with
 * every good recipient in it. Bare names are qualified by intake. */
static void test_addresses_checked_early(void **state)
{
	struct recorder r = { 0 };
	struct session_result res;

	(void)state;
	run_session("EHLO c\r\n"
		    "MAIL FROM:<a@-bad-.example>\r\n"
		    "MAIL FROM:<root>\r\n"
		    "RCPT TO:<b@-bad-.example>\r\n"
		    "RCPT TO:<c@bad_domain.example>\r\n"
		    "RCPT TO:<c@example.org>\r\n"
		    "RCPT TO:<postmaster>\r\n"
		    "DATA\r\nSubject: s\r\n\r\nx\r\n.\r\nQUIT\r\n", 0, &r,
		    &res);
	assert_int_equal(res.st, ST_OK);
	expect_replies(&res, "220 ", "250-", "250-", "250-", "250-", "250 ",
		       "501 5.1.7", "250 2.1.0", "501 5.1.3", "501 5.1.3",
		       "250 2.1.5", "250 2.1.5", "354 ", "250 2.0.0", "221 ",
		       NULL);
	assert_int_equal(r.calls, 1);
	assert_string_equal(r.sender[0], "root@mx.test.example");
	assert_string_equal(r.rcpts[0],
			    "c@example.org postmaster@mx.test.example");
	assert_non_null(strstr(r.spool[0],
			       "\r\nFrom: root@mx.test.example\r\n"));
	recorder_free(&r);
	result_free(&res);
}

static void test_size_limit(void **state)
{
	struct recorder r = { 0 };
	struct session_result res;
	struct buf script;
	size_t k;

	(void)state;
	buf_init(&script);
	buf_appends(&script, "EHLO c\r\n"
		    "MAIL FROM:<a@example.org> SIZE=5000\r\n"
		    "MAIL FROM:<a@example.org> SIZE=x\r\n"
		    "MAIL FROM:<a@example.org> SIZE=100\r\n"
		    "RCPT TO:<b@example.org>\r\nDATA\r\n\r\n");
	/* Over the limit: intake gives up, the rest of the data must not
	 * be taken for commands. */
	for (k = 0; k < 100; k++)
		buf_appends(&script, "QUIT this line is data, not a command\r\n");
	buf_appends(&script, ".\r\nNOOP\r\nQUIT\r\n");
	run_session(script.data, 1000, &r, &res);
	assert_int_equal(res.st, ST_OK);
	expect_replies(&res, "220 ", "250-", "250-", "250-",
		       "250-SIZE 1000", "250 ",
		       "552 5.3.4", "501 5.5.4", "250 2.1.0", "250 2.1.5",
		       "354 ", "552 5.3.4 ", "250 2.0.0", "221 ", NULL);
	assert_int_equal(r.calls, 0);
	buf_free(&script);
	result_free(&res);
}

static void test_dot_rules(void **state)
{
	struct recorder r = { 0 };
	struct session_result res;

	(void)state;
	/* ". " and ".x" are data; a bare CR ends a line like CRLF does, so
	 * "\r.\r\n" ends the data: the stream and intake must agree. */
	run_session("EHLO c\r\nMAIL FROM:<a@example.org>\r\n"
		    "RCPT TO:<b@example.org>\r\nDATA\r\n\r\n"
		    ". \r\n.x\r\nlast\r.\r\n"
		    "NOOP\r\nQUIT\r\n", 0, &r, &res);
	assert_int_equal(res.st, ST_OK);
	expect_replies(&res, "220 ", "250-", "250-", "250-", "250-", "250 ",
		       "250 2.1.0", "250 2.1.5", "354 ", "250 2.0.0 Ok",
		       "250 2.0.0", "221 ", NULL);
	assert_int_equal(r.calls, 1);
	assert_non_null(strstr(r.spool[0], "\r\n\r\n \r\nx\r\nlast\r\n"));
	assert_null(strstr(r.spool[0], "NOOP"));
	recorder_free(&r);
	result_free(&res);
}

static void test_write_error(void **state)
{
	struct smtpd_opts opts = { .hostname = "mx", .login = "u",
				   .spool_dir = "/tmp" };
	struct recorder r = { 0 };
	const char *script = "NOOP\r\nNOOP\r\nQUIT\r\n";
	FILE *in = fmemopen((void *)script, strlen(script), "r");
	FILE *out = fopen("/dev/full", "w");

	(void)state;
	if (out == NULL)
		skip();
	assert_int_equal(smtpd_run(in, out, &opts, record, &r), ST_TEMPFAIL);
	fclose(out);
	fclose(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_messages),
		cmocka_unit_test(test_message_id_in_reply),
		cmocka_unit_test(test_rset),
		cmocka_unit_test(test_bad_sequence),
		cmocka_unit_test(test_callback_failures),
		cmocka_unit_test(test_pipelined_lf_only),
		cmocka_unit_test(test_eof_mid_session),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_other_commands),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_addresses_checked_early),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_dot_rules),
		cmocka_unit_test(test_write_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
