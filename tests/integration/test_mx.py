#!/usr/bin/env python3
"""Direct delivery: MX lookups through a real DNS server (dnsmasq on a
loopback port), SMTP receivers (aiosmtpd) on several 127.0.0.x addresses
sharing one port (mx_port), no relay section."""

import os
import re
import time

import harness
from harness import check, contains, eq, lacks, matches
import dnsserver
from dnsserver import a, mx, null_mx, forward

MSG = b"Subject: direct\n\nhello over MX\n"


def servers_on(t, hosts, **opts):
    """One test server per loopback address in hosts, all on one port (the
    first picks it). Returns ({ip: server}, port)."""
    srvs = {}
    port = 0
    for ip in hosts:
        srv = t.server(host=ip, port=port, **opts.get(ip, {}))
        port = srv.port
        srvs[ip] = srv
    return srvs, port


def world(t, records, extra=""):
    """dnsmasq with records, stopped when the test ends."""
    dns = dnsserver.DnsServer(records)    # started and answering
    t.cleanups.append(dns.close)
    return dns


def mx_config(t, dns, port, extra=""):
    return t.relay_config(relay=False, extra=(
        'dns_servers = "%s"\nmx_port = %d\nallow_loopback_mx = true\n'
        'dns_timeout = 5\nconnect_timeout = 5\n%s' % (dns.servers, port, extra)))


def log_lines(t, rcpt):
    return [l for l in t.log_text().splitlines() if "to=<%s>" % rcpt in l]


def test_preferred_mx_down_second_delivers(t):
    srvs, port = servers_on(t, ["127.0.0.11"])
    # mx1 (127.0.0.10) has nothing listening on the port: refused.
    dns = world(t, [mx("example.test", "mx1.example.test", 10),
                    mx("example.test", "mx2.example.test", 20),
                    a("mx1.example.test", "127.0.0.10"),
                    a("mx2.example.test", "127.0.0.11")])
    conf = mx_config(t, dns, port)
    r = t.sendmx(["bob@example.test"], MSG, config=conf)
    t.expect_exit(r, 0)
    m = srvs["127.0.0.11"].only_message()
    eq(m.rcpt_tos, ["bob@example.test"], "recipients at mx2")
    lines = log_lines(t, "bob@example.test")
    eq(len(lines), 2, "one log line per attempt")
    matches(lines[0], r"relay=mx1\.example\.test\[127\.0\.0\.10\]:%d, .*status=deferred "
            r"\(mx1\.example\.test\[127\.0\.0\.10\]:%d at connect: Connection refused" % (port, port), "first attempt")
    matches(lines[1], r"relay=mx2\.example\.test\[127\.0\.0\.11\]:%d, .*status=sent" % port,
            "second attempt")
    eq(t.queued_ids(), [], "queue")


def test_equal_preference_both_used(t):
    srvs, port = servers_on(t, ["127.0.0.12", "127.0.0.13"])
    dns = world(t, [mx("example.test", "mxa.example.test", 10),
                    mx("example.test", "mxb.example.test", 10),
                    a("mxa.example.test", "127.0.0.12"),
                    a("mxb.example.test", "127.0.0.13")])
    conf = mx_config(t, dns, port)
    for _ in range(20):
        t.expect_exit(t.sendmx(["bob@example.test"], MSG, config=conf), 0)
    na = len(srvs["127.0.0.12"].messages())
    nb = len(srvs["127.0.0.13"].messages())
    eq(na + nb, 20, "messages delivered")
    check(na > 0 and nb > 0, "both equal-preference hosts used over 20 runs "
          "(got %d and %d)" % (na, nb))


def test_implicit_mx(t):
    srvs, port = servers_on(t, ["127.0.0.14"])
    dns = world(t, [a("plain.test", "127.0.0.14")])
    conf = mx_config(t, dns, port)
    r = t.sendmx(["bob@plain.test"], MSG, config=conf)
    t.expect_exit(r, 0)
    eq(srvs["127.0.0.14"].only_message().rcpt_tos, ["bob@plain.test"], "recipients")
    v = t.sendmx(["-bv", "bob@plain.test"], b"", config=conf)
    t.expect_exit(v, 0)
    matches(v.out, r"^bob@plain\.test: deliverable via the address \(no MX record\) "
            r"of plain\.test", "-bv")
    contains(v.out, "    A/AAAA plain.test: 127.0.0.14 port %d" % port, "-bv address")


