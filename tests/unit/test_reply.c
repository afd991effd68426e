/* test_reply.c - SMTP reply parsing (RFC 5321 4.2) and its bounds. */
#include "ac_config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reply.h"

static enum reply_feed feed(struct smtp_reply *r, const char *line)
{
	return reply_feed_line(r, line, strlen(line));
}

static void test_single_line(void **state)
{
	struct smtp_reply r;

	(void)state;
	reply_init(&r);
	assert_int_equal(feed(&r, "250 OK"), REPLY_COMPLETE);
	assert_int_equal(r.code, 250);
	assert_int_equal(reply_class(&r), 2);
	assert_string_equal(r.text.data, "OK");
	assert_int_equal(r.nlines, 1);
	assert_string_equal(r.enhanced, "");
	reply_free(&r);
}

static void test_multi_line(void **state)
{
	struct smtp_reply r;

	(void)state;
	reply_init(&r);
	assert_int_equal(feed(&r, "250-mx.example.org Hello"), REPLY_MORE);
	assert_int_equal(feed(&r, "250-PIPELINING"), REPLY_MORE);
	assert_int_equal(feed(&r, "250 SIZE 1000"), REPLY_COMPLETE);
	assert_int_equal(r.code, 250);
	assert_int_equal(r.nlines, 3);
	assert_string_equal(r.text.data,
			    "mx.example.org Hello\nPIPELINING\nSIZE 1000");
	reply_reset(&r);
	assert_int_equal(r.nlines, 0);
	assert_int_equal(feed(&r, "354 go ahead"), REPLY_COMPLETE);
	assert_int_equal(r.code, 354);
	assert_string_equal(r.text.data, "go ahead");
	reply_free(&r);
}

static void test_bare_code(void **state)
{
	struct smtp_reply r;

	(void)state;
	reply_init(&r);
	assert_int_equal(feed(&r, "250"), REPLY_COMPLETE);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.text.data, "");
	reply_reset(&r);
	/* A bare code also ends a multi-line reply. */
	assert_int_equal(feed(&r, "220-first"), REPLY_MORE);
	assert_int_equal(feed(&r, "220"), REPLY_COMPLETE);
	assert_string_equal(r.text.data, "first\n");
	reply_free(&r);
}

static void test_enhanced(void **state)
{
	struct smtp_reply r;

	(void)state;
	reply_init(&r);
	assert_int_equal(feed(&r, "550 5.1.1 <bob@x>: user unknown"),
			 REPLY_COMPLETE);
	assert_string_equal(r.enhanced, "5.1.1");
	assert_string_equal(r.text.data, "5.1.1 <bob@x>: user unknown");

	reply_reset(&r);
	feed(&r, "250 2.0.0");
	assert_string_equal(r.enhanced, "2.0.0");

	reply_reset(&r);
	feed(&r, "452 4.123.456 too many");
	assert_string_equal(r.enhanced, "4.123.456");

	/* Class must agree with the reply code. */
	reply_reset(&r);
	feed(&r, "550 4.1.1 odd");
	assert_string_equal(r.enhanced, "");
	/* 3xx replies carry no enhanced code. */
	reply_reset(&r);
	feed(&r, "354 3.0.0 go");
	assert_string_equal(r.enhanced, "");
	/* Not a code: too many digits, missing part, no space after. */
	reply_reset(&r);
	feed(&r, "250 2.1234.0 x");
	assert_string_equal(r.enhanced, "");
	reply_reset(&r);
	feed(&r, "250 2.1 x");
	assert_string_equal(r.enhanced, "");
	reply_reset(&r);
	feed(&r, "250 2.1.0x");
	assert_string_equal(r.enhanced, "");
	reply_reset(&r);
	feed(&r, "250 mail.example.org");
	assert_string_equal(r.enhanced, "");
	/* Only the first line counts. */
	reply_reset(&r);
	feed(&r, "250-hello");
	feed(&r, "250 2.0.0 ok");
	assert_string_equal(r.enhanced, "");
	reply_free(&r);
}

static void test_bad_lines(void **state)
{
	static const char *const bad[] = {
		"", "25", "abc hello", "650 no", "150 no", "099 no", "2x0 no",
		"250xhello", "250_hello", "25 0 hello"
	};
	struct smtp_reply r;
	size_t i;

	(void)state;
	reply_init(&r);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		reply_reset(&r);
		assert_int_equal(feed(&r, bad[i]), REPLY_BAD);
	}
	reply_free(&r);
}

