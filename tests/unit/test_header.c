/* test_header.c - header block: fields, folding, find/remove/unfold. */
#include "ac_config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "header.h"

static int setup(void **state)
{
	struct header_block *h = malloc(sizeof *h);

	if (h == NULL)
		return -1;
	header_init(h);
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	header_free(*state);
	free(*state);
	return 0;
}

static void test_line_is_field(void **state)
{
	(void)state;
	assert_true(header_line_is_field("Subject: hi", 11));
	assert_true(header_line_is_field("X-A:", 4));
	assert_true(header_line_is_field("Subject : hi", 12));  /* obs */
	assert_true(header_line_is_field("~!#$%&'*+-./09=?@^_`{|}:", 25));
	assert_false(header_line_is_field(": x", 3));
	assert_false(header_line_is_field("No colon here", 13));
	assert_false(header_line_is_field("From alice Mon Jan 1", 20));
	assert_false(header_line_is_field(" folded: x", 10));
	assert_false(header_line_is_field("Sub ject: x", 11));
	assert_false(header_line_is_field("Sub\x01ject: x", 11));
	assert_false(header_line_is_field("\xc3\xa4: x", 5));
	assert_false(header_line_is_field("", 0));
	/* len bounds the look: the colon beyond it does not count. */
	assert_false(header_line_is_field("Subject: x", 7));
}

static void test_add_raw(void **state)
{
	struct header_block *h = *state;

	assert_true(header_add_raw(h, "Subject: hello"));
	assert_true(header_add_raw(h, "X-Obs : v"));
	assert_false(header_add_raw(h, "not a field"));
	assert_false(header_add_raw(h, ":empty name"));
	assert_int_equal(h->n, 2);
	assert_string_equal(h->fields[0].name, "Subject");
	assert_string_equal(h->fields[0].raw, "Subject: hello");
	assert_string_equal(h->fields[1].name, "X-Obs");
	assert_false(h->fields[0].removed);
	assert_int_equal(h->bytes, strlen("Subject: hello") + strlen("X-Obs : v"));
}

static void test_continue_and_value(void **state)
{
	struct header_block *h = *state;
	char *v;

	/* A folded field is added whole, as intake builds it. */
	assert_true(header_add_raw(h, "To: a@example.org,\r\n b@example.org,\r\n"
				      "\tc@example.org"));
	assert_string_equal(h->fields[0].raw,
			    "To: a@example.org,\r\n b@example.org,\r\n"
			    "\tc@example.org");
	v = header_value(h, 0);
	assert_string_equal(v, "a@example.org, b@example.org,\tc@example.org");
	free(v);
}

static void test_value_leading_fold(void **state)
{
	struct header_block *h = *state;
	char *v;

	assert_true(header_add_raw(h, "Subject:\r\n   text here"));
	v = header_value(h, 0);
	assert_string_equal(v, "text here");
	free(v);
	assert_true(header_add_raw(h, "X-Empty:"));
	v = header_value(h, 1);
	assert_string_equal(v, "");
	free(v);
	assert_true(header_add_raw(h, "X-Colon: a:b"));
	v = header_value(h, 2);
	assert_string_equal(v, "a:b");
	free(v);
}

static void test_find_remove(void **state)
{
	struct header_block *h = *state;

	assert_true(header_add_raw(h, "To: a@x.org"));
	assert_true(header_add_raw(h, "BCC: hidden@x.org"));
	assert_true(header_add_raw(h, "Subject: s"));
	assert_true(header_add_raw(h, "bcc: other@x.org"));
	assert_int_equal(header_find(h, "bcc", 0), 1);
	assert_int_equal(header_find(h, "Bcc", 2), 3);
	assert_int_equal(header_find(h, "Cc", 0), -1);
	assert_int_equal(header_find(h, "To", 5), -1);
	assert_true(header_has(h, "SUBJECT"));
	assert_int_equal(header_remove(h, "Bcc"), 2);
	assert_true(h->fields[1].removed);
	assert_true(h->fields[3].removed);
	assert_false(header_has(h, "Bcc"));
	assert_int_equal(header_find(h, "bcc", 0), -1);
	assert_int_equal(header_remove(h, "Bcc"), 0);
	/* "Bcc" does not match a longer name. */
	assert_true(header_add_raw(h, "Bcc-Like: x"));
	assert_int_equal(header_remove(h, "Bcc"), 0);
}

static void test_add(void **state)
{
	struct header_block *h = *state;

	header_add(h, "Date", "Sun, 22 Nov 2026 15:11:39 +0000", false);
	header_add(h, "Received", "from x", true);
	header_add(h, "X-Empty", "", false);
	assert_int_equal(h->n, 3);
	assert_string_equal(h->fields[0].raw, "Received: from x");
	assert_string_equal(h->fields[1].raw,
			    "Date: Sun, 22 Nov 2026 15:11:39 +0000");
	assert_string_equal(h->fields[2].raw, "X-Empty:");
	assert_string_equal(h->fields[0].name, "Received");
	assert_int_equal(header_find(h, "date", 0), 1);
}

static void test_many(void **state)
{
	struct header_block *h = *state;
	char line[64];
	int i;

	for (i = 0; i < 1000; i++) {
		snprintf(line, sizeof line, "X-N%d: %d", i, i);
		assert_true(header_add_raw(h, line));
	}
	header_add(h, "First", "1", true);
	assert_int_equal(h->n, 1001);
	assert_string_equal(h->fields[0].name, "First");
	assert_string_equal(h->fields[1000].raw, "X-N999: 999");
	assert_int_equal(header_find(h, "x-n500", 0), 501);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_is_field),
		cmocka_unit_test_setup_teardown(test_add_raw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_continue_and_value, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_value_leading_fold, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_find_remove, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_add, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
