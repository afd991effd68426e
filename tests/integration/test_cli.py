#!/usr/bin/env python3
"""The sendmail command line: usage errors, modes, config errors, -v."""

import os
import re

import harness
from harness import check, contains, eq, lacks, matches

MSG = b"Subject: cli\n\nbody\n"


def nothing_arrived(srv):
    eq(srv.messages(), [], "messages at the server")
    eq(srv.connections(), 0, "connections to the server")


def setup(t, **opts):
    srv = t.server(**opts)
    return srv, t.relay_config(srv)


def test_unknown_flag_is_usage_error(t):
    srv, conf = setup(t)
    r = t.sendmx(["-X", "bob@example.org"], MSG, config=conf)
    t.expect_exit(r, 64)
    matches(r.err, r"(?i)usage", "stderr")
    contains(r.err, "sendmx:", "stderr")
    nothing_arrived(srv)


def test_unsupported_modes_are_usage_errors(t):
    srv, conf = setup(t)
    for mode in ("-bd", "-bt", "-ba"):
        r = t.sendmx([mode], b"", config=conf)
        t.expect_exit(r, 64)
        check(r.err.strip() != "", "%s: no message on stderr" % mode)
    nothing_arrived(srv)


def test_missing_option_argument(t):
    srv, conf = setup(t)
    for args in (["-f"], ["-F"], ["-C"]):
        r = t.sendmx(args, MSG, config=conf)
        t.expect_exit(r, 64)
        check(r.err.strip() != "", "%r: no message on stderr" % args)
    nothing_arrived(srv)


def test_no_recipients(t):
    srv, conf = setup(t)
    r = t.sendmx([], MSG, config=conf)
    t.expect_exit(r, 65)
    contains(r.err, "sendmx:", "stderr")
    r = t.sendmx(["-t"], b"From: alice@example.org\nSubject: nobody\n\nx\n", config=conf)
    t.expect_exit(r, 65)
    contains(r.err, "sendmx:", "stderr")
    nothing_arrived(srv)


def test_recipient_with_crlf_refused(t):
    srv, conf = setup(t)
    for rcpt in ("a@b\r\nRCPT TO:<x@y>", "a@example.org\nRCPT TO:<x@example.org>",
                 "a@example.org\r"):
        r = t.sendmx([rcpt], MSG, config=conf)
        t.expect_exit(r, 65)
        contains(r.err, "sendmx:", "stderr")
    nothing_arrived(srv)


def test_recipient_with_crlf_among_good_ones(t):
    srv, conf = setup(t)
    r = t.sendmx(["good@example.org", "bad@example.org\r\nDATA"], MSG, config=conf)
    t.expect_exit(r, 65)
    nothing_arrived(srv)


def test_unparseable_address(t):
    srv, conf = setup(t)
    for rcpt in ("<unterminated@example.org", "two@at@example.org", "\"open quote@example.org",
                 "a@example.org>"):
        r = t.sendmx([rcpt], MSG, config=conf)
        t.expect_exit(r, 65)
        contains(r.err, "sendmx:", "stderr for %r" % rcpt)
    nothing_arrived(srv)


def test_bad_sender_address(t):
    srv, conf = setup(t)
    for sender in ("<broken", "alice@example.org\r\nRCPT TO:<x@y>", "alice@bad_domain.org",
                   "alice@-example.org"):
        r = t.sendmx(["-f", sender, "bob@example.org"], MSG, config=conf)
        t.expect_exit(r, 65)
        contains(r.err, "bad sender address", "stderr")
    nothing_arrived(srv)


def test_queue_modes_on_an_empty_queue(t):
    srv, conf = setup(t)
    r = t.sendmx(["-bp"], b"", config=conf)
    t.expect_exit(r, 0)
    eq(r.out, "Mail queue is empty\n", "-bp on an empty queue")
    r = t.sendmx(["-q", "-v"], b"", config=conf)
    t.expect_exit(r, 0)
    contains(r.err, "queue run: 0 messages", "-q -v")
    r = t.sendmx(["-qX"], b"", config=conf)
    t.expect_exit(r, 64)
    contains(r.err, "-qX: expected", "bad -q argument")
    nothing_arrived(srv)


def test_queue_dir_not_writable_refuses_before_reading(t):
    srv = t.server()
    conf = t.relay_config(srv, extra='queue_dir = "%s"' % t.path("no-such-dir"))
    r = t.sendmx(["bob@example.org"], MSG, config=conf)
    t.expect_exit(r, 73)
    contains(r.err, t.path("no-such-dir"), "stderr names the directory")
    nothing_arrived(srv)


