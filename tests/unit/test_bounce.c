/* test_bounce.c - DSN messages (RFC 3464 in RFC 6522 multipart/report):
 * structure, fields, status codes, cleaning, streaming. */
#include "ac_config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "bounce.h"
#include "util.h"

#define NOW 1767225600LL       /* Thu, 01 Jan 2026 00:00:00 UTC */
#define ORIG "Return-Path: <alice@example.org>\r\n" \
	"From: Alice <alice@example.org>\r\n" \
	"To: bob@example.net\r\n" \
	"Subject: lunch\r\n" \
	"\r\n" \
	"Shall we meet at noon?\r\n" \
	".a line with a leading dot\r\n"

/* ---- helpers ---------------------------------------------------------- */

static int temp_fd(void)
{
	char path[] = "/tmp/test_bounce.XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	return fd;
}

static int orig_file(const char *content, size_t len)
{
	int fd = temp_fd();

	assert_int_equal(write(fd, content, len), (ssize_t)len);
	return fd;
}

/* Runs bounce_write into a file and returns the output, NUL-terminated. */
static char *run(const struct bounce_info *b, int orig_fd, off_t size,
		 enum status want, struct err *err)
{
	int fd = temp_fd();
	off_t written = -1, end;
	enum status st;
	char *out;

	st = bounce_write(fd, b, orig_fd, size, &written, err);
	assert_int_equal(st, want);
	end = lseek(fd, 0, SEEK_END);
	assert_int_equal(written, end);
	out = xmalloc((size_t)end + 1);
	assert_int_equal(pread(fd, out, (size_t)end, 0), (ssize_t)end);
	out[end] = '\0';
	close(fd);
	return out;
}

/* Wire form: CRLF and only CRLF ends lines, no line over 998 octets. */
static void assert_wire(const char *s)
{
	size_t col = 0;

	for (; *s != '\0'; s++) {
		if (*s == '\r') {
			assert_int_equal(s[1], '\n');
			s++;
			col = 0;
			continue;
		}
		assert_int_not_equal(*s, '\n');
		col++;
		assert_true(col <= 998);
	}
	assert_int_equal(col, 0);
}

/* The boundary parameter of the top Content-Type. */
static char *boundary_of(const char *msg)
{
	const char *p = strstr(msg, "boundary=\"");
	const char *e;

	assert_non_null(p);
	p += strlen("boundary=\"");
	e = strchr(p, '"');
	assert_non_null(e);
	return xstrndup(p, (size_t)(e - p));
}

/* Part k (1-based) with its headers, between its delimiter line and the
 * CRLF before the next one; NULL when there are fewer parts. */
static char *part(const char *msg, int k)
{
	char *b = boundary_of(msg), *delim = xasprintf("\r\n--%s", b);
	const char *p = msg, *e;
	char *res = NULL;
	int i;

	for (i = 0; i < k; i++) {
		p = strstr(p, delim);
		if (p == NULL)
			goto out;
		p += strlen(delim);
		if (strncmp(p, "--", 2) == 0)
			goto out;     /* the close delimiter */
		assert_memory_equal(p, "\r\n", 2);
		p += 2;
	}
	e = strstr(p, delim);
	assert_non_null(e);
	res = xstrndup(p, (size_t)(e - p));
out:
	free(delim);
	free(b);
	return res;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (; (hay = strstr(hay, needle)) != NULL; hay++)
		n++;
	return n;
}

static const struct bounce_rcpt bob = {
	.addr = "bob@example.net", .failed = true,
	.diagnostic = "550 5.1.1 <bob@example.net>: no such user",
	.remote_mta = "mx.example.net", .last_attempt = NOW - 60,
};

static struct bounce_info info(const struct bounce_rcpt *r, size_t n,
			       enum dsn_ret ret)
{
	struct bounce_info b = {
		.hostname = "relay.example.org", .queue_id = "4BxQ2z1",
		.orig_sender = "alice@example.org", .arrival = NOW - 3600,
		.ret = ret, .rcpts = r, .n = n, .now = NOW,
	};
	return b;
}

/* ---- tests ------------------------------------------------------------ */

