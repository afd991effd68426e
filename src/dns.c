/*
 * dns.c - the resolver: c-ares 1.18 driven by the event loop, and the
 * life of a lookup (start, deadline, hand-over). The steps of a lookup
 * are in dns_lookup.c, the pure helpers in dns_addr.c (dns_int.h).
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

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <ares.h>

#include "dns.h"
#include "dns_int.h"
#include "util.h"

/* Tries per server. With c-ares 1.18's doubling, a query to n servers
 * takes n * T * (2^tries - 1) in all; T is chosen so that this equals
 * dns_timeout (see dns_new). */
#define DNS_TRIES 3
#define DNS_MIN_TRY_MS 50

static int count_servers(const struct config *cfg);
static void on_sock_state(void *data, ares_socket_t fd, int readable,
			  int writable);
static void on_io(void *ctx, int fd, short revents);
static void on_ares_timer(void *ctx);
static void lookup_free(struct lookup *lk);
static void orphan_queries(struct lookup *lk);
static void on_deliver(void *ctx);
static void on_deadline(void *ctx);

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
unsigned long dns_random(void *ctx)
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
	dns_arm(d);
}

static void on_ares_timer(void *ctx)
{
	struct dns *d = ctx;

	/* No descriptor: c-ares only checks its timeouts (retransmits). */
	ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_arm(d);
}

void dns_arm(struct dns *d)
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

struct lookup *dns_lookup_new(struct dns *d, const char *name, bool mx,
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

struct query *dns_query_new(struct lookup *lk, size_t host)
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

struct lookup *dns_query_done(struct query *q)
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

void dns_finish(struct lookup *lk, enum status st, char *error)
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
		dns_finish(lk, ST_TEMPFAIL, xasprintf("%s: DNS lookup timed out "
						      "after %d s", lk->name,
						      d->timeout_s));
	} else if (lk->step == STEP_ADDR) {
		orphan_queries(lk);
		for (i = 0; i < lk->res->nhosts; i++)
			if (lk->hs[i].pending)
				dns_host_failed(lk, i, ST_TEMPFAIL,
						xasprintf("DNS lookup timed out "
							  "after %d s",
							  d->timeout_s));
		dns_conclude(lk);
	}
	if (d->live == 0 && d->orphans > 0) {
		/* Only ended lookups wait on c-ares: end their queries now
		 * rather than at c-ares's own timeouts. */
		ares_cancel(d->ch);
		dns_arm(d);
	}
}
