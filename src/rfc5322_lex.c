/*
 * rfc5322_lex.c - RFC 5322 3.2 lexical tokens of address text.
 *
 * One pass over the text. White space, folds and comments between
 * tokens are dropped, and each token remembers whether any was there:
 * a display name keeps one space between its words, an addr-spec
 * loses it. Every refusal names what was wrong and shows the text.
 */
#include "ac_config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rfc5322_lex.h"
#include "util.h"

/* How much of the offending text an error message shows. */
#define SHOW_MAX 200

struct lexer {
	const char *text;           /* the whole input, for messages */
	struct rfc5322_toks *t;
	struct err *err;
};

static bool is_atext(unsigned char c);
static bool is_wsp(unsigned char c);
static bool is_fold(const char *p);
static char *shown(const char *text);
static void fail(struct lexer *lx, const char *what);
static bool fail_char(struct lexer *lx, unsigned char c);
static void toks_push(struct rfc5322_toks *t, enum rfc5322_tok_type type,
		      char ch, char *text, bool space);
static bool skip_cfws(struct lexer *lx, const char **pp, bool *space);
static bool lex_comment(struct lexer *lx, const char **pp);
static bool lex_quoted(struct lexer *lx, const char **pp, bool space);
static bool lex_literal(struct lexer *lx, const char **pp, bool space);
static bool lex(struct lexer *lx);

/* ---- characters ------------------------------------------------------- */

/* RFC 5322 3.2.3 atext; bytes >= 0x80 are UTF-8 (RFC 6532 3.2). */
static bool is_atext(unsigned char c)
{
	if (c >= 0x80)
		return true;
	if (c <= 32 || c == 127)
		return false;
	return strchr("()<>[]:;@\\,.\"", c) == NULL;
}

static bool is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 5322 3.2.2: CRLF followed by WSP is folding, i.e. white space.
 * Any other CR or LF is a control character and refused: it would let
 * an address end an SMTP command or a header line early. */
static bool is_fold(const char *p)
{
	return p[0] == '\r' && p[1] == '\n' && is_wsp((unsigned char)p[2]);
}

/* RFC 5322 3.2.3 dot-atom-text. */
bool rfc5322_dot_atom_text(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return false;
		} else if (!is_atext((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

/* ---- error messages ---------------------------------------------------- */

/* A copy of text fit for an error message: controls escaped (a message
 * must not carry the CR/LF it complains about into a log or reply),
 * long text cut. */
static char *shown(const char *text)
{
	struct buf b;
	size_t i;

	buf_init(&b);
	for (i = 0; text[i] && i < SHOW_MAX; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == '\r')
			buf_appends(&b, "\\r");
		else if (c == '\n')
			buf_appends(&b, "\\n");
		else if (c < 0x20 || c == 0x7f)
			buf_appendf(&b, "\\x%02x", c);
		else
			buf_append(&b, &text[i], 1);
	}
	if (text[i])
		buf_appends(&b, "...");
	if (b.data == NULL)
		buf_appends(&b, "");
	return b.data;
}

void rfc5322_error(struct err *err, const char *text, const char *what)
{
	char *s = shown(text);

	err_set(err, "%s in '%s'", what, s);
	free(s);
}

void rfc5322_error_char(struct err *err, const char *text, unsigned char c)
{
	char what[64];

	if (c == '\r')
		snprintf(what, sizeof what, "control character CR in address");
	else if (c == '\n')
		snprintf(what, sizeof what, "control character LF in address");
	else if (c < 0x20 || c == 0x7f)
		snprintf(what, sizeof what,
			 "control character 0x%02x in address", c);
	else
		snprintf(what, sizeof what, "unexpected '%c'", c);
	rfc5322_error(err, text, what);
}

static void fail(struct lexer *lx, const char *what)
{
	rfc5322_error(lx->err, lx->text, what);
}

static bool fail_char(struct lexer *lx, unsigned char c)
{
	rfc5322_error_char(lx->err, lx->text, c);
	return false;
}

/* ---- lexer ------------------------------------------------------------ */

static void toks_push(struct rfc5322_toks *t, enum rfc5322_tok_type type,
		      char ch, char *text, bool space)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->v = xreallocarray(t->v, t->cap, sizeof *t->v);
	}
	t->v[t->n].type = type;
	t->v[t->n].ch = ch;
	t->v[t->n].text = text;
	t->v[t->n].space = space;
	t->n++;
}

