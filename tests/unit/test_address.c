/* test_address.c - RFC 5322 address-list parsing and mailbox checks. */
#include "ac_config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "address.h"
#include "rfc5322_lex.h"

/* Parses text, expects ST_OK and n mailboxes; returns the list. */
static struct address_list parse_ok(const char *text, size_t n)
{
	struct address_list l;
	struct err e;

	address_list_init(&l);
	e.msg[0] = '\0';
	assert_int_equal(address_parse_list(text, &l, &e), ST_OK);
	assert_int_equal(l.n, n);
	return l;
}

/* Parses text, expects ST_PERMFAIL, nothing appended, and an error
 * message containing what. */
static void parse_bad(const char *text, const char *what)
{
	struct address_list l;
	struct err e;

	address_list_init(&l);
	address_list_add(&l, NULL, "keep@example.org");
	e.msg[0] = '\0';
	assert_int_equal(address_parse_list(text, &l, &e), ST_PERMFAIL);
	assert_int_equal(l.n, 1);
	assert_non_null(strstr(e.msg, what));
	/* The message never carries the raw control characters. */
	assert_null(strchr(e.msg, '\r'));
	assert_null(strchr(e.msg, '\n'));
	address_list_free(&l);
}

static void test_simple(void **state)
{
	struct address_list l = parse_ok("alice@example.org", 1);

	(void)state;
	assert_null(l.items[0].display);
	assert_string_equal(l.items[0].mailbox, "alice@example.org");
	address_list_free(&l);
}

static void test_display_names(void **state)
{
	struct address_list l = parse_ok(
		"\"Doe, John\" <jd@example.org>, Ann B <ann@example.org>, "
		"John Q. Public <jqp@example.org>, \"a \\\"q\\\" b\" <q@x.org>",
		4);

	(void)state;
	assert_string_equal(l.items[0].display, "Doe, John");
	assert_string_equal(l.items[0].mailbox, "jd@example.org");
	assert_string_equal(l.items[1].display, "Ann B");
	assert_string_equal(l.items[1].mailbox, "ann@example.org");
	assert_string_equal(l.items[2].display, "John Q. Public");
	assert_string_equal(l.items[3].display, "a \"q\" b");
	assert_string_equal(l.items[3].mailbox, "q@x.org");
	address_list_free(&l);
}

static void test_angle_without_name(void **state)
{
	struct address_list l = parse_ok("<bob@example.org>", 1);

	(void)state;
	assert_null(l.items[0].display);
	assert_string_equal(l.items[0].mailbox, "bob@example.org");
	address_list_free(&l);
}

static void test_quoted_local(void **state)
{
	struct address_list l = parse_ok(
		"\"john doe\"@example.org, \"john.doe\"@example.org, "
		"\"a\\\"b\"@x.org, \"\"@x.org",
		4);

	(void)state;
	/* Quotes stay only where they are needed (RFC 5321 4.1.2). */
	assert_string_equal(l.items[0].mailbox, "\"john doe\"@example.org");
	assert_string_equal(l.items[1].mailbox, "john.doe@example.org");
	assert_string_equal(l.items[2].mailbox, "\"a\\\"b\"@x.org");
	assert_string_equal(l.items[3].mailbox, "\"\"@x.org");
	address_list_free(&l);
}

static void test_comments(void **state)
{
	struct address_list l = parse_ok(
		"(lead) alice(x)@(y)example.org (Alice (the (first))), "
		"Bob (nick) <bob@(c)example.org (c2)> (after)",
		2);

	(void)state;
	assert_string_equal(l.items[0].mailbox, "alice@example.org");
	assert_null(l.items[0].display);
	assert_string_equal(l.items[1].mailbox, "bob@example.org");
	assert_string_equal(l.items[1].display, "Bob");
	address_list_free(&l);
}

static void test_groups(void **state)
{
	struct address_list l = parse_ok(
		"undisclosed-recipients:;, team: a@x.org, \"B\" <b@x.org>;, "
		"c@x.org, empty: (nobody) ;",
		3);

	(void)state;
	assert_string_equal(l.items[0].mailbox, "a@x.org");
	assert_string_equal(l.items[1].mailbox, "b@x.org");
	assert_string_equal(l.items[1].display, "B");
	assert_string_equal(l.items[2].mailbox, "c@x.org");
	address_list_free(&l);

	l = parse_ok("undisclosed-recipients:;", 0);
	address_list_free(&l);
	l = parse_ok("undisclosed-recipients:", 0);
	address_list_free(&l);
}

