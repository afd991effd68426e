#!/usr/bin/env python3
"""Local recipients: aliases (expanded at submission, -bi checks the
file), local mailboxes (mbox read back by a real mail reader), and
local_delivery = none with masquerade_domain."""

import os
import shutil
import subprocess

import harness
from harness import check, contains, eq, lacks, matches

CRON = (b"From: root (Cron Daemon)\nTo: root\nSubject: Cron <root@web1> run-parts\n\n"
        b"From here on the job said hello\n.hidden line\n")


def aliases_file(t, text):
    return t.write("aliases", text, mode=0o644)


def local_config(t, srv=None, aliases_text="", extra=""):
    """A config with an aliases file and mbox delivery into a private
    spool directory; a relay when srv is given."""
    spool = t.path("mail")
    os.makedirs(spool, exist_ok=True)
    al = aliases_file(t, aliases_text)
    conf = t.relay_config(srv, relay=srv is not None, extra=(
        'aliases = "%s"\nlocal_delivery = mbox\nmail_spool = "%s"\n%s'
        % (al, spool, extra)))
    return conf, spool


def test_cron_mail_to_root_aliased_to_remote(t):
    srv = t.server()
    conf, _ = local_config(t, srv, "root: admin@example.net\n")
    r = t.sendmx(["-i", "-FCronDaemon", "-oem", "root"], CRON, config=conf)
    t.expect_exit(r, 0)
    m = srv.only_message()
    eq(m.rcpt_tos, ["admin@example.net"], "envelope recipient after alias expansion")
    contains(m.data, b"Subject: Cron <root@web1> run-parts", "message")
    contains(t.log_text(), "to=<admin@example.net>", "log")


def test_alias_chain_and_mailbox_and_dedupe(t):
    srv = t.server()
    conf, spool = local_config(
        t, srv, "# admins\nroot: ops, \\root\nops: a@example.net,\n  b@example.net, a@EXAMPLE.net\n"
                "postmaster: root\n")
    r = t.sendmx(["root", "postmaster"], b"Subject: x\n\nbody\n", config=conf)
    t.expect_exit(r, 0)
    eq(sorted(srv.only_message().rcpt_tos), ["a@example.net", "b@example.net"],
       "each remote target once")
    with open(os.path.join(spool, "root"), "rb") as f:
        box = f.read()
    eq(box.count(b"\nSubject: x\n"), 1, "one copy in root's mailbox")


def test_alias_loop_refused_nothing_delivered_twice(t):
    srv = t.server()
    conf, spool = local_config(t, srv, "a: b\nb: c\nc: a\n")
    r = t.sendmx(["a", "bob@example.org"], b"Subject: loop\n\nx\n", config=conf)
    t.expect_exit(r, 69)
    matches(r.err, r"^sendmx: a@test\.example\.org: refused: alias loop: a -> b -> c -> a",
            "stderr")
    eq(srv.only_message().rcpt_tos, ["bob@example.org"], "the other recipient")
    eq(os.listdir(spool), [], "no local mailbox written")
    only = t.sendmx(["a"], b"Subject: loop\n\nx\n", config=conf)
    t.expect_exit(only, 69)
    contains(only.err, "no recipient left", "stderr")


def test_newaliases_reports_each_error_with_line(t):
    bad = aliases_file(t, "root: admin@example.net\nbroken line without colon\n"
                          "root: other@example.net\nx: \"unterminated\n")
    conf = t.relay_config(relay=False, extra='aliases = "%s"' % bad)
    r = t.sendmx(["-bi"], b"", config=conf)
    t.expect_exit(r, 65)
    matches(r.err, r"%s:2: " % bad, "error on line 2")
    matches(r.err, r"%s:3: .*root" % bad, "duplicate on line 3")
    matches(r.err, r"%s:4: " % bad, "error on line 4")
    matches(r.err, r"sendmx: %s: \d+ errors" % bad, "summary")
    good = aliases_file(t, "root: admin@example.net\n")
    conf = t.relay_config(relay=False, extra='aliases = "%s"' % good)
    r = t.sendmx(["-bi"], b"", config=conf)
    t.expect_exit(r, 0)
    contains(r.out, "no errors", "clean file")


def mail_reader():
    for p in (os.environ.get("MAILX"), "/usr/bin/mail", "/usr/bin/bsd-mailx",
              shutil.which("mail")):
        if p and os.access(p, os.X_OK):
            return p
    return None