/* RFC 5322 3.2.2 comment: nested, with quoted-pairs. *pp is at '('. */
static bool lex_comment(struct lexer *lx, const char **pp)
{
	const char *p = *pp + 1;
	int depth = 1;

	while (depth > 0) {
		unsigned char c = (unsigned char)*p;

		if (c == '\0') {
			fail(lx, "unterminated comment");
			return false;
		}
		if (is_fold(p)) {
			p += 2;
			continue;
		}
		if (c == '\\') {
			c = (unsigned char)p[1];
			if (c == '\0') {
				p++;  /* reported as unterminated */
				continue;
			}
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return fail_char(lx, c);
			p += 2;
			continue;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail_char(lx, c);
		if (c == '(')
			depth++;
		else if (c == ')')
			depth--;
		p++;
	}
	*pp = p;
	return true;
}

/* Skips white space, folds and comments; *space tells whether any was
 * there. */
static bool skip_cfws(struct lexer *lx, const char **pp, bool *space)
{
	const char *p = *pp;

	*space = false;
	for (;;) {
		if (is_wsp((unsigned char)*p)) {
			p++;
		} else if (is_fold(p)) {
			p += 2;
		} else if (*p == '(') {
			if (!lex_comment(lx, &p))
				return false;
		} else {
			break;
		}
		*space = true;
	}
	*pp = p;
	return true;
}

/* RFC 5322 3.2.4 quoted-string; the token holds the decoded content.
 * Folds inside are unfolded (the CRLF goes, the WSP stays). */
static bool lex_quoted(struct lexer *lx, const char **pp, bool space)
{
	const char *p = *pp + 1;
	struct buf b;

	buf_init(&b);
	buf_appends(&b, "");
	for (;;) {
		unsigned char c = (unsigned char)*p;

		if (c == '\0' || (c == '\\' && p[1] == '\0')) {
			buf_free(&b);
			fail(lx, "unterminated quoted string");
			return false;
		}
		if (c == '"')
			break;
		if (is_fold(p)) {
			p += 2;
			continue;
		}
		if (c == '\\')
			c = (unsigned char)*++p;
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			buf_free(&b);
			return fail_char(lx, c);
		}
		buf_append(&b, p, 1);
		p++;
	}
	*pp = p + 1;
	toks_push(lx->t, TOK_QSTR, 0, b.data, space);
	return true;
}

/* RFC 5322 3.4.1 domain-literal: "[" *dtext "]", FWS dropped. */
static bool lex_literal(struct lexer *lx, const char **pp, bool space)
{
	const char *p = *pp + 1;
	struct buf b;

	buf_init(&b);
	buf_appends(&b, "[");
	for (;;) {
		unsigned char c = (unsigned char)*p;

		if (c == '\0' || c == '[' || (c == '\\' && p[1] == '\0')) {
			buf_free(&b);
			fail(lx, "unterminated domain literal");
			return false;
		}
		if (c == ']')
			break;
		if (is_fold(p) || is_wsp(c)) {
			p += is_wsp(c) ? 1 : 2;
			continue;
		}
		if (c == '\\')
			c = (unsigned char)*++p;  /* obs-dtext quoted-pair */
		if (c < 0x20 || c == 0x7f) {
			buf_free(&b);
			return fail_char(lx, c);
		}
		buf_append(&b, p, 1);
		p++;
	}
	buf_appends(&b, "]");
	*pp = p + 1;
	toks_push(lx->t, TOK_DLIT, 0, b.data, space);
	return true;
}

static bool lex(struct lexer *lx)
{
	const char *p = lx->text;
	bool space;

	for (;;) {
		unsigned char c;
		const char *s;

		if (!skip_cfws(lx, &p, &space))
			return false;
		c = (unsigned char)*p;
		if (c == '\0') {
			toks_push(lx->t, TOK_END, 0, NULL, space);
			return true;
		}
		if (c == '"') {
			if (!lex_quoted(lx, &p, space))
				return false;
		} else if (c == '[') {
			if (!lex_literal(lx, &p, space))
				return false;
		} else if (strchr("<>:;@,.", c) != NULL) {
			toks_push(lx->t, TOK_SPECIAL, (char)c, NULL, space);
			p++;
		} else if (is_atext(c)) {
			for (s = p; is_atext((unsigned char)*p); p++)
				;
			toks_push(lx->t, TOK_ATOM, 0,
				  xstrndup(s, (size_t)(p - s)), space);
		} else if (c == ')') {
			fail(lx, "unbalanced ')'");
			return false;
		} else {
			return fail_char(lx, c);
		}
	}
}

/* ---- entry ------------------------------------------------------------ */

enum status rfc5322_lex(const char *text, struct rfc5322_toks *out,
			struct err *err)
{
	struct lexer lx;

	out->v = NULL;
	out->n = out->cap = 0;
	lx.text = text;
	lx.t = out;
	lx.err = err;
	if (lex(&lx))
		return ST_OK;
	rfc5322_toks_free(out);
	return ST_PERMFAIL;
}

void rfc5322_toks_free(struct rfc5322_toks *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->v[i].text);
	free(t->v);
	t->v = NULL;
	t->n = t->cap = 0;
}
