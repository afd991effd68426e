#!/usr/bin/env python3
"""The durable queue (issue 4): what sendmx said yes to is delivered later,
bounced with a DSN, or still queued; never lost, never delivered twice by
two runners at once. Runs against the real test SMTP server."""

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

import harness
from harness import check, contains, eq, lacks, matches

from check_dsn import parse_dsn

SENDER = "alice@example.org"
NULL_SENDER = ("", "<>")       # how aiosmtpd records MAIL FROM:<>

# A message with every header sendmx would otherwise add: what arrives
# must be exactly these bytes with CRLF line ends.
ORIGINAL = (b"From: Alice <alice@example.org>\n"
            b"To: Bob <bob@example.org>\n"
            b"Subject: kept safe\n"
            b"Date: Wed, 22 Nov 2023 16:42:12 +0000\n"
            b"Message-ID: <kept.1@example.org>\n"
            b"\n"
            b"first line\n"
            b".a line that starts with a dot\n"
            b"\n"
            b"last line\n")


def message(n, subject="queued", body=b"hello\n"):
    """A small message with its own Message-ID <qtest.N@example.org>."""
    return (b"From: alice@example.org\nSubject: %s %d\n"
            b"Message-ID: <qtest.%d@example.org>\n\n" % (subject.encode(), n, n) + body)


def msgids(srv):
    """{Message-ID: times it arrived} over every message at srv."""
    seen = {}
    for m in srv.messages():
        for v in m.header("Message-ID"):
            seen[v] = seen.get(v, 0) + 1
    return seen


def control(t, qid):
    with open(os.path.join(t.queue_dir(), qid + ".c")) as f:
        return f.read()


def rcpt_line(t, qid, addr):
    """The control file's rcpt line for addr, split: state, attempts,
    next try, last try, orcpt, address, relay, error."""
    for line in control(t, qid).split("\n"):
        parts = line.split(" ", 7)
        if parts[0] == "rcpt" and parts[6] == addr:
            return parts[1:]
    raise AssertionError("no rcpt line for %s in:\n%s" % (addr, control(t, qid)))


def arrival(t, qid):
    return int(matches(control(t, qid), r"^arrival (\d+)$", "control file").group(1))


def queue_files(t):
    """Every file under the queue directory (relative names), tmp/ and
    corrupt/ included."""
    out = []
    top = t.queue_dir()
    for d, _, files in os.walk(top):
        out += [os.path.relpath(os.path.join(d, f), top) for f in files]
    return sorted(out)


def expect_empty_queue(t, conf):
    eq(t.queued_ids(), [], "queued messages")
    r = t.sendmx(["-bp"], config=conf)
    t.expect_exit(r, 0)
    eq(r.out, "Mail queue is empty\n", "-bp")


def wait_for(what, cond, timeout=15.0, step=0.05):
    """Polls cond() until it is true, for at most timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(step)


def sleep_until(epoch):
    """Waits until the wall clock reaches epoch (queue times are seconds)."""
    # A little past it: time(2) reads a coarse clock that may lag.
    epoch += 0.05
    while time.time() < epoch:
        time.sleep(min(0.1, max(0.01, epoch - time.time())))


def log_lines(t, rcpt):
    return [l for l in t.log_text().split("\n") if "to=<%s>" % rcpt in l]


def down_port(t):
    """A loopback port where nothing listens: a server's, after it stopped."""
    srv = t.server()
    srv.stop()
    return srv.port


# --------------------------------------------------------------------------
# relay down, then back