def test_null_mx_permanent_without_connecting(t):
    srvs, port = servers_on(t, ["127.0.0.15"])
    dns = world(t, [null_mx("nomail.test"), a("nomail.test", "127.0.0.15")])
    conf = mx_config(t, dns, port)
    r = t.sendmx(["bob@nomail.test"], MSG, config=conf)
    t.expect_exit(r, 69)
    matches(r.err, r"^sendmx: bob@nomail\.test: refused: .*null MX", "stderr")
    eq(srvs["127.0.0.15"].connections(), 0, "connections made")
    eq(t.queued_ids(), [], "queue")
    v = t.sendmx(["-bv", "bob@nomail.test"], b"", config=conf)
    t.expect_exit(v, 69)
    matches(v.out, r"^bob@nomail\.test: undeliverable: .*null MX", "-bv")


def test_nxdomain_permanent(t):
    dns = world(t, [a("other.test", "127.0.0.16")])
    conf = mx_config(t, dns, 25)
    r = t.sendmx(["bob@nosuch.test"], MSG, config=conf)
    t.expect_exit(r, 69)
    matches(r.err, r"^sendmx: bob@nosuch\.test: refused: .*(NXDOMAIN|no such domain)", "stderr")
    v = t.sendmx(["-bv", "bob@nosuch.test"], b"", config=conf)
    t.expect_exit(v, 69)
    matches(v.out, r"^bob@nosuch\.test: undeliverable: ", "-bv")


def test_silent_dns_server_temporary(t):
    # Names under silent.test are forwarded to a UDP socket that reads and
    # never answers: a temporary failure within dns_timeout, queued.
    import socket
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    t.cleanups.append(sink.close)
    dns = world(t, [forward("silent.test", sink.getsockname()[1])])
    conf = t.relay_config(relay=False, extra=(
        'dns_servers = "%s"\nmx_port = 25\nallow_loopback_mx = true\ndns_timeout = 2\n'
        % dns.servers))
    start = time.monotonic()
    r = t.sendmx(["bob@silent.test"], MSG, config=conf)
    t.expect_queued(r)
    matches(r.err, r"(?i)^sendmx: bob@silent\.test: deferred: .*(timed out|timeout)", "stderr")
    v = t.sendmx(["-bv", "bob@silent.test"], b"", config=conf)
    t.expect_exit(v, 75)
    matches(v.out, r"^bob@silent\.test: undeliverable: ", "-bv")


def test_shared_mx_one_connection_one_transaction(t):
    srvs, port = servers_on(t, ["127.0.0.17"])
    records = [a("mx.shared.test", "127.0.0.17")]
    rcpts = []
    for k in range(10):
        d = "d%d.test" % k
        records.append(mx(d, "mx.shared.test", 10))
        rcpts.append("user%d@%s" % (k, d))
    dns = world(t, records)
    conf = mx_config(t, dns, port)
    r = t.sendmx(rcpts, MSG, config=conf)
    t.expect_exit(r, 0)
    srv = srvs["127.0.0.17"]
    eq(srv.connections(), 1, "connections")
    m = srv.only_message()
    eq(sorted(m.rcpt_tos), sorted(rcpts), "one transaction with every recipient")


def test_452_continues_in_new_transaction(t):
    srvs, port = servers_on(t, ["127.0.0.18"], **{"127.0.0.18": {"rcpt_limit": 3}})
    dns = world(t, [mx("example.test", "mx.example.test", 10),
                    a("mx.example.test", "127.0.0.18")])
    conf = mx_config(t, dns, port)
    rcpts = ["u%d@example.test" % k for k in range(5)]
    r = t.sendmx(rcpts, MSG, config=conf)
    t.expect_exit(r, 0)
    srv = srvs["127.0.0.18"]
    msgs = srv.messages()
    eq([len(m.rcpt_tos) for m in msgs], [3, 2], "recipients per transaction")
    eq(sorted(sum((m.rcpt_tos for m in msgs), [])), sorted(rcpts), "all delivered")
    eq(srv.connections(), 1, "both transactions on one connection")