static void test_failure_structure(void **state)
{
	struct bounce_info b = info(&bob, 1, DSN_RET_HDRS);
	int fd = orig_file(ORIG, strlen(ORIG));
	char *out, *head, *p1, *p2, *p3, *bnd;
	struct err err;

	(void)state;
	out = run(&b, fd, strlen(ORIG), ST_OK, &err);
	assert_wire(out);
	head = xstrndup(out, (size_t)(strstr(out, "\r\n\r\n") - out) + 2);
	assert_non_null(strstr(head, "From: MAILER-DAEMON@relay.example.org "
			       "(Mail Delivery System)\r\n"));
	assert_non_null(strstr(head, "\r\nTo: <alice@example.org>\r\n"));
	assert_non_null(strstr(head, "\r\nSubject: Undelivered Mail Returned "
			       "to Sender\r\n"));
	assert_non_null(strstr(head, "\r\nDate: Thu, 01 Jan 2026 00:00:00 "
			       "+0000\r\n"));
	assert_non_null(strstr(head, "\r\nMessage-ID: <20260101000000."));
	assert_non_null(strstr(head, ".4BxQ2z1@relay.example.org>\r\n"));
	assert_non_null(strstr(head, "\r\nMIME-Version: 1.0\r\n"));
	assert_non_null(strstr(head, "\r\nAuto-Submitted: auto-replied\r\n"));
	assert_non_null(strstr(head, "\r\nContent-Type: multipart/report; "
			       "report-type=delivery-status;\r\n\tboundary=\""));
	assert_null(strstr(head, "Content-Transfer-Encoding"));
	bnd = boundary_of(out);
	assert_non_null(strstr(bnd, "4BxQ2z1"));
	assert_true(strlen(bnd) <= 70);     /* RFC 2046 5.1.1 */

	p1 = part(out, 1);
	p2 = part(out, 2);
	p3 = part(out, 3);
	assert_non_null(p1);
	assert_non_null(p2);
	assert_non_null(p3);
	assert_null(part(out, 4));
	assert_int_equal(strncmp(out + strlen(out) - strlen(bnd) - 8,
			 "\r\n--", 4), 0);
	assert_string_equal(out + strlen(out) - 4, "--\r\n");

	assert_non_null(strstr(p1, "Content-Type: text/plain; charset=us-ascii"
			       "\r\n\r\nThis is the mail delivery system at "
			       "relay.example.org."));
	assert_non_null(strstr(p1, "\r\n<bob@example.net>\r\n    "
			       "mx.example.net said: 550 5.1.1 "
			       "<bob@example.net>: no such user\r\n"));
	assert_non_null(strstr(p1, "4BxQ2z1"));

	assert_non_null(strstr(p2, "Content-Type: message/delivery-status\r\n"
			       "\r\nReporting-MTA: dns; relay.example.org\r\n"
			       "Arrival-Date: Wed, 31 Dec 2025 23:00:00 +0000"
			       "\r\n\r\nFinal-Recipient: rfc822; "
			       "bob@example.net\r\nAction: failed\r\n"
			       "Status: 5.1.1\r\nRemote-MTA: dns; "
			       "mx.example.net\r\nDiagnostic-Code: smtp; 550 "
			       "5.1.1 <bob@example.net>: no such user\r\n"
			       "Last-Attempt-Date: Wed, 31 Dec 2025 23:59:00 "
			       "+0000\r\n"));
	assert_null(strstr(p2, "Original-Envelope-Id"));
	assert_null(strstr(p2, "Will-Retry-Until"));

	/* RET=HDRS: the header section, not the body. */
	assert_non_null(strstr(p3, "Content-Type: text/rfc822-headers\r\n\r\n"
			       "Return-Path: <alice@example.org>\r\n"));
	assert_non_null(strstr(p3, "\r\nSubject: lunch\r\n"));
	assert_null(strstr(p3, "noon"));
	assert_null(strstr(out, "noon"));
	free(p1);
	free(p2);
	free(p3);
	free(bnd);
	free(head);
	free(out);
	close(fd);
}

