/*
 * dns_int.h - what the files of the dns module share: the resolver, its
 * lookups and their c-ares queries. dns.c drives c-ares from the loop
 * and owns the life of a lookup; dns_lookup.c runs its steps (MX, then
 * addresses) and decides its outcome; dns_addr.c holds the pure helpers
 * (literals, address lists, loopback, c-ares error texts).
 *
 * Only those files include it (with <ares.h>); the rest see dns.h alone.
 */
#ifndef SENDMX_DNS_INT_H
#define SENDMX_DNS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <ares.h>

#include "dns.h"
#include "status.h"

enum step { STEP_MX, STEP_ADDR, STEP_DONE };

struct query {
	struct dns *d;
	struct lookup *lk;         /* NULL: orphan, its lookup has ended */
	struct query *prev, *next; /* in lk->queries */
	size_t host;               /* address query: index in res->hosts */
};

struct host_state {
	enum status st;            /* ST_OK once it has an address */
	bool pending;
	bool loopback_only;        /* all its addresses were loopback */
	bool nxdomain;             /* the name does not exist */
	char loop_addr[64];        /* the first one, for the message */
	char *why;                 /* the error without the host name */
};

struct lookup {
	struct dns *d;
	struct lookup *prev, *next; /* in d->lookups */
	char *name;                /* domain or host, no trailing dot */
	bool mx;                   /* dns_lookup_mx (else dns_lookup_host) */
	dns_fn fn;
	void *ctx;
	enum step step;
	struct query *queries;     /* outstanding c-ares queries */
	size_t npending;           /* address lookups still to answer (+1
				    * while they are being started) */
	struct dns_result *res;
	struct host_state *hs;     /* one per res->hosts */
	size_t nhs;
};

struct dns {
	struct loop *loop;
	const struct config *cfg;
	ares_channel ch;
	bool have_ch;
	int timeout_s;             /* the budget of one lookup */
	int family;                /* AF_UNSPEC, AF_INET or AF_INET6 */
	unsigned long long rng;
	struct lookup *lookups;    /* started and not yet handed over */
	size_t live;               /* queries whose lookup still waits */
	size_t orphans;            /* queries whose lookup has ended */
};

/* ---- the resolver and a lookup's life (dns.c) ---------------------------- */

/* An mx_random_fn over d's generator: spreads equal-preference MX hosts. */
unsigned long dns_random(void *ctx);

/* (Re)arms the loop timer for c-ares's next retransmission; call after
 * every call that may have sent a query. */
void dns_arm(struct dns *d);

/* A new lookup of name (a trailing dot dropped) on d, at STEP_MX, with an
 * empty ST_TEMPFAIL result and its dns_timeout deadline armed. */
struct lookup *dns_lookup_new(struct dns *d, const char *name, bool mx,
			      dns_fn fn, void *ctx);

/* A query of lk's (for host index host) to pass to c-ares as its arg. */
struct query *dns_query_new(struct lookup *lk, size_t host);

/* Called first in every c-ares callback: frees q and returns its lookup,
 * or NULL for an orphan (nothing more to do). */
struct lookup *dns_query_done(struct query *q);

/* Ends the lookup with st: the result is handed over from the loop (never
 * inside dns_lookup_* or a c-ares call). Takes error (NULL on ST_OK). */
void dns_finish(struct lookup *lk, enum status st, char *error);

/* ---- the steps (dns_lookup.c) -------------------------------------------- */

/* Records host i's failure with st; takes why (the text without the host
 * name). */
void dns_host_failed(struct lookup *lk, size_t i, enum status st, char *why);

/* Every host is answered (or timed out): finishes lk with its outcome. */
void dns_conclude(struct lookup *lk);

/* ---- helpers (dns_addr.c) ------------------------------------------------ */

/* "192.0.2.1", "2001:db8::1", "[192.0.2.1]", "[IPv6:2001:db8::1]" into *a
 * (port 0); *bracketed says whether s had brackets, even when false is
 * returned (not a literal). */
bool dns_parse_literal(const char *s, struct dns_addr *a, bool *bracketed);

/* Appends an address (port cleared) unless h has it already; false if it
 * did or len does not fit. */
bool dns_add_addr(struct dns_host *h, const struct sockaddr *sa,
		  socklen_t len);

/* The address of sa as text ("?" if it cannot be shown). */
void dns_addr_text(const struct sockaddr *sa, char *out, size_t n);

/* 127/8, ::1, 0.0.0.0, ::, also IPv4-mapped: this machine. */
bool dns_is_loopback(const struct sockaddr *sa);

/* The outcome a failed c-ares query means: ST_PERMFAIL for names or
 * records that do not exist, else ST_TEMPFAIL. */
enum status dns_classify(int ares_status);

/* Why a query failed, without the name (allocated); host: an address
 * query. */
char *dns_ares_why(const struct dns *d, int ares_status, bool host);

/* The record types d looks up, for messages: "A or AAAA", ... */
const char *dns_families(const struct dns *d);

/* A copy safe to show in a message or log: controls become '?'. */
char *dns_clean_copy(const char *s);

/* Whether a and b name the same host (case and a trailing dot aside);
 * false if either is NULL or empty. */
bool dns_same_host(const char *a, const char *b);

#endif