def test_mailq_and_newaliases_links(t):
    srv = t.server()
    aliases = t.write("aliases", "postmaster: root\n", mode=0o644)
    conf = t.relay_config(srv, extra='aliases = "%s"' % aliases)
    bp = t.sendmx(["-bp"], b"", config=conf)
    t.expect_exit(bp, 0)
    mailq = t.sendmx([], b"", config=conf, argv0=t.link("mailq"))
    t.expect_exit(mailq, 0)
    eq(mailq.out, bp.out, "mailq stdout (same as -bp)")
    bi = t.sendmx(["-bi"], b"", config=conf)
    t.expect_exit(bi, 0)
    newaliases = t.sendmx([], b"", config=conf, argv0=t.link("newaliases"))
    t.expect_exit(newaliases, 0)
    eq(newaliases.out + newaliases.err, bi.out + bi.err, "newaliases output (same as -bi)")
    nothing_arrived(srv)


def test_bv_prints_route_and_sends_nothing(t):
    srv, conf = setup(t)
    r = t.sendmx(["-bv", "bob@example.org", "carol@example.org"], b"", config=conf)
    t.expect_exit(r, 0)
    for rcpt in ("bob@example.org", "carol@example.org"):
        line = matches(r.out, r"^.*%s.*$" % re.escape(rcpt), "stdout").group(0)
        contains(line, "relay", "-bv line")
        contains(line, "127.0.0.1:%d" % srv.port, "-bv line")
    nothing_arrived(srv)


def test_bv_invalid_address_not_deliverable(t):
    # -bm refuses it (65): -bv must not call it deliverable.
    srv, conf = setup(t)
    r = t.sendmx(["-bv", "bob@example.org", "ann@bad_domain.org"], b"", config=conf)
    t.expect_exit(r, 65)
    matches(r.out, r"^bob@example\.org: deliverable via relay", "stdout")
    matches(r.out, r"^ann@bad_domain\.org: undeliverable: ", "stdout")
    nothing_arrived(srv)


def test_bv_qualifies_bare_names_as_delivery_does(t):
    srv, conf = setup(t)
    r = t.sendmx(["-bv", "root", "root@test.example.org"], b"", config=conf)
    t.expect_exit(r, 0)
    # "root" is qualified to root@test.example.org, the same recipient,
    # and delivery would send it once: one verdict.
    verdicts = [l for l in r.out.splitlines() if not l.startswith(" ")]
    eq(len(verdicts), 1, "one verdict line per distinct recipient")
    matches(verdicts[0], r"^root@test\.example\.org: deliverable via relay", "-bv line")
    # The verdict is followed by the relay's addresses as they would be tried.
    matches(r.out, r"\n    host 127\.0\.0\.1: 127\.0\.0\.1 port \d+\n", "-bv address line")
    nothing_arrived(srv)


def test_bv_without_relay_and_dns(t):
    # No relay: the MX hosts of example.org, asked of a DNS server that
    # is not there (nothing listens on the discard port): temporary.
    conf = t.relay_config(relay=False, extra='dns_servers = "127.0.0.1:9"\n'
                          'dns_timeout = 1')
    r = t.sendmx(["-bv", "bob@example.org"], b"", config=conf)
    t.expect_exit(r, 75)
    # The form the man page documents: "<rcpt>: undeliverable: <reason>".
    matches(r.out, r"^bob@example\.org: undeliverable: .*example\.org", "stdout")


def test_version(t):
    r = t.sendmx(["--version"], b"")
    t.expect_exit(r, 0)
    matches(r.out, r"^sendmx \d+\.\d+", "stdout")


def test_config_unknown_key_names_file_and_line(t):
    srv = t.server()
    conf = t.config('hostname = "test.example.org"\n'
                    "syslog = false\n"
                    'no_such_key = "x"\n'
                    "relay {\n"
                    '  host = "127.0.0.1"\n'
                    "  port = %d\n"
                    "  tls = none\n"
                    "}\n" % srv.port)
    r = t.sendmx(["bob@example.org"], MSG, config=conf)
    t.expect_exit(r, 78)
    contains(r.err, "%s:3" % conf, "stderr")
    nothing_arrived(srv)


