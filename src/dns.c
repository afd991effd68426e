/*
 * dns.c - MX and address lookups on c-ares 1.18, driven by the event loop.
 *
 * c-ares 1.18 has no event thread: it tells us which sockets it wants
 * watched (ARES_OPT_SOCK_STATE_CB -> loop_watch), we hand readiness back
 * with ares_process_fd, and ares_timeout tells when its next
 * retransmission is due (one loop timer keyed on the struct dns).
 *
 * A lookup (struct lookup) is one dns_lookup_mx/dns_lookup_host call: an
 * MX query, then one ares_getaddrinfo per MX host, all at once. Each
 * c-ares query carries a struct query naming its lookup. c-ares cannot
 * cancel a single query, so when a lookup ends early (its dns_timeout
 * deadline, dns_free) its queries are orphaned (lk = NULL) and free
 * themselves when c-ares calls back; when only orphans are left,
 * ares_cancel ends them at once so their sockets do not keep the loop
 * running.
 */
#include "ac_config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <ares.h>
#include <ares_nameser.h>

#include "dns.h"
#include "mx.h"
#include "util.h"

/* Tries per server. With c-ares 1.18's doubling, a query to n servers
 * takes n * T * (2^tries - 1) in all; T is chosen so that this equals
 * dns_timeout (see dns_new). */
#define DNS_TRIES 3
#define DNS_MIN_TRY_MS 50
/* How many failing hosts an error message names. */
#define DNS_ERR_HOSTS 3

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

static int count_servers(const struct config *cfg);
static unsigned long dns_random(void *ctx);
static void on_sock_state(void *data, ares_socket_t fd, int readable,
			  int writable);
static void on_io(void *ctx, int fd, short revents);
static void on_ares_timer(void *ctx);
static void arm_ares(struct dns *d);
static struct lookup *lookup_new(struct dns *d, const char *name, bool mx,
				 dns_fn fn, void *ctx);
static void lookup_free(struct lookup *lk);
static struct query *query_new(struct lookup *lk, size_t host);
static struct lookup *query_done(struct query *q);
static void orphan_queries(struct lookup *lk);
static void finish(struct lookup *lk, enum status st, char *error);
static void on_deliver(void *ctx);
static void on_deadline(void *ctx);
static void on_mx(void *arg, int status, int timeouts, unsigned char *abuf,
		  int alen);
static void start_hosts(struct lookup *lk, struct mx_list *list);
static void add_host(struct lookup *lk, const char *name, int pref);
static void start_addr_lookups(struct lookup *lk);
static void on_addr(void *arg, int status, int timeouts,
		    struct ares_addrinfo *ai);
static void host_failed(struct lookup *lk, size_t i, enum status st,
			char *why);
static void addr_done(struct lookup *lk);
static void conclude(struct lookup *lk);
static char *join_host_errors(const struct lookup *lk);
static enum status classify(int ares_status);
static char *ares_why(const struct dns *d, int ares_status, bool host);
static const char *families(const struct dns *d);
static bool is_loopback(const struct sockaddr *sa);
static bool add_addr(struct dns_host *h, const struct sockaddr *sa,
		     socklen_t len);
static void addr_text(const struct sockaddr *sa, char *out, size_t n);
static bool parse_literal(const char *s, struct dns_addr *a, bool *bracketed);
static char *clean_copy(const char *s);
static bool same_host(const char *a, const char *b);

/* ---- resolver ------------------------------------------------------------ */

static int count_servers(const struct config *cfg)
{
	struct ares_addr_port_node *list = NULL, *p;
	ares_channel probe;
	const char *s;
	int n = 0;

	if (cfg->dns_servers != NULL) {
		for (n = 1, s = cfg->dns_servers; *s; s++)
			n += *s == ',';
		return n;
	}
	/* The system's list is in resolv.conf; a throwaway channel reads it
	 * the way the real one will. */
	if (ares_init(&probe) != ARES_SUCCESS)
		return 1;
	if (ares_get_servers_ports(probe, &list) == ARES_SUCCESS)
		for (p = list; p != NULL; p = p->next)
			n++;
	ares_free_data(list);
	ares_destroy(probe);
	return n > 0 ? n : 1;
}

