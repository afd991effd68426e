/*
 * expand.c - aliases and local names, between intake and delivery.
 */
#include "ac_config.h"

#include <stdlib.h>
#include <string.h>

#include "aliases.h"
#include "expand.h"
#include "recipients.h"

static bool is_local_cb(void *ctx, const char *addr, char **localpart);
static bool domain_is_local(const struct config *cfg, const char *domain);
static enum status add_target(const struct config *cfg,
			      const struct alias_target *t,
			      struct address_list *out, struct err *err);
static bool already(struct address_list *l, const char *mailbox);

static bool domain_is_local(const struct config *cfg, const char *domain)
{
	if (ascii_strcasecmp(domain, cfg->hostname) == 0)
		return true;
	for (size_t k = 0; cfg->local_domains && cfg->local_domains[k]; k++)
		if (ascii_strcasecmp(domain, cfg->local_domains[k]) == 0)
			return true;
	return false;
}

bool expand_is_local(const struct config *cfg, const char *addr,
		     char **localpart)
{
	const char *at = strrchr(addr, '@');

	if (at != NULL && !domain_is_local(cfg, at + 1))
		return false;
	if (localpart)
		*localpart = at ? xasprintf("%.*s", (int)(at - addr), addr)
				: xstrdup(addr);
	return true;
}

static bool is_local_cb(void *ctx, const char *addr, char **localpart)
{
	return expand_is_local(ctx, addr, localpart);
}

static bool already(struct address_list *l, const char *mailbox)
{
	return recipients_contains(l, mailbox);
}

/* One final target as an envelope recipient. */
static enum status add_target(const struct config *cfg,
			      const struct alias_target *t,
			      struct address_list *out, struct err *err)
{
	char *m;

	switch (t->kind) {
	case ALIAS_ADDRESS:
		m = xstrdup(t->value);
		break;
	case ALIAS_LOCAL:
		/* local_delivery = none: this host keeps no mail; the
		 * name's owner reads it at the organisation's domain, or
		 * (a null client) wherever the relay takes user@hostname. */
		m = xasprintf("%s@%s", t->value,
			      cfg->local_delivery == LOCAL_NONE &&
					      cfg->masquerade_domain
				      ? cfg->masquerade_domain
				      : cfg->hostname);
		break;
	case ALIAS_PIPE:
	case ALIAS_FILE:
	default:
		/* (out NULL: only asking whether the target is refused.) */
		err_set(err, "%s target \"%s%s\": pipe and file deliveries are "
			"not supported by this version of sendmx",
			t->kind == ALIAS_PIPE ? "pipe" : "file",
			t->kind == ALIAS_PIPE ? "|" : "", t->value);
		return ST_PERMFAIL;
	}
	if (!already(out, m))
		address_list_add(out, NULL, m);
	free(m);
	return ST_OK;
}

enum status expand_recipients(const struct config *cfg,
			      const struct address_list *in,
			      struct address_list *out, struct buf *refusals,
			      size_t *nrefused, struct err *err)
{
	struct aliases *al = NULL;
	bool loaded = false;
	enum status st = ST_OK;

	*nrefused = 0;
	for (size_t i = 0; i < in->n; i++) {
		const char *r = in->items[i].mailbox;
		struct alias_target *t = NULL;
		size_t n = 0;
		struct err e = { "" };

		if (!expand_is_local(cfg, r, NULL)) {
			if (!already(out, r))
				address_list_add(out, in->items[i].display, r);
			continue;
		}
		if (!loaded) {
			loaded = true;
			st = aliases_load(cfg->aliases, true, &al, err);
			if (st != ST_OK) {
				/* Never deliver around a broken aliases file:
				 * root might reach the wrong person. */
				st = ST_TEMPFAIL;
				goto out;
			}
		}
		if (aliases_expand(al, r, cfg->allow_pipe_aliases,
				   cfg->allow_file_aliases, is_local_cb,
				   (void *)cfg, &t, &n, &e) == ST_OK) {
			/* All or nothing: a recipient refused for one target
			 * must not have reached the others (a caller that
			 * sends again after exit 69 would duplicate them). */
			for (size_t k = 0; k < n && e.msg[0] == '\0'; k++)
				if (t[k].kind == ALIAS_PIPE ||
				    t[k].kind == ALIAS_FILE)
					(void)add_target(cfg, &t[k], NULL, &e);
			for (size_t k = 0; k < n && e.msg[0] == '\0'; k++)
				(void)add_target(cfg, &t[k], out, &e);
			aliases_free_targets(t, n);
			if (e.msg[0] == '\0')
				continue;
		}
		buf_appendf(refusals, "sendmx: %s: refused: %s\n", r, e.msg);
		(*nrefused)++;
	}
out:
	aliases_free(al);
	return st;
}

size_t expand_check_aliases(const struct config *cfg, FILE *report)
{
	return aliases_check(cfg->aliases, cfg->allow_pipe_aliases,
			     cfg->allow_file_aliases, is_local_cb,
			     (void *)cfg, report);
}
