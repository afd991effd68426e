/*
 * smtp_ext.c - EHLO reply parsing: which service extensions the server
 * offers.
 */
#include "ac_config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_ext.h"

static void ext_line(struct smtp_ext *e, const char *line, size_t len);

void smtp_ext_init(struct smtp_ext *e)
{
	memset(e, 0, sizeof *e);
	buf_init(&e->auth_mechs);
}

void smtp_ext_clear(struct smtp_ext *e)
{
	struct buf keep = e->auth_mechs;

	memset(e, 0, sizeof *e);
	e->auth_mechs = keep;
	buf_reset(&e->auth_mechs);
}

void smtp_ext_free(struct smtp_ext *e)
{
	buf_free(&e->auth_mechs);
}

/* One EHLO keyword line (RFC 5321 4.1.1.1): keyword [SP params]. Old
 * servers write "AUTH=LOGIN PLAIN" (pre-RFC 2554 drafts); take both. */
static void ext_line(struct smtp_ext *e, const char *line, size_t len)
{
	size_t kw = 0;
	char *copy = xstrndup(line, len);
	const char *arg;

	while (copy[kw] != '\0' && copy[kw] != ' ' && copy[kw] != '=')
		kw++;
	arg = copy + kw + (copy[kw] != '\0');
	if (kw == 4 && ascii_strncasecmp(copy, "AUTH", 4) == 0) {
		e->auth = true;
		if (e->auth_mechs.len > 0)
			buf_append(&e->auth_mechs, " ", 1);
		buf_appends(&e->auth_mechs, arg);
		goto out;
	}
	copy[kw] = '\0';
	if (ascii_strcasecmp(copy, "PIPELINING") == 0) {
		e->pipelining = true;
	} else if (ascii_strcasecmp(copy, "8BITMIME") == 0) {
		e->eightbitmime = true;
	} else if (ascii_strcasecmp(copy, "ENHANCEDSTATUSCODES") == 0) {
		e->enhanced = true;
	} else if (ascii_strcasecmp(copy, "STARTTLS") == 0) {
		e->starttls = true;
	} else if (ascii_strcasecmp(copy, "SIZE") == 0) {
		char *end;
		long long v;

		e->size = true;
		errno = 0;
		v = strtoll(arg, &end, 10);
		/* RFC 1870 4: no number or 0 means no fixed limit. */
		if (errno == 0 && end != arg && v > 0)
			e->size_max = v;
	}
out:
	free(copy);
}

/* The first line is the server's name and greeting; each further line
 * names one extension. */
void smtp_ext_parse(struct smtp_ext *e, const struct smtp_reply *r)
{
	const char *p = r->text.data ? r->text.data : "";
	const char *end = p + r->text.len;
	const char *nl = memchr(p, '\n', r->text.len);

	while (nl != NULL) {
		const char *line = nl + 1;

		nl = memchr(line, '\n', (size_t)(end - line));
		ext_line(e, line, (size_t)((nl ? nl : end) - line));
	}
}
