/* test_cli.c - the sendmail command line as real callers write it. */
#include "ac_config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cli.h"

#define MAXARGS 32

/* Parses a NULL-terminated list of words; argv lives in *words. */
struct parsed {
	char *words[MAXARGS];
	struct invocation inv;
	struct err err;
	enum status st;
};

static void parse_words(struct parsed *p, const char *first, ...)
{
	va_list ap;
	const char *w;
	int n = 0;

	memset(p, 0, sizeof *p);
	va_start(ap, first);
	for (w = first; w != NULL && n < MAXARGS - 1; w = va_arg(ap, const char *))
		p->words[n++] = (char *)w;
	va_end(ap);
	p->words[n] = NULL;
	p->st = cli_parse(n, p->words, &p->inv, &p->err);
}

static void done(struct parsed *p)
{
	if (p->st == ST_OK)
		cli_free(&p->inv);
}

static bool has_ignored(const struct invocation *inv, const char *prefix)
{
	size_t k;

	for (k = 0; k < inv->nignored; k++)
		if (strncmp(inv->ignored[k], prefix, strlen(prefix)) == 0)
			return true;
	return false;
}

static void test_cron_line(void **state)
{
	struct parsed p;

	(void)state;
	parse_words(&p, "/usr/sbin/sendmail", "-i", "-FCronDaemon",
		    "-B8BITMIME", "-oem", "root", NULL);
	assert_int_equal(p.st, ST_OK);
	assert_string_equal(p.inv.progname, "sendmail");
	assert_int_equal(p.inv.mode, MODE_DELIVER);
	assert_true(p.inv.ignore_dots);
	assert_false(p.inv.extract_recipients);
	assert_string_equal(p.inv.full_name, "CronDaemon");
	assert_null(p.inv.sender);
	assert_int_equal(p.inv.nrecipients, 1);
	assert_string_equal(p.inv.recipients[0], "root");
	assert_int_equal(p.inv.nignored, 2);
	assert_string_equal(p.inv.ignored[0], "ignoring -B 8BITMIME (body type "
			    "is detected from the message)");
	assert_true(has_ignored(&p.inv, "ignoring -oem ("));
	done(&p);
}

static void test_t_i(void **state)
{
	struct parsed p;

	(void)state;
	parse_words(&p, "sendmail", "-t", "-i", NULL);
	assert_int_equal(p.st, ST_OK);
	assert_true(p.inv.extract_recipients);
	assert_true(p.inv.ignore_dots);
	assert_int_equal(p.inv.nrecipients, 0);
	assert_int_equal(p.inv.nignored, 0);
	assert_int_equal(p.inv.delivery_mode, 0);
	assert_null(p.inv.config_path);
	done(&p);
}

static void test_clustered_flags(void **state)
{
	struct parsed p;

	(void)state;
	parse_words(&p, "sendmail", "-ti", "-vfme@example.org", NULL);
	assert_int_equal(p.st, ST_OK);
	assert_true(p.inv.extract_recipients);
	assert_true(p.inv.ignore_dots);
	assert_true(p.inv.verbose);
	assert_string_equal(p.inv.sender, "me@example.org");
	done(&p);
}

static void test_sender_detached(void **state)
{
	struct parsed p;

	(void)state;
	parse_words(&p, "sendmail", "-t", "-i", "-f", "bounce@example.org",
		    NULL);
	assert_int_equal(p.st, ST_OK);
	assert_string_equal(p.inv.sender, "bounce@example.org");
	assert_int_equal(p.inv.nrecipients, 0);
	done(&p);
}

static void test_sender_attached_and_r(void **state)
{
	struct parsed p;

	(void)state;
	parse_words(&p, "sendmx", "-fa@b", "x@y", NULL);
	assert_int_equal(p.st, ST_OK);
	assert_string_equal(p.inv.sender, "a@b");
	assert_int_equal(p.inv.nrecipients, 1);
	done(&p);

	parse_words(&p, "sendmx", "-r", "c@d", "x@y", NULL);
	assert_int_equal(p.st, ST_OK);
	assert_string_equal(p.inv.sender, "c@d");
	done(&p);

	parse_words(&p, "sendmx", "-rc@d", NULL);
	assert_int_equal(p.st, ST_OK);
	assert_string_equal(p.inv.sender, "c@d");
	done(&p);

	/* Verbatim: main parses the address. */
	parse_words(&p, "sendmx", "-f", "Ann <ann@example.org>", NULL);
	assert_int_equal(p.st, ST_OK);
	assert_string_equal(p.inv.sender, "Ann <ann@example.org>");
	done(&p);
}

