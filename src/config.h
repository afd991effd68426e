/*
 * config.h - the configuration, read once into an immutable struct.
 * config.c is the only user of <confuse.h>.
 */
#ifndef SENDMX_CONFIG_H
#define SENDMX_CONFIG_H

#include <stdbool.h>

#include "status.h"

enum tls_mode {
	TLS_NONE,     /* plain SMTP */
	TLS_STARTTLS, /* RFC 3207: plain connection upgraded; required */
	TLS_IMPLICIT  /* RFC 8314: TLS from the first byte (port 465) */
};

/* One smarthost. Later route "domain" sections reuse this struct. */
struct relay_config {
	char *host;
	int port;                 /* default: 587 for starttls/none, 465 for tls */
	enum tls_mode tls;        /* default: starttls */
	char *user;               /* NULL: no AUTH */
	char *password;           /* read from password_file or inline; NULL if no user */
	char *ca_file;            /* NULL: the system trust store */
	char *ca_path;            /* NULL: none */
	bool verify;              /* default true: chain and host name */
	bool allow_plaintext_auth;/* default false */
	char *auth_mechanisms;    /* NULL: any; else "CRAM-MD5 PLAIN ..." allowed list */
};

struct config {
	char *path;               /* file it came from, or NULL for built-in defaults */
	char *hostname;           /* EHLO name, Message-ID domain; default: this host's FQDN */
	struct relay_config *relay; /* NULL: no relay section */
	int timeout;              /* seconds; 0: RFC 5321 4.5.3.2 per-command values;
				   * at most INT_MAX / 1000 (callers use ms in an int) */
	int connect_timeout;      /* seconds for TCP connect + TLS handshake, per
				   * address; default: timeout, else 30; same bound */
	char *log_file;           /* NULL: no log file */
	bool syslog;              /* default true */
	long max_message_size;    /* bytes; 0: unlimited */
	char *temp_dir;           /* where the message is spooled while it is
				   * delivered; default "/tmp" */
};

/* The default path, $(sysconfdir)/sendmx.conf. */
const char *config_default_path(void);

/*
 * Loads the config from path. If path is NULL the default path is used,
 * and a missing default file is not an error (built-in defaults apply).
 * An explicit path that does not exist is an error.
 *
 * Returns ST_OK with *out set (free with config_free), or ST_PERMFAIL with
 * err naming file:line and what is wrong; main exits EX_CONFIG.
 * Password files and config files holding an inline password are refused
 * when others (not owner or group) can read or write them.
 * ${VAR} references are not expanded: sendmx may run with privilege and
 * inherits the caller's environment.
 */
enum status config_load(const char *path, struct config **out,
			struct err *err);

void config_free(struct config *cfg);

#endif
