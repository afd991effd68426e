/*
 * address.c - RFC 5322 3.4 address lists, parsed in two steps: the lexer
 * (rfc5322_lex.c) turns the text into tokens (atoms, quoted strings,
 * domain literals and the specials) with comments and folding white
 * space removed, and the recursive-descent parser here builds mailboxes
 * from the tokens. The parser
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
#include "rfc5322_lex.h"
#include "util.h"

/* RFC 5321 4.5.3.1.2 and RFC 1035 2.3.4: DNS limits of a domain name. */
#define DOMAIN_MAX 255
#define LABEL_MAX 63

struct parser {
	const char *text;           /* the whole input, for messages */
	struct rfc5322_toks t;
	size_t i;                   /* current token */
	struct address_list found;  /* handed over only when all parsed */
	struct err *err;
};

static void fail(struct parser *ps, const char *what);
static struct rfc5322_tok *cur(struct parser *ps);
static bool is_special(const struct rfc5322_tok *t, char c);
static bool is_word(const struct rfc5322_tok *t);
static bool unexpected(struct parser *ps);
static char *phrase(struct parser *ps, size_t s, size_t e);
static bool local_part(struct parser *ps, size_t s, size_t e,
		       struct buf *out);
static bool parse_domain(struct parser *ps, struct buf *out);
static bool skip_route(struct parser *ps);
static bool add_mailbox(struct parser *ps, char *display, size_t ls,
			size_t le, const char *domain);
static bool parse_angle(struct parser *ps, size_t start);
static bool parse_addr_spec(struct parser *ps, size_t start);
static bool parse_group(struct parser *ps, size_t start);
static size_t bare_display_end(struct parser *ps);
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
	l->slots = NULL;
	l->nslots = 0;
	l->indexed = 0;
}

void address_list_free(struct address_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->items[i].display);
		free(l->items[i].mailbox);
	}
	free(l->items);
	free(l->slots);
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

/* ---- parser ----------------------------------------------------------- */

static void fail(struct parser *ps, const char *what)
{
	rfc5322_error(ps->err, ps->text, what);
}

static struct rfc5322_tok *cur(struct parser *ps)
{
	return &ps->t.v[ps->i];
}

static bool is_special(const struct rfc5322_tok *t, char c)
{
	return t->type == TOK_SPECIAL && t->ch == c;
}

static bool is_word(const struct rfc5322_tok *t)
{
	return t->type == TOK_ATOM || t->type == TOK_QSTR;
}

static bool unexpected(struct parser *ps)
{
	const struct rfc5322_tok *t = cur(ps);
	char *what;

	switch (t->type) {
	case TOK_END:
		what = xstrdup("unexpected end of address");
		break;
	case TOK_SPECIAL:
		what = xasprintf("unexpected '%c'", t->ch);
		break;
	case TOK_QSTR:
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
		const struct rfc5322_tok *t = &ps->t.v[k];

		if (t->space && b.len > 0)
			buf_append(&b, " ", 1);
		if (t->type == TOK_SPECIAL)
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
		const struct rfc5322_tok *t = &ps->t.v[k];

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
	if (rfc5322_dot_atom_text(raw.data, raw.len)) {
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
	if (cur(ps)->type == TOK_DLIT) {
		buf_appends(out, cur(ps)->text);
		ps->i++;
		return true;
	}
	if (cur(ps)->type != TOK_ATOM) {
		if (cur(ps)->type == TOK_END || is_special(cur(ps), '>') ||
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
		if (cur(ps)->type != TOK_ATOM) {
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
		if (cur(ps)->type == TOK_END)
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
		if (cur(ps)->type == TOK_END)
			return true;
		if (!parse_address(ps, false))
			return false;
		if (!is_special(cur(ps), ',') && !is_special(cur(ps), ';') &&
		    cur(ps)->type != TOK_END)
			return unexpected(ps);
	}
}

/*
 * "bob@example.org <bob@example.org>": an address used as the display
 * name, unquoted. RFC 5322 has no such phrase, but mail programs write
 * it, and sendmail and Postfix take the address between the angle
 * brackets. Returns the index of that '<' when the tokens from the
 * current one on are words, dots, '@' and domain literals up to a '<';
 * 0 otherwise.
 */
static size_t bare_display_end(struct parser *ps)
{
	size_t k;

	for (k = ps->i; k < ps->t.n; k++) {
		const struct rfc5322_tok *t = &ps->t.v[k];

		if (is_special(t, '<'))
			return k;
		if (!is_word(t) && t->type != TOK_DLIT &&
		    !is_special(t, '.') && !is_special(t, '@'))
			return 0;
	}
	return 0;
}

/* RFC 5322 3.4 address (mailbox or, when allowed, group). What follows
 * the leading words decides which form this is. */
static bool parse_address(struct parser *ps, bool allow_group)
{
	size_t start = ps->i, lt;

	while (is_word(cur(ps)) || is_special(cur(ps), '.'))
		ps->i++;
	if (is_special(cur(ps), '<'))
		return parse_angle(ps, start);
	if (is_special(cur(ps), '@') && (lt = bare_display_end(ps)) > 0) {
		ps->i = lt;
		return parse_angle(ps, start);
	}
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
		if (cur(ps)->type == TOK_END)
			return true;
		if (!parse_address(ps, true))
			return false;
		if (cur(ps)->type == TOK_END)
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
	rfc5322_toks_free(&ps->t);
	address_list_free(&ps->found);
}

enum status address_parse_list(const char *text, struct address_list *out,
			       struct err *err)
{
	struct parser ps;
	enum status st = ST_PERMFAIL;
	size_t k;

	parser_init(&ps, text ? text : "", err);
	if (rfc5322_lex(ps.text, &ps.t, err) != ST_OK || !parse_list(&ps))
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
		rfc5322_error_char(err, ps.text, (unsigned char)*p);
		goto out;
	}
	if (rfc5322_lex(ps.text, &ps.t, err) != ST_OK)
		goto out;
	if (ps.t.n == 3 && is_special(&ps.t.v[0], '<') &&
	    is_special(&ps.t.v[1], '>')) {
		*out = xstrdup("");
		st = ST_OK;
		goto out;
	}
	if (cur(&ps)->type == TOK_END) {
		err_set(err, "empty address");
		goto out;
	}
	if (!parse_address(&ps, false))
		goto out;
	if (cur(&ps)->type != TOK_END) {
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
	return rfc5322_dot_atom_text(p, n);
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

char *address_qualify(const char *mailbox, const char *domain)
{
	if (*mailbox == '\0' || domain == NULL || *domain == '\0' ||
	    address_domain(mailbox) != NULL)
		return xstrdup(mailbox);
	return xasprintf("%s@%s", mailbox, domain);
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