static void test_null_sender(void **state)
{
	struct parsed p;

	(void)state;
	parse_words(&p, "sendmail", "-f", "<>", "-t", NULL);
	assert_int_equal(p.st, ST_OK);
	assert_non_null(p.inv.sender);
	assert_string_equal(p.inv.sender, "");
	assert_true(p.inv.extract_recipients);
	done(&p);

	parse_words(&p, "sendmail", "-f<>", NULL);
	assert_int_equal(p.st, ST_OK);
	assert_string_equal(p.inv.sender, "");
	done(&p);
}

static void test_double_dash(void **state)
{
	struct parsed p;

	(void)state;
	parse_words(&p, "sendmail", "-i", "--", "rcpt", "-t", NULL);
	assert_int_equal(p.st, ST_OK);
	assert_true(p.inv.ignore_dots);
	assert_false(p.inv.extract_recipients);
	assert_int_equal(p.inv.nrecipients, 2);
	assert_string_equal(p.inv.recipients[0], "rcpt");
	assert_string_equal(p.inv.recipients[1], "-t");
	done(&p);
}

static void test_first_operand_ends_options(void **state)
{
	struct parsed p;

	(void)state;
	parse_words(&p, "sendmail", "a@x, b@y", "-t", NULL);
	assert_int_equal(p.st, ST_OK);
	assert_false(p.inv.extract_recipients);
	assert_int_equal(p.inv.nrecipients, 2);
	assert_string_equal(p.inv.recipients[0], "a@x, b@y");
	assert_string_equal(p.inv.recipients[1], "-t");
	done(&p);
}

static void test_oi_f_t(void **state)
{
	struct parsed p;

	(void)state;
	parse_words(&p, "sendmail", "-oi", "-f", "a@b", "-t", NULL);
	assert_int_equal(p.st, ST_OK);
	assert_true(p.inv.ignore_dots);
	assert_true(p.inv.extract_recipients);
	assert_string_equal(p.inv.sender, "a@b");
	assert_int_equal(p.inv.nignored, 0);
	done(&p);
}

static void test_bs(void **state)
{
	struct parsed p;

	(void)state;
	parse_words(&p, "sendmail", "-bs", NULL);
	assert_int_equal(p.st, ST_OK);
	assert_int_equal(p.inv.mode, MODE_SMTP);
	done(&p);
}

static void test_modes(void **state)
{
	struct parsed p;

	(void)state;
	parse_words(&p, "sendmx", "-bv", "a@b", NULL);
	assert_int_equal(p.st, ST_OK);
	assert_int_equal(p.inv.mode, MODE_VERIFY);
	assert_int_equal(p.inv.nrecipients, 1);
	done(&p);
	parse_words(&p, "sendmx", "-bp", NULL);
	assert_int_equal(p.inv.mode, MODE_PRINT_QUEUE);
	done(&p);
	parse_words(&p, "sendmx", "-bi", NULL);
	assert_int_equal(p.inv.mode, MODE_NEWALIASES);
	done(&p);
	parse_words(&p, "sendmx", "-bp", "-bm", NULL);
	assert_int_equal(p.inv.mode, MODE_DELIVER);
	done(&p);
	parse_words(&p, "sendmx", "--version", NULL);
	assert_int_equal(p.st, ST_OK);
	assert_int_equal(p.inv.mode, MODE_VERSION);
	done(&p);
}