def test_relay_down_then_back_delivers_byte_for_byte(t):
    port = down_port(t)
    conf = t.relay_config(port=port, extra="retry_intervals = {1s}")
    r = t.sendmx(["-f", SENDER, "bob@example.org"], ORIGINAL, config=conf)
    [qid] = t.expect_queued(r)
    matches(r.err, r"^sendmx: bob@example\.org: deferred: .*connect.*"
            r"Connection refused; queued as %s, will retry$" % qid, "stderr")

    bp = t.sendmx(["-bp"], config=conf)
    t.expect_exit(bp, 0)
    matches(bp.out, r"^%s +%d .* %s$" % (qid, len(harness.crlf(ORIGINAL)), SENDER), "-bp")
    matches(bp.out, r"^ *\(.*:%d.*Connection refused\)$" % port, "-bp")
    matches(bp.out, r"^ {49}bob@example\.org$", "-bp")
    contains(bp.out, "-- 0 Kbytes in 1 Request.", "-bp")
    state, attempts = rcpt_line(t, qid, "bob@example.org")[:2]
    eq((state, attempts), ("pending", "1"), "recipient state and attempts")
    next_try = int(rcpt_line(t, qid, "bob@example.org")[2])

    srv = t.server(port=port)
    # Not due yet (retry_intervals = {1s}): a plain -q leaves it alone,
    # unless this machine is so slow that the second has passed already.
    r = t.sendmx(["-q", "-v"], config=conf)
    t.expect_exit(r, 0)
    if not srv.messages():
        contains(r.err, "queue run: 0 messages", "-q -v before the retry is due")
        eq(t.queued_ids(), [qid], "queue")
        sleep_until(next_try)
        r = t.sendmx(["-q", "-v"], config=conf)
        t.expect_exit(r, 0)
    else:
        check(time.time() > next_try - 0.1, "delivered before the retry was due")
    contains(r.err, "queue run: 1 messages, 1 recipients sent", "-q -v")
    m = srv.only_message()
    eq(m.data, harness.crlf(ORIGINAL), "queued message as delivered")
    eq(m.mail_from, SENDER, "MAIL FROM")
    eq(m.rcpt_tos, ["bob@example.org"], "RCPT TO")
    expect_empty_queue(t, conf)
    eq(queue_files(t), [], "files left in the queue directory")

    # What -odi delivers at once is the very same.
    r = t.sendmx(["-f", SENDER, "bob@example.org"], ORIGINAL, config=conf)
    t.expect_exit(r, 0)
    direct = srv.messages()[1]
    eq(m.data, direct.data, "queued delivery vs direct delivery")
    eq(m.mail_options, direct.mail_options, "MAIL parameters")

    lines = log_lines(t, "bob@example.org")
    eq(len(lines), 3, "log lines for bob: %r" % lines)
    contains(lines[0], "%s: to=<bob@example.org>" % qid, "log")
    contains(lines[0], "status=deferred", "log")
    contains(lines[1], "%s: to=<bob@example.org>" % qid, "log")
    contains(lines[1], "status=sent", "log")
    matches(t.log_text(), r"%s: removed$" % qid, "log")


def test_4xx_twice_then_accepted_on_third_run(t):
    srv = t.server(rcpt_reply={"carol@example.org": "451 4.7.1 greylisted"},
                   rcpt_reply_times="carol@example.org=2")
    conf = t.relay_config(srv, extra="retry_intervals = {5m, 10m}")
    r = t.sendmx(["-odq", "-f", SENDER, "carol@example.org"], message(1), config=conf)
    t.expect_exit(r, 0)
    [qid] = t.queued_ids()
    eq((r.out, r.err), ("", ""), "-odq output")
    eq(rcpt_line(t, qid, "carol@example.org")[:2], ["pending", "0"], "before any run")

    for run, wait in ((1, 300), (2, 600)):
        r = t.sendmx(["-qf", "-v"], config=conf)
        t.expect_exit(r, 0)
        contains(r.err, "451 4.7.1 greylisted", "-qf -v, run %d" % run)
        eq(srv.messages(), [], "messages after run %d" % run)
        eq(t.queued_ids(), [qid], "queue after run %d" % run)
        state, attempts, next_try, last_try = rcpt_line(t, qid, "carol@example.org")[:4]
        eq((state, attempts), ("pending", str(run)), "state after run %d" % run)
        # retry_intervals: 5m after the first failure, 10m after the second.
        eq(int(next_try) - int(last_try), wait, "backoff after run %d" % run)
        # Not due: a plain -q does not touch it.
        r = t.sendmx(["-q", "-v"], config=conf)
        contains(r.err, "queue run: 0 messages", "-q while not due")

    bp = t.sendmx(["-bp"], config=conf)
    matches(bp.out, r"^ *\(.* at RCPT: 451 4\.7\.1 greylisted\)$", "-bp")

    r = t.sendmx(["-qI" + qid[-8:].lower()], config=conf)
    t.expect_exit(r, 0)
    m = srv.only_message()
    eq(m.rcpt_tos, ["carol@example.org"], "recipients")
    eq(m.one_header("Message-ID"), "<qtest.1@example.org>", "Message-ID")
    expect_empty_queue(t, conf)
    statuses = [re.search(r"status=(\w+)", l).group(1)
                for l in log_lines(t, "carol@example.org")]
    eq(statuses, ["deferred", "deferred", "sent"], "logged attempts")
    eq(len(srv.events("rcpt")), 3, "RCPT attempts at the server")


