/*
 * test_intake.c - message intake: input through fmemopen, spool file in
 * a private temporary directory, read back byte for byte.
 */
#include "ac_config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "complete.h"
#include "header.h"
#include "intake.h"
#include "line_reader.h"
#include "recipients.h"
#include "spool.h"
#include "util.h"

/* Headers that stop intake from adding any field, for exact output. */
#define FULL_HDR "Date: Mon, 1 Jan 2026 00:00:00 +0000\n" \
		 "Message-ID: <id@test>\nFrom: a@test\n"
#define FULL_HDR_CRLF "Date: Mon, 1 Jan 2026 00:00:00 +0000\r\n" \
		      "Message-ID: <id@test>\r\nFrom: a@test\r\n"

struct fx {
	char dir[64];
	struct intake_opts o;
	struct address_list rcpts;
	struct message m;
	struct err e;
	char *spool;      /* read back after a successful run */
	size_t spool_len;
	FILE *in;         /* kept open to check what was left unread */
	char *input;
};

/* malloc that cannot return NULL (so the compiler knows it too). */
static char *must_alloc(size_t n)
{
	char *p = malloc(n);

	if (p == NULL)
		abort();
	return p;
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof *fx);

	if (fx == NULL)
		return -1;
	strcpy(fx->dir, "/tmp/test_intake.XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	fx->o.dots = DOT_ENDS;
	fx->o.hostname = "host.example.org";
	fx->o.login = "alice";
	fx->o.spool_dir = fx->dir;
	address_list_init(&fx->rcpts);
	address_list_add(&fx->rcpts, NULL, "bob@example.org");
	message_init(&fx->m);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	int r;

	message_free(&fx->m);
	address_list_free(&fx->rcpts);
	free(fx->spool);
	free(fx->input);
	if (fx->in != NULL)
		fclose(fx->in);
	/* The spool file was unlinked at once: the directory is empty. */
	r = rmdir(fx->dir);
	free(fx);
	return r == 0 ? 0 : -1;
}

static char *read_all(int fd, size_t n)
{
	char *s = must_alloc(n + 1);
	size_t got = 0;

	assert_non_null(s);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	while (got < n) {
		ssize_t r = read(fd, s + got, n - got);

		assert_true(r > 0);
		got += (size_t)r;
	}
	s[n] = '\0';
	return s;
}

/* Runs intake on len bytes of text; on success reads the spool back. */
static enum status run_n(struct fx *fx, const char *text, size_t len)
{
	enum status st;
	struct stat sb;

	free(fx->input);
	fx->input = must_alloc(len + 1);
	assert_non_null(fx->input);
	memcpy(fx->input, text, len);
	if (fx->in != NULL)
		fclose(fx->in);
	fx->in = fmemopen(fx->input, len, "r");
	assert_non_null(fx->in);
	message_free(&fx->m);
	st = intake_read(fx->in, &fx->o, &fx->rcpts, &fx->m, &fx->e);
	if (st != ST_OK) {
		assert_int_equal(fx->m.spool_fd, -1);
		return st;
	}
	assert_true(fx->m.spool_fd >= 0);
	assert_null(fx->m.spool_path);
	assert_int_equal(fstat(fx->m.spool_fd, &sb), 0);
	assert_int_equal(sb.st_size, fx->m.size);
	assert_int_equal(sb.st_nlink, 0);
	free(fx->spool);
	fx->spool_len = (size_t)fx->m.size;
	fx->spool = read_all(fx->m.spool_fd, fx->spool_len);
	return st;
}

static enum status run(struct fx *fx, const char *text)
{
	return run_n(fx, text, strlen(text));
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (hay = strstr(hay, needle); hay; hay = strstr(hay + 1, needle))
		n++;
	return n;
}

/* Value of the first header line "Name: " in the spool, up to CRLF. */
static char *spool_field(const struct fx *fx, const char *name)
{
	char *key = must_alloc(strlen(name) + 4);
	const char *p, *end;

	assert_non_null(key);
	sprintf(key, "\n%s: ", name);
	p = strstr(fx->spool, key);
	if (p == NULL && strncmp(fx->spool, key + 1, strlen(key + 1)) == 0)
		p = fx->spool - 1;
	free(key);
	if (p == NULL)
		return NULL;
	p += strlen(name) + 3;
	end = strstr(p, "\r\n");
	assert_non_null(end);
	return strndup(p, (size_t)(end - p));
}

static bool matches(const char *s, const char *re)
{
	regex_t rx;
	int r;

	assert_int_equal(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
	r = regexec(&rx, s, 0, NULL, 0);
	regfree(&rx);
	return r == 0;
}

/* Every line ends in CRLF and holds at most 998 octets. */
static void assert_wire_form(const struct fx *fx)
{
	size_t i, col = 0;

	for (i = 0; i < fx->spool_len; i++) {
		char c = fx->spool[i];

		if (c == '\r') {
			assert_true(i + 1 < fx->spool_len);
			assert_int_equal(fx->spool[i + 1], '\n');
			i++;
			col = 0;
			continue;
		}
		assert_int_not_equal(c, '\n');
		col++;
		assert_true(col <= 998);
	}
	assert_int_equal(col, 0);
}

/* ---- line endings ------------------------------------------------------ */

static void test_crlf_normalisation(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(run(fx, FULL_HDR "Subject: s\r\n\nl1\r\nl2\rl3\nl4\r\r\nl5\n"),
			 ST_OK);
	assert_string_equal(fx->spool, FULL_HDR_CRLF "Subject: s\r\n\r\n"
				       "l1\r\nl2\r\nl3\r\nl4\r\n\r\nl5\r\n");
	assert_int_equal(fx->m.size, strlen(fx->spool));
	assert_int_equal(fx->m.header_lines, 4);
	assert_string_equal(fx->m.message_id, "<id@test>");
	assert_string_equal(fx->m.sender, "alice@host.example.org");
	assert_int_equal(fx->m.rcpts.n, 1);
	assert_string_equal(fx->m.rcpts.items[0].mailbox, "bob@example.org");
	assert_false(fx->m.eightbit);
	assert_wire_form(fx);
}

static void test_bare_cr_everywhere(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(run(fx, "Date: d\rMessage-ID: <x@y>\rFrom: f\r"
				 "To: t\r\r body\r"),
			 ST_OK);
	assert_string_equal(fx->spool, "Date: d\r\nMessage-ID: <x@y>\r\n"
				       "From: f\r\nTo: t\r\n\r\n body\r\n");
}

static void test_missing_final_newline(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(run(fx, FULL_HDR "\nlast"), ST_OK);
	assert_string_equal(fx->spool, FULL_HDR_CRLF "\r\nlast\r\n");
	assert_int_equal(run(fx, FULL_HDR "Subject: only headers"), ST_OK);
	assert_string_equal(fx->spool,
			    FULL_HDR_CRLF "Subject: only headers\r\n\r\n");
	assert_int_equal(run(fx, FULL_HDR "\nends in cr\r"), ST_OK);
	assert_string_equal(fx->spool, FULL_HDR_CRLF "\r\nends in cr\r\n");
}

static void test_empty_input(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(run_n(fx, "", 0), ST_OK);
	assert_int_equal(count(fx->spool, "Date: "), 1);
	assert_int_equal(count(fx->spool, "Message-ID: "), 1);
	assert_int_equal(count(fx->spool, "From: "), 1);
	/* Only generated fields, then the empty line, no body. */
	assert_int_equal(count(fx->spool, "\r\n\r\n"), 1);
	assert_string_equal(fx->spool + fx->spool_len - 4, "\r\n\r\n");
	assert_wire_form(fx);
}

/* ---- dot rules ---------------------------------------------------------- */

static void test_dot_ends(void **state)
{
	struct fx *fx = *state;
	char rest[32];

	assert_int_equal(run(fx, FULL_HDR "\n..two\n.x\n. \n.\nafter\n"),
			 ST_OK);
	/* sendmail does not unstuff outside SMTP: ".." stays. */
	assert_string_equal(fx->spool,
			    FULL_HDR_CRLF "\r\n..two\r\n.x\r\n. \r\n");
	/* Nothing after the "." line was consumed. */
	assert_non_null(fgets(rest, sizeof rest, fx->in));
	assert_string_equal(rest, "after\n");

	assert_int_equal(run(fx, FULL_HDR "\nbody\r\n.\r\nafter\r\n"), ST_OK);
	assert_string_equal(fx->spool, FULL_HDR_CRLF "\r\nbody\r\n");
	assert_int_equal(run(fx, FULL_HDR "\nbody\n."), ST_OK);
	assert_string_equal(fx->spool, FULL_HDR_CRLF "\r\nbody\r\n");
	/* A "." while still in the header section ends the message too. */
	assert_int_equal(run(fx, FULL_HDR "Subject: s\n.\nbody\n"), ST_OK);
	assert_string_equal(fx->spool, FULL_HDR_CRLF "Subject: s\r\n\r\n");
}

/* From a regular file the input is read in blocks: the dot rule still
 * ends the message at the same place. */
static void test_dot_ends_regular_file(void **state)
{
	struct fx *fx = *state;
	static const char text[] = FULL_HDR "\nbody\n..x\n.\nafter\n";
	FILE *f = tmpfile();

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, sizeof text - 1, f), sizeof text - 1);
	rewind(f);
	assert_int_equal(intake_read(f, &fx->o, &fx->rcpts, &fx->m, &fx->e),
			 ST_OK);
	fclose(f);
	fx->spool_len = (size_t)fx->m.size;
	fx->spool = read_all(fx->m.spool_fd, fx->spool_len);
	assert_string_equal(fx->spool, FULL_HDR_CRLF "\r\nbody\r\n..x\r\n");
}

