#!/usr/bin/env python3
"""STARTTLS, implicit TLS, certificate checks and SMTP AUTH against a real server."""

import base64
import os
import shutil

import harness
from harness import check, contains, eq, lacks, matches

USER = "alice"
PASSWORD = "c0rrect-horse 42"
MSG = b"Subject: tls\n\nsecret body\n"


def auth_server(t, mechs="PLAIN", tls="starttls", **extra):
    opts = dict(auth=mechs, user=USER, password=PASSWORD, auth_require_tls=True,
                auth_required=True)
    if tls == "starttls":
        opts.update(starttls=True, require_starttls=True)
    elif tls == "tls":
        opts.update(implicit_tls=True)
    opts.update(extra)
    return t.server(**opts)


def tls_config(t, srv, tls="starttls", user=USER, password=PASSWORD, ca=True, verify=True,
               host="127.0.0.1", extra="", name="sendmx.conf"):
    lines = []
    if user:
        secret = t.write("secret", password + "\n", mode=0o600)
        lines += ['user = "%s"' % user, 'password_file = "%s"' % secret]
    if ca:
        lines.append('ca_file = "%s"' % (harness.make_cert()[0] if ca is True else ca))
    lines.append("verify = %s" % ("true" if verify else "false"))
    if extra:
        lines.append(extra)
    return t.relay_config(srv, tls=tls, host=host, relay_extra="\n".join(lines), name=name)


def nothing_delivered(srv):
    eq(srv.messages(), [], "messages at the server")
    eq(srv.events("mail"), [], "MAIL commands at the server")


def no_credentials_sent(srv):
    eq(srv.events("auth"), [], "AUTH commands at the server")


def delivered_with_auth(t, srv, conf, mech, args=("bob@example.org",)):
    r = t.sendmx(list(args), MSG, config=conf)
    t.expect_exit(r, 0)
    m = srv.only_message()
    eq(m.tls, True, "TLS active during the transaction")
    eq(m.auth_login, USER, "AUTH login")
    eq(m.auth_mechanism, mech, "AUTH mechanism")
    eq(m.body, b"secret body\r\n", "body")
    return r, m


def test_starttls_auth_plain(t):
    srv = auth_server(t, "PLAIN")
    delivered_with_auth(t, srv, tls_config(t, srv), "PLAIN")
    eq(len(srv.events("starttls")), 1, "STARTTLS handshakes")
    auths = srv.events("auth")
    check(auths and all(a["tls"] for a in auths), "AUTH sent outside TLS: %r" % auths)


def test_starttls_auth_login(t):
    srv = auth_server(t, "LOGIN")
    delivered_with_auth(t, srv, tls_config(t, srv), "LOGIN")


def test_starttls_auth_cram_md5(t):
    srv = auth_server(t, "CRAM-MD5")
    delivered_with_auth(t, srv, tls_config(t, srv), "CRAM-MD5")


def test_strongest_mechanism_by_default(t):
    srv = auth_server(t, "PLAIN,LOGIN,CRAM-MD5")
    delivered_with_auth(t, srv, tls_config(t, srv), "CRAM-MD5")


def test_auth_mechanisms_restriction(t):
    srv = auth_server(t, "PLAIN,LOGIN,CRAM-MD5")
    conf = tls_config(t, srv, extra='auth_mechanisms = "LOGIN"')
    delivered_with_auth(t, srv, conf, "LOGIN")


def test_inline_password(t):
    srv = auth_server(t, "PLAIN")
    conf = t.relay_config(srv, tls="starttls", relay_extra="\n".join([
        'user = "%s"' % USER, 'password = "%s"' % PASSWORD,
        'ca_file = "%s"' % harness.make_cert()[0], "verify = true"]))
    delivered_with_auth(t, srv, conf, "PLAIN")


def test_starttls_without_auth(t):
    srv = t.server(starttls=True, require_starttls=True)
    r = t.sendmx(["bob@example.org"], MSG, config=tls_config(t, srv, user=None))
    t.expect_exit(r, 0)
    m = srv.only_message()
    eq(m.tls, True, "TLS active")
    eq(m.auth_login, None, "AUTH login")


def test_starttls_with_dns_name(t):
    srv = t.server(starttls=True, require_starttls=True)
    r = t.sendmx(["bob@example.org"], MSG, config=tls_config(t, srv, user=None, host="localhost"))
    t.expect_exit(r, 0)
    eq(srv.only_message().tls, True, "TLS active")


