#!/usr/bin/env python3
"""Delivery through a plain (tls = none) relay: what arrives, byte for byte."""

import email.utils
import hashlib
import os
import re
import time

import harness
from harness import LOGIN, check, contains, eq, lacks, matches

SENDER = "%s@test.example.org" % LOGIN
MSGID_RE = r"^<[^<>@\s]+@test\.example\.org>$"


def deliver(t, args, data, **server_opts):
    """Start a server, relay one message to it, expect exit 0, return (srv, msg)."""
    srv = t.server(**server_opts)
    conf = t.relay_config(srv)
    r = t.sendmx(args, data, config=conf)
    t.expect_exit(r, 0)
    eq(r.out, "", "stdout of a successful delivery")
    eq(r.err, "", "stderr of a successful delivery")
    return srv, srv.only_message()


def no_bare_lf(data):
    check(re.search(rb"(?<!\r)\n", data) is None, "bare LF in received data: %r" % data[:300])
    check(re.search(rb"\r(?!\n)", data) is None, "bare CR in received data: %r" % data[:300])


def test_plain_delivery(t):
    data = b"To: bob@example.org\nSubject: plain test\n\nHello Bob.\nSecond line.\n"
    before = time.time()
    srv, m = deliver(t, ["bob@example.org"], data)
    eq(m.mail_from, SENDER, "MAIL FROM")
    eq(m.rcpt_tos, ["bob@example.org"], "RCPT TO")
    eq(m.ehlo, "test.example.org", "EHLO argument (config hostname)")
    eq(m.body, b"Hello Bob.\r\nSecond line.\r\n", "body")
    no_bare_lf(m.data)
    eq(m.one_header("To"), "bob@example.org", "To")
    eq(m.one_header("Subject"), "plain test", "Subject")
    matches(m.one_header("Message-ID"), MSGID_RE, "Message-ID")
    frm = m.one_header("From")
    contains(frm, SENDER, "From:")
    date = email.utils.parsedate_to_datetime(m.one_header("Date"))
    check(date.tzinfo is not None, "Date has no zone: %r" % m.one_header("Date"))
    check(abs(date.timestamp() - before) < 600, "Date is not now: %r" % m.one_header("Date"))
    eq(srv.connections(), 1, "connections")


def test_existing_headers_never_duplicated(t):
    data = (b"Date: Mon, 01 Jan 2024 10:00:00 +0100\n"
            b"Message-ID: <original.1@example.com>\n"
            b"From: Alice Example <alice@example.org>\n"
            b"To: bob@example.org\n"
            b"Subject: complete\n"
            b"\n"
            b"Body.\n")
    srv, m = deliver(t, ["bob@example.org"], data)
    # Nothing is missing, so nothing may be added or changed.
    eq(m.data, harness.crlf(data), "message (all headers present)")


def test_existing_headers_case_insensitive(t):
    data = (b"date: Mon, 01 Jan 2024 10:00:00 +0100\n"
            b"MESSAGE-ID: <original.2@example.com>\n"
            b"fRoM: alice@example.org\n"
            b"Subject: case\n"
            b"\n"
            b"Body.\n")
    srv, m = deliver(t, ["bob@example.org"], data)
    eq(m.header("Date"), ["Mon, 01 Jan 2024 10:00:00 +0100"], "Date fields")
    eq(m.header("Message-ID"), ["<original.2@example.com>"], "Message-ID fields")
    eq(m.header("From"), ["alice@example.org"], "From fields")


def test_extract_recipients_to_cc_bcc(t):
    data = (b"From: alice@example.org\n"
            b"To: Bob <bob@example.org>,\n"
            b"  frank@example.org\n"
            b"Cc: carol@example.org, \"Dave D.\" <dave@example.org>\n"
            b"Bcc: eve@example.org\n"
            b"Subject: -t\n"
            b"\n"
            b"Hidden copy to Eve.\n")
    srv, m = deliver(t, ["-t"], data)
    eq(sorted(m.rcpt_tos), ["bob@example.org", "carol@example.org", "dave@example.org",
                            "eve@example.org", "frank@example.org"], "envelope recipients")
    eq(m.header("Bcc"), [], "Bcc header")
    lacks(m.data, b"eve@example.org", "received message")
    eq(m.one_header("To"), "Bob <bob@example.org>,  frank@example.org", "To (unfolded)")
    eq(m.one_header("Cc"), "carol@example.org, \"Dave D.\" <dave@example.org>", "Cc")
    eq(m.body, b"Hidden copy to Eve.\r\n", "body")
    eq(len(srv.messages()), 1, "one transaction for all recipients")


