/*
 * config_relay.c - the sections that name a next hop: relay (the default
 * smarthost), route "domain" (a fixed host, or mx = true for the
 * domain's MX hosts) and sender_route "address" (a smarthost chosen by
 * envelope sender). All three share one set of keys and one struct.
 */
#include "ac_config.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "address.h"
#include "config_int.h"
#include "secret.h"
#include "util.h"

enum section_kind { SEC_RELAY, SEC_ROUTE, SEC_SENDER_ROUTE };

static const char *section_name(enum section_kind k);
static int validate_section(cfg_t *cfg, cfg_opt_t *opt,
			    enum section_kind kind);
static const char *section_problem(cfg_t *sec, enum section_kind kind);
static const char *pattern_problem(const char *title, enum section_kind k);
static bool mechanisms_known(const char *list);
static bool is_ipv6_literal(const char *s);
static void record_line(int **lines, size_t *n, int line);
static enum status copy_section(cfg_t *sec, enum section_kind kind,
				struct relay_config *r, const char *path,
				int line, mode_t mode, struct err *err);
static void free_section(struct relay_config *r);

cfg_opt_t config_relay_opts[] = {
	CFG_STR("host", NULL, CFGF_NONE),
	CFG_INT("port", 0, CFGF_NODEFAULT),
	CFG_INT_CB("tls", TLS_STARTTLS, CFGF_NODEFAULT, config_parse_tls),
	CFG_STR("user", NULL, CFGF_NONE),
	CFG_STR("password", NULL, CFGF_NONE),
	CFG_STR("password_file", NULL, CFGF_NONE),
	CFG_STR("ca_file", NULL, CFGF_NONE),
	CFG_STR("ca_path", NULL, CFGF_NONE),
	CFG_BOOL("verify", cfg_true, CFGF_NONE),
	CFG_BOOL("allow_plaintext_auth", cfg_false, CFGF_NONE),
	CFG_STR("auth_mechanisms", NULL, CFGF_NONE),
	CFG_BOOL("mx", cfg_false, CFGF_NONE),
	CFG_STR("sender_rewrite", NULL, CFGF_NONE),
	CFG_END()
};

static const char *section_name(enum section_kind k)
{
	return k == SEC_RELAY ? "relay" : k == SEC_ROUTE ? "route"
							 : "sender_route";
}

int config_validate_relay(cfg_t *cfg, cfg_opt_t *opt)
{
	return validate_section(cfg, opt, SEC_RELAY);
}

int config_validate_route(cfg_t *cfg, cfg_opt_t *opt)
{
	return validate_section(cfg, opt, SEC_ROUTE);
}

int config_validate_sender_route(cfg_t *cfg, cfg_opt_t *opt)
{
	return validate_section(cfg, opt, SEC_SENDER_ROUTE);
}

/* Runs when a section closes (cfg is the root): checks the newest one. */
static int validate_section(cfg_t *cfg, cfg_opt_t *opt,
			    enum section_kind kind)
{
	struct parse_ctx *ctx = config_current_ctx;
	const char *path = ctx ? ctx->path : "?";
	unsigned n = cfg_opt_size(opt);
	cfg_t *sec = cfg_opt_getnsec(opt, n - 1);
	const char *problem;

	if (kind == SEC_RELAY && n > 1) {
		config_fail(path, cfg->line,
			    "relay: only one relay section is allowed");
		return -1;
	}
	problem = kind == SEC_RELAY ? NULL
				    : pattern_problem(cfg_title(sec), kind);
	if (problem == NULL)
		problem = section_problem(sec, kind);
	if (problem) {
		if (kind == SEC_RELAY)
			config_fail(path, cfg->line, "relay: %s", problem);
		else
			config_fail(path, cfg->line, "%s \"%s\": %s",
				    section_name(kind), cfg_title(sec),
				    problem);
		return -1;
	}
	if (ctx == NULL)
		return 0;
	if (kind == SEC_RELAY)
		ctx->relay_line = cfg->line;
	else if (kind == SEC_ROUTE)
		record_line(&ctx->route_lines, &ctx->nroute_lines, cfg->line);
	else
		record_line(&ctx->sender_route_lines,
			    &ctx->nsender_route_lines, cfg->line);
	return 0;
}

static void record_line(int **lines, size_t *n, int line)
{
	*lines = xreallocarray(*lines, *n + 1, sizeof **lines);
	(*lines)[(*n)++] = line;
}

/* route: "example.net" or "*.example.net"; sender_route:
 * "user@example.org" or "@example.org". */
