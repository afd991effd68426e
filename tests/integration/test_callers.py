#!/usr/bin/env python3
"""sendmx called the way real programs call sendmail (cron, PHP, mailx, mutt, web apps)."""

import shutil

import harness
from harness import LOGIN, Skip, check, contains, eq, lacks

SENDER = "%s@test.example.org" % LOGIN

CRON_MSG = ("From: root (Cron Daemon)\n"
            "To: root@example.org\n"
            "Subject: Cron <root@web1> /usr/local/bin/backup\n"
            "MIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=UTF-8\n"
            "Content-Transfer-Encoding: 8bit\n"
            "X-Cron-Env: <SHELL=/bin/sh>\n"
            "X-Cron-Env: <HOME=/root>\n"
            "X-Cron-Env: <LOGNAME=root>\n"
            "\n"
            "backup: 3 files — done ✓\n"
            ".\n"
            "after the dot\n").encode("utf-8")


def setup(t, **opts):
    srv = t.server(**opts)
    return srv, t.relay_config(srv), t.link("sendmail")


def test_cron(t):
    srv, conf, sendmail = setup(t)
    r = t.sendmx(["-i", "-FCronDaemon", "-B8BITMIME", "-oem", "root@example.org"],
                 CRON_MSG, config=conf, argv0=sendmail)
    t.expect_exit(r, 0)
    eq(r.out + r.err, "", "output (cron mails any output back)")
    m = srv.only_message()
    eq(m.mail_from, SENDER, "MAIL FROM")
    eq(m.rcpt_tos, ["root@example.org"], "RCPT TO")
    contains(m.mail_options, "BODY=8BITMIME", "MAIL FROM parameters")
    eq(m.header("From"), ["root (Cron Daemon)"], "From fields")
    eq(m.header("X-Cron-Env"), ["<SHELL=/bin/sh>", "<HOME=/root>", "<LOGNAME=root>"],
       "X-Cron-Env fields")
    eq(m.body, "backup: 3 files — done ✓\r\n.\r\nafter the dot\r\n".encode("utf-8"), "body")
    m.one_header("Date")
    m.one_header("Message-ID")


def test_cron_unqualified_recipient(t):
    # cron's default MAILTO is the bare user name.
    srv, conf, sendmail = setup(t)
    r = t.sendmx(["-i", "-FCronDaemon", "-B8BITMIME", "-oem", "root"],
                 CRON_MSG.replace(b"To: root@example.org", b"To: root"),
                 config=conf, argv0=sendmail)
    t.expect_exit(r, 0)
    eq(srv.only_message().rcpt_tos, ["root@test.example.org"], "RCPT TO")


def test_php_mail(t):
    php = shutil.which("php")
    if not php:
        raise Skip("php not installed")
    srv, conf, sendmail = setup(t)
    code = ('var_export(mail("bob@example.org", "Subject here", "Body line\\n.\\nlast", '
            '"From: web@example.org\\r\\nCc: carol@example.org"));')
    r = t.run([php, "-n", "-d", "sendmail_path=%s -C %s -t -i" % (sendmail, conf), "-r", code])
    eq(r.code, 0, "php exit code")
    eq(r.out, "true", "mail() result")
    m = srv.only_message()
    eq(sorted(m.rcpt_tos), ["bob@example.org", "carol@example.org"], "RCPT TO")
    eq(m.mail_from, SENDER, "MAIL FROM")
    eq(m.header("From"), ["web@example.org"], "From fields")
    eq(m.one_header("To"), "bob@example.org", "To")
    eq(m.one_header("Cc"), "carol@example.org", "Cc")
    eq(m.one_header("Subject"), "Subject here", "Subject")
    eq(m.body, b"Body line\r\n.\r\nlast\r\n", "body")


def test_web_app_t_i_f(t):
    srv, conf, sendmail = setup(t)
    msg = (b"To: Customer <customer@example.net>\n"
           b"Bcc: archive@example.org\n"
           b"From: Shop <shop@example.org>\n"
           b"Subject: Your order\n"
           b"\n"
           b"Thank you.\n"
           b".\n"
           b"-- \nShop\n")
    r = t.sendmx(["-t", "-i", "-f", "bounce@example.org"], msg, config=conf, argv0=sendmail)
    t.expect_exit(r, 0)
    m = srv.only_message()
    eq(m.mail_from, "bounce@example.org", "MAIL FROM")
    eq(sorted(m.rcpt_tos), ["archive@example.org", "customer@example.net"], "RCPT TO")
    eq(m.header("Bcc"), [], "Bcc")
    eq(m.header("From"), ["Shop <shop@example.org>"], "From fields")
    eq(m.body, b"Thank you.\r\n.\r\n-- \r\nShop\r\n", "body")


def test_web_app_address_as_display_name(t):
    # Web apps write the address itself as the display name, unquoted;
    # sendmail and Postfix deliver to the address in the angle brackets.
    srv, conf, sendmail = setup(t)
    msg = (b"To: customer@example.net <customer@example.net>\n"
           b"From: shop@example.org <shop@example.org>\n"
           b"Subject: Your order\n"
           b"\n"
           b"Thank you.\n")
    r = t.sendmx(["-t", "-i"], msg, config=conf, argv0=sendmail)
    t.expect_exit(r, 0)
    m = srv.only_message()
    eq(m.rcpt_tos, ["customer@example.net"], "RCPT TO")
    eq(m.one_header("To"), "customer@example.net <customer@example.net>", "To")


def test_mailx(t):
    srv, conf, sendmail = setup(t)
    msg = b"To: bob@example.org\nSubject: from mailx\n\nhi\n"
    r = t.sendmx(["-i", "--", "bob@example.org"], msg, config=conf, argv0=sendmail)
    t.expect_exit(r, 0)
    m = srv.only_message()
    eq(m.rcpt_tos, ["bob@example.org"], "RCPT TO")
    eq(m.one_header("Subject"), "from mailx", "Subject")
    eq(m.body, b"hi\r\n", "body")


def test_mutt(t):
    srv, conf, sendmail = setup(t)
    msg = (b"Date: Tue, 02 Jan 2024 09:30:00 +0100\n"
           b"From: Alice <alice@example.org>\n"
           b"To: bob@example.org, carol@example.org\n"
           b"Subject: from mutt\n"
           b"Message-ID: <20240102083000.GA1@example.org>\n"
           b"MIME-Version: 1.0\n"
           b"Content-Type: text/plain; charset=us-ascii\n"
           b"Content-Disposition: inline\n"
           b"\n"
           b"hello\n")
    r = t.sendmx(["-oem", "-oi", "--", "bob@example.org", "carol@example.org"], msg,
                 config=conf, argv0=sendmail)
    t.expect_exit(r, 0)
    m = srv.only_message()
    eq(sorted(m.rcpt_tos), ["bob@example.org", "carol@example.org"], "RCPT TO")
    eq(m.data, harness.crlf(msg), "message (complete headers: nothing added)")


def test_shell_pipeline(t):
    # e.g. a backup script: printf ... | sendmail -t
    srv, conf, sendmail = setup(t)
    r = t.run(["/bin/sh", "-c", "printf 'To: ops@example.org\\nSubject: nightly\\n\\nok\\n' "
               "| %s -C %s -t" % (sendmail, conf)])
    eq(r.code, 0, "pipeline exit code")
    m = srv.only_message()
    eq(m.rcpt_tos, ["ops@example.org"], "RCPT TO")
    eq(m.body, b"ok\r\n", "body")


if __name__ == "__main__":
    harness.main()
