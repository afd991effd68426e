/*
 * rfc5322_lex.h - the lexical layer of RFC 5322 addresses (3.2): text
 * to tokens (atoms, quoted strings, domain literals, the specials),
 * with comments and folding white space taken out. The grammar above
 * it is address.c's.
 */
#ifndef SENDMX_RFC5322_LEX_H
#define SENDMX_RFC5322_LEX_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

enum rfc5322_tok_type {
	TOK_ATOM,     /* run of atext (RFC 5322 3.2.3; UTF-8 counts as atext) */
	TOK_QSTR,     /* quoted-string, decoded (quotes and escapes removed) */
	TOK_DLIT,     /* domain-literal "[...]", FWS removed */
	TOK_SPECIAL,  /* one of < > : ; @ , . */
	TOK_END       /* end of the text; always the last token */
};

struct rfc5322_tok {
	enum rfc5322_tok_type type;
	char ch;     /* TOK_SPECIAL */
	char *text;  /* TOK_ATOM, TOK_QSTR, TOK_DLIT; NULL otherwise */
	bool space;  /* CFWS came before it: display names keep one space */
};

struct rfc5322_toks {
	struct rfc5322_tok *v;
	size_t n, cap;
};

/*
 * Splits text (NUL-terminated; the NUL ends it) into *out, which it
 * initialises (any previous contents are not freed). Comments nest and
 * may hold quoted-pairs (3.2.2); CRLF followed by WSP is folding white
 * space, and folds inside quoted strings and comments are unfolded. Any
 * other CR, LF or control character is refused: it would let an
 * address end an SMTP command or a header line early.
 *
 * Returns ST_OK, or ST_PERMFAIL with err as rfc5322_error() makes it
 * ("unterminated comment", "unterminated quoted string", "unterminated
 * domain literal", "unbalanced ')'", "control character CR in address",
 * "unexpected '\\'", ...) and *out empty.
 */
enum status rfc5322_lex(const char *text, struct rfc5322_toks *out,
			struct err *err);

/* Frees the tokens and their text; t is left empty. */
void rfc5322_toks_free(struct rfc5322_toks *t);

/* RFC 5322 3.2.3 dot-atom-text: atext runs joined by single dots, no
 * dot first or last. n octets of s; false when n is 0. */
bool rfc5322_dot_atom_text(const char *s, size_t n);

/*
 * Sets err to "WHAT in 'TEXT'", TEXT shown fit for a log line or an
 * SMTP reply: CR and LF as \r and \n, other controls as \xHH, cut after
 * 200 octets with "...".
 */
void rfc5322_error(struct err *err, const char *text, const char *what);

/* rfc5322_error for an octet c that may not stand where it does:
 * "control character CR in address", "control character 0x01 in
 * address", "unexpected '\\'". */
void rfc5322_error_char(struct err *err, const char *text, unsigned char c);

#endif
