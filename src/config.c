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

#include "conf_escape.h"
#include "config.h"
#include "secret.h"
#include "util.h"

#define HOSTNAME_MAX 255                /* RFC 1035 2.3.4 */
/* Seconds become int milliseconds (net.c, smtp.c); more would overflow. */
#define SECONDS_MAX (INT_MAX / 1000)

extern char **environ;

/* What the libconfuse callbacks need; they get no user pointer. */
struct parse_ctx {
	const char *path;
	struct err *err;
	bool failed;
	int relay_line;  /* line where the relay section ends, for later errors */
};

static struct parse_ctx *current_ctx;

static void free_relay(struct relay_config *r);
static cfg_t *new_cfg(void);
static void on_cfg_error(cfg_t *cfg, const char *fmt, va_list ap);
static void ctx_fail(const char *path, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int parse_tls(cfg_t *cfg, cfg_opt_t *opt, const char *value,
		     void *result);
static long last_int(cfg_opt_t *opt);
static int validate_range(cfg_t *cfg, cfg_opt_t *opt, long min, long max);
static int validate_nonneg(cfg_t *cfg, cfg_opt_t *opt);
static int validate_seconds(cfg_t *cfg, cfg_opt_t *opt);
static int validate_positive_seconds(cfg_t *cfg, cfg_opt_t *opt);
static int validate_port(cfg_t *cfg, cfg_opt_t *opt);
static int validate_hostname(cfg_t *cfg, cfg_opt_t *opt);
static int validate_path(cfg_t *cfg, cfg_opt_t *opt);
static int validate_relay(cfg_t *cfg, cfg_opt_t *opt);
static const char *relay_problem(cfg_t *sec);
static bool mechanisms_known(const char *list);
static bool valid_hostname(const char *s);
static bool is_ipv6_literal(const char *s);
static enum status copy_out(cfg_t *cfg, struct config *c,
			    const struct parse_ctx *ctx, mode_t mode,
			    struct err *err);
static enum status check_strings(const struct config *c, const char *path,
				 struct err *err);
static enum status copy_relay(cfg_t *sec, struct relay_config *r,
			      const struct parse_ctx *ctx, mode_t mode,
			      struct err *err);
static char *dup_or_null(const char *s);
static char *default_hostname(void);
static void wipe_cfg_password(cfg_t *cfg);

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
		current_ctx = &ctx;
		/* Belt and braces: should the rewrite ever miss a form the
		 * lexer expands, it finds no caller's variable to expand. */
		saved_env = environ;
		environ = empty_env;
		rc = cfg_parse_buf(cfg, safe.data);
		environ = saved_env;
		current_ctx = NULL;
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
		wipe_cfg_password(cfg);
		cfg_free(cfg);
	}
	/* Both buffers may hold an inline password. */
	if (text.data)
		explicit_bzero(text.data, text.cap);
	if (safe.data)
		explicit_bzero(safe.data, safe.cap);
	buf_free(&text);
	buf_free(&safe);
	if (st != ST_OK) {
		config_free(c);
		c = NULL;
	}
	*out = c;
	return st;
}

static void free_relay(struct relay_config *r)
{
	if (r == NULL)
		return;
	free(r->host);
	free(r->user);
	if (r->password) {
		explicit_bzero(r->password, strlen(r->password));
		free(r->password);
	}
	free(r->ca_file);
	free(r->ca_path);
	free(r->auth_mechanisms);
	free(r);
}

void config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->hostname);
	free_relay(cfg->relay);
	free(cfg->log_file);
	free(cfg->temp_dir);
	free(cfg);
}