# --------------------------------------------------------------------------
# bounces


def bounce_server(t, **kw):
    return t.server(rcpt_reply={"bob@example.org": "550 5.1.1 no such user"}, **kw)


def only_dsn(srv, to=SENDER):
    dsns = [m for m in srv.messages() if m.mail_from in NULL_SENDER]
    eq(len(dsns), 1, "DSNs at the server: %r" % dsns)
    eq(dsns[0].rcpt_tos, [to], "DSN recipient")
    return dsns[0], parse_dsn(dsns[0].path)


def test_5xx_in_queue_run_sends_dsn(t):
    srv = bounce_server(t)
    conf = t.relay_config(srv)
    r = t.sendmx(["-odq", "-f", SENDER, "bob@example.org", "carol@example.org"],
                 ORIGINAL, config=conf)
    t.expect_exit(r, 0)
    [qid] = t.queued_ids()
    r = t.sendmx(["-q", "-v"], config=conf)
    t.expect_exit(r, 0)
    contains(r.err, "MAIL FROM:<>", "-q -v: the DSN goes out with the null sender")

    orig = [m for m in srv.messages() if m.mail_from == SENDER]
    eq(len(orig), 1, "original deliveries")
    eq(orig[0].rcpt_tos, ["carol@example.org"], "the accepted recipient got it")
    m, d = only_dsn(srv)
    check(m.mail_from in NULL_SENDER, "DSN envelope sender %r" % m.mail_from)
    eq(d["report_type"], "delivery-status", "report type")
    eq(len(d["recipients"]), 1, "recipients reported")
    rc = d["recipients"][0]
    eq(rc["address"], "bob@example.org", "Final-Recipient")
    eq(rc["action"], "failed", "Action")
    # The server's enhanced code, its reply as an smtp diagnostic.
    eq(rc["status"], "5.1.1", "Status")
    eq(rc["diagnostic-code"], "smtp; 550 5.1.1 no such user", "Diagnostic-Code")
    eq(rc.get("remote-mta"), "dns; 127.0.0.1", "Remote-MTA")
    contains(d["text"], "550 5.1.1 no such user", "human-readable part")
    eq(d["returned_type"], "text/rfc822-headers", "default RET")
    head = harness.crlf(ORIGINAL).split(b"\r\n\r\n")[0] + b"\r\n"
    eq(d["returned"].rstrip(b"\r\n") + b"\r\n", head, "returned header")
    contains(d["headers"]["to"], SENDER, "DSN To:")

    expect_empty_queue(t, conf)
    log = t.log_text()
    contains(log, "%s: sender non-delivery notification:" % qid, "log")
    matches(log, r"%s: to=<bob@example\.org>.*status=bounced" % qid, "log")


def test_dsn_ret_full_returns_whole_message(t):
    srv = bounce_server(t)
    conf = t.relay_config(srv)
    r = t.sendmx(["-odq", "-R", "full", "-f", SENDER, "bob@example.org"], ORIGINAL,
                 config=conf)
    t.expect_exit(r, 0)
    t.expect_exit(t.sendmx(["-q"], config=conf), 0)
    _, d = only_dsn(srv)
    eq(d["returned_type"], "message/rfc822", "returned part type")
    eq(d["returned"], harness.crlf(ORIGINAL), "returned message")
    expect_empty_queue(t, conf)


def test_dsn_notify_never_sends_no_dsn(t):
    srv = bounce_server(t)
    conf = t.relay_config(srv)
    r = t.sendmx(["-odq", "-N", "never", "-f", SENDER, "bob@example.org"], ORIGINAL,
                 config=conf)
    t.expect_exit(r, 0)
    t.expect_exit(t.sendmx(["-q"], config=conf), 0)
    eq(srv.messages(), [], "messages (no DSN)")
    eq(len(srv.events("rcpt")), 1, "RCPT attempts")
    matches(t.log_text(), r"to=<bob@example\.org>.*status=bounced", "log")
    lacks(t.log_text(), "non-delivery notification", "log")
    expect_empty_queue(t, conf)


