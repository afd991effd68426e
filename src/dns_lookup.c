/*
 * dns_lookup.c - the steps of a lookup: the MX query (null MX, implicit
 * MX, this host as MX), then the addresses of every MX host at once, and
 * the outcome once all are answered; dns_lookup_host skips the MX step
 * (and the lookup entirely for an IP or address literal). dns.c starts,
 * times and hands over lookups (dns_int.h).
 */
#include "ac_config.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>
#include <ares_nameser.h>

#include "dns.h"
#include "dns_int.h"
#include "mx.h"
#include "util.h"

/* How many failing hosts an error message names. */
#define DNS_ERR_HOSTS 3

static void on_mx(void *arg, int status, int timeouts, unsigned char *abuf,
		  int alen);
static void start_hosts(struct lookup *lk, struct mx_list *list);
static void add_host(struct lookup *lk, const char *name, int pref);
static void start_addr_lookups(struct lookup *lk);
static void on_addr(void *arg, int status, int timeouts,
		    struct ares_addrinfo *ai);
static void addr_done(struct lookup *lk);
static char *join_host_errors(const struct lookup *lk);

/* ---- MX step ------------------------------------------------------------- */

void dns_lookup_mx(struct dns *d, const char *domain, dns_fn fn, void *ctx)
{
	struct lookup *lk = dns_lookup_new(d, domain, true, fn, ctx);

	if (!mx_valid_name(lk->name)) {
		char *shown = dns_clean_copy(lk->name);

		dns_finish(lk, ST_PERMFAIL, xasprintf("\"%s\": not a valid "
						      "domain name", shown));
		free(shown);
		return;
	}
	ares_query(d->ch, lk->name, C_IN, T_MX, on_mx, dns_query_new(lk, 0));
	dns_arm(d);
}

static void on_mx(void *arg, int status, int timeouts, unsigned char *abuf,
		  int alen)
{
	struct lookup *lk = dns_query_done(arg);
	struct mx_list list;

	if (lk == NULL)
		return;
	if (status == ARES_ENODATA) {
		start_hosts(lk, NULL);
		return;
	}
	if (status != ARES_SUCCESS) {
		char *why = dns_ares_why(lk->d, status, false);

		dns_finish(lk, dns_classify(status),
			   xasprintf("%s: %s", lk->name, why));
		free(why);
		return;
	}
	mx_list_init(&list);
	switch (mx_from_answer(abuf, alen, dns_random, lk->d, &list)) {
	case MX_ANSWER_RECORDS:
		start_hosts(lk, &list);
		break;
	case MX_ANSWER_NULL:
		lk->res->null_mx = true;
		dns_finish(lk, ST_PERMFAIL, xasprintf("%s: null MX (RFC 7505): "
			   "the domain accepts no mail", lk->name));
		break;
	case MX_ANSWER_NONE:
		start_hosts(lk, NULL);
		break;
	case MX_ANSWER_BAD:
		dns_finish(lk, ST_TEMPFAIL, xasprintf("%s: malformed DNS answer "
			   "to the MX query", lk->name));
		break;
	}
	mx_list_free(&list);
}

/* list NULL: no MX records, the domain itself is the host (implicit MX,
 * RFC 5321 5.1). */
static void start_hosts(struct lookup *lk, struct mx_list *list)
{
	const struct config *cfg = lk->d->cfg;
	size_t i;

	if (list == NULL) {
		lk->res->implicit_mx = true;
		if (dns_same_host(lk->name, cfg->hostname)) {
			dns_finish(lk, ST_PERMFAIL, xasprintf("mail for %s loops "
				"back to myself (no MX records, and the domain is "
				"this host)", lk->name));
			return;
		}
		add_host(lk, lk->name, 0);
		start_addr_lookups(lk);
		return;
	}
	if (mx_drop_self(list, cfg->hostname) == MX_SELF_BEST) {
		dns_finish(lk, ST_PERMFAIL, xasprintf("mail for %s loops back to "
			"myself (MX %s is this host)", lk->name, cfg->hostname));
		return;
	}
	for (i = 0; i < list->n && i < DNS_MAX_HOSTS; i++)
		add_host(lk, list->recs[i].name, list->recs[i].pref);
	start_addr_lookups(lk);
}

