"""workloads.py - the five workloads of issue 5, B1 to B5.

Each takes the run's context (bench.py: programs, counts, directories)
and adds its figures to ctx.results: a list of samples per metric and
program, or the reason a program was skipped. Programs are interleaved
(B1 shuffles their order every round) so that a disturbance on the
machine hits all of them alike.
"""

import os
import random
import shlex
import subprocess
import threading
import time

from benchlib import (Dns, Sink, SlowServer, callgrind_total, log, now, spawn,
                      time_v, wait_for)
from peers import Skip

SENDER = "bench@bench.test"
RCPT = "rcpt@example.test"
DELIVERY_TIMEOUT = 120      # seconds for one message to reach the sink


def make_message(path, size, to="rcpt@example.test"):
    """A message of about size bytes: a header and 76-character lines."""
    head = ("From: Bench <bench@bench.test>\nTo: <%s>\nSubject: sendmx benchmark\n"
            "Date: Sun, 22 Nov 2026 12:00:00 +0000\n"
            "Message-ID: <bench-%d@bench.test>\n\n" % (to, size))
    line = ("The quick brown fox jumps over the lazy dog 0123456789 "
            "abcdefghijklmnopqrstu\n")
    with open(path, "w") as f:
        f.write(head)
        left = max(size - len(head), len(line))
        block = line * 1024
        while left >= len(block):
            f.write(block)
            left -= len(block)
        f.write(line * max(1, left // len(line)))
    return path


def run_wait(proc, timeout):
    """Blocks in waitpid (Popen.wait with a timeout polls, which would
    blur the timing), killing the process after timeout seconds."""
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        return proc.wait()
    finally:
        timer.cancel()


def runnable(ctx, want=None):
    return [p for p in ctx.programs if not p.skip and (want is None or want(p))]


def fail(ctx, metric, p, why):
    log("%s: %s: %s" % (metric, p.name, why))
    ctx.results.fail(metric, p.name, why)


def errlog(ctx, p):
    return os.path.join(ctx.tmp, "%s.stderr" % p.name)


# --------------------------------------------------------------------------
# B1: latency of one 2 KB message, and instructions per message


def b1(ctx):
    rounds = ctx.counts["b1_rounds"]
    msg = make_message(os.path.join(ctx.tmp, "b1.eml"), 2048)
    sink = Sink(ctx.tools)
    progs = runnable(ctx)
    try:
        for p in progs:
            p.configure_relay(sink.port)
            p.start()
        lat = {p.name: [] for p in progs}
        wait = {p.name: [] for p in progs}
        broken = {}
        rng = random.Random(5)
        order = list(progs)
        for _ in range(rounds):
            rng.shuffle(order)
            for p in order:
                if p.name in broken:
                    continue
                s0, m0 = sink.counts()
                t0 = now()
                proc = spawn(p.submit(SENDER, [RCPT]), msg, stderr_path=errlog(ctx, p))
                rc = run_wait(proc, DELIVERY_TIMEOUT)
                t_exit = now()
                t_recv = sink.wait_mesg(m0 + 1, DELIVERY_TIMEOUT)
                if rc != 0 or t_recv is None:
                    broken[p.name] = "exit %s, %s" % (
                        rc, "delivered" if t_recv else "nothing arrived")
                    continue
                p.wait_idle(DELIVERY_TIMEOUT)
                sink.wait(lambda s, m: s > s0, 5)     # its session has ended
                lat[p.name].append((t_recv - t0) * 1000)
                wait[p.name].append((t_exit - t0) * 1000)
        for p in progs:
            if p.name in broken:
                fail(ctx, "b1_latency", p, broken[p.name])
                continue
            ctx.results.add("b1_latency", p.name, lat[p.name])
            ctx.results.add("b1_exit", p.name, wait[p.name])
        b1_callgrind(ctx, progs, sink, msg)
    finally:
        for p in progs:
            p.stop()
        sink.stop()


def b1_callgrind(ctx, progs, sink, msg):
    if not ctx.valgrind:
        for p in progs:
            ctx.results.skip("b1_instructions", p.name,
                             "valgrind not installed (apt-get install valgrind)")
        return
    outdir = os.path.join(ctx.tmp, "callgrind")
    os.makedirs(outdir, exist_ok=True)
    os.chmod(outdir, 0o777)     # dma, started by root, drops to another user
    for p in progs:
        samples = []
        for i in range(ctx.counts["callgrind_runs"]):
            prefix = "%s-%d" % (p.name, i)
            _, m0 = sink.counts()
            try:
                exclude = p.callgrind(SENDER, [RCPT], msg, outdir, prefix,
                                      lambda: sink.wait_mesg(m0 + 1, DELIVERY_TIMEOUT))
            except (subprocess.SubprocessError, OSError) as e:
                fail(ctx, "b1_instructions", p, "callgrind run failed: %s" % e)
                break
            if not sink.wait_mesg(m0 + 1, 1):
                fail(ctx, "b1_instructions", p, "message not delivered under callgrind")
                break
            p.wait_idle(DELIVERY_TIMEOUT)
            total, cmds = callgrind_total(outdir, prefix, exclude)
            if i == 0:
                ctx.results.note("callgrind %s: %s" % (p.name, ", ".join(
                    "%s %.2f M" % (os.path.basename(c.split()[0]) if c else "?", n / 1e6)
                    for c, n in cmds)))
            samples.append(total / 1e6)
        else:
            ctx.results.add("b1_instructions", p.name, samples)


# --------------------------------------------------------------------------
# B2: throughput, N messages from 8 parallel submitters


def submit_loops(argv, msg, count, parallel, errpath):
    """parallel shell loops that together run argv count times."""
    procs = []
    cmd = "%s < %s 2>>%s || echo failed >&2" % (shlex.join(argv), shlex.quote(msg),
                                                shlex.quote(errpath))
    for k in range(parallel):
        n = count // parallel + (1 if k < count % parallel else 0)
        script = "i=0; while [ $i -lt %d ]; do %s; i=$((i+1)); done" % (n, cmd)
        procs.append(subprocess.Popen(["bash", "-c", script], stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    return procs


def b2(ctx):
    n, par = ctx.counts["b2_messages"], ctx.counts["b2_parallel"]
    msg = make_message(os.path.join(ctx.tmp, "b2.eml"), 2048)
    sink = Sink(ctx.tools)
    progs = runnable(ctx)
    rates = {p.name: [] for p in progs}
    broken = {}
    try:
        for p in progs:
            p.configure_relay(sink.port)
        for _ in range(ctx.counts["b2_reps"]):
            for p in progs:
                if p.name in broken:
                    continue
                p.start()
                _, m0 = sink.counts()
                t0 = now()
                procs = submit_loops(p.submit(SENDER, [RCPT]), msg, n, par, errlog(ctx, p))
                failed = sum(run_wait(q, 900) != 0 or b"failed" in q.stderr.read()
                             for q in procs)
                t_done = sink.wait_mesg(m0 + n, 600)
                p.wait_idle(60)
                p.stop()
                if failed or t_done is None:
                    broken[p.name] = "%d of %d submitters failed; %d of %d arrived" % (
                        failed, par, sink.counts()[1] - m0, n)
                    continue
                rates[p.name].append(n / (t_done - t0))
        for p in progs:
            if p.name in broken:
                fail(ctx, "b2_throughput", p, broken[p.name])
            else:
                ctx.results.add("b2_throughput", p.name, rates[p.name])
    finally:
        for p in progs:
            p.stop()
        sink.stop()


# --------------------------------------------------------------------------
# B3: fan-out to 100 recipients at 10 domains on one MX; 20 slow hosts


def b3(ctx):
    ndom, per = 10, ctx.counts["b3_rcpt_per_domain"]
    nslow = ctx.counts["b3_slow_hosts"]
    mx = [("d%d.bench.test" % i, "mx.bench.test") for i in range(ndom)]
    mx += [("s%d.bench.test" % i, "slow%d.bench.test" % i) for i in range(nslow)]
    a = [("mx.bench.test", "127.0.0.2")]
    a += [("slow%d.bench.test" % i, "127.0.0.%d" % (10 + i)) for i in range(nslow)]
    dns = Dns(os.path.join(ctx.tmp, "dns"), ctx.dns_port, mx, a)
    try:
        b3_shared(ctx, ndom, per)
        b3_slow(ctx, nslow)
    finally:
        dns.stop()


def configure_b3(ctx, p, relay_port):
    """MX delivery where the program has it; else its relay mode (a
    reference only: it sends everything to the one host)."""
    if p.mx:
        p.configure_mx(ctx.dns_port, ctx.mx_port)
        return False
    p.configure_relay(relay_port, host="127.0.0.2")
    return True


def b3_shared(ctx, ndom, per):
    rcpts = ["u%d@d%d.bench.test" % (j, i) for i in range(ndom) for j in range(per)]
    msg = make_message(os.path.join(ctx.tmp, "b3.eml"), 2048, to=rcpts[0])
    dumpdir = os.path.join(ctx.tmp, "b3-dump")
    os.makedirs(dumpdir, exist_ok=True)
    os.chmod(dumpdir, 0o777)            # smtp-sink writes it as nobody
    dump = os.path.join(dumpdir, "dump")
    sink = Sink(ctx.tools, host="127.0.0.2", port=ctx.mx_port, extra=("-D", dump))
    progs = runnable(ctx)
    try:
        for p in progs:
            try:
                relay = configure_b3(ctx, p, ctx.mx_port)
            except Skip as e:
                fail(ctx, "b3_shared_time", p, str(e))
                continue
            if relay:
                ctx.results.note("B3 shared MX: %s has no MX delivery; it was measured "
                                 "in its relay mode (relay = the MX host)" % p.name)
            times, conns, txns, missing = [], [], [], None
            p.start()
            for _ in range(ctx.counts["b3_reps"]):
                s0, m0 = sink.counts()
                r0 = rcpt_lines(dump)
                t0 = now()
                proc = spawn(p.submit(SENDER, rcpts), msg, stderr_path=errlog(ctx, p))
                rc = run_wait(proc, DELIVERY_TIMEOUT)
                p.wait_idle(DELIVERY_TIMEOUT)
                settle(sink)
                s1, m1 = sink.counts()
                got = rcpt_lines(dump) - r0
                if rc != 0 or got != len(rcpts):
                    missing = "exit %d, %d of %d recipients arrived" % (rc, got, len(rcpts))
                    break
                times.append((sink.last_mesg_time() - t0) * 1000)
                conns.append(s1 - s0)
                txns.append(m1 - m0)
            p.stop()
            if missing:
                fail(ctx, "b3_shared_time", p, missing)
                continue
            ctx.results.add("b3_shared_time", p.name, times)
            ctx.results.add("b3_shared_conns", p.name, conns)
            ctx.results.add("b3_shared_txns", p.name, txns)
    finally:
        for p in progs:
            p.stop()
        sink.stop()


def rcpt_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\nX-Rcpt-Args: ")
    except FileNotFoundError:
        return 0


def settle(sink, quiet=0.3, timeout=30):
    """Waits until the sink's counters have not moved for quiet seconds
    (the last QUITs of a background sender), outside the timed part."""
    deadline = now() + timeout
    last, since = sink.counts(), now()
    while now() < deadline:
        time.sleep(0.02)
        c = sink.counts()
        if c != last:
            last, since = c, now()
        elif now() - since >= quiet:
            return


def b3_slow(ctx, nslow):
    progs = [p for p in runnable(ctx) if p.mx]
    for p in runnable(ctx):
        if not p.mx:
            for m in ("b3_slow1_time", "b3_slowN_time"):
                ctx.results.skip(m, p.name, "no direct MX delivery")
    servers = []
    try:
        for i in range(nslow):
            servers.append(SlowServer(ctx.srcdir, ctx.python,
                                      os.path.join(ctx.tmp, "slow%d" % i),
                                      "127.0.0.%d" % (10 + i), ctx.mx_port, 200))
        for s in servers:
            s.wait_ready()
        msg = make_message(os.path.join(ctx.tmp, "b3s.eml"), 2048)
        for p in progs:
            try:
                p.configure_mx(ctx.dns_port, ctx.mx_port)
            except Skip as e:
                for m in ("b3_slow1_time", "b3_slowN_time"):
                    fail(ctx, m, p, str(e))
                continue
            p.start()
            cases = [("b3_slow1_time", servers[:1], None), ("b3_slowN_time", servers, None)]
            if p.is_sendmx:
                # The default max_connections (8) runs 20 hosts in three
                # waves; show what the engine does without that limit.
                cases.append(("b3_slowN_mc_time", servers,
                              "max_connections = %d\n" % len(servers)))
            for metric, hosts, extra in cases:
                if extra:
                    p.configure_mx(ctx.dns_port, ctx.mx_port, extra=extra)
                rcpts = ["u@s%d.bench.test" % i for i in range(len(hosts))]
                times, why = [], None
                for _ in range(ctx.counts["b3_slow_reps"]):
                    before = [s.received() for s in hosts]
                    t0 = time.time()
                    proc = spawn(p.submit(SENDER, rcpts), msg, stderr_path=errlog(ctx, p))
                    rc = run_wait(proc, DELIVERY_TIMEOUT)
                    p.wait_idle(DELIVERY_TIMEOUT)
                    ok = wait_for(lambda: all(s.received() > b for s, b in zip(hosts, before)), 10)
                    if rc != 0 or not ok:
                        why = "exit %d; %d of %d hosts got the message" % (
                            rc, sum(s.received() > b for s, b in zip(hosts, before)), len(hosts))
                        break
                    times.append((last_json_mtime(hosts) - t0) * 1000)
                if why:
                    fail(ctx, metric, p, why)
                else:
                    ctx.results.add(metric, p.name, times)
            p.stop()
    finally:
        for s in servers:
            s.stop()


def last_json_mtime(servers):
    """When the last message was written: smtpserver.py stores each
    message (.json) before it sends the 250."""
    t = 0.0
    for s in servers:
        for n in os.listdir(s.spool):
            if n.endswith(".json"):
                t = max(t, os.stat(os.path.join(s.spool, n)).st_mtime)
    return t


# --------------------------------------------------------------------------
# B4: big messages, wall time and peak RSS


def b4(ctx):
    sink = Sink(ctx.tools)
    progs = runnable(ctx)
    try:
        for p in progs:
            p.configure_relay(sink.port)
        for label, size in ctx.counts["b4_sizes"]:
            msg = make_message(os.path.join(ctx.tmp, "b4-%s.eml" % label), size)
            res = {p.name: ([], [], [], []) for p in progs}
            broken = {}
            for _ in range(ctx.counts["b4_reps"]):
                for p in progs:
                    if p.name in broken:
                        continue
                    r = b4_one(ctx, p, sink, msg)
                    if isinstance(r, str):
                        broken[p.name] = r
                    else:
                        for k in range(4):
                            res[p.name][k].append(r[k])
            for p in progs:
                if p.name in broken:
                    fail(ctx, "b4_time_" + label, p, broken[p.name])
                    continue
                ctx.results.add("b4_time_" + label, p.name, res[p.name][0])
                ctx.results.add("b4_rss_" + label, p.name, res[p.name][1])
                if None not in res[p.name][2]:
                    ctx.results.add("b4_cpu_" + label, p.name, res[p.name][2])
                if None not in res[p.name][3]:
                    ctx.results.add("b4_sinkcpu_" + label, p.name, res[p.name][3])
            os.unlink(msg)
    finally:
        sink.stop()


def b4_one(ctx, p, sink, msg):
    """(seconds until the sink has it, peak RSS in MiB, CPU seconds, the
    receiver's CPU seconds), or why it failed.
    dma runs in the foreground (-D); nullmailer's queue is run once
    (pausetime 0) after the submission, both under time -v."""
    tv = os.path.join(ctx.tmp, "time-v.%s" % p.name)
    tv2 = tv + ".send"
    for f in (tv, tv2):
        if os.path.exists(f):
            os.unlink(f)
    _, m0 = sink.counts()
    sink_cpu = sink.cpu_seconds()
    t0 = now()
    proc = spawn(ctx.timev(tv) + p.submit(SENDER, [RCPT], foreground=True), msg,
                 stderr_path=errlog(ctx, p))
    rc = run_wait(proc, 600)
    if rc == 0 and hasattr(p, "oneshot"):
        p.oneshot(True)
        try:
            rc = run_wait(spawn(ctx.timev(tv2) + p.flush()), 600)
        finally:
            p.oneshot(False)
    t_recv = sink.wait_mesg(m0 + 1, 600)
    if rc != 0 or t_recv is None:
        return "exit %d, %s" % (rc, "delivered" if t_recv else "nothing arrived")
    p.wait_idle(60)
    settle(sink, quiet=0.1)             # the QUIT, so its CPU is all counted
    after = sink.cpu_seconds()
    sink_cpu = None if sink_cpu is None or after is None else after - sink_cpu
    got = [time_v(f) for f in (tv, tv2) if os.path.exists(f)]
    rss = max(r or 0 for r, _ in got)
    cpu = None if any(c is None for _, c in got) else sum(c for _, c in got)
    return t_recv - t0, rss / 1024.0, cpu, sink_cpu


# --------------------------------------------------------------------------
# B5: the queue, filled while the relay is down, then one queue run


def b5(ctx):
    n = ctx.counts["b5_messages"]
    msg = make_message(os.path.join(ctx.tmp, "b5.eml"), 2048)
    for p in runnable(ctx):
        if not p.queue:
            why = ("no queue" if p.name == "msmtp" else
                   "dma -q forks one process per queued message (%d at once)" % n)
            for m in ("b5_drain", "b5_submit", "b5_bytes"):
                ctx.results.skip(m, p.name, why)
            continue
        # A queue run is a chain of short round trips: the rate moves
        # with the machine's load, so sendmx gets several samples (the
        # slower peers one).
        reps = ctx.counts["b5_reps"] if p.is_sendmx else 1
        samples = {k: [] for k in ("b5_submit", "b5_bytes", "b5_bytes_apparent",
                                   "b5_drain", "b5_drain_cpu")}
        for _ in range(reps):
            why = b5_one(ctx, p, msg, n, samples)
            if why:
                fail(ctx, "b5_drain", p, why)
                break
        else:
            for k, v in samples.items():
                if v:
                    ctx.results.add(k, p.name, v)


def b5_one(ctx, p, msg, n, samples):
    """Fills the queue with n messages while nothing listens, then runs
    it once against a sink; adds to samples, or returns why it failed."""
    port = ctx.free_port()
    p.configure_relay(port)             # nothing listens there yet
    p.stop()
    enqueue = p.enqueue(SENDER, [RCPT]) if hasattr(p, "enqueue") else \
        p.submit(SENDER, [RCPT])
    t0 = now()
    procs = submit_loops(enqueue, msg, n, ctx.counts["b2_parallel"], errlog(ctx, p))
    failed = sum(run_wait(q, 900) != 0 or b"failed" in q.stderr.read() for q in procs)
    t1 = now()
    queued = p.queued()
    if failed or queued != n:
        return "%d submitters failed, %d of %d queued" % (failed, queued, n)
    apparent, allocated = disk_usage(p.queue_dir)
    samples["b5_submit"].append(n / (t1 - t0))
    samples["b5_bytes"].append(allocated / n)
    samples["b5_bytes_apparent"].append(apparent / n)
    sink = Sink(ctx.tools, port=port)
    tv = os.path.join(ctx.tmp, "time-v.b5.%s" % p.name)
    try:
        _, m0 = sink.counts()
        if hasattr(p, "oneshot"):
            p.oneshot(True)
        t0 = now()
        rc = run_wait(spawn(ctx.timev(tv) + p.flush(), stderr_path=errlog(ctx, p)), 1800)
        t_end = now()
        if hasattr(p, "oneshot"):
            p.oneshot(False)
        done = sink.wait_mesg(m0 + n, 60)
        left = p.queued()
        if rc != 0 or done is None or left:
            return "queue run exit %d, %d of %d arrived, %d left" % (
                rc, sink.counts()[1] - m0, n, left)
        samples["b5_drain"].append(n / (max(t_end, done) - t0))
        cpu = time_v(tv)[1]
        if cpu is not None:
            samples["b5_drain_cpu"].append(cpu / n * 1e6)
    finally:
        sink.stop()
    return None


def disk_usage(path):
    """(apparent bytes, allocated bytes) of everything under path."""
    apparent = allocated = 0
    for root, dirs, files in os.walk(path):
        for n in files + dirs:
            st = os.lstat(os.path.join(root, n))
            apparent += st.st_size
            allocated += st.st_blocks * 512
    return apparent, allocated


WORKLOADS = {"B1": b1, "B2": b2, "B3": b3, "B4": b4, "B5": b5}