static void test_obsolete(void **state)
{
	struct address_list l = parse_ok(
		", root, , a@x.org,,<postmaster>, john . doe @ example . org,",
		4);

	(void)state;
	assert_string_equal(l.items[0].mailbox, "root");
	assert_string_equal(l.items[1].mailbox, "a@x.org");
	assert_string_equal(l.items[2].mailbox, "postmaster");
	assert_string_equal(l.items[3].mailbox, "john.doe@example.org");
	address_list_free(&l);

	/* obs-route: dropped (RFC 5321 appendix C). */
	l = parse_ok("Joe <@relay1.org,@relay2.org:joe@example.org>", 1);
	assert_string_equal(l.items[0].mailbox, "joe@example.org");
	assert_string_equal(l.items[0].display, "Joe");
	address_list_free(&l);

	l = parse_ok("", 0);
	address_list_free(&l);
	l = parse_ok("  (only a comment) ", 0);
	address_list_free(&l);
}

/* "bob@example.org <bob@example.org>" is not RFC 5322, but mail
 * programs write it and sendmail and Postfix take the address in the
 * angle brackets: -t must not refuse the message for it. */
static void test_address_as_display_name(void **state)
{
	struct address_list l = parse_ok(
		"bob@example.org <bob@example.org>, "
		"ann.b@[192.0.2.1] <ann@example.org>,"
		"c@x.org", 3);
	struct err e;
	char *out;

	(void)state;
	assert_string_equal(l.items[0].display, "bob@example.org");
	assert_string_equal(l.items[0].mailbox, "bob@example.org");
	assert_string_equal(l.items[1].display, "ann.b@[192.0.2.1]");
	assert_string_equal(l.items[1].mailbox, "ann@example.org");
	assert_null(l.items[2].display);
	assert_string_equal(l.items[2].mailbox, "c@x.org");
	address_list_free(&l);
	assert_int_equal(address_parse_envelope("b@x.org <b@y.org>", &out, &e),
			 ST_OK);
	assert_string_equal(out, "b@y.org");
	free(out);
	/* Without the angle brackets it is still two addresses too many. */
	parse_bad("a@x.org b@y.org", "unexpected 'b'");
	parse_bad("a@x.org <b@y.org> c", "unexpected 'c'");
}

static void test_domain_literal(void **state)
{
	struct address_list l = parse_ok("u@[192.0.2.1], v@[ IPv6:::1 ]", 2);

	(void)state;
	assert_string_equal(l.items[0].mailbox, "u@[192.0.2.1]");
	assert_string_equal(l.items[1].mailbox, "v@[IPv6:::1]");
	address_list_free(&l);
}

static void test_folded(void **state)
{
	struct address_list l = parse_ok(
		"\"Ann\r\n B\" <ann@example.org>,\r\n\tbob@example.org", 2);

	(void)state;
	assert_string_equal(l.items[0].display, "Ann B");
	assert_string_equal(l.items[0].mailbox, "ann@example.org");
	assert_string_equal(l.items[1].mailbox, "bob@example.org");
	address_list_free(&l);
}

static void test_utf8(void **state)
{
	struct address_list l = parse_ok(
		"J\xc3\xb6rg <j\xc3\xb6rg@example.org>", 1);

	(void)state;
	assert_string_equal(l.items[0].display, "J\xc3\xb6rg");
	assert_string_equal(l.items[0].mailbox, "j\xc3\xb6rg@example.org");
	address_list_free(&l);
}