def test_null_sender_failure_is_dropped(t):
    srv = bounce_server(t)
    conf = t.relay_config(srv)
    r = t.sendmx(["-odq", "-f", "<>", "bob@example.org"], ORIGINAL, config=conf)
    t.expect_exit(r, 0)
    [qid] = t.queued_ids()
    t.expect_exit(t.sendmx(["-q"], config=conf), 0)
    eq(srv.messages(), [], "messages (no bounce of a bounce)")
    eq([e["address"] in NULL_SENDER for e in srv.events("mail")], [True],
       "MAIL FROM:<> attempts")
    matches(t.log_text(), r"%s: undeliverable .*null sender: dropped" % qid, "log")
    expect_empty_queue(t, conf)


def test_failed_dsn_is_not_bounced_again(t):
    # The sender's own address is refused too: the DSN to it fails in the
    # same run, and is dropped instead of bouncing (or retrying) forever.
    srv = t.server(rcpt_reply={"bob@example.org": "550 5.1.1 no such user",
                               SENDER: "550 5.1.1 sender gone"})
    conf = t.relay_config(srv, extra='postmaster = "postmaster@example.org"')
    r = t.sendmx(["-odq", "-f", SENDER, "bob@example.org"], ORIGINAL, config=conf)
    t.expect_exit(r, 0)
    t.expect_exit(t.sendmx(["-q"], config=conf), 0)
    eq(srv.messages(), [], "messages")
    eq([e["address"] for e in srv.events("rcpt")], ["bob@example.org", SENDER],
       "RCPT attempts: the original, then its DSN, nothing more")
    matches(t.log_text(), r"undeliverable bounce with the null sender: dropped", "log")
    expect_empty_queue(t, conf)
    t.expect_exit(t.sendmx(["-qf"], config=conf), 0)
    eq(len(srv.events("rcpt")), 2, "RCPT attempts after another run")


def test_null_sender_failure_goes_to_postmaster(t):
    srv = bounce_server(t)
    conf = t.relay_config(srv, extra='postmaster = "postmaster@example.org"')
    r = t.sendmx(["-odq", "-f", "<>", "bob@example.org"], ORIGINAL, config=conf)
    t.expect_exit(r, 0)
    t.expect_exit(t.sendmx(["-q"], config=conf), 0)
    _, d = only_dsn(srv, to="postmaster@example.org")
    eq(d["recipients"][0]["address"], "bob@example.org", "Final-Recipient")
    expect_empty_queue(t, conf)


def test_expiry_bounces_after_queue_lifetime(t):
    srv = t.server(rcpt_reply={"carol@example.org": "451 4.3.0 try later"})
    conf = t.relay_config(srv, extra="retry_intervals = {1s}\nqueue_lifetime = 1s")
    r = t.sendmx(["-f", SENDER, "carol@example.org"], ORIGINAL, config=conf)
    [qid] = t.expect_queued(r)
    sleep_until(max(arrival(t, qid) + 1,
                    int(rcpt_line(t, qid, "carol@example.org")[2])))
    r = t.sendmx(["-q"], config=conf)
    t.expect_exit(r, 0)
    _, d = only_dsn(srv)
    rc = d["recipients"][0]
    eq(rc["address"], "carol@example.org", "Final-Recipient")
    eq(rc["action"], "failed", "Action")
    contains(rc["diagnostic-code"], "451 4.3.0 try later", "Diagnostic-Code")
    contains(rc["diagnostic-code"], "queue_lifetime", "Diagnostic-Code")
    matches(t.log_text(), r"%s: to=<carol@example\.org>, status=expired" % qid, "log")
    expect_empty_queue(t, conf)


# --------------------------------------------------------------------------
# crashes and concurrency