def test_extract_adds_command_line_recipients(t):
    data = b"To: bob@example.org\nSubject: -t plus argv\n\nx\n"
    srv, m = deliver(t, ["-t", "extra@example.org"], data)
    eq(sorted(m.rcpt_tos), ["bob@example.org", "extra@example.org"], "envelope recipients")


def test_bcc_removed_without_t(t):
    data = (b"To: bob@example.org\nBcc: secret@example.org\n"
            b"Resent-Bcc: secret2@example.org\nSubject: no -t\n\nx\n")
    srv, m = deliver(t, ["bob@example.org"], data)
    eq(m.rcpt_tos, ["bob@example.org"], "envelope: only the command line")
    eq(m.header("Bcc"), [], "Bcc")
    eq(m.header("Resent-Bcc"), [], "Resent-Bcc")
    lacks(m.data, b"secret", "received message")


def test_sender_f(t):
    srv, m = deliver(t, ["-f", "alice@example.org", "bob@example.org"],
                     b"Subject: -f\n\nx\n")
    eq(m.mail_from, "alice@example.org", "MAIL FROM")
    contains(m.one_header("From"), "alice@example.org", "From:")


def test_sender_attached_f_and_r(t):
    srv, m = deliver(t, ["-falice@example.org", "bob@example.org"], b"Subject: -fx\n\nx\n")
    eq(m.mail_from, "alice@example.org", "MAIL FROM (-faddr)")
    srv, m = deliver(t, ["-r", "rita@example.org", "bob@example.org"], b"Subject: -r\n\nx\n")
    eq(m.mail_from, "rita@example.org", "MAIL FROM (-r)")


def test_full_name_F_with_f(t):
    srv, m = deliver(t, ["-F", "Alice Example", "-f", "alice@example.org", "bob@example.org"],
                     b"Subject: -F\n\nx\n")
    eq(m.mail_from, "alice@example.org", "MAIL FROM")
    eq(m.one_header("From"), '"Alice Example" <alice@example.org>', "From:")


def test_full_name_F_alone(t):
    srv, m = deliver(t, ["-FCron Daemon", "bob@example.org"], b"Subject: -F\n\nx\n")
    eq(m.mail_from, SENDER, "MAIL FROM")
    eq(m.one_header("From"), '"Cron Daemon" <%s>' % SENDER, "From:")


def test_full_name_does_not_replace_from(t):
    srv, m = deliver(t, ["-F", "Other Name", "bob@example.org"],
                     b"From: Alice <alice@example.org>\nSubject: keep\n\nx\n")
    eq(m.header("From"), ["Alice <alice@example.org>"], "From fields")


def test_null_sender(t):
    srv, m = deliver(t, ["-f", "<>", "bob@example.org"],
                     b"From: MAILER-DAEMON@example.org\nSubject: bounce\n\nx\n")
    eq(m.mail_from, "<>", "MAIL FROM (null sender)")
    eq(srv.events("mail")[0]["address"], "<>", "MAIL FROM as the server parsed it")


DOTS = b"Subject: dots\n\nline1\n.\n..two\n.three\nlast\n"


def test_dash_i_keeps_lone_dot(t):
    srv, m = deliver(t, ["-i", "bob@example.org"], DOTS)
    eq(m.body, b"line1\r\n.\r\n..two\r\n.three\r\nlast\r\n", "body with -i")


def test_dash_oi_keeps_lone_dot(t):
    srv, m = deliver(t, ["-oi", "bob@example.org"], DOTS)
    eq(m.body, b"line1\r\n.\r\n..two\r\n.three\r\nlast\r\n", "body with -oi")


def test_lone_dot_ends_message_without_i(t):
    srv, m = deliver(t, ["bob@example.org"], DOTS)
    eq(m.body, b"line1\r\n", "body without -i (ends at the lone dot)")


def test_dots_at_line_starts_without_i(t):
    data = b"Subject: dots\n\n..two\n.three\n. \nend\n"
    srv, m = deliver(t, ["bob@example.org"], data)
    eq(m.body, b"..two\r\n.three\r\n. \r\nend\r\n", "body")