static void test_queue_run(void **state)
{
	struct parsed p;

	(void)state;
	parse_words(&p, "sendmx", "-q", NULL);
	assert_int_equal(p.st, ST_OK);
	assert_int_equal(p.inv.mode, MODE_QUEUE_RUN);
	assert_string_equal(p.inv.queue_arg, "");
	done(&p);

	parse_words(&p, "sendmx", "-q15m", NULL);
	assert_int_equal(p.inv.mode, MODE_QUEUE_RUN);
	assert_string_equal(p.inv.queue_arg, "15m");
	done(&p);

	/* -q never takes the next word. */
	parse_words(&p, "sendmx", "-qIfoo", "-v", NULL);
	assert_int_equal(p.st, ST_OK);
	assert_string_equal(p.inv.queue_arg, "Ifoo");
	assert_true(p.inv.verbose);
	done(&p);
}

static void test_delivery_mode(void **state)
{
	struct parsed p;

	(void)state;
	parse_words(&p, "sendmail", "-odi", "-oem", "-oi", "-t", NULL);
	assert_int_equal(p.st, ST_OK);
	assert_int_equal(p.inv.delivery_mode, 'i');
	assert_true(p.inv.ignore_dots);
	assert_true(p.inv.extract_recipients);
	assert_int_equal(p.inv.nignored, 1);
	assert_true(has_ignored(&p.inv, "ignoring -oem"));
	done(&p);

	parse_words(&p, "sendmail", "-odb", NULL);
	assert_int_equal(p.inv.delivery_mode, 'b');
	assert_int_equal(p.inv.nignored, 0);
	done(&p);
	parse_words(&p, "sendmail", "-odq", NULL);
	assert_int_equal(p.inv.delivery_mode, 'q');
	done(&p);
	parse_words(&p, "sendmail", "-odd", NULL);
	assert_int_equal(p.inv.delivery_mode, 'd');
	done(&p);

	parse_words(&p, "sendmail", "-odx", NULL);
	assert_int_equal(p.st, ST_PERMFAIL);
	assert_non_null(strstr(p.err.msg, "-odx"));
}

static void test_dsn_and_friends_ignored(void **state)
{
	struct parsed p;

	(void)state;
	parse_words(&p, "sendmail", "-N", "never", "-R", "hdrs", "-V", "envid",
		    "-L", "tag", "-G", "-U", "-h", "17", "rcpt", NULL);
	assert_int_equal(p.st, ST_OK);
	assert_int_equal(p.inv.nrecipients, 1);
	assert_string_equal(p.inv.recipients[0], "rcpt");
	assert_int_equal(p.inv.nignored, 4);
	assert_string_equal(p.inv.dsn_notify, "never");
	assert_string_equal(p.inv.dsn_ret, "hdrs");
	assert_string_equal(p.inv.envid, "envid");
	assert_true(has_ignored(&p.inv, "ignoring -L tag ("));
	assert_true(has_ignored(&p.inv, "ignoring -G ("));
	assert_true(has_ignored(&p.inv, "ignoring -U ("));
	assert_true(has_ignored(&p.inv, "ignoring -h 17 ("));
	done(&p);

	/* Attached values, -n and -m. */
	parse_words(&p, "sendmail", "-Nsuccess,failure", "-Vx", "-Btype",
		    "-Ltag2", "-h3", "-n", "-m", "-oQ/var/spool", NULL);
	assert_int_equal(p.st, ST_OK);
	assert_int_equal(p.inv.nrecipients, 0);
	assert_int_equal(p.inv.nignored, 6);
	assert_string_equal(p.inv.dsn_notify, "success,failure");
	assert_string_equal(p.inv.envid, "x");
	assert_true(has_ignored(&p.inv, "ignoring -B type ("));
	assert_true(has_ignored(&p.inv, "ignoring -h 3 ("));
	assert_true(has_ignored(&p.inv, "ignoring -n ("));
	assert_true(has_ignored(&p.inv, "ignoring -m ("));
	assert_true(has_ignored(&p.inv, "ignoring -oQ/var/spool ("));
	done(&p);
}

