/*
 * address.c - RFC 5322 3.4 address lists, parsed in two steps: a lexer
 * turns the text into tokens (atoms, quoted strings, domain literals and
 * the specials) with comments and folding white space removed, and a
 * recursive-descent parser builds mailboxes from the tokens. The parser
 * accepts the obsolete syntax of RFC 5322 4.4 that real mail still
 * carries (routes, bare local parts, empty list elements, CFWS around
 * dots) and normalises every mailbox to its RFC 5321 form.
 */
#include "ac_config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "util.h"

/* RFC 5321 4.5.3.1.2 and RFC 1035 2.3.4: DNS limits of a domain name. */
#define DOMAIN_MAX 255
#define LABEL_MAX 63
/* How much of the offending text an error message shows. */
#define SHOW_MAX 200

enum tok_type {
	T_ATOM,     /* run of atext */
	T_QSTR,     /* quoted-string, decoded (quotes and escapes removed) */
	T_DLIT,     /* domain-literal "[...]", FWS removed */
	T_SPECIAL,  /* one of < > : ; @ , . */
	T_END
};

struct tok {
	enum tok_type type;
	char ch;     /* T_SPECIAL */
	char *text;  /* T_ATOM, T_QSTR, T_DLIT */
	bool space;  /* CFWS came before it: display names keep one space */
};

struct toks {
	struct tok *v;
	size_t n, cap;
};

struct parser {
	const char *text;           /* the whole input, for messages */
	struct toks t;
	size_t i;                   /* current token */
	struct address_list found;  /* handed over only when all parsed */
	struct err *err;
};

static bool is_atext(unsigned char c);
static bool is_wsp(unsigned char c);
static bool is_fold(const char *p);
static char *shown(const char *text);
static void fail(struct parser *ps, const char *what);
static bool fail_char(struct parser *ps, unsigned char c);
static void toks_push(struct toks *t, enum tok_type type, char ch,
		      char *text, bool space);
static void toks_free(struct toks *t);
static bool skip_cfws(struct parser *ps, const char **pp, bool *space);
static bool lex_comment(struct parser *ps, const char **pp);
static bool lex_quoted(struct parser *ps, const char **pp, bool space);
static bool lex_literal(struct parser *ps, const char **pp, bool space);
static bool lex(struct parser *ps);
static struct tok *cur(struct parser *ps);
static bool is_special(const struct tok *t, char c);
static bool is_word(const struct tok *t);
static bool unexpected(struct parser *ps);
static char *phrase(struct parser *ps, size_t s, size_t e);
static bool dot_atom(const char *s, size_t n);
static bool local_part(struct parser *ps, size_t s, size_t e,
		       struct buf *out);
static bool parse_domain(struct parser *ps, struct buf *out);
static bool skip_route(struct parser *ps);
static bool add_mailbox(struct parser *ps, char *display, size_t ls,
			size_t le, const char *domain);
static bool parse_angle(struct parser *ps, size_t start);
static bool parse_addr_spec(struct parser *ps, size_t start);
static bool parse_group(struct parser *ps, size_t start);
static bool parse_address(struct parser *ps, bool allow_group);
static bool parse_list(struct parser *ps);
static void parser_init(struct parser *ps, const char *text,
			struct err *err);
static void parser_free(struct parser *ps);
static void list_push(struct address_list *l, char *display, char *mailbox);
static bool valid_local(const char *p, size_t n);
static bool valid_label(const char *p, size_t n);
static bool valid_domain(const char *d);

/* ---- list ------------------------------------------------------------ */

void address_list_init(struct address_list *l)
{
	l->items = NULL;
	l->n = 0;
	l->cap = 0;
}

void address_list_free(struct address_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->items[i].display);
		free(l->items[i].mailbox);
	}
	free(l->items);
	address_list_init(l);
}

/* Takes ownership of display and mailbox. */
static void list_push(struct address_list *l, char *display, char *mailbox)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4;
		l->items = xreallocarray(l->items, l->cap, sizeof *l->items);
	}
	l->items[l->n].display = display;
	l->items[l->n].mailbox = mailbox;
	l->n++;
}

void address_list_add(struct address_list *l, const char *display,
		      const char *mailbox)
{
	list_push(l, display ? xstrdup(display) : NULL, xstrdup(mailbox));
}

/* ---- characters and messages ------------------------------------------ */

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

static void fail(struct parser *ps, const char *what)
{
	char *s = shown(ps->text);

	err_set(ps->err, "%s in '%s'", what, s);
	free(s);
}

