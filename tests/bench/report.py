"""report.py - the results of one run: collected samples, the Markdown
table with the targets of issue 5, results.json and a PNG chart (gnuplot).

Every cell is the median and, in brackets, the 10th to 90th percentile
of the samples; the ratio columns divide sendmx's median by the peer's
from the same run.
"""

import json
import os
import shutil
import subprocess

from benchlib import log, summarize

PEERS = ("msmtp", "dma", "nullmailer")


def metrics(c):
    """(key, workload, what, unit, better, digits) in table order; c is the
    run's counts (smoke runs use smaller ones)."""
    m = [
        ("b1_latency", "B1", "2 KB, 1 rcpt: until the sink has it", "ms", "lower", 1),
        ("b1_exit", "B1", "2 KB, 1 rcpt: until the caller returns", "ms", "lower", 1),
        ("b1_instructions", "B1", "instructions per message (callgrind)", "M", "lower", 2),
        ("b2_throughput", "B2", "%d messages, %d submitters" % (c["b2_messages"], c["b2_parallel"]),
         "msg/s", "higher", 0),
        ("b3_shared_time", "B3", "%d rcpts, 10 domains, one MX: all delivered"
         % (10 * c["b3_rcpt_per_domain"]), "ms", "lower", 1),
        ("b3_shared_conns", "B3", "same: connections", "", "lower", 0),
        ("b3_shared_txns", "B3", "same: transactions", "", "lower", 0),
        ("b3_slow1_time", "B3", "1 slow host (200 ms per reply)", "ms", "lower", 0),
        ("b3_slowN_time", "B3", "%d slow hosts, 1 rcpt each" % c["b3_slow_hosts"], "ms", "lower", 0),
        ("b3_slowN_mc_time", "B3", "same, sendmx with max_connections = %d (default 8)"
         % c["b3_slow_hosts"],
         "ms", "lower", 0),
    ]
    for label, _ in c["b4_sizes"]:
        m.append(("b4_time_" + label, "B4", "%s message: until the sink has it" % label,
                  "s", "lower", 2))
        m.append(("b4_rss_" + label, "B4", "%s message: peak RSS" % label, "MiB", "lower", 1))
        m.append(("b4_cpu_" + label, "B4", "%s message: CPU time (user + system)" % label,
                  "s", "lower", 2))
        m.append(("b4_sinkcpu_" + label, "B4", "%s message: the receiver's CPU time" % label,
                  "s", "lower", 2))
    m += [
        ("b5_submit", "B5", "%d messages queued (-odq), 8 submitters" % c["b5_messages"],
         "msg/s", "higher", 0),
        ("b5_drain", "B5", "one queue run (-q): drained", "msg/s", "higher", 0),
        ("b5_drain_cpu", "B5", "queue run: its CPU time per message", "us", "lower", 0),
        ("b5_bytes", "B5", "disk per queued message (allocated)", "bytes", "lower", 0),
        ("b5_bytes_apparent", "B5", "disk per queued message (file sizes)", "bytes", "lower", 0),
    ]
    return m


