/* test_util.c - buffers, control replacement, poll_fd, strlcpy. */
#include "ac_config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <poll.h>

#include <cmocka.h>

#include "util.h"

static void test_buf_grows_and_stays_terminated(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	for (int i = 0; i < 1000; i++)
		buf_appends(&b, "abc");
	assert_int_equal(b.len, 3000);
	assert_int_equal(b.data[b.len], '\0');
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	buf_appendf(&b, "%s=%d", "n", 42);
	assert_string_equal(b.data, "n=42");
	buf_append(&b, "\0x", 2);  /* binary data keeps its length */
	assert_int_equal(b.len, 6);
	buf_free(&b);
	assert_null(b.data);
}

static void test_replace_controls(void **state)
{
	char s[] = "a\r\nb\x1b[31mc\x7f" "d\te";

	(void)state;
	replace_controls(s, strlen(s), '?');
	assert_string_equal(s, "a??b?[31mc?d?e");
	/* n bounds it, and a NUL inside is replaced too */
	char t[] = { 'x', '\0', '\n', 'y', '\n' };
	replace_controls(t, 4, ' ');
	assert_memory_equal(t, "x  y\n", 5);
	/* UTF-8 text stays; C1 controls, encoded (C2 9B) or raw (9B, CSI
	 * on a Latin-1 terminal), and bytes that are not UTF-8 go. */
	char u[] = "M\xc3\xbcller \xe2\x82\xac \xc2\x9b" "2J \x9b" "2J \xff\xc3 "
		   "\xf0\x9f\x98\x80";
	replace_controls(u, strlen(u), '?');
	assert_string_equal(u, "M\xc3\xbcller \xe2\x82\xac ??2J ?2J ?? \xf0\x9f\x98\x80");
	/* overlong "/" (C0 AF) and a surrogate (ED A0 80) are not UTF-8 */
	char o[] = "\xc0\xaf\xed\xa0\x80";
	replace_controls(o, strlen(o), '?');
	assert_string_equal(o, "?????");
}

static void test_write_full(void **state)
{
	char big[200000], back[200000];
	int p[2];
	FILE *tmp = tmpfile();

	(void)state;
	assert_non_null(tmp);
	memset(big, 'x', sizeof big);
	assert_true(write_full(fileno(tmp), big, sizeof big));
	assert_int_equal(pread(fileno(tmp), back, sizeof back, 0),
			 (ssize_t)sizeof back);
	assert_memory_equal(big, back, sizeof big);
	fclose(tmp);
	/* A pipe nobody reads is not a file: the reader gone, EPIPE. */
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	assert_false(write_full(p[1], "a", 1));
	assert_int_equal(errno, EPIPE);
	close(p[1]);
	assert_false(write_full(-1, "a", 1));
	assert_int_equal(errno, EBADF);
}

static void test_has_control_chars(void **state)
{
	(void)state;
	assert_false(has_control_chars("alice@example.org"));
	assert_true(has_control_chars("a\r\nRCPT TO:<x>"));
	assert_true(has_control_chars("tab\there"));
	assert_true(has_control_chars("del\x7f"));
}

static void test_ascii_case(void **state)
{
	(void)state;
	assert_int_equal(ascii_strcasecmp("Example.ORG", "example.org"), 0);
	assert_true(ascii_strcasecmp("a", "b") < 0);
	assert_int_equal(ascii_strncasecmp("BCC: x", "bcc:y", 4), 0);
}

static void test_xasprintf_and_strlcpy(void **state)
{
	char *s = xasprintf("%s@%s", "root", "web1.example.org");
	char small[5];

	(void)state;
	assert_string_equal(s, "root@web1.example.org");
	free(s);
	assert_int_equal(strlcpy(small, "truncated", sizeof small), 9);
	assert_string_equal(small, "trun");
}

static void test_poll_fd(void **state)
{
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	/* Nothing to read and a deadline already passed: 0, not a hang. */
	assert_int_equal(poll_fd(p[0], POLLIN, now_ms() - 1), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(poll_fd(p[0], POLLIN, now_ms() + 1000), 1);
	assert_int_equal(poll_fd(p[1], POLLOUT, -1), 1);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_grows_and_stays_terminated),
		cmocka_unit_test(test_replace_controls),
		cmocka_unit_test(test_write_full),
		cmocka_unit_test(test_has_control_chars),
		cmocka_unit_test(test_ascii_case),
		cmocka_unit_test(test_xasprintf_and_strlcpy),
		cmocka_unit_test(test_poll_fd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