static void test_full_returns_message_untouched(void **state)
{
	struct bounce_info b = info(&bob, 1, DSN_RET_FULL);
	int fd = orig_file(ORIG, strlen(ORIG));
	char *out, *p3, *body;
	struct err err;

	(void)state;
	out = run(&b, fd, strlen(ORIG), ST_OK, &err);
	assert_wire(out);
	p3 = part(out, 3);
	assert_non_null(p3);
	body = strstr(p3, "\r\n\r\n");
	assert_non_null(body);
	assert_non_null(strstr(p3, "Content-Type: message/rfc822\r\n"));
	/* Exactly the original: the part ends with its final CRLF, and the
	 * leading dot is not stuffed. */
	assert_string_equal(body + 4, ORIG);
	/* The descriptor's own offset is not used or moved. */
	assert_int_equal(lseek(fd, 0, SEEK_CUR), (off_t)strlen(ORIG));
	free(p3);
	free(out);

	/* Over full_limit only the header comes back. */
	b.full_limit = 10;
	out = run(&b, fd, strlen(ORIG), ST_OK, &err);
	p3 = part(out, 3);
	assert_non_null(strstr(p3, "Content-Type: text/rfc822-headers\r\n"));
	assert_null(strstr(out, "noon"));
	free(p3);
	free(out);
	close(fd);
}

static void test_status_derivation(void **state)
{
	static const struct {
		const char *status, *diag;
		bool failed;
		const char *want;
	} cases[] = {
		{ NULL, "550 5.1.1 no such user", true, "5.1.1" },
		{ NULL, "550-5.7.1 multi / 550 5.7.1 line", true, "5.7.1" },
		{ NULL, "552 5.3.4", true, "5.3.4" },
		{ NULL, "550 no such user", true, "5.0.0" },
		{ NULL, "550", true, "5.0.0" },
		{ NULL, "451 4.7.1 greylisted", false, "4.7.1" },
		{ NULL, "421 try later", false, "4.0.0" },
		{ NULL, "451 4.7.1 expired", true, "4.7.1" },  /* RFC 3464 2.3.3 */
		/* The enhanced class must match the reply's (RFC 2034 4). */
		{ NULL, "550 4.1.1 odd", true, "5.0.0" },
		/* Not a status code: leading zeros, four digits, 2.x.x. */
		{ NULL, "550 5.01.1 x", true, "5.0.0" },
		{ NULL, "550 5.1.1000 x", true, "5.0.0" },
		{ NULL, "550 5.1.1x", true, "5.0.0" },
		{ NULL, "250 2.0.0 ok", true, "5.0.0" },
		{ NULL, "connect to mx.example.net: Connection refused", false,
		  "4.0.0" },
		{ NULL, "host not found", true, "5.0.0" },
		{ NULL, NULL, true, "5.0.0" },
		{ NULL, "5501 x", true, "5.0.0" },
		/* Given codes win when valid. */
		{ "5.4.4", "550 5.1.1 x", true, "5.4.4" },
		{ "4.4.7", NULL, true, "4.4.7" },
		{ "5.1.10", NULL, true, "5.1.10" },
		{ "bogus", "550 5.2.2 full", true, "5.2.2" },
		{ "5.1", NULL, true, "5.0.0" },
		{ "2.0.0", NULL, false, "4.0.0" },
		/* Delayed is never permanent: class 4, detail kept. */
		{ NULL, "550 5.1.1 x", false, "4.1.1" },
		{ NULL, "554 no", false, "4.0.0" },
		{ "5.7.1", NULL, false, "4.7.1" },
	};
	struct bounce_rcpt r;
	char out[16];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memset(&r, 0, sizeof r);
		r.addr = "x@example.net";
		r.status = cases[i].status;
		r.diagnostic = cases[i].diag;
		r.failed = cases[i].failed;
		bounce_status(&r, out);
		if (strcmp(out, cases[i].want) != 0)
			fail_msg("case %zu (%s / %s): got %s, want %s", i,
				 cases[i].status ? cases[i].status : "NULL",
				 cases[i].diag ? cases[i].diag : "NULL", out,
				 cases[i].want);
	}
}