def test_command_line_lists_and_display_names(t):
    srv, m = deliver(t, ["a@example.org, b@example.org", '"Ann B" <ann@example.org>',
                         "Carl <carl@example.org>"],
                     b"Subject: lists\n\nx\n")
    eq(sorted(m.rcpt_tos), ["a@example.org", "ann@example.org", "b@example.org",
                            "carl@example.org"], "envelope recipients")
    eq(len(srv.messages()), 1, "one transaction")


def test_log_file_lines(t):
    srv, m = deliver(t, ["bob@example.org", "carol@example.org"], b"Subject: log\n\nx\n")
    log = t.log_text()
    stamp = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} sendmx\[\d+\]: "
    frm = matches(log, stamp + r".*?(\S+): from=<%s>" % re.escape(SENDER), "log")
    qid = frm.group(1)
    for rcpt in ("bob@example.org", "carol@example.org"):
        line = matches(log, r"^.*%s: to=<%s>.*$" % (re.escape(qid), re.escape(rcpt)),
                       "log").group(0)
        contains(line, "relay=127.0.0.1[127.0.0.1]:%d" % srv.port, "log line")
        contains(line, "status=sent", "log line")
        contains(line, "queued as %06d" % m.n, "log line (the relay's reply)")
        matches(line, stamp, "log line")