def test_config_errors_in_relay_section(t):
    srv = t.server()
    cases = [
        ("relay {\n  host = \"127.0.0.1\"\n  port = %d\n  tls = sometimes\n}\n" % srv.port, 4),
        ("relay {\n  port = %d\n  tls = none\n}\n" % srv.port, None),    # host missing
        ("relay {\n  host = \"127.0.0.1\"\n  port = \"many\"\n}\n", 3),
        ("relay {\n  host = \"127.0.0.1\"\n  bogus = 1\n}\n", 3),
        ("syslog = false\nrelay {\n  host = \"127.0.0.1\"\n", None),     # unterminated
    ]
    for i, (text, line) in enumerate(cases):
        conf = t.config(text, name="bad%d.conf" % i)
        r = t.sendmx(["bob@example.org"], MSG, config=conf)
        t.expect_exit(r, 78)
        contains(r.err, conf if line is None else "%s:%d" % (conf, line),
                 "stderr for case %d" % i)
    nothing_arrived(srv)


def test_config_file_missing(t):
    r = t.sendmx(["bob@example.org"], MSG, config=t.path("does-not-exist.conf"))
    t.expect_exit(r, 78)
    contains(r.err, "does-not-exist.conf", "stderr")


def test_attached_C(t):
    srv, conf = setup(t)
    r = t.sendmx(["-C" + conf, "bob@example.org"], MSG)
    t.expect_exit(r, 0)
    eq(srv.only_message().rcpt_tos, ["bob@example.org"], "recipients")


def test_password_file_readable_by_others(t):
    srv = t.server()
    secret = t.write("secret", "hunter2\n", mode=0o644)
    conf = t.relay_config(srv, relay_extra='user = "alice"\npassword_file = "%s"' % secret)
    r = t.sendmx(["bob@example.org"], MSG, config=conf)
    t.expect_exit(r, 78)
    contains(r.err, secret, "stderr")
    lacks(r.err, "hunter2", "stderr")
    nothing_arrived(srv)


def test_inline_password_in_world_readable_config(t):
    srv = t.server()
    conf = t.relay_config(srv, relay_extra='user = "alice"\npassword = "hunter2"', mode=0o644)
    r = t.sendmx(["bob@example.org"], MSG, config=conf)
    t.expect_exit(r, 78)
    contains(r.err, conf, "stderr")
    lacks(r.err, "hunter2", "stderr")
    nothing_arrived(srv)


def test_verbose_shows_dialogue_and_ignored_options(t):
    srv, conf = setup(t)
    r = t.sendmx(["-v", "-B8BITMIME", "bob@example.org"], MSG, config=conf)
    t.expect_exit(r, 0)
    matches(r.err, r"^>>> EHLO test\.example\.org\r?$", "stderr")
    matches(r.err, r"^<<< 220 ", "stderr")
    matches(r.err, r"^>>> MAIL FROM:<", "stderr")
    matches(r.err, r"^>>> RCPT TO:<bob@example\.org>", "stderr")
    matches(r.err, r"^<<< 250 2\.0\.0 OK: queued as 000001", "stderr")
    # spec: "sendmx: ignoring option -B8BITMIME"; the value may be shown apart.
    matches(r.err, r"^sendmx: .*ignor.*-B ?8BITMIME|^sendmx: .*-B ?8BITMIME.*ignor", "stderr")
    eq(srv.only_message().rcpt_tos, ["bob@example.org"], "recipients")


def test_ignored_options_still_deliver(t):
    srv, conf = setup(t)
    args = ["-oem", "-odi", "-oQ/var/spool/x", "-oXvalue", "-N", "never", "-R", "hdrs",
            "-V", "envid1", "-B", "8BITMIME", "-G", "-L", "tag", "-U", "-h", "5", "-n", "-m",
            "-bm", "bob@example.org"]
    r = t.sendmx(args, MSG, config=conf)
    t.expect_exit(r, 0)
    eq(r.err, "", "stderr without -v")
    m = srv.only_message()
    eq(m.rcpt_tos, ["bob@example.org"], "recipients")
    eq(m.body, b"body\r\n", "body")


def test_double_dash_ends_options(t):
    srv, conf = setup(t)
    r = t.sendmx(["-i", "--", "-odd@example.org", "bob@example.org"], MSG, config=conf)
    t.expect_exit(r, 0)
    eq(sorted(srv.only_message().rcpt_tos), ["-odd@example.org", "bob@example.org"],
       "recipients")


