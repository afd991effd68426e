/*
 * cli.c - the sendmail command line.
 *
 * Parsed by hand rather than with getopt(3): sendmail's -b and -o families
 * take their value attached ("-bs", "-oem"), -q takes only an attached
 * value ("-q", "-q15m"), and glibc's getopt would permute recipients in
 * front of flags, which sendmail never does. Like sendmail's getopt, flags
 * without a value may be clustered ("-ti"), a flag with a value takes the
 * rest of its argv element or else the next one, and option parsing stops
 * at "--" or at the first argument that is not an option.
 */
#include "ac_config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util.h"

/* A flag that takes a value: the value, and how to refer to the flag. */
struct optval {
	char flag;
	const char *value;
};

static enum status apply_notify(const char *v, struct invocation *inv,
				struct err *err);
static const char *prog_basename(const char *argv0);
static enum mode default_mode(const char *progname);
static void add_recipient(struct invocation *inv, const char *rcpt);
static void add_ignored(struct invocation *inv, char flag, const char *sep,
			const char *value, const char *why);
static char *sanitize(const char *s);
static bool flag_takes_value(char c);
static enum status parse_element(int argc, char **argv, int *i,
				 struct invocation *inv, struct err *err);
static enum status apply_value(const struct optval *ov,
			       struct invocation *inv, struct err *err);
static enum status apply_flag(char c, struct invocation *inv,
			      struct err *err);
static enum status apply_b(const char *value, struct invocation *inv,
			   struct err *err);
static enum status apply_o(const char *value, struct invocation *inv,
			   struct err *err);

static const char usage_text[] =
	"usage: sendmx [flags] [recipient ...]\n"
	"  -t            read recipients from To:, Cc: and Bcc:\n"
	"  -f addr       envelope sender (-f '<>' for the null sender); also -r\n"
	"  -F name       full name for a generated From: header\n"
	"  -i, -oi       a line with a single dot does not end the message\n"
	"  -v            show the SMTP dialogue on stderr\n"
	"  -C file       use this configuration file\n"
	"  -bm           read a message on stdin and deliver it (default)\n"
	"  -bv           show how each recipient would be routed\n"
	"  -bs           speak SMTP on stdin and stdout\n"
	"  -bp           list the queue (also: mailq)\n"
	"  -bi           rebuild the aliases database (also: newaliases)\n"
	"  -q[time]      process the queue\n"
	"  -od<mode>     delivery mode: i (now), b (background), q or d (queue)\n"
	"  -N dsn        DSN notify: never, or success,failure,delay\n"
	"  -R ret        DSN return: full or hdrs\n"
	"  -V envid      DSN envelope id\n"
	"  --version     print the version\n"
	"  --            end of options\n"
	"Accepted and ignored: -o<option>, -O name=value, -B type, -L tag,\n"
	"  -h hops, -G, -U, -n, -m\n";

const char *cli_usage(void)
{
	return usage_text;
}

enum status cli_parse(int argc, char **argv, struct invocation *inv,
		      struct err *err)
{
	enum status st = ST_OK;
	int i = 1;

	memset(inv, 0, sizeof *inv);
	inv->progname = prog_basename(argc > 0 ? argv[0] : NULL);
	inv->mode = default_mode(inv->progname);

	while (i < argc) {
		const char *a = argv[i];

		/* A lone "-" is an operand for getopt, and so for sendmail. */
		if (a[0] != '-' || a[1] == '\0')
			break;
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		st = parse_element(argc, argv, &i, inv, err);
		if (st != ST_OK)
			goto out;
	}
	for (; i < argc; i++)
		add_recipient(inv, argv[i]);
out:
	if (st != ST_OK)
		cli_free(inv);
	return st;
}

void cli_free(struct invocation *inv)
{
	size_t k;

	free(inv->recipients);
	for (k = 0; k < inv->nignored; k++)
		free(inv->ignored[k]);
	free(inv->ignored);
	inv->recipients = NULL;
	inv->nrecipients = 0;
	inv->ignored = NULL;
	inv->nignored = 0;
}

static const char *prog_basename(const char *argv0)
{
	const char *slash;

	if (argv0 == NULL || *argv0 == '\0')
		return "sendmx";
	slash = strrchr(argv0, '/');
	return slash ? slash + 1 : argv0;
}

