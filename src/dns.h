/*
 * dns.h - asynchronous DNS for direct delivery: a domain's MX hosts in
 * RFC 5321 5.1 order with their addresses, null MX (RFC 7505), implicit
 * MX, and the addresses of a single host (relay or route host).
 *
 * dns.c, dns_lookup.c and dns_addr.c are the only users of <ares.h>
 * (with mx.c, their pure half). All waiting happens in the event loop
 * (loop.h): c-ares sockets are watched there and its retransmissions run
 * off a loop timer. Nothing blocks; no getaddrinfo()/gethostbyname().
 *
 * Callbacks never run inside dns_lookup_*(): a result, even one known at
 * once (an IP literal, a bad name), is handed over from loop_run().
 */
#ifndef SENDMX_DNS_H
#define SENDMX_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "config.h"
#include "loop.h"
#include "status.h"

struct dns;

/* At most this many MX hosts (the most preferred) are looked up and
 * returned; an answer with hundreds is hostile or broken. */
#define DNS_MAX_HOSTS 32

struct dns_addr {
	struct sockaddr_storage sa;  /* AF_INET or AF_INET6; port 0: the
				      * caller sets the port it connects to */
	socklen_t len;
	char text[64];               /* "192.0.2.1" or "2001:db8::1" */
};

struct dns_host {
	char *name;               /* MX target (no trailing dot), the domain
				   * itself for implicit MX, or the host given
				   * to dns_lookup_host */
	int pref;                 /* MX preference; 0 for implicit MX / host */
	struct dns_addr *addrs;   /* in the order to try (RFC 6724 sorted) */
	size_t naddrs;
	char *error;              /* why there are no addresses; NULL if some */
};

struct dns_result {
	enum status status;  /* ST_OK: hosts[] usable in this order (at
			      * least one has addresses); else error says why */
	char *error;         /* NULL on ST_OK; else e.g.
			      * "example.net: no such domain (NXDOMAIN)" */
	bool implicit_mx;    /* no MX records: the domain itself (its A/AAAA) */
	bool null_mx;        /* RFC 7505 null MX (status ST_PERMFAIL) */
	struct dns_host *hosts;  /* try order; hosts whose addresses could
				  * not be found are kept, with error set and
				  * naddrs 0 */
	size_t nhosts;
};

/* Called once per lookup, from loop_run(). The callee owns res and frees
 * it with dns_result_free. It may start new lookups or call dns_free. */
typedef void (*dns_fn)(void *ctx, struct dns_result *res);

/*
 * Creates a resolver on loop l, configured from cfg (kept by pointer: it
 * must outlive the resolver):
 *   dns_servers   "127.0.0.1:5353,[::1]:53" (NULL: /etc/resolv.conf)
 *   dns_timeout   seconds one lookup may take, every step and retry
 *                 included (MX, then all addresses)
 *   ip_version    which address families are looked up
 *   hostname      this host: an MX naming it is a mail loop
 *   allow_loopback_mx  keep 127/8 and ::1 addresses of MX hosts
 * Names are looked up as given (fully qualified): no search domains.
 * Host names (MX targets too) are tried in /etc/hosts first, then DNS,
 * as getaddrinfo() would; addresses come RFC 6724-sorted (c-ares does a
 * UDP connect(), which sends nothing, to pick source addresses).
 * Returns ST_OK with *out set, or ST_TEMPFAIL with err set (c-ares could
 * not start: no memory, unreadable resolv.conf) or ST_PERMFAIL (a
 * malformed dns_servers list).
 */
enum status dns_new(struct loop *l, const struct config *cfg,
		    struct dns **out, struct err *err);

/*
 * Cancels every pending lookup WITHOUT calling its callback (the caller
 * is tearing down and owns the contexts), closes the c-ares sockets
 * (unwatching them) and frees d. Call it before loop_free. NULL is fine.
 */
void dns_free(struct dns *d);

/*
 * Looks up domain's MX records, then every MX host's addresses
 * concurrently (A and/or AAAA by ip_version), and calls fn once all are
 * known or dns_timeout has passed. Outcomes:
 *   ST_OK        hosts[] in RFC 5321 5.1 order, each with addresses or
 *                an error; a host still unresolved at the deadline has
 *                error "...timed out..."
 *   ST_PERMFAIL  NXDOMAIN; null MX (no address lookups are made); no MX
 *                and no address records; every MX host NXDOMAIN / without
 *                addresses; the best MX is this host (cfg->hostname;
 *                hosts less preferred than this host are dropped per
 *                RFC 5321 5.1); only loopback addresses (unless
 *                allow_loopback_mx): a mail loop; an invalid domain name
 *   ST_TEMPFAIL  SERVFAIL, REFUSED, no answer within dns_timeout, DNS
 *                server unreachable, or no usable MX host while one of
 *                them failed temporarily. c-ares 1.18 retries SERVFAIL
 *                and REFUSED on every server and then reports them like
 *                an unreachable server: the text says "DNS server failed
 *                or unreachable (SERVFAIL, REFUSED or connection refused)".
 * domain may end in a dot; it is not used after the call returns. An
 * address literal ("[192.0.2.1]") is not a domain: use dns_lookup_host.
 */
void dns_lookup_mx(struct dns *d, const char *domain, dns_fn fn, void *ctx);

/*
 * Looks up one host's addresses (a relay or route host): a name, an IP
 * literal ("192.0.2.1", "2001:db8::1"), or an address literal
 * ("[192.0.2.1]", "[IPv6:2001:db8::1]"). The result has one host with
 * pref 0. Loopback addresses are kept (a relay on localhost is normal)
 * and cfg->hostname is not checked. The name is tried in /etc/hosts
 * first, then DNS. NXDOMAIN / no addresses / a literal of a family that
 * ip_version excludes are ST_PERMFAIL; the rest as for dns_lookup_mx.
 */
void dns_lookup_host(struct dns *d, const char *host, dns_fn fn, void *ctx);

void dns_result_free(struct dns_result *r);

#endif