enum status dns_new(struct loop *l, const struct config *cfg,
		    struct dns **out, struct err *err)
{
	struct ares_options o;
	struct dns *d;
	long long try_ms;
	int rc, nservers;

	*out = NULL;
	rc = ares_library_init(ARES_LIB_INIT_ALL);
	if (rc != ARES_SUCCESS) {
		err_set(err, "DNS: cannot initialise c-ares: %s", ares_strerror(rc));
		return ST_TEMPFAIL;
	}
	d = xcalloc(1, sizeof *d);
	d->loop = l;
	d->cfg = cfg;
	d->timeout_s = cfg->dns_timeout > 0 ? cfg->dns_timeout : 10;
	d->family = cfg->ip_version == IP_V4 ? AF_INET :
		    cfg->ip_version == IP_V6 ? AF_INET6 : AF_UNSPEC;
	if (getrandom(&d->rng, sizeof d->rng, GRND_NONBLOCK) != (ssize_t)sizeof d->rng)
		d->rng = (unsigned long long)now_ms() ^ ((unsigned long long)getpid() << 32);

	nservers = count_servers(cfg);
	try_ms = (long long)d->timeout_s * 1000 /
		 ((long long)nservers * ((1 << DNS_TRIES) - 1));
	if (try_ms < DNS_MIN_TRY_MS)
		try_ms = DNS_MIN_TRY_MS;

	memset(&o, 0, sizeof o);
	o.timeout = (int)try_ms;
	o.tries = DNS_TRIES;
	o.sock_state_cb = on_sock_state;
	o.sock_state_cb_data = d;
	/* No search domains: mail domains and MX targets are fully
	 * qualified, and "mx.example.net.corp.lan" is never meant. */
	o.ndomains = 0;
	o.domains = NULL;
	rc = ares_init_options(&d->ch, &o, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
			       ARES_OPT_SOCK_STATE_CB | ARES_OPT_DOMAINS);
	if (rc != ARES_SUCCESS) {
		err_set(err, "DNS: cannot start the resolver: %s", ares_strerror(rc));
		free(d);
		ares_library_cleanup();
		return ST_TEMPFAIL;
	}
	d->have_ch = true;
	if (cfg->dns_servers != NULL) {
		rc = ares_set_servers_ports_csv(d->ch, cfg->dns_servers);
		if (rc != ARES_SUCCESS) {
			err_set(err, "dns_servers \"%s\": %s", cfg->dns_servers,
				rc == ARES_EBADSTR ? "not a list of ip[:port] or "
				"[ipv6][:port] separated by commas" :
				ares_strerror(rc));
			dns_free(d);
			return ST_PERMFAIL;
		}
	}
	*out = d;
	return ST_OK;
}

void dns_free(struct dns *d)
{
	if (d == NULL)
		return;
	while (d->lookups != NULL) {
		struct lookup *lk = d->lookups;

		/* Documented: no callback; the caller is tearing down. */
		orphan_queries(lk);
		loop_timer(d->loop, lk, -1, NULL, NULL);
		dns_result_free(lk->res);
		lk->res = NULL;
		lookup_free(lk);
	}
	loop_timer(d->loop, d, -1, NULL, NULL);
	if (d->have_ch) {
		/* Calls back every orphan with ARES_EDESTRUCTION (they free
		 * themselves) and unwatches the sockets through on_sock_state. */
		ares_destroy(d->ch);
		d->have_ch = false;
	}
	ares_library_cleanup();
	free(d);
}

