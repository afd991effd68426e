/*
 * deliver.c - recipients -> destinations -> SMTP sessions -> one outcome
 * per recipient.
 *
 * A destination is one next hop: a configured host (relay, route,
 * sender_route) or a domain's MX hosts. All destinations are resolved at
 * once in one event loop; a relay's sessions start as soon as its name
 * is known, MX destinations once every lookup has answered, because
 * domains whose best MX host is the same are merged into one destination
 * first (one connection, one transaction for all their recipients).
 * Each destination then walks its hosts and addresses in order: a
 * recipient that got a temporary failure goes on to the next address;
 * accepted and permanently refused ones are settled.
 */
#include "ac_config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deliver.h"
#include "dns.h"
#include "expand.h"
#include "local.h"
#include "log.h"
#include "loop.h"
#include "route.h"
#include "session.h"
#include "util.h"

enum dest_state { D_RESOLVING, D_WAITING, D_RUNNING, D_DONE };

struct dest {
	struct engine *e;
	const struct relay_config *relay; /* NULL: the MX hosts of name */
	char *name;                /* MX: the domain; else the host */
	struct dns_result *dns;
	size_t *rcpt;              /* recipients still due (indexes) */
	size_t nrcpt;
	size_t host_i, addr_i;     /* the next address to try */
	bool plain_retry;          /* opportunistic TLS failed: this address
				    * again, without TLS */
	struct session *sess;
	enum dest_state state;
};

struct engine {
	struct delivery *d;
	struct loop *loop;
	struct dns *dns;
	struct dest **dests;
	size_t ndests;
	size_t resolving;          /* MX lookups not yet answered */
	size_t running;            /* sessions under way */
	bool *attempted;           /* per recipient: an attempt was logged */
};

static void set_outcome(struct delivery *d, size_t i, enum status st,
			const char *reply, const char *relay);
static struct dest *dest_for(struct engine *e, const struct next_hop *hop);
static void route_all(struct engine *e);
static void deliver_local(struct engine *e, size_t i);
static void on_resolved(void *ctx, struct dns_result *res);
static void merge_shared_hosts(struct engine *e);
static void settle_all(struct dest *t, enum status st, const char *text);
static void schedule(struct engine *e);
static bool start_attempt(struct dest *t);
static void start_session(struct dest *t, const struct dns_host *h,
			  const struct dns_addr *a);
static void on_session_done(void *ctx, struct session *s);
static enum tls_mode tls_mode_for(const struct dest *t, bool *verify);
static void log_attempt(struct engine *e, size_t i);
static void abandon_running(struct engine *e);
static void free_engine(struct engine *e);

static void set_outcome(struct delivery *d, size_t i, enum status st,
			const char *reply, const char *relay)
{
	struct rcpt_outcome *o = &d->outcomes[i];

	free(o->reply);
	free(o->relay);
	o->status = st;
	o->reply = xstrdup(reply ? reply : "");
	o->relay = relay ? xstrdup(relay) : NULL;
}

enum status deliver_message(struct delivery *d)
{
	struct engine e = { 0 };
	struct err err;
	size_t n = d->msg->rcpts.n;

	d->outcomes = xcalloc(n ? n : 1, sizeof *d->outcomes);
	for (size_t i = 0; i < n; i++)
		set_outcome(d, i, ST_TEMPFAIL, "not attempted", NULL);
	e.d = d;
	e.attempted = xcalloc(n ? n : 1, sizeof *e.attempted);
	e.loop = d->loop ? d->loop : loop_new();
	e.dns = d->dns;
	if (e.dns == NULL && dns_new(e.loop, d->cfg, &e.dns, &err) != ST_OK) {
		for (size_t i = 0; i < n; i++)
			set_outcome(d, i, ST_TEMPFAIL, err.msg, NULL);
	} else {
		route_all(&e);
		if (!loop_run(e.loop, d->deadline > 0 ? d->deadline : -1))
			abandon_running(&e);
	}
	for (size_t i = 0; i < n; i++)
		if (!e.attempted[i])
			log_attempt(&e, i);
	free_engine(&e);
	return deliver_fold(d);
}

/* Any TEMPFAIL makes the message TEMPFAIL even when others failed for
 * good: the caller must learn that not all of it was taken. */
enum status deliver_fold(const struct delivery *d)
{
	enum status folded = ST_OK;

	for (size_t i = 0; i < d->msg->rcpts.n; i++) {
		if (d->outcomes[i].status == ST_TEMPFAIL)
			return ST_TEMPFAIL;
		if (d->outcomes[i].status == ST_PERMFAIL)
			folded = ST_PERMFAIL;
	}
	return folded;
}