static void test_dsn_options_checked(void **state)
{
	struct parsed p;

	(void)state;
	parse_words(&p, "sendmail", "-N", "never,delay", "a", NULL);
	assert_int_equal(p.st, ST_PERMFAIL);
	assert_non_null(strstr(p.err.msg, "-N takes never"));
	parse_words(&p, "sendmail", "-N", "sometimes", "a", NULL);
	assert_int_equal(p.st, ST_PERMFAIL);
	parse_words(&p, "sendmail", "-R", "body", "a", NULL);
	assert_int_equal(p.st, ST_PERMFAIL);
	assert_non_null(strstr(p.err.msg, "-R takes full or hdrs"));
	parse_words(&p, "sendmail", "-V", "a b", "a", NULL);
	assert_int_equal(p.st, ST_PERMFAIL);
	parse_words(&p, "sendmail", "-N", "FAILURE,delay", "-R", "FULL", "a",
		    NULL);
	assert_int_equal(p.st, ST_OK);
	assert_string_equal(p.inv.dsn_notify, "FAILURE,delay");
	assert_string_equal(p.inv.dsn_ret, "FULL");
	done(&p);
}

static void test_ignored_value_sanitized(void **state)
{
	struct parsed p;

	(void)state;
	parse_words(&p, "sendmail", "-L", "a\nb\x1b", NULL);
	assert_int_equal(p.st, ST_OK);
	assert_int_equal(p.inv.nignored, 1);
	assert_true(has_ignored(&p.inv, "ignoring -L a?b? ("));
	done(&p);
}

static void test_config_path_and_verbose(void **state)
{
	struct parsed p;

	(void)state;
	parse_words(&p, "sendmx", "-C", "/tmp/x.conf", "-v", "a@b", NULL);
	assert_int_equal(p.st, ST_OK);
	assert_string_equal(p.inv.config_path, "/tmp/x.conf");
	assert_true(p.inv.verbose);
	done(&p);

	parse_words(&p, "sendmx", "-Ctest.conf", "-F", "Ann B", NULL);
	assert_int_equal(p.st, ST_OK);
	assert_string_equal(p.inv.config_path, "test.conf");
	assert_string_equal(p.inv.full_name, "Ann B");
	done(&p);
}

static void test_argument_not_recipient(void **state)
{
	struct parsed p;

	(void)state;
	/* A value that looks like a flag is still the value, as getopt does. */
	parse_words(&p, "sendmail", "-f", "-t", "bob", NULL);
	assert_int_equal(p.st, ST_OK);
	assert_string_equal(p.inv.sender, "-t");
	assert_false(p.inv.extract_recipients);
	assert_int_equal(p.inv.nrecipients, 1);
	assert_string_equal(p.inv.recipients[0], "bob");
	done(&p);
}

static void test_recipients_collected(void **state)
{
	struct parsed p;

	(void)state;
	parse_words(&p, "sendmail", "-i", "a@x", "\"Ann B\" <ann@example.org>",
		    "c@z", NULL);
	assert_int_equal(p.st, ST_OK);
	assert_int_equal(p.inv.nrecipients, 3);
	assert_string_equal(p.inv.recipients[0], "a@x");
	assert_string_equal(p.inv.recipients[1], "\"Ann B\" <ann@example.org>");
	assert_string_equal(p.inv.recipients[2], "c@z");
	done(&p);
}

static void test_unknown_flags(void **state)
{
	struct parsed p;

	(void)state;
	parse_words(&p, "sendmail", "-X", "/tmp/log", "a@b", NULL);
	assert_int_equal(p.st, ST_PERMFAIL);
	assert_string_equal(p.err.msg, "unknown option -X");

	parse_words(&p, "sendmail", "-tZ", NULL);
	assert_int_equal(p.st, ST_PERMFAIL);
	assert_string_equal(p.err.msg, "unknown option -Z");

	parse_words(&p, "sendmail", "--help", NULL);
	assert_int_equal(p.st, ST_PERMFAIL);
	assert_string_equal(p.err.msg, "unknown option --help");
}

static void test_unsupported_modes(void **state)
{
	struct parsed p;

	(void)state;
	parse_words(&p, "sendmail", "-bd", NULL);
	assert_int_equal(p.st, ST_PERMFAIL);
	assert_string_equal(p.err.msg,
			    "mode -bd is not supported: sendmx is not a daemon");

	parse_words(&p, "sendmail", "-bD", NULL);
	assert_int_equal(p.st, ST_PERMFAIL);

	parse_words(&p, "sendmail", "-bt", NULL);
	assert_int_equal(p.st, ST_PERMFAIL);
	assert_string_equal(p.err.msg, "mode -bt is not supported");

	parse_words(&p, "sendmail", "-bP", NULL);
	assert_int_equal(p.st, ST_PERMFAIL);
	parse_words(&p, "sendmail", "-bh", NULL);
	assert_int_equal(p.st, ST_PERMFAIL);
	parse_words(&p, "sendmail", "-bmx", NULL);
	assert_int_equal(p.st, ST_PERMFAIL);
}

