/*
 * route.c - recipient -> next hop. Pure: no I/O, no allocation.
 *
 * Today a configured relay takes every recipient. Direct MX delivery and
 * per-domain routes come with the MX issue; until then a recipient without
 * a relay has no way out, which is a temporary condition (the
 * configuration can be fixed), never a bounce.
 */
#include "ac_config.h"

#include <stddef.h>

#include "route.h"

struct next_hop route_recipient(const struct config *cfg, const char *rcpt)
{
	(void)rcpt;  /* every recipient takes the one relay, for now */
	struct next_hop hop = { .kind = HOP_NONE };

	if (cfg->relay != NULL) {
		hop.kind = HOP_RELAY;
		hop.relay = cfg->relay;
		return hop;
	}
	hop.reason = "no relay configured (direct MX delivery is not "
		     "available yet)";
	return hop;
}