void delivery_free_outcomes(struct delivery *d)
{
	if (d->outcomes == NULL)
		return;
	for (size_t i = 0; i < d->msg->rcpts.n; i++) {
		free(d->outcomes[i].reply);
		free(d->outcomes[i].relay);
	}
	free(d->outcomes);
	d->outcomes = NULL;
}

/* ---- routing and resolving --------------------------------------------- */

static struct dest *dest_for(struct engine *e, const struct next_hop *hop)
{
	struct dest *t;
	char *name = hop->kind == HOP_MX
			     ? xasprintf("%.*s", (int)hop->domain_len,
					 hop->domain)
			     : xstrdup(hop->relay->host);

	for (size_t k = 0; k < e->ndests; k++) {
		t = e->dests[k];
		if (hop->kind == HOP_RELAY ? t->relay == hop->relay
					   : t->relay == NULL &&
						     ascii_strcasecmp(t->name,
								      name) == 0) {
			free(name);
			return t;
		}
	}
	t = xcalloc(1, sizeof *t);
	t->e = e;
	t->relay = hop->kind == HOP_RELAY ? hop->relay : NULL;
	t->name = name;
	t->rcpt = xcalloc(e->d->msg->rcpts.n, sizeof *t->rcpt);
	t->state = D_RESOLVING;
	e->dests = xreallocarray(e->dests, e->ndests + 1, sizeof *e->dests);
	e->dests[e->ndests++] = t;
	return t;
}

static void route_all(struct engine *e)
{
	const struct message *msg = e->d->msg;
	size_t ndests;

	for (size_t i = 0; i < msg->rcpts.n; i++) {
		struct next_hop hop = route_recipient(
			e->d->cfg, msg->sender, msg->rcpts.items[i].mailbox);
		struct dest *t;

		if (hop.kind == HOP_NONE) {
			set_outcome(e->d, i, ST_TEMPFAIL, hop.reason, NULL);
			continue;
		}
		if (hop.kind == HOP_LOCAL) {
			deliver_local(e, i);
			continue;
		}
		t = dest_for(e, &hop);
		t->rcpt[t->nrcpt++] = i;
	}
	/* Counted before the first lookup starts: none answers before
	 * loop_run, but the count must be whole when the first does. */
	ndests = e->ndests;
	for (size_t k = 0; k < ndests; k++)
		if (e->dests[k]->relay == NULL)
			e->resolving++;
	for (size_t k = 0; k < ndests; k++) {
		struct dest *t = e->dests[k];

		/* An address literal (bob@[192.0.2.1]) names its host. */
		if (t->relay || t->name[0] == '[')
			dns_lookup_host(e->dns, t->name, on_resolved, t);
		else
			dns_lookup_mx(e->dns, t->name, on_resolved, t);
	}
}

/* A local mailbox, at once: a file append, no network wait. */
static void deliver_local(struct engine *e, size_t i)
{
	const struct config *cfg = e->d->cfg;
	const struct message *msg = e->d->msg;
	struct local_target lt = { 0 };
	char *user = NULL;
	char *where;
	struct err err;
	enum status st;

	(void)expand_is_local(cfg, msg->rcpts.items[i].mailbox, &user);
	lt.user = user;
	lt.how = cfg->local_delivery;
	lt.mail_spool = cfg->mail_spool;
	/* arrival_ms is monotonic: the From_ line wants calendar time. */
	st = local_deliver(&lt, msg->spool_fd, msg->size, msg->sender,
			   (long long)time(NULL) -
				   (now_ms() - e->d->arrival_ms) / 1000,
			   &err);
	where = cfg->local_delivery == LOCAL_MAILDIR
			? xasprintf("local:~%s/Maildir", user)
			: xasprintf("local:%s/%s", cfg->mail_spool, user);
	set_outcome(e->d, i, st, st == ST_OK ? "delivered to mailbox" : err.msg,
		    where);
	log_attempt(e, i);
	free(where);
	free(user);
}

static void on_resolved(void *ctx, struct dns_result *res)
{
	struct dest *t = ctx;
	struct engine *e = t->e;

	if (t->relay == NULL)
		e->resolving--;
	if (res->status != ST_OK) {
		/* A relay name that does not resolve now is a configuration
		 * or DNS problem, never the message's: retry, never bounce. */
		settle_all(t, t->relay ? ST_TEMPFAIL : res->status,
			   res->error ? res->error : "DNS lookup failed");
		dns_result_free(res);
		t->state = D_DONE;
	} else {
		t->dns = res;
		t->state = D_WAITING;
	}
	if (t->relay == NULL && e->resolving > 0)
		return;
	if (t->relay == NULL)
		merge_shared_hosts(e);
	schedule(e);
}

