#!/usr/bin/env python3
"""bench.py - sendmx's benchmark suite (issue 5): sendmx against msmtp, dma
and nullmailer, with Postfix's smtp-sink as the receiver.

    python3 tests/bench/bench.py --sendmx BUILD/sendmx [--smoke]
        [--tools DIR] [--results DIR] [--only B1,B3] [--programs sendmx,msmtp]

`make bench` and `make bench-smoke` run it. It fetches smtp-sink, dma and
nullmailer with fetch-tools.sh (apt-get download + dpkg -x into --tools),
runs the workloads B1-B5 (workloads.py) and writes results.md,
results.json and chart.png into --results, and prints the table.

As root it runs the workloads in a private mount and network namespace
(unshare --mount --net): overlays put dma's and nullmailer's fixed paths
(/etc/dma, /etc/nullmailer, /var/spool/nullmailer, /usr/sbin, /usr/lib)
in place without touching the system, /etc/resolv.conf points at the
benchmark's dnsmasq on 127.0.0.1:53, and the network has nothing but
loopback. Without root, dma and nullmailer are skipped and B3 runs
sendmx alone on free ports.

Exit status: 0 when every workload ran for sendmx (targets missed are
reported, not failed), 1 when something broke, 2 for bad usage.
"""

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True      # no __pycache__ in the source tree

from benchlib import cpu_busy, free_port, log        # noqa: E402
from peers import make_programs                      # noqa: E402
from report import Results                           # noqa: E402
from workloads import WORKLOADS                      # noqa: E402

SRCDIR = os.path.dirname(os.path.dirname(HERE))
MB = 1000 * 1000
BUSY_WARN = 0.15    # CPU share used by others, before or after, that voids a run

FULL = {"b1_rounds": 100, "callgrind_runs": 3, "b2_messages": 2000, "b2_parallel": 8,
        "b2_reps": 3, "b3_rcpt_per_domain": 10, "b3_reps": 10, "b3_slow_hosts": 20,
        "b3_slow_reps": 3, "b4_sizes": [["50MB", 50 * MB], ["200MB", 200 * MB]],
        "b4_reps": 3, "b5_messages": 10000, "b5_reps": 3}
SMOKE = {"b1_rounds": 5, "callgrind_runs": 1, "b2_messages": 80, "b2_parallel": 8,
         "b2_reps": 1, "b3_rcpt_per_domain": 10, "b3_reps": 2, "b3_slow_hosts": 4,
         "b3_slow_reps": 1, "b4_sizes": [["2MB", 2 * MB], ["8MB", 8 * MB]],
         "b4_reps": 1, "b5_messages": 200, "b5_reps": 1}

# Used when /usr/bin/time is missing: the same figure (ru_maxrss from
# wait4) in time -v's words.
TIMEV_SHIM = r"""
import os, sys
out, argv = sys.argv[1], sys.argv[2:]
pid = os.fork()
if pid == 0:
    os.execvp(argv[0], argv)
_, st, ru = os.wait4(pid, 0)
with open(out, "w") as f:
    f.write("Maximum resident set size (kbytes): %d\n" % ru.ru_maxrss)
    f.write("User time (seconds): %.2f\n" % ru.ru_utime)
    f.write("System time (seconds): %.2f\n" % ru.ru_stime)
sys.exit(os.waitstatus_to_exitcode(st))
"""