static void test_code_mismatch(void **state)
{
	struct smtp_reply r;

	(void)state;
	reply_init(&r);
	assert_int_equal(feed(&r, "250-first"), REPLY_MORE);
	assert_int_equal(feed(&r, "251 second"), REPLY_BAD);
	reply_reset(&r);
	assert_int_equal(feed(&r, "250-first"), REPLY_MORE);
	assert_int_equal(feed(&r, "550 second"), REPLY_BAD);
	reply_free(&r);
}

static void test_line_bound(void **state)
{
	struct smtp_reply r;
	size_t i;

	(void)state;
	reply_init(&r);
	for (i = 0; i < REPLY_MAX_LINES; i++)
		assert_int_equal(feed(&r, "250-x"), REPLY_MORE);
	assert_int_equal(r.nlines, 200);
	assert_int_equal(feed(&r, "250 last"), REPLY_TOO_BIG);

	/* Exactly 200 lines is fine. */
	reply_reset(&r);
	for (i = 0; i < REPLY_MAX_LINES - 1; i++)
		assert_int_equal(feed(&r, "250-x"), REPLY_MORE);
	assert_int_equal(feed(&r, "250 last"), REPLY_COMPLETE);
	assert_int_equal(r.nlines, 200);
	reply_free(&r);
}

static void test_byte_bound(void **state)
{
	struct smtp_reply r;
	size_t linelen = 4 + 1000;
	char *line = malloc(linelen + 1);
	size_t i;
	enum reply_feed f = REPLY_MORE;

	(void)state;
	memcpy(line, "250-", 4);
	memset(line + 4, 'a', 1000);
	line[linelen] = '\0';
	reply_init(&r);
	/* 65 lines of 1000 bytes plus separators pass 64 KiB. */
	for (i = 0; i < 70 && f == REPLY_MORE; i++)
		f = reply_feed_line(&r, line, linelen);
	assert_int_equal(f, REPLY_TOO_BIG);
	assert_int_equal(i, 66);
	assert_true(r.text.len <= REPLY_MAX_BYTES);
	free(line);

	/* One line of exactly 64 KiB of text is kept; one byte more is not. */
	line = malloc(4 + REPLY_MAX_BYTES + 2);
	memcpy(line, "250 ", 4);
	memset(line + 4, 'b', REPLY_MAX_BYTES + 1);
	reply_reset(&r);
	assert_int_equal(reply_feed_line(&r, line, 4 + REPLY_MAX_BYTES),
			 REPLY_COMPLETE);
	assert_int_equal(r.text.len, REPLY_MAX_BYTES);
	reply_reset(&r);
	assert_int_equal(reply_feed_line(&r, line, 4 + REPLY_MAX_BYTES + 1),
			 REPLY_TOO_BIG);
	free(line);
	reply_free(&r);
}

static void test_control_bytes(void **state)
{
	static const char line[] = "550 bad\0nul\r\x1b[31m\x7f end";
	struct smtp_reply r;

	(void)state;
	reply_init(&r);
	assert_int_equal(reply_feed_line(&r, line, sizeof line - 1),
			 REPLY_COMPLETE);
	assert_int_equal(r.text.len, sizeof line - 1 - 4);
	assert_memory_equal(r.text.data, "bad?nul??[31m? end", r.text.len);
	reply_free(&r);
}

static void test_summary(void **state)
{
	struct smtp_reply r;
	char *s;

	(void)state;
	reply_init(&r);
	feed(&r, "550-5.1.1 first line text");
	feed(&r, "550 5.1.1 second line");
	s = reply_summary(&r);
	assert_string_equal(s, "550 5.1.1 first line text / second line");
	free(s);

	reply_reset(&r);
	feed(&r, "250");
	s = reply_summary(&r);
	assert_string_equal(s, "250");
	free(s);

	reply_reset(&r);
	feed(&r, "421-a\tb");
	feed(&r, "421-");
	feed(&r, "421 c");
	s = reply_summary(&r);
	assert_string_equal(s, "421 a?b / c");
	free(s);

	/* Without enhanced codes the later lines are kept whole. */
	reply_reset(&r);
	feed(&r, "250-one");
	feed(&r, "250 2.0.0 two");
	s = reply_summary(&r);
	assert_string_equal(s, "250 one / 2.0.0 two");
	free(s);
	reply_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_line),
		cmocka_unit_test(test_multi_line),
		cmocka_unit_test(test_bare_code),
		cmocka_unit_test(test_enhanced),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_code_mismatch),
		cmocka_unit_test(test_line_bound),
		cmocka_unit_test(test_byte_bound),
		cmocka_unit_test(test_control_bytes),
		cmocka_unit_test(test_summary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
