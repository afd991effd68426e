/*
 * header.h - an RFC 5322 header section held in memory: parsing fields
 * (with folding), finding, adding and removing them. Never touches the body.
 */
#ifndef SENDMX_HEADER_H
#define SENDMX_HEADER_H

#include <stdbool.h>
#include <stddef.h>

struct header_field {
	char *name;    /* field name as written, without the colon */
	char *raw;     /* the whole field as it will be written: "Name: value",
			* continuation lines joined with "\r\n", no final CRLF */
	bool removed;  /* dropped from output (e.g. Bcc) */
};

struct header_block {
	struct header_field *fields;
	size_t n, cap;
	size_t bytes;  /* total raw bytes held, to bound memory */
};

void header_init(struct header_block *h);
void header_free(struct header_block *h);

/* Adds a complete field. raw is copied; name is derived from it (up to
 * the first ':'). Returns false if raw has no valid "name:" prefix. */
bool header_add_raw(struct header_block *h, const char *raw);

/* Adds "name: value" at the end (or, with prepend, at the start). */
void header_add(struct header_block *h, const char *name, const char *value,
		bool prepend);

/* Index of the first non-removed field with this name (case-insensitive),
 * starting at from; -1 when none. */
long header_find(const struct header_block *h, const char *name, size_t from);

/* True if a non-removed field with this name exists. */
bool header_has(const struct header_block *h, const char *name);

/* The unfolded value of field i: text after the colon, CRLF+WSP folds
 * replaced by the WSP, leading white space trimmed. Allocated. */
char *header_value(const struct header_block *h, size_t i);

/* Replaces field i's value (the name stays): "Name: value". */
void header_replace(struct header_block *h, size_t i, const char *value);

/* Marks removed every field with this name after index i. */
void header_remove_after(struct header_block *h, const char *name, size_t i);

/* Marks every field with this name removed; returns how many. */
size_t header_remove(struct header_block *h, const char *name);

/* Is line (without line ending) a valid header field start "name:"
 * (RFC 5322 2.2: printable ASCII except ':', then ':'; white space
 * before the colon, obs-optional of RFC 5322 4.5.8, is accepted and is
 * not part of the name)? */
bool header_line_is_field(const char *line, size_t len);

#endif
