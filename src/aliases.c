/*
 * aliases.c - the aliases(5) text file: reading it (with its :include:
 * files) into a table, checking it for newaliases, and expanding names.
 * The contract is in aliases.h.
 */
#include "ac_config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "address.h"
#include "aliases.h"
#include "util.h"

#define NAME_MAX_LEN 64  /* RFC 5321 4.5.3.1.1: local part */

/* A target as stored. Whether an address is local is decided when it
 * is expanded: only then is the caller's is_local known. */
struct stored {
	enum alias_kind kind;   /* ALIAS_ADDRESS, ALIAS_PIPE or ALIAS_FILE */
	bool noalias;           /* "\name": a mailbox, never an alias */
	char *value;
	size_t file;            /* index in aliases.files */
	unsigned long line;
};

struct tlist {
	struct stored *v;
	size_t n, cap;
};

struct entry {
	char *name;             /* lower case */
	unsigned long line;
	struct tlist t;
};

struct aliases {
	char **files;           /* [0] the aliases file, then includes */
	size_t nfiles;
	struct entry *e;
	size_t n, cap;
	size_t *slot;           /* open addressing: entry index + 1; 0 free */
	size_t nslot;
};

/* An include file, read once per load however often it is named. */
struct include {
	size_t file;
	bool reading;           /* on the include stack: naming it is a loop */
	struct tlist t;
};

/* Where each physical line of an entry starts in its joined text. */
struct linemap {
	size_t *off;
	unsigned long *line;
	size_t n, cap;
};

struct parser {
	struct aliases *a;
	FILE *report;           /* check mode; NULL: load mode */
	bool allow_pipe, allow_file;
	size_t nerrors;
	struct err *err;        /* load mode: the first error */
	enum status st;
	struct include *inc;
	size_t ninc, capinc;
	size_t stack[ALIASES_MAX_INCLUDE + 1]; /* file indexes */
	size_t depth;
	size_t nstored;
	bool full;              /* ALIASES_MAX_STORED reached and reported */
};

struct expander {
	const struct aliases *a;
	bool allow_pipe, allow_file;
	aliases_is_local_fn is_local;
	void *ctx;
	size_t stack[ALIASES_MAX_DEPTH];
	size_t depth;
	unsigned char *done;    /* per entry: its targets are all out */
	struct alias_target *out;
	size_t n, cap;
	struct err *err;
};