def test_kill_9_during_delivery_loses_nothing(t):
    srv = t.server(delay_ms=2)
    conf = t.relay_config(srv)
    rng = random.Random(4)          # reproducible "random" moments
    runs = 200
    interrupted = 0
    for n in range(runs):
        r = t.sendmx(["-odq", "bob@example.org"], message(n), config=conf)
        t.expect_exit(r, 0)
        p = subprocess.Popen([harness.SENDMX, "-C", conf, "-q"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=harness.sendmx_env(), cwd=t.tmp)
        time.sleep(rng.uniform(0.0, 0.04))
        if p.poll() is None:
            interrupted += 1
        p.send_signal(signal.SIGKILL)
        p.wait()
    # The random moments must have caught runs mid-way most of the time.
    check(interrupted >= runs // 2, "only %d of %d runs were still running when killed"
          % (interrupted, runs))
    # Transactions cut off between MAIL and the final reply.
    replied = {e["conn"] for e in srv.events("data")}
    cut = len({e["conn"] for e in srv.events("mail")} - replied)
    before = msgids(srv)
    r = t.sendmx(["-q", "-v"], config=conf)
    t.expect_exit(r, 0)
    seen = msgids(srv)
    missing = [n for n in range(runs) if "<qtest.%d@example.org>" % n not in seen]
    eq(missing, [], "messages never delivered")
    eq(t.queued_ids(), [], "queue after the last run")
    twice = sum(1 for v in seen.values() if v > 1)
    print("# kill -9: %d of %d runs interrupted (%d in an SMTP transaction), %d "
          "delivered before the last run, %d twice" % (interrupted, runs, cut,
                                                       len(before), twice))
    sys.stdout.flush()


def test_two_runners_deliver_each_message_once(t):
    srv = t.server()
    conf = t.relay_config(srv)
    total = 200
    for n in range(total):
        r = t.sendmx(["-odq", "bob@example.org"], message(n), config=conf)
        t.expect_exit(r, 0)
    eq(len(t.queued_ids()), total, "queued")
    # stderr into files: a full pipe would stall one runner.
    errs = [open(t.path("runner%d.err" % i), "w+") for i in range(2)]
    procs = [subprocess.Popen([harness.SENDMX, "-C", conf, "-q", "-v"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=errs[i], env=harness.sendmx_env(), cwd=t.tmp)
             for i in range(2)]
    outs = []
    for p, f in zip(procs, errs):
        p.wait(timeout=120)
        eq(p.returncode, 0, "exit of a runner")
        f.seek(0)
        outs.append(f.read())
        f.close()
    seen = msgids(srv)
    eq(len(seen), total, "distinct messages delivered")
    eq(sorted(n for n, c in seen.items() if c > 1), [], "delivered twice")
    eq(len(srv.messages()), total, "messages at the server")
    counts = [int(matches(o, r"queue run: (\d+) messages", "runner stderr").group(1))
              for o in outs]
    eq(sum(counts), total, "messages attempted by the two runners %r" % counts)
    expect_empty_queue(t, conf)
    print("# two runners: %d and %d messages" % tuple(counts))
    sys.stdout.flush()


def test_selected_runs(t):
    # -qI, -qR and -qS pick messages by id, recipient or sender
    # (case-insensitive substrings), due or not.
    srv = t.server()
    conf = t.relay_config(srv)
    for n, (sender, rcpt) in enumerate((("ann@example.org", "xavier@example.net"),
                                        ("ben@example.org", "yvonne@example.net"),
                                        ("cat@example.org", "zoe@example.net"))):
        r = t.sendmx(["-odq", "-f", sender, rcpt], message(n), config=conf)
        t.expect_exit(r, 0)
    first, second, third = t.queued_ids()
    t.expect_exit(t.sendmx(["-qSBEN@"], config=conf), 0)
    eq(list(msgids(srv)), ["<qtest.1@example.org>"], "after -qSBEN@")
    eq(t.queued_ids(), [first, third], "queue after -qS")
    t.expect_exit(t.sendmx(["-qRzoe"], config=conf), 0)
    eq(sorted(msgids(srv)), ["<qtest.1@example.org>", "<qtest.2@example.org>"], "after -qR")
    t.expect_exit(t.sendmx(["-qInot-an-id"], config=conf), 0)
    eq(t.queued_ids(), [first], "queue after -qI that matches nothing")
    t.expect_exit(t.sendmx(["-qI" + first[-10:]], config=conf), 0)
    eq(len(srv.messages()), 3, "messages after -qI")
    expect_empty_queue(t, conf)


def test_corrupt_control_file_moved_aside(t):
    srv = t.server()
    conf = t.relay_config(srv)
    for n in range(3):
        t.expect_exit(t.sendmx(["-odq", "bob@example.org"], message(n), config=conf), 0)
    ids = t.queued_ids()
    eq(len(ids), 3, "queued")
    bad = ids[1]
    path = os.path.join(t.queue_dir(), bad + ".c")
    text = control(t, bad).replace("rcpt pending 0", "rcpt pending -7")
    with open(path, "w") as f:
        f.write(text)
    r = t.sendmx(["-q"], config=conf)
    t.expect_exit(r, 0)
    eq(sorted(msgids(srv)), ["<qtest.0@example.org>", "<qtest.2@example.org>"],
       "the rest of the queue is delivered")
    eq(sorted(os.listdir(os.path.join(t.queue_dir(), "corrupt"))), [bad + ".c", bad + ".d"],
       "corrupt/")
    matches(t.log_text(), r"%s: control file .*%s\.c: .*moved to corrupt/" % (bad, bad), "log")
    expect_empty_queue(t, conf)


def test_control_file_without_data_file_moved_aside(t):
    srv = t.server()
    conf = t.relay_config(srv)
    for n in range(2):
        t.expect_exit(t.sendmx(["-odq", "bob@example.org"], message(n), config=conf), 0)
    bad, good = t.queued_ids()
    os.unlink(os.path.join(t.queue_dir(), bad + ".d"))
    r = t.sendmx(["-q"], config=conf)
    t.expect_exit(r, 0)
    eq(list(msgids(srv)), ["<qtest.1@example.org>"], "delivered")
    eq(os.listdir(os.path.join(t.queue_dir(), "corrupt")), [bad + ".c"], "corrupt/")
    matches(t.log_text(), r"%s: control file .*data file .*missing; moved to corrupt/" % bad,
            "log")
    expect_empty_queue(t, conf)


# --------------------------------------------------------------------------
# delivery modes and queue runners


def test_odb_returns_at_once_and_delivers_in_background(t):
    # Each reply waits 250 ms: the message is at the server no sooner
    # than 1.25 s after the connection (greeting, EHLO, MAIL, RCPT, DATA).
    srv = t.server(delay_ms=250)
    conf = t.relay_config(srv)
    start = time.monotonic()
    r = t.sendmx(["-odb", "-v", "bob@example.org"], message(1), config=conf)
    took = time.monotonic() - start
    t.expect_exit(r, 0)
    qid = re.search(r"queued as ([0-9A-F]+)", r.err).group(1)
    if not harness.sendmx_is_wrapper():
        # Only at full speed: under valgrind the child may finish first.
        eq(t.queued_ids(), [qid], "queue when sendmx returned")
        eq(srv.messages(), [], "messages when sendmx returned")
        check(took < 1.0, "-odb took %.2fs" % took)
    m = wait_for("the background delivery", lambda: srv.messages())[0]
    eq(m.one_header("Message-ID"), "<qtest.1@example.org>", "delivered message")
    wait_for("the queue to empty", lambda: t.queued_ids() == [])
    wait_for("the log line", lambda: re.search(r"%s: removed" % qid, t.log_text()))
    matches(t.log_text(), r"%s: to=<bob@example\.org>.*status=sent" % qid, "log")


def test_odb_refusal_bounces(t):
    # The caller has gone when the background child meets the 550: the
    # sender learns it from a DSN, not from the exit code.
    srv = bounce_server(t)
    conf = t.relay_config(srv)
    r = t.sendmx(["-odb", "-f", SENDER, "bob@example.org"], ORIGINAL, config=conf)
    t.expect_exit(r, 0)
    eq(r.err, "", "stderr")
    wait_for("the DSN", lambda: srv.messages())
    _, d = only_dsn(srv)
    eq((d["recipients"][0]["address"], d["recipients"][0]["status"]),
       ("bob@example.org", "5.1.1"), "reported recipient and status")
    wait_for("the queue to empty", lambda: t.queued_ids() == [])


def test_interval_runner(t):
    srv = t.server()
    conf = t.relay_config(srv)
    t.expect_exit(t.sendmx(["-odq", "bob@example.org"], message(1), config=conf), 0)
    runner = t.popen_sendmx(["-q1s"], config=conf)
    wait_for("the first message", lambda: len(srv.messages()) == 1, timeout=10)
    # Queued after a run: only a later run of the same process sends it.
    t.expect_exit(t.sendmx(["-odq", "bob@example.org"], message(2), config=conf), 0)
    wait_for("the second message", lambda: len(srv.messages()) == 2, timeout=10)
    # The server has it before the runner hears 250 and removes it.
    wait_for("the queue to empty", lambda: t.queued_ids() == [])
    eq(runner.poll(), None, "the -q1s runner is still running")
    os.kill(runner.pid, signal.SIGTERM)
    runner.wait(timeout=5)
    eq(runner.returncode, -signal.SIGTERM, "runner's end")
    eq(sorted(msgids(srv)), ["<qtest.1@example.org>", "<qtest.2@example.org>"], "delivered")
    expect_empty_queue(t, conf)


# --------------------------------------------------------------------------
# the queue cannot be written


def with_file_size_limit(t, limit, args, input, conf):
    """Runs sendmx with RLIMIT_FSIZE = limit bytes and SIGXFSZ at its
    default (killing), so only sendmx's own handling saves it."""
    code = ("import os, resource, signal, sys\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_DFL)\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (%d, %d))\n"
            "os.execv(sys.argv[1], sys.argv[1:])\n" % (limit, limit))
    return t.run([sys.executable, "-c", code, harness.SENDMX, "-C", conf] + args,
                 input=input)


def test_file_size_limit_refuses_cleanly(t):
    big = message(1, body=(b"x" * 70 + b"\n") * 3000)      # ~216 KB
    port = down_port(t)
    conf = t.relay_config(port=port)
    for mode in ("-odq", "-odi"):
        r = with_file_size_limit(t, 64 * 1024, [mode, "bob@example.org"], big, conf)
        eq(r.code, 75, "exit with %s under a 64 KB file size limit (stderr %r)"
           % (mode, r.err))
        matches(r.err, r"^sendmx: message not taken: .*File too large", "stderr")
        eq(t.queued_ids(), [], "queued after %s" % mode)
        eq(queue_files(t), [], "files in the queue directory after %s" % mode)
    # A message under the limit still goes through the same way.
    r = with_file_size_limit(t, 64 * 1024, ["-odq", "bob@example.org"], message(2), conf)
    eq(r.code, 0, "exit for a small message")
    eq(len(t.queued_ids()), 1, "queued")


def in_private_tmpfs(t, size, conf, script_args):
    """Runs sendmx with the queue directory on a tmpfs of the given size,
    mounted in a private mount namespace (unshare) that ends with it:
    prints sendmx's exit code and what is left in the queue directory.
    Skips where namespaces or mounts are not allowed."""
    qdir = t.queue_dir()
    script = ('q="$1"; shift; mount -t tmpfs -o size=%d tmpfs "$q" || exit 99\n'
              '"$@"; echo "exit=$?"; cd "$q" && find . -type f | sort\n' % size)
    # Not root: a user namespace of our own (unshare -r) may mount.
    ns = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-r", "-m"]
    r = t.run(ns + ["--propagation", "private", "sh", "-c", script, "sh", qdir,
                    harness.SENDMX, "-C", conf] + script_args[0], input=script_args[1])
    if r.code != 0:
        raise harness.Skip("cannot mount a tmpfs in a private namespace: %s"
                           % (r.err.strip().split("\n")[-1] if r.err.strip() else r.code))
    code = int(matches(r.out, r"^exit=(\d+)$", "stdout").group(1))
    left = [l for l in r.out.split("\n") if l.startswith("./")]
    return code, left, r.err


def test_full_disk_leaves_no_half_file(t):
    if not shutil.which("unshare"):
        raise harness.Skip("no unshare(1)")
    port = down_port(t)
    conf = t.relay_config(port=port)
    qdir = re.escape(t.queue_dir())
    big = message(1, body=(b"x" * 70 + b"\n") * 3000)      # ~216 KB
    # The data file fits in the 16 pages of a 64 KiB tmpfs, the control
    # file does not.
    fill = message(2, body=(b"y" * 76 + b"\n") * 800)
    check(15 * 4096 < len(harness.crlf(fill)) <= 16 * 4096,
          "fill message size %d" % len(harness.crlf(fill)))
    data_full = r"cannot write the queue file %s/[0-9A-F]{18}\.d: No space left on device" % qdir
    ctl_full = (r"cannot write control file %s/tmp/[0-9A-F]{18}\.c: No space left on device"
                % qdir)
    for size, msg, why in ((128 * 1024, big, data_full), (64 * 1024, fill, ctl_full)):
        # -odq: not taken.
        code, left, err = in_private_tmpfs(t, size, conf, (["-odq", "bob@example.org"], msg))
        eq(code, 75, "-odq exit on a full queue file system (stderr %r)" % err)
        matches(err, r"^sendmx: message not taken: %s$" % why, "stderr")
        eq(left, [], "files left in the queue")
        # -odi with the relay down: the deferral cannot be queued.
        code, left, err = in_private_tmpfs(t, size, conf, (["-odi", "bob@example.org"], msg))
        eq(code, 75, "-odi exit when the deferral cannot be queued (stderr %r)" % err)
        matches(err, r"^sendmx: the deferred recipients could not be queued: %s$" % why,
                "stderr")
        matches(err, r"^sendmx: bob@example\.org: deferred: .*Connection refused$", "stderr")
        lacks(err, "queued as", "stderr")
        eq(left, [], "files left in the queue")
    lacks(t.log_text(), ": queued\n", "log")
    eq(t.log_text().count("not queued: "), 4, "log lines saying 'not queued'")


def test_queue_dir_unusable_in_every_mode(t):
    # The missing directory for a delivery is in test_cli.py; here the
    # queue runner, the listing, and a directory that is a file.
    srv = t.server()
    missing = t.path("no-such-queue")
    conf = t.relay_config(srv, name="missing.conf")
    with open(conf) as f:
        text = f.read().replace(t.queue_dir(), missing)
    harness.write_config(conf, text)
    for args in (["-q"], ["-bp"], ["-odq", "bob@example.org"]):
        r = t.sendmx(args, message(1), config=conf)
        t.expect_exit(r, 73)
        matches(r.err, r"^sendmx: .*%s" % re.escape(missing), "stderr of %s" % args[0])
    notdir = t.write("a-file", "")
    harness.write_config(conf, text.replace(missing, notdir))
    r = t.sendmx(["bob@example.org"], message(1), config=conf)
    t.expect_exit(r, 73)
    matches(r.err, r"^sendmx: .*%s.*Not a directory" % re.escape(notdir), "stderr")
    eq(srv.messages(), [], "messages")


def test_queue_dir_not_writable(t):
    srv = t.server()
    conf = t.relay_config(srv)
    qdir = t.queue_dir()
    if os.geteuid() != 0:
        os.chmod(qdir, 0o500)
        try:
            r = t.sendmx(["-odq", "bob@example.org"], message(1), config=conf)
        finally:
            os.chmod(qdir, 0o700)
    else:
        # root writes anywhere: a read-only bind mount in a private namespace.
        if not shutil.which("unshare"):
            raise harness.Skip("running as root, and no unshare(1)")
        script = ('mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 99\n'
                  'shift; exec "$@"\n')
        r = t.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                   qdir, harness.SENDMX, "-C", conf, "-odq", "bob@example.org"],
                  input=message(1))
        if r.code == 99 or r.err.startswith("unshare:"):
            raise harness.Skip("running as root, and no read-only bind mount: %s"
                               % r.err.strip())
    eq(r.code, 73, "exit (stderr %r)" % r.err)
    matches(r.err, r"^sendmx: .*%s" % re.escape(qdir), "stderr names the directory")
    eq(queue_files(t), [], "files in the queue")


