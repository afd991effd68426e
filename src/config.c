/*
 * config.c - the configuration file, the only user of <confuse.h>.
 *
 * The file is read into memory once, through one descriptor, so that the
 * permission check (an inline password needs a private file) applies to
 * exactly the bytes that are parsed (secret.c). Before libconfuse sees the
 * text, every "${" that its lexer would expand is rewritten into a form it
 * takes literally (conf_escape.c): sendmx may run with privilege and
 * inherits its caller's environment, and libconfuse 3.3 has no flag to
 * turn the expansion off. Values are copied out and the cfg_t freed.
 */
#include "ac_config.h"

#include <arpa/inet.h>
#include <confuse.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "address.h"
#include "conf_escape.h"
#include "config_int.h"
#include "secret.h"
#include "util.h"

/* Seconds become int milliseconds (session.c, smtp.c); more would overflow. */
#define SECONDS_MAX (INT_MAX / 1000)

struct parse_ctx *config_current_ctx;

extern char **environ;

static cfg_t *new_cfg(void);
static void on_cfg_error(cfg_t *cfg, const char *fmt, va_list ap);
static long last_int(cfg_opt_t *opt);
static int validate_range(cfg_t *cfg, cfg_opt_t *opt, long min, long max);
static int validate_nonneg(cfg_t *cfg, cfg_opt_t *opt);
static int validate_seconds(cfg_t *cfg, cfg_opt_t *opt);
static int validate_positive_seconds(cfg_t *cfg, cfg_opt_t *opt);
static int validate_hostname(cfg_t *cfg, cfg_opt_t *opt);
static int validate_path(cfg_t *cfg, cfg_opt_t *opt);
static enum status copy_out(cfg_t *cfg, struct config *c,
			    const struct parse_ctx *ctx, mode_t mode,
			    struct err *err);
static enum status check_strings(const struct config *c, const char *path,
				 struct err *err);
static char *default_hostname(void);
static int parse_mx_tls(cfg_t *cfg, cfg_opt_t *opt, const char *value,
			void *result);
static int parse_ip_version(cfg_t *cfg, cfg_opt_t *opt, const char *value,
			    void *result);
static int parse_delivery_mode(cfg_t *cfg, cfg_opt_t *opt,
			       const char *value, void *result);
static int parse_duration_opt(cfg_t *cfg, cfg_opt_t *opt, const char *value,
			      void *result);
static int validate_positive(cfg_t *cfg, cfg_opt_t *opt);
static int validate_dns_servers(cfg_t *cfg, cfg_opt_t *opt);
static int validate_domain_list(cfg_t *cfg, cfg_opt_t *opt);
static int validate_postmaster(cfg_t *cfg, cfg_opt_t *opt);
static int validate_intervals(cfg_t *cfg, cfg_opt_t *opt);
static void copy_delivery(cfg_t *cfg, struct config *c);
static void copy_local(cfg_t *cfg, struct config *c);
static int parse_local_delivery(cfg_t *cfg, cfg_opt_t *opt,
				const char *value, void *result);

const char *config_default_path(void)
{
	return SYSCONFDIR "/sendmx.conf";
}

enum status config_load(const char *path, struct config **out,
			struct err *err)
{
	struct parse_ctx ctx = { 0 };
	struct buf text, safe;
	struct config *c = xcalloc(1, sizeof *c);
	bool explicit_path = path != NULL;
	bool missing = false;
	enum status st;
	cfg_t *cfg = NULL;
	char **saved_env;
	static char *empty_env[] = { NULL };
	mode_t mode = 0;
	int rc;