static void test_delay_notice_and_mixed(void **state)
{
	const struct bounce_rcpt rs[] = {
		{ .addr = "carol@example.com", .failed = false,
		  .diagnostic = "451 try again later", .remote_mta = "mx2",
		  .last_attempt = NOW - 10, .retry_until = NOW + 86400 },
		{ .addr = "dave@example.com", .failed = false,
		  .diagnostic = "connection timed out" },
	};
	struct bounce_rcpt mixed[2] = { bob, rs[0] };
	struct bounce_info b = info(rs, 2, DSN_RET_HDRS);
	int fd = orig_file(ORIG, strlen(ORIG));
	char *out, *p1, *p2;
	struct err err;

	(void)state;
	out = run(&b, fd, strlen(ORIG), ST_OK, &err);
	assert_wire(out);
	assert_non_null(strstr(out, "\r\nSubject: Delayed Mail (still being "
			       "retried)\r\n"));
	p1 = part(out, 1);
	p2 = part(out, 2);
	assert_null(strstr(p1, "failed"));
	assert_non_null(strstr(p1, "Delivery is delayed for:\r\n"));
	assert_non_null(strstr(p1, "(still trying until Fri, 02 Jan 2026"));
	assert_int_equal(count(p2, "Action: delayed\r\n"), 2);
	assert_int_equal(count(p2, "Action: failed"), 0);
	assert_non_null(strstr(p2, "Final-Recipient: rfc822; "
			       "carol@example.com\r\nAction: delayed\r\n"
			       "Status: 4.0.0\r\nRemote-MTA: dns; mx2\r\n"
			       "Diagnostic-Code: smtp; 451 try again later"
			       "\r\n"));
	assert_non_null(strstr(p2, "Will-Retry-Until: Fri, 02 Jan 2026 "
			       "00:00:00 +0000\r\n"));
	/* Our own error: no Remote-MTA, our diagnostic type. */
	assert_non_null(strstr(p2, "Final-Recipient: rfc822; "
			       "dave@example.com\r\nAction: delayed\r\n"
			       "Status: 4.0.0\r\nDiagnostic-Code: X-Sendmx; "
			       "connection timed out\r\n"));
	assert_non_null(strstr(out, "Content-Description: Delayed Message"));
	free(p1);
	free(p2);
	free(out);

	/* Will-Retry-Until only for the delayed one (RFC 3464 2.3.9). */
	mixed[0].retry_until = NOW + 5;
	b = info(mixed, 2, DSN_RET_HDRS);
	out = run(&b, fd, strlen(ORIG), ST_OK, &err);
	assert_non_null(strstr(out, "\r\nSubject: Undelivered Mail Returned "
			       "to Sender\r\n"));
	p1 = part(out, 1);
	p2 = part(out, 2);
	assert_non_null(strstr(p1, "Delivery failed for:\r\n\r\n"
			       "<bob@example.net>"));
	assert_true(strstr(p1, "still trying") > strstr(p1, "<bob@"));
	assert_true(strstr(p1, "<carol@") > strstr(p1, "still trying"));
	assert_int_equal(count(p2, "Action: failed\r\n"), 1);
	assert_int_equal(count(p2, "Action: delayed\r\n"), 1);
	assert_int_equal(count(p2, "Will-Retry-Until"), 1);
	assert_true(strstr(p2, "Will-Retry-Until") > strstr(p2, "carol@"));
	free(p1);
	free(p2);
	free(out);
	close(fd);
}

static void test_envid_and_orcpt(void **state)
{
	struct bounce_rcpt rs[2] = { bob, bob };
	struct bounce_info b = info(rs, 2, DSN_RET_HDRS);
	int fd = orig_file(ORIG, strlen(ORIG));
	char *out, *p2;
	struct err err;

	(void)state;
	rs[0].orcpt = "rfc822;Bob@Example.NET";
	rs[1].orcpt = "robert@example.net";
	rs[1].addr = "robert@example.net";
	b.envid = "QQ314159";
	out = run(&b, fd, strlen(ORIG), ST_OK, &err);
	p2 = part(out, 2);
	assert_non_null(strstr(p2, "\r\n\r\nOriginal-Envelope-Id: QQ314159\r\n"
			       "Reporting-MTA: dns; relay.example.org\r\n"));
	assert_non_null(strstr(p2, "\r\n\r\nOriginal-Recipient: "
			       "rfc822;Bob@Example.NET\r\nFinal-Recipient: "
			       "rfc822; bob@example.net\r\n"));
	assert_non_null(strstr(p2, "\r\n\r\nOriginal-Recipient: "
			       "rfc822;robert@example.net\r\nFinal-Recipient: "
			       "rfc822; robert@example.net\r\n"));
	free(p2);
	free(out);
	close(fd);
}

