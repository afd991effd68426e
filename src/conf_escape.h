/*
 * conf_escape.h - keeps libconfuse from expanding ${VAR} in the
 * configuration file.
 *
 * libconfuse 3.3 replaces ${VAR} (and ${VAR:-default}) by getenv(VAR)
 * and has no option to turn that off; sendmx may run with privilege and
 * inherits its caller's environment. This rewrites the file's text, before
 * libconfuse sees it, into text its lexer reads as the same literal
 * characters. Pure: text in, text out; no libconfuse, no I/O.
 */
#ifndef SENDMX_CONF_ESCAPE_H
#define SENDMX_CONF_ESCAPE_H

#include <stddef.h>

#include "status.h"
#include "util.h"

/*
 * Rewrites len bytes of text (the whole file) into *out, following
 * libconfuse 3.3's lexer (lexer.l):
 *   - inside a "double-quoted" string, a '$' before '{' becomes "\x24";
 *   - an unquoted token that starts with "${" and has a closing '}' becomes
 *     a 'single-quoted' string ('\' and '\'' escaped), never expanded;
 *   - comments (#, //, C comments), single-quoted strings, escape pairs
 *     and everything else are copied unchanged, newlines included, so that
 *     line numbers in later messages stay right.
 *
 * On ST_OK *out is set to a new buffer (any earlier content is not
 * freed: pass an empty one); free it with buf_free, after wiping it if
 * the text may hold a secret. On ST_PERMFAIL *out is untouched, the
 * partial output is wiped and freed, and err says "path:line: ..." for a
 * NUL byte in the text, or for a section ('{') not closed at the end of
 * the file (which libconfuse would silently accept). An unterminated
 * string is left for libconfuse to report. path is used in messages only.
 */
enum status conf_escape_env(const char *path, const char *text, size_t len,
			    struct buf *out, struct err *err);

#endif