static void test_missing_argument(void **state)
{
	struct parsed p;

	(void)state;
	parse_words(&p, "sendmail", "-t", "-f", NULL);
	assert_int_equal(p.st, ST_PERMFAIL);
	assert_string_equal(p.err.msg, "option -f requires an argument");

	parse_words(&p, "sendmail", "-C", NULL);
	assert_int_equal(p.st, ST_PERMFAIL);
	assert_string_equal(p.err.msg, "option -C requires an argument");

	parse_words(&p, "sendmail", "-b", NULL);
	assert_int_equal(p.st, ST_PERMFAIL);

	parse_words(&p, "sendmail", "-o", "i", NULL);
	assert_int_equal(p.st, ST_PERMFAIL);
	assert_non_null(strstr(p.err.msg, "-o"));
}

static void test_program_names(void **state)
{
	struct parsed p;

	(void)state;
	parse_words(&p, "/usr/bin/mailq", NULL);
	assert_int_equal(p.st, ST_OK);
	assert_string_equal(p.inv.progname, "mailq");
	assert_int_equal(p.inv.mode, MODE_PRINT_QUEUE);
	done(&p);

	parse_words(&p, "newaliases", NULL);
	assert_int_equal(p.inv.mode, MODE_NEWALIASES);
	done(&p);

	parse_words(&p, "/usr/sbin/sendmx", NULL);
	assert_string_equal(p.inv.progname, "sendmx");
	assert_int_equal(p.inv.mode, MODE_DELIVER);
	done(&p);

	/* No argv[0] at all. */
	p.st = cli_parse(0, p.words, &p.inv, &p.err);
	assert_int_equal(p.st, ST_OK);
	assert_string_equal(p.inv.progname, "sendmx");
	cli_free(&p.inv);
}

static void test_long_option_O_ignored(void **state)
{
	struct parsed p;

	(void)state;
	parse_words(&p, "sendmail", "-O", "DeliveryMode=b", "-ODeliveryMode=i",
		    "bob@example.org", NULL);
	assert_int_equal(p.st, ST_OK);
	assert_int_equal(p.inv.nrecipients, 1);
	assert_string_equal(p.inv.recipients[0], "bob@example.org");
	assert_int_equal(p.inv.nignored, 2);
	assert_true(has_ignored(&p.inv, "ignoring -O DeliveryMode=b"));
	done(&p);
}

static void test_usage(void **state)
{
	(void)state;
	assert_non_null(strstr(cli_usage(), "-bs"));
	assert_non_null(strstr(cli_usage(), "-f addr"));
	assert_non_null(strstr(cli_usage(), "--version"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cron_line),
		cmocka_unit_test(test_t_i),
		cmocka_unit_test(test_clustered_flags),
		cmocka_unit_test(test_sender_detached),
		cmocka_unit_test(test_sender_attached_and_r),
		cmocka_unit_test(test_null_sender),
		cmocka_unit_test(test_double_dash),
		cmocka_unit_test(test_first_operand_ends_options),
		cmocka_unit_test(test_oi_f_t),
		cmocka_unit_test(test_bs),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_queue_run),
		cmocka_unit_test(test_delivery_mode),
		cmocka_unit_test(test_dsn_and_friends_ignored),
		cmocka_unit_test(test_ignored_value_sanitized),
		cmocka_unit_test(test_dsn_options_checked),
		cmocka_unit_test(test_config_path_and_verbose),
		cmocka_unit_test(test_argument_not_recipient),
		cmocka_unit_test(test_recipients_collected),
		cmocka_unit_test(test_unknown_flags),
		cmocka_unit_test(test_unsupported_modes),
		cmocka_unit_test(test_missing_argument),
		cmocka_unit_test(test_program_names),
		cmocka_unit_test(test_long_option_O_ignored),
		cmocka_unit_test(test_usage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
