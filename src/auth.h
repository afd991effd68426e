/*
 * auth.h - SASL mechanisms for SMTP AUTH (RFC 4954) as pure
 * encode/decode steps: no sockets, no state beyond the arguments.
 */
#ifndef SENDMX_AUTH_H
#define SENDMX_AUTH_H

#include <stddef.h>

#include "util.h"

enum auth_mech {
	AUTH_MECH_NONE = 0,
	AUTH_MECH_LOGIN,
	AUTH_MECH_PLAIN,     /* RFC 4616 */
	AUTH_MECH_CRAM_MD5   /* RFC 2195 */
};

/*
 * Picks the strongest mechanism in both server_list (the EHLO AUTH
 * line's arguments, e.g. "PLAIN LOGIN CRAM-MD5") and allowed (a
 * space-separated list from the config; NULL: all we know).
 * Order of strength: CRAM-MD5, PLAIN, LOGIN. AUTH_MECH_NONE when none.
 */
enum auth_mech auth_choose(const char *server_list, const char *allowed);

const char *auth_mech_name(enum auth_mech m);

/* Base64 (RFC 4648) of n bytes. Allocated. */
char *auth_base64_encode(const void *data, size_t n);
/* Decodes base64 into out (reset first). Returns 0, or -1 when not valid base64. */
int auth_base64_decode(const char *in, struct buf *out);

/* PLAIN initial response: base64("\0user\0pass"). */
char *auth_plain_response(const char *user, const char *pass);

/* CRAM-MD5: given the base64 challenge from the 334 line, returns
 * base64("user " + hex(HMAC-MD5(pass, challenge))), or NULL when the
 * challenge is not valid base64. */
char *auth_cram_md5_response(const char *user, const char *pass,
			     const char *challenge_b64);

#endif