def test_max_rcpt_per_transaction(t):
    srvs, port = servers_on(t, ["127.0.0.19"])
    dns = world(t, [mx("example.test", "mx.example.test", 10),
                    a("mx.example.test", "127.0.0.19")])
    conf = mx_config(t, dns, port, extra="max_rcpt_per_transaction = 2")
    rcpts = ["u%d@example.test" % k for k in range(5)]
    t.expect_exit(t.sendmx(rcpts, MSG, config=conf), 0)
    srv = srvs["127.0.0.19"]
    eq([len(m.rcpt_tos) for m in srv.messages()], [2, 2, 1], "recipients per transaction")
    eq(srv.connections(), 1, "connections")


def test_twenty_hosts_in_parallel_two_slow(t):
    # 20 domains on 20 hosts; the first two answer every command after 1 s.
    # Sessions run in parallel (max_connections, default 8): the two slow
    # sessions overlap instead of running one after the other.
    ips = ["127.0.0.%d" % k for k in range(30, 50)]
    opts = {ips[0]: {"delay_ms": 1000}, ips[1]: {"delay_ms": 1000}}
    srvs, port = servers_on(t, ips, **opts)
    records, rcpts = [], []
    for k, ip in enumerate(ips):
        records += [mx("p%d.test" % k, "mx%d.p.test" % k, 10), a("mx%d.p.test" % k, ip)]
        rcpts.append("bob@p%d.test" % k)
    dns = world(t, records)
    conf = mx_config(t, dns, port)
    r = t.sendmx(rcpts, MSG, config=conf)
    t.expect_exit(r, 0)
    for k, ip in enumerate(ips):
        eq(srvs[ip].only_message().rcpt_tos, [rcpts[k]], "delivered at %s" % ip)
    slow = [srvs[ips[0]].events(), srvs[ips[1]].events()]
    span = [(min(e["time"] for e in ev), max(e["time"] for e in ev)) for ev in slow]
    check(span[1][0] < span[0][1] and span[0][0] < span[1][1],
          "the two slow sessions overlap in time: %r" % span)


def test_route_and_mx_route_beat_relay(t):
    relay = t.server()
    srvs, port = servers_on(t, ["127.0.0.20", "127.0.0.21"])
    dns = world(t, [mx("viamx.test", "mx.viamx.test", 10), a("mx.viamx.test", "127.0.0.21")])
    conf = t.relay_config(relay, extra=(
        'dns_servers = "%s"\nmx_port = %d\nallow_loopback_mx = true\n'
        'route "fixed.test" {\n  host = "127.0.0.20"\n  port = %d\n  tls = none\n}\n'
        'route "viamx.test" {\n  mx = true\n}\n' % (dns.servers, port, port)))
    r = t.sendmx(["a@fixed.test", "b@viamx.test", "c@other.test"], MSG, config=conf)
    t.expect_exit(r, 0)
    eq(srvs["127.0.0.20"].only_message().rcpt_tos, ["a@fixed.test"], "route host")
    eq(srvs["127.0.0.21"].only_message().rcpt_tos, ["b@viamx.test"], "MX route")
    eq(relay.only_message().rcpt_tos, ["c@other.test"], "relay")
    v = t.sendmx(["-bv", "a@fixed.test", "b@viamx.test", "c@other.test"], b"", config=conf)
    t.expect_exit(v, 0)
    matches(v.out, r"^a@fixed\.test: deliverable via route 127\.0\.0\.20:%d" % port, "-bv route")
    matches(v.out, r"^b@viamx\.test: deliverable via the MX hosts of viamx\.test", "-bv mx")
    contains(v.out, "    MX mx.viamx.test: preference 10, 127.0.0.21 port %d" % port, "-bv MX line")
    matches(v.out, r"^c@other\.test: deliverable via relay 127\.0\.0\.1:", "-bv relay")


def test_sender_route_picks_relay_by_sender(t):
    default = t.server()
    special = t.server()
    conf = t.relay_config(default, extra=(
        'sender_route "@bounces.test" {\n  host = "127.0.0.1"\n  port = %d\n  tls = none\n}\n'
        % special.port))
    t.expect_exit(t.sendmx(["-f", "x@bounces.test", "bob@example.org"], MSG, config=conf), 0)
    t.expect_exit(t.sendmx(["-f", "y@other.test", "bob@example.org"], MSG, config=conf), 0)
    eq(special.only_message().mail_from, "x@bounces.test", "sender_route relay")
    eq(default.only_message().mail_from, "y@other.test", "default relay")