/* Nothing a sender or a server controls can start a header line. */
static void test_hostile_text_cannot_inject(void **state)
{
	char longword[5001];
	struct bounce_rcpt r = bob;
	struct bounce_info b = info(&r, 1, DSN_RET_HDRS);
	int fd = orig_file(ORIG, strlen(ORIG));
	char *out, *p2;
	struct err err;

	(void)state;
	b.orig_sender = "alice@example.org>\r\nBcc: victim@example.com\r\n"
			"X-A: <x";
	b.envid = "id\r\nX-Envid-Injected: 1";
	b.queue_id = "Q 1\r\n\"x";
	b.hostname = "relay\r\nX-Host: 1";
	r.addr = "bob@example.net\r\nX-Rcpt-Injected: 1";
	r.orcpt = "rfc822;a\nX-Orcpt-Injected: 1";
	r.remote_mta = "mx\r\nX-Mta-Injected: 1";
	r.diagnostic = "550 5.1.1 no\r\nX-Diag-Injected: 1\r\n\r\n--x\x1b[31m";
	out = run(&b, fd, strlen(ORIG), ST_OK, &err);
	assert_wire(out);
	assert_null(strstr(out, "\r\nBcc:"));
	assert_null(strstr(out, "\r\nX-"));
	assert_null(strstr(out, "\x1b"));
	assert_non_null(strstr(out, "\r\nTo: <alice@example.org>??Bcc: "
			       "victim@example.com??X-A: <x>\r\n"));
	p2 = part(out, 2);
	assert_non_null(p2);
	assert_non_null(strstr(p2, "Diagnostic-Code: smtp; 550 5.1.1 no "
			       "X-Diag-Injected: 1 --x [31m\r\n"));
	assert_non_null(strstr(p2, "Final-Recipient: rfc822; "
			       "bob@example.net??X-Rcpt-Injected: 1\r\n"));
	free(p2);
	free(out);

	/* A word too long to fold is broken, the diagnostic cut short. */
	memset(longword, 'w', sizeof longword - 1);
	longword[sizeof longword - 1] = '\0';
	r = bob;
	r.diagnostic = longword;
	b = info(&r, 1, DSN_RET_HDRS);
	b.orig_sender = longword;
	out = run(&b, fd, strlen(ORIG), ST_OK, &err);
	assert_wire(out);
	assert_non_null(strstr(out, "www...\r\n"));
	assert_null(strstr(out, "Diagnostic-Code: smtp;"));
	/* Folded before the long word, which is then broken. */
	assert_non_null(strstr(out, "Diagnostic-Code: X-Sendmx;\r\n www"));
	free(out);
	close(fd);
}

/* Long diagnostics fold at spaces, and unfolding gives them back. */
static void test_long_diagnostic_folds(void **state)
{
	struct bounce_rcpt r = bob;
	struct bounce_info b = info(&r, 1, DSN_RET_HDRS);
	int fd = orig_file(ORIG, strlen(ORIG));
	char *out, *p2, *f, *e, *unfolded, *line;
	struct buf diag, u;
	struct err err;
	int i;

	(void)state;
	buf_init(&diag);
	buf_appends(&diag, "550 5.7.1");
	for (i = 0; i < 60; i++)
		buf_appendf(&diag, " policy%02d", i);
	r.diagnostic = diag.data;
	out = run(&b, fd, strlen(ORIG), ST_OK, &err);
	p2 = part(out, 2);
	f = strstr(p2, "Diagnostic-Code: ");
	assert_non_null(f);
	e = strstr(f, "\r\nLast-Attempt-Date");
	assert_non_null(e);
	unfolded = xstrndup(f, (size_t)(e - f));
	buf_init(&u);
	for (line = strtok(unfolded, "\r\n"); line; line = strtok(NULL, "\r\n")) {
		assert_true(strlen(line) <= 78);
		buf_appends(&u, line);
	}
	line = xasprintf("Diagnostic-Code: smtp; %s", diag.data);
	assert_string_equal(u.data, line);
	assert_true(count(f, "\r\n ") >= 5);
	free(line);
	buf_free(&u);
	free(unfolded);
	free(p2);
	free(out);
	buf_free(&diag);
	close(fd);
}

static unsigned hook_calls;

static void counting_hook(unsigned char *p, size_t n)
{
	hook_calls++;
	memset(p, (int)hook_calls, n);
}

/* The boundary is checked against the returned text and replaced when
 * the original holds it. */
