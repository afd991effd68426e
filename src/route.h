/*
 * route.h - a pure function: (envelope sender, recipient) -> next hop.
 * No I/O, no allocation.
 *
 * Local recipients (hostname or local_domains, unless local_delivery is
 * none) go to their mailbox. Otherwise, precedence as Postfix's
 * transport map over its sender-dependent relays over relayhost: a
 * route "domain" section for the recipient's domain; then a
 * sender_route for the envelope sender; then the relay section; then
 * the domain's MX hosts.
 */
#ifndef SENDMX_ROUTE_H
#define SENDMX_ROUTE_H

#include <stddef.h>

#include "config.h"

enum hop_kind {
	HOP_RELAY,   /* a fixed host: the relay, a route or a sender_route */
	HOP_MX,      /* the MX hosts of domain */
	HOP_LOCAL,   /* a local mailbox: user (local part of rcpt) */
	HOP_NONE     /* no way to deliver: reason says why */
};

struct next_hop {
	enum hop_kind kind;
	const struct relay_config *relay; /* HOP_RELAY: the section */
	const char *domain;               /* HOP_MX: points into rcpt */
	size_t domain_len;
	const char *reason;               /* HOP_NONE: static text */
};

struct next_hop route_recipient(const struct config *cfg, const char *sender,
				const char *rcpt);

/* Does domain (len bytes) match a route pattern ("example.net": that
 * domain; "*.example.net": its subdomains)? Case-insensitive. */
bool route_domain_matches(const char *pattern, const char *domain,
			  size_t len);

#endif