/* splitmix64: only spreads load over equal-preference MX hosts. */
static unsigned long dns_random(void *ctx)
{
	struct dns *d = ctx;
	unsigned long long z = (d->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (unsigned long)(z ^ (z >> 31));
}

static void on_sock_state(void *data, ares_socket_t fd, int readable,
			  int writable)
{
	struct dns *d = data;
	short ev = (short)((readable ? POLLIN : 0) | (writable ? POLLOUT : 0));

	if (ev == 0)
		loop_unwatch(d->loop, fd);
	else
		loop_watch(d->loop, fd, ev, on_io, d);
}

static void on_io(void *ctx, int fd, short revents)
{
	struct dns *d = ctx;
	bool err = (revents & (POLLERR | POLLHUP | POLLNVAL)) != 0;

	/* An error condition is handed over as both, so c-ares reads or
	 * completes the connect and sees it. */
	ares_process_fd(d->ch,
			(revents & POLLIN) || err ? fd : ARES_SOCKET_BAD,
			(revents & POLLOUT) || err ? fd : ARES_SOCKET_BAD);
	arm_ares(d);
}

static void on_ares_timer(void *ctx)
{
	struct dns *d = ctx;

	/* No descriptor: c-ares only checks its timeouts (retransmits). */
	ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	arm_ares(d);
}

static void arm_ares(struct dns *d)
{
	struct timeval tv;

	if (ares_timeout(d->ch, NULL, &tv) == NULL) {
		loop_timer(d->loop, d, -1, NULL, NULL);
		return;
	}
	loop_timer(d->loop, d, now_ms() + (long long)tv.tv_sec * 1000 +
		   (tv.tv_usec + 999) / 1000, on_ares_timer, d);
}

/* ---- lookups and queries ------------------------------------------------- */

static struct lookup *lookup_new(struct dns *d, const char *name, bool mx,
				 dns_fn fn, void *ctx)
{
	struct lookup *lk = xcalloc(1, sizeof *lk);
	size_t len = strlen(name);

	lk->d = d;
	lk->name = xstrndup(name, len > 1 && name[len - 1] == '.' ? len - 1 : len);
	lk->mx = mx;
	lk->fn = fn;
	lk->ctx = ctx;
	lk->step = STEP_MX;
	lk->res = xcalloc(1, sizeof *lk->res);
	lk->res->status = ST_TEMPFAIL;
	lk->next = d->lookups;
	if (d->lookups != NULL)
		d->lookups->prev = lk;
	d->lookups = lk;
	/* Every step of the lookup ends within dns_timeout. */
	loop_timer(d->loop, lk, now_ms() + (long long)d->timeout_s * 1000,
		   on_deadline, lk);
	return lk;
}

/* Unlinks and frees the lookup, not its result. */
static void lookup_free(struct lookup *lk)
{
	struct dns *d = lk->d;
	size_t i;

	if (lk->prev != NULL)
		lk->prev->next = lk->next;
	else
		d->lookups = lk->next;
	if (lk->next != NULL)
		lk->next->prev = lk->prev;
	for (i = 0; i < lk->nhs; i++)
		free(lk->hs[i].why);
	free(lk->hs);
	free(lk->name);
	free(lk);
}

static struct query *query_new(struct lookup *lk, size_t host)
{
	struct query *q = xcalloc(1, sizeof *q);

	q->d = lk->d;
	q->lk = lk;
	q->host = host;
	q->next = lk->queries;
	if (lk->queries != NULL)
		lk->queries->prev = q;
	lk->queries = q;
	lk->d->live++;
	return q;
}

/* Called first in every c-ares callback: frees q and returns its lookup,
 * or NULL for an orphan (nothing more to do). */
static struct lookup *query_done(struct query *q)
{
	struct lookup *lk = q->lk;

	if (lk == NULL) {
		q->d->orphans--;
	} else {
		if (q->prev != NULL)
			q->prev->next = q->next;
		else
			lk->queries = q->next;
		if (q->next != NULL)
			q->next->prev = q->prev;
		lk->d->live--;
	}
	free(q);
	return lk;
}

static void orphan_queries(struct lookup *lk)
{
	struct query *q, *next;

	for (q = lk->queries; q != NULL; q = next) {
		next = q->next;
		q->lk = NULL;
		q->prev = q->next = NULL;
		lk->d->live--;
		lk->d->orphans++;
	}
	lk->queries = NULL;
}

/* Ends the lookup: the result is handed over from the loop (never inside
 * dns_lookup_* or a c-ares call). Takes error (NULL on ST_OK). */
static void finish(struct lookup *lk, enum status st, char *error)
{
	lk->res->status = st;
	free(lk->res->error);
	lk->res->error = st == ST_OK ? NULL : error;
	if (st == ST_OK)
		free(error);
	lk->step = STEP_DONE;
	orphan_queries(lk);
	loop_timer(lk->d->loop, lk, 0, on_deliver, lk);
}

static void on_deliver(void *ctx)
{
	struct lookup *lk = ctx;
	struct dns_result *res = lk->res;
	dns_fn fn = lk->fn;
	void *fctx = lk->ctx;

	lookup_free(lk);
	/* Last: fn may call dns_free or start lookups. */
	fn(fctx, res);
}

static void on_deadline(void *ctx)
{
	struct lookup *lk = ctx;
	struct dns *d = lk->d;
	size_t i;

	if (lk->step == STEP_MX) {
		finish(lk, ST_TEMPFAIL, xasprintf("%s: DNS lookup timed out after %d s",
						  lk->name, d->timeout_s));
	} else if (lk->step == STEP_ADDR) {
		orphan_queries(lk);
		for (i = 0; i < lk->res->nhosts; i++)
			if (lk->hs[i].pending)
				host_failed(lk, i, ST_TEMPFAIL,
					    xasprintf("DNS lookup timed out after %d s",
						      d->timeout_s));
		conclude(lk);
	}
	if (d->live == 0 && d->orphans > 0) {
		/* Only ended lookups wait on c-ares: end their queries now
		 * rather than at c-ares's own timeouts. */
		ares_cancel(d->ch);
		arm_ares(d);
	}
}

/* ---- MX step --------------------------------------------------------------- */

void dns_lookup_mx(struct dns *d, const char *domain, dns_fn fn, void *ctx)
{
	struct lookup *lk = lookup_new(d, domain, true, fn, ctx);

	if (!mx_valid_name(lk->name)) {
		char *shown = clean_copy(lk->name);

		finish(lk, ST_PERMFAIL, xasprintf("\"%s\": not a valid domain name",
						  shown));
		free(shown);
		return;
	}
	ares_query(d->ch, lk->name, C_IN, T_MX, on_mx, query_new(lk, 0));
	arm_ares(d);
}

static void on_mx(void *arg, int status, int timeouts, unsigned char *abuf,
		  int alen)
{
	struct lookup *lk = query_done(arg);
	struct mx_list list;

	if (lk == NULL)
		return;
	if (status == ARES_ENODATA) {
		start_hosts(lk, NULL);
		return;
	}
	if (status != ARES_SUCCESS) {
		char *why = ares_why(lk->d, status, false);

		finish(lk, classify(status), xasprintf("%s: %s", lk->name, why));
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
		finish(lk, ST_PERMFAIL, xasprintf("%s: null MX (RFC 7505): the "
						  "domain accepts no mail", lk->name));
		break;
	case MX_ANSWER_NONE:
		start_hosts(lk, NULL);
		break;
	case MX_ANSWER_BAD:
		finish(lk, ST_TEMPFAIL, xasprintf("%s: malformed DNS answer to "
						  "the MX query", lk->name));
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
		if (same_host(lk->name, cfg->hostname)) {
			finish(lk, ST_PERMFAIL, xasprintf("mail for %s loops back to "
				"myself (no MX records, and the domain is this host)",
				lk->name));
			return;
		}
		add_host(lk, lk->name, 0);
		start_addr_lookups(lk);
		return;
	}
	if (mx_drop_self(list, cfg->hostname) == MX_SELF_BEST) {
		finish(lk, ST_PERMFAIL, xasprintf("mail for %s loops back to myself "
			"(MX %s is this host)", lk->name, cfg->hostname));
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
	r->hosts[r->nhosts].name = clean_copy(name);
	r->hosts[r->nhosts].pref = pref;
	r->nhosts++;
}

/* ---- address step ---------------------------------------------------------- */

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
			host_failed(lk, i, ST_PERMFAIL,
				    xstrdup("not a valid host name"));
			continue;
		}
		lk->hs[i].pending = true;
		lk->npending++;
	}
	for (i = 0; i < lk->res->nhosts; i++)
		if (lk->hs[i].pending)
			ares_getaddrinfo(d->ch, lk->res->hosts[i].name, NULL,
					 &hints, on_addr, query_new(lk, i));
	arm_ares(d);
	addr_done(lk);
}

