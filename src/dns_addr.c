/*
 * dns_addr.c - the dns module's pure helpers: IP and address literals,
 * a host's address list, what counts as this machine, and what a c-ares
 * error means (status and text). No lookups, no loop (dns_int.h).
 */
#include "ac_config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>

#include "dns.h"
#include "dns_int.h"
#include "util.h"

/* ---- literals ------------------------------------------------------------ */

bool dns_parse_literal(const char *s, struct dns_addr *a, bool *bracketed)
{
	char tmp[64];
	size_t len = strlen(s);

	*bracketed = false;
	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		*bracketed = true;
		s++;
		len -= 2;
		if (len >= 5 && ascii_strncasecmp(s, "IPv6:", 5) == 0) {
			s += 5;
			len -= 5;
		}
	}
	if (len == 0 || len >= sizeof tmp)
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	memset(a, 0, sizeof *a);
	{
		struct sockaddr_in *in = (struct sockaddr_in *)(void *)&a->sa;
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)&a->sa;

		if (inet_pton(AF_INET, tmp, &in->sin_addr) == 1) {
			in->sin_family = AF_INET;
			a->len = sizeof *in;
		} else if (inet_pton(AF_INET6, tmp, &in6->sin6_addr) == 1) {
			in6->sin6_family = AF_INET6;
			a->len = sizeof *in6;
		} else {
			return false;
		}
	}
	dns_addr_text((const struct sockaddr *)&a->sa, a->text, sizeof a->text);
	return true;
}

/* ---- results and texts --------------------------------------------------- */

void dns_result_free(struct dns_result *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nhosts; i++) {
		free(r->hosts[i].name);
		free(r->hosts[i].addrs);
		free(r->hosts[i].error);
	}
	free(r->hosts);
	free(r->error);
	free(r);
}

bool dns_add_addr(struct dns_host *h, const struct sockaddr *sa,
		  socklen_t len)
{
	struct dns_addr *a;
	size_t i;

	if (len > (socklen_t)sizeof a->sa)
		return false;
	for (i = 0; i < h->naddrs; i++)
		if (h->addrs[i].len == len && memcmp(&h->addrs[i].sa, sa, len) == 0)
			return false;
	h->addrs = xreallocarray(h->addrs, h->naddrs + 1, sizeof *h->addrs);
	a = &h->addrs[h->naddrs++];
	memset(a, 0, sizeof *a);
	memcpy(&a->sa, sa, len);
	a->len = len;
	if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)(void *)&a->sa)->sin_port = 0;
	else
		((struct sockaddr_in6 *)(void *)&a->sa)->sin6_port = 0;
	dns_addr_text(sa, a->text, sizeof a->text);
	return true;
}

void dns_addr_text(const struct sockaddr *sa, char *out, size_t n)
{
	const void *p = sa->sa_family == AF_INET ?
		(const void *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr :
		(const void *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

	if (inet_ntop(sa->sa_family, p, out, (socklen_t)n) == NULL)
		strlcpy(out, "?", n);
}

/* 127/8, ::1, and the unspecified 0.0.0.0 / :: (connecting to them
 * reaches this machine too), also as IPv4-mapped IPv6. */
bool dns_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		unsigned long a = ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr);

		return (a >> 24) == 127 || a == 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

		if (IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a))
			return true;
		if (IN6_IS_ADDR_V4MAPPED(a))
			return a->s6_addr[12] == 127 ||
			       (a->s6_addr[12] | a->s6_addr[13] |
				a->s6_addr[14] | a->s6_addr[15]) == 0;
	}
	return false;
}

enum status dns_classify(int s)
{
	switch (s) {
	case ARES_ENOTFOUND:  /* NXDOMAIN */
	case ARES_ENONAME:
	case ARES_ENODATA:    /* the name exists, without such records */
	case ARES_EBADNAME:
		return ST_PERMFAIL;
	default:              /* SERVFAIL, REFUSED, timeouts, unreachable */
		return ST_TEMPFAIL;
	}
}

char *dns_ares_why(const struct dns *d, int s, bool host)
{
	switch (s) {
	case ARES_ENOTFOUND:
	case ARES_ENONAME:
		return xstrdup(host ? "no such host (NXDOMAIN)"
				    : "no such domain (NXDOMAIN)");
	case ARES_ENODATA:
		return host ? xasprintf("no %s address records", dns_families(d))
			    : xstrdup("no records of the type asked for");
	case ARES_ESERVFAIL:
		return xstrdup("DNS server failure (SERVFAIL)");
	case ARES_EREFUSED:
		return xstrdup("DNS server refused the query (REFUSED)");
	case ARES_ETIMEOUT:
		return xasprintf("DNS lookup timed out after %d s", d->timeout_s);
	case ARES_ECONNREFUSED:
		/* c-ares 1.18 ends a query with this both when the server
		 * is unreachable and when every try got SERVFAIL, REFUSED or
		 * NOTIMP (it retries those and keeps no rcode). */
		return xstrdup("DNS server failed or unreachable (SERVFAIL, "
			       "REFUSED or connection refused)");
	case ARES_EFORMERR:
		return xstrdup("DNS server could not parse the query (FORMERR)");
	case ARES_ENOTIMP:
		return xstrdup("DNS server does not implement the query (NOTIMP)");
	case ARES_EBADRESP:
		return xstrdup("malformed DNS answer");
	case ARES_EBADNAME:
		return xstrdup("not a valid DNS name");
	case ARES_ECANCELLED:
	case ARES_EDESTRUCTION:
		return xstrdup("DNS lookup cancelled");
	default:
		return xasprintf("DNS error: %s", ares_strerror(s));
	}
}

const char *dns_families(const struct dns *d)
{
	return d->family == AF_INET ? "IPv4 (A)" :
	       d->family == AF_INET6 ? "IPv6 (AAAA)" : "A or AAAA";
}

char *dns_clean_copy(const char *s)
{
	char *c = xstrdup(s);

	replace_controls(c, strlen(c), '?');
	return c;
}

bool dns_same_host(const char *a, const char *b)
{
	size_t la, lb;

	if (a == NULL || b == NULL)
		return false;
	la = strlen(a);
	lb = strlen(b);
	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la > 0 && la == lb && ascii_strncasecmp(a, b, la) == 0;
}
