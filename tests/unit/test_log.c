/* test_log.c - the log file sink: line format, queue id, no controls. */
#include "ac_config.h"

#include <fcntl.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "util.h"

static char dir[] = "/tmp/test_log.XXXXXX";

static char *slurp(const char *path)
{
	struct buf b;
	char chunk[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	buf_init(&b);
	buf_appends(&b, "");
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		buf_append(&b, chunk, (size_t)n);
	close(fd);
	return b.data;
}

static void assert_matches(const char *text, const char *pattern)
{
	regex_t re;
	int rc;

	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE), 0);
	rc = regexec(&re, text, 0, NULL, 0);
	regfree(&re);
	if (rc != 0)
		fail_msg("'%s' does not match /%s/", text, pattern);
}

static void test_line_format(void **state)
{
	char *path = xasprintf("%s/a.log", dir);
	char *text, *want;
	struct stat sb;

	(void)state;
	log_open(path, false, "alice");
	log_info("6B03191047B2", "to=<%s>, status=%s", "bob@example.org", "sent");
	log_error(NULL, "refused: %s", "no recipients");
	log_close();
	text = slurp(path);
	want = xasprintf("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
			 "[+-][0-9]{4} sendmx\\[%ld\\]: user=alice: 6B03191047B2: "
			 "to=<bob@example.org>, status=sent\n"
			 "[^\n]* sendmx\\[%ld\\]: user=alice: refused: no "
			 "recipients\n$", (long)getpid(), (long)getpid());
	assert_matches(text, want);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777 & ~0640, 0);  /* never world-readable */
	free(want);
	free(text);
	unlink(path);
	free(path);
}

static void test_peer_text_cannot_forge_lines(void **state)
{
	char *path = xasprintf("%s/b.log", dir);
	char *text;

	(void)state;
	log_open(path, false, "bob\nuser=root");
	log_info("Q1", "status=deferred (%s)",
		 "451 busy\r\n2026-01-01T00:00:00+0000 sendmx[1]: forged\x1b[2J");
	log_close();
	text = slurp(path);
	/* One line: CR, LF and escapes became spaces. */
	assert_non_null(strchr(text, '\n'));
	assert_int_equal(strchr(text, '\n')[1], '\0');
	assert_null(strchr(text, '\r'));
	assert_null(strchr(text, '\x1b'));
	assert_non_null(strstr(text, "user=bob user=root: Q1: status=deferred "
				     "(451 busy  2026-01-01"));
	free(text);
	unlink(path);
	free(path);
}

static void test_unopenable_file_is_skipped(void **state)
{
	char *path = xasprintf("%s/no-such-dir/c.log", dir);
	char *errpath = xasprintf("%s/stderr", dir);
	char *text;
	int saved = dup(2);
	int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	(void)state;
	assert_true(fd >= 0 && saved >= 0);
	dup2(fd, 2);
	log_open(path, false, "carol");
	log_info("Q2", "this line goes nowhere");
	log_close();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	text = slurp(errpath);
	assert_non_null(strstr(text, "sendmx: cannot open log file "));
	assert_non_null(strstr(text, "no-such-dir/c.log"));
	assert_null(strstr(text, "goes nowhere"));
	free(text);
	unlink(errpath);
	free(errpath);
	free(path);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_format),
		cmocka_unit_test(test_peer_text_cannot_forge_lines),
		cmocka_unit_test(test_unopenable_file_is_skipped),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