def _big_input(path, expected_path, target):
    """Write an LF-only message of about `target` bytes with 8-bit bytes and
    dot-led lines; write its CRLF form alongside; return (sha256, size)."""
    h = hashlib.sha256()
    size = 0
    head = (b"Date: Mon, 01 Jan 2024 10:00:00 +0000\n"
            b"Message-ID: <big.1@example.com>\n"
            b"From: alice@example.org\n"
            b"To: bob@example.org\n"
            b"Subject: twenty megabytes\n"
            b"MIME-Version: 1.0\n"
            b"Content-Type: text/plain; charset=ISO-8859-1\n"
            b"Content-Transfer-Encoding: 8bit\n"
            b"\n")
    alphabet = bytes(range(0x21, 0x7f)) + bytes(range(0xa0, 0x100))
    with open(path, "wb") as raw, open(expected_path, "wb") as exp:
        chunk, chunk_crlf = [head], [head.replace(b"\n", b"\r\n")]
        i = 0
        while size < target:
            n = 40 + (i * 7919) % 950          # 40..989 octets
            start = (i * 31) % len(alphabet)
            text = (alphabet[start:] + alphabet[:start]) * (n // len(alphabet) + 1)
            line = b"%07d " % i + text[:n]
            if i % 997 == 0:
                line = b"." + line             # must survive dot-stuffing
            if i % 1999 == 0:
                line = b".."                   # a line of two dots
            chunk.append(line + b"\n")
            chunk_crlf.append(line + b"\r\n")
            size += len(line) + 2
            i += 1
            if len(chunk) >= 2000:
                blob = b"".join(chunk_crlf)
                raw.write(b"".join(chunk))
                exp.write(blob)
                h.update(blob)
                chunk, chunk_crlf = [], []
        blob = b"".join(chunk_crlf)
        raw.write(b"".join(chunk))
        exp.write(blob)
        h.update(blob)
    size = os.path.getsize(expected_path)
    return h.hexdigest(), size


def _first_difference(a_path, b_path):
    with open(a_path, "rb") as a, open(b_path, "rb") as b:
        off = 0
        while True:
            x, y = a.read(1 << 16), b.read(1 << 16)
            if x != y:
                for k in range(min(len(x), len(y))):
                    if x[k] != y[k]:
                        break
                else:
                    k = min(len(x), len(y))
                return off + k, x[max(0, k - 40):k + 40], y[max(0, k - 40):k + 40]
            if not x:
                return None
            off += len(x)


def test_20mb_message_byte_identical(t):
    inp, exp = t.path("big.in"), t.path("big.expected")
    sha, size = _big_input(inp, exp, 20 * 1024 * 1024)
    srv = t.server()
    conf = t.relay_config(srv)
    r = t.sendmx(["bob@example.org"], config=conf, stdin_path=inp)
    t.expect_exit(r, 0)
    m = srv.only_message()
    if m.sha256 != sha:
        diff = _first_difference(m.path, exp)
        raise AssertionError("20 MB message differs: received %d octets, expected %d; "
                             "first difference at %r" % (m.size, size, diff))
    eq(m.size, size, "size")
    contains(m.mail_options, "BODY=8BITMIME", "MAIL FROM parameters")


def test_8bit_body_uses_8bitmime(t):
    body = "Grüße aus Köln — ½ €\n".encode("utf-8")
    srv, m = deliver(t, ["bob@example.org"],
                     b"Subject: 8bit\nContent-Type: text/plain; charset=UTF-8\n\n" + body)
    contains(m.mail_options, "BODY=8BITMIME", "MAIL FROM parameters")
    eq(m.body, harness.crlf(body), "8-bit body")


def test_message_without_headers(t):
    srv, m = deliver(t, ["bob@example.org"], b"just a body line\nsecond line\n")
    head, body = m.split()
    eq(body, b"just a body line\r\nsecond line\r\n", "body")
    matches(m.one_header("Message-ID"), MSGID_RE, "Message-ID")
    m.one_header("Date")
    contains(m.one_header("From"), SENDER, "From:")
    contains(m.data, b"\r\n\r\njust a body line\r\n", "message (blank line before body)")


def test_lf_input_arrives_crlf(t):
    data = b"Subject: lf\n\na\nb\n\nc\n"
    srv, m = deliver(t, ["bob@example.org"], data)
    no_bare_lf(m.data)
    eq(m.body, b"a\r\nb\r\n\r\nc\r\n", "body")


def test_crlf_input_not_doubled(t):
    data = b"Subject: crlf\r\n\r\na\r\nb\r\n"
    srv, m = deliver(t, ["bob@example.org"], data)
    no_bare_lf(m.data)
    eq(m.body, b"a\r\nb\r\n", "body")


def test_missing_final_newline(t):
    srv, m = deliver(t, ["bob@example.org"], b"Subject: eof\n\nno newline at end")
    eq(m.body, b"no newline at end\r\n", "body")


def test_long_body_line_broken_at_998(t):
    line = bytes(b"a" * 2500)
    srv, m = deliver(t, ["bob@example.org"], b"Subject: long\n\n" + line + b"\nshort\n")
    lines = m.body.split(b"\r\n")
    check(all(len(l) <= 998 for l in lines),
          "body line longer than 998: %r" % [len(l) for l in lines])
    eq(m.body.replace(b"\r\n", b""), line + b"short", "body content (only CRLF inserted)")


def test_mbox_from_line_dropped(t):
    data = b"From alice@example.org Mon Jan  1 00:00:00 2024\nSubject: mbox\n\nx\n"
    srv, m = deliver(t, ["bob@example.org"], data)
    check(not m.data.startswith(b"From "), "mbox From_ line kept: %r" % m.data[:80])
    eq(m.one_header("Subject"), "mbox", "Subject")


def test_pipelining_server(t):
    srv, m = deliver(t, ["a@example.org", "b@example.org", "c@example.org"],
                     b"Subject: pipelined\n\nx\n", pipelining=True)
    eq(sorted(m.rcpt_tos), ["a@example.org", "b@example.org", "c@example.org"],
       "envelope recipients")
    eq(m.body, b"x\r\n", "body")


def test_long_header_folded_at_998(t):
    words = " ".join("word%04d" % i for i in range(200))        # about 1800 octets
    srv, m = deliver(t, ["bob@example.org"], ("Subject: " + words + "\n\nx\n").encode())
    head, body = m.split()
    lines = head.split(b"\r\n")
    check(all(len(l) <= 998 for l in lines),
          "header line longer than 998: %r" % [len(l) for l in lines])
    subject = m.one_header("Subject")
    eq(" ".join(subject.split()), words, "Subject after unfolding")
    eq(body, b"x\r\n", "body")


def test_empty_input(t):
    srv, m = deliver(t, ["bob@example.org"], b"")
    m.one_header("Date")
    matches(m.one_header("Message-ID"), MSGID_RE, "Message-ID")
    contains(m.one_header("From"), SENDER, "From:")
    eq(m.body, b"", "body")


def test_size_parameter(t):
    srv, m = deliver(t, ["bob@example.org"], b"Subject: size\n\n" + b"0123456789\n" * 500)
    sizes = [o for o in m.mail_options if o.startswith("SIZE=")]
    eq(len(sizes), 1, "SIZE parameters in %r" % m.mail_options)
    declared = int(sizes[0][5:])
    check(declared >= m.size, "SIZE=%d declared, %d octets sent" % (declared, m.size))


def test_duplicate_recipients_collapsed(t):
    data = b"To: bob@example.org, Bob <bob@example.org>\nCc: bob@example.org\nSubject: dup\n\nx\n"
    srv, m = deliver(t, ["-t", "bob@example.org"], data)
    eq(m.rcpt_tos, ["bob@example.org"], "envelope recipients")


def test_group_syntax_and_comments(t):
    data = (b"To: friends: ann@example.org, \"Ben B.\" <ben@example.org>;\n"
            b"Cc: undisclosed-recipients:;\n"
            b"Bcc: carl@example.org (Carl, in a comment)\n"
            b"Subject: groups\n\nx\n")
    srv, m = deliver(t, ["-t"], data)
    eq(sorted(m.rcpt_tos), ["ann@example.org", "ben@example.org", "carl@example.org"],
       "envelope recipients")


def test_quoted_local_part(t):
    srv, m = deliver(t, ['"john doe"@example.org'], b"Subject: quoted\n\nx\n")
    eq(m.rcpt_tos, ['"john doe"@example.org'], "RCPT TO")


def test_bare_names_qualified_with_hostname(t):
    # RFC 5321 wants a domain in MAIL FROM and RCPT TO: a bare local name
    # gets the configured hostname, as sendmail qualifies with $j.
    srv, m = deliver(t, ["-f", "bounce", "root"], b"Subject: cron\n\nx\n")
    eq(m.mail_from, "bounce@test.example.org", "MAIL FROM")
    eq(m.rcpt_tos, ["root@test.example.org"], "RCPT TO")


def test_bare_sender_qualified_in_generated_from(t):
    # The From built from -f must be an addr-spec with a domain
    # (RFC 5322 3.4.1), and "root" and "root@<hostname>" are one
    # recipient, delivered once.
    srv, m = deliver(t, ["-f", "cron", "-F", "Cron Daemon", "root",
                         "root@test.example.org"], b"Subject: cron\n\nx\n")
    eq(m.mail_from, "cron@test.example.org", "MAIL FROM")
    eq(m.rcpt_tos, ["root@test.example.org"], "RCPT TO")
    eq(m.one_header("From"), '"Cron Daemon" <cron@test.example.org>', "From")


def test_every_refused_recipient_named(t):
    # Each refused recipient gets its own stderr line, however many
    # there are (a fixed 1 KiB message buffer used to drop all but the
    # first few).
    bad = ["user%02d@example.org" % i for i in range(40)]
    srv = t.server(rcpt_reply={a: "550 5.1.1 <%s>: Recipient address rejected: "
                               "User unknown in virtual mailbox table" % a for a in bad})
    conf = t.relay_config(srv)
    r = t.sendmx(["ok@example.org"] + bad, b"Subject: many\n\nx\n", config=conf)
    t.expect_exit(r, 69)
    for a in bad:
        matches(r.err, r"^sendmx: %s: refused: .*550 5\.1\.1 .*table$" % re.escape(a),
                "stderr")
    eq(srv.only_message().rcpt_tos, ["ok@example.org"], "RCPT TO accepted")


def test_partial_tempfail_queues_only_the_deferred(t):
    # bob got the message; carol's copy waits in the queue, and only
    # carol is pending there (a retry must not send bob a second copy).
    srv = t.server(rcpt_reply={"carol@example.org": "451 4.3.0 try later"})
    conf = t.relay_config(srv)
    r = t.sendmx(["bob@example.org", "carol@example.org"], b"Subject: half\n\nx\n",
                 config=conf)
    t.expect_queued(r)
    matches(r.err, r"^sendmx: carol@example\.org: deferred: .*451 4\.3\.0 try later; "
            r"queued as [0-9A-F]+, will retry$", "stderr")
    lacks(r.err, "bob@example.org", "stderr")
    eq(srv.only_message().rcpt_tos, ["bob@example.org"], "RCPT TO accepted")
    q = t.sendmx(["-bp"], b"", config=conf)
    contains(q.out, "carol@example.org", "mailq")
    lacks(q.out, "bob@example.org", "mailq")


def test_full_name_with_newline_cannot_inject_headers(t):
    srv = t.server()
    conf = t.relay_config(srv)
    r = t.sendmx(["-F", "Evil\r\nBcc: victim@example.org\nX-Injected: yes", "bob@example.org"],
                 b"Subject: inject\n\nx\n", config=conf)
    # The control characters are dropped from the name: it stays one
    # harmless display name inside the generated From.
    t.expect_exit(r, 0)
    m = srv.only_message()
    eq(m.rcpt_tos, ["bob@example.org"], "RCPT TO")
    eq(m.header("X-Injected"), [], "injected header")
    eq(m.header("Bcc"), [], "injected Bcc")
    m.one_header("From")


if __name__ == "__main__":
    harness.main()
