/* test_config.c - the configuration file: values, defaults, refusals. */
#include "ac_config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

/* By path: a stale ./config.h from an older configure run would shadow it
 * under automake's -I. */
#include "../../src/config.h"
#include "../../src/conf_escape.h"

static char tmpdir[256];  /* short, so that paths built from it fit */

static int make_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "%s/test_config.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	(void)state;
	return rmdir(tmpdir);
}

/* Writes text to tmpdir/name with mode; returns the path (static). */
static const char *write_file(const char *name, const char *text, mode_t mode)
{
	static char paths[4][PATH_MAX];
	static int next;
	char *path = paths[next++ % 4];
	int fd;

	snprintf(path, PATH_MAX, "%s/%s", tmpdir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

static void remove_file(const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	unlink(path);
}

/* Loads text as a config with mode; expects failure, returns err text. */
static void expect_error(const char *text, mode_t mode, const char *needle)
{
	struct config *cfg = (struct config *)1;
	struct err err = { "" };
	const char *path = write_file("bad.conf", text, mode);

	assert_int_equal(config_load(path, &cfg, &err), ST_PERMFAIL);
	assert_null(cfg);
	if (getenv("TEST_CONFIG_SHOW"))
		print_message("%s\n", err.msg);
	if (strstr(err.msg, needle) == NULL)
		fail_msg("error '%s' does not contain '%s'", err.msg, needle);
	remove_file("bad.conf");
}

static struct config *load_ok(const char *text, mode_t mode)
{
	struct config *cfg = NULL;
	struct err err = { "" };
	const char *path = write_file("good.conf", text, mode);

	if (config_load(path, &cfg, &err) != ST_OK)
		fail_msg("config_load: %s", err.msg);
	assert_non_null(cfg);
	assert_string_equal(cfg->path, path);
	remove_file("good.conf");
	return cfg;
}

static void test_full_example(void **state)
{
	const char *secret = write_file("relay.secret", "s3cret pass\r\nline2\n",
					0600);
	char text[2048];
	struct config *cfg;

	(void)state;
	snprintf(text, sizeof text,
		 "# sendmx.conf\n"
		 "hostname = \"web1.example.org\"\n"
		 "timeout = 300\n"
		 "connect_timeout = 12\n"
		 "log_file = \"/var/log/sendmx.log\"\n"
		 "syslog = false\n"
		 "max_message_size = 1048576\n"
		 "temp_dir = \"/var/tmp\"\n"
		 "relay {\n"
		 "  host = \"smtp.example.org\"\n"
		 "  port = 2525\n"
		 "  tls = starttls\n"
		 "  user = \"alice\"\n"
		 "  password_file = \"%s\"\n"
		 "  ca_file = \"/etc/ssl/certs/ca-certificates.crt\"\n"
		 "  ca_path = \"/etc/ssl/certs\"\n"
		 "  verify = false\n"
		 "  allow_plaintext_auth = true\n"
		 "  auth_mechanisms = \"CRAM-MD5 PLAIN LOGIN\"\n"
		 "}\n", secret);
	cfg = load_ok(text, 0644);
	assert_string_equal(cfg->hostname, "web1.example.org");
	assert_int_equal(cfg->timeout, 300);
	assert_int_equal(cfg->connect_timeout, 12);
	assert_string_equal(cfg->log_file, "/var/log/sendmx.log");
	assert_false(cfg->syslog);
	assert_int_equal(cfg->max_message_size, 1048576);
	assert_string_equal(cfg->temp_dir, "/var/tmp");
	assert_non_null(cfg->relay);
	assert_string_equal(cfg->relay->host, "smtp.example.org");
	assert_int_equal(cfg->relay->port, 2525);
	assert_int_equal(cfg->relay->tls, TLS_STARTTLS);
	assert_string_equal(cfg->relay->user, "alice");
	assert_string_equal(cfg->relay->password, "s3cret pass");
	assert_string_equal(cfg->relay->ca_file,
			    "/etc/ssl/certs/ca-certificates.crt");
	assert_string_equal(cfg->relay->ca_path, "/etc/ssl/certs");
	assert_false(cfg->relay->verify);
	assert_true(cfg->relay->allow_plaintext_auth);
	assert_string_equal(cfg->relay->auth_mechanisms, "CRAM-MD5 PLAIN LOGIN");
	config_free(cfg);
	remove_file("relay.secret");
}

static void test_timeout_covers_connect_when_unset(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = load_ok("timeout = 45\n", 0644);
	assert_int_equal(cfg->timeout, 45);
	assert_int_equal(cfg->connect_timeout, 45);
	config_free(cfg);
	cfg = load_ok("timeout = 45\nconnect_timeout = 7\n", 0644);
	assert_int_equal(cfg->connect_timeout, 7);
	config_free(cfg);
	cfg = load_ok("timeout = 2147483\nconnect_timeout = 2147483\n", 0644);
	assert_int_equal(cfg->timeout, 2147483);
	assert_int_equal(cfg->connect_timeout, 2147483);
	config_free(cfg);
}

static void test_defaults_from_empty_file(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = load_ok("# nothing\n", 0644);
	assert_non_null(cfg->hostname);
	assert_true(strlen(cfg->hostname) > 0);
	assert_null(strpbrk(cfg->hostname, " \t\r\n"));
	assert_int_equal(cfg->timeout, 0);
	assert_int_equal(cfg->connect_timeout, 30);
	assert_null(cfg->log_file);
	assert_true(cfg->syslog);
	assert_int_equal(cfg->max_message_size, 0);
	assert_string_equal(cfg->temp_dir, "/tmp");
	assert_null(cfg->relay);
	assert_null(cfg->dns_servers);
	assert_int_equal(cfg->dns_timeout, 10);
	assert_int_equal(cfg->mx_port, 25);
	assert_int_equal(cfg->ip_version, IP_ANY);
	assert_int_equal(cfg->mx_tls, MX_TLS_OPPORTUNISTIC);
	assert_false(cfg->allow_loopback_mx);
	assert_int_equal(cfg->max_connections, 8);
	assert_int_equal(cfg->max_rcpt_per_transaction, 100);
	assert_int_equal(cfg->nroutes, 0);
	assert_int_equal(cfg->nsender_routes, 0);
	assert_non_null(strstr(cfg->queue_dir, "/spool/sendmx"));
	assert_int_equal(cfg->delivery_mode, DELIVER_INTERACTIVE);
	assert_int_equal(cfg->submit_timeout, 30);
	assert_int_equal(cfg->nretry_intervals, 5);
	assert_int_equal(cfg->retry_intervals[0], 300);
	assert_int_equal(cfg->retry_intervals[4], 3600);
	assert_int_equal(cfg->queue_lifetime, 5 * 86400);
	assert_null(cfg->postmaster);
	assert_string_equal(cfg->aliases, "/etc/aliases");
	assert_null(cfg->local_domains[0]);
	assert_int_equal(cfg->local_delivery, LOCAL_MBOX);
	assert_string_equal(cfg->mail_spool, "/var/mail");
	assert_false(cfg->allow_pipe_aliases);
	assert_false(cfg->allow_file_aliases);
	assert_string_equal(cfg->alias_user, "nobody");
	assert_null(cfg->masquerade_domain);
	assert_null(cfg->sender_map);
	config_free(cfg);

	cfg = load_ok("aliases = \"/tmp/a\"\nlocal_domains = {\"a.test\", \"b.test\"}\n"
		      "local_delivery = maildir\nmail_spool = \"/tmp/m\"\n"
		      "allow_pipe_aliases = true\nallow_file_aliases = true\n"
		      "alias_user = \"mail\"\nmasquerade_domain = \"example.org\"\n"
		      "sender_map = \"/tmp/map\"\n"
		      "relay { host = \"r\" sender_rewrite = \"noreply@example.org\" }\n",
		      0644);
	assert_string_equal(cfg->aliases, "/tmp/a");
	assert_string_equal(cfg->local_domains[1], "b.test");
	assert_null(cfg->local_domains[2]);
	assert_int_equal(cfg->local_delivery, LOCAL_MAILDIR);
	assert_true(cfg->allow_pipe_aliases && cfg->allow_file_aliases);
	assert_string_equal(cfg->masquerade_domain, "example.org");
	assert_string_equal(cfg->relay->sender_rewrite, "noreply@example.org");
	config_free(cfg);
	expect_error("local_delivery = pigeon\n", 0644, "local_delivery must be");
}

static void test_delivery_keys(void **state)
{
	struct config *cfg;

	(void)state;
	config_free(load_ok("dns_servers = \"[::1]:53, 127.0.0.1,2001:db8::1\"\n",
			    0644));
	cfg = load_ok("dns_servers = \"127.0.0.1:5353\"\n"
		      "dns_timeout = 3\nmx_port = 2525\nip_version = 4\n"
		      "mx_tls = required\nallow_loopback_mx = true\n"
		      "max_connections = 2\nmax_rcpt_per_transaction = 3\n"
		      "queue_dir = \"/var/q\"\ndelivery_mode = background\n"
		      "submit_timeout = 1m\nretry_intervals = {30s, 2m}\n"
		      "queue_lifetime = 2d\npostmaster = \"pm@example.org\"\n",
		      0644);
	assert_string_equal(cfg->dns_servers, "127.0.0.1:5353");
	assert_int_equal(cfg->dns_timeout, 3);
	assert_int_equal(cfg->mx_port, 2525);
	assert_int_equal(cfg->ip_version, IP_V4);
	assert_int_equal(cfg->mx_tls, MX_TLS_REQUIRED);
	assert_true(cfg->allow_loopback_mx);
	assert_int_equal(cfg->max_connections, 2);
	assert_int_equal(cfg->max_rcpt_per_transaction, 3);
	assert_string_equal(cfg->queue_dir, "/var/q");
	assert_int_equal(cfg->delivery_mode, DELIVER_BACKGROUND);
	assert_int_equal(cfg->submit_timeout, 60);
	assert_int_equal(cfg->nretry_intervals, 2);
	assert_int_equal(cfg->retry_intervals[0], 30);
	assert_int_equal(cfg->retry_intervals[1], 120);
	assert_int_equal(cfg->queue_lifetime, 2 * 86400);
	assert_string_equal(cfg->postmaster, "pm@example.org");
	config_free(cfg);
}

static void test_routes(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = load_ok("relay { host = \"smtp.example.org\" }\n"
		      "route \"example.net\" { host = \"10.0.0.5\" tls = none }\n"
		      "route \"*.example.com\" { mx = true }\n"
		      "sender_route \"@example.org\" { host = \"smtp2.example.org\" "
		      "port = 465 tls = tls }\n",
		      0600);
	assert_non_null(cfg->relay);
	assert_null(cfg->relay->pattern);
	assert_int_equal(cfg->relay->tls, TLS_STARTTLS);
	assert_int_equal(cfg->nroutes, 2);
	assert_string_equal(cfg->routes[0].pattern, "example.net");
	assert_string_equal(cfg->routes[0].host, "10.0.0.5");
	assert_int_equal(cfg->routes[0].port, 25);
	assert_int_equal(cfg->routes[0].tls, TLS_NONE);
	assert_false(cfg->routes[0].mx);
	assert_string_equal(cfg->routes[1].pattern, "*.example.com");
	assert_true(cfg->routes[1].mx);
	assert_null(cfg->routes[1].host);
	assert_int_equal(cfg->nsender_routes, 1);
	assert_string_equal(cfg->sender_routes[0].pattern, "@example.org");
	assert_int_equal(cfg->sender_routes[0].port, 465);
	assert_int_equal(cfg->sender_routes[0].tls, TLS_IMPLICIT);
	config_free(cfg);

	/* A route's fixed host without tls: STARTTLS when offered. */
	cfg = load_ok("route \"example.net\" { host = \"mx.example.net\" }\n",
		      0600);
	assert_int_equal(cfg->routes[0].tls, TLS_OPPORTUNISTIC);
	config_free(cfg);
}

static void test_delivery_errors(void **state)
{
	(void)state;
	expect_error("mx_tls = maybe\n", 0644, "mx_tls must be");
	expect_error("dns_servers = \"localhost:53\"\n", 0644,
		     "dns_servers must list IP addresses");
	expect_error("dns_servers = \"127.0.0.1:99999\"\n", 0644,
		     "dns_servers must list");
	expect_error("route \"a.test\" { host = \"x\" }\n"
		     "route \"a.test\" { host = \"y\" }\n", 0644, "a.test");
	expect_error("ip_version = 5\n", 0644, "ip_version must be");
	expect_error("delivery_mode = later\n", 0644, "delivery_mode must be");
	expect_error("queue_lifetime = 5x\n", 0644, "not a duration");
	expect_error("retry_intervals = {5m, soon}\n", 0644, "not a duration");
	expect_error("max_connections = 0\n", 0644, "max_connections");
	expect_error("mx_port = 70000\n", 0644, "port must be");
	expect_error("route \"example.net\" { }\n", 0644,
		     "route \"example.net\": host (or mx = true) is required");
	expect_error("route \"example.net\" { mx = true host = \"a\" }\n",
		     0644, "exclude each other");
	expect_error("route \"a@example.net\" { host = \"a\" }\n", 0644,
		     "the title must be");
	expect_error("sender_route \"example.net\" { host = \"a\" }\n", 0644,
		     "the title must be");
	expect_error("relay { host = \"a\" mx = true }\n", 0644,
		     "mx = true belongs in a route section");
	expect_error("relay { host = \"a\" sender_rewrite = \"bad address\" }\n",
		     0644, "sender_rewrite must be an address");
	expect_error("local_domains = {\"a b\"}\n", 0644,
		     "local_domains must list domain names");
	expect_error("postmaster = \"pm@example.org>\\r\\nRCPT TO:<v@x.net\"\n",
		     0644, "postmaster must be an address");
	expect_error("postmaster = \"pm\"\n", 0644,
		     "postmaster must be an address");
}

static void test_relay_defaults(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = load_ok("relay {\n  host = smtp.example.org\n}\n", 0644);
	assert_non_null(cfg->relay);
	assert_string_equal(cfg->relay->host, "smtp.example.org");
	assert_int_equal(cfg->relay->port, 587);
	assert_int_equal(cfg->relay->tls, TLS_STARTTLS);
	assert_true(cfg->relay->verify);
	assert_false(cfg->relay->allow_plaintext_auth);
	assert_null(cfg->relay->user);
	assert_null(cfg->relay->password);
	assert_null(cfg->relay->ca_file);
	assert_null(cfg->relay->ca_path);
	assert_null(cfg->relay->auth_mechanisms);
	config_free(cfg);

	cfg = load_ok("relay {\n  host = smtp.example.org\n  tls = tls\n}\n",
		      0644);
	assert_int_equal(cfg->relay->tls, TLS_IMPLICIT);
	assert_int_equal(cfg->relay->port, 465);
	config_free(cfg);

	cfg = load_ok("relay {\n host = h\n tls = none\n port = 25\n}\n", 0644);
	assert_int_equal(cfg->relay->tls, TLS_NONE);
	assert_int_equal(cfg->relay->port, 25);
	config_free(cfg);
}

static void test_default_path(void **state)
{
	struct config *cfg = NULL;
	struct err err;

	(void)state;
	assert_string_equal(config_default_path(), SYSCONFDIR "/sendmx.conf");
	if (access(config_default_path(), F_OK) == 0)
		skip();
	/* A missing default file means built-in defaults. */
	assert_int_equal(config_load(NULL, &cfg, &err), ST_OK);
	assert_non_null(cfg);
	assert_null(cfg->path);
	assert_null(cfg->relay);
	assert_int_equal(cfg->connect_timeout, 30);
	assert_string_equal(cfg->temp_dir, "/tmp");
	assert_true(cfg->syslog);
	config_free(cfg);
}

static void test_explicit_missing_file(void **state)
{
	struct config *cfg = (struct config *)1;
	struct err err;
	char path[PATH_MAX];

	(void)state;
	snprintf(path, sizeof path, "%s/absent.conf", tmpdir);
	assert_int_equal(config_load(path, &cfg, &err), ST_PERMFAIL);
	assert_null(cfg);
	assert_true(strncmp(err.msg, "cannot read ", 12) == 0);
	assert_non_null(strstr(err.msg, path));
	assert_non_null(strstr(err.msg, "No such file or directory"));
}

static void test_unknown_key(void **state)
{
	char want[PATH_MAX + 64];

	(void)state;
	snprintf(want, sizeof want, "%s/bad.conf:3: no such option 'bogus'",
		 tmpdir);
	expect_error("hostname = a.example\n\nbogus = 1\n", 0644, want);
	snprintf(want, sizeof want, "%s/bad.conf:3: relay: no such option",
		 tmpdir);
	expect_error("relay {\n host = h\n colour = blue\n}\n", 0644, want);
}

static void test_bad_values(void **state)
{
	char want[PATH_MAX + 64];

	(void)state;
	snprintf(want, sizeof want, "%s/bad.conf:2: relay: tls must be none, "
		 "starttls or tls", tmpdir);
	expect_error("relay {\n tls = ssl\n host = h\n}\n", 0644, want);
	expect_error("timeout = -1\n", 0644, "timeout must be");
	expect_error("connect_timeout = 0\n", 0644, "connect_timeout must be");
	/* Seconds become int milliseconds: anything larger would wrap to
	 * no deadline at all (2147484) or to under a second (4294968). */
	expect_error("timeout = 2147484\n", 0644,
		     ":1: timeout must be between 0 and 2147483");
	expect_error("\nconnect_timeout = 4294968\n", 0644,
		     ":2: connect_timeout must be between 1 and 2147483");
	expect_error("timeout = abc\n", 0644, ":1: ");
	expect_error("relay {\n host = h\n port = 70000\n}\n", 0644,
		     "port must be between 1 and 65535");
	expect_error("hostname = \"bad name\"\n", 0644, "hostname must be");
	expect_error("hostname = \"bad\\nname\"\n", 0644, "hostname must be");
	expect_error("syslog = maybe\n", 0644, ":1: ");
	expect_error("\nlog_file = \"\"\n", 0644, ":2: log_file must be");
	expect_error("temp_dir = \"/a\\tb\"\n", 0644, "temp_dir must be");
	expect_error("relay {\n host = h\n auth_mechanisms = \"PLAIN GSSAPI\"\n}\n",
		     0644, "auth_mechanisms");
}

static void test_relay_structure(void **state)
{
	char want[PATH_MAX + 64];

	(void)state;
	snprintf(want, sizeof want, "%s/bad.conf:3: relay: host is required",
		 tmpdir);
	expect_error("relay {\n port = 25\n}\n", 0644, want);
	expect_error("relay {\n host = a\n}\nrelay {\n host = b\n}\n", 0644,
		     "only one relay section");
	expect_error("hostname = x\nrelay {\n host = a\n", 0644,
		     "bad.conf:2: section opened here is not closed");
	expect_error("relay {\n host = \"smtp.example.org:587\"\n}\n", 0644,
		     "host must not carry a port");
	expect_error("relay {\n host = h\n user = alice\n}\n", 0600,
		     "neither password nor password_file");
	expect_error("relay {\n host = h\n password = x\n}\n", 0600,
		     "password given without user");
	expect_error("relay {\n host = h\n user = u\n password = x\n"
		     " password_file = /nonexistent\n}\n", 0600,
		     "exclude each other");
}

static void test_password_file_modes(void **state)
{
	const char *secret;
	char text[1024];
	struct config *cfg;

	(void)state;
	secret = write_file("pw", "topsecret\n", 0644);
	snprintf(text, sizeof text, "relay {\n host = h\n user = u\n"
		 " password_file = \"%s\"\n}\n", secret);
	expect_error(text, 0600, "is readable by others (mode 0644); "
		     "chmod o-rwx");

	secret = write_file("pw", "topsecret\n", 0602);
	expect_error(text, 0600, "is writable by others (mode 0602)");

	/* Group may read: a setgid sendmx shares the file with its group. */
	secret = write_file("pw", "topsecret\nsecond line\n", 0640);
	cfg = load_ok(text, 0644);
	assert_string_equal(cfg->relay->password, "topsecret");
	config_free(cfg);

	secret = write_file("pw", "\n", 0600);
	expect_error(text, 0600, "first line must hold the password");
	remove_file("pw");
	expect_error(text, 0600, "cannot read password_file");
}

static void test_inline_password_modes(void **state)
{
	const char *text = "relay {\n host = h\n user = u\n password = \"pw\"\n}\n";
	struct config *cfg;

	(void)state;
	expect_error(text, 0644, "readable by others (mode 0644)");
	cfg = load_ok(text, 0640);
	assert_string_equal(cfg->relay->user, "u");
	assert_string_equal(cfg->relay->password, "pw");
	config_free(cfg);
}

static void test_world_writable_config(void **state)
{
	(void)state;
	expect_error("hostname = a.example\n", 0666, "writable by others");
}

static void test_env_not_expanded(void **state)
{
	struct config *cfg;

	(void)state;
	setenv("SENDMX_TEST_VAR", "expanded", 1);
	cfg = load_ok("hostname = ${SENDMX_TEST_VAR}\n"
		      "log_file = \"/x/${SENDMX_TEST_VAR}/y\"\n"
		      "temp_dir = '${SENDMX_TEST_VAR}'\n"
		      "relay {\n"
		      "  host = ${SENDMX_TEST_VAR}\n"
		      "  ca_path = ${SENDMX_TEST_VAR:-dflt}\n"
		      "  user = \"u${HOME}\\\"${X'}\"\n"
		      "  password = \"p$a${SENDMX_TEST_VAR}\\${x}\"\n"
		      "  ca_file = /etc/$HOME # comment ${SENDMX_TEST_VAR} \"\n"
		      "}\n", 0600);
	assert_string_equal(cfg->hostname, "${SENDMX_TEST_VAR}");
	assert_string_equal(cfg->log_file, "/x/${SENDMX_TEST_VAR}/y");
	assert_string_equal(cfg->temp_dir, "${SENDMX_TEST_VAR}");
	assert_string_equal(cfg->relay->host, "${SENDMX_TEST_VAR}");
	assert_string_equal(cfg->relay->ca_path, "${SENDMX_TEST_VAR:-dflt}");
	assert_string_equal(cfg->relay->user, "u${HOME}\"${X'}");
	assert_string_equal(cfg->relay->password, "p$a${SENDMX_TEST_VAR}${x}");
	assert_string_equal(cfg->relay->ca_file, "/etc/$HOME");
	config_free(cfg);
	unsetenv("SENDMX_TEST_VAR");
}

static void test_comments_and_quotes(void **state)
{
	struct config *cfg;

	(void)state;
	/* Quotes inside comments must not confuse the ${ rewriting. */
	cfg = load_ok("# don't \"\n"
		      "/* it's a { block\n comment */\n"
		      "// also ' here\n"
		      "hostname = 'mx.example.org' # trailing\n"
		      "log_file = \"/var/log/a'b.log\"\n", 0644);
	assert_string_equal(cfg->hostname, "mx.example.org");
	assert_string_equal(cfg->log_file, "/var/log/a'b.log");
	config_free(cfg);
}

/* ---- the ${VAR} rewriting (conf_escape) ---------------------------------- */

static void escape_ok(const char *in, const char *want)
{
	struct buf out;
	struct err err = { "" };

	buf_init(&out);
	if (conf_escape_env("t.conf", in, strlen(in), &out, &err) != ST_OK)
		fail_msg("conf_escape_env: %s", err.msg);
	assert_string_equal(out.data ? out.data : "", want);
	buf_free(&out);
}

static void escape_fails(const char *in, size_t len, const char *want_err)
{
	struct buf out;
	struct err err = { "" };

	buf_init(&out);
	assert_int_equal(conf_escape_env("t.conf", in, len, &out, &err),
			 ST_PERMFAIL);
	assert_null(out.data);
	assert_string_equal(err.msg, want_err);
}

static void test_escape_rewrites(void **state)
{
	(void)state;
	escape_ok("", "");
	escape_ok("a = 1\nb = \"x\"\n", "a = 1\nb = \"x\"\n");
	/* Double-quoted: '$' before '{' becomes a hex escape. */
	escape_ok("a = \"x${V}y${W:-d}\"\n", "a = \"x\\x24{V}y\\x24{W:-d}\"\n");
	/* ... but not a lone '$' or an escaped one. */
	escape_ok("a = \"$V \\${V} $\"\n", "a = \"$V \\${V} $\"\n");
	/* An unquoted token: single-quoted, with \ and ' escaped. */
	escape_ok("a = ${V:-d}\n", "a = '${V:-d}'\n");
	escape_ok("a=${x'y\\z}", "a='${x\\'y\\\\z}'");
	escape_ok("s {a=${V}}", "s {a='${V}'}");
	/* Only where a token starts. */
	escape_ok("a = x${V}\n", "a = x${V}\n");
	/* Single-quoted strings and comments are copied unchanged. */
	escape_ok("a = '${V}' # ${V} \"\n", "a = '${V}' # ${V} \"\n");
	escape_ok("// ${V}\n/* \"${V}\n */ a = ${V}\n",
		  "// ${V}\n/* \"${V}\n */ a = '${V}'\n");
	/* "//" followed by a word is a value (flex's longest match). */
	escape_ok("a = //h ${V}\n", "a = //h '${V}'\n");
	/* An open string is for libconfuse to report. */
	escape_ok("s {\n a = \"x", "s {\n a = \"x");
}

static void test_escape_errors(void **state)
{
	static const char nul[] = "a = 1\nb = \0\n";

	(void)state;
	escape_fails(nul, sizeof nul - 1, "t.conf:2: NUL byte in file");
	escape_fails("a = 1\ns {\n t {}\n", strlen("a = 1\ns {\n t {}\n"),
		     "t.conf:2: section opened here is not closed "
		     "(missing '}')");
	/* Without a closing brace "${" is no variable: its '{' opens. */
	escape_fails("a = ${V\n", strlen("a = ${V\n"),
		     "t.conf:1: section opened here is not closed "
		     "(missing '}')");
	/* Line numbers count newlines inside a rewritten token. */
	escape_fails("a = ${x\n}\ns {\n", strlen("a = ${x\n}\ns {\n"),
		     "t.conf:3: section opened here is not closed "
		     "(missing '}')");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_example),
		cmocka_unit_test(test_defaults_from_empty_file),
		cmocka_unit_test(test_timeout_covers_connect_when_unset),
		cmocka_unit_test(test_relay_defaults),
		cmocka_unit_test(test_default_path),
		cmocka_unit_test(test_explicit_missing_file),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_relay_structure),
		cmocka_unit_test(test_password_file_modes),
		cmocka_unit_test(test_inline_password_modes),
		cmocka_unit_test(test_world_writable_config),
		cmocka_unit_test(test_env_not_expanded),
		cmocka_unit_test(test_comments_and_quotes),
		cmocka_unit_test(test_delivery_keys),
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_delivery_errors),
		cmocka_unit_test(test_escape_rewrites),
		cmocka_unit_test(test_escape_errors),
	};

	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