/* Destinations whose best MX host is the same become one: the host
 * gets one connection and one transaction for all their recipients. */
static void merge_shared_hosts(struct engine *e)
{
	for (size_t a = 0; a < e->ndests; a++) {
		struct dest *ta = e->dests[a];

		if (ta->relay || ta->state != D_WAITING)
			continue;
		for (size_t b = a + 1; b < e->ndests; b++) {
			struct dest *tb = e->dests[b];

			if (tb->relay || tb->state != D_WAITING ||
			    ascii_strcasecmp(ta->dns->hosts[0].name,
					     tb->dns->hosts[0].name) != 0)
				continue;
			memcpy(ta->rcpt + ta->nrcpt, tb->rcpt,
			       tb->nrcpt * sizeof *tb->rcpt);
			ta->nrcpt += tb->nrcpt;
			tb->nrcpt = 0;
			tb->state = D_DONE;
		}
	}
}

/* Every recipient still due gets st and text; nobody is due after. */
static void settle_all(struct dest *t, enum status st, const char *text)
{
	for (size_t k = 0; k < t->nrcpt; k++)
		set_outcome(t->e->d, t->rcpt[k], st, text, NULL);
	t->nrcpt = 0;
}

/* ---- attempts ------------------------------------------------------------ */

/* Starts waiting destinations while connection slots are free. */
static void schedule(struct engine *e)
{
	for (size_t k = 0; k < e->ndests; k++) {
		struct dest *t = e->dests[k];

		if (e->running >= (size_t)e->d->cfg->max_connections)
			return;
		/* MX destinations wait for every lookup: they may merge. */
		if (t->relay == NULL && e->resolving > 0)
			continue;
		while (t->state == D_WAITING && !start_attempt(t))
			;
	}
}

/* Starts a session to the destination's next address; false when that
 * was not possible and the state changed (try again or done). */
static bool start_attempt(struct dest *t)
{
	struct dns_result *r = t->dns;

	if (t->nrcpt == 0) {
		t->state = D_DONE;
		return true;
	}
	while (t->host_i < r->nhosts &&
	       t->addr_i >= r->hosts[t->host_i].naddrs) {
		const struct dns_host *h = &r->hosts[t->host_i];

		/* A host without addresses explains the failure only if
		 * nothing else was tried. */
		if (h->naddrs == 0 && h->error)
			for (size_t k = 0; k < t->nrcpt; k++)
				if (!t->e->attempted[t->rcpt[k]])
					set_outcome(t->e->d, t->rcpt[k],
						    ST_TEMPFAIL, h->error, NULL);
		t->host_i++;
		t->addr_i = 0;
	}
	if (t->host_i >= r->nhosts) {
		/* Out of hosts: what is due keeps its last temporary
		 * failure. */
		t->nrcpt = 0;
		t->state = D_DONE;
		return true;
	}
	start_session(t, &r->hosts[t->host_i],
		      &r->hosts[t->host_i].addrs[t->addr_i]);
	return true;
}

static void start_session(struct dest *t, const struct dns_host *h,
			  const struct dns_addr *a)
{
	struct engine *e = t->e;
	const struct config *cfg = e->d->cfg;
	const struct relay_config *rl = t->relay;
	struct sockaddr_storage sa;
	struct session_params p = { 0 };
	const char **rcpts = xcalloc(t->nrcpt, sizeof *rcpts);
	int port = rl ? rl->port : cfg->mx_port;
	bool verify = false;
	char *peer;

	memcpy(&sa, &a->sa, a->len);
	if (sa.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&sa)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)&sa)->sin_port = htons((uint16_t)port);
	peer = xasprintf("%s[%s]:%d", h->name, a->text, port);
	for (size_t k = 0; k < t->nrcpt; k++)
		rcpts[k] = e->d->msg->rcpts.items[t->rcpt[k]].mailbox;

	p.loop = e->loop;
	p.addr = (const struct sockaddr *)&sa;
	p.addrlen = a->len;
	p.peer = peer;
	p.smtp.tls = tls_mode_for(t, &verify);
	p.tls.servername = rl ? rl->host : h->name;
	p.tls.verify = verify;
	p.tls.ca_file = rl ? rl->ca_file : NULL;
	p.tls.ca_path = rl ? rl->ca_path : NULL;
	p.connect_timeout_ms = cfg->connect_timeout * 1000;
	p.smtp.helo_name = cfg->hostname;
	if (rl) {
		p.smtp.user = rl->user;
		p.smtp.password = rl->password;
		p.smtp.auth_mechanisms = rl->auth_mechanisms;
		p.smtp.allow_plaintext_auth = rl->allow_plaintext_auth;
	}
	/* A hop's sender_rewrite sets MAIL FROM for mail through it (the
	 * relay's own also rewrote From at intake); bounces keep <>. */
	p.smtp.sender = rl && rl->sender_rewrite && e->d->msg->sender[0]
				? rl->sender_rewrite
				: e->d->msg->sender;
	p.smtp.rcpts = rcpts;
	p.smtp.nrcpts = t->nrcpt;
	p.smtp.size = e->d->msg->size;
	p.smtp.eightbit = e->d->msg->eightbit;
	p.smtp.timeout_s = cfg->timeout;
	p.smtp.max_rcpt_per_txn = (size_t)cfg->max_rcpt_per_transaction;
	p.spool_fd = e->d->msg->spool_fd;
	p.transcript = e->d->transcript;
	p.done = on_session_done;
	p.ctx = t;
	t->sess = session_start(&p);
	t->state = D_RUNNING;
	e->running++;
	free(rcpts);
	free(peer);
}