static void test_boundary_clash(void **state)
{
	struct bounce_info b = info(&bob, 1, DSN_RET_FULL);
	const char *first = "=_dsn_4BxQ2z1_010101010101010101010101";
	char *orig = xasprintf("Subject: x\r\n\r\n--%s\r\nboo\r\n", first);
	int fd = orig_file(orig, strlen(orig));
	char *out, *bnd;
	struct err err;

	(void)state;
	hook_calls = 0;
	bounce_random_hook = counting_hook;
	out = run(&b, fd, strlen(orig), ST_OK, &err);
	bounce_random_hook = NULL;
	bnd = boundary_of(out);
	assert_string_equal(bnd, "=_dsn_4BxQ2z1_020202020202020202020202");
	assert_true(hook_calls >= 2);
	assert_non_null(strstr(out, orig));   /* returned whole */
	assert_wire(out);
	free(bnd);
	free(out);

	/* A boundary split across the scanner's chunks is found too: put
	 * it across the 64 KiB mark. */
	free(orig);
	close(fd);
	{
		size_t off = 65536 - 10, len = 70000;
		char *big = xmalloc(len);

		memset(big, 'a', len);
		memcpy(big, "Subject: y\r\n\r\n", 14);
		for (size_t k = 100; k < len; k += 100)
			memcpy(big + k - 2, "\r\n", 2);
		memcpy(big + off, first, strlen(first));
		memcpy(big + len - 2, "\r\n", 2);
		fd = orig_file(big, len);
		hook_calls = 0;
		bounce_random_hook = counting_hook;
		out = run(&b, fd, (off_t)len, ST_OK, &err);
		bounce_random_hook = NULL;
		bnd = boundary_of(out);
		assert_string_equal(bnd, "=_dsn_4BxQ2z1_020202020202020202020202");
		free(bnd);
		free(out);
		free(big);
		close(fd);
	}
}

static void test_refusals_and_failures(void **state)
{
	struct bounce_info b = info(&bob, 1, DSN_RET_HDRS);
	int fd = orig_file(ORIG, strlen(ORIG)), ro;
	off_t written = 7;
	struct err err;
	char *out;

	(void)state;
	b.orig_sender = "";
	out = run(&b, fd, strlen(ORIG), ST_PERMFAIL, &err);
	assert_string_equal(out, "");
	assert_non_null(strstr(err.msg, "null sender"));
	free(out);
	b.orig_sender = NULL;
	out = run(&b, fd, strlen(ORIG), ST_PERMFAIL, &err);
	free(out);

	b = info(&bob, 0, DSN_RET_HDRS);
	out = run(&b, fd, strlen(ORIG), ST_PERMFAIL, &err);
	assert_non_null(strstr(err.msg, "no recipients"));
	free(out);

	/* A spool file shorter than recorded. */
	b = info(&bob, 1, DSN_RET_FULL);
	out = run(&b, fd, (off_t)strlen(ORIG) + 100, ST_TEMPFAIL, &err);
	assert_non_null(strstr(err.msg, "shorter than"));
	free(out);
	/* A descriptor that cannot be read (a pipe cannot be pread). */
	{
		int p[2];

		assert_int_equal(pipe(p), 0);
		out = run(&b, p[0], 10, ST_TEMPFAIL, &err);
		assert_non_null(strstr(err.msg, "cannot read the original"));
		free(out);
		close(p[0]);
		close(p[1]);
	}

	/* An output that cannot be written. */
	ro = open("/dev/null", O_RDONLY);
	assert_true(ro >= 0);
	assert_int_equal(bounce_write(ro, &b, fd, strlen(ORIG), &written, &err),
			 ST_TEMPFAIL);
	assert_non_null(strstr(err.msg, "cannot write the DSN"));
	assert_int_equal(written, 0);
	close(ro);
	close(fd);
}