static void on_addr(void *arg, int status, int timeouts,
		    struct ares_addrinfo *ai)
{
	size_t i = ((struct query *)arg)->host;
	struct lookup *lk = query_done(arg);
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
			host_failed(lk, i, classify(status),
				    ares_why(lk->d, status, true));
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
		if (check_loop && is_loopback(n->ai_addr)) {
			/* An MX on this machine: we would talk to ourselves. */
			if (hs->loop_addr[0] == '\0')
				addr_text(n->ai_addr, hs->loop_addr,
					  sizeof hs->loop_addr);
			continue;
		}
		add_addr(h, n->ai_addr, n->ai_addrlen);
	}
	if (ai != NULL)
		ares_freeaddrinfo(ai);
	if (h->naddrs > 0) {
		hs->st = ST_OK;
	} else if (hs->loop_addr[0] != '\0') {
		hs->loopback_only = true;
		host_failed(lk, i, ST_PERMFAIL, xasprintf("only a loopback address "
			    "(%s): that is this machine", hs->loop_addr));
	} else {
		host_failed(lk, i, ST_PERMFAIL, xasprintf("no %s address records",
							  families(lk->d)));
	}
	addr_done(lk);
}

/* Records host i's failure; takes why. */
static void host_failed(struct lookup *lk, size_t i, enum status st, char *why)
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
		conclude(lk);
}