static void add_host(struct lookup *lk, const char *name, int pref)
{
	struct dns_result *r = lk->res;
	struct host_state *hs;

	r->hosts = xreallocarray(r->hosts, r->nhosts + 1, sizeof *r->hosts);
	lk->hs = xreallocarray(lk->hs, r->nhosts + 1, sizeof *lk->hs);
	memset(&r->hosts[r->nhosts], 0, sizeof r->hosts[0]);
	hs = &lk->hs[r->nhosts];
	memset(hs, 0, sizeof *hs);
	hs->st = ST_TEMPFAIL;
	lk->nhs++;
	r->hosts[r->nhosts].name = dns_clean_copy(name);
	r->hosts[r->nhosts].pref = pref;
	r->nhosts++;
}

/* ---- address step -------------------------------------------------------- */

static void start_addr_lookups(struct lookup *lk)
{
	struct dns *d = lk->d;
	struct ares_addrinfo_hints hints;
	size_t i;

	lk->step = STEP_ADDR;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = d->family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;

	/* The extra 1 keeps a lookup that c-ares answers synchronously (a
	 * hosts-file hit) from concluding before all are started. */
	lk->npending = 1;
	for (i = 0; i < lk->res->nhosts; i++) {
		const char *name = lk->res->hosts[i].name;

		if (!mx_valid_name(name)) {
			dns_host_failed(lk, i, ST_PERMFAIL,
					xstrdup("not a valid host name"));
			continue;
		}
		lk->hs[i].pending = true;
		lk->npending++;
	}
	for (i = 0; i < lk->res->nhosts; i++)
		if (lk->hs[i].pending)
			ares_getaddrinfo(d->ch, lk->res->hosts[i].name, NULL,
					 &hints, on_addr, dns_query_new(lk, i));
	dns_arm(d);
	addr_done(lk);
}

static void on_addr(void *arg, int status, int timeouts,
		    struct ares_addrinfo *ai)
{
	size_t i = ((struct query *)arg)->host;
	struct lookup *lk = dns_query_done(arg);
	struct ares_addrinfo_node *n;
	struct dns_host *h;
	struct host_state *hs;
	bool check_loop;

	if (lk == NULL || status != ARES_SUCCESS) {
		if (ai != NULL)
			ares_freeaddrinfo(ai);
		if (lk != NULL) {
			lk->hs[i].nxdomain = status == ARES_ENOTFOUND ||
					     status == ARES_ENONAME;
			dns_host_failed(lk, i, dns_classify(status),
					dns_ares_why(lk->d, status, true));
			addr_done(lk);
		}
		return;
	}
	h = &lk->res->hosts[i];
	hs = &lk->hs[i];
	hs->pending = false;
	check_loop = lk->mx && !lk->d->cfg->allow_loopback_mx;
	for (n = ai != NULL ? ai->nodes : NULL; n != NULL; n = n->ai_next) {
		if (n->ai_family != AF_INET && n->ai_family != AF_INET6)
			continue;
		if (lk->d->family != AF_UNSPEC && n->ai_family != lk->d->family)
			continue;
		if (check_loop && dns_is_loopback(n->ai_addr)) {
			/* An MX on this machine: we would talk to ourselves. */
			if (hs->loop_addr[0] == '\0')
				dns_addr_text(n->ai_addr, hs->loop_addr,
					      sizeof hs->loop_addr);
			continue;
		}
		dns_add_addr(h, n->ai_addr, n->ai_addrlen);
	}
	if (ai != NULL)
		ares_freeaddrinfo(ai);
	if (h->naddrs > 0) {
		hs->st = ST_OK;
	} else if (hs->loop_addr[0] != '\0') {
		hs->loopback_only = true;
		dns_host_failed(lk, i, ST_PERMFAIL, xasprintf("only a loopback "
				"address (%s): that is this machine",
				hs->loop_addr));
	} else {
		dns_host_failed(lk, i, ST_PERMFAIL, xasprintf("no %s address "
				"records", dns_families(lk->d)));
	}
	addr_done(lk);
}

void dns_host_failed(struct lookup *lk, size_t i, enum status st, char *why)
{
	struct dns_host *h = &lk->res->hosts[i];

	lk->hs[i].pending = false;
	lk->hs[i].st = st;
	free(lk->hs[i].why);
	lk->hs[i].why = why;
	free(h->error);
	h->error = xasprintf("%s: %s", h->name, why);
}

