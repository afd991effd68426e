/*
 * conf_escape.c - rewrites the configuration text so that libconfuse's
 * lexer takes every "${" literally (see conf_escape.h). The scanner
 * mirrors the lexer's states closely enough to know where a string,
 * comment or token starts.
 */
#include "ac_config.h"

#include <string.h>

#include "conf_escape.h"

/* Scanner states that mirror libconfuse 3.3's lexer (lexer.l). */
enum scan_state {
	SC_SPACE,    /* between tokens */
	SC_WORD,     /* inside an unquoted string */
	SC_LCOMMENT, /* # or // up to the end of the line */
	SC_BCOMMENT, /* C comment */
	SC_DQ,       /* "..." */
	SC_SQ        /* '...' */
};

struct scanner {
	const char *p;
	size_t len, i;
	enum scan_state st;
	int line;
	int depth;       /* open sections */
	int open_line;   /* line of the outermost unclosed '{' */
	struct buf out;
};

static bool is_word_char(char c);
static bool scan_space(struct scanner *s);
static void scan_env_ref(struct scanner *s, const char *close);
static void scan_quoted(struct scanner *s, char quote);

/*
 * libconfuse 3.3 replaces ${VAR} (and ${VAR:-default}) by getenv(VAR) in
 * two places: anywhere inside a "double-quoted" string, and as a whole
 * token where an unquoted string starts. It has no option to turn that
 * off, so the text is rewritten so the lexer takes those characters
 * literally: in a double-quoted string '$' becomes the escape "\x24";
 * an unquoted ${...} token becomes a single-quoted string, which is never
 * expanded. Comments and single-quoted strings are copied unchanged, as is
 * every newline, so line numbers in later messages stay right. The scanner
 * also counts braces: libconfuse silently accepts a section left open at
 * the end of the file.
 */
enum status conf_escape_env(const char *path, const char *text, size_t len,
			    struct buf *out, struct err *err)
{
	struct scanner s = { .p = text, .len = len, .st = SC_SPACE,
			     .line = 1 };
	enum status st = ST_OK;

	buf_init(&s.out);
	while (s.i < s.len) {
		if (s.p[s.i] == '\0') {
			err_set(err, "%s:%d: NUL byte in file", path, s.line);
			st = ST_PERMFAIL;
			goto out;
		}
		switch (s.st) {
		case SC_SPACE:
		case SC_WORD:
			if (scan_space(&s))
				continue;
			break;
		case SC_LCOMMENT:
			if (s.p[s.i] == '\n')
				s.st = SC_SPACE;
			break;
		case SC_BCOMMENT:
			if (s.p[s.i] == '*' && s.i + 1 < s.len &&
			    s.p[s.i + 1] == '/') {
				buf_append(&s.out, "*", 1);
				s.i++;
				s.st = SC_SPACE;
			}
			break;
		case SC_DQ:
		case SC_SQ:
			scan_quoted(&s, s.st == SC_DQ ? '"' : '\'');
			break;
		}
		if (s.i < s.len) {
			if (s.p[s.i] == '\n')
				s.line++;
			buf_append(&s.out, s.p + s.i, 1);
			s.i++;
		}
	}
	/* An open string is reported by libconfuse itself. */
	if (s.depth > 0 && s.st != SC_DQ && s.st != SC_SQ) {
		err_set(err, "%s:%d: section opened here is not closed "
			"(missing '}')", path, s.open_line);
		st = ST_PERMFAIL;
	}
out:
	if (st == ST_OK) {
		*out = s.out;
	} else {
		if (s.out.data)
			explicit_bzero(s.out.data, s.out.cap);
		buf_free(&s.out);
	}
	return st;
}

/* Characters that end an unquoted string in lexer.l. */
static bool is_word_char(char c)
{
	return c != '\0' && strchr(" #\"'\t\n\r={}()+,*", c) == NULL;
}

/*
 * One character outside strings and comments. Returns true when it copied
 * everything up to the new s->i itself; otherwise it leaves s->i on a
 * character for the caller to copy.
 */
static bool scan_space(struct scanner *s)
{
	const char *p = s->p;
	size_t i = s->i, n;
	char c = p[i];
	const char *close;

	if (c == '#') {
		s->st = SC_LCOMMENT;
	} else if (s->st == SC_SPACE && c == '/' && i + 1 < s->len &&
		   p[i + 1] == '*') {
		s->st = SC_BCOMMENT;
		buf_append(&s->out, "/", 1);
		s->i++;
	} else if (s->st == SC_SPACE && c == '/' && i + 1 < s->len &&
		   p[i + 1] == '/') {
		/* "//" starts a comment unless a longer unquoted string
		 * ("//host") matches, as flex prefers the longest match. */
		for (n = i; n < s->len && p[n] == '/'; n++)
			;
		s->st = n < s->len && is_word_char(p[n]) ? SC_WORD
							  : SC_LCOMMENT;
	} else if (c == '"') {
		s->st = SC_DQ;
	} else if (c == '\'') {
		s->st = SC_SQ;
	} else if (s->st == SC_SPACE && c == '$' && i + 1 < s->len &&
		   p[i + 1] == '{' &&
		   (close = memchr(p + i + 2, '}', s->len - i - 2)) != NULL) {
		scan_env_ref(s, close);
		return true;
	} else if (is_word_char(c)) {
		s->st = SC_WORD;
	} else {
		s->st = SC_SPACE;
		if (c == '{' && s->depth++ == 0)
			s->open_line = s->line;
		else if (c == '}' && s->depth > 0)
			s->depth--;
	}
	return false;
}

/* An unquoted "${...}" token: emitted as a single-quoted string. */
static void scan_env_ref(struct scanner *s, const char *close)
{
	const char *q;

	buf_append(&s->out, "'", 1);
	for (q = s->p + s->i; q <= close; q++) {
		/* In a single-quoted string only \\ and \' are escapes. */
		if (*q == '\\' || *q == '\'')
			buf_append(&s->out, "\\", 1);
		if (*q == '\n')
			s->line++;
		buf_append(&s->out, q, 1);
	}
	buf_append(&s->out, "'", 1);
	s->i = (size_t)(close - s->p) + 1;
	s->st = SC_SPACE;
}

/* One character inside a quoted string. */
static void scan_quoted(struct scanner *s, char quote)
{
	const char *p = s->p;
	size_t i = s->i;

	if (p[i] == quote) {
		s->st = SC_SPACE;
	} else if (p[i] == '\\' && i + 1 < s->len) {
		/* Copy the escape pair whole: "\"" and "\$" stay as they are. */
		buf_append(&s->out, p + i, 1);
		s->i++;
	} else if (quote == '"' && p[i] == '$' && i + 1 < s->len &&
		   p[i + 1] == '{') {
		/* The lexer's longest match takes "\x24" as one hex escape
		 * before its ${...} rule can see a '$'. */
		buf_appends(&s->out, "\\x24");
		s->i++;
	}
}