/* Every host is answered (or timed out): the lookup's outcome. */
static void conclude(struct lookup *lk)
{
	const struct dns_result *r = lk->res;
	size_t i, loop_host = SIZE_MAX;
	bool temp = false;

	lk->npending = 0;
	for (i = 0; i < r->nhosts; i++) {
		if (r->hosts[i].naddrs > 0) {
			finish(lk, ST_OK, NULL);
			return;
		}
		if (lk->hs[i].st == ST_TEMPFAIL)
			temp = true;
		if (lk->hs[i].loopback_only && loop_host == SIZE_MAX)
			loop_host = i;
	}
	if (!temp && loop_host != SIZE_MAX) {
		if (r->implicit_mx)
			finish(lk, ST_PERMFAIL, xasprintf("mail for %s loops back to "
				"myself (no MX records, and its address %s is this "
				"machine)", lk->name, lk->hs[loop_host].loop_addr));
		else
			finish(lk, ST_PERMFAIL, xasprintf("mail for %s loops back to "
				"myself (MX %s points to this machine: %s)", lk->name,
				r->hosts[loop_host].name, lk->hs[loop_host].loop_addr));
		return;
	}
	if (!lk->mx || r->nhosts == 0) {
		/* dns_lookup_host: the host's own error says it all. */
		finish(lk, temp ? ST_TEMPFAIL : ST_PERMFAIL,
		       xstrdup(r->nhosts > 0 ? r->hosts[0].error : "no host"));
	} else if (r->implicit_mx) {
		if (temp)
			finish(lk, ST_TEMPFAIL, xasprintf("%s: no MX records, and the "
				"address lookup failed: %s", lk->name, lk->hs[0].why));
		else if (lk->hs[0].nxdomain)
			finish(lk, ST_PERMFAIL, xasprintf("%s: no such domain "
							  "(NXDOMAIN)", lk->name));
		else
			finish(lk, ST_PERMFAIL, xasprintf("%s: no MX and no %s address "
				"records: the domain accepts no mail", lk->name,
				families(lk->d)));
	} else {
		finish(lk, temp ? ST_TEMPFAIL : ST_PERMFAIL, join_host_errors(lk));
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

/* ---- dns_lookup_host -------------------------------------------------------- */

void dns_lookup_host(struct dns *d, const char *host, dns_fn fn, void *ctx)
{
	struct lookup *lk = lookup_new(d, host, false, fn, ctx);
	struct dns_addr a;
	bool bracketed;
	char *shown;

	add_host(lk, lk->name, 0);
	if (parse_literal(lk->name, &a, &bracketed)) {
		int fam = a.sa.ss_family;

		if (d->family != AF_UNSPEC && fam != d->family) {
			finish(lk, ST_PERMFAIL, xasprintf("%s: an IPv%c address, but "
				"ip_version = %c", lk->name, fam == AF_INET ? '4' : '6',
				d->family == AF_INET ? '4' : '6'));
			return;
		}
		lk->res->hosts[0].addrs = xmalloc(sizeof a);
		lk->res->hosts[0].addrs[0] = a;
		lk->res->hosts[0].naddrs = 1;
		finish(lk, ST_OK, NULL);
		return;
	}
	if (bracketed || !mx_valid_name(lk->name)) {
		shown = clean_copy(lk->name);
		finish(lk, ST_PERMFAIL, xasprintf("\"%s\": not a valid %s", shown,
			bracketed ? "address literal" : "host name"));
		free(shown);
		return;
	}
	start_addr_lookups(lk);
}

/* "192.0.2.1", "2001:db8::1", "[192.0.2.1]", "[IPv6:2001:db8::1]". */
static bool parse_literal(const char *s, struct dns_addr *a, bool *bracketed)
{
	char tmp[64];
	size_t len = strlen(s);

	*bracketed = false;
	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		*bracketed = true;
		s++;
		len -= 2;
		if (len >= 5 && ascii_strncasecmp(s, "IPv6:", 5) == 0) {
			s += 5;
			len -= 5;
		}
	}
	if (len == 0 || len >= sizeof tmp)
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	memset(a, 0, sizeof *a);
	{
		struct sockaddr_in *in = (struct sockaddr_in *)(void *)&a->sa;
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)&a->sa;

		if (inet_pton(AF_INET, tmp, &in->sin_addr) == 1) {
			in->sin_family = AF_INET;
			a->len = sizeof *in;
		} else if (inet_pton(AF_INET6, tmp, &in6->sin6_addr) == 1) {
			in6->sin6_family = AF_INET6;
			a->len = sizeof *in6;
		} else {
			return false;
		}
	}
	addr_text((const struct sockaddr *)&a->sa, a->text, sizeof a->text);
	return true;
}