	buf_init(&text);
	buf_init(&safe);
	if (path == NULL)
		path = config_default_path();
	st = secret_read_config(path, explicit_path, &text, &mode, &missing,
				err);
	if (st != ST_OK)
		goto out;
	cfg = new_cfg();
	if (!missing) {
		c->path = xstrdup(path);
		st = conf_escape_env(path, text.data, text.len, &safe, err);
		if (st != ST_OK)
			goto out;
		ctx.path = path;
		ctx.err = err;
		config_current_ctx = &ctx;
		/* Belt and braces: should the rewrite ever miss a form the
		 * lexer expands, it finds no caller's variable to expand. */
		saved_env = environ;
		environ = empty_env;
		rc = cfg_parse_buf(cfg, safe.data);
		environ = saved_env;
		config_current_ctx = NULL;
		if (rc != CFG_SUCCESS || ctx.failed) {
			if (!ctx.failed)
				err_set(err, "%s: cannot parse", path);
			st = ST_PERMFAIL;
			goto out;
		}
	}
	st = copy_out(cfg, c, &ctx, mode, err);
out:
	if (cfg) {
		config_wipe_passwords(cfg);
		cfg_free(cfg);
	}
	/* Both buffers may hold an inline password. */
	if (text.data)
		explicit_bzero(text.data, text.cap);
	if (safe.data)
		explicit_bzero(safe.data, safe.cap);
	buf_free(&text);
	buf_free(&safe);
	free(ctx.route_lines);
	free(ctx.sender_route_lines);
	if (st != ST_OK) {
		config_free(c);
		c = NULL;
	}
	*out = c;
	return st;
}

void config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->hostname);
	config_free_relays(cfg);
	free(cfg->log_file);
	free(cfg->temp_dir);
	free(cfg->dns_servers);
	free(cfg->queue_dir);
	free(cfg->retry_intervals);
	free(cfg->postmaster);
	free(cfg->aliases);
	for (size_t k = 0; cfg->local_domains && cfg->local_domains[k]; k++)
		free(cfg->local_domains[k]);
	free(cfg->local_domains);
	free(cfg->mail_spool);
	free(cfg->alias_user);
	free(cfg->masquerade_domain);
	free(cfg->sender_map);
	free(cfg);
}


