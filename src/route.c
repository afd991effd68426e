/*
 * route.c - (sender, recipient) -> next hop. Pure: no I/O, no allocation.
 */
#include "ac_config.h"

#include <stdbool.h>
#include <string.h>

#include "expand.h"
#include "route.h"
#include "util.h"

static const struct relay_config *match_route(const struct config *cfg,
					      const char *domain, size_t len);
static const struct relay_config *match_sender(const struct config *cfg,
					       const char *sender);

bool route_domain_matches(const char *pattern, const char *domain,
			  size_t len)
{
	size_t plen;

	if (strncmp(pattern, "*.", 2) == 0) {
		pattern += 1;   /* ".example.net": a proper suffix */
		plen = strlen(pattern);
		return len > plen &&
		       ascii_strncasecmp(domain + len - plen, pattern, plen) == 0;
	}
	plen = strlen(pattern);
	return len == plen && ascii_strncasecmp(domain, pattern, len) == 0;
}

static const struct relay_config *match_route(const struct config *cfg,
					      const char *domain, size_t len)
{
	for (size_t k = 0; k < cfg->nroutes; k++)
		if (route_domain_matches(cfg->routes[k].pattern, domain, len))
			return &cfg->routes[k];
	return NULL;
}

/* "user@example.org" matches that address; "@example.org" any sender
 * at that domain. The exact address wins over the domain. */
static const struct relay_config *match_sender(const struct config *cfg,
					       const char *sender)
{
	const char *at = sender ? strrchr(sender, '@') : NULL;
	const struct relay_config *by_domain = NULL;

	if (at == NULL)
		return NULL;
	for (size_t k = 0; k < cfg->nsender_routes; k++) {
		const char *pat = cfg->sender_routes[k].pattern;

		if (pat[0] == '@') {
			if (by_domain == NULL && ascii_strcasecmp(pat, at) == 0)
				by_domain = &cfg->sender_routes[k];
		} else if (ascii_strcasecmp(pat, sender) == 0) {
			return &cfg->sender_routes[k];
		}
	}
	return by_domain;
}

struct next_hop route_recipient(const struct config *cfg, const char *sender,
				const char *rcpt)
{
	struct next_hop hop = { .kind = HOP_NONE };
	const char *at = strrchr(rcpt, '@');
	const struct relay_config *r;
	size_t len;

	if (cfg->local_delivery != LOCAL_NONE && cfg->hostname != NULL &&
	    expand_is_local(cfg, rcpt, NULL)) {
		hop.kind = HOP_LOCAL;
		return hop;
	}
	len = at ? strlen(at + 1) : 0;
	r = len ? match_route(cfg, at + 1, len) : NULL;
	if (r == NULL)
		r = match_sender(cfg, sender);
	if (r == NULL)
		r = cfg->relay;
	if (r != NULL && !r->mx) {
		hop.kind = HOP_RELAY;
		hop.relay = r;
		return hop;
	}
	if (len == 0) {
		/* intake qualifies bare names; one that is left has no
		 * domain to look up, only a relay could take it. */
		hop.reason = "recipient has no domain and no relay is "
			     "configured";
		return hop;
	}
	hop.kind = HOP_MX;
	hop.domain = at + 1;
	hop.domain_len = len;
	return hop;
}