class Results:
    def __init__(self, counts, info, variants=()):
        self.counts = counts
        # sendmx, other builds of it (--also), then the peers
        self.builds = ["sendmx"] + list(variants)
        self.programs = self.builds + list(PEERS)
        self.info = info
        self.samples = {}       # metric -> program -> [numbers]
        self.skips = {}         # metric -> program -> reason
        self.notes = []
        self.failures = []      # (metric, program, why): something broke
        self.warnings = []      # shown above the table
        self.program_skips = {} # program -> why it ran nowhere
        self.ran = set()        # workloads run: "B1", ...

    def add(self, metric, program, values):
        self.samples.setdefault(metric, {})[program] = list(values)

    def skip(self, metric, program, reason):
        self.skips.setdefault(metric, {})[program] = reason

    def fail(self, metric, program, why):
        self.skip(metric, program, why)
        self.failures.append((metric, program, why))

    def warn(self, text):
        self.warnings.append(text)

    def note(self, text):
        self.notes.append(text)

    def stat(self, metric, program):
        return summarize(self.samples.get(metric, {}).get(program, []))

    def median(self, metric, program):
        s = self.stat(metric, program)
        return s["median"] if s else None

    # ----------------------------------------------------------------------

    def targets(self, me="sendmx"):
        """[(target, measured, verdict)] for issue 5's targets, for the
        sendmx build named me."""
        out = []
        med = self.median

        def verdict(ok):
            return "n/a" if ok is None else ("met" if ok else "**NOT met**")

        def ratio(a, b):
            return a / b if a is not None and b else None

        r = ratio(med("b1_latency", me), med("b1_latency", "msmtp"))
        out.append(("B1: latency <= 1/10 of msmtp's",
                    fmt_ratio(r), verdict(None if r is None else r <= 0.1)))
        i = med("b1_instructions", me)
        out.append(("B1: <= 3.0 M instructions per message",
                    "%.2f M" % i if i is not None else "-", verdict(None if i is None else i <= 3.0)))
        for peer, want in (("msmtp", 6), ("dma", 2)):
            r = ratio(med("b2_throughput", me), med("b2_throughput", peer))
            out.append(("B2: >= %dx %s's messages/s" % (want, peer), fmt_ratio(r, "x"),
                        verdict(None if r is None else r >= want)))
        c = self.samples.get("b3_shared_conns", {}).get(me)
        t = self.samples.get("b3_shared_txns", {}).get(me)
        out.append(("B3: shared MX in one connection, one transaction",
                    "%s connections, %s transactions" % (spread(c), spread(t)) if c else "-",
                    verdict(None if not c else max(c) == 1 and max(t) == 1)))
        r = ratio(med("b3_shared_time", "dma"), med("b3_shared_time", me))
        out.append(("B3: shared MX >= 10x faster than dma", fmt_ratio(r, "x faster"),
                    verdict(None if r is None else r >= 10)))
        r = ratio(med("b3_slowN_time", me), med("b3_slow1_time", me))
        r2 = ratio(med("b3_slowN_mc_time", me), med("b3_slow1_time", me))
        out.append(("B3: %d slow hosts within 1.5x of one" % self.counts["b3_slow_hosts"],
                    fmt_ratio(r, "x") + ("" if r2 is None else
                                         " (%s with max_connections = %d)"
                                         % (fmt_ratio(r2, "x"), self.counts["b3_slow_hosts"])),
                    verdict(None if r is None else r <= 1.5)))
        big = self.counts["b4_sizes"][-1][0]
        peers = [med("b4_time_" + big, p) for p in PEERS]
        peers = [x for x in peers if x is not None]
        r = ratio(med("b4_time_" + big, me), min(peers) if peers else None)
        out.append(("B4: %s in <= 1/3 of the fastest peer's time" % big,
                    fmt_ratio(r), verdict(None if r is None else r <= 1 / 3)))
        rss = [max(self.samples[k][me]) for k in self.samples
               if k.startswith("b4_rss_") and self.samples[k].get(me)]
        out.append(("B4: peak RSS <= 4 MiB at every size",
                    "%.2f MiB (largest)" % max(rss) if rss else "-",
                    verdict(None if not rss else max(rss) <= 4.0)))
        d = med("b5_drain", me)
        out.append(("B5: >= 1000 messages/s drained", "%.0f msg/s" % d if d else "-",
                    verdict(None if d is None else d >= 1000)))
        return out

    # ----------------------------------------------------------------------

    def markdown(self):
        c = self.counts
        lines = ["# sendmx benchmarks%s" % (" (smoke run: small counts)" if c["smoke"] else ""),
                 "",
                 "%s on %s. %s%s" % (self.info["date"], self.info["machine"], self.info["mode"],
                                     " Everything ran at niceness %d." % self.info["niceness"]
                                     if self.info.get("niceness") else ""),
                 "", "Programs: " + "; ".join(self.info["versions"]) + ".", ""]
        lines += ["**Warning:** %s" % w for w in self.warnings] + ([""] if self.warnings else [])
        lines += [
                 "Each cell: median (10th-90th percentile), n samples in the last column. "
                 "Ratios divide sendmx's median by the peer's (for msg/s higher is "
                 "better, for everything else lower).", ""]
        head = ["workload", "metric", "unit"] + self.programs + \
            ["sendmx/" + p for p in PEERS] + ["n"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "|".join("---" for _ in head) + "|")
        foot = []
        for key, wl, what, unit, better, digits in metrics(c):
            row = [wl, what, unit]
            ns = []
            for p in self.programs:
                s = self.stat(key, p)
                why = self.skips.get(key, {}).get(p)
                if not why and wl in self.ran:
                    why = self.program_skips.get(p)
                if s:
                    row.append(cell(s, digits))
                    ns.append(str(s["n"]))
                elif why:
                    if why not in foot:
                        foot.append(why)
                    row.append("skipped [%d]" % (foot.index(why) + 1))
                else:
                    row.append("-")
            for p in PEERS:
                a, b = self.median(key, "sendmx"), self.median(key, p)
                row.append(fmt_ratio(a / b) if a is not None and b else "-")
            row.append("/".join(sorted(set(ns))) or "-")
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
        for i, why in enumerate(foot, 1):
            lines.append("[%d] %s  " % (i, why))
        lines += ["", "## Targets (issue 5)", "",
                  "| target | " + " | ".join("%s: measured | verdict" % b for b in self.builds)
                  + " |", "|---|" + "---|---|" * len(self.builds)]
        per = [self.targets(b) for b in self.builds]
        for i, (t, _, _) in enumerate(per[0]):
            lines.append("| %s | %s |" % (t, " | ".join("%s | %s" % (p[i][1], p[i][2])
                                                        for p in per)))
        if self.notes:
            lines += ["", "## Notes", ""] + ["- " + n for n in self.notes]
        return "\n".join(lines) + "\n"

    def write(self, outdir):
        os.makedirs(outdir, exist_ok=True)
        with open(os.path.join(outdir, "results.json"), "w") as f:
            json.dump({"info": self.info, "counts": self.counts, "samples": self.samples,
                       "skips": self.skips, "notes": self.notes,
                       "warnings": self.warnings}, f, indent=1)
        md = self.markdown()
        with open(os.path.join(outdir, "results.md"), "w") as f:
            f.write(md)
        self.chart(outdir)
        return md

    # ----------------------------------------------------------------------

    def chart(self, outdir):
        gp = shutil.which("gnuplot")
        if not gp:
            self.note("no chart: gnuplot not installed (apt-get install gnuplot-nox)")
            log("no chart: gnuplot not installed (apt-get install gnuplot-nox)")
            return
        big = self.counts["b4_sizes"][-1][0]
        panels = [("b1_latency", "B1: 2 KB message, ms until received", True),
                  ("b1_instructions", "B1: million instructions per message", False),
                  ("b2_throughput", "B2: messages/s (higher is better)", False),
                  ("b3_shared_time", "B3: 100 rcpts, one MX: ms", True),
                  ("b4_time_" + big, "B4: %s message: seconds" % big, False),
                  ("b5_drain", "B5: queue run, messages/s (higher is better)", False)]
        datadir = os.path.join(outdir, ".chartdata")
        os.makedirs(datadir, exist_ok=True)
        script = ['set terminal pngcairo size 1200,700 font "sans,9"',
                  'set output "%s"' % os.path.join(outdir, "chart.png"),
                  'set multiplot layout 2,3 title "sendmx benchmarks, %s (%s)"'
                  % (self.info["date"], "smoke" if self.counts["smoke"] else "full"),
                  "set style fill solid 0.6 border -1", "set boxwidth 0.6",
                  "set key off", "set grid ytics", "set xtics nomirror rotate by 20 right",
                  "set yrange [0:*]"]
        for i, (key, title, logscale) in enumerate(panels):
            data = os.path.join(datadir, "%d.dat" % i)
            rows = [(p, self.stat(key, p)) for p in self.programs]
            rows = [(p, s) for p, s in rows if s]
            with open(data, "w") as f:
                for p, s in rows:
                    f.write("%s %g %g %g\n" % (p, s["median"], s["p10"], s["p90"]))
            script.append('set title "%s"' % title)
            logscale = logscale and rows
            script.append("set logscale y" if logscale else "unset logscale y")
            script.append("set yrange [%s:*]" % ("0.1" if logscale else "0"))
            if rows:
                # sendmx in orange, the peers in blue; p10-p90 as error bars.
                script.append("plot '%s' using 0:2:(strcol(1)[1:6] eq 'sendmx' ? 0xdd7722 : "
                              "0x4477aa):xtic(1) with boxes lc rgb variable, "
                              "'' using 0:2:3:4 with yerrorbars lc rgb 'black' pt 0" % data)
            else:
                script.append("set label 1 'no data' at graph 0.4,0.5")
                script.append("set yrange [0:1]")
                script.append("plot [0:1] 2 lc rgb 'white'")
                script.append("unset label 1")
        script.append("unset multiplot")
        r = subprocess.run([gp], input="\n".join(script) + "\n", text=True,
                           capture_output=True)
        shutil.rmtree(datadir, ignore_errors=True)
        if r.returncode != 0:
            self.note("gnuplot failed: %s" % r.stderr.strip()[-300:])
            log("gnuplot failed: %s" % r.stderr.strip())


def cell(s, digits):
    f = "%%.%df" % digits
    if s["n"] == 1 or s["p10"] == s["p90"]:
        return f % s["median"]
    return (f + " (" + f + "-" + f + ")") % (s["median"], s["p10"], s["p90"])


def fmt_ratio(r, suffix=""):
    if r is None:
        return "-"
    return ("%.3f" if r < 0.1 else "%.2f") % r + suffix


def spread(v):
    if not v:
        return "-"
    return str(min(v)) if min(v) == max(v) else "%d-%d" % (min(v), max(v))