static void test_dot_ignore(void **state)
{
	struct fx *fx = *state;

	fx->o.dots = DOT_IGNORE;
	assert_int_equal(run(fx, FULL_HDR "\n..two\n.\nafter\n."), ST_OK);
	assert_string_equal(fx->spool,
			    FULL_HDR_CRLF "\r\n..two\r\n.\r\nafter\r\n.\r\n");
}

static void test_dot_smtp(void **state)
{
	struct fx *fx = *state;
	char rest[32];

	fx->o.dots = DOT_SMTP;
	assert_int_equal(run(fx, FULL_HDR_CRLF "\r\n..two\r\n...\r\n.x\r\n"
				 "body\r\n.\r\nQUIT\r\n"),
			 ST_OK);
	/* RFC 5321 4.5.2: the first leading dot is removed. */
	assert_string_equal(fx->spool,
			    FULL_HDR_CRLF "\r\n.two\r\n..\r\nx\r\nbody\r\n");
	/* The next command is still there for the SMTP server. */
	assert_non_null(fgets(rest, sizeof rest, fx->in));
	assert_string_equal(rest, "QUIT\r\n");

	/* "." ended by a bare CR is data; the next line "." ends. */
	assert_int_equal(run(fx, FULL_HDR_CRLF "\r\n.\r.\r\nNEXT\r\n"), ST_OK);
	assert_string_equal(fx->spool, FULL_HDR_CRLF "\r\n.\r\n");
	assert_non_null(fgets(rest, sizeof rest, fx->in));
	assert_string_equal(rest, "NEXT\r\n");
	/* A bare LF ends a line too (local clients are sloppy). */
	assert_int_equal(run(fx, FULL_HDR "\n..a\n.\nNEXT\n"), ST_OK);
	assert_string_equal(fx->spool, FULL_HDR_CRLF "\r\n.a\r\n");

	assert_int_equal(run(fx, FULL_HDR_CRLF "\r\nbody\r\n"), ST_PERMFAIL);
	assert_non_null(strstr(fx->e.msg, "EOF"));
	assert_int_equal(run(fx, FULL_HDR_CRLF "\r\nbody\r\n."), ST_PERMFAIL);
}

