/*
 * verify.c - -bv: for each recipient, the way sendmx would deliver it,
 * with what DNS says now; nothing is sent.
 */
#include "ac_config.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "loop.h"
#include "route.h"
#include "util.h"
#include "verify.h"

struct lookup {
	const struct config *cfg;
	const char *rcpt;
	struct next_hop hop;
	struct dns_result *res;
};

static void on_result(void *ctx, struct dns_result *res);
static const char *tls_name(enum tls_mode m);
static void print_hosts(FILE *out, const struct dns_result *r, int port,
			bool mx);
static enum status print_one(FILE *out, const struct lookup *l);

static void on_result(void *ctx, struct dns_result *res)
{
	struct lookup *l = ctx;

	l->res = res;
}

static const char *tls_name(enum tls_mode m)
{
	switch (m) {
	case TLS_NONE:
		return "no TLS";
	case TLS_STARTTLS:
		return "starttls";
	case TLS_IMPLICIT:
		return "implicit TLS";
	case TLS_OPPORTUNISTIC:
		return "starttls if offered";
	}
	return "?";
}

/* One line per host, its addresses in the order they would be tried. */
static void print_hosts(FILE *out, const struct dns_result *r, int port,
			bool mx)
{
	for (size_t h = 0; h < r->nhosts; h++) {
		const struct dns_host *host = &r->hosts[h];

		fprintf(out, "    %s %s:",
			!mx ? "host" : r->implicit_mx ? "A/AAAA" : "MX",
			host->name);
		if (mx && !r->implicit_mx)
			fprintf(out, " preference %d,", host->pref);
		if (host->naddrs == 0)
			fprintf(out, " no addresses (%s)",
				host->error ? host->error : "none");
		for (size_t a = 0; a < host->naddrs; a++)
			fprintf(out, "%s %s port %d", a ? "," : "",
				host->addrs[a].text, port);
		fputc('\n', out);
	}
}

/* Prints one recipient's verdict; ST_OK when it is deliverable now. */
static enum status print_one(FILE *out, const struct lookup *l)
{
	const struct config *cfg = l->cfg;
	const struct relay_config *r = l->hop.relay;

	if (l->hop.kind == HOP_LOCAL) {
		const char *at = strrchr(l->rcpt, '@');
		int n = at ? (int)(at - l->rcpt) : (int)strlen(l->rcpt);
		char *user = xasprintf("%.*s", n, l->rcpt);
		bool known = getpwnam(user) != NULL;

		free(user);
		/* As local delivery would find it (local.c: a permanent
		 * failure). */
		if (!known) {
			fprintf(out, "%s: undeliverable: no such local user: "
				"%.*s\n", l->rcpt, n, l->rcpt);
			return ST_PERMFAIL;
		}

		if (cfg->local_delivery == LOCAL_MAILDIR)
			fprintf(out, "%s: deliverable to the local maildir "
				"~%.*s/Maildir\n", l->rcpt, n, l->rcpt);
		else
			fprintf(out, "%s: deliverable to the local mailbox "
				"%s/%.*s\n", l->rcpt, cfg->mail_spool, n,
				l->rcpt);
		return ST_OK;
	}
	if (l->hop.kind == HOP_NONE) {
		fprintf(out, "%s: undeliverable: %s\n", l->rcpt, l->hop.reason);
		return ST_TEMPFAIL;
	}
	if (l->res == NULL || l->res->status != ST_OK) {
		const char *why = l->res && l->res->error ? l->res->error
							  : "no DNS answer";

		fprintf(out, "%s: undeliverable: %s\n", l->rcpt, why);
		return l->res && l->hop.kind == HOP_MX ? l->res->status
						      : ST_TEMPFAIL;
	}
	if (l->hop.kind == HOP_RELAY) {
		fprintf(out, "%s: deliverable via %s %s:%d (%s%s%s)\n", l->rcpt,
			r->pattern ? "route" : "relay", r->host, r->port,
			tls_name(r->tls), r->user ? ", auth as " : "",
			r->user ? r->user : "");
		print_hosts(out, l->res, r->port, false);
		return ST_OK;
	}
	fprintf(out, "%s: deliverable via %s of %.*s (%s)\n", l->rcpt,
		l->res->implicit_mx ? "the address (no MX record)"
				    : "the MX hosts",
		(int)l->hop.domain_len, l->hop.domain,
		cfg->mx_tls == MX_TLS_NONE	   ? "no TLS"
		: cfg->mx_tls == MX_TLS_REQUIRED ? "TLS required"
						 : "starttls if offered");
	print_hosts(out, l->res, cfg->mx_port, true);
	return ST_OK;
}

enum status verify_recipients(const struct config *cfg, const char *sender,
			      const struct address_list *rcpts, FILE *out,
			      struct err *err)
{
	struct lookup *ls = xcalloc(rcpts->n ? rcpts->n : 1, sizeof *ls);
	struct loop *loop = loop_new();
	struct dns *dns = NULL;
	enum status worst = ST_OK;

	if (dns_new(loop, cfg, &dns, err) != ST_OK) {
		free(ls);
		loop_free(loop);
		return ST_TEMPFAIL;
	}
	for (size_t i = 0; i < rcpts->n; i++) {
		struct lookup *l = &ls[i];

		l->cfg = cfg;
		l->rcpt = rcpts->items[i].mailbox;
		l->hop = route_recipient(cfg, sender, l->rcpt);
		if (l->hop.kind == HOP_RELAY) {
			dns_lookup_host(dns, l->hop.relay->host, on_result, l);
		} else if (l->hop.kind == HOP_MX) {
			char *d = xasprintf("%.*s", (int)l->hop.domain_len,
					    l->hop.domain);

			if (d[0] == '[')   /* an address literal */
				dns_lookup_host(dns, d, on_result, l);
			else
				dns_lookup_mx(dns, d, on_result, l);
			free(d);
		}
	}
	loop_run(loop, -1);
	for (size_t i = 0; i < rcpts->n; i++) {
		enum status st = print_one(out, &ls[i]);

		if (st == ST_TEMPFAIL || (st == ST_PERMFAIL && worst == ST_OK))
			worst = st;
		dns_result_free(ls[i].res);
	}
	dns_free(dns);
	loop_free(loop);
	free(ls);
	return worst;
}
