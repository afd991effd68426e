/*
 * aliases_targets.c - the targets of an alias: splitting a list at its
 * commas, telling addresses, "\name", pipes, files and :include: apart,
 * and reading include files (once per load, loops refused). Errors go
 * through the parser of aliases.c (aliases_int.h).
 */
#include "ac_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "aliases.h"
#include "aliases_int.h"
#include "util.h"

static void push(struct parser *p, struct tlist *l, enum alias_kind kind,
		 bool noalias, const char *value, size_t file,
		 unsigned long line);
static void parse_target(struct parser *p, size_t file, unsigned long line,
			 const char *tok, struct tlist *out);
static void include(struct parser *p, size_t file, unsigned long line,
		    const char *path, struct tlist *out);
static void read_include(struct parser *p, size_t k, FILE *f);

/* ---- targets ------------------------------------------------------------ */

static void push(struct parser *p, struct tlist *l, enum alias_kind kind,
		 bool noalias, const char *value, size_t file,
		 unsigned long line)
{
	if (p->nstored >= ALIASES_MAX_STORED) {
		if (!p->full)
			aliases_fail_at(p, ST_PERMFAIL, file, line,
					"more than %d targets in all",
					ALIASES_MAX_STORED);
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

void aliases_tlist_free(struct tlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].value);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

/* n octets of s without a surrounding pair of quotes and with its
 * quoted-pairs undone (RFC 5322 3.2.4); a copy when not quoted. */
char *aliases_unquote(const char *s, size_t n)
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
			body = whole = aliases_unquote(tok, len);
	}
	if (body[0] == '|') {
		body += 1 + strspn(body + 1, " \t");
		if (*body == '\0')
			aliases_fail_at(p, ST_PERMFAIL, file, line,
				"empty command in pipe target");
		else {
			push(p, out, ALIAS_PIPE, false, body, file, line);
			if (!p->allow_pipe)
				aliases_warn_at(p, file, line, "pipe target "
					"\"|%s\" will be refused: "
					"allow_pipe_aliases is off", body);
		}
	} else if (body[0] == '/') {
		push(p, out, ALIAS_FILE, false, body, file, line);
		if (!p->allow_file)
			aliases_warn_at(p, file, line, "file target \"%s\" "
				"will be refused: allow_file_aliases is off",
				body);
	} else if (ascii_strncasecmp(body, ":include:", 9) == 0) {
		char *path = xstrdup(body + 9 + strspn(body + 9, " \t"));

		include(p, file, line, path, out);
		free(path);
	} else {
		noalias = whole == NULL && tok[0] == '\\';
		if (address_parse_envelope(tok + noalias, &mbox, &e) != ST_OK)
			aliases_fail_at(p, ST_PERMFAIL, file, line,
				"invalid target: %s%s", e.msg,
				strpbrk(tok, " \t") ? " (commas separate "
				"targets; comments go on lines of their own)" : "");
		else if (*mbox == '\0')
			aliases_fail_at(p, ST_PERMFAIL, file, line,
				"invalid target '%s': the null address", tok);
		else if (!address_valid_mailbox(mbox, 1))
			aliases_fail_at(p, ST_PERMFAIL, file, line,
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
size_t aliases_parse_targets(struct parser *p, size_t file, const char *text,
			     size_t start, const struct linemap *lm,
			     struct tlist *out)
{
	size_t i = start, s, e, k, count = 0;
	unsigned long line;

	while (text[i] && !aliases_stopped(p) && !p->full) {
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
			aliases_fail_at(p, ST_PERMFAIL, file, line,
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
		aliases_fail_at(p, ST_PERMFAIL, file, line,
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
		aliases_fail_at(p, ST_PERMFAIL, file, line,
				"include loop: %s%s", chain.data, path);
		buf_free(&chain);
		return;
	}
	if (k == p->ninc) {
		if (p->depth > ALIASES_MAX_INCLUDE) {
			aliases_fail_at(p, ST_PERMFAIL, file, line,
				"includes nested deeper than %d levels at %s",
				ALIASES_MAX_INCLUDE, path);
			return;
		}
		f = aliases_open_file(p, path, false, &missing, file, line);
		if (f == NULL)
			return;
		if (p->ninc == p->capinc) {
			p->capinc = p->capinc ? 2 * p->capinc : 4;
			p->inc = xreallocarray(p->inc, p->capinc, sizeof *p->inc);
		}
		p->inc[k] = (struct include){ aliases_add_file(p->a, path),
					      true, { NULL, 0, 0 } };
		p->ninc++;
		read_include(p, k, f);
		fclose(f);
		p->inc[k].reading = false;
	}
	if (p->nstored + p->inc[k].t.n > ALIASES_MAX_STORED) {
		aliases_fail_at(p, ST_PERMFAIL, file, line,
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
	while (!aliases_stopped(p) && !p->full &&
	       (r = aliases_read_line(p, f, file, ++lineno, &total, &b)) > 0) {
		if (r == 2 || aliases_blank_or_comment(b.data))
			continue;
		ln = lineno;
		aliases_parse_targets(p, file, b.data, 0, &lm, &t);
	}
	p->depth--;
	p->inc[k].t = t;
	buf_free(&b);
}