static void test_dot_smtp_drains_after_failure(void **state)
{
	struct fx *fx = *state;
	char rest[32];
	char big[4096];
	char *in = must_alloc(3 * sizeof big);

	assert_non_null(in);
	fx->o.dots = DOT_SMTP;
	fx->o.max_size = 500;
	memset(big, 'z', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	snprintf(in, 3 * sizeof big,
		 FULL_HDR_CRLF "\r\n%s\r\n%s\r\n.\r\nRSET\r\n", big, big);
	assert_int_equal(run(fx, in), ST_PERMFAIL);
	free(in);
	assert_string_equal(fx->e.msg, "message larger than 500 bytes");
	/* The rest of the data was read and dropped, not left as commands. */
	assert_non_null(fgets(rest, sizeof rest, fx->in));
	assert_string_equal(rest, "RSET\r\n");
}

/* ---- header section ----------------------------------------------------- */

static void test_mbox_from_dropped(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(run(fx, "From alice@x.org Mon Jan  1 00:00:00 2026\n"
				 "Date: d\nMessage-ID: <m@x>\nSubject: s\n\n"
				 "From the body\n"),
			 ST_OK);
	assert_null(strstr(fx->spool, "From alice"));
	/* The mbox line is no From field: one is generated. */
	assert_int_equal(count(fx->spool, "\r\nFrom: alice@host.example.org\r\n"),
			 1);
	assert_non_null(strstr(fx->spool, "\r\n\r\nFrom the body\r\n"));
	assert_int_equal(strncmp(fx->spool, "Date: d\r\n", 9), 0);
}

static void test_no_headers(void **state)
{
	struct fx *fx = *state;
	const char *sep;

	assert_int_equal(run(fx, "Hello world, no header here\nsecond\n"),
			 ST_OK);
	sep = strstr(fx->spool, "\r\n\r\n");
	assert_non_null(sep);
	assert_string_equal(sep, "\r\n\r\nHello world, no header here\r\n"
				 "second\r\n");
	assert_int_equal(count(fx->spool, "Date: "), 1);
	assert_int_equal(count(fx->spool, "Message-ID: "), 1);
	assert_int_equal(count(fx->spool, "From: "), 1);
	assert_int_equal(fx->m.header_lines, 3);

	/* A line starting with white space cannot continue a field. */
	assert_int_equal(run(fx, "  indented\n"), ST_OK);
	assert_non_null(strstr(fx->spool, "\r\n\r\n  indented\r\n"));
	/* A header section ended by a non-field line, not an empty line. */
	assert_int_equal(run(fx, FULL_HDR "Subject: s\nnot a field\nmore\n"),
			 ST_OK);
	assert_string_equal(fx->spool, FULL_HDR_CRLF
			    "Subject: s\r\n\r\nnot a field\r\nmore\r\n");
	/* An empty first line: empty header section. */
	assert_int_equal(run(fx, "\nSubject: in body\n"), ST_OK);
	assert_non_null(strstr(fx->spool, "\r\n\r\nSubject: in body\r\n"));
	assert_int_equal(count(fx->spool, "\r\n\r\n"), 1);
}

static void test_folded_fields_kept(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(run(fx, FULL_HDR "Subject: one\n two\n\tthree\n"
				 "X-Obs : v\n\nb\n"),
			 ST_OK);
	assert_string_equal(fx->spool, FULL_HDR_CRLF
			    "Subject: one\r\n two\r\n\tthree\r\nX-Obs : v\r\n"
			    "\r\nb\r\n");
	assert_int_equal(fx->m.header_lines, 7);
}

static void test_generated_fields(void **state)
{
	struct fx *fx = *state;
	char *v;

	assert_int_equal(run(fx, "Subject: s\n\nbody\n"), ST_OK);
	assert_int_equal(count(fx->spool, "\r\nDate: "), 1);
	assert_int_equal(count(fx->spool, "\r\nMessage-ID: "), 1);
	assert_int_equal(count(fx->spool, "\r\nFrom: "), 1);
	v = spool_field(fx, "Date");
	assert_true(matches(v, "^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
			       "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|"
			       "Dec) [0-9]{4} [0-2][0-9]:[0-5][0-9]:[0-6][0-9] "
			       "[+-][0-9]{4}$"));
	free(v);
	v = spool_field(fx, "Message-ID");
	assert_true(matches(v, "^<[0-9]{14}\\.[0-9]+\\.[0-9a-f]{16}"
			       "@host\\.example\\.org>$"));
	assert_string_equal(v, fx->m.message_id);
	free(v);
	v = spool_field(fx, "From");
	assert_string_equal(v, "alice@host.example.org");
	free(v);
	assert_wire_form(fx);
}

static void test_existing_fields_not_duplicated(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(run(fx, "date: Tue, 2 Jan 2026 00:00:00 +0000\n"
				 "MESSAGE-ID:  <keep@me>  \nfrom: x@y.org\n\nb\n"),
			 ST_OK);
	assert_int_equal(count(fx->spool, "ate: "), 1);
	assert_int_equal(count(fx->spool, "-ID: "), 1);
	assert_int_equal(count(fx->spool, "rom: "), 1);
	assert_string_equal(fx->m.message_id, "<keep@me>");
	assert_int_equal(strncmp(fx->spool, "date: Tue", 9), 0);
}

static void test_from_full_name_and_sender(void **state)
{
	struct fx *fx = *state;
	char *v;

	fx->o.sender = "<ann@x.org>";
	fx->o.full_name = "Ann \"The\" B\\";
	assert_int_equal(run(fx, "Subject: s\n\nb\n"), ST_OK);
	assert_string_equal(fx->m.sender, "ann@x.org");
	v = spool_field(fx, "From");
	assert_string_equal(v, "\"Ann \\\"The\\\" B\\\\\" <ann@x.org>");
	free(v);

	/* Null sender: the From field names the user instead. */
	fx->o.sender = "";
	fx->o.full_name = "Ann B";
	assert_int_equal(run(fx, "Subject: s\n\nb\n"), ST_OK);
	assert_string_equal(fx->m.sender, "");
	v = spool_field(fx, "From");
	assert_string_equal(v, "\"Ann B\" <alice@host.example.org>");
	free(v);

	fx->o.sender = "<>";
	fx->o.full_name = NULL;
	assert_int_equal(run(fx, "Subject: s\n\nb\n"), ST_OK);
	assert_string_equal(fx->m.sender, "");

	fx->o.sender = "bad\r\nRCPT TO:<x@y>";
	assert_int_equal(run(fx, "Subject: s\n\nb\n"), ST_PERMFAIL);
	assert_non_null(strstr(fx->e.msg, "bad sender address"));
	/* RFC 5322 atoms, but no RFC 5321 domain: refused before reading. */
	fx->o.sender = "ann@bad_domain.org";
	assert_int_equal(run(fx, "Subject: s\n\nb\n"), ST_PERMFAIL);
	assert_string_equal(fx->e.msg, "bad sender address: invalid address "
				       "'ann@bad_domain.org'");
}

static void test_full_name_injection(void **state)
{
	struct fx *fx = *state;
	char *v;

	fx->o.full_name = "Evil\r\nBcc: x@y\n\x01\x7f";
	assert_int_equal(run(fx, "Subject: s\n\nb\n"), ST_OK);
	assert_null(strstr(fx->spool, "\r\nBcc:"));
	assert_null(strstr(fx->spool, "\nBcc:"));
	v = spool_field(fx, "From");
	assert_string_equal(v, "\"EvilBcc: x@y\" <alice@host.example.org>");
	free(v);
	assert_int_equal(fx->m.rcpts.n, 1);
	assert_wire_form(fx);

	fx->o.full_name = "\r\n";
	assert_int_equal(run(fx, "Subject: s\n\nb\n"), ST_OK);
	v = spool_field(fx, "From");
	assert_string_equal(v, "alice@host.example.org");
	free(v);
}

static void test_bcc_removed(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(run(fx, FULL_HDR "To: t@x.org\nBcc: secret1@x.org,\n"
				 " secret2@x.org\nbcc:secret3@x.org\n"
				 "Resent-Bcc: secret4@x.org\nSubject: s\n\n"
				 "body\n"),
			 ST_OK);
	assert_null(strstr(fx->spool, "secret"));
	assert_null(strstr(fx->spool, "cc:"));
	assert_string_equal(fx->spool, FULL_HDR_CRLF "To: t@x.org\r\n"
				       "Subject: s\r\n\r\nbody\r\n");
	/* Without -t the header does not add recipients. */
	assert_int_equal(fx->m.rcpts.n, 1);
}

/* ---- -t ------------------------------------------------------------------ */

static void test_extract_recipients(void **state)
{
	struct fx *fx = *state;

	fx->o.extract_recipients = true;
	assert_int_equal(run(fx, "To: \"T\" <t@x.org>, BOB@Example.org,\n"
				 "  bob@EXAMPLE.ORG\nCc: c@x.org, t@X.ORG\n"
				 "Bcc: hidden@x.org\nSubject: s\n\nb\n"),
			 ST_OK);
	/* Command line first, then To, Cc, Bcc; local parts are compared
	 * exactly, domains without case. */
	assert_int_equal(fx->m.rcpts.n, 5);
	assert_string_equal(fx->m.rcpts.items[0].mailbox, "bob@example.org");
	assert_string_equal(fx->m.rcpts.items[1].mailbox, "t@x.org");
	assert_string_equal(fx->m.rcpts.items[1].display, "T");
	assert_string_equal(fx->m.rcpts.items[2].mailbox, "BOB@Example.org");
	assert_string_equal(fx->m.rcpts.items[3].mailbox, "c@x.org");
	assert_string_equal(fx->m.rcpts.items[4].mailbox, "hidden@x.org");
	assert_null(strstr(fx->spool, "hidden"));
}

static void test_extract_resent(void **state)
{
	struct fx *fx = *state;

	fx->o.extract_recipients = true;
	address_list_free(&fx->rcpts);
	assert_int_equal(run(fx, "To: old@x.org\nCc: oldcc@x.org\n"
				 "Resent-From: r@x.org\n"
				 "Resent-To: new@x.org\nResent-Cc: newcc@x.org\n"
				 "Resent-Bcc: newbcc@x.org\nBcc: oldbcc@x.org\n"
				 "\nb\n"),
			 ST_OK);
	assert_int_equal(fx->m.rcpts.n, 3);
	assert_string_equal(fx->m.rcpts.items[0].mailbox, "new@x.org");
	assert_string_equal(fx->m.rcpts.items[1].mailbox, "newcc@x.org");
	assert_string_equal(fx->m.rcpts.items[2].mailbox, "newbcc@x.org");
	assert_null(strstr(fx->spool, "bcc@"));
	assert_non_null(strstr(fx->spool, "To: old@x.org\r\n"));

	/* Any Resent- field switches, even without Resent-To. */
	assert_int_equal(run(fx, "To: old@x.org\nResent-Date: d\n\nb\n"),
			 ST_PERMFAIL);
	assert_string_equal(fx->e.msg, "no recipients");
}

static void test_extract_groups_and_errors(void **state)
{
	struct fx *fx = *state;

	fx->o.extract_recipients = true;
	address_list_free(&fx->rcpts);
	assert_int_equal(run(fx, "To: undisclosed-recipients:;\nCc: root\n\nb\n"),
			 ST_OK);
	assert_int_equal(fx->m.rcpts.n, 1);
	assert_string_equal(fx->m.rcpts.items[0].mailbox,
			    "root@host.example.org");

	assert_int_equal(run(fx, "To: \"open@x.org\n\nb\n"), ST_PERMFAIL);
	assert_non_null(strstr(fx->e.msg, "bad address in the To: header"));
	assert_int_equal(run(fx, "To: a@bad_domain.org\n\nb\n"), ST_PERMFAIL);
	assert_non_null(strstr(fx->e.msg, "invalid recipient address"));
	/* A NUL in a header becomes a space, which splits nothing open. */
	assert_int_equal(run_n(fx, "To: a@x.org\0b@y.org\n\nb\n", 23),
			 ST_PERMFAIL);
	assert_non_null(strstr(fx->e.msg, "To: header"));
}

static void test_no_recipients(void **state)
{
	struct fx *fx = *state;

	address_list_free(&fx->rcpts);
	assert_int_equal(run(fx, "To: t@x.org\n\nb\n"), ST_PERMFAIL);
	assert_string_equal(fx->e.msg, "no recipients");
	fx->o.extract_recipients = true;
	assert_int_equal(run(fx, "Subject: none\n\nb\n"), ST_PERMFAIL);
	assert_string_equal(fx->e.msg, "no recipients");
	fx->o.extract_recipients = false;
	fx->o.dots = DOT_SMTP;
	assert_int_equal(run(fx, "Subject: none\r\n\r\nb\r\n.\r\n"),
			 ST_PERMFAIL);
	assert_string_equal(fx->e.msg, "no recipients");
}

static void test_cmdline_checked(void **state)
{
	struct fx *fx = *state;

	address_list_add(&fx->rcpts, "Bob", "bob@EXAMPLE.org");
	address_list_add(&fx->rcpts, "Root", "root");
	assert_int_equal(run(fx, FULL_HDR "\nb\n"), ST_OK);
	assert_int_equal(fx->m.rcpts.n, 2);
	assert_string_equal(fx->m.rcpts.items[1].mailbox,
			    "root@host.example.org");
	assert_string_equal(fx->m.rcpts.items[1].display, "Root");

	address_list_add(&fx->rcpts, NULL, "x@y.org\r\nDATA");
	assert_int_equal(run(fx, FULL_HDR "\nb\n"), ST_PERMFAIL);
	assert_non_null(strstr(fx->e.msg, "control character"));
}

/* sendmail qualifies a bare name with $j: the envelope sender, the From
 * generated from it, and every recipient get the host name, and only
 * then are duplicates removed. */
static void test_bare_names_qualified(void **state)
{
	struct fx *fx = *state;
	char *v;

	fx->o.sender = "bounce";
	fx->o.full_name = "Cron Daemon";
	fx->o.extract_recipients = true;
	address_list_add(&fx->rcpts, NULL, "root");
	address_list_add(&fx->rcpts, NULL, "root@HOST.example.org");
	assert_int_equal(run(fx, "To: root, ann\nCc: ann@host.example.org\n"
				 "\nb\n"), ST_OK);
	assert_string_equal(fx->m.sender, "bounce@host.example.org");
	v = spool_field(fx, "From");
	assert_string_equal(v, "\"Cron Daemon\" <bounce@host.example.org>");
	free(v);
	assert_int_equal(fx->m.rcpts.n, 3);
	assert_string_equal(fx->m.rcpts.items[0].mailbox, "bob@example.org");
	assert_string_equal(fx->m.rcpts.items[1].mailbox,
			    "root@host.example.org");
	assert_string_equal(fx->m.rcpts.items[2].mailbox,
			    "ann@host.example.org");

	/* SMTP MAIL FROM:<root> is the same. */
	fx->o.extract_recipients = false;
	fx->o.full_name = NULL;
	fx->o.dots = DOT_SMTP;
	fx->o.sender = "root";
	assert_int_equal(run(fx, "Subject: s\r\n\r\nb\r\n.\r\n"), ST_OK);
	assert_string_equal(fx->m.sender, "root@host.example.org");
	v = spool_field(fx, "From");
	assert_string_equal(v, "root@host.example.org");
	free(v);
}

/* ---- long lines, 8-bit, NUL, bounds -------------------------------------- */

static void test_long_body_lines(void **state)
{
	struct fx *fx = *state;
	size_t n = 2500, hl = strlen(FULL_HDR_CRLF "\r\n");
	char *in = must_alloc(strlen(FULL_HDR) + n + 16);
	const char *body;

	assert_non_null(in);
	strcpy(in, FULL_HDR "\n");
	memset(in + strlen(in), 'x', n);
	strcpy(in + strlen(FULL_HDR) + 1 + n, "\nend\n");
	assert_int_equal(run(fx, in), ST_OK);
	free(in);
	body = fx->spool + hl;
	assert_int_equal(fx->spool_len, hl + 998 + 2 + 998 + 2 + 504 + 2 + 5);
	assert_int_equal(memcmp(body + 998, "\r\nx", 3), 0);
	assert_int_equal(memcmp(body + 998 + 2 + 998, "\r\nx", 3), 0);
	assert_string_equal(body + 2 * 1000 + 504, "\r\nend\r\n");
	assert_wire_form(fx);

	/* Exactly 998 octets: nothing inserted. */
	in = must_alloc(strlen(FULL_HDR) + 1000 + 16);
	assert_non_null(in);
	strcpy(in, FULL_HDR "\n");
	memset(in + strlen(in), 'y', 998);
	strcpy(in + strlen(FULL_HDR) + 1 + 998, "\n");
	assert_int_equal(run(fx, in), ST_OK);
	free(in);
	assert_int_equal(fx->spool_len, hl + 998 + 2);
}

static void test_long_header_lines(void **state)
{
	struct fx *fx = *state;
	char *in, *p, *subject;
	size_t i;

	/* A 3000-octet Subject of words folds at white space. */
	in = must_alloc(8000);
	assert_non_null(in);
	p = in + sprintf(in, "%sSubject:", FULL_HDR);
	for (i = 0; i < 300; i++)
		p += sprintf(p, " word%04zu", i);
	strcpy(p, "\nX-Long: ");
	p += strlen(p);
	memset(p, 'L', 1500);
	strcpy(p + 1500, "\n\nbody\n");
	assert_int_equal(run(fx, in), ST_OK);
	assert_wire_form(fx);

	/* Unfolding the Subject gives the original value back. */
	subject = strstr(fx->spool, "Subject:");
	assert_non_null(subject);
	p = strstr(subject, "\r\nX-Long");
	assert_non_null(p);
	*p = '\0';
	{
		char *u = must_alloc(strlen(subject) + 1), *w = u;
		const char *r;

		assert_non_null(u);
		for (r = subject; *r; r++) {
			if (r[0] == '\r' && r[1] == '\n')
				r++;
			else
				*w++ = *r;
		}
		*w = '\0';
		assert_int_equal(strncmp(u, in + strlen(FULL_HDR),
					 strlen(u)), 0);
		assert_int_equal(strlen(u), 8 + 300 * 9);
		free(u);
	}
	*p = '\r';
	/* Folded at its only white space, then, with none left, broken
	 * with CRLF SP at 998 octets. */
	p = strstr(fx->spool, "\r\nX-Long:\r\n L");
	assert_non_null(p);
	p += strlen("\r\nX-Long:\r\n");
	assert_int_equal(strspn(p + 1, "L"), 997);
	assert_int_equal(memcmp(p + 998, "\r\n L", 4), 0);
	assert_int_equal(strspn(p + 1001, "L"), 503);
	assert_string_equal(p + 1001 + 503, "\r\n\r\nbody\r\n");
	/* 3 fixed fields, Subject on 3 lines, X-Long on 3. */
	assert_int_equal(fx->m.header_lines, 3 + 3 + 3);
	free(in);
}

static void test_eightbit(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(run(fx, FULL_HDR "\nplain ascii\n"), ST_OK);
	assert_false(fx->m.eightbit);
	assert_int_equal(run(fx, FULL_HDR "\ncaf\xc3\xa9\n"), ST_OK);
	assert_true(fx->m.eightbit);
	assert_int_equal(run(fx, FULL_HDR "Subject: \xe9t\xe9\n\nx\n"), ST_OK);
	assert_true(fx->m.eightbit);
	fx->o.full_name = "J\xc3\xb6rg";
	assert_int_equal(run(fx, "Subject: s\n\nx\n"), ST_OK);
	assert_true(fx->m.eightbit);
}

static void test_nul_bytes(void **state)
{
	struct fx *fx = *state;
	static const char in[] = FULL_HDR "Subject: a\0b\n\nx\0y\n";
	static const char want[] = FULL_HDR_CRLF "Subject: a b\r\n\r\nx\0y\r\n";

	assert_int_equal(run_n(fx, in, sizeof in - 1), ST_OK);
	assert_int_equal(fx->spool_len, sizeof want - 1);
	assert_memory_equal(fx->spool, want, sizeof want - 1);
}

static void test_max_size(void **state)
{
	struct fx *fx = *state;
	const char *msg = FULL_HDR "\n0123456789\n";
	long exact = (long)strlen(FULL_HDR_CRLF "\r\n0123456789\r\n");
	char want[64];

	fx->o.max_size = exact;
	assert_int_equal(run(fx, msg), ST_OK);
	assert_int_equal(fx->m.size, exact);
	assert_false(fx->m.too_big);
	fx->o.max_size = exact - 1;
	assert_int_equal(run(fx, msg), ST_PERMFAIL);
	snprintf(want, sizeof want, "message larger than %ld bytes", exact - 1);
	assert_string_equal(fx->e.msg, want);
	assert_true(fx->m.too_big);
}

static void test_max_header_bytes(void **state)
{
	struct fx *fx = *state;
	char *in = must_alloc(3000);

	assert_non_null(in);
	fx->o.max_header_bytes = 200;
	strcpy(in, FULL_HDR "X-Big: ");
	memset(in + strlen(in), 'h', 300);
	strcpy(in + strlen(FULL_HDR) + 7 + 300, "\n\nb\n");
	assert_int_equal(run(fx, in), ST_PERMFAIL);
	assert_string_equal(fx->e.msg, "header section larger than 200 bytes");
	assert_false(fx->m.too_big);  /* not a SIZE matter (RFC 1870) */

	/* The bound is on headers only: a long first body line passes. */
	memset(in, 'b', 2500);
	strcpy(in + 2500, "\n");
	assert_int_equal(run(fx, in), ST_OK);
	assert_wire_form(fx);
	free(in);
}

static void test_spool_errors(void **state)
{
	struct fx *fx = *state;
	struct rlimit old, lim;
	void (*prev)(int);
	enum status st;
	char *in;

	fx->o.spool_dir = "/nonexistent/sendmx-test";
	assert_int_equal(run(fx, FULL_HDR "\nb\n"), ST_TEMPFAIL);
	assert_non_null(strstr(fx->e.msg, "/nonexistent/sendmx-test"));
	assert_non_null(strstr(fx->e.msg, strerror(ENOENT)));
	fx->o.spool_dir = fx->dir;

	/* A file size limit makes write() fail like a full disk would. */
	fclose(fx->in);
	in = must_alloc(300001);
	assert_non_null(in);
	memset(in, 'a', 300000);
	in[300000] = '\0';
	for (size_t i = 500; i < 300000; i += 500)
		in[i] = '\n';
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 100000;
	prev = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	/* Nothing may fail (and print) before the limit is lifted again. */
	fx->in = fmemopen(in, strlen(in), "r");
	st = fx->in ? intake_read(fx->in, &fx->o, &fx->rcpts, &fx->m, &fx->e)
		    : ST_OK;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, prev);
	assert_non_null(fx->in);
	assert_int_equal(st, ST_TEMPFAIL);
	assert_int_equal(fx->m.spool_fd, -1);
	assert_non_null(strstr(fx->e.msg, "cannot write the spool file"));
	fclose(fx->in);
	fx->in = NULL;
	free(in);
}

