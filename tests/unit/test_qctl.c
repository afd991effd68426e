/*
 * test_qctl.c - the control file format: round trips, the exact text,
 * and every way the parser refuses a file (with its line number).
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

#include "qctl.h"
#include "util.h"

#define ID "6560F3A40A2B100F2A"

/* A valid control file, one string per line (without LF). */
static const char *const base[] = {
	"sendmx-queue 1",                        /* 1 */
	"id " ID,                                /* 2 */
	"arrival 1700671332",                    /* 3 */
	"sender alice@example.org",              /* 4 */
	"size 1234",                             /* 5 */
	"eightbit 0",                            /* 6 */
	"message-id <m1@example.org>",           /* 7 */
	"dsn-ret -",                             /* 8 */
	"dsn-notify -",                          /* 9 */
	"envid -",                               /* 10 */
	"is-bounce 0",                           /* 11 */
	"delay-notified 0",                      /* 12 */
	"rcpt pending 0 0 0 - bob@example.net -",/* 13 */
	"end",                                   /* 14 */
};
#define NBASE (sizeof base / sizeof base[0])

/* The base text with line `line` (1-based) replaced by repl, or removed
 * when repl is NULL; line 0 changes nothing. */
static char *text_with(size_t line, const char *repl)
{
	struct buf b;

	buf_init(&b);
	for (size_t i = 0; i < NBASE; i++) {
		if (i + 1 == line) {
			if (repl != NULL)
				buf_appendf(&b, "%s\n", repl);
		} else {
			buf_appendf(&b, "%s\n", base[i]);
		}
	}
	return b.data;
}

/* Parses text, expecting failure with exactly msg. */
static void expect_error(const char *text, size_t n, const char *msg)
{
	struct qctl c;
	struct err e = { "" };

	assert_int_equal(qctl_parse(text, n, &c, &e), ST_PERMFAIL);
	assert_string_equal(e.msg, msg);
	assert_null(c.rcpts);
	assert_null(c.sender);
	qctl_free(&c);
}

static void expect_line_error(size_t line, const char *repl, const char *msg)
{
	char *t = text_with(line, repl);

	expect_error(t, strlen(t), msg);
	free(t);
}

static void fill_full(struct qctl *c)
{
	struct qrcpt *r;

	qctl_init(c);
	memcpy(c->id, ID, sizeof ID);
	c->arrival = 1700671332;
	c->sender = xstrdup("\"john doe\"+tag=x@example.org");
	c->size = 987654321012LL;
	c->eightbit = true;
	c->message_id = xstrdup("<a b@c>");
	c->dsn_ret = QDSN_RET_HDRS;
	c->dsn_notify = QDSN_NOTIFY_FAILURE | QDSN_NOTIFY_DELAY |
			QDSN_NOTIFY_SUCCESS;
	c->envid = xstrdup("-");
	c->is_bounce = true;
	c->delay_notified = true;
	r = qctl_add_rcpt(c, "bob@example.net", "rfc822;bob@example.net");
	r->attempts = 3;
	r->next_try = 1700675000;
	r->last_try = 1700674000;
	qrcpt_set_result(r, "451 4.7.1 Greylisted, caf\xc3\xa9",
			 "mx.example.net[192.0.2.7]:25");
	r = qctl_add_rcpt(c, "carol@example.org", NULL);
	r->state = QRCPT_SENT;
	r->attempts = 1;
	r->last_try = 1700671333;
	qrcpt_set_result(r, "250 2.0.0 Ok", "mx.example.org[192.0.2.8]:25");
	r = qctl_add_rcpt(c, "x\x01y@example.org", NULL);
	r->state = QRCPT_FAILED;
	r = qctl_add_rcpt(c, "-", NULL);
	r->state = QRCPT_BOUNCED;
	r->attempts = 2147483647;
}

static void assert_str_or_null(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_qctl_equal(const struct qctl *a, const struct qctl *b)
{
	assert_string_equal(a->id, b->id);
	assert_int_equal(a->arrival, b->arrival);
	assert_string_equal(a->sender, b->sender);
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->eightbit, b->eightbit);
	assert_str_or_null(a->message_id, b->message_id);
	assert_int_equal(a->dsn_ret, b->dsn_ret);
	assert_int_equal(a->dsn_notify, b->dsn_notify);
	assert_str_or_null(a->envid, b->envid);
	assert_int_equal(a->is_bounce, b->is_bounce);
	assert_int_equal(a->delay_notified, b->delay_notified);
	assert_int_equal(a->nrcpts, b->nrcpts);
	for (size_t i = 0; i < a->nrcpts; i++) {
		const struct qrcpt *x = &a->rcpts[i], *y = &b->rcpts[i];

		assert_string_equal(x->addr, y->addr);
		assert_str_or_null(x->orcpt, y->orcpt);
		assert_int_equal(x->state, y->state);
		assert_int_equal(x->attempts, y->attempts);
		assert_int_equal(x->next_try, y->next_try);
		assert_int_equal(x->last_try, y->last_try);
		assert_str_or_null(x->last_error, y->last_error);
		assert_str_or_null(x->relay, y->relay);
	}
}