static enum mode default_mode(const char *progname)
{
	if (strcmp(progname, "mailq") == 0)
		return MODE_PRINT_QUEUE;
	if (strcmp(progname, "newaliases") == 0)
		return MODE_NEWALIASES;
	return MODE_DELIVER;
}

static void add_recipient(struct invocation *inv, const char *rcpt)
{
	inv->recipients = xreallocarray(inv->recipients, inv->nrecipients + 1,
					sizeof *inv->recipients);
	/* argv outlives *inv (cli.h): no copy needed. */
	inv->recipients[inv->nrecipients++] = (char *)rcpt;
}

/* Records "ignoring -<flag><sep><value> (<why>)" for main to show under -v. */
static void add_ignored(struct invocation *inv, char flag, const char *sep,
			const char *value, const char *why)
{
	char *clean = sanitize(value);
	char *line = xasprintf("ignoring -%c%s%s (%s)", flag, sep, clean, why);

	free(clean);
	inv->ignored = xreallocarray(inv->ignored, inv->nignored + 1,
				     sizeof *inv->ignored);
	inv->ignored[inv->nignored++] = line;
}

/* The ignored lines are printed on a terminal under -v: no controls. */
static char *sanitize(const char *s)
{
	char *copy = xstrdup(s);

	replace_controls(copy, strlen(copy), '?');
	return copy;
}

static bool flag_takes_value(char c)
{
	return strchr("frFCbNRVBLhoO", c) != NULL;
}

/*
 * One argv element starting with '-': a cluster of flags, the last of
 * which may take a value (attached, or the next argv element).
 */
static enum status parse_element(int argc, char **argv, int *i,
				 struct invocation *inv, struct err *err)
{
	const char *a = argv[*i];
	const char *p;
	struct optval ov;

	if (a[1] == '-') {
		if (strcmp(a, "--version") == 0) {
			inv->mode = MODE_VERSION;
			(*i)++;
			return ST_OK;
		}
		err_set(err, "unknown option %s", a);
		return ST_PERMFAIL;
	}
	for (p = a + 1; *p; p++) {
		if (*p == 'q') {
			/* -q never takes the next argument: "-q" alone is
			 * a plain queue run. */
			inv->mode = MODE_QUEUE_RUN;
			inv->queue_arg = p + 1;
			break;
		}
		if (!flag_takes_value(*p)) {
			enum status st = apply_flag(*p, inv, err);
			if (st != ST_OK)
				return st;
			continue;
		}
		ov.flag = *p;
		if (p[1] != '\0') {
			ov.value = p + 1;
		} else if (*p == 'o') {
			/* sendmail's -o needs its option letter attached. */
			err_set(err, "option -o requires an option letter "
				"attached (e.g. -oi)");
			return ST_PERMFAIL;
		} else if (*i + 1 < argc) {
			ov.value = argv[++(*i)];
		} else {
			err_set(err, "option -%c requires an argument", *p);
			return ST_PERMFAIL;
		}
		(*i)++;
		return apply_value(&ov, inv, err);
	}
	(*i)++;
	return ST_OK;
}

static enum status apply_flag(char c, struct invocation *inv,
			      struct err *err)
{
	switch (c) {
	case 't':
		inv->extract_recipients = true;
		break;
	case 'i':
		inv->ignore_dots = true;
		break;
	case 'v':
		inv->verbose = true;
		break;
	case 'G':
		add_ignored(inv, c, "", "", "gateway and user submissions are "
			    "treated alike");
		break;
	case 'U':
		add_ignored(inv, c, "", "", "initial user submission is assumed");
		break;
	case 'n':
		add_ignored(inv, c, "", "", "sendmx does no aliasing");
		break;
	case 'm':
		add_ignored(inv, c, "", "", "the sender is never removed from "
			    "the recipients");
		break;
	default:
		if ((unsigned char)c < 0x20 || c == 0x7f)
			err_set(err, "unknown option -\\x%02x",
				(unsigned)(unsigned char)c);
		else
			err_set(err, "unknown option -%c", c);
		return ST_PERMFAIL;
	}
	return ST_OK;
}

static enum status apply_value(const struct optval *ov,
			       struct invocation *inv, struct err *err)
{
	const char *v = ov->value;