static cfg_t *new_cfg(void)
{
	static cfg_opt_t relay_opts[] = {
		CFG_STR("host", NULL, CFGF_NONE),
		CFG_INT("port", 0, CFGF_NODEFAULT),
		CFG_INT_CB("tls", TLS_STARTTLS, CFGF_NONE, parse_tls),
		CFG_STR("user", NULL, CFGF_NONE),
		CFG_STR("password", NULL, CFGF_NONE),
		CFG_STR("password_file", NULL, CFGF_NONE),
		CFG_STR("ca_file", NULL, CFGF_NONE),
		CFG_STR("ca_path", NULL, CFGF_NONE),
		CFG_BOOL("verify", cfg_true, CFGF_NONE),
		CFG_BOOL("allow_plaintext_auth", cfg_false, CFGF_NONE),
		CFG_STR("auth_mechanisms", NULL, CFGF_NONE),
		CFG_END()
	};
	static cfg_opt_t opts[] = {
		CFG_STR("hostname", NULL, CFGF_NONE),
		CFG_INT("timeout", 0, CFGF_NONE),
		CFG_INT("connect_timeout", 0, CFGF_NONE),
		CFG_STR("log_file", NULL, CFGF_NONE),
		CFG_BOOL("syslog", cfg_true, CFGF_NONE),
		CFG_INT("max_message_size", 0, CFGF_NONE),
		CFG_STR("temp_dir", "/tmp", CFGF_NONE),
		/* MULTI only so that a second relay section can be refused:
		 * without it libconfuse silently merges the two. */
		CFG_SEC("relay", relay_opts, CFGF_MULTI),
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
	cfg_set_validate_func(cfg, "relay|port", validate_port);
	cfg_set_validate_func(cfg, "hostname", validate_hostname);
	cfg_set_validate_func(cfg, "log_file", validate_path);
	cfg_set_validate_func(cfg, "temp_dir", validate_path);
	cfg_set_validate_func(cfg, "relay", validate_relay);
	return cfg;
}

/* Keeps the first message: later ones are usually consequences of it. */
static void on_cfg_error(cfg_t *cfg, const char *fmt, va_list ap)
{
	struct parse_ctx *ctx = current_ctx;
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

static void ctx_fail(const char *path, int line, const char *fmt, ...)
{
	struct parse_ctx *ctx = current_ctx;
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

static int parse_tls(cfg_t *cfg, cfg_opt_t *opt, const char *value,
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

static int validate_port(cfg_t *cfg, cfg_opt_t *opt)
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
	if (!valid_hostname(cfg_opt_getnstr(opt, 0))) {
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

/* Runs when a relay section closes; cfg is the root. */
static int validate_relay(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *problem;
	const char *path = current_ctx ? current_ctx->path : "?";

	if (cfg_opt_size(opt) > 1) {
		ctx_fail(path, cfg->line, "relay: only one relay section "
			 "is allowed");
		return -1;
	}
	problem = relay_problem(cfg_opt_getnsec(opt, 0));
	if (problem) {
		ctx_fail(path, cfg->line, "relay: %s", problem);
		return -1;
	}
	if (current_ctx)
		current_ctx->relay_line = cfg->line;
	return 0;
}

/* Checks that need only the section's own values; NULL when fine. */
static const char *relay_problem(cfg_t *sec)
{
	const char *host = cfg_getstr(sec, "host");
	const char *user = cfg_getstr(sec, "user");
	const char *pass = cfg_getstr(sec, "password");
	const char *pfile = cfg_getstr(sec, "password_file");
	const char *mechs = cfg_getstr(sec, "auth_mechanisms");

	if (host == NULL || *host == '\0')
		return "host is required";
	if (!valid_hostname(host))
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

/* A name fit for EHLO and Message-ID: no spaces or controls, bounded. */
static bool is_ipv6_literal(const char *s)
{
	struct in6_addr a;

	return inet_pton(AF_INET6, s, &a) == 1;
}

static bool valid_hostname(const char *s)
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
	c->log_file = dup_or_null(cfg_getstr(cfg, "log_file"));
	c->syslog = cfg_getbool(cfg, "syslog") == cfg_true;
	c->max_message_size = cfg_getint(cfg, "max_message_size");
	c->temp_dir = dup_or_null(cfg_getstr(cfg, "temp_dir"));
	st = check_strings(c, ctx->path ? ctx->path : "(defaults)", err);
	if (st != ST_OK || cfg_size(cfg, "relay") == 0)
		return st;
	c->relay = xcalloc(1, sizeof *c->relay);
	return copy_relay(cfg_getsec(cfg, "relay"), c->relay, ctx, mode, err);
}

static enum status check_strings(const struct config *c, const char *path,
				 struct err *err)
{
	if (!valid_hostname(c->hostname)) {
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

static enum status copy_relay(cfg_t *sec, struct relay_config *r,
			      const struct parse_ctx *ctx, mode_t mode,
			      struct err *err)
{
	const char *pass = cfg_getstr(sec, "password");
	const char *pfile = cfg_getstr(sec, "password_file");
	char *where = xasprintf("%s:%d", ctx->path, ctx->relay_line);
	enum status st = ST_OK;

	r->host = xstrdup(cfg_getstr(sec, "host"));
	r->tls = (enum tls_mode)cfg_getint(sec, "tls");
	if (cfg_size(sec, "port") > 0)
		r->port = (int)cfg_getint(sec, "port");
	else
		r->port = r->tls == TLS_IMPLICIT ? 465 : 587; /* RFC 8314 */
	r->user = dup_or_null(cfg_getstr(sec, "user"));
	r->ca_file = dup_or_null(cfg_getstr(sec, "ca_file"));
	r->ca_path = dup_or_null(cfg_getstr(sec, "ca_path"));
	r->verify = cfg_getbool(sec, "verify") == cfg_true;
	r->allow_plaintext_auth =
		cfg_getbool(sec, "allow_plaintext_auth") == cfg_true;
	r->auth_mechanisms = dup_or_null(cfg_getstr(sec, "auth_mechanisms"));
	if (pass && (mode & S_IROTH)) {
		err_set(err, "%s: inline password in a file that is readable "
			"by others (mode %04o); chmod o-rwx %s", where,
			(unsigned)(mode & 07777), ctx->path);
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


static char *dup_or_null(const char *s)
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
	    res->ai_canonname && valid_hostname(res->ai_canonname))
		fqdn = xstrdup(res->ai_canonname);
	if (res)
		freeaddrinfo(res);
	return fqdn ? fqdn : xstrdup(name);
}

/* libconfuse frees its strings without clearing them. */
static void wipe_cfg_password(cfg_t *cfg)
{
	unsigned int k, n = cfg_size(cfg, "relay");
	char *pass;

	for (k = 0; k < n; k++) {
		pass = cfg_getstr(cfg_getnsec(cfg, "relay", k), "password");
		if (pass)
			explicit_bzero(pass, strlen(pass));
	}
}