static void test_round_trip(void **state)
{
	struct qctl c, d;
	struct buf t1, t2;
	struct err e;

	(void)state;
	fill_full(&c);
	buf_init(&t1);
	buf_init(&t2);
	assert_int_equal(qctl_format(&c, &t1, &e), ST_OK);
	assert_int_equal(qctl_parse(t1.data, t1.len, &d, &e), ST_OK);
	assert_int_equal(d.version, QCTL_VERSION);
	assert_qctl_equal(&c, &d);
	/* ... and the text it gives again is the same. */
	assert_int_equal(qctl_format(&d, &t2, &e), ST_OK);
	assert_int_equal(t1.len, t2.len);
	assert_memory_equal(t1.data, t2.data, t1.len);
	qctl_free(&c);
	qctl_free(&d);
	buf_free(&t1);
	buf_free(&t2);
}

/* The documented text, byte for byte: xtext, "-", the error at the end. */
static void test_exact_text(void **state)
{
	struct qctl c;
	struct buf t;
	struct err e;

	(void)state;
	fill_full(&c);
	buf_init(&t);
	assert_int_equal(qctl_format(&c, &t, &e), ST_OK);
	assert_string_equal(t.data,
		"sendmx-queue 1\n"
		"id " ID "\n"
		"arrival 1700671332\n"
		"sender \"john+20doe\"+2Btag+3Dx@example.org\n"
		"size 987654321012\n"
		"eightbit 1\n"
		"message-id <a+20b@c>\n"
		"dsn-ret hdrs\n"
		"dsn-notify success,failure,delay\n"
		"envid +2D\n"
		"is-bounce 1\n"
		"delay-notified 1\n"
		"rcpt pending 3 1700675000 1700674000 rfc822;bob@example.net "
		"bob@example.net mx.example.net[192.0.2.7]:25 "
		"451 4.7.1 Greylisted, caf\xc3\xa9\n"
		"rcpt sent 1 0 1700671333 - carol@example.org "
		"mx.example.org[192.0.2.8]:25 250 2.0.0 Ok\n"
		"rcpt failed 0 0 0 - x+01y@example.org -\n"
		"rcpt bounced 2147483647 0 0 - +2D -\n"
		"end\n");
	qctl_free(&c);
	buf_free(&t);
}

static void test_null_sender_and_absent_values(void **state)
{
	struct qctl c;
	struct err e;
	char *t = text_with(4, "sender -");

	(void)state;
	assert_int_equal(qctl_parse(t, strlen(t), &c, &e), ST_OK);
	assert_string_equal(c.sender, "");
	assert_string_equal(c.message_id, "<m1@example.org>");
	assert_null(c.envid);
	assert_int_equal(c.dsn_ret, QDSN_RET_UNSET);
	assert_int_equal(c.dsn_notify, 0);
	assert_int_equal(c.nrcpts, 1);
	assert_null(c.rcpts[0].orcpt);
	assert_null(c.rcpts[0].relay);
	assert_null(c.rcpts[0].last_error);
	assert_int_equal(c.rcpts[0].state, QRCPT_PENDING);
	qctl_free(&c);
	free(t);

	/* Keys in any order; rcpt lines anywhere; never alone is fine. */
	t = text_with(9, "dsn-notify never");
	assert_int_equal(qctl_parse(t, strlen(t), &c, &e), ST_OK);
	assert_int_equal(c.dsn_notify, QDSN_NOTIFY_NEVER);
	qctl_free(&c);
	free(t);
	{
		const char *moved =
			"sendmx-queue 1\nrcpt sent 1 0 5 - a@b -\n"
			"delay-notified 1\nis-bounce 0\nenvid E+2B1\n"
			"dsn-notify delay,failure\ndsn-ret full\n"
			"message-id -\neightbit 1\nsize 0\nsender -\n"
			"arrival 0\nid " ID "\nrcpt pending 0 9 0 - c@d -\n"
			"end\n";

		assert_int_equal(qctl_parse(moved, strlen(moved), &c, &e),
				 ST_OK);
		assert_int_equal(c.nrcpts, 2);
		assert_string_equal(c.rcpts[1].addr, "c@d");
		assert_string_equal(c.envid, "E+1");
		assert_null(c.message_id);
		assert_int_equal(c.dsn_notify,
				 QDSN_NOTIFY_DELAY | QDSN_NOTIFY_FAILURE);
		assert_int_equal(c.dsn_ret, QDSN_RET_FULL);
		assert_true(c.delay_notified);
		qctl_free(&c);
	}
}