static void test_errors(void **state)
{
	(void)state;
	parse_bad("\"unterminated@x.org", "unterminated quoted string");
	parse_bad("a@x.org (open", "unterminated comment");
	parse_bad("a@x.org)", "unbalanced ')'");
	parse_bad("Ann <ann@x.org", "missing '>'");
	parse_bad("a@", "missing domain");
	parse_bad("a@x..org", "invalid domain");
	parse_bad("<>", "empty address");
	parse_bad("john doe@x.org", "invalid local part");
	parse_bad("a@x.org b@y.org", "unexpected 'b'");
	parse_bad("a@[1.2.3.4", "unterminated domain literal");
	parse_bad("g: h: x@y;", "unexpected ':'");
	parse_bad("a;b", "unexpected ';'");
	parse_bad("a@x.org\r\nBcc: evil@y.org", "control character CR");
	parse_bad("a@x.org\nBcc: evil@y.org", "control character LF");
	parse_bad("\"a\nb\"@x.org", "control character LF");
	parse_bad("a\x01@x.org", "control character 0x01");
	parse_bad("a@x.org\x7f", "control character 0x7f");
	parse_bad("a@x.org (c\rd)", "control character CR");
}

static void test_error_shows_text(void **state)
{
	struct address_list l;
	struct err e;

	(void)state;
	address_list_init(&l);
	assert_int_equal(address_parse_list("x@y\r\nBcc: z", &l, &e),
			 ST_PERMFAIL);
	/* The offending text is shown with its controls escaped. */
	assert_non_null(strstr(e.msg, "x@y\\r\\nBcc: z"));
	address_list_free(&l);
}

static void test_nul_ends_text(void **state)
{
	/* A C string cannot hold a NUL: what follows one is not seen, so
	 * it cannot smuggle a second address or a header. */
	static const char text[] = "a@x.org\0, evil@y.org";
	struct address_list l = parse_ok(text, 1);

	(void)state;
	assert_string_equal(l.items[0].mailbox, "a@x.org");
	address_list_free(&l);
}

static void test_envelope(void **state)
{
	struct err e;
	char *out;

	(void)state;
	assert_int_equal(address_parse_envelope("<>", &out, &e), ST_OK);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(address_parse_envelope(" < > ", &out, &e), ST_OK);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(address_parse_envelope("user@dom.org", &out, &e),
			 ST_OK);
	assert_string_equal(out, "user@dom.org");
	free(out);
	assert_int_equal(address_parse_envelope("<user@dom.org>", &out, &e),
			 ST_OK);
	assert_string_equal(out, "user@dom.org");
	free(out);
	assert_int_equal(address_parse_envelope("Ann <ann@dom.org>", &out, &e),
			 ST_OK);
	assert_string_equal(out, "ann@dom.org");
	free(out);
	assert_int_equal(address_parse_envelope("root", &out, &e), ST_OK);
	assert_string_equal(out, "root");
	free(out);
	assert_int_equal(address_parse_envelope("<@r.org:u@dom.org>", &out, &e),
			 ST_OK);
	assert_string_equal(out, "u@dom.org");
	free(out);
}

static void test_envelope_errors(void **state)
{
	struct err e;
	char *out = (char *)"sentinel";

	(void)state;
	assert_int_equal(address_parse_envelope("a@x.org\r\nRCPT TO:<b@y>",
						&out, &e), ST_PERMFAIL);
	assert_null(out);
	assert_non_null(strstr(e.msg, "control character CR"));
	assert_int_equal(address_parse_envelope("a@x.org\n", &out, &e),
			 ST_PERMFAIL);
	assert_non_null(strstr(e.msg, "LF"));
	assert_int_equal(address_parse_envelope("a\t@x.org", &out, &e),
			 ST_PERMFAIL);
	assert_int_equal(address_parse_envelope("a@x.org, b@y.org", &out, &e),
			 ST_PERMFAIL);
	assert_int_equal(address_parse_envelope("g: a@x.org;", &out, &e),
			 ST_PERMFAIL);
	assert_int_equal(address_parse_envelope("", &out, &e), ST_PERMFAIL);
	assert_non_null(strstr(e.msg, "empty address"));
	assert_int_equal(address_parse_envelope("<a@x.org", &out, &e),
			 ST_PERMFAIL);
}