static const char *pattern_problem(const char *title, enum section_kind k)
{
	const char *domain = title;

	if (title == NULL || *title == '\0' || has_control_chars(title) ||
	    strpbrk(title, " \t<>") != NULL)
		return "the title must be a domain (route) or an address "
		       "(sender_route), without spaces";
	if (k == SEC_ROUTE) {
		if (strncmp(domain, "*.", 2) == 0)
			domain += 2;
		if (strchr(domain, '@') || strchr(domain, '*') ||
		    *domain == '\0')
			return "the title must be \"example.net\" or "
			       "\"*.example.net\"";
		return NULL;
	}
	domain = strrchr(title, '@');
	if (domain == NULL || domain[1] == '\0')
		return "the title must be \"user@example.org\" or "
		       "\"@example.org\"";
	return NULL;
}

/* Checks that need only the section's own values; NULL when fine. */
static const char *section_problem(cfg_t *sec, enum section_kind kind)
{
	const char *host = cfg_getstr(sec, "host");
	const char *user = cfg_getstr(sec, "user");
	const char *pass = cfg_getstr(sec, "password");
	const char *pfile = cfg_getstr(sec, "password_file");
	const char *mechs = cfg_getstr(sec, "auth_mechanisms");
	bool mx = cfg_getbool(sec, "mx") == cfg_true;

	const char *rewrite = cfg_getstr(sec, "sender_rewrite");

	if (rewrite && (has_control_chars(rewrite) ||
			strchr(rewrite, '@') == NULL ||
			!address_valid_mailbox(rewrite, 0)))
		return "sender_rewrite must be an address like "
		       "noreply@example.org";
	if (mx && kind != SEC_ROUTE)
		return "mx = true belongs in a route section";
	if (mx) {
		if (host != NULL)
			return "host and mx = true exclude each other";
		if (user || pass || pfile)
			return "AUTH (user, password) is for a fixed host, "
			       "not for mx = true";
		return NULL;
	}
	if (host == NULL || *host == '\0')
		return kind == SEC_ROUTE ? "host (or mx = true) is required"
					 : "host is required";
	if (!config_valid_hostname(host))
		return "host must be a host name without spaces or "
		       "control characters";
	/* "smtp.example.org:587" would fail as a name that does not
	 * resolve: a temporary failure, retried forever. Say it now. */
	if (strchr(host, ':') != NULL && !is_ipv6_literal(host))
		return "host must not carry a port: use port = N";
	if (pass && pfile)
		return "password and password_file exclude each other";
	if (user && !pass && !pfile)
		return "user is set but neither password nor password_file";
	if (!user && (pass || pfile))
		return "password given without user";
	if (user && (*user == '\0' || has_control_chars(user)))
		return "user must not be empty or contain control characters";
	if (pass && (*pass == '\0' || strpbrk(pass, "\r\n")))
		return "password must not be empty or contain a line break";
	if (mechs && !mechanisms_known(mechs))
		return "auth_mechanisms may list only CRAM-MD5, PLAIN and LOGIN";
	return NULL;
}

static bool mechanisms_known(const char *list)
{
	static const char *const known[] = { "CRAM-MD5", "PLAIN", "LOGIN" };
	char *copy = xstrdup(list), *save = NULL, *tok;
	bool ok = true, any = false;
	size_t k;

	for (tok = strtok_r(copy, " \t,", &save); tok && ok;
	     tok = strtok_r(NULL, " \t,", &save)) {
		any = true;
		ok = false;
		for (k = 0; k < sizeof known / sizeof known[0]; k++)
			if (ascii_strcasecmp(tok, known[k]) == 0)
				ok = true;
	}
	free(copy);
	return ok && any;
}

static bool is_ipv6_literal(const char *s)
{
	struct in6_addr a;

	return inet_pton(AF_INET6, s, &a) == 1;
}

enum status config_copy_relays(cfg_t *cfg, struct config *c,
			       const struct parse_ctx *ctx, mode_t mode,
			       struct err *err)
{
	const char *path = ctx->path ? ctx->path : "(defaults)";
	unsigned n;
	enum status st;