def parse_args(argv):
    p = argparse.ArgumentParser(description="sendmx benchmarks (issue 5)")
    p.add_argument("--sendmx", required=True, help="the sendmx binary to measure")
    p.add_argument("--tools", default=os.path.join(HERE, ".cache"),
                   help="where smtp-sink, dma and nullmailer are unpacked")
    p.add_argument("--results", default=os.path.join(HERE, "results"),
                   help="where results.md, results.json and chart.png go")
    p.add_argument("--smoke", action="store_true", help="small counts (CI)")
    p.add_argument("--only", default="", help="workloads to run, e.g. B1,B3")
    p.add_argument("--programs", default="", help="e.g. sendmx,msmtp")
    p.add_argument("--also", action="append", default=[], metavar="NAME=BINARY",
                   help="measure another sendmx build too, as program NAME "
                        "(e.g. sendmx-static=build-static/sendmx)")
    p.add_argument("--nice", type=int, default=0, metavar="N",
                   help="run everything at this niceness (e.g. -10 as root, so "
                        "that other work on a shared machine disturbs less)")
    p.add_argument("--no-namespace", action="store_true",
                   help="do not use a private namespace even as root")
    p.add_argument("--no-fetch", action="store_true", help="do not run fetch-tools.sh")
    p.add_argument("--wait-quiet", type=int, default=0, metavar="SECONDS",
                   help="first wait up to SECONDS for the other work on the machine "
                        "to stop (less than %d%%%% of the CPU busy)" % (100 * BUSY_WARN))
    p.add_argument("--inner", metavar="TMP", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    a.sendmx = os.path.abspath(a.sendmx)
    a.tools = os.path.abspath(a.tools)
    a.results = os.path.abspath(a.results)
    a.only = [w.strip().upper() for w in a.only.split(",") if w.strip()]
    for w in a.only:
        if w not in WORKLOADS:
            p.error("unknown workload %s" % w)
    a.programs = [x.strip() for x in a.programs.split(",") if x.strip()]
    variants = []
    for v in a.also:
        name, sep, binary = v.partition("=")
        if not sep or not name.startswith("sendmx") or name == "sendmx" or not binary:
            p.error("--also wants NAME=BINARY with NAME like sendmx-static")
        variants.append((name, os.path.abspath(binary)))
    a.variants = variants
    return a


# --------------------------------------------------------------------------
# the outer process: tools, then the namespace


def outer(args, argv):
    if args.nice:
        try:
            os.nice(args.nice)          # the workloads' processes inherit it
        except OSError as e:
            log("cannot change the niceness by %d: %s" % (args.nice, e))
            return 2
    if not args.no_fetch:
        subprocess.run(["sh", os.path.join(HERE, "fetch-tools.sh"), args.tools])
    use_ns = (os.getuid() == 0 and not args.no_namespace and shutil.which("unshare")
              and shutil.which("ip"))
    tmp = tempfile.mkdtemp(prefix="sendmx-bench-")
    os.chmod(tmp, 0o755)
    try:
        if use_ns:
            cmd = ["unshare", "--mount", "--net", "--propagation", "private", "--",
                   sys.executable, os.path.abspath(__file__)] + argv + ["--inner", tmp]
            return subprocess.run(cmd).returncode
        return inner(args, tmp, namespace=False)
    finally:
        if not os.environ.get("SENDMX_KEEP_TMP"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log("kept %s" % tmp)


def setup_namespace(tmp, tools):
    """Loopback up; overlays for the fixed paths of dma and nullmailer.
    Only this process and its children see them."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    base = os.path.join(tmp, "overlay")
    for target in ("/etc", "/var/spool"):
        name = target.strip("/").replace("/", "-")
        up, work = os.path.join(base, name, "up"), os.path.join(base, name, "work")
        os.makedirs(up)
        os.makedirs(work)
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        "lowerdir=%s,upperdir=%s,workdir=%s" % (target, up, work), target],
                       check=True)
    for sub in ("usr/sbin", "usr/bin", "usr/lib"):
        lowers = [os.path.join(tools, pkg, sub) for pkg in ("nullmailer", "dma")]
        lowers = [d for d in lowers if os.path.isdir(d)]
        if lowers:
            # The packages' files over the system's; writable, so that the
            # callgrind runs can drop set-ID bits (peers.without_setid).
            name = sub.replace("/", "-")
            up, work = os.path.join(base, name, "up"), os.path.join(base, name, "work")
            os.makedirs(up)
            os.makedirs(work)
            subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                            "lowerdir=%s,upperdir=%s,workdir=%s"
                            % (":".join(lowers + ["/" + sub]), up, work), "/" + sub],
                           check=True)
    # The lower file may be a symlink out of /etc: replace, never write through.
    if os.path.lexists("/etc/resolv.conf"):
        os.unlink("/etc/resolv.conf")
    with open("/etc/resolv.conf", "w") as f:
        f.write("nameserver 127.0.0.1\noptions attempts:1 timeout:2\n")


# --------------------------------------------------------------------------
# the workloads


class Context:
    def __init__(self, args, tmp, namespace):
        self.args = args
        self.tmp = tmp
        self.tools = args.tools
        self.srcdir = SRCDIR
        self.sendmx = args.sendmx
        self.namespace = namespace
        self.python = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) \
            else sys.executable
        self.counts = dict(SMOKE if args.smoke else FULL, smoke=args.smoke)
        self.valgrind = shutil.which("valgrind")
        self.dns_port = 53 if namespace else free_port()
        self.mx_port = 25 if namespace else free_port()
        self.tool_status = {}
        for pkg in ("postfix", "dma", "nullmailer"):
            try:
                with open(os.path.join(self.tools, pkg + ".status")) as f:
                    self.tool_status[pkg] = f.read().strip()
            except OSError:
                self.tool_status[pkg] = "not fetched (run tests/bench/fetch-tools.sh)"

    def free_port(self):
        return free_port()

    def timev(self, out):
        if os.access("/usr/bin/time", os.X_OK):
            return ["/usr/bin/time", "-v", "-o", out]
        return [self.python, "-c", TIMEV_SHIM, out]


def machine_info(ctx):
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    distro = "?"
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    distro = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass

    def first_line(argv):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (r.stdout or r.stderr).splitlines()[0].strip()
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"

    versions = [first_line([ctx.sendmx, "--version"])]
    versions += ["%s: %s" % (n, b) for n, b in ctx.args.variants]
    if shutil.which("msmtp"):
        versions.append(first_line(["msmtp", "--version"]))
    for pkg, what in (("dma", "dma"), ("nullmailer", "nullmailer"),
                      ("postfix", "receiver: smtp-sink from postfix")):
        st = ctx.tool_status.get(pkg, "")
        versions.append("%s %s" % (what, st[3:] if st.startswith("ok ") else "(%s)" % st))
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": "%d cores (%s), %s, Linux %s" % (os.cpu_count() or 0, model, distro,
                                                   platform.release()),
        "mode": ("Private mount+network namespace (root): every program talks to "
                 "loopback only." if ctx.namespace else
                 "No namespace (not root): dma and nullmailer skipped."),
        "versions": versions,
        "niceness": os.nice(0),
    }


def inner(args, tmp, namespace):
    if namespace:
        setup_namespace(tmp, args.tools)
    ctx = Context(args, tmp, namespace)
    if not os.path.exists(os.path.join(args.tools, "postfix", "usr", "sbin", "smtp-sink")):
        log("no receiver: smtp-sink missing (%s)" % ctx.tool_status["postfix"])
        return 1
    busy_before = cpu_busy()
    waited = 0
    while busy_before is not None and busy_before > BUSY_WARN and waited < args.wait_quiet:
        if waited == 0:
            log("the machine is busy (%.0f%% of the CPU): waiting up to %d s"
                % (100 * busy_before, args.wait_quiet))
        time.sleep(4)
        waited += 5
        busy_before = cpu_busy()
    ctx.programs = make_programs(ctx, args.programs, args.variants)
    ctx.results = Results(ctx.counts, machine_info(ctx), [n for n, _ in args.variants])
    for p in ctx.programs:
        if p.skip:
            ctx.results.program_skips[p.name] = p.skip
    broken = []
    for name, fn in WORKLOADS.items():
        if args.only and name not in args.only:
            continue
        log("%s ..." % name)
        ctx.results.ran.add(name)
        try:
            fn(ctx)
        except Exception as e:           # one broken workload must not hide the rest
            traceback.print_exc()
            broken.append(name)
            ctx.results.note("%s failed: %s: %s" % (name, type(e).__name__, e))
    busy_after = cpu_busy()
    ctx.results.info["cpu_busy"] = [busy_before, busy_after]
    if max(b or 0 for b in (busy_before, busy_after)) > BUSY_WARN:
        ctx.results.warn("The machine was busy with other work (%s of the CPU time in "
                         "use before the run, %s after it, by other processes): "
                         "the times measure the wait for a CPU as much as the "
                         "programs; run again on a quiet machine."
                         % tuple("?" if b is None else "%.0f%%" % (100 * b)
                                 for b in (busy_before, busy_after)))
    # sendmx failing a workload is a broken suite (or a broken sendmx).
    for metric, prog, why in ctx.results.failures:
        if prog.startswith("sendmx"):
            broken.append("%s (%s)" % (metric, why))
    md = ctx.results.write(args.results)
    print(md)
    log("results in %s" % args.results)
    if broken:
        log("FAILED: %s" % ", ".join(broken))
        return 1
    return 0


def main(argv):
    args = parse_args(argv)
    if args.inner:
        argv = list(argv)
        return inner(args, args.inner, namespace=True)
    return outer(args, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
