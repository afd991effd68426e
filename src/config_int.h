/*
 * config_int.h - shared by the two files of the config module: config.c
 * (the file, global keys, defaults) and config_relay.c (the relay, route
 * and sender_route sections). Nothing else includes it; both files are
 * the only users of <confuse.h>.
 */
#ifndef SENDMX_CONFIG_INT_H
#define SENDMX_CONFIG_INT_H

#include <confuse.h>
#include <stdbool.h>
#include <sys/types.h>

#include "config.h"
#include "status.h"

#define HOSTNAME_MAX 255                /* RFC 1035 2.3.4 */

/* What the libconfuse callbacks need; they get no user pointer. */
struct parse_ctx {
	const char *path;
	struct err *err;
	bool failed;
	/* Lines where each section ends, in file order, for errors found
	 * after parsing (a password file that others can read). */
	int relay_line;
	int *route_lines;
	size_t nroute_lines;
	int *sender_route_lines;
	size_t nsender_route_lines;
};

extern struct parse_ctx *config_current_ctx;

/* Records the first error as "path:line: text". */
void config_fail(const char *path, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool config_valid_hostname(const char *s);
char *config_dup_or_null(const char *s);
int config_parse_tls(cfg_t *cfg, cfg_opt_t *opt, const char *value,
		     void *result);
int config_validate_port(cfg_t *cfg, cfg_opt_t *opt);

/* The options of a relay, route or sender_route section. */
extern cfg_opt_t config_relay_opts[];

/* Validation callbacks for the three section kinds (run as each closes). */
int config_validate_relay(cfg_t *cfg, cfg_opt_t *opt);
int config_validate_route(cfg_t *cfg, cfg_opt_t *opt);
int config_validate_sender_route(cfg_t *cfg, cfg_opt_t *opt);

/* Copies every relay, route and sender_route section into c, reading
 * password files; mode is the config file's, for inline passwords. */
enum status config_copy_relays(cfg_t *cfg, struct config *c,
			       const struct parse_ctx *ctx, mode_t mode,
			       struct err *err);
void config_free_relays(struct config *c);
/* Clears inline passwords inside the cfg_t before libconfuse frees it. */
void config_wipe_passwords(cfg_t *cfg);

#endif
