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
	TLS_IMPLICIT, /* RFC 8314: TLS from the first byte (port 465) */
	TLS_OPPORTUNISTIC /* STARTTLS when offered, unverified (MX hosts:
			   * Postfix's "may"); plain when not offered */
};

/* mx_tls: how sendmx talks TLS to MX hosts. */
enum mx_tls_mode {
	MX_TLS_OPPORTUNISTIC, /* default: STARTTLS when offered, not verified */
	MX_TLS_REQUIRED,      /* STARTTLS, verified; a host without it is TEMPFAIL */
	MX_TLS_NONE           /* never */
};

enum ip_version { IP_ANY, IP_V4, IP_V6 };

/* local_delivery: what happens to mail for local users. */
enum local_delivery { LOCAL_MBOX, LOCAL_MAILDIR, LOCAL_NONE };

/* Delivery modes, as sendmail's -od: i(nteractive), b(ackground), q(ueue). */
enum delivery_mode { DELIVER_INTERACTIVE, DELIVER_BACKGROUND, DELIVER_QUEUE };

/* One smarthost: the relay section, and each route / sender_route. */
struct relay_config {
	char *pattern;            /* route: "example.net" or "*.example.net";
				   * sender_route: "user@example.org" or
				   * "@example.org"; relay: NULL */
	bool mx;                  /* route: deliver to the domain's MX hosts
				   * (no host then) */
	char *host;               /* NULL only when mx */
	int port;                 /* default: 587 for starttls/none, 465 for tls */
	enum tls_mode tls;        /* default: starttls */
	char *user;               /* NULL: no AUTH */
	char *password;           /* read from password_file or inline; NULL if no user */
	char *ca_file;            /* NULL: the system trust store */
	char *ca_path;            /* NULL: none */
	bool verify;              /* default true: chain and host name */
	bool allow_plaintext_auth;/* default false */
	char *auth_mechanisms;    /* NULL: any; else "CRAM-MD5 PLAIN ..." allowed list */
	char *sender_rewrite;     /* envelope sender and From forced to this
				   * address for mail through this hop; NULL */
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

	/* Direct delivery (MX) */
	char *dns_servers;        /* c-ares server list "ip[:port],..."; NULL: system */
	int dns_timeout;          /* seconds for one lookup, retries included; default 10 */
	int mx_port;              /* default 25 */
	enum ip_version ip_version; /* default IP_ANY */
	enum mx_tls_mode mx_tls;  /* default MX_TLS_OPPORTUNISTIC */
	bool allow_loopback_mx;   /* default false: an MX on 127/8 or ::1 is a loop */
	int max_connections;      /* parallel SMTP sessions; default 8 */
	int max_rcpt_per_transaction; /* default 100 */
	struct relay_config *routes;  /* route "domain" sections, in file order */
	size_t nroutes;
	struct relay_config *sender_routes; /* sender_route "addr" sections */
	size_t nsender_routes;

	/* Queue */
	char *queue_dir;          /* default $(localstatedir)/spool/sendmx */
	enum delivery_mode delivery_mode; /* default DELIVER_INTERACTIVE */
	int submit_timeout;       /* seconds a -odi caller waits at most; default 30 */
	int *retry_intervals;     /* seconds between attempts; the last repeats;
				   * default 300 600 1200 2400 3600 */
	size_t nretry_intervals;
	int queue_lifetime;       /* seconds until a message bounces; default 5 days */
	char *postmaster;         /* gets the DSN of a failed null-sender message
				   * that is not itself a bounce; NULL: such
				   * failures are logged and dropped (a failed
				   * bounce is always dropped) */

	/* Local recipients */
	char *aliases;            /* alias file; default "/etc/aliases"
				   * (a missing file means no aliases) */
	char **local_domains;     /* besides hostname; NULL-terminated */
	enum local_delivery local_delivery; /* default LOCAL_MBOX */
	char *mail_spool;         /* mbox directory; default "/var/mail" */
	bool allow_pipe_aliases;  /* "|command" targets; default false */
	bool allow_file_aliases;  /* "/path" targets; default false */
	char *alias_user;         /* runs pipe/file aliases; default "nobody" */
	char *masquerade_domain;  /* bare and @hostname senders become
				   * user@masquerade_domain; NULL: none */
	char *sender_map;         /* "local-name address" lines; NULL: none */
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