def test_ca_path(t):
    cert, key = harness.make_cert()
    cadir = t.path("cadir")
    os.mkdir(cadir)
    shutil.copy(cert, os.path.join(cadir, "test-ca.pem"))
    r = t.run(["openssl", "rehash", cadir])
    eq(r.code, 0, "openssl rehash exit code")
    srv = auth_server(t, "PLAIN")
    conf = tls_config(t, srv, ca=False, extra='ca_path = "%s"' % cadir)
    delivered_with_auth(t, srv, conf, "PLAIN")


def test_auth_mechanisms_no_common_mechanism(t):
    srv = auth_server(t, "PLAIN")
    r = t.sendmx(["bob@example.org"], MSG,
                 config=tls_config(t, srv, extra='auth_mechanisms = "CRAM-MD5"'))
    t.expect_queued(r)
    contains(r.err, "AUTH", "stderr")
    nothing_delivered(srv)
    no_credentials_sent(srv)


def test_implicit_tls(t):
    srv = auth_server(t, "PLAIN", tls="tls")
    delivered_with_auth(t, srv, tls_config(t, srv, tls="tls"), "PLAIN")
    eq(srv.events("connect")[0]["implicit_tls"], True, "server mode")
    eq(srv.events("starttls"), [], "STARTTLS under implicit TLS")


def test_acceptance_t_i_through_starttls_auth(t):
    # The "done when": `sendmx -C conf -t -i < msg` arrives through
    # a STARTTLS + AUTH relay exactly as sent, Bcc gone, headers completed.
    srv = auth_server(t, "PLAIN")
    msg = (b"From: Alice <alice@example.org>\n"
           b"To: Bob <bob@example.org>\n"
           b"Cc: carol@example.org\n"
           b"Bcc: dave@example.org,\n"
           b"  erin@example.org\n"
           b"Subject: acceptance\n"
           b"\n"
           b"first line\n"
           b".\n"
           b"..two dots\n"
           b"last line\n")
    r = t.sendmx(["-t", "-i"], msg, config=tls_config(t, srv))
    t.expect_exit(r, 0)
    m = srv.only_message()
    eq((m.tls, m.auth_login), (True, USER), "TLS and AUTH")
    eq(sorted(m.rcpt_tos), ["bob@example.org", "carol@example.org", "dave@example.org",
                            "erin@example.org"], "RCPT TO")
    head, _, body = m.data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    eq(lines[:4], [b"From: Alice <alice@example.org>", b"To: Bob <bob@example.org>",
                   b"Cc: carol@example.org", b"Subject: acceptance"], "headers as sent")
    eq(len(lines), 6, "header lines: four sent, Bcc gone, Date and Message-ID added")
    matches(lines[4].decode(), r"^Date: \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}$",
            "Date")
    matches(lines[5].decode(), r"^Message-ID: <[^<>@\s]+@test\.example\.org>$", "Message-ID")
    eq(body, b"first line\r\n.\r\n..two dots\r\nlast line\r\n", "body exactly as sent")


def test_verbose_names_tls_and_verification(t):
    for mode in ("starttls", "tls"):
        srv = auth_server(t, "PLAIN", tls=mode)
        r, _ = delivered_with_auth(t, srv, tls_config(t, srv, tls=mode), "PLAIN",
                                   args=("-v", "bob@example.org"))
        matches(r.err, r"(?m)^sendmx: TLS: TLSv1\.[23] \S+, verified$",
                "-v TLS line (%s)" % mode)


def test_untrusted_certificate_refused(t):
    # verify = true and no ca_file: the system store does not trust the
    # self-signed test certificate.
    srv = auth_server(t, "PLAIN")
    r = t.sendmx(["bob@example.org"], MSG, config=tls_config(t, srv, ca=False))
    t.expect_queued(r)
    matches(r.err, r"(?i)certificate", "stderr")
    nothing_delivered(srv)
    no_credentials_sent(srv)


def test_untrusted_certificate_refused_implicit_tls(t):
    srv = auth_server(t, "PLAIN", tls="tls")
    r = t.sendmx(["bob@example.org"], MSG, config=tls_config(t, srv, tls="tls", ca=False))
    t.expect_queued(r)
    matches(r.err, r"(?i)certificate", "stderr")
    nothing_delivered(srv)
    no_credentials_sent(srv)