static void test_large_streaming(void **state)
{
	struct fx *fx = *state;
	size_t n = 8 * 1024 * 1024, i;
	char *in = must_alloc(n + 1);

	assert_non_null(in);
	for (i = 0; i < n; i++)
		in[i] = (i % 100 == 99) ? '\n' : (char)('a' + i % 26);
	in[n] = '\0';
	memcpy(in, FULL_HDR "\n", strlen(FULL_HDR) + 1);
	for (int dots = DOT_ENDS; dots <= DOT_IGNORE; dots++) {
		fx->o.dots = (enum dot_rule)dots;
		assert_int_equal(run(fx, in), ST_OK);
		/* Every LF became CRLF: one more byte per line, and the
		 * last line got its missing CRLF. */
		assert_int_equal(fx->spool_len, n + count(in, "\n") + 2);
	}
	free(in);
}

/* ---- line_reader ------------------------------------------------------ */

/* A sink that writes the lines it gets as "text$", for comparison. */
struct rec {
	char out[256];
	size_t len;
};

static void rec_data(void *ctx, const char *p, size_t n)
{
	struct rec *r = ctx;

	assert_true(r->len + n < sizeof r->out);
	assert_null(memchr(p, '\r', n));
	assert_null(memchr(p, '\n', n));
	memcpy(r->out + r->len, p, n);
	r->len += n;
}