/* The relay's own setting; for MX hosts, mx_tls. A failed opportunistic
 * handshake is retried on the same address without TLS, as Postfix's
 * "may" level does (and logged). */
static enum tls_mode tls_mode_for(const struct dest *t, bool *verify)
{
	const struct config *cfg = t->e->d->cfg;
	enum tls_mode m;

	*verify = false;
	if (t->relay) {
		m = t->relay->tls;
		*verify = t->relay->verify && m != TLS_OPPORTUNISTIC;
	} else if (cfg->mx_tls == MX_TLS_REQUIRED) {
		m = TLS_STARTTLS;
		*verify = true;
	} else {
		m = cfg->mx_tls == MX_TLS_NONE ? TLS_NONE : TLS_OPPORTUNISTIC;
	}
	if (m == TLS_OPPORTUNISTIC && t->plain_retry)
		m = TLS_NONE;
	return m;
}

static void on_session_done(void *ctx, struct session *s)
{
	struct dest *t = ctx;
	struct engine *e = t->e;
	size_t due = 0;
	bool verify;
	bool retry_plain = session_tls_failed(s) && !t->plain_retry &&
			   tls_mode_for(t, &verify) == TLS_OPPORTUNISTIC;

	for (size_t k = 0; k < t->nrcpt; k++) {
		size_t i = t->rcpt[k];
		enum status st = session_rcpt_status(s, k);

		set_outcome(e->d, i, st, session_rcpt_reply(s, k),
			    session_peer(s));
		log_attempt(e, i);
		if (st == ST_TEMPFAIL)
			t->rcpt[due++] = i;
	}
	t->nrcpt = due;
	if (retry_plain) {
		log_info(e->d->queue_id, "TLS with %s failed; trying again "
			 "without TLS", session_peer(s));
		t->plain_retry = true;
	} else {
		t->plain_retry = false;
		t->addr_i++;
	}
	session_free(s);
	t->sess = NULL;
	e->running--;
	t->state = due ? D_WAITING : D_DONE;
	schedule(e);
}

static void log_attempt(struct engine *e, size_t i)
{
	const struct rcpt_outcome *o = &e->d->outcomes[i];
	double delay = (double)(now_ms() - e->d->arrival_ms) / 1000.0;
	const char *status = o->status == ST_OK	      ? "sent"
			     : o->status == ST_TEMPFAIL ? "deferred"
							: "bounced";

	e->attempted[i] = true;
	log_info(e->d->queue_id, "to=<%s>, relay=%s, delay=%.2f, status=%s (%s)",
		 e->d->msg->rcpts.items[i].mailbox,
		 o->relay ? o->relay : "none", delay, status,
		 o->reply ? o->reply : "");
}

/* submit_timeout passed: what is under way stays undelivered (the
 * caller queues it); a recipient may still arrive, at least once. */
static void abandon_running(struct engine *e)
{
	for (size_t k = 0; k < e->ndests; k++) {
		struct dest *t = e->dests[k];

		if (t->state == D_DONE)
			continue;
		for (size_t j = 0; j < t->nrcpt; j++)
			set_outcome(e->d, t->rcpt[j], ST_TEMPFAIL,
				    "not delivered within submit_timeout",
				    t->sess ? session_peer(t->sess) : NULL);
		t->nrcpt = 0;
	}
}

static void free_engine(struct engine *e)
{
	for (size_t k = 0; k < e->ndests; k++) {
		struct dest *t = e->dests[k];

		session_free(t->sess);
		dns_result_free(t->dns);
		free(t->rcpt);
		free(t->name);
		free(t);
	}
	free(e->dests);
	if (e->dns != e->d->dns)
		dns_free(e->dns);
	if (e->loop != e->d->loop)
		loop_free(e->loop);
	free(e->attempted);
}