/* Text from servers may carry CR, LF, ESC: never a broken line. */
static void test_control_chars_in_error(void **state)
{
	struct qctl c, d;
	struct buf t;
	struct err e;
	struct qrcpt *r;

	(void)state;
	qctl_init(&c);
	memcpy(c.id, ID, sizeof ID);
	c.sender = xstrdup("");
	r = qctl_add_rcpt(&c, "bob@example.net", NULL);
	/* Set directly: qctl_format must clean it even so. */
	r->last_error = xstrdup("550 no\r\nsuch\tuser\x1b[31m\x7f!");
	r->relay = xstrdup("h[1.2.3.4]:25");
	buf_init(&t);
	assert_int_equal(qctl_format(&c, &t, &e), ST_OK);
	assert_non_null(strstr(t.data, " 550 no  such user [31m !\n"));
	assert_string_equal(r->last_error, "550 no\r\nsuch\tuser\x1b[31m\x7f!");
	assert_int_equal(qctl_parse(t.data, t.len, &d, &e), ST_OK);
	assert_string_equal(d.rcpts[0].last_error, "550 no  such user [31m !");
	assert_string_equal(d.sender, "");
	qctl_free(&d);
	buf_free(&t);

	/* qrcpt_set_result cleans as it stores. */
	qrcpt_set_result(r, "a\nb", NULL);
	assert_string_equal(r->last_error, "a b");
	assert_null(r->relay);
	qctl_free(&c);
}

/* Long errors are cut, not inside a UTF-8 character. */
static void test_long_error_cut(void **state)
{
	struct qctl c, d;
	struct buf t;
	struct err e;
	char *msg = xmalloc(QCTL_ERROR_MAX + 10);

	(void)state;
	memset(msg, 'x', QCTL_ERROR_MAX - 1);
	memcpy(msg + QCTL_ERROR_MAX - 1, "\xc3\xa9tail", 7);
	qctl_init(&c);
	memcpy(c.id, ID, sizeof ID);
	c.sender = xstrdup("a@b");
	qrcpt_set_result(qctl_add_rcpt(&c, "r@b", NULL), msg, NULL);
	buf_init(&t);
	assert_int_equal(qctl_format(&c, &t, &e), ST_OK);
	assert_int_equal(qctl_parse(t.data, t.len, &d, &e), ST_OK);
	assert_int_equal(strlen(d.rcpts[0].last_error), QCTL_ERROR_MAX - 1);
	assert_memory_equal(d.rcpts[0].last_error, msg, QCTL_ERROR_MAX - 1);
	qctl_free(&c);
	qctl_free(&d);
	buf_free(&t);
	free(msg);
}

