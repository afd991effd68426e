/*
 * route.h - a pure function: recipient address -> next hop. No I/O.
 */
#ifndef SENDMX_ROUTE_H
#define SENDMX_ROUTE_H

#include "config.h"

enum hop_kind {
	HOP_RELAY,   /* a configured smarthost */
	HOP_NONE     /* no way to deliver: reason says why */
};

struct next_hop {
	enum hop_kind kind;
	const struct relay_config *relay; /* HOP_RELAY */
	const char *reason;               /* HOP_NONE: static text */
};

struct next_hop route_recipient(const struct config *cfg, const char *rcpt);

#endif
