/*
 * rewrite.c - sender_map, masquerade_domain and sender_rewrite.
 *
 * Header fields are parsed with the address parser and written anew
 * only when an address in them changes: a field that needs no rewriting
 * keeps its exact bytes (comments, folding).
 */
#include "ac_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "address.h"
#include "expand.h"
#include "rewrite.h"
#include "util.h"

#define MAP_LINE_MAX 1024

struct map_entry {
	char *name;   /* local part, as written */
	char *addr;
};

struct rewrite {
	const struct config *cfg;
	struct map_entry *map;
	size_t nmap;
	const char *forced;   /* the relay's sender_rewrite, or NULL */
};

static enum status load_map(struct rewrite *r, const char *path,
			    struct err *err);
static const char *map_lookup(const struct rewrite *r, const char *name);
static char *format_list(const struct address_list *l);
static void rewrite_field(const struct rewrite *r, struct header_block *h,
			  size_t i);
static void force_from(const struct rewrite *r, struct header_block *h);

enum status rewrite_load(const struct config *cfg, struct rewrite **out,
			 struct err *err)
{
	struct rewrite *r;
	enum status st;

	*out = NULL;
	if (cfg->sender_map == NULL && cfg->masquerade_domain == NULL &&
	    (cfg->relay == NULL || cfg->relay->sender_rewrite == NULL))
		return ST_OK;
	r = xcalloc(1, sizeof *r);
	r->cfg = cfg;
	r->forced = cfg->relay ? cfg->relay->sender_rewrite : NULL;
	if (cfg->sender_map) {
		st = load_map(r, cfg->sender_map, err);
		if (st != ST_OK) {
			rewrite_free(r);
			return st;
		}
	}
	*out = r;
	return ST_OK;
}

void rewrite_free(struct rewrite *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nmap; i++) {
		free(r->map[i].name);
		free(r->map[i].addr);
	}
	free(r->map);
	free(r);
}

/* "name  address" per line; # comments and blank lines; each address
 * must be a valid mailbox with a domain. */
static enum status load_map(struct rewrite *r, const char *path,
			    struct err *err)
{
	FILE *f = fopen(path, "re");
	char line[MAP_LINE_MAX + 2];
	struct stat sb;
	int lineno = 0;
	enum status st = ST_OK;

	if (f == NULL) {
		err_set(err, "%s: %s", path, strerror(errno));
		return errno == ENOENT || errno == EACCES ? ST_PERMFAIL
							  : ST_TEMPFAIL;
	}
	if (fstat(fileno(f), &sb) == 0 && (sb.st_mode & S_IWOTH)) {
		err_set(err, "%s: writable by others; refused", path);
		fclose(f);
		return ST_PERMFAIL;
	}
	while (fgets(line, sizeof line, f)) {
		char *name, *addr, *rest, *save = NULL;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			err_set(err, "%s:%d: line longer than %d octets", path,
				lineno, MAP_LINE_MAX);
			st = ST_PERMFAIL;
			break;
		}
		name = strtok_r(line, " \t\r\n", &save);
		if (name == NULL || name[0] == '#')
			continue;
		addr = strtok_r(NULL, " \t\r\n", &save);
		rest = strtok_r(NULL, " \t\r\n", &save);
		if (addr == NULL || rest != NULL || strchr(addr, '@') == NULL ||
		    !address_valid_mailbox(addr, 0)) {
			err_set(err, "%s:%d: expected \"name address\" with an "
				"address like user@example.org", path, lineno);
			st = ST_PERMFAIL;
			break;
		}
		r->map = xreallocarray(r->map, r->nmap + 1, sizeof *r->map);
		r->map[r->nmap].name = xstrdup(name);
		r->map[r->nmap].addr = xstrdup(addr);
		r->nmap++;
	}
	fclose(f);
	return st;
}

static const char *map_lookup(const struct rewrite *r, const char *name)
{
	for (size_t i = 0; i < r->nmap; i++)
		if (ascii_strcasecmp(r->map[i].name, name) == 0)
			return r->map[i].addr;
	return NULL;
}