# --------------------------------------------------------------------------
# mailq


def test_mailq_lists_two_messages(t):
    srv = t.server(rcpt_reply={"carol@example.org": "451 4.7.1 greylisted"})
    conf = t.relay_config(srv)
    r = t.sendmx(["-f", SENDER, "carol@example.org"], message(1), config=conf)
    [first] = t.expect_queued(r)
    big = message(2, body=(b"z" * 70 + b"\n") * 40)
    r = t.sendmx(["-odq", "-f", "<>", "dave@example.org", "erin@example.org"], big,
                 config=conf)
    t.expect_exit(r, 0)
    second = [i for i in t.queued_ids() if i != first][0]

    def head(qid):
        c = control(t, qid)
        size = int(matches(c, r"^size (\d+)$", "control").group(1))
        when = time.strftime("%a %b %e %H:%M:%S ", time.localtime(arrival(t, qid)))
        return size, "%-18s %8d %-20s " % (qid, size, when)

    s1, h1 = head(first)
    s2, h2 = head(second)
    reason = "127.0.0.1[127.0.0.1]:%d at RCPT: 451 4.7.1 greylisted" % srv.port
    pad = " " * 49
    want = ("-Queue ID-         --Size-- ----Arrival Time---- -Sender/Recipient-------\n"
            + h1 + SENDER + "\n"
            + " " * (76 - len(reason)) + "(" + reason + ")\n"
            + pad + "carol@example.org\n"
            + "\n"
            + h2 + "MAILER-DAEMON\n"
            + pad + "dave@example.org\n"
            + pad + "erin@example.org\n"
            + "\n-- %d Kbytes in 2 Requests.\n" % ((s1 + s2) // 1024))
    bp = t.sendmx(["-bp"], config=conf)
    t.expect_exit(bp, 0)
    eq(bp.out, want, "-bp output")
    mailq = t.sendmx([], config=conf, argv0=t.link("mailq"))
    t.expect_exit(mailq, 0)
    eq(mailq.out, want, "mailq output")
    check(first < second, "ids sort by arrival")


if __name__ == "__main__":
    harness.main()
