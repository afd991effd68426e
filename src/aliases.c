/*
 * aliases.c - the aliases(5) text file: reading it into a table (lines,
 * continuations, entries), reporting errors (load: the first; check:
 * each), and the public load/check. Target lists and :include: files
 * are parsed in aliases_targets.c, names expanded in aliases_expand.c
 * (aliases_int.h). The contract is in aliases.h.
 */
#include "ac_config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aliases.h"
#include "aliases_int.h"
#include "util.h"

#define NAME_MAX_LEN 64  /* RFC 5321 4.5.3.1.1: local part */

static bool valid_name(struct parser *p, size_t file, unsigned long line,
		       const char *name);
static void parse_entry(struct parser *p, size_t file, struct buf *text,
			const struct linemap *lm);
static void read_aliases(struct parser *p, FILE *f);
static void parse_file(struct parser *p, const char *path, bool missing_ok);
static void parser_done(struct parser *p);

/* ---- errors ------------------------------------------------------------- */

void aliases_fail_at(struct parser *p, enum status st, size_t file,
		     unsigned long line, const char *fmt, ...)
{
	char msg[sizeof p->err->msg];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof msg, fmt, ap); /* ours: a cut is fine */
	va_end(ap);
	if (p->report) {
		if (line)
			fprintf(p->report, "%s:%lu: %s\n", p->a->files[file],
				line, msg);
		else
			fprintf(p->report, "%s: %s\n", p->a->files[file], msg);
		p->nerrors++;
		return;
	}
	if (p->st != ST_OK)
		return;
	p->st = st;
	if (line)
		err_set(p->err, "%s:%lu: %s", p->a->files[file], line, msg);
	else
		err_set(p->err, "%s: %s", p->a->files[file], msg);
}

void aliases_warn_at(struct parser *p, size_t file, unsigned long line,
		     const char *fmt, ...)
{
	va_list ap;

	if (p->report == NULL)
		return;
	fprintf(p->report, "%s:%lu: warning: ", p->a->files[file], line);
	va_start(ap, fmt);
	vfprintf(p->report, fmt, ap);
	va_end(ap);
	fputc('\n', p->report);
}

bool aliases_stopped(const struct parser *p)
{
	return p->report == NULL && p->st != ST_OK;
}

/* ---- reading ------------------------------------------------------------ */

size_t aliases_add_file(struct aliases *a, const char *path)
{
	a->files = xreallocarray(a->files, a->nfiles + 1, sizeof *a->files);
	a->files[a->nfiles] = xstrdup(path);
	return a->nfiles++;
}

/* Opens path; failures are reported at from:line (the aliases file
 * itself has no line). A file others may write is refused: anyone could
 * then send root's mail elsewhere. /dev/null is a common "no aliases". */
FILE *aliases_open_file(struct parser *p, const char *path, bool missing_ok,
			bool *missing, size_t from, unsigned long line)
{
	/* An include is reported where it is named: "include file X: ". */
	const char *pre = line ? "include file " : "";
	const char *shown = line ? path : "";
	const char *sep = line ? ": " : "";
	struct stat st;
	FILE *f;
	int e;

	*missing = false;
	f = fopen(path, "re");
	if (f == NULL) {
		e = errno;
		if (e == ENOENT && missing_ok) {
			*missing = true;
			return NULL;
		}
		aliases_fail_at(p, (e == EIO || e == EMFILE || e == ENFILE ||
				    e == ENOMEM) ? ST_TEMPFAIL : ST_PERMFAIL,
			from, line, "%s%s%scannot open: %s", pre, shown, sep,
			strerror(e));
		return NULL;
	}
	if (fstat(fileno(f), &st) != 0) {
		aliases_fail_at(p, ST_TEMPFAIL, from, line,
			"%s%s%scannot stat: %s", pre, shown, sep,
			strerror(errno));
	} else if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode)) {
		aliases_fail_at(p, ST_PERMFAIL, from, line,
			"%s%s%snot a regular file", pre, shown, sep);
	} else if (S_ISREG(st.st_mode) && (st.st_mode & S_IWOTH)) {
		aliases_fail_at(p, ST_PERMFAIL, from, line,
			"%s%s%swritable by others, refused", pre, shown, sep);
	} else if (st.st_size > ALIASES_MAX_FILE) {
		aliases_fail_at(p, ST_PERMFAIL, from, line,
			"%s%s%slarger than %ld octets", pre, shown, sep,
			(long)ALIASES_MAX_FILE);
	} else {
		return f;
	}
	fclose(f);
	return NULL;
}

/*
 * Reads one line into b, without its LF or CRLF. Returns 1 for a line,
 * 2 for a line that was reported bad (too long, control characters),
 * 0 at EOF, -1 when the file cannot be read further (reported).
 */