static void test_odd_originals(void **state)
{
	struct bounce_info b = info(&bob, 1, DSN_RET_HDRS);
	struct err err;
	char *out, *p2, *p3;
	int fd;

	(void)state;
	/* No original at all: two parts. */
	out = run(&b, -1, 0, ST_OK, &err);
	assert_wire(out);
	p2 = part(out, 2);
	assert_non_null(strstr(p2, "Action: failed"));
	free(p2);
	assert_null(part(out, 3));
	assert_null(strstr(out, "attached"));
	free(out);

	/* No body (no empty line): all of it is the header. */
	fd = orig_file("Subject: a\r\nX-B: c\r\n", 20);
	out = run(&b, fd, 20, ST_OK, &err);
	p3 = part(out, 3);
	assert_string_equal(strstr(p3, "\r\n\r\n"), "\r\n\r\nSubject: a\r\nX-B: c\r\n");
	free(p3);
	free(out);
	close(fd);

	/* An empty header section. */
	fd = orig_file("\r\nbody\r\n", 8);
	out = run(&b, fd, 8, ST_OK, &err);
	p3 = part(out, 3);
	assert_string_equal(strstr(p3, "\r\n\r\n"), "\r\n\r\n");
	assert_null(strstr(out, "body\r\n"));
	free(p3);
	free(out);
	close(fd);

	/* The CR of the empty line ends the scanner's first 64 KiB chunk. */
	{
		size_t hlen = 65535, k;
		char *big = xmalloc(hlen + 9), *want;

		for (k = 0; k + 100 <= hlen; k += 100)
			snprintf(big + k, 101, "X-Pad: %091zu\r\n", k);
		snprintf(big + k, hlen - k + 1, "X-L: %0*d\r\n",
			 (int)(hlen - k - 7), 0);
		memcpy(big + hlen, "\r\nbody\r\n", 9);
		assert_int_equal(big[65535], '\r');
		fd = orig_file(big, hlen + 8);
		out = run(&b, fd, (off_t)hlen + 8, ST_OK, &err);
		assert_wire(out);
		p3 = part(out, 3);
		want = xasprintf("\r\n\r\n%.*s", (int)hlen, big);
		assert_string_equal(strstr(p3, "\r\n\r\n"), want);
		assert_null(strstr(out, "body\r\n"));
		free(want);
		free(p3);
		free(out);
		free(big);
		close(fd);
	}

	/* No final line end: the DSN still closes on a line of its own. */
	b.ret = DSN_RET_FULL;
	fd = orig_file("Subject: a\r\n\r\nno end", 20);
	out = run(&b, fd, 20, ST_OK, &err);
	assert_wire(out);
	p3 = part(out, 3);
	assert_string_equal(strstr(p3, "\r\n\r\n"),
			    "\r\n\r\nSubject: a\r\n\r\nno end\r\n");
	free(p3);
	free(out);
	close(fd);
}

/* 8-bit octets in what is returned are declared, elsewhere not. */
static void test_eightbit(void **state)
{
	const char *orig = "Subject: caf\xc3\xa9\r\n\r\nna\xc3\xafve\r\n";
	const char *orig7 = "Subject: cafe\r\n\r\nna\xc3\xafve\r\n";
	struct bounce_info b = info(&bob, 1, DSN_RET_FULL);
	struct bounce_rcpt r = bob;
	int fd = orig_file(orig, strlen(orig));
	int fd7 = orig_file(orig7, strlen(orig7));
	struct err err;
	char *out, *p3;

	(void)state;
	out = run(&b, fd, strlen(orig), ST_OK, &err);
	assert_non_null(strstr(out, "\tboundary="));
	assert_int_equal(count(out, "Content-Transfer-Encoding: 8bit\r\n"), 2);
	p3 = part(out, 3);
	assert_non_null(strstr(p3, "Content-Transfer-Encoding: 8bit\r\n"));
	free(p3);
	free(out);

	b.ret = DSN_RET_HDRS;
	out = run(&b, fd7, strlen(orig7), ST_OK, &err);
	assert_null(strstr(out, "8bit"));
	assert_null(strstr(out, "\xc3"));
	free(out);

	/* An SMTPUTF8 recipient: the address is kept, the parts say so;
	 * 8-bit octets in a diagnostic become '?'. */
	r.addr = "j\xc3\xb6rg@example.net";
	r.diagnostic = "550 5.1.1 unbekannt: j\xc3\xb6rg";
	b.rcpts = &r;
	out = run(&b, fd7, strlen(orig7), ST_OK, &err);
	assert_non_null(strstr(out, "charset=utf-8"));
	assert_non_null(strstr(out, "Final-Recipient: rfc822; "
			       "j\xc3\xb6rg@example.net\r\n"));
	assert_non_null(strstr(out, "unbekannt: j??rg\r\n"));
	free(out);
	close(fd);
	close(fd7);
}

/*
 * 5 MB returned whole through a non-blocking pipe: the writer (a child)
 * must not grow by the message's size, and every line arrives in order.
 */
