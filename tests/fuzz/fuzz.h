/*
 * fuzz.h - what the libFuzzer targets share: property checks that abort
 * with a message (libFuzzer then keeps the input as a crash), copies of
 * the input as C strings, and a header section built from input lines
 * the way intake.c builds it.
 *
 * Header-only (static functions) so that each target is one .c file.
 */
#ifndef SENDMX_FUZZ_H
#define SENDMX_FUZZ_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "header.h"
#include "util.h"

/* A broken contract is a bug as much as a crash is: report and abort. */
#define FUZZ_CHECK(cond, ...)                                              \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "\n*** property failed at %s:%d: %s\n", \
				__FILE__, __LINE__, #cond);                \
			fprintf(stderr, "*** " __VA_ARGS__);               \
			fputc('\n', stderr);                               \
			abort();                                           \
		}                                                          \
	} while (0)

/* With SENDMX_FUZZ_DEBUG set, says what happened to an input (to see
 * which paths the seeds reach: run the target on the corpus files). */
__attribute__((format(printf, 1, 2)))
static inline void fuzz_note(const char *fmt, ...)
{
	static int on = -1;
	va_list ap;

	if (on < 0)
		on = getenv("SENDMX_FUZZ_DEBUG") != NULL;
	if (!on)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* SENDMX_FUZZ_SKIP_KNOWN set: targets step around bugs that are
 * reported and not fixed yet (see regressions/README.md), so that a long
 * run can look for others. Regression replay runs without it. */
static inline bool fuzz_skip_known(void)
{
	static int on = -1;

	if (on < 0)
		on = getenv("SENDMX_FUZZ_SKIP_KNOWN") != NULL;
	return on;
}

/* A private directory for a target's files, under $TMPDIR (run.sh points
 * it into the build tree) or /tmp; aborts when it cannot be made. A
 * crash skips atexit handlers, so run.sh clears $TMPDIR before a run. */
static inline void fuzz_mkdtemp(char *dir, size_t n, const char *name)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, n, "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
	if (mkdtemp(dir) == NULL) {
		perror(dir);
		abort();
	}
}

static inline bool fuzz_has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* The same, but TAB is allowed: RFC 5322 white space, which a quoted
 * local part or a display name may hold. */
static inline bool fuzz_has_ctl_but_tab(const char *s)
{
	for (; *s; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return true;
	return false;
}

/* The n input bytes as a NUL-terminated string (cut at the first NUL,
 * as a C caller would see them). */
static inline char *fuzz_cstr(const uint8_t *data, size_t n)
{
	return xstrndup((const char *)data, n);
}

/* The next '\n'-terminated line of [*p, end), without the '\n' and one
 * '\r' before it; false at the end. */
static inline bool fuzz_next_line(const uint8_t **p, const uint8_t *end,
				  const char **line, size_t *len)
{
	const uint8_t *nl;
	size_t n;

	if (*p >= end)
		return false;
	nl = memchr(*p, '\n', (size_t)(end - *p));
	n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
	*line = (const char *)*p;
	*len = n;
	*p += n + (nl != NULL);
	if (*len > 0 && (*line)[*len - 1] == '\r')
		(*len)--;
	return true;
}

/*
 * Builds h from the header section at the start of [data, data+n): lines
 * that start a field (header_line_is_field) begin one, lines starting
 * with white space continue it (joined with CRLF), NUL octets become
 * spaces (as intake does); an empty line, or any other line, ends the
 * section. Returns the number of octets consumed.
 */
static inline size_t fuzz_header_block(const uint8_t *data, size_t n,
				       struct header_block *h)
{
	const uint8_t *p = data, *end = data + n, *before;
	struct buf field;
	const char *line;
	size_t len;

	buf_init(&field);
	for (before = p; fuzz_next_line(&p, end, &line, &len); before = p) {
		size_t from = field.len;

		if (len == 0)
			break;
		if (line[0] == ' ' || line[0] == '\t') {
			if (field.len == 0)
				break;
			buf_append(&field, "\r\n", 2);
		} else if (header_line_is_field(line, len)) {
			if (field.len > 0)
				FUZZ_CHECK(header_add_raw(h, field.data),
					   "a field header_line_is_field "
					   "accepted was refused: '%s'",
					   field.data);
			buf_reset(&field);
			from = 0;
		} else {
			p = before;
			break;
		}
		buf_append(&field, line, len);
		for (size_t i = from; i < field.len; i++)
			if (field.data[i] == '\0')
				field.data[i] = ' ';
	}
	if (field.len > 0)
		FUZZ_CHECK(header_add_raw(h, field.data),
			   "a field header_line_is_field accepted was "
			   "refused: '%s'", field.data);
	buf_free(&field);
	return (size_t)(p - data);
}

#endif