static void test_valid_mailbox(void **state)
{
	(void)state;
	assert_true(address_valid_mailbox("a@example.org", 0));
	assert_true(address_valid_mailbox("a.b+c@ex-ample.org", 0));
	assert_true(address_valid_mailbox("\"john doe\"@example.org", 0));
	assert_true(address_valid_mailbox("\"a\\\"b\"@example.org", 0));
	assert_true(address_valid_mailbox("u@[192.0.2.1]", 0));
	assert_true(address_valid_mailbox("root", 1));
	assert_false(address_valid_mailbox("root", 0));
	assert_false(address_valid_mailbox("", 1));
	assert_false(address_valid_mailbox(NULL, 1));
	assert_false(address_valid_mailbox("a@", 1));
	assert_false(address_valid_mailbox("@x.org", 1));
	assert_false(address_valid_mailbox("a..b@x.org", 0));
	assert_false(address_valid_mailbox("a b@x.org", 0));
	assert_false(address_valid_mailbox("a@-x.org", 0));
	assert_false(address_valid_mailbox("a@x_y.org", 0));
	assert_false(address_valid_mailbox("a@x..org", 0));
	assert_false(address_valid_mailbox("a@x.org\r\n", 0));
	assert_false(address_valid_mailbox("\"a\r\"@x.org", 0));
}

static void test_domain(void **state)
{
	(void)state;
	assert_string_equal(address_domain("a@Example.ORG"), "Example.ORG");
	assert_string_equal(address_domain("\"a@b\"@c.org"), "c.org");
	assert_null(address_domain("\"a@b\""));
	assert_null(address_domain("root"));
	assert_null(address_domain("a@"));
	assert_null(address_domain(NULL));
}

static void check_qualify(const char *mailbox, const char *domain,
			  const char *want)
{
	char *q = address_qualify(mailbox, domain);

	assert_string_equal(q, want);
	free(q);
}

static void test_qualify(void **state)
{
	(void)state;
	check_qualify("root", "web1.example.org", "root@web1.example.org");
	check_qualify("\"a@b\"", "h.org", "\"a@b\"@h.org");
	check_qualify("bob@example.org", "h.org", "bob@example.org");
	check_qualify("", "h.org", "");  /* the null sender */
	check_qualify("root", "", "root");
	check_qualify("root", NULL, "root");
}

static void test_list_add(void **state)
{
	struct address_list l;

	(void)state;
	address_list_init(&l);
	for (int i = 0; i < 20; i++)
		address_list_add(&l, i % 2 ? "Name" : NULL, "x@y.org");
	assert_int_equal(l.n, 20);
	assert_string_equal(l.items[19].display, "Name");
	assert_null(l.items[18].display);
	address_list_free(&l);
	assert_int_equal(l.n, 0);
	assert_null(l.items);
}

/* ---- rfc5322_lex ---------------------------------------------------- */

static void test_lex_tokens(void **state)
{
	struct rfc5322_toks t;
	struct err e;

	(void)state;
	assert_int_equal(rfc5322_lex("Joe (the (nested) one)\r\n \"Q \\\"x\\\"\""
				     "<j.o@[1.2. 3.4]>,", &t, &e), ST_OK);
	assert_int_equal(t.n, 11);
	assert_int_equal(t.v[0].type, TOK_ATOM);
	assert_string_equal(t.v[0].text, "Joe");
	assert_false(t.v[0].space);
	/* The comment and the fold count as one stretch of white space;
	 * the quoted string is decoded. */
	assert_int_equal(t.v[1].type, TOK_QSTR);
	assert_string_equal(t.v[1].text, "Q \"x\"");
	assert_true(t.v[1].space);
	assert_int_equal(t.v[2].type, TOK_SPECIAL);
	assert_int_equal(t.v[2].ch, '<');
	assert_false(t.v[2].space);
	assert_null(t.v[2].text);
	assert_string_equal(t.v[3].text, "j");
	assert_int_equal(t.v[4].ch, '.');
	assert_string_equal(t.v[5].text, "o");
	assert_int_equal(t.v[6].ch, '@');
	assert_int_equal(t.v[7].type, TOK_DLIT);
	assert_string_equal(t.v[7].text, "[1.2.3.4]");
	assert_int_equal(t.v[8].ch, '>');
	assert_int_equal(t.v[9].ch, ',');
	assert_int_equal(t.v[10].type, TOK_END);
	rfc5322_toks_free(&t);
	assert_null(t.v);
	assert_int_equal(t.n, 0);

	assert_int_equal(rfc5322_lex("  ", &t, &e), ST_OK);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.v[0].type, TOK_END);
	assert_true(t.v[0].space);
	rfc5322_toks_free(&t);
}