	switch (ov->flag) {
	case 'f':
	case 'r':
		/* Kept verbatim (main parses it); "<>" is the null sender.
		 * A repeated -f replaces the earlier one, as in Postfix. */
		inv->sender = strcmp(v, "<>") == 0 ? "" : v;
		break;
	case 'F':
		inv->full_name = v;
		break;
	case 'C':
		inv->config_path = v;
		break;
	case 'b':
		return apply_b(v, inv, err);
	case 'o':
		return apply_o(v, inv, err);
	case 'N':
		return apply_notify(v, inv, err);
	case 'R':
		if (ascii_strcasecmp(v, "full") != 0 &&
		    ascii_strcasecmp(v, "hdrs") != 0) {
			err_set(err, "-R takes full or hdrs, not \"%.60s\"", v);
			return ST_PERMFAIL;
		}
		inv->dsn_ret = v;
		break;
	case 'V':
		/* RFC 3461 4.4: printable ASCII, at most 100 characters. */
		if (*v == '\0' || strlen(v) > 100 || has_control_chars(v) ||
		    strpbrk(v, " +=") != NULL) {
			err_set(err, "-V: the envelope id must be 1 to 100 "
				"printable characters without space, + or =");
			return ST_PERMFAIL;
		}
		inv->envid = v;
		break;
	case 'B':
		add_ignored(inv, 'B', " ", v, "body type is detected from "
			    "the message");
		break;
	case 'L':
		add_ignored(inv, 'L', " ", v, "the syslog tag is always sendmx");
		break;
	case 'h':
		add_ignored(inv, 'h', " ", v, "hop counts are not tracked");
		break;
	case 'O':
		/* sendmail's long-form option (-O Name=value): accepted like -o. */
		add_ignored(inv, 'O', " ", v, "sendmail options do not apply");
		break;
	}
	return ST_OK;
}

static enum status apply_b(const char *value, struct invocation *inv,
			   struct err *err)
{
	char *clean;

	if (value[0] != '\0' && value[1] == '\0') {
		switch (value[0]) {
		case 'm':
			inv->mode = MODE_DELIVER;
			return ST_OK;
		case 'v':
			inv->mode = MODE_VERIFY;
			return ST_OK;
		case 's':
			inv->mode = MODE_SMTP;
			return ST_OK;
		case 'p':
			inv->mode = MODE_PRINT_QUEUE;
			return ST_OK;
		case 'i':
			inv->mode = MODE_NEWALIASES;
			return ST_OK;
		case 'd':
		case 'D':
			err_set(err, "mode -b%c is not supported: sendmx is "
				"not a daemon", value[0]);
			return ST_PERMFAIL;
		}
	}
	clean = sanitize(value);
	err_set(err, "mode -b%s is not supported", clean);
	free(clean);
	return ST_PERMFAIL;
}

static enum status apply_o(const char *value, struct invocation *inv,
			   struct err *err)
{
	char *clean;

	if (strcmp(value, "i") == 0) {
		inv->ignore_dots = true;
		return ST_OK;
	}
	if (value[0] != 'd') {
		add_ignored(inv, 'o', "", value, "sendmail option without "
			    "effect in sendmx");
		return ST_OK;
	}
	/* -od<mode>: sendmail's 'd' (deferred) is recorded as given; it
	 * queues like 'q'. */
	if (value[1] != '\0' && value[2] == '\0' && strchr("ibqd", value[1])) {
		inv->delivery_mode = value[1];
		return ST_OK;
	}
	clean = sanitize(value);
	err_set(err, "unknown delivery mode -o%s (use -odi, -odb, -odq or "
		"-odd)", clean);
	free(clean);
	return ST_PERMFAIL;
}

/* RFC 3461 4.1: NEVER alone, or a list of SUCCESS, FAILURE, DELAY. */
static enum status apply_notify(const char *v, struct invocation *inv,
				struct err *err)
{
	char *copy = xstrdup(v), *save = NULL, *tok;
	bool never = false, other = false, ok = *v != '\0';

	for (tok = strtok_r(copy, ",", &save); tok && ok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (ascii_strcasecmp(tok, "never") == 0)
			never = true;
		else if (ascii_strcasecmp(tok, "success") == 0 ||
			 ascii_strcasecmp(tok, "failure") == 0 ||
			 ascii_strcasecmp(tok, "delay") == 0)
			other = true;
		else
			ok = false;
	}
	free(copy);
	if (!ok || (never && other)) {
		err_set(err, "-N takes never, or a list of success, failure "
			"and delay, not \"%.60s\"", v);
		return ST_PERMFAIL;
	}
	inv->dsn_notify = v;
	return ST_OK;
}
