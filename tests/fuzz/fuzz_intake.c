/*
 * fuzz_intake.c - libFuzzer target: the whole intake path (intake_read:
 * line reader, header section, -t extraction, header completion, spool
 * file), from an fmemopen'd input into a private spool directory (under
 * $TMPDIR, else /tmp).
 *
 * Input: one flag octet, then (when its flags say so) a -f sender line
 * and a -F full name line, then the message. Flags:
 *   bits 0-1 dot rule (DOT_ENDS, DOT_IGNORE, DOT_SMTP, DOT_ENDS)
 *   bit 2    no -t (otherwise extract_recipients)
 *   bit 3    a -f line follows     bit 4  a -F line follows
 *   bit 5    recipient bob@example.org on the command line
 *   bit 6    max_size 2000         bit 7  max_header_bytes 1024
 *
 * Checked on success (intake.h, spool.h): the spool file is as big as
 * reported, every line ends in CRLF and holds at most 998 octets, the
 * header section is fields and continuation lines only, without Bcc or
 * Resent-Bcc; sender and recipients are clean, the Message-ID has no
 * line break.
 */
#include "ac_config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "address.h"
#include "fuzz.h"
#include "header.h"
#include "intake.h"
#include "status.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char spool_dir[4096];

static void remove_spool_dir(void)
{
	(void)rmdir(spool_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_mkdtemp(spool_dir, sizeof spool_dir, "sendmx-fuzz-intake");
	atexit(remove_spool_dir);
	return 0;
}

/* "Bcc", "bcc ", "Resent-Bcc": the field name of a header line. */
static bool is_bcc_field(const char *line, size_t len)
{
	size_t n = 0;

	while (n < len && line[n] != ':' && line[n] != ' ' && line[n] != '\t')
		n++;
	return (n == 3 && ascii_strncasecmp(line, "bcc", 3) == 0) ||
	       (n == 10 && ascii_strncasecmp(line, "resent-bcc", 10) == 0);
}

static void check_spool(const struct message *m)
{
	struct stat sb;
	char *s;
	size_t n, i, ls;
	bool in_header = true, any8 = false;

	FUZZ_CHECK(fstat(m->spool_fd, &sb) == 0, "fstat");
	FUZZ_CHECK(sb.st_size == m->size, "spool holds %lld octets, size "
		   "says %lld", (long long)sb.st_size, (long long)m->size);
	n = (size_t)sb.st_size;
	s = xmalloc(n + 1);
	FUZZ_CHECK(pread(m->spool_fd, s, n, 0) == (ssize_t)n, "pread");
	s[n] = '\0';
	FUZZ_CHECK(n >= 2 && s[n - 2] == '\r' && s[n - 1] == '\n',
		   "spool does not end in CRLF");
	for (ls = 0, i = 0; i < n; i++) {
		size_t len;

		if ((unsigned char)s[i] >= 0x80)
			any8 = true;
		if (s[i] != '\n')
			continue;
		FUZZ_CHECK(i > ls && s[i - 1] == '\r',
			   "bare LF at offset %zu", i);
		len = i - 1 - ls;
		FUZZ_CHECK(len <= 998, "line of %zu octets at offset %zu",
			   len, ls);
		if (in_header) {
			const char *line = s + ls;

			if (len == 0) {
				in_header = false;
			} else {
				FUZZ_CHECK(memchr(line, '\r', len) == NULL,
					   "CR inside header line at %zu", ls);
				FUZZ_CHECK(line[0] == ' ' || line[0] == '\t' ?
					   ls > 0 :
					   header_line_is_field(line, len),
					   "header line at %zu is neither a "
					   "field nor a continuation: %.60s",
					   ls, line);
				FUZZ_CHECK(!is_bcc_field(line, len),
					   "Bcc field left in the spool: %.60s",
					   line);
			}
		}
		ls = i + 1;
	}
	FUZZ_CHECK(!in_header, "no empty line after the header section");
	FUZZ_CHECK(m->eightbit || !any8, "8-bit octets but eightbit false");
	free(s);

	FUZZ_CHECK(m->sender != NULL && !fuzz_has_ctl(m->sender),
		   "bad envelope sender");
	FUZZ_CHECK(*m->sender == '\0' || address_valid_mailbox(m->sender, 0),
		   "invalid envelope sender '%s'", m->sender);
	/* The message's own Message-ID is kept as it is ("as in the
	 * header"): only a line break would be wrong (logs clean the rest). */
	FUZZ_CHECK(m->message_id != NULL && !strpbrk(m->message_id, "\r\n"),
		   "bad Message-ID");
	FUZZ_CHECK(m->rcpts.n > 0, "success without recipients");
	for (i = 0; i < m->rcpts.n; i++) {
		const char *r = m->rcpts.items[i].mailbox;

		FUZZ_CHECK(!fuzz_has_ctl(r) && address_valid_mailbox(r, 0),
			   "bad recipient '%s'", r);
	}
}

/*
 * With SENDMX_FUZZ_SKIP_KNOWN set, inputs that reach a bug reported and
 * not yet fixed are skipped, so that a long run can look for others:
 * a header line whose colon comes after 998 octets, or a line over 998
 * octets with white space before its colon (spool_write_field folds or
 * breaks the line before the colon; see regressions/README.md).
 */
static bool known_bug(const uint8_t *p, size_t n)
{
	size_t i = 0;

	/* Lines end at LF or at a bare CR, as the line reader sees them. */
	while (i < n) {
		const char *line = (const char *)p + i;
		size_t len = 0, k = 0, c;

		while (i + len < n && line[len] != '\n' && line[len] != '\r')
			len++;
		i += len + 1;
		while (k < len && line[k] > 32 && line[k] < 127 && line[k] != ':')
			k++;
		for (c = k; c < len && (line[c] == ' ' || line[c] == '\t'); c++)
			;
		if (k == 0 || c == len || line[c] != ':')
			continue;
		if (c >= 998 || (len > 998 && c > k))
			return true;
	}
	return false;
}

/* The next line of the input as a C string (cut at a NUL). */
static char *take_line(const uint8_t **p, const uint8_t *end)
{
	const char *line;
	size_t len;

	if (!fuzz_next_line(p, end, &line, &len))
		return xstrdup("");
	return xstrndup(line, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum dot_rule dots[] = {
		DOT_ENDS, DOT_IGNORE, DOT_SMTP, DOT_ENDS
	};
	const uint8_t *p = data, *end = data + size;
	struct intake_opts o = { 0 };
	struct address_list cmdline;
	struct message m;
	struct err e;
	char *sender = NULL, *full_name = NULL;
	unsigned flags;
	FILE *in;
	enum status st;

	if (size == 0)
		return 0;
	if (fuzz_skip_known() && known_bug(data + 1, size - 1))
		return 0;
	flags = *p++;
	if (flags & 0x08)
		sender = take_line(&p, end);
	if (flags & 0x10)
		full_name = take_line(&p, end);
	o.dots = dots[flags & 3];
	o.extract_recipients = !(flags & 0x04);
	o.hostname = "host.example.org";
	o.sender = sender;
	o.full_name = full_name;
	o.login = "alice";
	o.spool_dir = spool_dir;
	o.max_size = (flags & 0x40) ? 2000 : 0;
	o.max_header_bytes = (flags & 0x80) ? 1024 : 0;
	address_list_init(&cmdline);
	if (flags & 0x20)
		address_list_add(&cmdline, NULL, "bob@example.org");

	/* fmemopen cannot open an empty buffer in every libc version. */
	in = p < end ? fmemopen((void *)p, (size_t)(end - p), "r")
		     : fopen("/dev/null", "r");
	FUZZ_CHECK(in != NULL, "fmemopen");
	message_init(&m);
	st = intake_read(in, &o, &cmdline, &m, &e);
	FUZZ_CHECK(st == ST_OK || st == ST_PERMFAIL || st == ST_TEMPFAIL,
		   "status %d", (int)st);
	fuzz_note("intake_read: %s, %zu recipients",
		  st == ST_OK ? "OK" : e.msg, st == ST_OK ? m.rcpts.n : 0);
	if (st == ST_OK)
		check_spool(&m);
	else
		FUZZ_CHECK(e.msg[0] != '\0', "failure without a message");
	message_free(&m);
	fclose(in);
	address_list_free(&cmdline);
	free(sender);
	free(full_name);
	return 0;
}
