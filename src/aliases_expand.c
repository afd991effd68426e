/*
 * aliases_expand.c - the table of names (open addressing, FNV-1a) and
 * the expansion of a name into its final targets: recursion through
 * names, loop and depth checks, sendmail's "\name" and self rules, and
 * dedupe in first-seen order (aliases_int.h; contract in aliases.h).
 */
#include "ac_config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "aliases.h"
#include "aliases_int.h"
#include "util.h"

struct expander {
	const struct aliases *a;
	bool allow_pipe, allow_file;
	aliases_is_local_fn is_local;
	void *ctx;
	size_t stack[ALIASES_MAX_DEPTH];
	size_t depth;
	unsigned char *done;    /* per entry: its targets are all out */
	struct alias_target *out;
	size_t n, cap;
	struct err *err;
};

static uint64_t hash(const char *s);
static size_t *find_slot(size_t *slot, size_t nslot, const struct entry *e,
			 const char *name);
static bool local_name(struct expander *x, const char *mailbox, char **name);
static bool same_target(const struct alias_target *t, enum alias_kind kind,
			const char *value);
static bool emit(struct expander *x, enum alias_kind kind, char *value);
static void path_text(struct expander *x, struct buf *b, size_t from);
static enum status expand_entry(struct expander *x, size_t idx);

/* ---- the table ---------------------------------------------------------- */

/* FNV-1a: names are short and chosen by the administrator. */
static uint64_t hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static size_t *find_slot(size_t *slot, size_t nslot, const struct entry *e,
			 const char *name)
{
	size_t i = (size_t)hash(name) & (nslot - 1);

	while (slot[i] != 0 && strcmp(e[slot[i] - 1].name, name) != 0)
		i = (i + 1) & (nslot - 1);
	return &slot[i];
}

void aliases_table_add(struct aliases *a, struct entry *e)
{
	if (2 * (a->n + 1) > a->nslot) {
		size_t nslot = a->nslot ? 2 * a->nslot : 64;
		size_t *slot = xcalloc(nslot, sizeof *slot);

		for (size_t k = 0; k < a->n; k++)
			*find_slot(slot, nslot, a->e, a->e[k].name) = k + 1;
		free(a->slot);
		a->slot = slot;
		a->nslot = nslot;
	}
	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 16;
		a->e = xreallocarray(a->e, a->cap, sizeof *a->e);
	}
	a->e[a->n] = *e;
	*find_slot(a->slot, a->nslot, a->e, e->name) = ++a->n;
}

/* name in lower case. */
const struct entry *aliases_lookup(const struct aliases *a, const char *name)
{
	size_t s;

	if (a == NULL || a->n == 0)
		return NULL;
	s = *find_slot(a->slot, a->nslot, a->e, name);
	return s ? &a->e[s - 1] : NULL;
}

void aliases_lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* ---- expansion ---------------------------------------------------------- */

/* True when mailbox is local: *name is then its local part, unquoted
 * and in lower case (Postfix and sendmail's local mailer fold it). */
static bool local_name(struct expander *x, const char *mailbox, char **name)
{
	const char *dom = address_domain(mailbox);
	char *lp = NULL;

	if (dom == NULL) {
		lp = xstrdup(mailbox);
	} else if (x->is_local && x->is_local(x->ctx, mailbox, &lp)) {
		if (lp == NULL)
			lp = xstrndup(mailbox, (size_t)(dom - 1 - mailbox));
	} else {
		return false;
	}
	*name = aliases_unquote(lp, strlen(lp));
	free(lp);
	aliases_lower(*name);
	return true;
}

/* Addresses: the local part exact, the domain without case (RFC 5321
 * 2.4); everything else exact (names are lower case already). */
static bool same_target(const struct alias_target *t, enum alias_kind kind,
			const char *value)
{
	const char *d1, *d2;

	if (t->kind != kind)
		return false;
	if (kind != ALIAS_ADDRESS)
		return strcmp(t->value, value) == 0;
	d1 = address_domain(t->value);
	d2 = address_domain(value);
	if (d1 == NULL || d2 == NULL)
		return d1 == d2 && strcmp(t->value, value) == 0;
	return d1 - t->value == d2 - value &&
	       strncmp(t->value, value, (size_t)(d1 - t->value)) == 0 &&
	       ascii_strcasecmp(d1, d2) == 0;
}

/* Takes value. False (err set) when the expansion grows too large. */
static bool emit(struct expander *x, enum alias_kind kind, char *value)
{
	for (size_t k = 0; k < x->n; k++) {
		if (same_target(&x->out[k], kind, value)) {
			free(value);
			return true;
		}
	}
	if (x->n >= ALIASES_MAX_EXPANSION) {
		err_set(x->err, "alias '%s' expands to more than %d targets",
			x->a->e[x->stack[0]].name, ALIASES_MAX_EXPANSION);
		free(value);
		return false;
	}
	if (x->n == x->cap) {
		x->cap = x->cap ? 2 * x->cap : 8;
		x->out = xreallocarray(x->out, x->cap, sizeof *x->out);
	}
	x->out[x->n++] = (struct alias_target){ kind, value };
	return true;
}