static void rec_eol(void *ctx)
{
	struct rec *r = ctx;

	assert_true(r->len + 1 < sizeof r->out);
	r->out[r->len++] = '$';
}

/* Reads text under dots to its end; returns the last status, the lines
 * in out ("" on failure: err then) and what was left unread in rest. */
static enum status read_lines(const char *text, enum dot_rule dots,
			      char *out, char *rest, struct err *err,
			      bool *eightbit)
{
	struct rec rec = { .len = 0 };
	struct line_sink sink = { rec_data, rec_eol, &rec };
	struct line_reader *r;
	enum status st = ST_OK;
	FILE *in = fmemopen((void *)text, strlen(text), "r");
	size_t n;

	assert_non_null(in);
	r = line_reader_new(in, dots, &sink);
	assert_non_null(r);
	flockfile(in);
	while (st == ST_OK && !line_reader_ended(r))
		st = line_reader_read(r, err);
	funlockfile(in);
	*eightbit = line_reader_eightbit(r);
	line_reader_free(r);
	rec.out[rec.len] = '\0';
	strcpy(out, st == ST_OK ? rec.out : "");
	n = fread(rest, 1, 63, in);
	rest[n] = '\0';
	fclose(in);
	return st;
}

static void test_line_reader(void **state)
{
	static const struct {
		enum dot_rule dots;
		const char *in, *lines, *rest;
	} cases[] = {
		/* Every line end counts; a missing last one is supplied. */
		{ DOT_ENDS, "a\r\nb\rc\nd", "a$b$c$d$", "" },
		{ DOT_ENDS, "a\r\r\nb\n\n", "a$$b$$", "" },
		{ DOT_ENDS, "", "", "" },
		/* A lone "." ends the message; what follows is not read. */
		{ DOT_ENDS, "a\n.\nrest", "a$", "rest" },
		{ DOT_ENDS, "a\n.", "a$", "" },
		{ DOT_ENDS, "..x\n.y\n", "..x$.y$", "" },
		/* -i: only EOF ends it. */
		{ DOT_IGNORE, "a\n.\nb", "a$.$b$", "" },
		/* SMTP: the stuffed dot goes, ".\r" not followed by LF is
		 * data, "." CRLF ends and leaves the next command. */
		{ DOT_SMTP, "..x\r\n.y\r\n.\r\nQUIT\r\n", ".x$y$", "QUIT\r\n" },
		{ DOT_SMTP, ".\rx\r\n.\r\n", ".$x$", "" },
		{ DOT_SMTP, "a\n.\nNOOP\n", "a$", "NOOP\n" },
	};
	char out[256], rest[64];
	struct err e;
	bool eightbit;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(read_lines(cases[i].in, cases[i].dots, out,
					    rest, &e, &eightbit), ST_OK);
		assert_string_equal(out, cases[i].lines);
		assert_string_equal(rest, cases[i].rest);
		assert_false(eightbit);
	}
	assert_int_equal(read_lines("caf\xc3\xa9\n", DOT_ENDS, out, rest, &e,
				    &eightbit), ST_OK);
	assert_true(eightbit);

	/* RFC 5321 4.1.1.4: SMTP data needs its ".". */
	assert_int_equal(read_lines("a\r\nb", DOT_SMTP, out, rest, &e,
				    &eightbit), ST_PERMFAIL);
	assert_string_equal(e.msg,
			    "SMTP data ended by EOF before the final '.'");
}