int aliases_read_line(struct parser *p, FILE *f, size_t file,
		      unsigned long line, size_t *total, struct buf *b)
{
	bool toolong = false, any = false;
	int c;

	buf_reserve(b, 128);    /* data is never NULL for the caller */
	buf_reset(b);
	while ((c = getc(f)) != EOF) {
		any = true;
		/* The size was checked at open; a file growing meanwhile
		 * must not take us further. */
		if (++*total > (size_t)ALIASES_MAX_FILE) {
			aliases_fail_at(p, ST_PERMFAIL, file, line,
				"file larger than %ld octets",
				(long)ALIASES_MAX_FILE);
			return -1;
		}
		if (c == '\n')
			break;
		if (b->len >= ALIASES_MAX_LINE)
			toolong = true;
		else
			buf_append(b, &(char){ (char)c }, 1);
	}
	if (ferror(f)) {
		aliases_fail_at(p, ST_TEMPFAIL, file, line, "read error: %s",
			strerror(errno));
		return -1;
	}
	if (!any)
		return 0;
	if (toolong) {
		aliases_fail_at(p, ST_PERMFAIL, file, line,
			"line longer than %d octets", ALIASES_MAX_LINE);
		return 2;
	}
	if (b->len > 0 && b->data[b->len - 1] == '\r')
		b->data[--b->len] = '\0';
	for (size_t i = 0; i < b->len; i++) {
		unsigned char u = (unsigned char)b->data[i];

		if ((u < 0x20 && u != '\t') || u == 0x7f) {
			aliases_fail_at(p, ST_PERMFAIL, file, line,
				"control character 0x%02x in line", u);
			return 2;
		}
	}
	return 1;
}

bool aliases_blank_or_comment(const char *s)
{
	s += strspn(s, " \t");
	return *s == '\0' || *s == '#';
}

/* ---- entries ------------------------------------------------------------ */

/* Names are local parts: RFC 5322 atext and dots. */
static bool valid_name(struct parser *p, size_t file, unsigned long line,
		       const char *name)
{
	static const char atext[] = "!#$%&'*+-/=?^_`{|}~.";

	if (*name == '\0') {
		aliases_fail_at(p, ST_PERMFAIL, file, line,
				"missing alias name before ':'");
		return false;
	}
	if (strlen(name) > NAME_MAX_LEN) {
		aliases_fail_at(p, ST_PERMFAIL, file, line,
			"alias name longer than %d octets", NAME_MAX_LEN);
		return false;
	}
	for (const char *c = name; *c; c++) {
		unsigned char u = (unsigned char)*c;

		if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') ||
		    (u >= '0' && u <= '9') || (u != 0 && strchr(atext, u)))
			continue;
		if (u == '@')
			aliases_fail_at(p, ST_PERMFAIL, file, line, "alias "
				"name '%s' has a domain: names are local parts",
				name);
		else if (u == ' ' || u == '\t')
			aliases_fail_at(p, ST_PERMFAIL, file, line,
				"white space in alias name '%s'", name);
		else if (u >= 0x80)
			aliases_fail_at(p, ST_PERMFAIL, file, line,
				"invalid octet 0x%02x in alias name", u);
		else
			aliases_fail_at(p, ST_PERMFAIL, file, line,
				"invalid character '%c' in alias name '%s'",
				u, name);
		return false;
	}
	return true;
}

/* One logical entry, "name: targets", continuation lines joined. */
static void parse_entry(struct parser *p, size_t file, struct buf *text,
			const struct linemap *lm)
{
	unsigned long line = lm->line[0];
	size_t before = p->nerrors;
	struct entry e = { NULL, line, { NULL, 0, 0 } };
	const struct entry *dup;
	char *colon = strchr(text->data, ':');
	size_t nlen, count;

	if (colon == NULL) {
		aliases_fail_at(p, ST_PERMFAIL, file, line,
			"expected 'name: targets', found no ':'");
		return;
	}
	for (nlen = (size_t)(colon - text->data); nlen > 0 &&
	     (text->data[nlen - 1] == ' ' || text->data[nlen - 1] == '\t'); nlen--)
		;
	e.name = xstrndup(text->data, nlen);
	if (!valid_name(p, file, line, e.name))
		goto out;
	aliases_lower(e.name);
	dup = aliases_lookup(p->a, e.name);
	if (dup) {
		aliases_fail_at(p, ST_PERMFAIL, file, line,
			"alias '%s' defined twice (first at %s:%lu)", e.name,
			p->a->files[0], dup->line);
		if (aliases_stopped(p))
			goto out;
	}
	count = aliases_parse_targets(p, file, text->data,
				      (size_t)(colon + 1 - text->data), lm,
				      &e.t);
	if (count == 0)
		aliases_fail_at(p, ST_PERMFAIL, file, line,
			"alias '%s' has no targets", e.name);
	/* check: an entry that lost all its targets to errors is not
	 * expanded again to say so. */
	if (aliases_stopped(p) || dup || count == 0 ||
	    (e.t.n == 0 && p->nerrors > before))
		goto out;
	aliases_table_add(p->a, &e);
	return;
out:
	free(e.name);
	aliases_tlist_free(&e.t);
}

