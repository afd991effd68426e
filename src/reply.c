/*
 * reply.c - SMTP reply parsing (RFC 5321 4.2).
 *
 * A reply is one or more lines "NNN-text" ended by "NNN text" or a bare
 * "NNN". Everything a server sends is bounded here (lines, bytes) and
 * cleaned of control bytes, so the text can go into logs, bounces and
 * error messages as it is.
 */
#include "ac_config.h"

#include <stdio.h>
#include <string.h>

#include "reply.h"

static int parse_code(const char *line, size_t len);
static bool is_digit(char c);
static size_t digits(const char *p, size_t len, size_t max);
static void detect_enhanced(struct smtp_reply *r, const char *p, size_t len);
static void append_clean(struct buf *b, const char *p, size_t len);
static const char *skip_enhanced(const struct smtp_reply *r, const char *p,
				 size_t *len);

void reply_init(struct smtp_reply *r)
{
	r->code = 0;
	r->enhanced[0] = '\0';
	buf_init(&r->text);
	r->nlines = 0;
}

void reply_reset(struct smtp_reply *r)
{
	r->code = 0;
	r->enhanced[0] = '\0';
	buf_reset(&r->text);
	r->nlines = 0;
}

void reply_free(struct smtp_reply *r)
{
	buf_free(&r->text);
	reply_init(r);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 5321 4.2: Reply-code = %x32-35 %x30-35 %x30-39. The middle digit
 * is accepted up to 9: being strict there buys nothing. Returns the code
 * or -1. */
static int parse_code(const char *line, size_t len)
{
	if (len < 3 || line[0] < '2' || line[0] > '5' ||
	    !is_digit(line[1]) || !is_digit(line[2]))
		return -1;
	return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

/* Number of leading digits in p (at most max + 1, so callers can tell
 * "too many" from "exactly max"). */
static size_t digits(const char *p, size_t len, size_t max)
{
	size_t n = 0;

	while (n < len && n <= max && is_digit(p[n]))
		n++;
	return n;
}

/* RFC 3463 2: status-code = class "." subject "." detail, class one of
 * 2, 4, 5 (and it must agree with the reply's class, RFC 2034 4),
 * subject and detail 1*3 digits, followed by a space or the end. */
static void detect_enhanced(struct smtp_reply *r, const char *p, size_t len)
{
	size_t i, n;

	if (len < 5 || p[0] != '0' + r->code / 100 || p[0] == '3' || p[1] != '.')
		return;
	i = 2;
	n = digits(p + i, len - i, 3);
	if (n < 1 || n > 3 || i + n >= len || p[i + n] != '.')
		return;
	i += n + 1;
	n = digits(p + i, len - i, 3);
	if (n < 1 || n > 3)
		return;
	i += n;
	if (i < len && p[i] != ' ')
		return;
	memcpy(r->enhanced, p, i);
	r->enhanced[i] = '\0';
}

/* Control bytes (NUL included) become '?': the text ends up in logs and
 * bounce messages, where a stray CR or escape sequence does harm. */
static void append_clean(struct buf *b, const char *p, size_t len)
{
	size_t start = b->len;

	buf_append(b, p, len);
	replace_controls(b->data + start, len, '?');
}

enum reply_feed reply_feed_line(struct smtp_reply *r, const char *line,
				size_t len)
{
	int code = parse_code(line, len);
	const char *text;
	size_t tlen, need;

	if (code < 0)
		return REPLY_BAD;
	if (len > 3 && line[3] != '-' && line[3] != ' ')
		return REPLY_BAD;
	/* RFC 5321 4.2.1: every line of a multi-line reply has the same code. */
	if (r->nlines > 0 && code != r->code)
		return REPLY_BAD;
	if (r->nlines >= REPLY_MAX_LINES)
		return REPLY_TOO_BIG;
	text = len > 4 ? line + 4 : "";
	tlen = len > 4 ? len - 4 : 0;
	need = tlen + (r->nlines > 0 ? 1 : 0);
	if (need > REPLY_MAX_BYTES - r->text.len)
		return REPLY_TOO_BIG;

	if (r->nlines == 0) {
		r->code = code;
		buf_reset(&r->text);
		detect_enhanced(r, text, tlen);
	} else {
		buf_append(&r->text, "\n", 1);
	}
	append_clean(&r->text, text, tlen);
	r->nlines++;
	return (len > 3 && line[3] == '-') ? REPLY_MORE : REPLY_COMPLETE;
}

/* Servers repeat the enhanced code on every line; the summary shows it
 * once, after the reply code. */
static const char *skip_enhanced(const struct smtp_reply *r, const char *p,
				 size_t *len)
{
	size_t n = strlen(r->enhanced);

	if (n == 0 || *len < n || memcmp(p, r->enhanced, n) != 0)
		return p;
	if (*len == n) {
		*len = 0;
		return p + n;
	}
	if (p[n] != ' ')
		return p;
	*len -= n + 1;
	return p + n + 1;
}

char *reply_summary(const struct smtp_reply *r)
{
	struct buf b;
	const char *p = r->text.data ? r->text.data : "";
	const char *end = p + r->text.len;
	bool first = true;

	buf_init(&b);
	buf_appendf(&b, "%03d", r->code);
	while (p <= end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (nl ? nl : end) - p;
		const char *q = first ? p : skip_enhanced(r, p, &len);

		if (len > 0) {
			buf_appends(&b, first ? " " : " / ");
			append_clean(&b, q, len);
		}
		first = false;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return b.data;
}