/* "a -> b -> c" for the names on the stack from index from. */
static void path_text(struct expander *x, struct buf *b, size_t from)
{
	for (size_t d = from; d < x->depth; d++)
		buf_appendf(b, "%s%s", d > from ? " -> " : "",
			    x->a->e[x->stack[d]].name);
}

static enum status expand_entry(struct expander *x, size_t idx)
{
	const struct entry *e = &x->a->e[idx];
	enum status st = ST_OK;
	struct buf b;
	char *name;

	buf_init(&b);
	if (x->depth == ALIASES_MAX_DEPTH) {
		path_text(x, &b, 0);
		err_set(x->err, "alias nesting deeper than %d levels: %s -> %s",
			ALIASES_MAX_DEPTH, b.data, e->name);
		st = ST_PERMFAIL;
		goto out;
	}
	x->stack[x->depth++] = idx;
	for (size_t k = 0; k < e->t.n && st == ST_OK; k++) {
		const struct stored *s = &e->t.v[k];
		const struct entry *next;
		size_t j, d;

		if ((s->kind == ALIAS_PIPE && !x->allow_pipe) ||
		    (s->kind == ALIAS_FILE && !x->allow_file)) {
			bool pipe = s->kind == ALIAS_PIPE;

			err_set(x->err, "%s target \"%s%s\" (alias '%s', %s:%lu) "
				"refused: %s is off", pipe ? "pipe" : "file",
				pipe ? "|" : "", s->value, e->name,
				x->a->files[s->file], s->line,
				pipe ? "allow_pipe_aliases" : "allow_file_aliases");
			st = ST_PERMFAIL;
			break;
		}
		if (s->kind != ALIAS_ADDRESS) {
			if (!emit(x, s->kind, xstrdup(s->value)))
				st = ST_PERMFAIL;
			continue;
		}
		if (!local_name(x, s->value, &name)) {
			if (!emit(x, ALIAS_ADDRESS, xstrdup(s->value)))
				st = ST_PERMFAIL;
			continue;
		}
		next = s->noalias ? NULL : aliases_lookup(x->a, name);
		if (next == NULL || next == e) {
			/* sendmail: "\name" and a name among its own targets
			 * are the mailbox. */
			if (!emit(x, ALIAS_LOCAL, name))
				st = ST_PERMFAIL;
			continue;
		}
		free(name);
		j = (size_t)(next - x->a->e);
		for (d = 0; d < x->depth && x->stack[d] != j; d++)
			;
		if (d < x->depth) {
			path_text(x, &b, 0);
			err_set(x->err, "alias loop: %s -> %s", b.data,
				next->name);
			st = ST_PERMFAIL;
		} else if (!x->done[j]) {
			st = expand_entry(x, j);
		}
	}
	x->depth--;
	x->done[idx] = 1;
out:
	buf_free(&b);
	return st;
}

enum status aliases_expand(const struct aliases *a, const char *rcpt,
			   bool allow_pipe, bool allow_file,
			   aliases_is_local_fn is_local, void *ctx,
			   struct alias_target **out, size_t *n,
			   struct err *err)
{
	struct expander x = { a, allow_pipe, allow_file, is_local, ctx,
			      { 0 }, 0, NULL, NULL, 0, 0, err };
	const struct entry *e;
	enum status st = ST_OK;
	char *name;

	*out = NULL;
	*n = 0;
	if (rcpt == NULL || *rcpt == '\0' || has_control_chars(rcpt)) {
		err_set(err, "invalid local name: empty or with control "
			"characters");
		return ST_PERMFAIL;
	}
	if (!local_name(&x, rcpt, &name)) {
		emit(&x, ALIAS_ADDRESS, xstrdup(rcpt));
	} else if ((e = aliases_lookup(a, name)) == NULL) {
		emit(&x, ALIAS_LOCAL, name);
	} else {
		free(name);
		x.done = xcalloc(a->n, 1);
		st = expand_entry(&x, (size_t)(e - a->e));
		free(x.done);
		if (st == ST_OK && x.n == 0) {
			err_set(err, "alias '%s' expands to no targets", e->name);
			st = ST_PERMFAIL;
		}
	}
	if (st != ST_OK) {
		aliases_free_targets(x.out, x.n);
		return st;
	}
	*out = x.out;
	*n = x.n;
	return ST_OK;
}

void aliases_free_targets(struct alias_target *t, size_t n)
{
	for (size_t k = 0; k < n; k++)
		free(t[k].value);
	free(t);
}