	if (cfg_size(cfg, "relay") > 0) {
		c->relay = xcalloc(1, sizeof *c->relay);
		st = copy_section(cfg_getsec(cfg, "relay"), SEC_RELAY,
				  c->relay, path, ctx->relay_line, mode, err);
		if (st != ST_OK)
			return st;
	}
	n = cfg_size(cfg, "route");
	c->routes = xcalloc(n ? n : 1, sizeof *c->routes);
	for (unsigned k = 0; k < n; k++) {
		c->nroutes = k + 1;
		st = copy_section(cfg_getnsec(cfg, "route", k), SEC_ROUTE,
				  &c->routes[k], path,
				  k < ctx->nroute_lines ? ctx->route_lines[k]
							: 0,
				  mode, err);
		if (st != ST_OK)
			return st;
	}
	n = cfg_size(cfg, "sender_route");
	c->sender_routes = xcalloc(n ? n : 1, sizeof *c->sender_routes);
	for (unsigned k = 0; k < n; k++) {
		c->nsender_routes = k + 1;
		st = copy_section(cfg_getnsec(cfg, "sender_route", k),
				  SEC_SENDER_ROUTE, &c->sender_routes[k], path,
				  k < ctx->nsender_route_lines
					  ? ctx->sender_route_lines[k]
					  : 0,
				  mode, err);
		if (st != ST_OK)
			return st;
	}
	return ST_OK;
}

static enum status copy_section(cfg_t *sec, enum section_kind kind,
				struct relay_config *r, const char *path,
				int line, mode_t mode, struct err *err)
{
	const char *pass = cfg_getstr(sec, "password");
	const char *pfile = cfg_getstr(sec, "password_file");
	char *where = xasprintf("%s:%d", path, line);
	enum status st = ST_OK;

	r->pattern = kind == SEC_RELAY ? NULL : xstrdup(cfg_title(sec));
	r->mx = cfg_getbool(sec, "mx") == cfg_true;
	r->host = config_dup_or_null(cfg_getstr(sec, "host"));
	/* A route's fixed host speaks port 25 plain-or-STARTTLS like any
	 * MX unless told otherwise; relays default to submission. */
	if (cfg_size(sec, "tls") > 0)
		r->tls = (enum tls_mode)cfg_getint(sec, "tls");
	else
		r->tls = kind == SEC_ROUTE ? TLS_OPPORTUNISTIC : TLS_STARTTLS;
	if (cfg_size(sec, "port") > 0)
		r->port = (int)cfg_getint(sec, "port");
	else if (kind == SEC_ROUTE && r->tls != TLS_IMPLICIT)
		r->port = 25;
	else
		r->port = r->tls == TLS_IMPLICIT ? 465 : 587; /* RFC 8314 */
	r->user = config_dup_or_null(cfg_getstr(sec, "user"));
	r->ca_file = config_dup_or_null(cfg_getstr(sec, "ca_file"));
	r->ca_path = config_dup_or_null(cfg_getstr(sec, "ca_path"));
	r->verify = cfg_getbool(sec, "verify") == cfg_true;
	r->allow_plaintext_auth =
		cfg_getbool(sec, "allow_plaintext_auth") == cfg_true;
	r->auth_mechanisms =
		config_dup_or_null(cfg_getstr(sec, "auth_mechanisms"));
	r->sender_rewrite =
		config_dup_or_null(cfg_getstr(sec, "sender_rewrite"));
	if (pass && (mode & S_IROTH)) {
		err_set(err, "%s: inline password in a file that is readable "
			"by others (mode %04o); chmod o-rwx %s", where,
			(unsigned)(mode & 07777), path);
		st = ST_PERMFAIL;
	} else if (pass) {
		r->password = xstrdup(pass);
	} else if (pfile) {
		st = secret_read_password_file(pfile, &r->password, where,
					       err);
	}
	free(where);
	return st;
}

static void free_section(struct relay_config *r)
{
	free(r->pattern);
	free(r->host);
	free(r->user);
	if (r->password) {
		explicit_bzero(r->password, strlen(r->password));
		free(r->password);
	}
	free(r->ca_file);
	free(r->ca_path);
	free(r->auth_mechanisms);
	free(r->sender_rewrite);
}

void config_free_relays(struct config *c)
{
	if (c->relay) {
		free_section(c->relay);
		free(c->relay);
	}
	for (size_t k = 0; k < c->nroutes; k++)
		free_section(&c->routes[k]);
	free(c->routes);
	for (size_t k = 0; k < c->nsender_routes; k++)
		free_section(&c->sender_routes[k]);
	free(c->sender_routes);
}

/* libconfuse frees its strings without clearing them. */
void config_wipe_passwords(cfg_t *cfg)
{
	static const char *const kinds[] = { "relay", "route",
					     "sender_route" };

	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		unsigned n = cfg_size(cfg, kinds[i]);

		for (unsigned k = 0; k < n; k++) {
			char *pass = cfg_getstr(cfg_getnsec(cfg, kinds[i], k),
						"password");

			if (pass)
				explicit_bzero(pass, strlen(pass));
		}
	}
}
