/*
 * header.c - an RFC 5322 header section in memory. Fields keep their
 * raw text (continuation lines joined with CRLF) so that what is
 * written out is what came in, except for fields removed or added.
 */
#include "ac_config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "header.h"
#include "util.h"

static bool is_wsp(char c);
static size_t name_length(const char *line, size_t len, size_t *colon);
static void push(struct header_block *h, char *name, char *raw,
		 bool prepend);

void header_init(struct header_block *h)
{
	h->fields = NULL;
	h->n = 0;
	h->cap = 0;
	h->bytes = 0;
}

void header_free(struct header_block *h)
{
	size_t i;

	for (i = 0; i < h->n; i++) {
		free(h->fields[i].name);
		free(h->fields[i].raw);
	}
	free(h->fields);
	header_init(h);
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * RFC 5322 2.2 field-name: 1*(%d33-57 / %d59-126), then ':'. White space
 * between the name and the colon is the obsolete form of RFC 5322 4.5.8
 * (obs-optional), still accepted by sendmail and Postfix, so it is
 * accepted here too and is not part of the name. Returns the name's
 * length and sets *colon to the colon's index, or returns 0 when line
 * does not start a field.
 */
static size_t name_length(const char *line, size_t len, size_t *colon)
{
	size_t i, n;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c < 33 || c > 126 || c == ':')
			break;
	}
	n = i;
	while (i < len && is_wsp(line[i]))
		i++;
	if (n == 0 || i >= len || line[i] != ':')
		return 0;
	*colon = i;
	return n;
}

bool header_line_is_field(const char *line, size_t len)
{
	size_t colon;

	return name_length(line, len, &colon) > 0;
}

static void push(struct header_block *h, char *name, char *raw,
		 bool prepend)
{
	size_t at = prepend ? 0 : h->n;

	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 16;
		h->fields = xreallocarray(h->fields, h->cap, sizeof *h->fields);
	}
	if (prepend)
		memmove(&h->fields[1], &h->fields[0], h->n * sizeof *h->fields);
	h->fields[at].name = name;
	h->fields[at].raw = raw;
	h->fields[at].removed = false;
	h->n++;
	h->bytes += strlen(raw);
}

bool header_add_raw(struct header_block *h, const char *raw)
{
	size_t colon, n = name_length(raw, strlen(raw), &colon);

	if (n == 0)
		return false;
	push(h, xstrndup(raw, n), xstrdup(raw), false);
	return true;
}

/* RFC 5322 2.2.3: a continuation line belongs to the field above it. */
void header_add(struct header_block *h, const char *name, const char *value,
		bool prepend)
{
	char *raw;

	if (value == NULL || *value == '\0')
		raw = xasprintf("%s:", name);
	else
		raw = xasprintf("%s: %s", name, value);
	push(h, xstrdup(name), raw, prepend);
}

long header_find(const struct header_block *h, const char *name, size_t from)
{
	size_t i;

	for (i = from; i < h->n; i++) {
		if (!h->fields[i].removed &&
		    ascii_strcasecmp(h->fields[i].name, name) == 0)
			return (long)i;
	}
	return -1;
}

bool header_has(const struct header_block *h, const char *name)
{
	return header_find(h, name, 0) >= 0;
}

/* RFC 5322 2.2.3 unfolding: remove each CRLF that is followed by WSP. */
char *header_value(const struct header_block *h, size_t i)
{
	const char *raw = h->fields[i].raw;
	const char *p = strchr(raw, ':');
	struct buf b;

	buf_init(&b);
	buf_appends(&b, "");
	if (p == NULL)
		return b.data;
	for (p++; is_wsp(*p) || (p[0] == '\r' && p[1] == '\n'); )
		p += is_wsp(*p) ? 1 : 2;
	for (; *p; p++) {
		if (p[0] == '\r' && p[1] == '\n' && is_wsp(p[2])) {
			p++;
			continue;
		}
		buf_append(&b, p, 1);
	}
	return b.data;
}

size_t header_remove(struct header_block *h, const char *name)
{
	size_t i, n = 0;

	for (i = 0; i < h->n; i++) {
		if (!h->fields[i].removed &&
		    ascii_strcasecmp(h->fields[i].name, name) == 0) {
			h->fields[i].removed = true;
			n++;
		}
	}
	return n;
}

void header_replace(struct header_block *h, size_t i, const char *value)
{
	struct header_field *f = &h->fields[i];
	char *raw = value && *value ? xasprintf("%s: %s", f->name, value)
				    : xasprintf("%s:", f->name);

	h->bytes -= strlen(f->raw);
	h->bytes += strlen(raw);
	free(f->raw);
	f->raw = raw;
}

void header_remove_after(struct header_block *h, const char *name, size_t i)
{
	for (long k = header_find(h, name, i + 1); k >= 0;
	     k = header_find(h, name, (size_t)k + 1))
		h->fields[k].removed = true;
}