/* ---- spool ------------------------------------------------------------- */

/* Rewinds, releases and reads the whole spool file. */
static char *spool_contents(struct spool *s, size_t *len)
{
	struct err e;
	char *data;
	int fd;

	assert_int_equal(spool_flush(s, &e), ST_OK);
	assert_int_equal(spool_rewind(s, &e), ST_OK);
	*len = (size_t)s->size;
	fd = spool_release(s);
	assert_true(fd >= 0);
	assert_int_equal(s->fd, -1);
	data = read_all(fd, *len);
	assert_int_equal(lseek(fd, 0, SEEK_END), (off_t)*len);
	close(fd);
	return data;
}

static void test_spool_wire_form(void **state)
{
	struct fx *fx = *state;
	struct spool s;
	struct err e;
	char field[1300], body[2100], *data;
	const char *p;
	size_t len;

	spool_init(&s, 0);
	assert_int_equal(spool_open(&s, fx->dir, &e), ST_OK);
	/* Folded at the last white space that fits... */
	memset(field, 'a', sizeof field);
	memcpy(field, "X-A: ", 5);
	field[990] = ' ';
	field[1200] = '\0';
	assert_int_equal(spool_write_field(&s, field, &e), ST_OK);
	/* ... broken with CRLF SP where there is none. */
	field[3] = 'a';
	field[4] = 'a';
	field[990] = 'a';
	assert_int_equal(spool_write_field(&s, field, &e), ST_OK);
	/* Held continuation lines stay as they are. */
	assert_int_equal(spool_write_field(&s, "X-B: 1\r\n\t2\xc3\xa9", &e),
			 ST_OK);
	assert_int_equal(s.header_lines, 2 + 2 + 2);
	assert_true((s.hi & 0x80) != 0);
	assert_int_equal(spool_write(&s, "\r\n", 2, &e), ST_OK);
	memset(body, 'b', sizeof body);
	assert_int_equal(spool_write_body(&s, body, 1000, &e), ST_OK);
	assert_int_equal(spool_write_body(&s, body, 1000, &e), ST_OK);
	assert_int_equal(spool_end_body_line(&s, &e), ST_OK);
	assert_int_equal(spool_write_body(&s, body, 998, &e), ST_OK);
	assert_int_equal(spool_end_body_line(&s, &e), ST_OK);

	data = spool_contents(&s, &len);
	assert_int_equal(len, (990 + 2) + (1200 - 990 + 2) +
			      (998 + 3) + (1200 - 998 + 2) +
			      (6 + 2 + 4 + 2) + 2 +
			      (998 + 2 + 998 + 2 + 4 + 2) + (998 + 2));
	assert_int_equal(memcmp(data + 990, "\r\n a", 4), 0);
	assert_int_equal(memcmp(data + 1204 + 998, "\r\n a", 4), 0);
	p = strstr(data, "\r\nX-B: 1\r\n\t2\xc3\xa9\r\n\r\n");
	assert_non_null(p);
	p += strlen("\r\nX-B: 1\r\n\t2\xc3\xa9\r\n\r\n");
	assert_int_equal(strspn(p, "b"), 998);
	assert_int_equal(memcmp(p + 998, "\r\n", 2), 0);
	assert_int_equal(strspn(p + 1000, "b"), 998);
	assert_int_equal(memcmp(p + 1998, "\r\nbbbb\r\n", 8), 0);
	assert_int_equal(strspn(p + 2006, "b"), 998);
	assert_string_equal(p + 2006 + 998, "\r\n");
	free(data);
	spool_free(&s);
}