static void test_parse_errors_header(void **state)
{
	char *t;

	(void)state;
	expect_error("", 0, "line 1: empty control file");
	expect_line_error(1, "hello 1", "line 1: not a sendmx control file");
	expect_line_error(1, "sendmx-queue 2", "line 1: unsupported version 2");
	expect_line_error(1, "sendmx-queue x", "line 1: bad version");
	expect_line_error(1, "sendmx-queue", "line 1: not a sendmx control file");
	expect_line_error(3, "colour blue", "line 3: unknown key \"colour\"");
	expect_line_error(3, "arrival", "line 3: no value for \"arrival\"");
	expect_line_error(5, "sender bob@x", "line 5: duplicate key \"sender\"");
	expect_line_error(5, NULL, "line 13: missing key \"size\" before end");
	expect_line_error(2, "id 6560f3a40a2b100f2a", "line 2: bad id value");
	expect_line_error(2, "id 6560F3A40A2B100F2", "line 2: bad id value");
	expect_line_error(3, "arrival -5", "line 3: bad arrival value");
	expect_line_error(3, "arrival 12a", "line 3: bad arrival value");
	expect_line_error(3, "arrival ", "line 3: bad arrival value");
	expect_line_error(3, "arrival +5", "line 3: bad arrival value");
	expect_line_error(3, "arrival 1234567890123456789",
			  "line 3: bad arrival value");
	expect_line_error(5, "size 1.5", "line 5: bad size value");
	expect_line_error(6, "eightbit 2", "line 6: bad eightbit value");
	expect_line_error(11, "is-bounce yes", "line 11: bad is-bounce value");
	expect_line_error(12, "delay-notified -",
			  "line 12: bad delay-notified value");
	expect_line_error(8, "dsn-ret none", "line 8: bad dsn-ret value");
	expect_line_error(9, "dsn-notify never,delay",
			  "line 9: bad dsn-notify value");
	expect_line_error(9, "dsn-notify failure,",
			  "line 9: bad dsn-notify value");
	expect_line_error(9, "dsn-notify failure,failure",
			  "line 9: bad dsn-notify value");
	expect_line_error(9, "dsn-notify bogus", "line 9: bad dsn-notify value");
	expect_line_error(9, "dsn-notify ,delay", "line 9: bad dsn-notify value");
	expect_line_error(4, "sender a+2gb", "line 4: bad sender value");
	expect_line_error(4, "sender a+00b", "line 4: bad sender value");
	expect_line_error(4, "sender a=b", "line 4: bad sender value");
	expect_line_error(4, "sender a+", "line 4: bad sender value");
	expect_line_error(4, "sender a+2", "line 4: bad sender value");
	expect_line_error(4, "sender a b", "line 4: bad sender value");
	expect_line_error(7, "message-id \xc3\xa9", "line 7: bad message-id value");
	expect_line_error(10, "envid ", "line 10: bad envid value");

	/* Structure. */
	expect_line_error(4, "sender a\tb", "line 4: control character");
	expect_line_error(4, "sender a\rb", "line 4: control character");
	expect_line_error(4, "sender a\x7f", "line 4: control character");
	expect_line_error(14, NULL, "line 14: missing end line (file cut short?)");
	expect_line_error(13, NULL, "line 13: no recipient before end");
	t = text_with(0, NULL);
	expect_error(t, strlen(t) - 1, "line 14: last line has no newline");
	{
		char *more = xasprintf("%send\n", t);

		expect_error(more, strlen(more), "line 15: text after end");
		free(more);
	}
	/* A NUL octet is a control character too. */
	{
		size_t n = strlen(t);

		t[strlen("sendmx-queue 1\nid 65")] = '\0';
		expect_error(t, n, "line 2: control character");
	}
	free(t);
}

static void test_parse_errors_rcpt(void **state)
{
	(void)state;
	expect_line_error(13, "rcpt queued 0 0 0 - b@x -",
			  "line 13: rcpt: bad state \"queued\"");
	expect_line_error(13, "rcpt pending x 0 0 - b@x -",
			  "line 13: rcpt: bad attempts count");
	expect_line_error(13, "rcpt pending 2147483648 0 0 - b@x -",
			  "line 13: rcpt: bad attempts count");
	expect_line_error(13, "rcpt pending -1 0 0 - b@x -",
			  "line 13: rcpt: bad attempts count");
	expect_line_error(13, "rcpt pending 0 soon 0 - b@x -",
			  "line 13: rcpt: bad next try time");
	expect_line_error(13, "rcpt pending 0 0 -3 - b@x -",
			  "line 13: rcpt: bad last try time");
	expect_line_error(13, "rcpt pending 0 0 0 a=b b@x -",
			  "line 13: rcpt: bad orcpt");
	expect_line_error(13, "rcpt pending 0 0 0 - - -",
			  "line 13: rcpt: bad address");
	expect_line_error(13, "rcpt pending 0 0 0 - b+ZZx -",
			  "line 13: rcpt: bad address");
	expect_line_error(13, "rcpt pending 0 0 0 - b@x h=",
			  "line 13: rcpt: bad relay");
	expect_line_error(13, "rcpt pending 0 0 0 - b@x",
			  "line 13: rcpt: missing relay");
	expect_line_error(13, "rcpt pending 0",
			  "line 13: rcpt: missing next try time");
	expect_line_error(13, "rcpt pending 0 0 0 -  b@x -",
			  "line 13: rcpt: empty address");
	expect_line_error(13, "rcpt  pending 0 0 0 - b@x -",
			  "line 13: rcpt: empty state");
}

static void test_line_too_long(void **state)
{
	char *val = xmalloc(QCTL_LINE_MAX + 2);
	char *line;

	(void)state;
	memset(val, 'a', QCTL_LINE_MAX + 1);
	val[QCTL_LINE_MAX + 1] = '\0';
	/* "sender " + value: one octet over the limit. */
	line = xasprintf("sender %s", val + 7);
	assert_int_equal(strlen(line), QCTL_LINE_MAX + 1);
	expect_line_error(4, line, "line 4: line too long");
	free(line);
	/* Exactly at the limit is fine. */
	line = xasprintf("sender %s", val + 8);
	{
		char *t = text_with(4, line);
		struct qctl c;
		struct err e;

		assert_int_equal(strlen(line), QCTL_LINE_MAX);
		assert_int_equal(qctl_parse(t, strlen(t), &c, &e), ST_OK);
		assert_int_equal(strlen(c.sender), QCTL_LINE_MAX - 7);
		qctl_free(&c);
		free(t);
	}
	free(line);
	free(val);
}