static void test_large_message_streams(void **state)
{
	enum { LINES = 52429, LINE = 100 };   /* 5 MiB */
	struct bounce_info b = info(&bob, 1, DSN_RET_FULL);
	int fd = temp_fd(), p[2], st[2], status;
	char line[LINE + 1], chunk[65536], cur[1100], last[1100];
	size_t col = 0, i;
	long long total = 0, written = -1;
	long seq = 0;
	ssize_t n;
	pid_t pid;
	bool in_body = false;

	(void)state;
	for (i = 0; i < LINES; i++) {
		if (i < 2)
			snprintf(line, sizeof line, "%-*s\r\n", LINE - 2,
				 i == 0 ? "Subject: big" : "");
		else
			snprintf(line, sizeof line, "%07zu %0*d\r\n", i,
				 LINE - 10, 0);
		if (i == 1)
			memcpy(line, "\r\n", 3);
		assert_int_equal(write(fd, line, strlen(line)),
				 (ssize_t)strlen(line));
	}
	assert_int_equal(pipe(p), 0);
	assert_int_equal(pipe(st), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rusage before, after;
		off_t w = 0;
		struct err err;
		long long grown;
		int rc;

		close(p[0]);
		close(st[0]);
		fcntl(p[1], F_SETFL, O_NONBLOCK);
		/* A small DSN first, so that one-time costs (allocator and
		 * sanitizer set-up) are not counted against the big one. */
		if ((rc = open("/dev/null", O_WRONLY)) >= 0) {
			(void)bounce_write(rc, &b, fd, 200, NULL, &err);
			close(rc);
		}
		getrusage(RUSAGE_SELF, &before);
		rc = bounce_write(p[1], &b, fd, lseek(fd, 0, SEEK_END), &w,
				  &err) == ST_OK ? 0 : 1;
		getrusage(RUSAGE_SELF, &after);
		grown = (long long)(after.ru_maxrss - before.ru_maxrss);
		if (getenv("TEST_BOUNCE_VERBOSE") != NULL)
			fprintf(stderr, "# writer grew by %lld KiB\n", grown);
		if (rc == 0 && grown > 2048)   /* KiB */
			rc = 2;
		written = (long long)w;
		if (write(st[1], &written, sizeof written) < 0)
			rc = 3;
		_exit(rc);
	}
	close(p[1]);
	close(st[1]);
	last[0] = '\0';
	while ((n = read(p[0], chunk, sizeof chunk)) > 0) {
		total += n;
		for (i = 0; i < (size_t)n; i++) {
			if (col >= sizeof cur - 1)
				fail_msg("line over %zu octets", sizeof cur - 1);
			cur[col++] = chunk[i];
			if (chunk[i] != '\n')
				continue;
			cur[col] = '\0';
			if (col < 2 || cur[col - 2] != '\r')
				fail_msg("bare LF after %lld octets", total);
			if (col > 1000)
				fail_msg("line of %zu octets", col);
			if (strcmp(cur, "Content-Type: message/rfc822\r\n") == 0)
				in_body = true;
			if (in_body && col == LINE && cur[7] == ' ') {
				if (atol(cur) != seq + 2)
					fail_msg("line %ld after %ld", atol(cur), seq);
				seq = atol(cur) - 1;
			}
			memcpy(last, cur, col + 1);
			col = 0;
		}
	}
	assert_int_equal(n, 0);
	close(p[0]);
	assert_int_equal(read(st[0], &written, sizeof written),
			 (ssize_t)sizeof written);
	close(st[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(col, 0);
	assert_int_equal(seq, LINES - 2);
	assert_int_equal(written, total);
	assert_true(total > 5 * 1024 * 1024);
	assert_int_equal(strncmp(last, "--=_dsn_4BxQ2z1_", 16), 0);
	assert_string_equal(last + strlen(last) - 4, "--\r\n");
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* First, while the process is small: it measures memory. */
		cmocka_unit_test(test_large_message_streams),
		cmocka_unit_test(test_failure_structure),
		cmocka_unit_test(test_full_returns_message_untouched),
		cmocka_unit_test(test_status_derivation),
		cmocka_unit_test(test_delay_notice_and_mixed),
		cmocka_unit_test(test_envid_and_orcpt),
		cmocka_unit_test(test_hostile_text_cannot_inject),
		cmocka_unit_test(test_long_diagnostic_folds),
		cmocka_unit_test(test_boundary_clash),
		cmocka_unit_test(test_refusals_and_failures),
		cmocka_unit_test(test_odd_originals),
		cmocka_unit_test(test_eightbit),
	};

	/* Dates in the DSN are local time: make them predictable. */
	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