static void test_spool_failures(void **state)
{
	struct fx *fx = *state;
	struct spool s;
	struct err e;

	/* The bound refuses the write that would cross it, and every
	 * later one with the same message. */
	spool_init(&s, 10);
	assert_int_equal(spool_open(&s, fx->dir, &e), ST_OK);
	assert_int_equal(spool_write(&s, "0123456789", 10, &e), ST_OK);
	assert_int_equal(spool_write(&s, "x", 1, &e), ST_PERMFAIL);
	assert_string_equal(e.msg, "message larger than 10 bytes");
	e.msg[0] = '\0';
	assert_int_equal(spool_write_field(&s, "A: b", &e), ST_PERMFAIL);
	assert_string_equal(e.msg, "message larger than 10 bytes");
	assert_int_equal(spool_flush(&s, &e), ST_PERMFAIL);
	assert_int_equal(s.size, 10);
	spool_free(&s);
	assert_int_equal(s.fd, -1);

	spool_init(&s, 0);
	assert_int_equal(spool_open(&s, "/nonexistent/sendmx-test", &e),
			 ST_TEMPFAIL);
	assert_non_null(strstr(e.msg, "cannot create a spool file in "
				      "/nonexistent/sendmx-test"));
	assert_int_equal(spool_write(&s, "x", 1, &e), ST_TEMPFAIL);
	assert_int_equal(spool_release(&s), -1);
	spool_free(&s);
}

/* ---- recipients -------------------------------------------------------- */

static void test_recipients_add(void **state)
{
	struct address_list l;
	struct err e;

	(void)state;
	address_list_init(&l);
	assert_int_equal(recipients_add(&l, "B", "bob@example.org", NULL, "",
					&e), ST_OK);
	/* RFC 5321 2.4: the domain ignores case, the local part not. */
	assert_int_equal(recipients_add(&l, NULL, "bob@EXAMPLE.ORG", NULL, "",
					&e), ST_OK);
	assert_int_equal(recipients_add(&l, NULL, "Bob@example.org", NULL, "",
					&e), ST_OK);
	assert_int_equal(recipients_add(&l, NULL, "root", NULL, "", &e),
			 ST_OK);
	assert_int_equal(recipients_add(&l, NULL, "root", NULL, "", &e),
			 ST_OK);
	assert_int_equal(recipients_add(&l, NULL, "root@example.org", NULL, "",
					&e), ST_OK);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.items[0].display, "B");
	assert_string_equal(l.items[0].mailbox, "bob@example.org");
	assert_string_equal(l.items[1].mailbox, "Bob@example.org");
	assert_string_equal(l.items[2].mailbox, "root");

	assert_int_equal(recipients_add(&l, NULL, "a\r\nRSET@x", NULL, " in X",
					&e), ST_PERMFAIL);
	assert_string_equal(e.msg, "control character in recipient address"
				   " in X");
	assert_int_equal(recipients_add(&l, NULL, "a b@x", NULL, "", &e),
			 ST_PERMFAIL);
	assert_string_equal(e.msg, "invalid recipient address 'a b@x'");
	assert_int_equal(l.n, 4);
	address_list_free(&l);
}

/* Found by fuzzing: a field's first line must never be folded before
 * its colon (obsolete "Subject :" with a long unbroken value), and a
 * name that cannot fit in one 998-octet line with its colon is body. */
static void test_fold_never_before_colon(void **state)
{
	struct fx *fx = *state;
	struct buf in;
	char *line;

	buf_init(&in);
	buf_appends(&in, FULL_HDR "To: bob@example.org\nSubject :");
	for (int i = 0; i < 1200; i++)
		buf_appends(&in, "y");
	buf_appends(&in, "\nX-Long-");
	for (int i = 0; i < 1000; i++)
		buf_appends(&in, "N");
	buf_appends(&in, ": v\n\nbody\n");
	assert_int_equal(run(fx, in.data), ST_OK);
	assert_wire_form(fx);
	/* Every header line starts a field or continues one. */
	for (line = fx->spool; strncmp(line, "\r\n", 2) != 0;) {
		char *end = strstr(line, "\r\n");

		assert_non_null(end);
		assert_true(line[0] == ' ' || line[0] == '\t' ||
			    memchr(line, ':', (size_t)(end - line)) != NULL);
		line = end + 2;
	}
	/* The name too long to be a field went to the body, whole. */
	assert_non_null(strstr(line, "\r\nX-Long-NNN"));
	buf_free(&in);
}

/* The duplicate index: many recipients, some added behind its back
 * with address_list_add, duplicates in another domain case. */
static void test_recipients_many(void **state)
{
	struct address_list l;
	struct err e;
	char a[64];

	(void)state;
	address_list_init(&l);
	address_list_add(&l, NULL, "early@example.org");
	for (int i = 0; i < 5000; i++) {
		snprintf(a, sizeof a, "user%d@Example.ORG", i);
		assert_int_equal(recipients_add(&l, NULL, a, NULL, "", &e),
				 ST_OK);
		if (i == 2500)
			address_list_add(&l, NULL, "late@example.org");
	}
	for (int i = 0; i < 5000; i += 7) {
		snprintf(a, sizeof a, "user%d@example.org", i);
		assert_int_equal(recipients_add(&l, NULL, a, NULL, "", &e),
				 ST_OK);
	}
	assert_int_equal(l.n, 5002);
	assert_true(recipients_contains(&l, "early@EXAMPLE.org"));
	assert_true(recipients_contains(&l, "late@example.org"));
	assert_false(recipients_contains(&l, "Late@example.org"));
	assert_false(recipients_contains(&l, "user5000@example.org"));
	address_list_free(&l);
}

/* A bare name is qualified before the duplicate check: "root" and
 * "root@h.example" must not both get an RCPT TO. */
static void test_recipients_add_qualifies(void **state)
{
	struct address_list l;
	struct err e;

	(void)state;
	address_list_init(&l);
	assert_int_equal(recipients_add(&l, "R", "root", "h.example", "", &e),
			 ST_OK);
	assert_int_equal(recipients_add(&l, NULL, "root@H.EXAMPLE",
					"h.example", "", &e), ST_OK);
	assert_int_equal(recipients_add(&l, NULL, "\"a b\"", "h.example", "",
					&e), ST_OK);
	assert_int_equal(recipients_add(&l, NULL, "c@d.example", "h.example",
					"", &e), ST_OK);
	assert_int_equal(recipients_add(&l, NULL, "root", "", "", &e), ST_OK);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.items[0].mailbox, "root@h.example");
	assert_string_equal(l.items[0].display, "R");
	assert_string_equal(l.items[1].mailbox, "\"a b\"@h.example");
	assert_string_equal(l.items[2].mailbox, "c@d.example");
	assert_string_equal(l.items[3].mailbox, "root");
	address_list_free(&l);
}

