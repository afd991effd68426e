/*
 * aliases_int.h - what the files of the aliases module share: the table,
 * the parser's state, and the functions each file lends the others.
 * aliases.c reads files (lines, entries, errors) and is the public
 * load/check; aliases_targets.c parses target lists and :include: files;
 * aliases_expand.c holds the name table and expands names.
 *
 * Only those files include it; the rest see aliases.h alone.
 */
#ifndef SENDMX_ALIASES_INT_H
#define SENDMX_ALIASES_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "aliases.h"
#include "status.h"
#include "util.h"

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

/* ---- errors and reading (aliases.c) -------------------------------------- */

/* An error at file:line (line 0: the file as a whole). Load mode keeps
 * the first one (p->st, p->err) and stops; check mode prints each to
 * p->report and counts it. */
void aliases_fail_at(struct parser *p, enum status st, size_t file,
		     unsigned long line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* A warning at file:line: printed in check mode, else nothing. */
void aliases_warn_at(struct parser *p, size_t file, unsigned long line,
		     const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Load mode after an error: nothing more is to be read. */
bool aliases_stopped(const struct parser *p);

/* Adds path to a->files; returns its index. */
size_t aliases_add_file(struct aliases *a, const char *path);

/* Opens path for reading, refusing what is unsafe or too large; failures
 * are reported at from:line (line 0: the aliases file itself) and give
 * NULL. A missing file with missing_ok gives NULL, *missing true and no
 * error. */
FILE *aliases_open_file(struct parser *p, const char *path, bool missing_ok,
			bool *missing, size_t from, unsigned long line);

/* Reads one line into b, without its LF or CRLF; *total counts the
 * file's octets. Returns 1 for a line, 2 for a line that was reported
 * bad (too long, control characters), 0 at EOF, -1 when the file cannot
 * be read further (reported). */
int aliases_read_line(struct parser *p, FILE *f, size_t file,
		      unsigned long line, size_t *total, struct buf *b);

/* A line of white space only, or whose first non-blank is '#'. */
bool aliases_blank_or_comment(const char *s);

/* ---- targets (aliases_targets.c) ----------------------------------------- */

/* Parses the target list in text from start (lines per lm, in file) into
 * out, reporting each bad target. Returns the number of elements, good
 * or bad (an empty include is one). */
size_t aliases_parse_targets(struct parser *p, size_t file, const char *text,
			     size_t start, const struct linemap *lm,
			     struct tlist *out);

/* Frees the targets; l is empty (and reusable) afterwards. */
void aliases_tlist_free(struct tlist *l);

/* n octets of s without a surrounding pair of quotes and with its
 * quoted-pairs undone (RFC 5322 3.2.4); a copy when not quoted. */
char *aliases_unquote(const char *s, size_t n);

/* ---- the table (aliases_expand.c) ---------------------------------------- */

/* Adds e (its name in lower case, not yet in the table) to a; a owns
 * e's contents afterwards. */
void aliases_table_add(struct aliases *a, struct entry *e);

/* The entry named name (lower case); NULL if none or a is NULL. */
const struct entry *aliases_lookup(const struct aliases *a, const char *name);

/* ASCII letters of s to lower case, in place. */
void aliases_lower(char *s);

#endif