static bool fail_char(struct parser *ps, unsigned char c)
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
	fail(ps, what);
	return false;
}

/* ---- lexer ------------------------------------------------------------ */

static void toks_push(struct toks *t, enum tok_type type, char ch,
		      char *text, bool space)
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

static void toks_free(struct toks *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->v[i].text);
	free(t->v);
	t->v = NULL;
	t->n = t->cap = 0;
}

/* RFC 5322 3.2.2 comment: nested, with quoted-pairs. *pp is at '('. */
static bool lex_comment(struct parser *ps, const char **pp)
{
	const char *p = *pp + 1;
	int depth = 1;

	while (depth > 0) {
		unsigned char c = (unsigned char)*p;

		if (c == '\0') {
			fail(ps, "unterminated comment");
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
				return fail_char(ps, c);
			p += 2;
			continue;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail_char(ps, c);
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
static bool skip_cfws(struct parser *ps, const char **pp, bool *space)
{
	const char *p = *pp;

	*space = false;
	for (;;) {
		if (is_wsp((unsigned char)*p)) {
			p++;
		} else if (is_fold(p)) {
			p += 2;
		} else if (*p == '(') {
			if (!lex_comment(ps, &p))
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
static bool lex_quoted(struct parser *ps, const char **pp, bool space)
{
	const char *p = *pp + 1;
	struct buf b;

	buf_init(&b);
	buf_appends(&b, "");
	for (;;) {
		unsigned char c = (unsigned char)*p;

		if (c == '\0' || (c == '\\' && p[1] == '\0')) {
			buf_free(&b);
			fail(ps, "unterminated quoted string");
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
			return fail_char(ps, c);
		}
		buf_append(&b, p, 1);
		p++;
	}
	*pp = p + 1;
	toks_push(&ps->t, T_QSTR, 0, b.data, space);
	return true;
}

/* RFC 5322 3.4.1 domain-literal: "[" *dtext "]", FWS dropped. */
static bool lex_literal(struct parser *ps, const char **pp, bool space)
{
	const char *p = *pp + 1;
	struct buf b;

	buf_init(&b);
	buf_appends(&b, "[");
	for (;;) {
		unsigned char c = (unsigned char)*p;

		if (c == '\0' || c == '[' || (c == '\\' && p[1] == '\0')) {
			buf_free(&b);
			fail(ps, "unterminated domain literal");
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
			return fail_char(ps, c);
		}
		buf_append(&b, p, 1);
		p++;
	}
	buf_appends(&b, "]");
	*pp = p + 1;
	toks_push(&ps->t, T_DLIT, 0, b.data, space);
	return true;
}

static bool lex(struct parser *ps)
{
	const char *p = ps->text;
	bool space;

	for (;;) {
		unsigned char c;
		const char *s;

		if (!skip_cfws(ps, &p, &space))
			return false;
		c = (unsigned char)*p;
		if (c == '\0') {
			toks_push(&ps->t, T_END, 0, NULL, space);
			return true;
		}
		if (c == '"') {
			if (!lex_quoted(ps, &p, space))
				return false;
		} else if (c == '[') {
			if (!lex_literal(ps, &p, space))
				return false;
		} else if (strchr("<>:;@,.", c) != NULL) {
			toks_push(&ps->t, T_SPECIAL, (char)c, NULL, space);
			p++;
		} else if (is_atext(c)) {
			for (s = p; is_atext((unsigned char)*p); p++)
				;
			toks_push(&ps->t, T_ATOM, 0,
				  xstrndup(s, (size_t)(p - s)), space);
		} else if (c == ')') {
			fail(ps, "unbalanced ')'");
			return false;
		} else {
			return fail_char(ps, c);
		}
	}
}

/* ---- parser ----------------------------------------------------------- */

static struct tok *cur(struct parser *ps)
{
	return &ps->t.v[ps->i];
}

static bool is_special(const struct tok *t, char c)
{
	return t->type == T_SPECIAL && t->ch == c;
}

static bool is_word(const struct tok *t)
{
	return t->type == T_ATOM || t->type == T_QSTR;
}

static bool unexpected(struct parser *ps)
{
	const struct tok *t = cur(ps);
	char *what;

	switch (t->type) {
	case T_END:
		what = xstrdup("unexpected end of address");
		break;
	case T_SPECIAL:
		what = xasprintf("unexpected '%c'", t->ch);
		break;
	case T_QSTR:
		what = xstrdup("unexpected quoted string");
		break;
	default:
		what = xasprintf("unexpected '%.40s'", t->text);
		break;
	}
	fail(ps, what);
	free(what);
	return false;
}

/* RFC 5322 3.2.5 phrase (and obs-phrase with dots): words joined by one
 * space where the text had white space or comments. NULL when empty. */
static char *phrase(struct parser *ps, size_t s, size_t e)
{
	struct buf b;
	size_t k;

	buf_init(&b);
	for (k = s; k < e; k++) {
		const struct tok *t = &ps->t.v[k];

		if (t->space && b.len > 0)
			buf_append(&b, " ", 1);
		if (t->type == T_SPECIAL)
			buf_append(&b, &t->ch, 1);
		else
			buf_appends(&b, t->text);
	}
	if (b.len == 0) {
		buf_free(&b);
		return NULL;
	}
	return b.data;
}

/* RFC 5322 3.2.3 dot-atom-text. */
static bool dot_atom(const char *s, size_t n)
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

/*
 * RFC 5322 3.4.1 local-part from tokens [s, e): word *("." word), which
 * covers dot-atom, quoted-string and obs-local-part. The result is the
 * RFC 5321 4.1.2 form: a dot-string when the content allows it (so
 * "john.doe" and john.doe become the same mailbox), else one
 * quoted-string with '"' and '\' escaped.
 */
static bool local_part(struct parser *ps, size_t s, size_t e,
		       struct buf *out)
{
	struct buf raw;
	bool want_word = true;
	size_t k, i;

	buf_init(&raw);
	buf_appends(&raw, "");
	for (k = s; k < e; k++, want_word = !want_word) {
		const struct tok *t = &ps->t.v[k];

		if (want_word ? !is_word(t) : !is_special(t, '.'))
			break;
		if (want_word)
			buf_appends(&raw, t->text);
		else
			buf_append(&raw, ".", 1);
	}
	if (k < e || want_word) {
		buf_free(&raw);
		fail(ps, "invalid local part");
		return false;
	}
	if (dot_atom(raw.data, raw.len)) {
		buf_appends(out, raw.data);
	} else {
		buf_append(out, "\"", 1);
		for (i = 0; i < raw.len; i++) {
			if (raw.data[i] == '"' || raw.data[i] == '\\')
				buf_append(out, "\\", 1);
			buf_append(out, &raw.data[i], 1);
		}
		buf_append(out, "\"", 1);
	}
	buf_free(&raw);
	return true;
}

/* RFC 5322 3.4.1 domain: dot-atom, domain-literal, or obs-domain (atoms
 * and dots with CFWS between them). Appends the domain to out. */
static bool parse_domain(struct parser *ps, struct buf *out)
{
	if (cur(ps)->type == T_DLIT) {
		buf_appends(out, cur(ps)->text);
		ps->i++;
		return true;
	}
	if (cur(ps)->type != T_ATOM) {
		if (cur(ps)->type == T_END || is_special(cur(ps), '>') ||
		    is_special(cur(ps), ','))
			fail(ps, "missing domain after '@'");
		else
			fail(ps, "invalid domain");
		return false;
	}
	buf_appends(out, cur(ps)->text);
	ps->i++;
	while (is_special(cur(ps), '.')) {
		ps->i++;
		if (cur(ps)->type != T_ATOM) {
			fail(ps, "invalid domain");
			return false;
		}
		buf_append(out, ".", 1);
		buf_appends(out, cur(ps)->text);
		ps->i++;
	}
	return true;
}

/* RFC 5322 4.4 obs-route "@a,@b:" before the addr-spec; RFC 5321 C
 * says to ignore it, so the hosts are parsed and dropped. */
static bool skip_route(struct parser *ps)
{
	struct buf ignored;
	bool ok = true;

	buf_init(&ignored);
	for (;;) {
		if (is_special(cur(ps), ',')) {
			ps->i++;
		} else if (is_special(cur(ps), '@')) {
			ps->i++;
			if (!parse_domain(ps, &ignored)) {
				ok = false;
				break;
			}
		} else if (is_special(cur(ps), ':')) {
			ps->i++;
			break;
		} else {
			ok = unexpected(ps);
			break;
		}
	}
	buf_free(&ignored);
	return ok;
}

/* Builds local[@domain] from the local-part tokens [ls, le). Takes
 * ownership of display. */
static bool add_mailbox(struct parser *ps, char *display, size_t ls,
			size_t le, const char *domain)
{
	struct buf mb;

	buf_init(&mb);
	if (!local_part(ps, ls, le, &mb)) {
		free(display);
		buf_free(&mb);
		return false;
	}
	if (domain != NULL) {
		buf_append(&mb, "@", 1);
		buf_appends(&mb, domain);
	}
	list_push(&ps->found, display, mb.data);
	return true;
}

/* name-addr: [display-name] "<" [obs-route] addr-spec ">". The phrase
 * is tokens [start, i); the current token is '<'. */
static bool parse_angle(struct parser *ps, size_t start)
{
	char *display = phrase(ps, start, ps->i);
	struct buf domain;
	size_t ls, le;
	bool has_domain = false, ok = false;

	buf_init(&domain);
	ps->i++;
	if ((is_special(cur(ps), '@') || is_special(cur(ps), ',')) &&
	    !skip_route(ps))
		goto out;
	if (is_special(cur(ps), '>')) {
		fail(ps, "empty address '<>'");
		goto out;
	}
	for (ls = ps->i; is_word(cur(ps)) || is_special(cur(ps), '.'); ps->i++)
		;
	le = ps->i;
	if (ls == le) {
		unexpected(ps);
		goto out;
	}
	if (is_special(cur(ps), '@')) {
		ps->i++;
		if (!parse_domain(ps, &domain))
			goto out;
		has_domain = true;
	}
	if (!is_special(cur(ps), '>')) {
		if (cur(ps)->type == T_END)
			fail(ps, "missing '>'");
		else
			unexpected(ps);
		goto out;
	}
	ps->i++;
	ok = add_mailbox(ps, display, ls, le, has_domain ? domain.data : NULL);
	display = NULL;
out:
	free(display);
	buf_free(&domain);
	return ok;
}

/* addr-spec: local-part tokens [start, i) and the current '@'. */
static bool parse_addr_spec(struct parser *ps, size_t start)
{
	struct buf domain;
	size_t le = ps->i;
	bool ok;

	if (start == le)
		return unexpected(ps);
	buf_init(&domain);
	ps->i++;
	ok = parse_domain(ps, &domain) &&
	     add_mailbox(ps, NULL, start, le, domain.data);
	buf_free(&domain);
	return ok;
}

/* RFC 5322 3.4 group: display-name ":" [group-list] ";". The members
 * count; the group's name does not. A missing final ';' is tolerated
 * ("undisclosed-recipients:" is common). */
static bool parse_group(struct parser *ps, size_t start)
{
	if (start == ps->i)
		return unexpected(ps);
	ps->i++;
	for (;;) {
		while (is_special(cur(ps), ','))
			ps->i++;
		if (is_special(cur(ps), ';')) {
			ps->i++;
			return true;
		}
		if (cur(ps)->type == T_END)
			return true;
		if (!parse_address(ps, false))
			return false;
		if (!is_special(cur(ps), ',') && !is_special(cur(ps), ';') &&
		    cur(ps)->type != T_END)
			return unexpected(ps);
	}
}

/* RFC 5322 3.4 address (mailbox or, when allowed, group). What follows
 * the leading words decides which form this is. */
static bool parse_address(struct parser *ps, bool allow_group)
{
	size_t start = ps->i;

	while (is_word(cur(ps)) || is_special(cur(ps), '.'))
		ps->i++;
	if (is_special(cur(ps), '<'))
		return parse_angle(ps, start);
	if (is_special(cur(ps), '@'))
		return parse_addr_spec(ps, start);
	if (is_special(cur(ps), ':') && allow_group)
		return parse_group(ps, start);
	if (start == ps->i)
		return unexpected(ps);
	/* Obsolete but common in local mail: a bare local part ("root"). */
	return add_mailbox(ps, NULL, start, ps->i, NULL);
}

/* RFC 5322 3.4 address-list, with obs-addr-list's empty elements. */
static bool parse_list(struct parser *ps)
{
	for (;;) {
		while (is_special(cur(ps), ','))
			ps->i++;
		if (cur(ps)->type == T_END)
			return true;
		if (!parse_address(ps, true))
			return false;
		if (cur(ps)->type == T_END)
			return true;
		if (!is_special(cur(ps), ','))
			return unexpected(ps);
	}
}

static void parser_init(struct parser *ps, const char *text,
			struct err *err)
{
	ps->text = text;
	ps->t.v = NULL;
	ps->t.n = ps->t.cap = 0;
	ps->i = 0;
	address_list_init(&ps->found);
	ps->err = err;
}

static void parser_free(struct parser *ps)
{
	toks_free(&ps->t);
	address_list_free(&ps->found);
}

enum status address_parse_list(const char *text, struct address_list *out,
			       struct err *err)
{
	struct parser ps;
	enum status st = ST_PERMFAIL;
	size_t k;

	parser_init(&ps, text ? text : "", err);
	if (!lex(&ps) || !parse_list(&ps))
		goto out;
	for (k = 0; k < ps.found.n; k++)
		list_push(out, ps.found.items[k].display,
			  ps.found.items[k].mailbox);
	ps.found.n = 0;
	st = ST_OK;
out:
	parser_free(&ps);
	return st;
}

/* An envelope address is one mailbox: no group, no list. "<>" is the
 * null reverse-path of RFC 5321 4.1.1.2. */
enum status address_parse_envelope(const char *text, char **out,
				   struct err *err)
{
	struct parser ps;
	enum status st = ST_PERMFAIL;

	*out = NULL;
	parser_init(&ps, text ? text : "", err);
	if (has_control_chars(ps.text)) {
		const char *p = ps.text;

		while (*p && !((unsigned char)*p < 0x20 || *p == 0x7f))
			p++;
		fail_char(&ps, (unsigned char)*p);
		goto out;
	}
	if (!lex(&ps))
		goto out;
	if (ps.t.n == 3 && is_special(&ps.t.v[0], '<') &&
	    is_special(&ps.t.v[1], '>')) {
		*out = xstrdup("");
		st = ST_OK;
		goto out;
	}
	if (cur(&ps)->type == T_END) {
		err_set(err, "empty address");
		goto out;
	}
	if (!parse_address(&ps, false))
		goto out;
	if (cur(&ps)->type != T_END) {
		unexpected(&ps);
		goto out;
	}
	*out = ps.found.items[0].mailbox;
	ps.found.items[0].mailbox = NULL;
	st = ST_OK;
out:
	parser_free(&ps);
	return st;
}

/* ---- validation --------------------------------------------------------- */

/* RFC 5321 4.1.2 Local-part: Dot-string or Quoted-string (qtextSMTP,
 * quoted-pairSMTP); UTF-8 allowed as in RFC 6531 3.3. */
static bool valid_local(const char *p, size_t n)
{
	size_t i;

	if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
		for (i = 1; i < n - 1; i++) {
			unsigned char c = (unsigned char)p[i];

			if (c == '\\') {
				if (++i >= n - 1)
					return false;
				c = (unsigned char)p[i];
				if (c < 32 || c == 127)
					return false;
			} else if (c < 32 || c == 127 || c == '"') {
				return false;
			}
		}
		return true;
	}
	return dot_atom(p, n);
}

/* RFC 5321 4.1.2 sub-domain = Let-dig [Ldh-str]; U-labels (RFC 6531)
 * pass as bytes >= 0x80. */
static bool valid_label(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || n > LABEL_MAX || p[0] == '-' || p[n - 1] == '-')
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (!(c >= 0x80 || (c >= 'a' && c <= 'z') ||
		      (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return false;
	}
	return true;
}

/* RFC 5321 4.1.2 Domain or address-literal (4.1.3, checked loosely:
 * dtext between brackets). */
static bool valid_domain(const char *d)
{
	size_t n = strlen(d), i;
	const char *dot;

	if (n == 0 || n > DOMAIN_MAX)
		return false;
	if (d[0] == '[') {
		if (n < 3 || d[n - 1] != ']')
			return false;
		for (i = 1; i < n - 1; i++) {
			unsigned char c = (unsigned char)d[i];

			if (c < 33 || c > 126 || c == '[' || c == ']' ||
			    c == '\\')
				return false;
		}
		return true;
	}
	for (;;) {
		dot = strchr(d, '.');
		if (!valid_label(d, dot ? (size_t)(dot - d) : strlen(d)))
			return false;
		if (dot == NULL)
			return true;
		d = dot + 1;
	}
}

int address_valid_mailbox(const char *mailbox, int allow_no_domain)
{
	const char *domain;
	size_t llen;

	if (mailbox == NULL || *mailbox == '\0')
		return 0;
	domain = address_domain(mailbox);
	if (domain == NULL) {
		if (!allow_no_domain)
			return 0;
		return valid_local(mailbox, strlen(mailbox));
	}
	llen = (size_t)(domain - 1 - mailbox);
	return valid_local(mailbox, llen) && valid_domain(domain);
}

const char *address_domain(const char *mailbox)
{
	const char *p, *at = NULL;
	bool quoted = false;

	if (mailbox == NULL)
		return NULL;
	for (p = mailbox; *p; p++) {
		if (quoted && *p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (*p == '@' && !quoted)
			at = p;
	}
	if (at == NULL || at[1] == '\0')
		return NULL;
	return at + 1;
}