def test_local_mbox_delivery_read_by_mail_reader(t):
    conf, spool = local_config(t, None, "")
    r = t.sendmx(["-f", "cron@test.example.org", "root"], CRON, config=conf)
    t.expect_exit(r, 0)
    box = os.path.join(spool, "root")
    st = os.stat(box)
    eq(oct(st.st_mode & 0o777), "0o600", "mailbox mode")
    eq(st.st_uid, 0, "mailbox owner (root)")
    with open(box, "rb") as f:
        data = f.read()
    matches(data.decode(), r"^From cron@test\.example\.org \w{3} \w{3} [ \d]\d ", "From_ line")
    contains(data, b"\n>From here on the job said hello\n", "From quoted (mboxrd)")
    contains(data, b"\n.hidden line\n", "dot line kept")
    lacks(data, b"\r\n", "LF line ends in the mbox")
    contains(t.log_text(), "relay=local:%s/root" % spool, "log")
    reader = mail_reader()
    if reader is None:
        raise harness.Skip("no mail reader installed (Debian: bsd-mailx)")
    p = subprocess.run([reader, "-N", "-f", box], input=b"p\nq\n", stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    out = p.stdout.decode("utf-8", "replace")
    contains(out, "From here on the job said hello", "the reader unquotes the body line")
    contains(out, "Cron <root@web1> run-parts", "the reader shows the message")


def test_unknown_local_user_refused(t):
    conf, spool = local_config(t, None, "")
    r = t.sendmx(["nosuchuser-sendmx"], b"Subject: x\n\nx\n", config=conf)
    t.expect_exit(r, 69)
    matches(r.err, r"^sendmx: nosuchuser-sendmx@test\.example\.org: refused: .*no such local user",
            "stderr")


def test_local_delivery_none_masquerades_names(t):
    srv = t.server()
    al = aliases_file(t, "postmaster: root\n")
    conf = t.relay_config(srv, extra=('aliases = "%s"\nlocal_delivery = none\n'
                                      'masquerade_domain = "example.com"' % al))
    t.expect_exit(t.sendmx(["postmaster"], b"Subject: x\n\nx\n", config=conf), 0)
    eq(srv.only_message().rcpt_tos, ["root@example.com"], "rewritten to the masquerade domain")


def test_bv_shows_alias_result(t):
    conf, spool = local_config(t, None, "root: nobody, \\root\nloop: loop2\nloop2: loop\n")
    r = t.sendmx(["-bv", "root", "loop", "nosuchuser-sendmx"], b"", config=conf)
    t.expect_exit(r, 69)
    matches(r.out, r"^nosuchuser-sendmx@test\.example\.org: undeliverable: no such local user",
            "unknown local user")
    matches(r.out, r"^loop@test\.example\.org: undeliverable: alias loop", "loop verdict")
    matches(r.out, r"^root@test\.example\.org: deliverable to the local mailbox %s/root$"
            % spool, "mailbox verdict")
    matches(r.out, r"^nobody@test\.example\.org: deliverable to the local mailbox", "alias target")


def test_masquerade_envelope_and_headers(t):
    srv = t.server()
    conf = t.relay_config(srv, extra='masquerade_domain = "example.com"')
    msg = (b"From: Web Server <www-data@test.example.org>\nReply-To: webmaster\n"
           b"Sender: Someone Else <other@example.net>\nTo: bob@example.org\n"
           b"Subject: m\n\nx\n")
    t.expect_exit(t.sendmx(["-f", "www-data", "bob@example.org"], msg, config=conf), 0)
    m = srv.only_message()
    eq(m.mail_from, "www-data@example.com", "envelope sender masqueraded")
    eq(m.one_header("From"), '"Web Server" <www-data@example.com>', "From")
    eq(m.one_header("Reply-To"), "webmaster@example.com", "bare Reply-To qualified and masqueraded")
    eq(m.one_header("Sender"), "Someone Else <other@example.net>", "remote Sender unchanged")
    # A generated From uses the masqueraded sender too.
    t.expect_exit(t.sendmx(["-f", "cron", "bob@example.org"], b"Subject: g\n\nx\n",
                           config=conf), 0)
    g = srv.messages()[-1]
    eq(g.mail_from, "cron@example.com", "envelope")
    contains(g.one_header("From"), "cron@example.com", "generated From")


def test_bv_routes_with_the_masqueraded_sender(t):
    # -bv picks the sender_route intake's rewriting would: the caller's
    # root@test.example.org is masqueraded to root@example.com.
    srv = t.server()
    other = t.server()
    conf = t.relay_config(srv, extra=(
        'masquerade_domain = "example.com"\n'
        'sender_route "@example.com" {\n  host = "127.0.0.1"\n  port = %d\n'
        '  tls = none\n}' % other.port))
    r = t.sendmx(["-bv", "-f", "root", "bob@example.org"], b"", config=conf)
    t.expect_exit(r, 0)
    matches(r.out, r"^bob@example\.org: deliverable via route 127\.0\.0\.1:%d " % other.port,
            "-bv verdict")


def test_sender_rewrite_on_relay(t):
    srv = t.server()
    conf = t.relay_config(srv, relay_extra='sender_rewrite = "noreply@example.org"')
    msg = b"From: Alice <alice@test.example.org>\nTo: bob@example.org\nSubject: s\n\nx\n"
    t.expect_exit(t.sendmx(["-f", "alice", "bob@example.org"], msg, config=conf), 0)
    m = srv.only_message()
    eq(m.mail_from, "noreply@example.org", "envelope sender forced")
    eq(m.one_header("From"), '"Alice" <noreply@example.org>', "From forced, name kept")
    eq(m.one_header("Reply-To"), "Alice <alice@test.example.org>", "original From in Reply-To")
    # A bounce keeps its null sender.
    t.expect_exit(t.sendmx(["-f", "<>", "bob@example.org"], b"Subject: b\n\nx\n",
                           config=conf), 0)
    eq(srv.messages()[-1].mail_from, "<>", "null sender kept")


def test_sender_map(t):
    srv = t.server()
    mp = t.write("generic", "# local name -> address\nwww-data  web@example.org\n", mode=0o644)
    conf = t.relay_config(srv, extra='sender_map = "%s"' % mp)
    t.expect_exit(t.sendmx(["-f", "www-data", "bob@example.org"], b"Subject: s\n\nx\n",
                           config=conf), 0)
    m = srv.only_message()
    eq(m.mail_from, "web@example.org", "mapped envelope sender")
    contains(m.one_header("From"), "web@example.org", "mapped From")
    bad = t.write("badmap", "www-data\n", mode=0o644)
    conf = t.relay_config(srv, extra='sender_map = "%s"' % bad)
    r = t.sendmx(["bob@example.org"], b"Subject: s\n\nx\n", config=conf)
    t.expect_exit(r, 78)
    contains(r.err, "%s:1:" % bad, "map error with its line")


if __name__ == "__main__":
    harness.main()
