/* test_aliases.c - the aliases(5) file: syntax, errors with file:line,
 * newaliases' report, expansion (loops, self-reference, dedupe, policy)
 * and the bounds. */
#include "ac_config.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "aliases.h"
#include "util.h"

static char tmpdir[256];

static int make_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "%s/test_aliases.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char path[PATH_MAX];
	struct dirent *d;
	DIR *dir = opendir(tmpdir);

	(void)state;
	if (dir == NULL)
		return -1;
	while ((d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", tmpdir, d->d_name);
		unlink(path);
	}
	closedir(dir);
	return rmdir(tmpdir);
}

/* tmpdir/name; the result is one of a few static buffers. */
static const char *tpath(const char *name)
{
	static char paths[8][PATH_MAX];
	static int next;
	char *p = paths[next++ % 8];

	snprintf(p, PATH_MAX, "%s/%s", tmpdir, name);
	return p;
}

static const char *write_mode(const char *name, const char *text, mode_t mode)
{
	const char *path = tpath(name);
	size_t len = strlen(text);
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

static const char *write_file(const char *name, const char *text)
{
	return write_mode(name, text, 0644);
}

/* "FMT" with every "@D@" replaced by tmpdir: expected messages. */
static char *expand_dir(const char *fmt)
{
	struct buf b;
	const char *p;

	buf_init(&b);
	buf_appends(&b, "");
	while ((p = strstr(fmt, "@D@")) != NULL) {
		buf_append(&b, fmt, (size_t)(p - fmt));
		buf_appends(&b, tmpdir);
		fmt = p + 3;
	}
	buf_appends(&b, fmt);
	return b.data;
}

static struct aliases *load_ok(const char *text)
{
	struct aliases *a = NULL;
	struct err err = { "" };
	const char *path = write_file("aliases", text);

	if (aliases_load(path, false, &a, &err) != ST_OK)
		fail_msg("unexpected error: %s", err.msg);
	assert_non_null(a);
	return a;
}

/* Expects text to fail to load with exactly want (@D@ = tmpdir). */
static void load_err(const char *text, const char *want)
{
	struct aliases *a = (struct aliases *)1;
	struct err err = { "" };
	const char *path = write_file("aliases", text);
	char *exp = expand_dir(want);

	assert_int_equal(aliases_load(path, false, &a, &err), ST_PERMFAIL);
	assert_null(a);
	assert_string_equal(err.msg, exp);
	free(exp);
}

/* The test's local domains: web1.example.org and localhost. */
static bool is_local(void *ctx, const char *addr, char **localpart)
{
	const char *at = strrchr(addr, '@');
	bool set = ctx != NULL;

	if (at == NULL || (strcasecmp(at + 1, "web1.example.org") != 0 &&
			   strcasecmp(at + 1, "localhost") != 0))
		return false;
	if (set)   /* the callback may give the local part itself */
		*localpart = xstrndup(addr, (size_t)(at - addr));
	return true;
}

/* The expansion as "L:root A:bob@x P:cmd F:/path", or "ERR:message". */
static char *expand_ex(const struct aliases *a, const char *rcpt,
		       bool pipe, bool file, void *ctx)
{
	struct alias_target *t = (struct alias_target *)1;
	struct err err = { "" };
	struct buf b;
	size_t n = 99;

	buf_init(&b);
	buf_appends(&b, "");
	if (aliases_expand(a, rcpt, pipe, file, is_local, ctx, &t, &n,
			   &err) != ST_OK) {
		assert_null(t);
		assert_int_equal(n, 0);
		buf_appendf(&b, "ERR:%s", err.msg);
		return b.data;
	}
	assert_true(n >= 1);
	for (size_t k = 0; k < n; k++)
		buf_appendf(&b, "%s%c:%s", k ? " " : "",
			    "ALPF"[t[k].kind], t[k].value);
	aliases_free_targets(t, n);
	return b.data;
}

static void expect_expand(const struct aliases *a, const char *rcpt,
			  const char *want)
{
	char *got = expand_ex(a, rcpt, true, true, NULL);
	char *exp = expand_dir(want);

	assert_string_equal(got, exp);
	free(got);
	free(exp);
}

/* Runs aliases_check on text; returns the count, *out the report. */
static size_t check(const char *text, bool pipe, bool file, char **out)
{
	const char *path = write_file("aliases", text);
	size_t len, n;
	FILE *f = open_memstream(out, &len);

	assert_non_null(f);
	n = aliases_check(path, pipe, file, is_local, NULL, f);
	fclose(f);
	return n;
}

/* ---- syntax ------------------------------------------------------------- */

static void test_basic_syntax(void **state)
{
	struct aliases *a;

	(void)state;
	a = load_ok("# the system aliases\n"
		    "\n"
		    "   \t\n"
		    "postmaster: root\n"
		    "Root:\tadmin@example.org, bob\n"
		    "webmaster  : www\n"
		    "  # an indented comment\n"
		    "abuse:postmaster,\n"
		    "crlf: carol\r\n"
		    "www: \\www\n");
	assert_int_equal(aliases_count(a), 6);
	expect_expand(a, "root", "A:admin@example.org L:bob");
	/* Names are matched without case; mailboxes come out lower case. */
	expect_expand(a, "ROOT", "A:admin@example.org L:bob");
	expect_expand(a, "PostMaster", "A:admin@example.org L:bob");
	expect_expand(a, "webmaster", "L:www");
	expect_expand(a, "abuse", "A:admin@example.org L:bob");
	expect_expand(a, "crlf", "L:carol");
	expect_expand(a, "Nobody", "L:nobody");
	aliases_free(a);
}

static void test_continuation(void **state)
{
	struct aliases *a;

	(void)state;
	a = load_ok("staff: alice,\n"
		    "  bob,\n"
		    "# a comment between continuation lines\n"
		    "\n"
		    "\tcarol@example.org\n"
		    "ops:\n"
		    "    dave, erin\n");
	assert_int_equal(aliases_count(a), 2);
	expect_expand(a, "staff", "L:alice L:bob A:carol@example.org");
	expect_expand(a, "ops", "L:dave L:erin");
	aliases_free(a);

	/* An error in a continuation line is reported at that line. */
	load_err("staff: alice,\n  bob,\n  carol@\n",
		 "@D@/aliases:3: invalid target: missing domain after '@' "
		 "in 'carol@'");
}

static void test_quoted_targets(void **state)
{
	struct aliases *a;

	(void)state;
	a = load_ok("p1: \"|/usr/bin/foo arg, with comma\"\n"
		    "p2: |/usr/bin/bar -x \"a, b\"\n"
		    "p3: | /usr/bin/baz\n"
		    "f1: \"/var/log/mail file\", /var/log/other\n"
		    "q1: \"name with spaces\"@example.org\n"
		    "q2: \"bob\", \"\\\"odd\\\" one\"@example.org\n"
		    "d1: Bob Smith <bob@example.org>, carol (admin, main)\n");
	expect_expand(a, "p1", "P:/usr/bin/foo arg, with comma");
	expect_expand(a, "p2", "P:/usr/bin/bar -x \"a, b\"");
	expect_expand(a, "p3", "P:/usr/bin/baz");
	expect_expand(a, "f1", "F:/var/log/mail file F:/var/log/other");
	expect_expand(a, "q1", "A:\"name with spaces\"@example.org");
	expect_expand(a, "q2", "L:bob A:\"\\\"odd\\\" one\"@example.org");
	expect_expand(a, "d1", "A:bob@example.org L:carol");
	aliases_free(a);
}

static void test_include(void **state)
{
	struct aliases *a;
	char *text;

	(void)state;
	text = expand_dir("# members\n"
			  "alice, bob@example.org\n"
			  "\n"
			  "   carol\n"
			  "\"|/usr/bin/archive list1\"\n"
			  "\":include:@D@/list2\"\n");
	write_file("list1", text);
	free(text);
	write_file("list2", "dave@example.net\n");
	/* list1 is read once and used twice. */
	text = expand_dir("list: :include:@D@/list1, erin\n"
			  "again: :INCLUDE: @D@/list1\n");
	a = load_ok(text);
	free(text);
	expect_expand(a, "list", "L:alice A:bob@example.org L:carol "
		      "P:/usr/bin/archive list1 A:dave@example.net L:erin");
	expect_expand(a, "again", "L:alice A:bob@example.org L:carol "
		      "P:/usr/bin/archive list1 A:dave@example.net");
	aliases_free(a);

	load_err("list: :include:list1\n",
		 "@D@/aliases:1: include path 'list1' is not absolute");
	text = expand_dir("x: a\nlist: :include:@D@/absent\n");
	load_err(text, "@D@/aliases:2: include file @D@/absent: cannot open: "
		 "No such file or directory");
	free(text);
	/* Errors inside an include file name that file and its line. */
	write_file("bad", "alice\nbob@\n");
	text = expand_dir("list: :include:@D@/bad\n");
	load_err(text, "@D@/bad:2: invalid target: missing domain after '@' "
		 "in 'bob@'");
	free(text);
	write_mode("ww", "alice\n", 0666);
	text = expand_dir("list: :include:@D@/ww\n");
	load_err(text, "@D@/aliases:1: include file @D@/ww: writable by "
		 "others, refused");
	free(text);
}

static void test_include_loop(void **state)
{
	char *text, name[32], body[PATH_MAX + 32];

	(void)state;
	text = expand_dir(":include:@D@/b.inc\n");
	write_file("a.inc", text);
	free(text);
	text = expand_dir("bob, :include:@D@/a.inc\n");
	write_file("b.inc", text);
	free(text);
	text = expand_dir("list: x, :include:@D@/a.inc\n");
	load_err(text, "@D@/b.inc:1: include loop: @D@/aliases -> @D@/a.inc "
		 "-> @D@/b.inc -> @D@/a.inc");
	free(text);
	/* Including the aliases file itself is a loop too. */
	text = expand_dir("list: :include:@D@/aliases\n");
	load_err(text, "@D@/aliases:1: include loop: @D@/aliases -> "
		 "@D@/aliases");
	free(text);

	/* Nesting: n0 includes n1 ... ; 8 levels load, 9 do not. */
	for (int k = 0; k < 10; k++) {
		snprintf(name, sizeof name, "n%d", k);
		if (k == 9)
			snprintf(body, sizeof body, "deep\n");
		else
			snprintf(body, sizeof body, ":include:%s/n%d\n",
				 tmpdir, k + 1);
		write_file(name, body);
	}
	text = expand_dir("ok: :include:@D@/n2\n");
	{
		struct aliases *a = load_ok(text);

		expect_expand(a, "ok", "L:deep");
		aliases_free(a);
	}
	free(text);
	text = expand_dir("deep: :include:@D@/n1\n");
	load_err(text, "@D@/n8:1: includes nested deeper than 8 levels at "
		 "@D@/n9");
	free(text);
}

static void test_duplicates(void **state)
{
	(void)state;
	load_err("root: bob\nother: carol\nroot: dave\n",
		 "@D@/aliases:3: alias 'root' defined twice (first at "
		 "@D@/aliases:1)");
	load_err("Root: bob\n\nROOT: dave\n",
		 "@D@/aliases:3: alias 'root' defined twice (first at "
		 "@D@/aliases:1)");
}

static void test_errors(void **state)
{
	char longline[ALIASES_MAX_LINE + 64];

	(void)state;
	load_err("ok: a\nroot bob\n",
		 "@D@/aliases:2: expected 'name: targets', found no ':'");
	load_err(": bob\n", "@D@/aliases:1: missing alias name before ':'");
	load_err("root@example.org: bob\n", "@D@/aliases:1: alias name "
		 "'root@example.org' has a domain: names are local parts");
	load_err("the root: bob\n",
		 "@D@/aliases:1: white space in alias name 'the root'");
	load_err("ro<ot: bob\n",
		 "@D@/aliases:1: invalid character '<' in alias name 'ro<ot'");
	load_err("root:\n", "@D@/aliases:1: alias 'root' has no targets");
	load_err("root: , ,\n", "@D@/aliases:1: alias 'root' has no targets");
	load_err("  bob\nroot: x\n", "@D@/aliases:1: continuation line "
		 "without an alias before it");
	load_err("root: \"bob, carol\n", "@D@/aliases:1: unterminated quoted "
		 "string in '\"bob, carol'");
	load_err("root: bob\x01\n",
		 "@D@/aliases:1: control character 0x01 in line");
	load_err("root: bob # the admin\n", "@D@/aliases:1: invalid target: "
		 "invalid local part in 'bob # the admin' (commas separate "
		 "targets; comments go on lines of their own)");
	load_err("root: <>\n",
		 "@D@/aliases:1: invalid target '<>': the null address");
	load_err("root: bob@exa_mple.org\n",
		 "@D@/aliases:1: invalid address 'bob@exa_mple.org'");
	load_err("root: |\n", "@D@/aliases:1: empty command in pipe target");
	load_err("root: \\\n", "@D@/aliases:1: invalid target: empty address");
	memset(longline, 'a', sizeof longline);
	memcpy(longline, "x: ", 3);
	longline[sizeof longline - 2] = '\n';
	longline[sizeof longline - 1] = '\0';
	{
		char *text = xasprintf("ok: a\n%s", longline);

		load_err(text, "@D@/aliases:2: line longer than 4096 octets");
		free(text);
	}
}

static void test_missing_and_unsafe(void **state)
{
	struct aliases *a = (struct aliases *)1;
	struct err err = { "" };
	char *exp;

	(void)state;
	unlink(tpath("none"));
	assert_int_equal(aliases_load(tpath("none"), true, &a, &err), ST_OK);
	assert_non_null(a);
	assert_int_equal(aliases_count(a), 0);
	expect_expand(a, "root", "L:root");
	aliases_free(a);

	assert_int_equal(aliases_load(tpath("none"), false, &a, &err),
			 ST_PERMFAIL);
	assert_null(a);
	exp = expand_dir("@D@/none: cannot open: No such file or directory");
	assert_string_equal(err.msg, exp);
	free(exp);

	write_mode("open", "root: bob\n", 0666);
	assert_int_equal(aliases_load(tpath("open"), true, &a, &err),
			 ST_PERMFAIL);
	exp = expand_dir("@D@/open: writable by others, refused");
	assert_string_equal(err.msg, exp);
	free(exp);

	/* /dev/null: the usual "no aliases". */
	assert_int_equal(aliases_load("/dev/null", false, &a, &err), ST_OK);
	assert_int_equal(aliases_count(a), 0);
	aliases_free(a);
	assert_int_equal(aliases_load(tmpdir, false, &a, &err), ST_PERMFAIL);
	exp = expand_dir("@D@: not a regular file");
	assert_string_equal(err.msg, exp);
	free(exp);
}

/* ---- newaliases --------------------------------------------------------- */

static void test_check_report(void **state)
{
	char *out, *exp;

	(void)state;
	assert_int_equal(check("root: bob\n# fine\nbob: bob@example.org\n",
			       false, false, &out), 0);
	assert_string_equal(out, "");
	free(out);

	assert_int_equal(check("root bob\n"                   /* 1 */
			       "ok: alice\n"                  /* 2 */
			       "list: carol,\n"               /* 3 */
			       "   dave@,\n"                  /* 4 */
			       "   erin\n"                    /* 5 */
			       "OK: frank\n"                  /* 6 */
			       "pipe: \"|/usr/bin/x\"\n"      /* 7 */
			       "file: /var/log/x\n"           /* 8 */
			       "a: b\n"                       /* 9 */
			       "b: c@web1.example.org\n"      /* 10 */
			       "c: a\n"                       /* 11 */
			       "bad name: x\n"                /* 12 */
			       "  y\n"                        /* 13 */
			       "empty:\n",                    /* 14 */
			       false, false, &out), 8);
	exp = expand_dir(
		"@D@/aliases:1: expected 'name: targets', found no ':'\n"
		"@D@/aliases:4: invalid target: missing domain after '@' in "
		"'dave@'\n"
		"@D@/aliases:6: alias 'ok' defined twice (first at "
		"@D@/aliases:2)\n"
		"@D@/aliases:7: warning: pipe target \"|/usr/bin/x\" will be "
		"refused: allow_pipe_aliases is off\n"
		"@D@/aliases:8: warning: file target \"/var/log/x\" will be "
		"refused: allow_file_aliases is off\n"
		"@D@/aliases:12: white space in alias name 'bad name'\n"
		"@D@/aliases:14: alias 'empty' has no targets\n"
		"@D@/aliases:9: alias loop: a -> b -> c -> a\n"
		"@D@/aliases:10: alias loop: b -> c -> a -> b\n"
		"@D@/aliases:11: alias loop: c -> a -> b -> c\n");
	assert_string_equal(out, exp);
	free(exp);
	free(out);

	/* Allowed pipes and files: no warnings. */
	assert_int_equal(check("pipe: |/bin/x\nfile: /var/x\n", true, true,
			       &out), 0);
	assert_string_equal(out, "");
	free(out);

	/* Errors in an include file are listed with that file's lines,
	 * once however often it is used; a bad line takes its
	 * continuation lines with it, the next entry is checked. */
	{
		char *text;

		write_file("inc", "ok1, bad@\n# fine\n\"unterminated\n"
			   "relative, :include:x\n");
		text = expand_dir("l1: :include:@D@/inc\n"              /* 1 */
				  "l2: me, :include:@D@/inc\n"          /* 2 */
				  "l3: \x7f\n"                          /* 3 */
				  "  more\n"                            /* 4 */
				  "l4: :include:@D@/absent, :include:@D@/l4\n"
				  "l5: fine\n");                        /* 6 */
		write_file("l4", "\n");
		chmod(tpath("l4"), 0646);
		assert_int_equal(check(text, true, true, &out), 6);
		free(text);
		exp = expand_dir(
			"@D@/inc:1: invalid target: missing domain after '@' "
			"in 'bad@'\n"
			"@D@/inc:3: unterminated quoted string in "
			"'\"unterminated'\n"
			"@D@/inc:4: include path 'x' is not absolute\n"
			"@D@/aliases:3: control character 0x7f in line\n"
			"@D@/aliases:5: include file @D@/absent: cannot open: "
			"No such file or directory\n"
			"@D@/aliases:5: include file @D@/l4: writable by "
			"others, refused\n");
		assert_string_equal(out, exp);
		free(exp);
		free(out);
	}

	/* A missing file is an error. */
	{
		FILE *f = open_memstream(&out, &(size_t){ 0 });

		unlink(tpath("none"));
		assert_int_equal(aliases_check(tpath("none"), false, false,
					       NULL, NULL, f), 1);
		fclose(f);
		exp = expand_dir("@D@/none: cannot open: No such file or "
				 "directory\n");
		assert_string_equal(out, exp);
		free(exp);
		free(out);
	}
}

/* ---- expansion ---------------------------------------------------------- */

static void test_expand_levels(void **state)
{
	struct aliases *a;

	(void)state;
	a = load_ok("root: admins\n"
		    "admins: alice, bob@example.org\n"
		    "alice: alice@example.net, carol\n"
		    "carol: Carol@Example.COM\n");
	expect_expand(a, "root", "A:alice@example.net A:Carol@Example.COM "
		      "A:bob@example.org");
	expect_expand(a, "admins", "A:alice@example.net A:Carol@Example.COM "
		      "A:bob@example.org");
	expect_expand(a, "bob", "L:bob");
	aliases_free(a);

	/* No table: every name is its own mailbox. */
	expect_expand(NULL, "Root", "L:root");
}

static void test_expand_local_domains(void **state)
{
	struct aliases *a;
	char *got;

	(void)state;
	a = load_ok("root: admin@web1.example.org\n"
		    "admin: boss@mail.example.com, \\Admin@LOCALHOST\n"
		    "www-data: root@web1.example.org\n");
	expect_expand(a, "root", "A:boss@mail.example.com L:admin");
	/* A local address as the recipient is looked up by its local part;
	 * a remote one is returned as it is. */
	expect_expand(a, "www-data@WEB1.example.org",
		      "A:boss@mail.example.com L:admin");
	expect_expand(a, "root@mail.example.com", "A:root@mail.example.com");
	expect_expand(a, "nobody@localhost", "L:nobody");
	/* The callback may give the local part itself. */
	got = expand_ex(a, "www-data", true, true, (void *)1);
	assert_string_equal(got, "A:boss@mail.example.com L:admin");
	free(got);
	aliases_free(a);
}

static void test_expand_self_reference(void **state)
{
	struct aliases *a;

	(void)state;
	a = load_ok("root: root, admin@example.org\n"
		    "bob: \\bob, bob@example.net\n"
		    "carol: carol@localhost, \\dave\n"
		    "dave: never@example.org\n"
		    "eve: eve\n");
	expect_expand(a, "root", "L:root A:admin@example.org");
	expect_expand(a, "bob", "L:bob A:bob@example.net");
	/* carol@localhost is carol (local): itself, so the mailbox; \dave
	 * is dave's mailbox, not dave's alias. */
	expect_expand(a, "carol", "L:carol L:dave");
	expect_expand(a, "eve", "L:eve");
	aliases_free(a);
}

static void test_expand_loop(void **state)
{
	struct aliases *a;

	(void)state;
	a = load_ok("a: b\n"
		    "b: c, ok@example.org\n"
		    "c: a\n"
		    "x: y, a\n"
		    "y: y@example.org\n"
		    "p: q@localhost\n"
		    "q: P\n");
	expect_expand(a, "a", "ERR:alias loop: a -> b -> c -> a");
	expect_expand(a, "b", "ERR:alias loop: b -> c -> a -> b");
	expect_expand(a, "x", "ERR:alias loop: x -> a -> b -> c -> a");
	expect_expand(a, "p", "ERR:alias loop: p -> q -> p");
	expect_expand(a, "y", "A:y@example.org");
	aliases_free(a);
}

static void test_expand_dedupe(void **state)
{
	struct aliases *a;

	(void)state;
	a = load_ok("list: alice, bob, alice@Example.ORG, Alice, team\n"
		    "alice: alice@example.org\n"
		    "bob: ALICE@example.org, \"|/bin/x\", /var/x\n"
		    "team: d1, d2, \"|/bin/x\", /var/x, bob\n"
		    "d1: d\n"
		    "d2: d\n"
		    "d: d@example.net, \\alice\n");
	/* The local part keeps its case (RFC 5321 2.4), the domain not. */
	expect_expand(a, "list", "A:alice@example.org A:ALICE@example.org "
		      "P:/bin/x F:/var/x A:d@example.net L:alice");
	aliases_free(a);
}

static void test_pipe_file_policy(void **state)
{
	struct aliases *a;
	char *got, *text;

	(void)state;
	write_file("members", "m1@example.org\n\"|/usr/bin/archive\"\n");
	text = expand_dir("root: list\n"
			  "list: bob@example.org, \"|/usr/bin/procmail -a x\"\n"
			  "log: /var/log/mail.copy\n"
			  "inc: :include:@D@/members\n");
	a = load_ok(text);
	free(text);
	got = expand_ex(a, "root", true, false, NULL);
	assert_string_equal(got, "A:bob@example.org P:/usr/bin/procmail -a x");
	free(got);
	got = expand_ex(a, "root", false, true, NULL);
	text = expand_dir("ERR:pipe target \"|/usr/bin/procmail -a x\" (alias "
			  "'list', @D@/aliases:2) refused: allow_pipe_aliases "
			  "is off");
	assert_string_equal(got, text);
	free(text);
	free(got);
	got = expand_ex(a, "log", true, true, NULL);
	assert_string_equal(got, "F:/var/log/mail.copy");
	free(got);
	got = expand_ex(a, "log", true, false, NULL);
	text = expand_dir("ERR:file target \"/var/log/mail.copy\" (alias 'log', "
			  "@D@/aliases:3) refused: allow_file_aliases is off");
	assert_string_equal(got, text);
	free(text);
	free(got);
	/* A target from an include file names that file's line. */
	got = expand_ex(a, "inc", false, false, NULL);
	text = expand_dir("ERR:pipe target \"|/usr/bin/archive\" (alias 'inc', "
			  "@D@/members:2) refused: allow_pipe_aliases is off");
	assert_string_equal(got, text);
	free(text);
	free(got);
	aliases_free(a);
}

static void test_expand_bad_input(void **state)
{
	char *got;

	(void)state;
	got = expand_ex(NULL, "", true, true, NULL);
	assert_string_equal(got, "ERR:invalid local name: empty or with "
			    "control characters");
	free(got);
	got = expand_ex(NULL, "ro\not", true, true, NULL);
	assert_string_equal(got, "ERR:invalid local name: empty or with "
			    "control characters");
	free(got);

	/* An alias whose only include is empty expands to nothing. */
	{
		struct aliases *a;
		char *text;

		write_file("empty", "# nobody yet\n");
		text = expand_dir("list: :include:@D@/empty\n");
		a = load_ok(text);
		free(text);
		expect_expand(a, "list", "ERR:alias 'list' expands to no targets");
		aliases_free(a);
	}
}

/* ---- bounds ------------------------------------------------------------- */

static void test_bound_depth(void **state)
{
	struct aliases *a;
	struct buf b;

	(void)state;
	buf_init(&b);
	/* a0 -> a1 -> ... -> a24 -> end@example.org */
	for (int k = 0; k < 25; k++)
		buf_appendf(&b, "a%d: a%d\n", k, k + 1);
	buf_appends(&b, "a25: end@example.org\n");
	a = load_ok(b.data);
	buf_free(&b);
	/* 20 names on the way are fine (a5 .. a24 then a25 is 21). */
	expect_expand(a, "a6", "A:end@example.org");
	expect_expand(a, "a5", "ERR:alias nesting deeper than 20 levels: "
		      "a5 -> a6 -> a7 -> a8 -> a9 -> a10 -> a11 -> a12 -> "
		      "a13 -> a14 -> a15 -> a16 -> a17 -> a18 -> a19 -> a20 -> "
		      "a21 -> a22 -> a23 -> a24 -> a25");
	aliases_free(a);
}

static void test_bound_fanout(void **state)
{
	struct aliases *a;
	struct buf b;
	char *text, *got;

	(void)state;
	buf_init(&b);
	for (int k = 0; k < ALIASES_MAX_EXPANSION; k++)
		buf_appendf(&b, "u%d@example.org%s", k, k % 10 == 9 ? "\n" : ", ");
	write_file("thousand", b.data);
	buf_appends(&b, "one-more@example.org\n");
	write_file("more", b.data);
	buf_free(&b);
	text = expand_dir("ok: :include:@D@/thousand\n"
			  "big: :include:@D@/more\n"
			  "both: ok, :include:@D@/thousand\n"
			  "nest: ok, big\n");
	a = load_ok(text);
	free(text);
	got = expand_ex(a, "ok", true, true, NULL);
	assert_int_equal(strlen(got) > 0, 1);
	assert_non_null(strstr(got, "A:u999@example.org"));
	assert_null(strstr(got, "ERR"));
	free(got);
	/* Duplicates do not count toward the bound. */
	got = expand_ex(a, "both", true, true, NULL);
	assert_null(strstr(got, "ERR"));
	free(got);
	expect_expand(a, "big", "ERR:alias 'big' expands to more than 1000 "
		      "targets");
	expect_expand(a, "nest", "ERR:alias 'nest' expands to more than 1000 "
		      "targets");
	aliases_free(a);
}

static void test_bound_sizes(void **state)
{
	struct buf b;
	char *text;
	int fd;

	(void)state;
	/* An entry longer than ALIASES_MAX_ENTRY through continuations. */
	buf_init(&b);
	buf_appends(&b, "ok: a\nlist: first\n");
	for (int k = 0; k < 70; k++) {
		buf_appends(&b, "  ,");
		for (int i = 0; i < 1000; i++)
			buf_append(&b, "x", 1);
		buf_appends(&b, "\n");
	}
	load_err(b.data, "@D@/aliases:68: entry longer than 65536 octets");
	buf_free(&b);

	/* A file larger than ALIASES_MAX_FILE (sparse). */
	fd = open(tpath("huge"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, ALIASES_MAX_FILE + 1), 0);
	close(fd);
	text = expand_dir("list: :include:@D@/huge\n");
	load_err(text, "@D@/aliases:1: include file @D@/huge: larger than "
		 "8388608 octets");
	free(text);
	unlink(tpath("huge"));

	/* Targets stored in all: a 1000-target include used 100 times. */
	buf_init(&b);
	for (int k = 0; k < 1000; k++)
		buf_appendf(&b, "u%d@example.org\n", k);
	write_file("thousand", b.data);
	buf_reset(&b);
	for (int k = 0; k < 120; k++)
		buf_appendf(&b, "l%d: :include:%s/thousand\n", k, tmpdir);
	load_err(b.data, "@D@/aliases:100: more than 100000 targets in all");
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_syntax),
		cmocka_unit_test(test_continuation),
		cmocka_unit_test(test_quoted_targets),
		cmocka_unit_test(test_include),
		cmocka_unit_test(test_include_loop),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_missing_and_unsafe),
		cmocka_unit_test(test_check_report),
		cmocka_unit_test(test_expand_levels),
		cmocka_unit_test(test_expand_local_domains),
		cmocka_unit_test(test_expand_self_reference),
		cmocka_unit_test(test_expand_loop),
		cmocka_unit_test(test_expand_dedupe),
		cmocka_unit_test(test_pipe_file_policy),
		cmocka_unit_test(test_expand_bad_input),
		cmocka_unit_test(test_bound_depth),
		cmocka_unit_test(test_bound_fanout),
		cmocka_unit_test(test_bound_sizes),
	};

	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