def test_mx_is_this_host_is_a_loop(t):
    dns = world(t, [mx("loop.test", harness.HOSTNAME, 10), a(harness.HOSTNAME, "127.0.0.22")])
    conf = mx_config(t, dns, 25)
    r = t.sendmx(["bob@loop.test"], MSG, config=conf)
    t.expect_exit(r, 69)
    matches(r.err, r"(?i)^sendmx: bob@loop\.test: refused: .*loops back to myself", "stderr")


def test_loopback_mx_refused_by_default(t):
    dns = world(t, [mx("lo.test", "mx.lo.test", 10), a("mx.lo.test", "127.0.0.23")])
    conf = t.relay_config(relay=False, extra='dns_servers = "%s"\n' % dns.servers)
    r = t.sendmx(["bob@lo.test"], MSG, config=conf)
    t.expect_exit(r, 69)
    matches(r.err, r"(?i)^sendmx: bob@lo\.test: refused: .*loop", "stderr")


def test_address_literal_goes_to_that_address(t):
    srvs, port = servers_on(t, ["127.0.0.24"])
    dns = world(t, [a("other.test", "127.0.0.25")])
    conf = mx_config(t, dns, port)
    r = t.sendmx(["bob@[127.0.0.24]"], MSG, config=conf)
    t.expect_exit(r, 0)
    eq(srvs["127.0.0.24"].only_message().rcpt_tos, ["bob@[127.0.0.24]"], "recipients")


def test_opportunistic_tls_to_mx(t):
    # Default mx_tls = opportunistic: STARTTLS when offered, the
    # self-signed certificate is not verified.
    srvs, port = servers_on(t, ["127.0.0.26", "127.0.0.27"],
                            **{"127.0.0.26": {"starttls": True}})
    dns = world(t, [mx("tls.test", "mx.tls.test", 10), a("mx.tls.test", "127.0.0.26"),
                    mx("plain.test", "mx.plain.test", 10), a("mx.plain.test", "127.0.0.27")])
    conf = mx_config(t, dns, port)
    t.expect_exit(t.sendmx(["bob@tls.test", "carol@plain.test"], MSG, config=conf), 0)
    eq(srvs["127.0.0.26"].only_message().tls, True, "TLS used where offered")
    eq(srvs["127.0.0.27"].only_message().tls, False, "plain where not offered")


def test_mx_tls_required(t):
    # required: a host without STARTTLS is a temporary failure (queued),
    # and so is one whose certificate does not verify.
    srvs, port = servers_on(t, ["127.0.0.28", "127.0.0.29"],
                            **{"127.0.0.29": {"starttls": True}})
    dns = world(t, [mx("plain.test", "mx.plain.test", 10), a("mx.plain.test", "127.0.0.28"),
                    mx("tls.test", "mx.tls.test", 10), a("mx.tls.test", "127.0.0.29")])
    conf = mx_config(t, dns, port, extra="mx_tls = required")
    r = t.sendmx(["bob@plain.test", "carol@tls.test"], MSG, config=conf)
    t.expect_queued(r)
    matches(r.err, r"^sendmx: bob@plain\.test: deferred: .*does not offer STARTTLS", "stderr")
    matches(r.err, r"(?i)^sendmx: carol@tls\.test: deferred: .*certificate", "stderr")
    eq(srvs["127.0.0.28"].messages(), [], "nothing sent in plain text")
    eq(srvs["127.0.0.29"].messages(), [], "nothing sent over unverified TLS")


def test_5xx_greeting_skips_to_next_mx(t):
    srvs, port = servers_on(t, ["127.0.0.30", "127.0.0.31"],
                            **{"127.0.0.30": {"greeting_reply": "554 5.7.1 go away"}})
    dns = world(t, [mx("g.test", "mx1.g.test", 10), mx("g.test", "mx2.g.test", 20),
                    a("mx1.g.test", "127.0.0.30"), a("mx2.g.test", "127.0.0.31")])
    conf = mx_config(t, dns, port)
    t.expect_exit(t.sendmx(["bob@g.test"], MSG, config=conf), 0)
    eq(srvs["127.0.0.31"].only_message().rcpt_tos, ["bob@g.test"], "delivered by the second MX")
    lines = log_lines(t, "bob@g.test")
    contains(lines[0], "status=deferred", "first attempt")
    contains(lines[0], "554 5.7.1 go away", "first attempt's reply")


if __name__ == "__main__":
    harness.main()