def test_certificate_name_mismatch_refused(t):
    cert, key = harness.make_cert("other.example", "DNS:other.example")
    srv = t.server(starttls=(cert, key), require_starttls=True, auth="PLAIN", user=USER,
                   password=PASSWORD, auth_require_tls=True, auth_required=True)
    r = t.sendmx(["bob@example.org"], MSG, config=tls_config(t, srv, ca=cert))
    t.expect_queued(r)
    matches(r.err, r"(?i)certificate|host ?name|verif", "stderr")
    nothing_delivered(srv)
    no_credentials_sent(srv)


def test_verify_false_accepts_self_signed(t):
    srv = auth_server(t, "PLAIN")
    delivered_with_auth(t, srv, tls_config(t, srv, ca=False, verify=False), "PLAIN")


def test_starttls_not_offered_refused(t):
    srv = t.server(auth="PLAIN", user=USER, password=PASSWORD)
    r = t.sendmx(["bob@example.org"], MSG, config=tls_config(t, srv))
    t.expect_queued(r)
    matches(r.err, r"STARTTLS|TLS", "stderr")
    nothing_delivered(srv)
    no_credentials_sent(srv)


def test_wrong_password(t):
    srv = auth_server(t, "PLAIN")
    r = t.sendmx(["bob@example.org"], MSG, config=tls_config(t, srv, password="wrong"))
    t.expect_queued(r)
    contains(r.err, "AUTH", "stderr")
    contains(r.err, "535", "stderr")
    nothing_delivered(srv)


def test_auth_configured_but_not_offered(t):
    srv = t.server(starttls=True, require_starttls=True)
    r = t.sendmx(["bob@example.org"], MSG, config=tls_config(t, srv))
    t.expect_queued(r)
    contains(r.err, "AUTH", "stderr")
    nothing_delivered(srv)


def test_plaintext_auth_refused(t):
    srv = t.server(auth="PLAIN", user=USER, password=PASSWORD)     # AUTH offered in clear
    r = t.sendmx(["bob@example.org"], MSG, config=tls_config(t, srv, tls="none", ca=False))
    t.expect_queued(r)
    contains(r.err, "sendmx:", "stderr")
    no_credentials_sent(srv)
    nothing_delivered(srv)


def test_plaintext_auth_allowed(t):
    srv = t.server(auth="PLAIN", user=USER, password=PASSWORD, auth_required=True)
    conf = tls_config(t, srv, tls="none", ca=False, extra="allow_plaintext_auth = true")
    r = t.sendmx(["bob@example.org"], MSG, config=conf)
    t.expect_exit(r, 0)
    m = srv.only_message()
    eq(m.tls, False, "TLS")
    eq(m.auth_login, USER, "AUTH login")


SECRETS = [
    PASSWORD,
    base64.b64encode(PASSWORD.encode()).decode(),
    base64.b64encode(("\0%s\0%s" % (USER, PASSWORD)).encode()).decode(),
    base64.b64encode(("%s\0%s\0%s" % (USER, USER, PASSWORD)).encode()).decode(),
]


def test_verbose_hides_password(t):
    for mech in ("PLAIN", "LOGIN"):
        srv = auth_server(t, mech)
        r = t.sendmx(["-v", "bob@example.org"], MSG, config=tls_config(t, srv))
        t.expect_exit(r, 0)
        matches(r.err, r"^>>> AUTH %s" % mech, "-v transcript")
        matches(r.err, r"^<<< 235", "-v transcript")
        for s in SECRETS:
            lacks(r.err, s, "-v transcript (%s)" % mech)
        eq(srv.only_message().auth_mechanism, mech, "mechanism")


def test_log_hides_password(t):
    srv = auth_server(t, "LOGIN")
    r = t.sendmx(["bob@example.org"], MSG, config=tls_config(t, srv))
    t.expect_exit(r, 0)
    srv2 = auth_server(t, "PLAIN")
    r = t.sendmx(["bob@example.org"], MSG, config=tls_config(t, srv2, password="wrong-" + PASSWORD,
                                                          name="wrong.conf"))
    t.expect_queued(r)
    log = t.log_text()
    contains(log, "status=sent", "log")
    for s in SECRETS + ["wrong-" + PASSWORD]:
        lacks(log, s, "log")
        lacks(r.err, s, "stderr")


if __name__ == "__main__":
    harness.main()