static cfg_t *new_cfg(void)
{
	static cfg_opt_t opts[] = {
		CFG_STR("hostname", NULL, CFGF_NONE),
		CFG_INT("timeout", 0, CFGF_NONE),
		CFG_INT("connect_timeout", 0, CFGF_NONE),
		CFG_STR("log_file", NULL, CFGF_NONE),
		CFG_BOOL("syslog", cfg_true, CFGF_NONE),
		CFG_INT("max_message_size", 0, CFGF_NONE),
		CFG_STR("temp_dir", "/tmp", CFGF_NONE),
		CFG_STR("dns_servers", NULL, CFGF_NONE),
		CFG_INT("dns_timeout", 10, CFGF_NONE),
		CFG_INT("mx_port", 25, CFGF_NONE),
		CFG_INT_CB("ip_version", IP_ANY, CFGF_NONE, parse_ip_version),
		CFG_INT_CB("mx_tls", MX_TLS_OPPORTUNISTIC, CFGF_NONE,
			   parse_mx_tls),
		CFG_BOOL("allow_loopback_mx", cfg_false, CFGF_NONE),
		CFG_INT("max_connections", 8, CFGF_NONE),
		CFG_INT("max_rcpt_per_transaction", 100, CFGF_NONE),
		CFG_STR("queue_dir", LOCALSTATEDIR "/spool/sendmx", CFGF_NONE),
		CFG_INT_CB("delivery_mode", DELIVER_INTERACTIVE, CFGF_NONE,
			   parse_delivery_mode),
		CFG_INT_CB("submit_timeout", 30, CFGF_NONE,
			   parse_duration_opt),
		CFG_INT_LIST_CB("retry_intervals", "{5m, 10m, 20m, 40m, 1h}",
				CFGF_NONE, parse_duration_opt),
		CFG_INT_CB("queue_lifetime", 5 * 86400, CFGF_NONE,
			   parse_duration_opt),
		CFG_STR("postmaster", NULL, CFGF_NONE),
		CFG_STR("aliases", "/etc/aliases", CFGF_NONE),
		CFG_STR_LIST("local_domains", "{}", CFGF_NONE),
		CFG_INT_CB("local_delivery", LOCAL_MBOX, CFGF_NONE,
			   parse_local_delivery),
		CFG_STR("mail_spool", "/var/mail", CFGF_NONE),
		CFG_BOOL("allow_pipe_aliases", cfg_false, CFGF_NONE),
		CFG_BOOL("allow_file_aliases", cfg_false, CFGF_NONE),
		CFG_STR("alias_user", "nobody", CFGF_NONE),
		CFG_STR("masquerade_domain", NULL, CFGF_NONE),
		CFG_STR("sender_map", NULL, CFGF_NONE),
		/* MULTI only so that a second relay section can be refused:
		 * without it libconfuse silently merges the two. */
		CFG_SEC("relay", config_relay_opts, CFGF_MULTI),
		/* A title given twice would silently merge the sections. */
		CFG_SEC("route", config_relay_opts,
			CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
		CFG_SEC("sender_route", config_relay_opts,
			CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
		CFG_END()
	};
	cfg_t *cfg = cfg_init(opts, CFGF_NONE);

	if (cfg == NULL) {
		fputs("sendmx: out of memory\n", stderr);
		abort();
	}
	/* Set before parsing, so that errors carry file:line. */
	cfg_set_error_function(cfg, on_cfg_error);
	cfg_set_validate_func(cfg, "timeout", validate_seconds);
	cfg_set_validate_func(cfg, "max_message_size", validate_nonneg);
	cfg_set_validate_func(cfg, "connect_timeout", validate_positive_seconds);
	cfg_set_validate_func(cfg, "relay|port", config_validate_port);
	cfg_set_validate_func(cfg, "route|port", config_validate_port);
	cfg_set_validate_func(cfg, "sender_route|port", config_validate_port);
	cfg_set_validate_func(cfg, "mx_port", config_validate_port);
	cfg_set_validate_func(cfg, "dns_timeout", validate_positive_seconds);
	cfg_set_validate_func(cfg, "max_connections", validate_positive);
	cfg_set_validate_func(cfg, "max_rcpt_per_transaction",
			      validate_positive);
	cfg_set_validate_func(cfg, "retry_intervals", validate_intervals);
	cfg_set_validate_func(cfg, "queue_lifetime", validate_positive);
	cfg_set_validate_func(cfg, "submit_timeout", validate_positive_seconds);
	cfg_set_validate_func(cfg, "queue_dir", validate_path);
	cfg_set_validate_func(cfg, "dns_servers", validate_dns_servers);
	cfg_set_validate_func(cfg, "local_domains", validate_domain_list);
	cfg_set_validate_func(cfg, "postmaster", validate_postmaster);
	cfg_set_validate_func(cfg, "aliases", validate_path);
	cfg_set_validate_func(cfg, "mail_spool", validate_path);
	cfg_set_validate_func(cfg, "sender_map", validate_path);
	cfg_set_validate_func(cfg, "masquerade_domain", validate_hostname);
	cfg_set_validate_func(cfg, "hostname", validate_hostname);
	cfg_set_validate_func(cfg, "log_file", validate_path);
	cfg_set_validate_func(cfg, "temp_dir", validate_path);
	cfg_set_validate_func(cfg, "relay", config_validate_relay);
	cfg_set_validate_func(cfg, "route", config_validate_route);
	cfg_set_validate_func(cfg, "sender_route",
			      config_validate_sender_route);
	return cfg;
}

/* Keeps the first message: later ones are usually consequences of it. */
static void on_cfg_error(cfg_t *cfg, const char *fmt, va_list ap)
{
	struct parse_ctx *ctx = config_current_ctx;
	char msg[512];

	if (ctx == NULL || ctx->failed)
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (cfg && cfg->name && strcmp(cfg->name, "root") != 0)
		err_set(ctx->err, "%s:%d: %s: %s", ctx->path, cfg->line,
			cfg->name, msg);
	else
		err_set(ctx->err, "%s:%d: %s", ctx->path, cfg ? cfg->line : 0,
			msg);
	ctx->failed = true;
}

void config_fail(const char *path, int line, const char *fmt, ...)
{
	struct parse_ctx *ctx = config_current_ctx;
	char msg[512];
	va_list ap;

	if (ctx == NULL || ctx->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	err_set(ctx->err, "%s:%d: %s", path, line, msg);
	ctx->failed = true;
}

int config_parse_tls(cfg_t *cfg, cfg_opt_t *opt, const char *value,
		     void *result)
{
	long *mode = result;

	(void)opt;
	if (ascii_strcasecmp(value, "none") == 0)
		*mode = TLS_NONE;
	else if (ascii_strcasecmp(value, "starttls") == 0)
		*mode = TLS_STARTTLS;
	else if (ascii_strcasecmp(value, "tls") == 0)
		*mode = TLS_IMPLICIT;
	else {
		cfg_error(cfg, "tls must be none, starttls or tls");
		return -1;
	}
	return 0;
}

static long last_int(cfg_opt_t *opt)
{
	return cfg_opt_getnint(opt, cfg_opt_size(opt) - 1);
}

static int validate_range(cfg_t *cfg, cfg_opt_t *opt, long min, long max)
{
	long v = last_int(opt);

	if (v < min || v > max) {
		cfg_error(cfg, "%s must be between %ld and %ld",
			  cfg_opt_name(opt), min, max);
		return -1;
	}
	return 0;
}

static int validate_nonneg(cfg_t *cfg, cfg_opt_t *opt)
{
	return validate_range(cfg, opt, 0, INT_MAX);
}

/* Timeouts become milliseconds in an int: a larger value would wrap
 * around to a negative (no deadline at all) or a tiny timeout. */
static int validate_seconds(cfg_t *cfg, cfg_opt_t *opt)
{
	return validate_range(cfg, opt, 0, SECONDS_MAX);
}

static int validate_positive_seconds(cfg_t *cfg, cfg_opt_t *opt)
{
	return validate_range(cfg, opt, 1, SECONDS_MAX);
}

int config_validate_port(cfg_t *cfg, cfg_opt_t *opt)
{
	long v = last_int(opt);

	if (v < 1 || v > 65535) {
		cfg_error(cfg, "port must be between 1 and 65535");
		return -1;
	}
	return 0;
}

static int validate_hostname(cfg_t *cfg, cfg_opt_t *opt)
{
	if (!config_valid_hostname(cfg_opt_getnstr(opt, 0))) {
		cfg_error(cfg, "hostname must be a host name without spaces "
			  "or control characters");
		return -1;
	}
	return 0;
}

static int validate_path(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v = cfg_opt_getnstr(opt, 0);

	if (v == NULL || *v == '\0' || has_control_chars(v)) {
		cfg_error(cfg, "%s must be a file name without control "
			  "characters", cfg_opt_name(opt));
		return -1;
	}
	return 0;
}

/* A name fit for EHLO and Message-ID: no spaces or controls, bounded. */
bool config_valid_hostname(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > HOSTNAME_MAX || has_control_chars(s))
		return false;
	return strpbrk(s, " \t") == NULL;
}

static enum status copy_out(cfg_t *cfg, struct config *c,
			    const struct parse_ctx *ctx, mode_t mode,
			    struct err *err)
{
	const char *host = cfg_getstr(cfg, "hostname");
	enum status st;

	c->hostname = host ? xstrdup(host) : default_hostname();
	c->timeout = (int)cfg_getint(cfg, "timeout");
	/* Not set: "timeout" covers the connection too, as its documented
	 * meaning says; with neither, 30 s. */
	c->connect_timeout = (int)cfg_getint(cfg, "connect_timeout");
	if (c->connect_timeout == 0)
		c->connect_timeout = c->timeout > 0 ? c->timeout : 30;
	c->log_file = config_dup_or_null(cfg_getstr(cfg, "log_file"));
	c->syslog = cfg_getbool(cfg, "syslog") == cfg_true;
	c->max_message_size = cfg_getint(cfg, "max_message_size");
	c->temp_dir = config_dup_or_null(cfg_getstr(cfg, "temp_dir"));
	copy_delivery(cfg, c);
	copy_local(cfg, c);
	st = check_strings(c, ctx->path ? ctx->path : "(defaults)", err);
	if (st != ST_OK)
		return st;
	return config_copy_relays(cfg, c, ctx, mode, err);
}

static enum status check_strings(const struct config *c, const char *path,
				 struct err *err)
{
	if (!config_valid_hostname(c->hostname)) {
		err_set(err, "%s: hostname must be a host name without "
			"spaces or control characters", path);
		return ST_PERMFAIL;
	}
	if (c->log_file && (*c->log_file == '\0' ||
			    has_control_chars(c->log_file))) {
		err_set(err, "%s: log_file must be a file name", path);
		return ST_PERMFAIL;
	}
	if (c->temp_dir == NULL || *c->temp_dir == '\0' ||
	    has_control_chars(c->temp_dir)) {
		err_set(err, "%s: temp_dir must be a directory name", path);
		return ST_PERMFAIL;
	}
	return ST_OK;
}

char *config_dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* This host's FQDN (the canonical name of gethostname), else its name. */
static char *default_hostname(void)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	char name[HOSTNAME_MAX + 1];
	char *fqdn = NULL;

	if (gethostname(name, sizeof name) < 0 || name[0] == '\0')
		return xstrdup("localhost");
	name[HOSTNAME_MAX] = '\0';
	hints.ai_family = AF_UNSPEC;
	hints.ai_flags = AI_CANONNAME;
	if (getaddrinfo(name, NULL, &hints, &res) == 0 && res &&
	    res->ai_canonname && config_valid_hostname(res->ai_canonname))
		fqdn = xstrdup(res->ai_canonname);
	if (res)
		freeaddrinfo(res);
	return fqdn ? fqdn : xstrdup(name);
}

/* The keys of direct delivery and of the queue. */
static void copy_delivery(cfg_t *cfg, struct config *c)
{
	unsigned n = cfg_size(cfg, "retry_intervals");

	c->dns_servers = config_dup_or_null(cfg_getstr(cfg, "dns_servers"));
	c->dns_timeout = (int)cfg_getint(cfg, "dns_timeout");
	c->mx_port = (int)cfg_getint(cfg, "mx_port");
	c->ip_version = (enum ip_version)cfg_getint(cfg, "ip_version");
	c->mx_tls = (enum mx_tls_mode)cfg_getint(cfg, "mx_tls");
	c->allow_loopback_mx = cfg_getbool(cfg, "allow_loopback_mx") == cfg_true;
	c->max_connections = (int)cfg_getint(cfg, "max_connections");
	c->max_rcpt_per_transaction =
		(int)cfg_getint(cfg, "max_rcpt_per_transaction");
	c->queue_dir = config_dup_or_null(cfg_getstr(cfg, "queue_dir"));
	c->delivery_mode = (enum delivery_mode)cfg_getint(cfg, "delivery_mode");
	c->submit_timeout = (int)cfg_getint(cfg, "submit_timeout");
	c->retry_intervals = xcalloc(n ? n : 1, sizeof *c->retry_intervals);
	for (unsigned k = 0; k < n; k++)
		c->retry_intervals[k] = (int)cfg_getnint(cfg, "retry_intervals", k);
	c->nretry_intervals = n;
	if (n == 0) {   /* an empty list: retry every hour */
		c->retry_intervals[0] = 3600;
		c->nretry_intervals = 1;
	}
	c->queue_lifetime = (int)cfg_getint(cfg, "queue_lifetime");
	c->postmaster = config_dup_or_null(cfg_getstr(cfg, "postmaster"));
}

static int parse_mx_tls(cfg_t *cfg, cfg_opt_t *opt, const char *value,
			void *result)
{
	long *mode = result;

	(void)opt;
	if (ascii_strcasecmp(value, "opportunistic") == 0 ||
	    ascii_strcasecmp(value, "may") == 0)
		*mode = MX_TLS_OPPORTUNISTIC;
	else if (ascii_strcasecmp(value, "required") == 0)
		*mode = MX_TLS_REQUIRED;
	else if (ascii_strcasecmp(value, "none") == 0)
		*mode = MX_TLS_NONE;
	else {
		cfg_error(cfg, "mx_tls must be opportunistic, required or none");
		return -1;
	}
	return 0;
}

static int parse_ip_version(cfg_t *cfg, cfg_opt_t *opt, const char *value,
			    void *result)
{
	long *v = result;

	(void)opt;
	if (ascii_strcasecmp(value, "any") == 0)
		*v = IP_ANY;
	else if (strcmp(value, "4") == 0)
		*v = IP_V4;
	else if (strcmp(value, "6") == 0)
		*v = IP_V6;
	else {
		cfg_error(cfg, "ip_version must be any, 4 or 6");
		return -1;
	}
	return 0;
}

/* The names of sendmail's -od letters, and the letters themselves. */
static int parse_delivery_mode(cfg_t *cfg, cfg_opt_t *opt,
			       const char *value, void *result)
{
	long *v = result;

	(void)opt;
	if (ascii_strcasecmp(value, "interactive") == 0 ||
	    strcmp(value, "i") == 0)
		*v = DELIVER_INTERACTIVE;
	else if (ascii_strcasecmp(value, "background") == 0 ||
		 strcmp(value, "b") == 0)
		*v = DELIVER_BACKGROUND;
	else if (ascii_strcasecmp(value, "queue") == 0 ||
		 strcmp(value, "q") == 0)
		*v = DELIVER_QUEUE;
	else {
		cfg_error(cfg, "delivery_mode must be interactive, background "
			  "or queue");
		return -1;
	}
	return 0;
}

/* "300", "5m", "1h", "5d": seconds. */
static int parse_duration_opt(cfg_t *cfg, cfg_opt_t *opt, const char *value,
			      void *result)
{
	long *v = result;

	if (!parse_duration(value, v)) {
		cfg_error(cfg, "%s: \"%s\" is not a duration (a number of "
			  "seconds, or with s, m, h, d or w)",
			  cfg_opt_name(opt), value);
		return -1;
	}
	return 0;
}

static int validate_positive(cfg_t *cfg, cfg_opt_t *opt)
{
	return validate_range(cfg, opt, 1, INT_MAX);
}

static int validate_intervals(cfg_t *cfg, cfg_opt_t *opt)
{
	for (unsigned k = 0; k < cfg_opt_size(opt); k++)
		if (cfg_opt_getnint(opt, k) < 1) {
			cfg_error(cfg, "retry_intervals must be positive");
			return -1;
		}
	return 0;
}

/* The keys of local recipients (aliases, mailboxes, rewriting). */
static void copy_local(cfg_t *cfg, struct config *c)
{
	unsigned n = cfg_size(cfg, "local_domains");

	c->aliases = config_dup_or_null(cfg_getstr(cfg, "aliases"));
	c->local_domains = xcalloc(n + 1, sizeof *c->local_domains);
	for (unsigned k = 0; k < n; k++)
		c->local_domains[k] =
			xstrdup(cfg_getnstr(cfg, "local_domains", k));
	c->local_delivery =
		(enum local_delivery)cfg_getint(cfg, "local_delivery");
	c->mail_spool = config_dup_or_null(cfg_getstr(cfg, "mail_spool"));
	c->allow_pipe_aliases =
		cfg_getbool(cfg, "allow_pipe_aliases") == cfg_true;
	c->allow_file_aliases =
		cfg_getbool(cfg, "allow_file_aliases") == cfg_true;
	c->alias_user = config_dup_or_null(cfg_getstr(cfg, "alias_user"));
	c->masquerade_domain =
		config_dup_or_null(cfg_getstr(cfg, "masquerade_domain"));
	c->sender_map = config_dup_or_null(cfg_getstr(cfg, "sender_map"));
}

static int parse_local_delivery(cfg_t *cfg, cfg_opt_t *opt,
				const char *value, void *result)
{
	long *v = result;

	(void)opt;
	if (ascii_strcasecmp(value, "mbox") == 0)
		*v = LOCAL_MBOX;
	else if (ascii_strcasecmp(value, "maildir") == 0)
		*v = LOCAL_MAILDIR;
	else if (ascii_strcasecmp(value, "none") == 0)
		*v = LOCAL_NONE;
	else {
		cfg_error(cfg, "local_delivery must be mbox, maildir or none");
		return -1;
	}
	return 0;
}

/* "192.0.2.1", "192.0.2.1:5353", "[2001:db8::1]:53", "2001:db8::1",
 * comma-separated: what c-ares takes, checked here so that a typo is a
 * config error with its line, not a deferral of every message. */
static int validate_dns_servers(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v = cfg_opt_getnstr(opt, 0);
	char *copy = xstrdup(v ? v : ""), *save = NULL, *tok;
	bool ok = v != NULL && *v != '\0';

	for (tok = strtok_r(copy, ", \t", &save); tok && ok;
	     tok = strtok_r(NULL, ", \t", &save)) {
		char *host = tok, *port = NULL, *end;
		unsigned char a[16];

		if (*host == '[') {
			end = strchr(host, ']');
			if (end == NULL) {
				ok = false;
				break;
			}
			*end = '\0';
			host++;
			if (end[1] == ':')
				port = end + 2;
			else if (end[1] != '\0')
				ok = false;
		} else if (strchr(host, ':') == strrchr(host, ':') &&
			   strchr(host, ':') != NULL) {
			port = strchr(host, ':');
			*port++ = '\0';
		}
		if (inet_pton(AF_INET, host, a) != 1 &&
		    inet_pton(AF_INET6, host, a) != 1)
			ok = false;
		if (port) {
			long n = strtol(port, &end, 10);

			if (*port == '\0' || *end != '\0' || n < 1 || n > 65535)
				ok = false;
		}
	}
	free(copy);
	if (!ok) {
		cfg_error(cfg, "dns_servers must list IP addresses, each with "
			  "an optional port: \"127.0.0.1:5353, [::1]:53\"");
		return -1;
	}
	return 0;
}

static int validate_domain_list(cfg_t *cfg, cfg_opt_t *opt)
{
	for (unsigned k = 0; k < cfg_opt_size(opt); k++) {
		const char *d = cfg_opt_getnstr(opt, k);

		if (d == NULL || !config_valid_hostname(d) || strchr(d, '@')) {
			cfg_error(cfg, "%s must list domain names",
				  cfg_opt_name(opt));
			return -1;
		}
	}
	return 0;
}

/* postmaster receives DSNs: an address with a domain, nothing that could
 * end an SMTP command or a header line. */
static int validate_postmaster(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v = cfg_opt_getnstr(opt, 0);

	if (v == NULL || has_control_chars(v) || strchr(v, '@') == NULL ||
	    !address_valid_mailbox(v, 0)) {
		cfg_error(cfg, "postmaster must be an address like "
			  "postmaster@example.org");
		return -1;
	}
	return 0;
}
