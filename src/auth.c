/*
 * auth.c - SASL mechanisms for SMTP AUTH (RFC 4954): PLAIN (RFC 4616),
 * LOGIN (draft-murchison-sasl-login) and CRAM-MD5 (RFC 2195), as pure
 * functions. Base64 is written out here (RFC 4648 4): it is a few lines,
 * and OpenSSL's EVP_DecodeBlock cannot say how much padding it ate.
 */
#include "ac_config.h"

#include <string.h>

#include <openssl/evp.h>

#include "auth.h"

#define MD5_LEN 16

static int b64_value(unsigned char c);
static bool list_has(const char *list, const char *word);

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Strongest first: CRAM-MD5 keeps the password off the wire, PLAIN and
 * LOGIN send it (base64 is no protection). */
static const enum auth_mech strength_order[] = {
	AUTH_MECH_CRAM_MD5, AUTH_MECH_PLAIN, AUTH_MECH_LOGIN
};

const char *auth_mech_name(enum auth_mech m)
{
	switch (m) {
	case AUTH_MECH_LOGIN:
		return "LOGIN";
	case AUTH_MECH_PLAIN:
		return "PLAIN";
	case AUTH_MECH_CRAM_MD5:
		return "CRAM-MD5";
	case AUTH_MECH_NONE:
		break;
	}
	return "none";
}

/* Is word one of the space- (or comma-) separated items of list?
 * SASL mechanism names are case-insensitive (RFC 4422 3.1). */
static bool list_has(const char *list, const char *word)
{
	size_t wlen = strlen(word);
	const char *p = list;

	while (p != NULL && *p != '\0') {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n == wlen && n > 0 && ascii_strncasecmp(p, word, n) == 0)
			return true;
		p += n;
	}
	return false;
}

enum auth_mech auth_choose(const char *server_list, const char *allowed)
{
	size_t i;

	if (server_list == NULL)
		return AUTH_MECH_NONE;
	for (i = 0; i < sizeof strength_order / sizeof strength_order[0]; i++) {
		const char *name = auth_mech_name(strength_order[i]);

		if (list_has(server_list, name) &&
		    (allowed == NULL || list_has(allowed, name)))
			return strength_order[i];
	}
	return AUTH_MECH_NONE;
}

/* One allocation of the exact size: what is encoded is often a secret,
 * and a buffer grown by realloc would leave copies in freed memory. */
char *auth_base64_encode(const void *data, size_t n)
{
	const unsigned char *in = data;
	char *out, *q;
	size_t i;

	/* No overflow: an object is at most SIZE_MAX / 2 bytes. */
	out = xmalloc(n / 3 * 4 + (n % 3 ? 4 : 0) + 1);
	q = out;
	for (i = 0; i + 2 < n; i += 3) {
		*q++ = b64_alphabet[in[i] >> 2];
		*q++ = b64_alphabet[((in[i] & 0x03) << 4) | (in[i + 1] >> 4)];
		*q++ = b64_alphabet[((in[i + 1] & 0x0f) << 2) | (in[i + 2] >> 6)];
		*q++ = b64_alphabet[in[i + 2] & 0x3f];
	}
	if (n - i == 1) {
		*q++ = b64_alphabet[in[i] >> 2];
		*q++ = b64_alphabet[(in[i] & 0x03) << 4];
		*q++ = '=';
		*q++ = '=';
	} else if (n - i == 2) {
		*q++ = b64_alphabet[in[i] >> 2];
		*q++ = b64_alphabet[((in[i] & 0x03) << 4) | (in[i + 1] >> 4)];
		*q++ = b64_alphabet[(in[i + 1] & 0x0f) << 2];
		*q++ = '=';
	}
	*q = '\0';
	return out;
}

static int b64_value(unsigned char c)
{
	const char *p;

	if (c == '\0')
		return -1;
	p = strchr(b64_alphabet, c);
	return p ? (int)(p - b64_alphabet) : -1;
}

/* Strict RFC 4648 4: whole quanta only, '=' only as the last one or two
 * characters. A challenge that does not decode is an error, never a
 * guess. */
int auth_base64_decode(const char *in, struct buf *out)
{
	size_t len = strlen(in);
	size_t pad = 0;
	size_t i;

	buf_reset(out);
	buf_append(out, "", 0);
	if (len % 4 != 0)
		return -1;
	if (len > 0 && in[len - 1] == '=')
		pad = (len > 1 && in[len - 2] == '=') ? 2 : 1;
	for (i = 0; i < len; i += 4) {
		int v[4];
		size_t k, real = (i + 4 == len) ? 4 - pad : 4;
		unsigned char bytes[3];

		for (k = 0; k < 4; k++) {
			v[k] = k < real ? b64_value((unsigned char)in[i + k]) : 0;
			if (v[k] < 0)
				return -1;
		}
		bytes[0] = (unsigned char)((v[0] << 2) | (v[1] >> 4));
		bytes[1] = (unsigned char)(((v[1] & 0x0f) << 4) | (v[2] >> 2));
		bytes[2] = (unsigned char)(((v[2] & 0x03) << 6) | v[3]);
		buf_append(out, bytes, real - 1);
	}
	return 0;
}

/* RFC 4616 2: message = [authzid] UTF8NUL authcid UTF8NUL passwd; we
 * never ask to act as someone else, so authzid stays empty. */
char *auth_plain_response(const char *user, const char *pass)
{
	struct buf b;
	char *out;

	buf_init(&b);
	buf_append(&b, "", 1);
	buf_appends(&b, user);
	buf_append(&b, "", 1);
	buf_appends(&b, pass);
	out = auth_base64_encode(b.data, b.len);
	explicit_bzero(b.data, b.len);
	buf_free(&b);
	return out;
}

/* RFC 2195 2: digest = HMAC-MD5(key = password, text = challenge),
 * sent as "user <32 lower-case hex digits>", base64-encoded. EVP_Q_mac
 * is the OpenSSL 3 one-shot MAC; HMAC() is deprecated there. */
char *auth_cram_md5_response(const char *user, const char *pass,
			     const char *challenge_b64)
{
	struct buf chal, resp;
	unsigned char mac[MD5_LEN];
	size_t maclen = 0, i;
	char *out = NULL;

	buf_init(&chal);
	buf_init(&resp);
	if (auth_base64_decode(challenge_b64, &chal) < 0)
		goto out;
	if (EVP_Q_mac(NULL, "HMAC", NULL, "MD5", NULL, pass, strlen(pass),
		      (const unsigned char *)chal.data, chal.len, mac,
		      sizeof mac, &maclen) == NULL || maclen != MD5_LEN)
		goto out;
	buf_appends(&resp, user);
	buf_append(&resp, " ", 1);
	for (i = 0; i < maclen; i++)
		buf_appendf(&resp, "%02x", mac[i]);
	out = auth_base64_encode(resp.data, resp.len);
out:
	explicit_bzero(mac, sizeof mac);
	if (resp.data)
		explicit_bzero(resp.data, resp.len);
	buf_free(&resp);
	buf_free(&chal);
	return out;
}