static void test_lex_errors(void **state)
{
	static const struct {
		const char *text, *what;
	} cases[] = {
		{ "a (b", "unterminated comment in 'a (b'" },
		{ "\"ab", "unterminated quoted string in '\"ab'" },
		{ "\"ab\\", "unterminated quoted string" },
		{ "x@[1.2", "unterminated domain literal" },
		{ "a)", "unbalanced ')' in 'a)'" },
		{ "a\r\nb", "control character CR in address in 'a\\r\\nb'" },
		{ "a\nb", "control character LF in address" },
		{ "a\x01", "control character 0x01 in address in 'a\\x01'" },
		{ "(\x7f)", "control character 0x7f in address" },
		{ "a\\b", "unexpected '\\' in 'a\\b'" },
	};
	struct rfc5322_toks t;
	struct err e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		e.msg[0] = '\0';
		assert_int_equal(rfc5322_lex(cases[i].text, &t, &e),
				 ST_PERMFAIL);
		assert_non_null(strstr(e.msg, cases[i].what));
		/* Nothing is left to free after a failure. */
		assert_null(t.v);
		assert_int_equal(t.n, 0);
	}
}

static void test_dot_atom_text(void **state)
{
	(void)state;
	assert_true(rfc5322_dot_atom_text("a", 1));
	assert_true(rfc5322_dot_atom_text("john.doe+tag", 12));
	assert_true(rfc5322_dot_atom_text("\xc3\xa9t\xc3\xa9", 5));
	assert_true(rfc5322_dot_atom_text("a.b.", 3));  /* only n octets */
	assert_false(rfc5322_dot_atom_text("", 0));
	assert_false(rfc5322_dot_atom_text(".a", 2));
	assert_false(rfc5322_dot_atom_text("a.", 2));
	assert_false(rfc5322_dot_atom_text("a..b", 4));
	assert_false(rfc5322_dot_atom_text("a b", 3));
	assert_false(rfc5322_dot_atom_text("a@b", 3));
	assert_false(rfc5322_dot_atom_text("\"a\"", 3));
}

static void test_error_text(void **state)
{
	char long_text[300];
	struct err e;

	(void)state;
	rfc5322_error(&e, "a\r\nb\tc\x7f", "oops");
	assert_string_equal(e.msg, "oops in 'a\\r\\nb\\x09c\\x7f'");
	rfc5322_error(&e, "", "empty");
	assert_string_equal(e.msg, "empty in ''");
	memset(long_text, 'x', sizeof long_text - 1);
	long_text[sizeof long_text - 1] = '\0';
	rfc5322_error(&e, long_text, "long");
	/* 200 octets shown, then "...". */
	assert_int_equal(strlen(e.msg), strlen("long in ''") + 200 + 3);
	assert_non_null(strstr(e.msg, "x...'"));
	rfc5322_error_char(&e, "a>", '>');
	assert_string_equal(e.msg, "unexpected '>' in 'a>'");
	rfc5322_error_char(&e, "\r", '\r');
	assert_string_equal(e.msg, "control character CR in address in '\\r'");
	rfc5322_error_char(&e, "\x1b", 0x1b);
	assert_string_equal(e.msg,
			    "control character 0x1b in address in '\\x1b'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_display_names),
		cmocka_unit_test(test_angle_without_name),
		cmocka_unit_test(test_quoted_local),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_obsolete),
		cmocka_unit_test(test_address_as_display_name),
		cmocka_unit_test(test_domain_literal),
		cmocka_unit_test(test_folded),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_error_shows_text),
		cmocka_unit_test(test_nul_ends_text),
		cmocka_unit_test(test_envelope),
		cmocka_unit_test(test_envelope_errors),
		cmocka_unit_test(test_valid_mailbox),
		cmocka_unit_test(test_domain),
		cmocka_unit_test(test_qualify),
		cmocka_unit_test(test_list_add),
		cmocka_unit_test(test_lex_tokens),
		cmocka_unit_test(test_lex_errors),
		cmocka_unit_test(test_dot_atom_text),
		cmocka_unit_test(test_error_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
