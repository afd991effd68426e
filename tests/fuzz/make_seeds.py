#!/usr/bin/env python3
"""make_seeds.py - writes the seed corpus of each fuzz target into
tests/fuzz/corpus/<target>/ (run from anywhere; files are overwritten).

The seeds are small and meaningful: real header sections, SMTP
conversations, configuration files, control files and DNS answers, most
of them taken from the unit tests. The binary ones (the intake and SMTP
parameter octets, DNS packets) are easier to read here than as files,
which is why this script is kept next to them.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- header sections (header, recipients; intake with a flag octet) ------

HEADERS = {
    "simple": "From: Alice <alice@example.org>\nTo: bob@example.net\n"
              "Subject: hi\n\nbody\n",
    "display-names": "To: \"Doe, John\" <jd@example.org>, Ann B <ann@example.org>,\n"
                     " John Q. Public <jqp@example.org>, \"a \\\"q\\\" b\" <q@x.org>\n"
                     "Cc: <bob@example.org>\n\n",
    "quoted-local": "To: \"john doe\"@example.org, \"john.doe\"@example.org,\n"
                    "\t\"a\\\"b\"@x.org, \"\"@x.org\n\n",
    "comments": "To: (lead) alice(x)@(y)example.org (Alice (the (first))),\n"
                " Bob (nick) <bob@(c)example.org (c2)> (after)\n\n",
    "groups": "To: undisclosed-recipients:;, team: a@x.org, \"B\" <b@x.org>;,\n"
              " c@x.org, empty: (nobody) ;\nBcc: secret@x.org\n\n",
    "obsolete": "To: , root, , a@x.org,,<postmaster>, john . doe @ example . org,\n"
                "Cc: Joe <@relay1.org,@relay2.org:joe@example.org>\n"
                "Bcc : hidden@example.org\n\n",
    "literals": "To: u@[192.0.2.1], v@[ IPv6:::1 ]\n"
                "Cc: bob@example.org <bob@example.org>, ann.b@[192.0.2.1] <ann@example.org>\n\n",
    "folded-crlf": "To: \"Ann\r\n B\" <ann@example.org>,\r\n\tbob@example.org\r\n"
                   "Subject: =?UTF-8?Q?caf=C3=A9?=\r\n\r\nbody\r\n",
    "utf8": "To: J\u00f6rg <j\u00f6rg@example.org>\nCc: \u00e9l\u00e8ve@\u00e9cole.example\n\n",
    "resent": "To: old@x.org\nCc: oldcc@x.org\nResent-Date: Mon, 1 Jan 2026 00:00:00 +0000\n"
              "Resent-To: new@x.org\nResent-Cc: Ann <NewCC@X.org>, newcc@x.org\n"
              "Resent-Bcc: rbcc@x.org\n\nb\n",
    "duplicates": "To: root, ann\nCc: ann@host.example.org, ANN@HOST.EXAMPLE.ORG,\n"
                  " Ann@host.example.org\n\nb\n",
    "bad": "To: \"open@x.org\nCc: a@bad_domain.org, Ann <ann@x.org\n"
           "Bcc: a@x.org)\n\n",
    "mbox-from": "From alice@x.org Mon Jan  1 00:00:00 2026\nDate: d\n"
                 "From: a@x.org\nTo: t@x.org\n\nbody\n",
    "full": "Date: Mon, 1 Jan 2026 00:00:00 +0000\nMessage-ID: <id@test>\n"
            "From: a@test\nTo: t@x.org\nBcc: secret1@x.org,\n secret2@x.org\n"
            "X-Long: " + "word " * 250 + "\n\nbody line\n.\n",
}


def headers():
    for name, text in HEADERS.items():
        write("header", name, text)
        write("recipients", name, text)
    write("header", "nul-in-value", b"To: a@x.org\0b@y.org\nSubject: x\n\n")
    write("header", "envelope", "<>")
    write("header", "envelope-display", "Alice Example <alice@example.org>")


# ---- intake: flag octet, optional -f and -F lines, the message -------------
# flags: bits 0-1 dots, 4 no -t, 8 -f line, 0x10 -F line, 0x20 cmdline rcpt,
# 0x40 max_size 2000, 0x80 max_header_bytes 1024

def intake():
    for name in ("simple", "groups", "resent", "duplicates", "full",
                 "mbox-from", "folded-crlf", "obsolete"):
        write("intake", name, b"\x00" + HEADERS[name].encode())
    write("intake", "no-t-cmdline", b"\x24Subject: s\n\nbody\n.\nafter dot\n")
    write("intake", "dot-ignore", b"\x21Subject: s\n\n.\n..\nend\n")
    write("intake", "smtp-data", b"\x22To: t@x.org\r\n\r\n..stuffed\r\n.\r\n")
    write("intake", "sender-fullname",
          b"\x18alice@example.org\nAlice \"the\" Example\nTo: bob@example.org\n\nhi\n")
    write("intake", "null-sender", b"\x08<>\nTo: bob@example.org\n\nbounce\n")
    write("intake", "fullname-injection",
          b"\x10Eve\rBcc: victim@x.org\nTo: bob@example.org\n\nx\n")
    write("intake", "no-header", b"\x20Hello world, no header here\nsecond\n")
    write("intake", "long-lines",
          b"\x20Subject: " + b"x" * 1200 + b"\n\n" + b"y" * 2100 + b"\n")
    write("intake", "max-size", b"\x60Subject: s\n\n" + b"z" * 2500 + b"\n")
    write("intake", "max-header", b"\xa0X-A: " + b"a " * 600 + b"\n\nb\n")
    write("intake", "8bit", "\x20Subject: caf\u00e9\n\nna\u00efve\n".encode())


# ---- smtp: 4 parameter octets, then the server's reply lines ---------------

def smtp():
    ehlo = ("250-mx.example.net hello\n250-PIPELINING\n250-SIZE 10000000\n"
            "250-8BITMIME\n250-ENHANCEDSTATUSCODES\n")
    conv = {
        # TLS none, 3 recipients, pipelined, one refused, one deferred.
        "pipelined": (b"\x10\x02\x00\x01",
                      "220 mx.example.net ESMTP\n" + ehlo + "250 STARTTLS\n"
                      "250 2.1.0 Ok\n250 2.1.5 Ok\n450 4.2.0 <b@example.net>: busy\n"
                      "550-5.1.1 <c@example.net>: user unknown\n550 5.1.1 try later\n"
                      "354 End data with <CR><LF>.<CR><LF>\n"
                      "250 2.0.0 Ok: queued as 4ABC\n221 2.0.0 Bye\n"),
        "no-pipelining": (b"\x40\x02\x00\x01",
                          "220 mx ESMTP\n250-mx\n250 SIZE\n250 ok\n550 no such user\n"
                          "251 will forward\n250 ok\n354 go ahead\n250 queued\n221 bye\n"),
        "helo-fallback": (b"\x00\x00\x00\x00",
                          "220 old.example.net\n502 5.5.2 EHLO not implemented\n"
                          "250 old.example.net\n250 ok\n250 ok\n354 go\n250 ok\n221 bye\n"),
        "starttls": (b"\x01\x00\x00\x01",
                     "220 mx ESMTP\n250-mx\n250-STARTTLS\n250 PIPELINING\n"
                     "220 2.0.0 Ready to start TLS\n250-mx\n250 PIPELINING\n"
                     "250 ok\n250 ok\n354 go\n250 ok\n221 bye\n"),
        "starttls-fails": (b"\x01\x00\x01\x00",
                           "220 mx ESMTP\n250-mx\n250 STARTTLS\n220 go ahead\n"),
        "auth-plain": (b"\x86\x00\x00\x00",
                       "220 mx ESMTP\n250-mx\n250-AUTH PLAIN LOGIN CRAM-MD5\n250 PIPELINING\n"
                       "235 2.7.0 Authentication successful\n250 ok\n250 ok\n354 go\n"
                       "250 ok\n221 bye\n"),
        "auth-login": (b"\x86\x00\x00\x00",
                       "220 mx ESMTP\n250-mx\n250 AUTH=LOGIN\n334 VXNlcm5hbWU6\n"
                       "334 UGFzc3dvcmQ6\n535 5.7.8 Fuzz-S3cret-pw rejected\n221 bye\n"),
        "auth-cram": (b"\x06\x00\x00\x00",
                      "220 mx ESMTP\n250-mx\n250 AUTH CRAM-MD5\n"
                      "334 PDQxOTI5NDIzNDEuMTI4Mjg0NzJAc291cmNlZm91ci5hbmRyZXcuY211LmVkdT4=\n"
                      "235 ok\n250 ok\n250 ok\n354 go\n250 ok\n221 bye\n"),
        "auth-bad-challenge": (b"\x06\x00\x00\x00",
                               "220 mx\n250-mx\n250 AUTH CRAM-MD5\n334 !!!not base64\n"
                               "501 cancelled\n221 bye\n"),
        "too-many-rcpts": (b"\x00\x1f\x00\x01",
                           "220 mx\n" + ehlo + "250 HELP\n250 ok\n250 ok\n250 ok\n"
                           "452 4.5.3 too many recipients\n354 go\n250 ok\n"
                           "250 ok\n250 ok\n250 ok\n250 ok\n354 go\n250 ok\n221 bye\n"),
        "greeting-421": (b"\x00\x00\x00\x00", "421 4.3.2 shutting down\n"),
        "greeting-554": (b"\x00\x01\x00\x00", "554-no\n554 5.7.1 go away\n"),
        "size-refused": (b"\x00\x00\x00\x03", "220 mx\n250-mx\n250 SIZE 1000\n221 bye\n"),
        "data-refused": (b"\x00\x00\x00\x01",
                         "220 mx\n250 mx\n250 ok\n250 ok\n554 5.5.1 no valid recipients\n221 bye\n"),
        "dot-refused": (b"\x20\x00\x00\x01",
                        "220 mx\n250 mx\n250 ok\n250 ok\n354 go\n552 5.3.4 too big\n221 bye\n"),
        "garbage": (b"\x00\x00\x00\x00", "HTTP/1.1 400 Bad Request\n"),
        "nul-8bit": (b"\x00\x00\x00\x00",
                     b"220 mx \x00\xff\x1b[31m\n250 mx\n250 ok\n250 ok\n354 go\n"
                     b"250 ok \r\x07\n221 bye\n"),
        "code-change": (b"\x00\x00\x00\x00", "220-mx\n250 mx\n"),
    }
    for name, (prm, text) in conv.items():
        if isinstance(text, str):
            text = text.encode()
        write("smtp", name, prm + text)


# ---- config --------------------------------------------------------------------

def config():
    with open(os.path.join(HERE, "..", "..", "etc", "sendmx.conf"), "rb") as f:
        sample = f.read().replace(b"/etc/sendmx/relay.secret", b"@PW@")
    write("config", "sample", sample)
    cfgs = {
        "full": 'hostname = "web1.example.org"\ntimeout = 300\nconnect_timeout = 12\n'
                'log_file = "/var/log/sendmx.log"\nsyslog = false\n'
                'max_message_size = 1048576\ntemp_dir = "/var/tmp"\n'
                'relay {\n  host = "smtp.example.org"\n  port = 2525\n  tls = starttls\n'
                '  user = "alice"\n  password_file = "@PW@"\n'
                '  ca_file = "/etc/ssl/certs/ca-certificates.crt"\n  ca_path = "/etc/ssl/certs"\n'
                '  verify = false\n  allow_plaintext_auth = true\n'
                '  auth_mechanisms = "CRAM-MD5 PLAIN LOGIN"\n}\n',
        "delivery": 'hostname = "mx.example.org"\ndns_servers = "127.0.0.1:5353"\n'
                    'dns_timeout = 3\nmx_port = 2525\nip_version = 4\n'
                    'mx_tls = required\nallow_loopback_mx = true\n'
                    'max_connections = 2\nmax_rcpt_per_transaction = 3\n'
                    'queue_dir = "/var/q"\ndelivery_mode = background\n'
                    'submit_timeout = 1m\nretry_intervals = {30s, 2m, 1h, 1d, 2w}\n'
                    'queue_lifetime = 2d\npostmaster = "pm@example.org"\n',
        "local": 'hostname = "h.example"\naliases = "/tmp/a"\n'
                 'local_domains = {"a.test", "b.test"}\nlocal_delivery = maildir\n'
                 'mail_spool = "/tmp/m"\nallow_pipe_aliases = true\n'
                 'allow_file_aliases = true\nalias_user = "mail"\n'
                 'masquerade_domain = "example.org"\nsender_map = "/tmp/map"\n'
                 'relay { host = "r" sender_rewrite = "noreply@example.org" }\n',
        "routes": 'hostname = "h.example"\n'
                  'route "example.net" { mx = true }\n'
                  'route "*.corp.example" { host = "gw.corp.example" port = 465 tls = tls '
                  'user = "u" password = "inline" }\n'
                  'sender_route "@example.org" { host = "2001:db8::1" tls = none }\n'
                  'sender_route "ceo@example.org" { host = "vip.example.org" '
                  'user = "ceo" password_file = "@PW@" auth_mechanisms = "PLAIN" }\n',
        "public-password": 'hostname = "h"\nrelay { host = "r" user = "u" '
                           'password_file = "@PWPUBLIC@" }\n',
        "env-expansion": 'hostname = "${HOSTNAME}"\ntemp_dir = "${HOME:-/tmp}"\n'
                         "log_file = '${PATH}'\n# ${SHELL} in a comment\n",
        "unclosed": 'hostname = "h"\nrelay {\n host = "r"\n',
        "two-relays": 'hostname = "h"\nrelay { host = "a" }\nrelay { host = "b" }\n',
        "dup-route": 'hostname = "h"\nroute "a.example" { host = "x" }\n'
                     'route "b.example" { host = "y" }\nroute "a.example" { mx = true }\n',
        "bad-values": 'hostname = "h"\ntimeout = 2147484\nmx_port = 0\n'
                      'retry_intervals = {}\nip_version = 5\n',
        "includes": 'hostname = "h"\ninclude("/etc/passwd")\n',
        "escapes": 'hostname = "h\\x41"\n'
                   'relay { host = "r" user = "u" password = "a\\"b\\\\c" }\n',
        "escaped-newline": 'temp_dir = "/tmp/\\n"\n',
    }
    for name, text in cfgs.items():
        write("config", name, text)


# ---- queue control files -------------------------------------------------------

QCTL = ("sendmx-queue 1\nid 6560F3A40A2B100F2A\narrival 1700671332\n"
        "sender alice@example.org\nsize 1234\neightbit 0\n"
        "message-id <20231122164212.1F2A@example.org>\ndsn-ret -\n"
        "dsn-notify failure,delay\nenvid -\nis-bounce 0\ndelay-notified 0\n"
        "rcpt pending 2 1700672532 1700671932 - bob@example.net "
        "mx.example.net[192.0.2.7]:25 451 4.7.1 Greylisted\n"
        "rcpt sent 1 0 1700671333 - carol@example.org "
        "mx.example.org[192.0.2.8]:25 250 2.0.0 Ok\nend\n")


def qctl():
    write("qctl", "example", QCTL)
    write("qctl", "bounce",
          "sendmx-queue 1\nid 0000000100000000AB\narrival 0\nsender -\nsize 0\n"
          "eightbit 1\nmessage-id -\ndsn-ret hdrs\ndsn-notify never\n"
          "envid ab+2Bcd+3D\nis-bounce 1\ndelay-notified 1\n"
          "rcpt failed 5 0 1700000000 rfc822;+2D bob@example.net - 550 5.1.1 unknown\n"
          "rcpt bounced 1 0 0 rfc822;x+20y@example.org \"x+20y\"@example.org - \n"
          "end\n")
    write("qctl", "xtext",
          "sendmx-queue 1\nid FFFFFFFFFFFFFFFFFF\narrival 999999999999999999\n"
          "sender +2D\nsize 999999999999999999\neightbit 0\n"
          "message-id <a+20b@x>\ndsn-ret full\ndsn-notify success,failure,delay\n"
          "envid +2D\nis-bounce 0\ndelay-notified 0\n"
          "rcpt pending 0 0 0 - +C3+A9l+C3+A8ve@example.org - "
          "\u00e9chec temporaire \u2014 r\u00e9essai\nend\n")
    write("qctl", "cut-short", QCTL[:len(QCTL) // 2])
    write("qctl", "long-error", QCTL.replace("Greylisted", "\u00e9" * 1100))
    write("qctl", "dup-key", QCTL.replace("size 1234\n", "size 1234\nsize 5\n"))


# ---- DNS answers -------------------------------------------------------------------

def name(n):
    out = b""
    for label in n.split(".") if n else []:
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def packet(qname, answers, rcode=0, ancount=None, extra=b""):
    h = struct.pack(">HHHHHH", 0x1234, 0x8180 | rcode, 1,
                    len(answers) if ancount is None else ancount, 0, 0)
    q = name(qname) + struct.pack(">HH", 15, 1)
    body = b""
    for rtype, pref, host in answers:
        if rtype == 15:
            rdata = struct.pack(">H", pref) + (host if isinstance(host, bytes) else name(host))
        else:
            rdata = host
        body += struct.pack(">HHHIH", 0xC00C, rtype, 1, 3600, len(rdata)) + rdata
    return h + q + body + extra


def mx():
    write("mx", "records", packet("example.net", [
        (15, 20, "mx2.example.net"), (15, 10, "mx1.example.net"),
        (15, 10, "mx0.example.net"), (15, 10, "MX1.Example.NET")]))
    write("mx", "null-mx", packet("nomail.example", [(15, 0, "")]))
    write("mx", "null-and-real", packet("nomail.example", [
        (15, 10, "mx.nomail.example"), (15, 0, "")]))
    write("mx", "nodata", packet("example.net", []))
    write("mx", "nxdomain", packet("nope.example", [], rcode=3))
    write("mx", "servfail", packet("example.net", [], rcode=2))
    # The target compressed against the question name (offset 12).
    write("mx", "compressed", packet("example.net", [
        (15, 5, b"\x04mail\xc0\x0c"), (15, 65535, b"\x03low\xc0\x0c")]))
    write("mx", "cname-then-mx", packet("alias.example", [
        (5, 0, name("real.example")), (15, 10, "mx.real.example")]))
    write("mx", "escaped-label", packet("example.net", [
        (15, 10, b"\x05a.b c\x07example\x00")]))
    loop = packet("example.net", [], ancount=1)
    loop += struct.pack(">HHHIHH", 0xC000 | len(loop), 15, 1, 60, 4, 10)
    loop += struct.pack(">H", 0xC000 | (len(loop) - 2))
    write("mx", "pointer-loop", loop)
    write("mx", "truncated", packet("example.net", [(15, 10, "mx1.example.net")])[:-7])


def main():
    headers()
    intake()
    smtp()
    config()
    qctl()
    mx()
    return 0


if __name__ == "__main__":
    sys.exit(main())