/* ---- results and texts ------------------------------------------------------ */

void dns_result_free(struct dns_result *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nhosts; i++) {
		free(r->hosts[i].name);
		free(r->hosts[i].addrs);
		free(r->hosts[i].error);
	}
	free(r->hosts);
	free(r->error);
	free(r);
}

/* Appends an address unless h has it already; false if it did. */
static bool add_addr(struct dns_host *h, const struct sockaddr *sa,
		     socklen_t len)
{
	struct dns_addr *a;
	size_t i;

	if (len > (socklen_t)sizeof a->sa)
		return false;
	for (i = 0; i < h->naddrs; i++)
		if (h->addrs[i].len == len && memcmp(&h->addrs[i].sa, sa, len) == 0)
			return false;
	h->addrs = xreallocarray(h->addrs, h->naddrs + 1, sizeof *h->addrs);
	a = &h->addrs[h->naddrs++];
	memset(a, 0, sizeof *a);
	memcpy(&a->sa, sa, len);
	a->len = len;
	if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)(void *)&a->sa)->sin_port = 0;
	else
		((struct sockaddr_in6 *)(void *)&a->sa)->sin6_port = 0;
	addr_text(sa, a->text, sizeof a->text);
	return true;
}

static void addr_text(const struct sockaddr *sa, char *out, size_t n)
{
	const void *p = sa->sa_family == AF_INET ?
		(const void *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr :
		(const void *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

	if (inet_ntop(sa->sa_family, p, out, (socklen_t)n) == NULL)
		strlcpy(out, "?", n);
}

/* 127/8, ::1, and the unspecified 0.0.0.0 / :: (connecting to them
 * reaches this machine too), also as IPv4-mapped IPv6. */
static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		unsigned long a = ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr);

		return (a >> 24) == 127 || a == 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

		if (IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a))
			return true;
		if (IN6_IS_ADDR_V4MAPPED(a))
			return a->s6_addr[12] == 127 ||
			       (a->s6_addr[12] | a->s6_addr[13] |
				a->s6_addr[14] | a->s6_addr[15]) == 0;
	}
	return false;
}