static void fail_at(struct parser *p, enum status st, size_t file,
		    unsigned long line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void warn_at(struct parser *p, size_t file, unsigned long line,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static bool stopped(const struct parser *p);
static size_t add_file(struct aliases *a, const char *path);
static FILE *open_file(struct parser *p, const char *path, bool missing_ok,
		       bool *missing, size_t from, unsigned long line);
static int read_line(struct parser *p, FILE *f, size_t file,
		     unsigned long line, size_t *total, struct buf *b);
static bool blank_or_comment(const char *s);
static void push(struct parser *p, struct tlist *l, enum alias_kind kind,
		 bool noalias, const char *value, size_t file,
		 unsigned long line);
static void tlist_free(struct tlist *l);
static char *unquote(const char *s, size_t n);
static void parse_target(struct parser *p, size_t file, unsigned long line,
			 const char *tok, struct tlist *out);
static size_t parse_targets(struct parser *p, size_t file, const char *text,
			    size_t start, const struct linemap *lm,
			    struct tlist *out);
static void include(struct parser *p, size_t file, unsigned long line,
		    const char *path, struct tlist *out);
static void read_include(struct parser *p, size_t k, FILE *f);
static bool valid_name(struct parser *p, size_t file, unsigned long line,
		       const char *name);
static void parse_entry(struct parser *p, size_t file, struct buf *text,
			const struct linemap *lm);
static void read_aliases(struct parser *p, FILE *f);
static void parse_file(struct parser *p, const char *path, bool missing_ok);
static void parser_done(struct parser *p);
static uint64_t hash(const char *s);
static size_t *find_slot(size_t *slot, size_t nslot, const struct entry *e,
			 const char *name);
static void table_add(struct aliases *a, struct entry *e);
static const struct entry *lookup(const struct aliases *a, const char *name);
static bool local_name(struct expander *x, const char *mailbox, char **name);
static bool same_target(const struct alias_target *t, enum alias_kind kind,
			const char *value);
static bool emit(struct expander *x, enum alias_kind kind, char *value);
static void path_text(struct expander *x, struct buf *b, size_t from);
static enum status expand_entry(struct expander *x, size_t idx);
static void lower(char *s);

/* ---- errors ------------------------------------------------------------- */

/* Load mode keeps the first error and stops; check mode prints each. */
static void fail_at(struct parser *p, enum status st, size_t file,
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

static void warn_at(struct parser *p, size_t file, unsigned long line,
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

static bool stopped(const struct parser *p)
{
	return p->report == NULL && p->st != ST_OK;
}

/* ---- reading ------------------------------------------------------------ */

static size_t add_file(struct aliases *a, const char *path)
{
	a->files = xreallocarray(a->files, a->nfiles + 1, sizeof *a->files);
	a->files[a->nfiles] = xstrdup(path);
	return a->nfiles++;
}

/* Opens path; failures are reported at from:line (the aliases file
 * itself has no line). A file others may write is refused: anyone could
 * then send root's mail elsewhere. /dev/null is a common "no aliases". */
static FILE *open_file(struct parser *p, const char *path, bool missing_ok,
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
		fail_at(p, (e == EIO || e == EMFILE || e == ENFILE ||
			    e == ENOMEM) ? ST_TEMPFAIL : ST_PERMFAIL,
			from, line, "%s%s%scannot open: %s", pre, shown, sep,
			strerror(e));
		return NULL;
	}
	if (fstat(fileno(f), &st) != 0) {
		fail_at(p, ST_TEMPFAIL, from, line, "%s%s%scannot stat: %s",
			pre, shown, sep, strerror(errno));
	} else if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode)) {
		fail_at(p, ST_PERMFAIL, from, line, "%s%s%snot a regular file",
			pre, shown, sep);
	} else if (S_ISREG(st.st_mode) && (st.st_mode & S_IWOTH)) {
		fail_at(p, ST_PERMFAIL, from, line,
			"%s%s%swritable by others, refused", pre, shown, sep);
	} else if (st.st_size > ALIASES_MAX_FILE) {
		fail_at(p, ST_PERMFAIL, from, line,
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
static int read_line(struct parser *p, FILE *f, size_t file,
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
			fail_at(p, ST_PERMFAIL, file, line,
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
		fail_at(p, ST_TEMPFAIL, file, line, "read error: %s",
			strerror(errno));
		return -1;
	}
	if (!any)
		return 0;
	if (toolong) {
		fail_at(p, ST_PERMFAIL, file, line,
			"line longer than %d octets", ALIASES_MAX_LINE);
		return 2;
	}
	if (b->len > 0 && b->data[b->len - 1] == '\r')
		b->data[--b->len] = '\0';
	for (size_t i = 0; i < b->len; i++) {
		unsigned char u = (unsigned char)b->data[i];

		if ((u < 0x20 && u != '\t') || u == 0x7f) {
			fail_at(p, ST_PERMFAIL, file, line,
				"control character 0x%02x in line", u);
			return 2;
		}
	}
	return 1;
}

static bool blank_or_comment(const char *s)
{
	s += strspn(s, " \t");
	return *s == '\0' || *s == '#';
}

/* ---- targets ------------------------------------------------------------ */

static void push(struct parser *p, struct tlist *l, enum alias_kind kind,
		 bool noalias, const char *value, size_t file,
		 unsigned long line)
{
	if (p->nstored >= ALIASES_MAX_STORED) {
		if (!p->full)
			fail_at(p, ST_PERMFAIL, file, line,
				"more than %d targets in all", ALIASES_MAX_STORED);
		p->full = true;
		return;
	}
	p->nstored++;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 4;
		l->v = xreallocarray(l->v, l->cap, sizeof *l->v);
	}
	l->v[l->n++] = (struct stored){ kind, noalias, xstrdup(value), file,
					line };
}

static void tlist_free(struct tlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].value);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

/* n octets of s without a surrounding pair of quotes and with its
 * quoted-pairs undone (RFC 5322 3.2.4); a copy when not quoted. */
static char *unquote(const char *s, size_t n)
{
	char *r, *o;

	if (n < 2 || s[0] != '"' || s[n - 1] != '"')
		return xstrndup(s, n);
	r = o = xmalloc(n);
	for (size_t i = 1; i < n - 1; i++) {
		if (s[i] == '\\' && i + 1 < n - 1)
			i++;
		*o++ = s[i];
	}
	*o = '\0';
	return r;
}

/* One comma-separated element, trimmed, non-empty. */
static void parse_target(struct parser *p, size_t file, unsigned long line,
			 const char *tok, struct tlist *out)
{
	size_t len = strlen(tok), i;
	char *whole = NULL, *mbox = NULL;
	const char *body = tok;
	struct err e;
	bool noalias;

	/* "|cmd args" and "/path with spaces" are quoted as a whole;
	 * "name with spaces"@x is not (the quotes end early). */
	if (tok[0] == '"') {
		for (i = 1; i < len && tok[i] != '"'; i++)
			if (tok[i] == '\\' && i + 1 < len)
				i++;
		if (i == len - 1)
			body = whole = unquote(tok, len);
	}
	if (body[0] == '|') {
		body += 1 + strspn(body + 1, " \t");
		if (*body == '\0')
			fail_at(p, ST_PERMFAIL, file, line,
				"empty command in pipe target");
		else {
			push(p, out, ALIAS_PIPE, false, body, file, line);
			if (!p->allow_pipe)
				warn_at(p, file, line, "pipe target \"|%s\" will "
					"be refused: allow_pipe_aliases is off",
					body);
		}
	} else if (body[0] == '/') {
		push(p, out, ALIAS_FILE, false, body, file, line);
		if (!p->allow_file)
			warn_at(p, file, line, "file target \"%s\" will be "
				"refused: allow_file_aliases is off", body);
	} else if (ascii_strncasecmp(body, ":include:", 9) == 0) {
		char *path = xstrdup(body + 9 + strspn(body + 9, " \t"));

		include(p, file, line, path, out);
		free(path);
	} else {
		noalias = whole == NULL && tok[0] == '\\';
		if (address_parse_envelope(tok + noalias, &mbox, &e) != ST_OK)
			fail_at(p, ST_PERMFAIL, file, line, "invalid target: %s%s",
				e.msg, strpbrk(tok, " \t") ? " (commas separate "
				"targets; comments go on lines of their own)" : "");
		else if (*mbox == '\0')
			fail_at(p, ST_PERMFAIL, file, line,
				"invalid target '%s': the null address", tok);
		else if (!address_valid_mailbox(mbox, 1))
			fail_at(p, ST_PERMFAIL, file, line,
				"invalid address '%s'", mbox);
		else
			push(p, out, ALIAS_ADDRESS, noalias, mbox, file, line);
	}
	free(mbox);
	free(whole);
}

/*
 * Splits text from start at commas outside quoted strings and comments
 * (a comment may hold a comma: "bob (admin, main)"). Pipe and file
 * targets are shell and path text: only their quotes count. Returns the
 * number of elements, good or bad (an empty include is one).
 */
static size_t parse_targets(struct parser *p, size_t file, const char *text,
			    size_t start, const struct linemap *lm,
			    struct tlist *out)
{
	size_t i = start, s, e, k, count = 0;
	unsigned long line;

	while (text[i] && !stopped(p) && !p->full) {
		i += strspn(text + i, " \t");
		if (text[i] == ',') {
			i++;
			continue;
		}
		if (text[i] == '\0')
			break;
		s = i;
		count++;
		for (k = 0; k + 1 < lm->n && lm->off[k + 1] <= s; k++)
			;
		line = lm->line[k];

		bool raw = text[s] == '|' || text[s] == '/';
		bool inq = false;
		int depth = 0;

		for (; text[i]; i++) {
			char c = text[i];

			if (inq || depth > 0) {
				if (c == '\\' && text[i + 1])
					i++;
				else if (inq && c == '"')
					inq = false;
				else if (!inq && c == '(')
					depth++;
				else if (!inq && c == ')')
					depth--;
			} else if (c == '"') {
				inq = true;
			} else if (c == '(' && !raw) {
				depth++;
			} else if (c == ',') {
				break;
			}
		}
		for (e = i; e > s && (text[e - 1] == ' ' || text[e - 1] == '\t'); e--)
			;
		char *tok = xstrndup(text + s, e - s);

		if (inq)
			fail_at(p, ST_PERMFAIL, file, line,
				"unterminated quoted string in '%s'", tok);
		else
			parse_target(p, file, line, tok, out);
		free(tok);
	}
	return count;
}

/* :include:path named at file:line: its targets are appended to out. */
static void include(struct parser *p, size_t file, unsigned long line,
		    const char *path, struct tlist *out)
{
	struct buf chain;
	bool missing;
	size_t k;
	FILE *f;

	if (path[0] != '/') {
		fail_at(p, ST_PERMFAIL, file, line,
			"include path '%s' is not absolute", path);
		return;
	}
	for (k = 0; k < p->ninc; k++)
		if (strcmp(p->a->files[p->inc[k].file], path) == 0)
			break;
	if ((k < p->ninc && p->inc[k].reading) ||
	    strcmp(p->a->files[0], path) == 0) {
		buf_init(&chain);
		for (size_t d = 0; d < p->depth; d++)
			buf_appendf(&chain, "%s -> ", p->a->files[p->stack[d]]);
		fail_at(p, ST_PERMFAIL, file, line, "include loop: %s%s",
			chain.data, path);
		buf_free(&chain);
		return;
	}
	if (k == p->ninc) {
		if (p->depth > ALIASES_MAX_INCLUDE) {
			fail_at(p, ST_PERMFAIL, file, line,
				"includes nested deeper than %d levels at %s",
				ALIASES_MAX_INCLUDE, path);
			return;
		}
		f = open_file(p, path, false, &missing, file, line);
		if (f == NULL)
			return;
		if (p->ninc == p->capinc) {
			p->capinc = p->capinc ? 2 * p->capinc : 4;
			p->inc = xreallocarray(p->inc, p->capinc, sizeof *p->inc);
		}
		p->inc[k] = (struct include){ add_file(p->a, path), true,
					      { NULL, 0, 0 } };
		p->ninc++;
		read_include(p, k, f);
		fclose(f);
		p->inc[k].reading = false;
	}
	if (p->nstored + p->inc[k].t.n > ALIASES_MAX_STORED) {
		fail_at(p, ST_PERMFAIL, file, line,
			"more than %d targets in all", ALIASES_MAX_STORED);
		p->full = true;
		return;
	}
	/* Copies: each entry owns its list. */
	for (size_t t = 0; t < p->inc[k].t.n && !p->full; t++) {
		struct stored s = p->inc[k].t.v[t];

		push(p, out, s.kind, s.noalias, s.value, s.file, s.line);
	}
}

/* Include files hold target lists, one or more per line. */
static void read_include(struct parser *p, size_t k, FILE *f)
{
	size_t file = p->inc[k].file, total = 0, off0 = 0;
	unsigned long lineno = 0, ln;
	struct linemap lm = { &off0, &ln, 1, 1 };
	struct tlist t = { NULL, 0, 0 };
	struct buf b;
	int r;

	buf_init(&b);
	p->stack[p->depth++] = file;
	while (!stopped(p) && !p->full &&
	       (r = read_line(p, f, file, ++lineno, &total, &b)) > 0) {
		if (r == 2 || blank_or_comment(b.data))
			continue;
		ln = lineno;
		parse_targets(p, file, b.data, 0, &lm, &t);
	}
	p->depth--;
	p->inc[k].t = t;
	buf_free(&b);
}

/* ---- entries ------------------------------------------------------------ */

/* Names are local parts: RFC 5322 atext and dots. */
static bool valid_name(struct parser *p, size_t file, unsigned long line,
		       const char *name)
{
	static const char atext[] = "!#$%&'*+-/=?^_`{|}~.";

	if (*name == '\0') {
		fail_at(p, ST_PERMFAIL, file, line, "missing alias name before ':'");
		return false;
	}
	if (strlen(name) > NAME_MAX_LEN) {
		fail_at(p, ST_PERMFAIL, file, line,
			"alias name longer than %d octets", NAME_MAX_LEN);
		return false;
	}
	for (const char *c = name; *c; c++) {
		unsigned char u = (unsigned char)*c;

		if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') ||
		    (u >= '0' && u <= '9') || (u != 0 && strchr(atext, u)))
			continue;
		if (u == '@')
			fail_at(p, ST_PERMFAIL, file, line, "alias name '%s' has "
				"a domain: names are local parts", name);
		else if (u == ' ' || u == '\t')
			fail_at(p, ST_PERMFAIL, file, line,
				"white space in alias name '%s'", name);
		else if (u >= 0x80)
			fail_at(p, ST_PERMFAIL, file, line,
				"invalid octet 0x%02x in alias name", u);
		else
			fail_at(p, ST_PERMFAIL, file, line,
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
		fail_at(p, ST_PERMFAIL, file, line,
			"expected 'name: targets', found no ':'");
		return;
	}
	for (nlen = (size_t)(colon - text->data); nlen > 0 &&
	     (text->data[nlen - 1] == ' ' || text->data[nlen - 1] == '\t'); nlen--)
		;
	e.name = xstrndup(text->data, nlen);
	if (!valid_name(p, file, line, e.name))
		goto out;
	lower(e.name);
	dup = lookup(p->a, e.name);
	if (dup) {
		fail_at(p, ST_PERMFAIL, file, line,
			"alias '%s' defined twice (first at %s:%lu)", e.name,
			p->a->files[0], dup->line);
		if (stopped(p))
			goto out;
	}
	count = parse_targets(p, file, text->data,
			      (size_t)(colon + 1 - text->data), lm, &e.t);
	if (count == 0)
		fail_at(p, ST_PERMFAIL, file, line, "alias '%s' has no targets",
			e.name);
	/* check: an entry that lost all its targets to errors is not
	 * expanded again to say so. */
	if (stopped(p) || dup || count == 0 ||
	    (e.t.n == 0 && p->nerrors > before))
		goto out;
	table_add(p->a, &e);
	return;
out:
	free(e.name);
	tlist_free(&e.t);
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
	while (!stopped(p) && !p->full) {
		r = read_line(p, f, 0, ++lineno, &total, &line);
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
		if (r <= 0 || blank_or_comment(line.data)) {
			if (r <= 0)
				break;
			continue;
		}
		if (line.data[0] == ' ' || line.data[0] == '\t') {
			if (skipping)
				continue;
			if (lm.n == 0) {
				fail_at(p, ST_PERMFAIL, 0, lineno, "continuation "
					"line without an alias before it");
				continue;
			}
			if (text.len + line.len > ALIASES_MAX_ENTRY) {
				fail_at(p, ST_PERMFAIL, 0, lineno,
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
	if (lm.n > 0 && !stopped(p) && !p->full)
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
	p->stack[p->depth++] = add_file(p->a, path);
	f = open_file(p, path, missing_ok, &missing, 0, 0);
	if (f == NULL)
		return;
	read_aliases(p, f);
	fclose(f);
}

static void parser_done(struct parser *p)
{
	for (size_t k = 0; k < p->ninc; k++)
		tlist_free(&p->inc[k].t);
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
		tlist_free(&a->e[k].t);
	}
	for (size_t k = 0; k < a->nfiles; k++)
		free(a->files[k]);
	free(a->files);
	free(a->e);
	free(a->slot);
	free(a);
}

/* ---- the table ---------------------------------------------------------- */

/* FNV-1a: names are short and chosen by the administrator. */
static uint64_t hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static size_t *find_slot(size_t *slot, size_t nslot, const struct entry *e,
			 const char *name)
{
	size_t i = (size_t)hash(name) & (nslot - 1);

	while (slot[i] != 0 && strcmp(e[slot[i] - 1].name, name) != 0)
		i = (i + 1) & (nslot - 1);
	return &slot[i];
}

static void table_add(struct aliases *a, struct entry *e)
{
	if (2 * (a->n + 1) > a->nslot) {
		size_t nslot = a->nslot ? 2 * a->nslot : 64;
		size_t *slot = xcalloc(nslot, sizeof *slot);

		for (size_t k = 0; k < a->n; k++)
			*find_slot(slot, nslot, a->e, a->e[k].name) = k + 1;
		free(a->slot);
		a->slot = slot;
		a->nslot = nslot;
	}
	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 16;
		a->e = xreallocarray(a->e, a->cap, sizeof *a->e);
	}
	a->e[a->n] = *e;
	*find_slot(a->slot, a->nslot, a->e, e->name) = ++a->n;
}

/* name in lower case. */
static const struct entry *lookup(const struct aliases *a, const char *name)
{
	size_t s;

	if (a == NULL || a->n == 0)
		return NULL;
	s = *find_slot(a->slot, a->nslot, a->e, name);
	return s ? &a->e[s - 1] : NULL;
}

static void lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* ---- expansion ---------------------------------------------------------- */

/* True when mailbox is local: *name is then its local part, unquoted
 * and in lower case (Postfix and sendmail's local mailer fold it). */
static bool local_name(struct expander *x, const char *mailbox, char **name)
{
	const char *dom = address_domain(mailbox);
	char *lp = NULL;

	if (dom == NULL) {
		lp = xstrdup(mailbox);
	} else if (x->is_local && x->is_local(x->ctx, mailbox, &lp)) {
		if (lp == NULL)
			lp = xstrndup(mailbox, (size_t)(dom - 1 - mailbox));
	} else {
		return false;
	}
	*name = unquote(lp, strlen(lp));
	free(lp);
	lower(*name);
	return true;
}

/* Addresses: the local part exact, the domain without case (RFC 5321
 * 2.4); everything else exact (names are lower case already). */
static bool same_target(const struct alias_target *t, enum alias_kind kind,
			const char *value)
{
	const char *d1, *d2;

	if (t->kind != kind)
		return false;
	if (kind != ALIAS_ADDRESS)
		return strcmp(t->value, value) == 0;
	d1 = address_domain(t->value);
	d2 = address_domain(value);
	if (d1 == NULL || d2 == NULL)
		return d1 == d2 && strcmp(t->value, value) == 0;
	return d1 - t->value == d2 - value &&
	       strncmp(t->value, value, (size_t)(d1 - t->value)) == 0 &&
	       ascii_strcasecmp(d1, d2) == 0;
}

/* Takes value. False (err set) when the expansion grows too large. */
static bool emit(struct expander *x, enum alias_kind kind, char *value)
{
	for (size_t k = 0; k < x->n; k++) {
		if (same_target(&x->out[k], kind, value)) {
			free(value);
			return true;
		}
	}
	if (x->n >= ALIASES_MAX_EXPANSION) {
		err_set(x->err, "alias '%s' expands to more than %d targets",
			x->a->e[x->stack[0]].name, ALIASES_MAX_EXPANSION);
		free(value);
		return false;
	}
	if (x->n == x->cap) {
		x->cap = x->cap ? 2 * x->cap : 8;
		x->out = xreallocarray(x->out, x->cap, sizeof *x->out);
	}
	x->out[x->n++] = (struct alias_target){ kind, value };
	return true;
}

/* "a -> b -> c" for the names on the stack from index from. */
static void path_text(struct expander *x, struct buf *b, size_t from)
{
	for (size_t d = from; d < x->depth; d++)
		buf_appendf(b, "%s%s", d > from ? " -> " : "",
			    x->a->e[x->stack[d]].name);
}

static enum status expand_entry(struct expander *x, size_t idx)
{
	const struct entry *e = &x->a->e[idx];
	enum status st = ST_OK;
	struct buf b;
	char *name;

	buf_init(&b);
	if (x->depth == ALIASES_MAX_DEPTH) {
		path_text(x, &b, 0);
		err_set(x->err, "alias nesting deeper than %d levels: %s -> %s",
			ALIASES_MAX_DEPTH, b.data, e->name);
		st = ST_PERMFAIL;
		goto out;
	}
	x->stack[x->depth++] = idx;
	for (size_t k = 0; k < e->t.n && st == ST_OK; k++) {
		const struct stored *s = &e->t.v[k];
		const struct entry *next;
		size_t j, d;

		if ((s->kind == ALIAS_PIPE && !x->allow_pipe) ||
		    (s->kind == ALIAS_FILE && !x->allow_file)) {
			bool pipe = s->kind == ALIAS_PIPE;

			err_set(x->err, "%s target \"%s%s\" (alias '%s', %s:%lu) "
				"refused: %s is off", pipe ? "pipe" : "file",
				pipe ? "|" : "", s->value, e->name,
				x->a->files[s->file], s->line,
				pipe ? "allow_pipe_aliases" : "allow_file_aliases");
			st = ST_PERMFAIL;
			break;
		}
		if (s->kind != ALIAS_ADDRESS) {
			if (!emit(x, s->kind, xstrdup(s->value)))
				st = ST_PERMFAIL;
			continue;
		}
		if (!local_name(x, s->value, &name)) {
			if (!emit(x, ALIAS_ADDRESS, xstrdup(s->value)))
				st = ST_PERMFAIL;
			continue;
		}
		next = s->noalias ? NULL : lookup(x->a, name);
		if (next == NULL || next == e) {
			/* sendmail: "\name" and a name among its own targets
			 * are the mailbox. */
			if (!emit(x, ALIAS_LOCAL, name))
				st = ST_PERMFAIL;
			continue;
		}
		free(name);
		j = (size_t)(next - x->a->e);
		for (d = 0; d < x->depth && x->stack[d] != j; d++)
			;
		if (d < x->depth) {
			path_text(x, &b, 0);
			err_set(x->err, "alias loop: %s -> %s", b.data,
				next->name);
			st = ST_PERMFAIL;
		} else if (!x->done[j]) {
			st = expand_entry(x, j);
		}
	}
	x->depth--;
	x->done[idx] = 1;
out:
	buf_free(&b);
	return st;
}

enum status aliases_expand(const struct aliases *a, const char *rcpt,
			   bool allow_pipe, bool allow_file,
			   aliases_is_local_fn is_local, void *ctx,
			   struct alias_target **out, size_t *n,
			   struct err *err)
{
	struct expander x = { a, allow_pipe, allow_file, is_local, ctx,
			      { 0 }, 0, NULL, NULL, 0, 0, err };
	const struct entry *e;
	enum status st = ST_OK;
	char *name;

	*out = NULL;
	*n = 0;
	if (rcpt == NULL || *rcpt == '\0' || has_control_chars(rcpt)) {
		err_set(err, "invalid local name: empty or with control "
			"characters");
		return ST_PERMFAIL;
	}
	if (!local_name(&x, rcpt, &name)) {
		emit(&x, ALIAS_ADDRESS, xstrdup(rcpt));
	} else if ((e = lookup(a, name)) == NULL) {
		emit(&x, ALIAS_LOCAL, name);
	} else {
		free(name);
		x.done = xcalloc(a->n, 1);
		st = expand_entry(&x, (size_t)(e - a->e));
		free(x.done);
		if (st == ST_OK && x.n == 0) {
			err_set(err, "alias '%s' expands to no targets", e->name);
			st = ST_PERMFAIL;
		}
	}
	if (st != ST_OK) {
		aliases_free_targets(x.out, x.n);
		return st;
	}
	*out = x.out;
	*n = x.n;
	return ST_OK;
}

void aliases_free_targets(struct alias_target *t, size_t n)
{
	for (size_t k = 0; k < n; k++)
		free(t[k].value);
	free(t);
}