static void test_recipients_extract(void **state)
{
	struct header_block h;
	struct address_list l;
	struct err e;

	(void)state;
	header_init(&h);
	address_list_init(&l);
	assert_true(header_add_raw(&h, "Cc: c@x.example"));
	assert_true(header_add_raw(&h, "To: A <a@x.example>,\r\n b@x.example"));
	assert_true(header_add_raw(&h, "bcc: hidden:d@x.example;"));
	assert_true(header_add_raw(&h, "TO: A@X.EXAMPLE"));
	assert_int_equal(recipients_extract(&h, &l, NULL, &e), ST_OK);
	/* To, then Cc, then Bcc; each field in header order. */
	assert_int_equal(l.n, 5);
	assert_string_equal(l.items[0].mailbox, "a@x.example");
	assert_string_equal(l.items[0].display, "A");
	assert_string_equal(l.items[1].mailbox, "b@x.example");
	assert_string_equal(l.items[2].mailbox, "A@X.EXAMPLE");
	assert_string_equal(l.items[3].mailbox, "c@x.example");
	assert_string_equal(l.items[4].mailbox, "d@x.example");
	address_list_free(&l);

	/* RFC 5322 3.6.6: resent fields win. */
	assert_true(header_add_raw(&h, "Resent-From: r@x.example"));
	assert_int_equal(recipients_extract(&h, &l, NULL, &e), ST_OK);
	assert_int_equal(l.n, 0);
	assert_true(header_add_raw(&h, "Resent-Cc: rc@x.example"));
	assert_true(header_add_raw(&h, "Resent-To: rt@x.example"));
	assert_int_equal(recipients_extract(&h, &l, NULL, &e), ST_OK);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.items[0].mailbox, "rt@x.example");
	assert_string_equal(l.items[1].mailbox, "rc@x.example");
	address_list_free(&l);

	/* The first bad field fails; what came before stays. */
	assert_true(header_add_raw(&h, "Resent-Bcc: <broken"));
	assert_int_equal(recipients_extract(&h, &l, NULL, &e), ST_PERMFAIL);
	assert_string_equal(e.msg, "bad address in the Resent-Bcc: header: "
				   "missing '>' in '<broken'");
	assert_int_equal(l.n, 2);
	address_list_free(&l);
	header_free(&h);
}

/* ---- complete ---------------------------------------------------------- */

static char *date_in(const char *tz, time_t t)
{
	char *old = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
	char *d;

	assert_int_equal(setenv("TZ", tz, 1), 0);
	tzset();
	d = complete_date(t);
	if (old != NULL)
		setenv("TZ", old, 1);
	else
		unsetenv("TZ");
	tzset();
	free(old);
	return d;
}

static void test_complete_date(void **state)
{
	static const struct {
		const char *tz, *date;
	} cases[] = {
		{ "UTC0", "Thu, 01 Jan 2026 00:00:00 +0000" },
		{ "EST5", "Wed, 31 Dec 2025 19:00:00 -0500" },
		{ "IST-5:30", "Thu, 01 Jan 2026 05:30:00 +0530" },
		{ "NST3:30", "Wed, 31 Dec 2025 20:30:00 -0330" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *d = date_in(cases[i].tz, 1767225600);

		assert_string_equal(d, cases[i].date);
		free(d);
	}
}

static void test_complete_fields(void **state)
{
	struct originator o = { .sender = "" };
	char *a, *b;

	(void)state;
	a = complete_message_id(NULL);
	b = complete_message_id("h.example");
	assert_true(matches(a, "^<[0-9]{14}\\.[0-9]+\\.[0-9a-f]{16}"
			       "@localhost>$"));
	assert_true(matches(b, "@h\\.example>$"));
	assert_string_not_equal(a, b);
	free(a);
	free(b);

	a = complete_local_address(NULL, "");
	assert_string_equal(a, "nobody@localhost");
	free(a);
	a = complete_local_address("al\r\nRCPT\x7fice", "h");
	assert_string_equal(a, "alRCPTice@h");
	free(a);

	o.login = "alice";
	o.hostname = "h";
	a = complete_from(&o);
	assert_string_equal(a, "alice@h");
	free(a);
	o.full_name = "A \"B\" \\ C\r\nBcc: x";
	a = complete_from(&o);
	assert_string_equal(a, "\"A \\\"B\\\" \\\\ CBcc: x\" <alice@h>");
	free(a);
	o.full_name = "\r\n";
	o.sender = "s@x.example";
	a = complete_from(&o);
	assert_string_equal(a, "s@x.example");
	free(a);
}

static void test_complete_headers(void **state)
{
	struct originator o = { .sender = "s@x.example", .hostname = "h" };
	struct header_block h;
	char *id, *v;

	(void)state;
	header_init(&h);
	assert_true(header_add_raw(&h, "Bcc: b@x.example"));
	assert_true(header_add_raw(&h, "Message-ID: <id@x> \t"));
	assert_true(header_add_raw(&h, "resent-bcc: c@x.example"));
	id = complete_headers(&h, &o);
	assert_string_equal(id, "<id@x>");
	free(id);
	assert_false(header_has(&h, "Bcc"));
	assert_false(header_has(&h, "Resent-Bcc"));
	assert_int_equal(header_find(&h, "Message-ID", 0), 1);
	/* Added at the end, in this order. */
	assert_int_equal(header_find(&h, "Date", 0), 3);
	assert_int_equal(header_find(&h, "From", 0), 4);
	v = header_value(&h, 4);
	assert_string_equal(v, "s@x.example");
	free(v);
	header_free(&h);

	header_init(&h);
	assert_true(header_add_raw(&h, "From: a@b"));
	assert_true(header_add_raw(&h, "Date: today"));
	id = complete_headers(&h, &o);
	assert_true(matches(id, "^<[0-9]{14}\\.[0-9]+\\.[0-9a-f]{16}@h>$"));
	assert_int_equal(h.n, 3);
	v = header_value(&h, 2);
	assert_string_equal(v, id);
	free(v);
	free(id);
	header_free(&h);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_crlf_normalisation),
		T(test_bare_cr_everywhere),
		T(test_missing_final_newline),
		T(test_empty_input),
		T(test_dot_ends),
		T(test_dot_ends_regular_file),
		T(test_dot_ignore),
		T(test_dot_smtp),
		T(test_dot_smtp_drains_after_failure),
		T(test_mbox_from_dropped),
		T(test_no_headers),
		T(test_folded_fields_kept),
		T(test_generated_fields),
		T(test_existing_fields_not_duplicated),
		T(test_from_full_name_and_sender),
		T(test_full_name_injection),
		T(test_bcc_removed),
		T(test_extract_recipients),
		T(test_extract_resent),
		T(test_extract_groups_and_errors),
		T(test_no_recipients),
		T(test_cmdline_checked),
		T(test_bare_names_qualified),
		T(test_long_body_lines),
		T(test_long_header_lines),
		T(test_eightbit),
		T(test_nul_bytes),
		T(test_max_size),
		T(test_max_header_bytes),
		T(test_spool_errors),
		T(test_large_streaming),
		cmocka_unit_test(test_line_reader),
		T(test_spool_wire_form),
		T(test_spool_failures),
		cmocka_unit_test(test_recipients_add),
		cmocka_unit_test(test_recipients_many),
		T(test_fold_never_before_colon),
		cmocka_unit_test(test_recipients_add_qualifies),
		cmocka_unit_test(test_recipients_extract),
		cmocka_unit_test(test_complete_date),
		cmocka_unit_test(test_complete_fields),
		cmocka_unit_test(test_complete_headers),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