static enum status classify(int s)
{
	switch (s) {
	case ARES_ENOTFOUND:  /* NXDOMAIN */
	case ARES_ENONAME:
	case ARES_ENODATA:    /* the name exists, without such records */
	case ARES_EBADNAME:
		return ST_PERMFAIL;
	default:              /* SERVFAIL, REFUSED, timeouts, unreachable */
		return ST_TEMPFAIL;
	}
}

/* Why a query failed, without the name; host: an address query. */
static char *ares_why(const struct dns *d, int s, bool host)
{
	switch (s) {
	case ARES_ENOTFOUND:
	case ARES_ENONAME:
		return xstrdup(host ? "no such host (NXDOMAIN)"
				    : "no such domain (NXDOMAIN)");
	case ARES_ENODATA:
		return host ? xasprintf("no %s address records", families(d))
			    : xstrdup("no records of the type asked for");
	case ARES_ESERVFAIL:
		return xstrdup("DNS server failure (SERVFAIL)");
	case ARES_EREFUSED:
		return xstrdup("DNS server refused the query (REFUSED)");
	case ARES_ETIMEOUT:
		return xasprintf("DNS lookup timed out after %d s", d->timeout_s);
	case ARES_ECONNREFUSED:
		/* c-ares 1.18 ends a query with this both when the server
		 * is unreachable and when every try got SERVFAIL, REFUSED or
		 * NOTIMP (it retries those and keeps no rcode). */
		return xstrdup("DNS server failed or unreachable (SERVFAIL, "
			       "REFUSED or connection refused)");
	case ARES_EFORMERR:
		return xstrdup("DNS server could not parse the query (FORMERR)");
	case ARES_ENOTIMP:
		return xstrdup("DNS server does not implement the query (NOTIMP)");
	case ARES_EBADRESP:
		return xstrdup("malformed DNS answer");
	case ARES_EBADNAME:
		return xstrdup("not a valid DNS name");
	case ARES_ECANCELLED:
	case ARES_EDESTRUCTION:
		return xstrdup("DNS lookup cancelled");
	default:
		return xasprintf("DNS error: %s", ares_strerror(s));
	}
}

static const char *families(const struct dns *d)
{
	return d->family == AF_INET ? "IPv4 (A)" :
	       d->family == AF_INET6 ? "IPv6 (AAAA)" : "A or AAAA";
}

/* A copy safe to show in a message or log: controls become '?'. */
static char *clean_copy(const char *s)
{
	char *c = xstrdup(s);

	replace_controls(c, strlen(c), '?');
	return c;
}

static bool same_host(const char *a, const char *b)
{
	size_t la, lb;

	if (a == NULL || b == NULL)
		return false;
	la = strlen(a);
	lb = strlen(b);
	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la > 0 && la == lb && ascii_strncasecmp(a, b, la) == 0;
}
