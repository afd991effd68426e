/*
 * mx.h - MX record lists for direct delivery: ordering by preference
 * (RFC 5321 5.1), null MX (RFC 7505), the "this host is an MX" rule,
 * and parsing of a raw DNS answer into such a list.
 *
 * Pure: no I/O, no clock, no global state. Randomness comes from a
 * function the caller passes in, so tests (and a fuzzer) are
 * deterministic. The dns files (dns.c, dns_lookup.c, dns_addr.c) are
 * the only other users of the c-ares parser used here: one module, one
 * library.
 */
#ifndef SENDMX_MX_H
#define SENDMX_MX_H

#include <stdbool.h>
#include <stddef.h>

/* Longest host name we accept (RFC 1035 2.3.4: 255 octets on the wire,
 * 253 as text without the trailing dot). */
#define MX_NAME_MAX 253

struct mx_record {
	char *name;   /* without a trailing dot; never "" */
	int pref;     /* 0..65535 */
};

struct mx_list {
	struct mx_record *recs;
	size_t n;
	bool null_mx;   /* a record named "" or "." was seen (RFC 7505) */
};

/* Returns a random value; only its value modulo small counts is used.
 * ctx is the caller's. */
typedef unsigned long (*mx_random_fn)(void *ctx);

void mx_list_init(struct mx_list *l);
/* Frees the records; the list is empty (and reusable) afterwards. */
void mx_list_free(struct mx_list *l);

/*
 * Appends a record. name is copied with one trailing dot removed. An
 * empty name or "." (how c-ares 1.18 shows the root target of
 * "MX 0 .") is not stored: it sets null_mx instead.
 */
void mx_list_add(struct mx_list *l, const char *name, int pref);

/*
 * RFC 5321 5.1: sorts by preference, lowest first; removes repeated
 * names (ASCII case-insensitive), keeping the most preferred; then
 * shuffles each run of equal preference with rnd (Fisher-Yates:
 * rnd() % (i + 1)), so load spreads over equal hosts.
 * RFC 7505: if null_mx is set, every record is dropped (n becomes 0):
 * a domain with a null MX accepts no mail, whatever else it lists.
 */
void mx_order(struct mx_list *l, mx_random_fn rnd, void *rctx);

enum mx_self {
	MX_SELF_ABSENT,   /* self is not among the hosts: list unchanged */
	MX_SELF_TRIMMED,  /* self was an MX, less preferred than others:
			   * self and every host not more preferred than
			   * it were dropped; the rest remain */
	MX_SELF_BEST      /* self is (one of) the most preferred: the list
			   * is emptied; delivering would loop back */
};

/*
 * RFC 5321 5.1: "if the SMTP client's own host is among the MX records,
 * it MUST discard ... those with preference equal to or greater than its
 * own". self is compared ASCII case-insensitively, one trailing dot
 * ignored; NULL or "" matches nothing. Call on an ordered list.
 */
enum mx_self mx_drop_self(struct mx_list *l, const char *self);

/* True for a plausible host name: 1..MX_NAME_MAX characters, labels of
 * 1..63 letters, digits, '-' or '_' separated by single dots (a final
 * dot allowed). Rejects what c-ares escapes (\DDD), controls, spaces. */
bool mx_valid_name(const char *name);

enum mx_answer {
	MX_ANSWER_RECORDS,  /* out holds >= 1 record, ordered */
	MX_ANSWER_NULL,     /* RFC 7505 null MX: out is empty, null_mx set */
	MX_ANSWER_NONE,     /* the answer holds no MX records (implicit MX) */
	MX_ANSWER_BAD       /* truncated or malformed packet: out is empty */
};

/*
 * Parses a raw DNS answer (the abuf/alen c-ares hands to an ares_query
 * callback) with ares_parse_mx_reply, detects null MX and orders the
 * result with mx_order. out must be initialised (mx_list_init); it is
 * emptied first. Safe on any bytes: a libFuzzer target can call it.
 */
enum mx_answer mx_from_answer(const unsigned char *abuf, int alen,
			      mx_random_fn rnd, void *rctx,
			      struct mx_list *out);

#endif