static void read_aliases(struct parser *p, FILE *f)
{
	struct linemap lm = { NULL, NULL, 0, 0 };
	struct buf line, text;
	unsigned long lineno = 0;
	size_t total = 0;
	bool skipping = false;  /* continuations of a bad line: no more errors */
	int r;

	buf_init(&line);
	buf_init(&text);
	while (!aliases_stopped(p) && !p->full) {
		r = aliases_read_line(p, f, 0, ++lineno, &total, &line);
		if (r == 2) {
			/* A bad first line: its continuations go too. */
			if (line.data[0] != ' ' && line.data[0] != '\t') {
				if (lm.n > 0)
					parse_entry(p, 0, &text, &lm);
				lm.n = 0;
				skipping = true;
			}
			continue;
		}
		if (r <= 0 || aliases_blank_or_comment(line.data)) {
			if (r <= 0)
				break;
			continue;
		}
		if (line.data[0] == ' ' || line.data[0] == '\t') {
			if (skipping)
				continue;
			if (lm.n == 0) {
				aliases_fail_at(p, ST_PERMFAIL, 0, lineno,
					"continuation line without an alias "
					"before it");
				continue;
			}
			if (text.len + line.len > ALIASES_MAX_ENTRY) {
				aliases_fail_at(p, ST_PERMFAIL, 0, lineno,
					"entry longer than %d octets",
					ALIASES_MAX_ENTRY);
				lm.n = 0;
				skipping = true;
				continue;
			}
		} else {
			if (lm.n > 0)
				parse_entry(p, 0, &text, &lm);
			buf_reset(&text);
			lm.n = 0;
			skipping = false;
		}
		if (lm.n == lm.cap) {
			lm.cap = lm.cap ? 2 * lm.cap : 8;
			lm.off = xreallocarray(lm.off, lm.cap, sizeof *lm.off);
			lm.line = xreallocarray(lm.line, lm.cap, sizeof *lm.line);
		}
		lm.off[lm.n] = text.len;
		lm.line[lm.n++] = lineno;
		buf_append(&text, line.data, line.len);
	}
	if (lm.n > 0 && !aliases_stopped(p) && !p->full)
		parse_entry(p, 0, &text, &lm);
	free(lm.off);
	free(lm.line);
	buf_free(&line);
	buf_free(&text);
}

static void parse_file(struct parser *p, const char *path, bool missing_ok)
{
	bool missing;
	FILE *f;

	p->a = xcalloc(1, sizeof *p->a);
	p->stack[p->depth++] = aliases_add_file(p->a, path);
	f = aliases_open_file(p, path, missing_ok, &missing, 0, 0);
	if (f == NULL)
		return;
	read_aliases(p, f);
	fclose(f);
}

static void parser_done(struct parser *p)
{
	for (size_t k = 0; k < p->ninc; k++)
		aliases_tlist_free(&p->inc[k].t);
	free(p->inc);
}

enum status aliases_load(const char *path, bool missing_ok,
			 struct aliases **out, struct err *err)
{
	struct parser p = { .allow_pipe = true, .allow_file = true,
			    .err = err, .st = ST_OK };

	parse_file(&p, path, missing_ok);
	parser_done(&p);
	if (p.st != ST_OK) {
		aliases_free(p.a);
		p.a = NULL;
	}
	*out = p.a;
	return p.st;
}

size_t aliases_count(const struct aliases *a)
{
	return a ? a->n : 0;
}

size_t aliases_check(const char *path, bool allow_pipe, bool allow_file,
		     aliases_is_local_fn is_local, void *ctx, FILE *report)
{
	struct parser p = { .report = report, .allow_pipe = allow_pipe,
			    .allow_file = allow_file, .st = ST_OK };
	struct alias_target *t;
	struct err err;
	size_t n;

	parse_file(&p, path, false);
	parser_done(&p);
	/* Loops and bounds only show when names are expanded. Pipes and
	 * files were warned about above: allow them here. */
	for (size_t k = 0; k < p.a->n; k++) {
		if (aliases_expand(p.a, p.a->e[k].name, true, true, is_local,
				   ctx, &t, &n, &err) == ST_OK) {
			aliases_free_targets(t, n);
			continue;
		}
		fprintf(report, "%s:%lu: %s\n", p.a->files[0], p.a->e[k].line,
			err.msg);
		p.nerrors++;
	}
	aliases_free(p.a);
	return p.nerrors;
}

void aliases_free(struct aliases *a)
{
	if (a == NULL)
		return;
	for (size_t k = 0; k < a->n; k++) {
		free(a->e[k].name);
		aliases_tlist_free(&a->e[k].t);
	}
	for (size_t k = 0; k < a->nfiles; k++)
		free(a->files[k]);
	free(a->files);
	free(a->e);
	free(a->slot);
	free(a);
}