static void addr_done(struct lookup *lk)
{
	if (lk->npending > 0 && --lk->npending == 0 && lk->step == STEP_ADDR)
		dns_conclude(lk);
}

void dns_conclude(struct lookup *lk)
{
	const struct dns_result *r = lk->res;
	size_t i, loop_host = SIZE_MAX;
	bool temp = false;

	lk->npending = 0;
	for (i = 0; i < r->nhosts; i++) {
		if (r->hosts[i].naddrs > 0) {
			dns_finish(lk, ST_OK, NULL);
			return;
		}
		if (lk->hs[i].st == ST_TEMPFAIL)
			temp = true;
		if (lk->hs[i].loopback_only && loop_host == SIZE_MAX)
			loop_host = i;
	}
	if (!temp && loop_host != SIZE_MAX) {
		if (r->implicit_mx)
			dns_finish(lk, ST_PERMFAIL, xasprintf("mail for %s loops "
				"back to myself (no MX records, and its address %s "
				"is this machine)", lk->name,
				lk->hs[loop_host].loop_addr));
		else
			dns_finish(lk, ST_PERMFAIL, xasprintf("mail for %s loops "
				"back to myself (MX %s points to this machine: %s)",
				lk->name, r->hosts[loop_host].name,
				lk->hs[loop_host].loop_addr));
		return;
	}
	if (!lk->mx || r->nhosts == 0) {
		/* dns_lookup_host: the host's own error says it all. */
		dns_finish(lk, temp ? ST_TEMPFAIL : ST_PERMFAIL,
			   xstrdup(r->nhosts > 0 ? r->hosts[0].error : "no host"));
	} else if (r->implicit_mx) {
		if (temp)
			dns_finish(lk, ST_TEMPFAIL, xasprintf("%s: no MX records, "
				"and the address lookup failed: %s", lk->name,
				lk->hs[0].why));
		else if (lk->hs[0].nxdomain)
			dns_finish(lk, ST_PERMFAIL, xasprintf("%s: no such domain "
				"(NXDOMAIN)", lk->name));
		else
			dns_finish(lk, ST_PERMFAIL, xasprintf("%s: no MX and no %s "
				"address records: the domain accepts no mail",
				lk->name, dns_families(lk->d)));
	} else {
		dns_finish(lk, temp ? ST_TEMPFAIL : ST_PERMFAIL,
			   join_host_errors(lk));
	}
}

static char *join_host_errors(const struct lookup *lk)
{
	const struct dns_result *r = lk->res;
	struct buf b;
	size_t i;

	buf_init(&b);
	buf_appendf(&b, "%s: no MX host has a usable address (", lk->name);
	for (i = 0; i < r->nhosts && i < DNS_ERR_HOSTS; i++)
		buf_appendf(&b, "%s%s", i ? "; " : "", r->hosts[i].error);
	if (r->nhosts > DNS_ERR_HOSTS)
		buf_appendf(&b, "; %zu more", r->nhosts - DNS_ERR_HOSTS);
	buf_appends(&b, ")");
	return b.data;
}

/* ---- dns_lookup_host ----------------------------------------------------- */

void dns_lookup_host(struct dns *d, const char *host, dns_fn fn, void *ctx)
{
	struct lookup *lk = dns_lookup_new(d, host, false, fn, ctx);
	struct dns_addr a;
	bool bracketed;
	char *shown;

	add_host(lk, lk->name, 0);
	if (dns_parse_literal(lk->name, &a, &bracketed)) {
		int fam = a.sa.ss_family;

		if (d->family != AF_UNSPEC && fam != d->family) {
			dns_finish(lk, ST_PERMFAIL, xasprintf("%s: an IPv%c "
				"address, but ip_version = %c", lk->name,
				fam == AF_INET ? '4' : '6',
				d->family == AF_INET ? '4' : '6'));
			return;
		}
		lk->res->hosts[0].addrs = xmalloc(sizeof a);
		lk->res->hosts[0].addrs[0] = a;
		lk->res->hosts[0].naddrs = 1;
		dns_finish(lk, ST_OK, NULL);
		return;
	}
	if (bracketed || !mx_valid_name(lk->name)) {
		shown = dns_clean_copy(lk->name);
		dns_finish(lk, ST_PERMFAIL, xasprintf("\"%s\": not a valid %s",
			shown, bracketed ? "address literal" : "host name"));
		free(shown);
		return;
	}
	start_addr_lookups(lk);
}