char *rewrite_address(const struct rewrite *r, const char *addr)
{
	char *local = NULL, *out = NULL;
	const char *mapped;

	if (r == NULL || addr == NULL || *addr == '\0' ||
	    !expand_is_local(r->cfg, addr, &local))
		return NULL;
	mapped = map_lookup(r, local);
	if (mapped)
		out = xstrdup(mapped);
	else if (r->cfg->masquerade_domain)
		out = xasprintf("%s@%s", local, r->cfg->masquerade_domain);
	free(local);
	return out;
}

char *rewrite_envelope_sender(const struct rewrite *r, const char *sender)
{
	if (r == NULL || sender == NULL || *sender == '\0')
		return NULL;   /* a bounce keeps its null sender */
	/* sender_rewrite is not applied here: routing (sender_route), the
	 * Return-Path of local mail and the queue keep the real sender; the
	 * hop that has it sets MAIL FROM (deliver.c). */
	return rewrite_address(r, sender);
}

/* "Display" <addr>, ...: the display name always quoted (escaping " and
 * \), which is valid whatever it holds. */
static char *format_list(const struct address_list *l)
{
	struct buf b;

	buf_init(&b);
	for (size_t i = 0; i < l->n; i++) {
		const struct address *a = &l->items[i];

		if (i)
			buf_appends(&b, ", ");
		if (a->display && *a->display) {
			buf_appends(&b, "\"");
			for (const char *p = a->display; *p; p++) {
				if (*p == '"' || *p == '\\')
					buf_appends(&b, "\\");
				if ((unsigned char)*p >= 0x20)
					buf_append(&b, p, 1);
			}
			buf_appendf(&b, "\" <%s>", a->mailbox);
		} else {
			buf_appends(&b, a->mailbox);
		}
	}
	return b.data ? b.data : xstrdup("");
}

static void rewrite_field(const struct rewrite *r, struct header_block *h,
			  size_t i)
{
	char *value = header_value(h, i);
	struct address_list l;
	struct err e;
	bool changed = false;

	address_list_init(&l);
	if (address_parse_list(value, &l, &e) == ST_OK) {
		for (size_t k = 0; k < l.n; k++) {
			char *n = rewrite_address(r, l.items[k].mailbox);

			if (n) {
				free(l.items[k].mailbox);
				l.items[k].mailbox = n;
				changed = true;
			}
		}
	}
	if (changed) {
		char *v = format_list(&l);

		header_replace(h, i, v);
		free(v);
	}
	address_list_free(&l);
	free(value);
}

/* sender_rewrite: From names the forced address (keeping the first
 * display name); the original From goes to Reply-To when there is none,
 * so that replies still reach the author. */
static void force_from(const struct rewrite *r, struct header_block *h)
{
	long f = header_find(h, "From", 0);
	struct address_list l;
	struct err e;
	char *value, *v;

	if (f < 0)
		return;   /* complete_headers makes it from the sender */
	value = header_value(h, (size_t)f);
	address_list_init(&l);
	if (!header_has(h, "Reply-To"))
		header_add(h, "Reply-To", value, false);
	if (address_parse_list(value, &l, &e) == ST_OK && l.n > 0 &&
	    l.items[0].display && *l.items[0].display) {
		struct address_list one;

		address_list_init(&one);
		address_list_add(&one, l.items[0].display, r->forced);
		v = format_list(&one);
		address_list_free(&one);
	} else {
		v = xstrdup(r->forced);
	}
	header_replace(h, (size_t)f, v);
	header_remove_after(h, "From", (size_t)f);
	free(v);
	address_list_free(&l);
	free(value);
}

void rewrite_headers(const struct rewrite *r, struct header_block *h)
{
	static const char *const fields[] = { "From", "Sender", "Reply-To" };

	if (r == NULL)
		return;
	for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
		for (long i = header_find(h, fields[k], 0); i >= 0;
		     i = header_find(h, fields[k], (size_t)i + 1))
			rewrite_field(r, h, (size_t)i);
	if (r->forced)
		force_from(r, h);
}
