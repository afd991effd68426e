/*
 * aliases.h - the aliases(5) text file: parsing, checking (newaliases,
 * -bi) and expanding a local name into its final targets. Pure: reads
 * files, never prints (except to the report stream that aliases_check
 * is given), never delivers.
 *
 * The format, as sendmail and Postfix read it:
 *
 *   # comment                  a line whose first non-blank is '#'
 *   name: target, target       a name starts in column 1
 *       target, target         a line starting with white space continues
 *                              the entry above (blank and comment lines
 *                              in between do not end it, as in Postfix)
 *
 * Names are local parts (RFC 5322 atext and dots, at most 64 octets),
 * matched case-insensitively; white space before the ':' is allowed.
 * A name defined twice is an error naming both lines.
 * Targets are separated by commas outside quotes and comments; empty
 * elements (a trailing comma) are ignored. A target is
 *   - an address: "bob", "bob@example.org", "Bob <bob@example.org>",
 *     "\"name with spaces\"@example.org", RFC 5322 comments allowed;
 *   - "\name": the local mailbox name, never looked up as an alias;
 *   - "|command" or "\"|command with args\"": a pipe;
 *   - "/path" or "\"/path with spaces\"": a file (absolute path);
 *   - ":include:/path": the targets listed in /path (absolute), one or
 *     more per line, comma-separated, '#' comment and blank lines
 *     allowed; include files may include others (ALIASES_MAX_INCLUDE
 *     levels, loops refused). Include files are read when the table is
 *     loaded, so they are as fresh as the aliases file itself.
 * A "#" after a target is not a comment (it is valid in a local part):
 * comments go on lines of their own.
 *
 * A file (aliases or include) that others may write is refused: whoever
 * writes it could redirect root's mail.
 */
#ifndef SENDMX_ALIASES_H
#define SENDMX_ALIASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "status.h"

/* Bounds; each one exceeded is an error that names it. */
#define ALIASES_MAX_LINE     4096      /* octets in one physical line */
#define ALIASES_MAX_ENTRY    65536     /* octets in one entry, continuations
					* included */
#define ALIASES_MAX_FILE     (8L << 20) /* octets in one file */
#define ALIASES_MAX_INCLUDE  8         /* nested :include: levels */
#define ALIASES_MAX_STORED   100000    /* targets in the whole table, each
					* include counted where it is used */
#define ALIASES_MAX_DEPTH    20        /* alias-to-alias nesting in one
					* expansion (sendmail: 10) */
#define ALIASES_MAX_EXPANSION 1000     /* final targets of one expansion
					* (Postfix's expansion_limit) */

struct aliases;

/*
 * Parses path and every file it includes into *out (free with
 * aliases_free). A missing path (ENOENT) is ST_OK with an empty table
 * when missing_ok (the default /etc/aliases may not exist).
 *
 * Errors stop at the first one, err "FILE:LINE: what" (or "FILE: what"
 * when no line applies, e.g. "cannot open: Permission denied"):
 * ST_PERMFAIL for anything that needs the administrator (syntax, a name
 * defined twice, a bound exceeded, a missing or unsafe file, an include
 * loop); ST_TEMPFAIL for a read error that may pass (EIO, EMFILE,
 * ENFILE, ENOMEM). *out is NULL on failure.
 */
enum status aliases_load(const char *path, bool missing_ok,
			 struct aliases **out, struct err *err);

/* Number of names in the table (a newaliases summary); 0 for NULL. */
size_t aliases_count(const struct aliases *a);

/*
 * Says whether addr (an address with a domain, e.g. "bob@web1.example.org")
 * is local: the caller answers from hostname and local_domains. When it
 * returns true it may set *localpart to a malloc'd local part ("bob",
 * unquoted); left NULL, the text before the '@' is used.
 */
typedef bool (*aliases_is_local_fn)(void *ctx, const char *addr,
				    char **localpart);

/*
 * newaliases (-bi): checks the whole file without stopping at the first
 * error, and writes one line per error, "FILE:LINE: what", to report
 * ("FILE: what" when no line applies): first the syntax errors in file
 * order (an include file's at its own lines, once), then it expands
 * every name and reports those that loop, nest too deep or fan out too
 * far, at the name's line ("FILE:LINE: alias loop: a -> b -> a"; each
 * name of a loop is reported), using is_local (may be NULL: only names
 * without a domain are local) and ctx.
 *
 * Pipe targets when !allow_pipe and file targets when !allow_file are
 * reported as "FILE:LINE: warning: ...": they are valid syntax and
 * are not counted, but their mail will be refused.
 *
 * Returns the number of errors: 0 means clean (newaliases exits 0). A
 * missing file is one error. report must not be NULL.
 */
size_t aliases_check(const char *path, bool allow_pipe, bool allow_file,
		     aliases_is_local_fn is_local, void *ctx, FILE *report);

enum alias_kind {
	ALIAS_ADDRESS, /* a remote address (or one that is_local refused) */
	ALIAS_LOCAL,   /* a local name that no alias maps: a mailbox */
	ALIAS_PIPE,    /* "|command": value is the command, without '|' */
	ALIAS_FILE     /* "/path": value is the absolute path */
};

struct alias_target {
	enum alias_kind kind;
	char *value;   /* address (as parsed: "bob@example.org"), user name
			* (lower case, unquoted), command, or path */
};

/*
 * Expands rcpt into its final targets, *out (an array of *n; free with
 * aliases_free_targets). rcpt is a local name ("root", matched without
 * regard to case) or an address: one for which is_local (may be NULL)
 * says true is looked up by its local part; any other is returned as
 * itself, ALIAS_ADDRESS. a may be NULL (no aliases).
 *
 * Names found among the targets are expanded in turn (at most
 * ALIASES_MAX_DEPTH levels). A name among its own targets ("root: root,
 * bob") and "\name" are mailboxes, ALIAS_LOCAL, not expanded again
 * (sendmail's rule). A name that is not an alias is ALIAS_LOCAL.
 * Each final target appears once, in first-seen order: addresses
 * compare with the domain's case ignored, names in lower case.
 *
 * Returns ST_OK with *n >= 1, or ST_PERMFAIL with *out NULL, *n 0 and
 * err saying why:
 *   "alias loop: a -> b -> a"
 *   "pipe target \"|cmd\" (alias 'list', FILE:LINE) refused: allow_pipe_aliases is off"
 *   "file target \"/x\" (alias 'list', FILE:LINE) refused: allow_file_aliases is off"
 *   "alias nesting deeper than 20 levels: a -> b -> ..."
 *   "alias 'a' expands to more than 1000 targets"
 *   "alias 'a' expands to no targets" (only includes that are empty)
 *   "invalid local name ..." (rcpt empty or with control characters)
 */
enum status aliases_expand(const struct aliases *a, const char *rcpt,
			   bool allow_pipe, bool allow_file,
			   aliases_is_local_fn is_local, void *ctx,
			   struct alias_target **out, size_t *n,
			   struct err *err);

void aliases_free_targets(struct alias_target *t, size_t n);
void aliases_free(struct aliases *a);

#endif