static void test_format_refuses(void **state)
{
	struct qctl c;
	struct buf t;
	struct err e;
	char *huge;

	(void)state;
	buf_init(&t);
	qctl_init(&c);
	memcpy(c.id, ID, sizeof ID);
	c.sender = xstrdup("a@b");
	/* No recipient. */
	assert_int_equal(qctl_format(&c, &t, &e), ST_PERMFAIL);
	qctl_add_rcpt(&c, "r@b", NULL);
	assert_int_equal(qctl_format(&c, &t, &e), ST_OK);
	/* Bad id. */
	memcpy(c.id, "../../etc/passwd", 17);
	assert_int_equal(qctl_format(&c, &t, &e), ST_PERMFAIL);
	assert_string_equal(e.msg, "control file: bad queue id");
	memcpy(c.id, ID, sizeof ID);
	/* NEVER with another bit, negative numbers. */
	c.dsn_notify = QDSN_NOTIFY_NEVER | QDSN_NOTIFY_DELAY;
	assert_int_equal(qctl_format(&c, &t, &e), ST_PERMFAIL);
	c.dsn_notify = 0;
	c.rcpts[0].attempts = -1;
	assert_int_equal(qctl_format(&c, &t, &e), ST_PERMFAIL);
	assert_string_equal(e.msg, "control file " ID ": recipient 1 has no "
			    "address or a bad state or number");
	c.rcpts[0].attempts = 0;
	/* An address that would make a line over the limit. */
	huge = xmalloc(QCTL_LINE_MAX / 3 + 10);
	memset(huge, ' ', QCTL_LINE_MAX / 3 + 9);
	huge[QCTL_LINE_MAX / 3 + 9] = '\0';
	qctl_add_rcpt(&c, huge, NULL);
	buf_reset(&t);
	assert_int_equal(qctl_format(&c, &t, &e), ST_PERMFAIL);
	assert_string_equal(e.msg, "control file " ID ": line 14 is longer "
			    "than 16384 octets (an address or value too long)");
	free(huge);
	/* NULL sender. */
	c.nrcpts = 1;
	free(c.rcpts[1].addr);
	free(c.sender);
	c.sender = NULL;
	assert_int_equal(qctl_format(&c, &t, &e), ST_PERMFAIL);
	qctl_free(&c);
	buf_free(&t);
}

static void test_next_due_and_names(void **state)
{
	struct qctl c;

	(void)state;
	qctl_init(&c);
	assert_int_equal(qctl_next_due(&c), -1);
	qctl_add_rcpt(&c, "a@b", NULL)->next_try = 500;
	qctl_add_rcpt(&c, "c@d", NULL)->next_try = 300;
	qctl_add_rcpt(&c, "e@f", NULL)->next_try = 100;
	c.rcpts[2].state = QRCPT_SENT;
	assert_int_equal(qctl_next_due(&c), 300);
	c.rcpts[1].state = QRCPT_FAILED;
	assert_int_equal(qctl_next_due(&c), 500);
	c.rcpts[0].state = QRCPT_BOUNCED;
	assert_int_equal(qctl_next_due(&c), -1);
	assert_string_equal(qrcpt_state_name(QRCPT_PENDING), "pending");
	assert_string_equal(qrcpt_state_name(QRCPT_BOUNCED), "bounced");
	assert_true(qctl_valid_id(ID));
	assert_false(qctl_valid_id("6560F3A40A2B100F2"));
	assert_false(qctl_valid_id("6560F3A40A2B100F2AB"));
	assert_false(qctl_valid_id("6560F3A40A2B100F2a"));
	assert_false(qctl_valid_id("../../../etc/passw"));
	qctl_free(&c);
	assert_null(c.rcpts);
	assert_int_equal(c.nrcpts, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_exact_text),
		cmocka_unit_test(test_null_sender_and_absent_values),
		cmocka_unit_test(test_control_chars_in_error),
		cmocka_unit_test(test_long_error_cut),
		cmocka_unit_test(test_parse_errors_header),
		cmocka_unit_test(test_parse_errors_rcpt),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_format_refuses),
		cmocka_unit_test(test_next_due_and_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