def test_closed_standard_descriptors(t):
    # Callers (cron jobs, daemons) may close 0-2. Without a log file the
    # spool file then became fd 2, and -v wrote its transcript into the
    # message while it was being sent: sendmx never finished.
    if harness.sendmx_is_wrapper():
        raise harness.Skip("valgrind itself takes the closed descriptors")
    srv = t.server()
    conf = t.config('hostname = "%s"\nsyslog = false\nqueue_dir = "%s"\n'
                    'relay {\n  host = "127.0.0.1"\n'
                    '  port = %d\n  tls = none\n}\n' % (harness.HOSTNAME, t.queue_dir(),
                                                        srv.port))
    r = t.run(["/bin/sh", "-c", "printf 'Subject: closed\\n\\nline one\\n' | "
               "%s -C %s -v bob@example.org 2>&-; echo rc=$?" % (harness.SENDMX, conf)],
              timeout=30)
    eq(r.out, "rc=0\n", "exit status with stderr closed")
    m = srv.only_message()
    eq(m.one_header("Subject"), "closed", "Subject")
    eq(m.body, b"line one\r\n", "body")
    # With stdin closed the message is empty, as from /dev/null.
    r = t.run(["/bin/sh", "-c", "%s -C %s bob@example.org <&-; echo rc=$?"
               % (harness.SENDMX, conf)], timeout=30)
    eq(r.out, "rc=0\n", "exit status with stdin closed")
    eq(srv.messages()[-1].body, b"", "body of the message read from a closed stdin")


def test_sendmail_name_behaves_like_sendmx(t):
    srv, conf = setup(t)
    r = t.sendmx(["-i", "bob@example.org"], MSG, config=conf, argv0=t.link("sendmail"))
    t.expect_exit(r, 0)
    eq(srv.only_message().rcpt_tos, ["bob@example.org"], "recipients")


def test_bad_header_address_with_t(t):
    srv, conf = setup(t)
    r = t.sendmx(["-t"], b"To: <broken@example.org\nSubject: bad\n\nx\n", config=conf)
    t.expect_exit(r, 65)
    contains(r.err, "sendmx:", "stderr")
    nothing_arrived(srv)


def test_max_message_size(t):
    srv = t.server()
    conf = t.relay_config(srv, extra="max_message_size = 1000")
    r = t.sendmx(["bob@example.org"], b"Subject: small\n\n" + b"x" * 70 + b"\n", config=conf)
    t.expect_exit(r, 0)
    r = t.sendmx(["bob@example.org"], b"Subject: big\n\n" + (b"y" * 70 + b"\n") * 100,
                 config=conf)
    t.expect_exit(r, 65)
    matches(r.err, r"(?i)size|too (big|large)|larger", "stderr")
    eq(len(srv.messages()), 1, "messages (only the small one)")


def test_every_config_key_accepted(t):
    cert, key = harness.make_cert()
    srv = t.server(starttls=(cert, key), require_starttls=True, auth="PLAIN,LOGIN",
                   user="alice", password="pw", auth_require_tls=True, auth_required=True)
    secret = t.write("secret", "pw\n", mode=0o600)
    os.mkdir(t.path("spooltmp"))
    conf = t.relay_config(srv, tls="starttls", extra="\n".join([
        "timeout = 30", "connect_timeout = 10", "max_message_size = 0",
        'temp_dir = "%s"' % t.path("spooltmp")]), relay_extra="\n".join([
        'user = "alice"', 'password_file = "%s"' % secret, 'ca_file = "%s"' % cert,
        'ca_path = "/etc/ssl/certs"', "verify = true", "allow_plaintext_auth = false",
        'auth_mechanisms = "LOGIN PLAIN"']))
    r = t.sendmx(["bob@example.org"], MSG, config=conf)
    t.expect_exit(r, 0)
    m = srv.only_message()
    eq((m.tls, m.auth_login), (True, "alice"), "TLS and AUTH")
    eq(os.listdir(t.path("spooltmp")), [], "files left in temp_dir")


def test_temp_dir_missing(t):
    srv = t.server()
    conf = t.relay_config(srv, extra='temp_dir = "%s"' % t.path("no-such-dir"))
    r = t.sendmx(["bob@example.org"], MSG, config=conf)
    t.expect_exit(r, 75)
    contains(r.err, "no-such-dir", "stderr")
    nothing_arrived(srv)


if __name__ == "__main__":
    harness.main()
