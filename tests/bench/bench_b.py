"""Benchmark (b): apply one per-endpoint ruleset into K fresh network namespaces.

Arms, interleaved in every repetition (order rotated), each into its own K fresh namespaces
(creation and removal not timed; namespaces pinned by fd first for the in-process arms):
  ours    segd's netlink layer: nft_sock_open(netns) + nft_replace_table(plan) + close
  lib     in-process libnftables after setns (nft_run_cmd_from_buffer), same ruleset text
  nft-f   `nsenter --net=NETNS nft -f FILE` per namespace
  ipt     `nsenter ... ipset restore` + `iptables-restore` (+ `ip6tables-restore`), nf_tables backend
  replay  the exact netlink bytes `ours` sent (captured at sendmsg once) re-sent by a minimal
          sender: setns + socket + bind + sendmsg + read the ACK
The ruleset text of lib/nft-f is the kernel's own `nft list ruleset` of an `ours` namespace
(so it is equivalent by construction); equivalence is then checked for every arm at every
point in the warm-up round (nft -j list ruleset normalised; ipt: set element and rule counts).
Shell-out arms (nft-f, ipt) time at most CAP namespaces per repetition (stated in the table).
"""

import json
import os
import re
import tempfile
import time

import benchlib
from benchlib import log, median, percentile, ratio, fmt

ID = "b"
TITLE = "Apply a per-endpoint ruleset into K fresh network namespaces"
PACKAGES = ["nftables", "iptables", "ipset", "libnftables-dev", "util-linux"]
TARGETS = ["tests/bench/segd-bench-apply"]
ARMS = ["ours", "lib", "nft-f", "ipt", "replay"]
SHELL = ("nft-f", "ipt")


def config(profile):
    if profile.quick:
        return dict(ks=[1, 10, 50], shapes=[(8, 4), (1000, 46)], reps=3, cap=10)
    return dict(ks=[1, 10, 100, 1000], shapes=[(8, 4), (8, 46), (1000, 46)],
                reps=5, cap=30, kmax_large=100)


# ------------------------------------------------------------------ ruleset text
def nft_text_from_kernel(nspath):
    p = benchlib.run(["nsenter", "--net=" + nspath, "nft", "list", "ruleset"])
    t = p.stdout
    t = re.sub(r"^\s*flags\s*(owner|persist|,|\s)*\n", "", t, flags=re.M)  # owner/persist: not nft 1.0.6 syntax
    t = re.sub(r"counter packets \d+ bytes \d+", "counter", t)
    return t


def normalise(objs):
    """nft -j objects without handles, counters values, flags, metainfo."""
    def clean(o):
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()
                    if k not in ("handle", "metainfo", "flags", "packets", "bytes")}
        if isinstance(o, list):
            return [clean(v) for v in o if not (isinstance(v, dict) and "metainfo" in v)]
        return o
    return clean(objs)


def list_json(nspath):
    """The sets (with their elements) and chains (with their rules) of the namespace, as nft -j
    lists them one by one: not `list ruleset`, whose table object nft 1.0.6 prints as broken
    JSON once the table's only flag is persist (an owned table whose owner has exited)."""
    def nft_j(*args):
        out = benchlib.run(["nsenter", "--net=" + nspath, "nft", "-j"] + list(args)).stdout
        return [o for o in json.loads(out)["nftables"] if "metainfo" not in o]
    objs = []
    for o in nft_j("list", "sets"):
        st = o["set"]
        objs += nft_j("list", "set", st["family"], st["table"], st["name"])
    for o in nft_j("list", "chains"):
        c = o["chain"]
        objs += nft_j("list", "chain", c["family"], c["table"], c["name"])
    return normalise(objs)


def peers(n, fam):
    if fam == 4:
        return ["10.64.%d.%d" % (((i + 1) >> 8) & 255, (i + 1) & 255) if i + 1 < 65536 else None
                for i in range(n)]
    return ["fd00:64::%x:%x" % (((i + 1) >> 16) & 0xffff, (i + 1) & 0xffff) if i + 1 >= 65536
            else "fd00:64::%x" % (i + 1) for i in range(n)]


ND_IN = ["mld-listener-query", "mld-listener-report", "mld-listener-done", "nd-router-advert",
         "nd-neighbor-solicit", "nd-neighbor-advert", "mld2-listener-report"]
ND_OUT = ["mld-listener-query", "mld-listener-report", "mld-listener-done", "nd-router-solicit",
          "nd-neighbor-solicit", "nd-neighbor-advert", "mld2-listener-report"]
ICMP6_NUM = {"mld-listener-query": 130, "mld-listener-report": 131, "mld-listener-done": 132,
             "nd-router-solicit": 133, "nd-router-advert": 134, "nd-neighbor-solicit": 135,
             "nd-neighbor-advert": 136, "mld2-listener-report": 143}


def ipt_files(npeers, dual, d):
    """ipset + iptables(-restore) text equivalent to the plan of segd-bench-apply."""
    fams = [4, 6] if dual else [4]
    ipset = []
    for f in fams:
        for s in ("i0_p%d" % f, "e0_p%d" % f):
            ipset.append("create %s hash:ip family %s hashsize 1024 maxelem 65536" % (
                s, "inet" if f == 4 else "inet6"))
            ipset += ["add %s %s" % (s, a) for a in peers(npeers, f)]
    files = {"ipset": "\n".join(ipset) + "\n"}
    for f in fams:
        r = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"]
        for chain, io in (("INPUT", "-i"), ("OUTPUT", "-o")):
            r.append("-A %s %s lo -m comment --comment \"segd: loopback\" -j ACCEPT" % (chain, io))
            r.append("-A %s -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT" % chain)
            r.append("-A %s -m conntrack --ctstate INVALID -j DROP" % chain)
            if f == 6:
                for t in (ND_IN if chain == "INPUT" else ND_OUT):
                    r.append("-A %s -p ipv6-icmp -m icmp6 --icmpv6-type %d -j ACCEPT" % (chain, ICMP6_NUM[t]))
                if chain == "OUTPUT":
                    r.append("-A OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type 134 -j DROP")
            if chain == "INPUT":
                for proto in ("tcp", "udp"):
                    r.append("-A INPUT -p %s -m set --match-set i0_p%d src -m %s --dport 80 "
                             "-m comment --comment \"bench/allow ingress[0]\" -j ACCEPT" % (proto, f, proto))
            else:
                r.append("-A OUTPUT -p tcp -m set --match-set e0_p%d dst -m tcp --dport 5432 "
                         "-m comment --comment \"bench/allow egress[0]\" -j ACCEPT" % f)
            r.append("-A %s -m comment --comment \"segd: default deny\" -j DROP" % chain)
        r.append("COMMIT")
        files["ip%d" % f] = "\n".join(r) + "\n"
    paths = {}
    for k, v in files.items():
        paths[k] = os.path.join(d, "ipt-%s-%d-%s.txt" % (k, npeers, "46" if dual else "4"))
        with open(paths[k], "w") as fh:
            fh.write(v)
    return paths


def ipt_check(nspath, npeers, dual):
    """Element and rule counts of the ipt arm."""
    out = benchlib.run(["nsenter", "--net=" + nspath, "ipset", "list", "-t"]).stdout
    # ipset -t does not print elements; count with a full list
    full = benchlib.run(["nsenter", "--net=" + nspath, "ipset", "list"]).stdout
    sets = {}
    cur = None
    in_members = False
    for line in full.splitlines():
        if line.startswith("Name: "):
            cur, in_members = line[6:].strip(), False
            sets[cur] = 0
        elif line.startswith("Members:"):
            in_members = True
        elif in_members and line.strip():
            sets[cur] += 1
    want = {("%s0_p%d" % (d, f)): npeers for d in "ie" for f in ([4, 6] if dual else [4])}
    problems = []
    if sets != want:
        problems.append("ipset members %s, want %s" % (sets, want))
    for f in ([4, 6] if dual else [4]):
        cmd = "iptables-save" if f == 4 else "ip6tables-save"
        rules = [l for l in benchlib.run(["nsenter", "--net=" + nspath, cmd]).stdout.splitlines()
                 if l.startswith("-A ")]
        nset = sum(1 for l in rules if "--match-set" in l)
        if nset != 3:
            problems.append("%s: %d set rules, want 3" % (cmd, nset))
    del out
    return problems


# ------------------------------------------------------------------ one arm
def run_arm(ctx, arm, tag, k, npeers, fam, files, cap):
    h = ctx.helper("segd-bench-apply")
    prefix = ctx.prefix + tag
    names = ctx.netns_names(tag, k)
    n_timed = k if arm not in SHELL else min(k, cap)
    benchlib.run([h, "mk", prefix, str(k)])
    try:
        la = benchlib.loadavg()
        if arm in SHELL:
            times, cpu0, w0 = [], benchlib.children_cpu(), time.monotonic_ns()
            # a strided sample of the K namespaces when capped
            idx = [int(i * k / n_timed) for i in range(n_timed)]
            for i in idx:
                nsp = "--net=/run/netns/" + names[i]
                t0 = time.monotonic_ns()
                if arm == "nft-f":
                    benchlib.run(["nsenter", nsp, "nft", "-f", files["text"]])
                else:
                    benchlib.run(["nsenter", nsp, "ipset", "restore", "-f", files["ipt"]["ipset"]])
                    benchlib.run(["nsenter", nsp, "iptables-restore", files["ipt"]["ip4"]])
                    if fam == 46:
                        benchlib.run(["nsenter", nsp, "ip6tables-restore", files["ipt"]["ip6"]])
                times.append(time.monotonic_ns() - t0)
            res = {"times_ns": times, "wall_ns": time.monotonic_ns() - w0,
                   "cpu_s": benchlib.children_cpu() - cpu0, "n": len(times)}
            checked = "/run/netns/" + names[idx[0]]
        else:
            cmd = [h, "apply", arm, prefix, str(k), str(npeers), str(fam)]
            if arm == "ours" and not files.get("capture_done"):
                cmd += ["--capture", files["capture"]]
            if arm == "lib":
                cmd += ["--text", files["text"]]
            if arm == "replay":
                cmd += ["--replay", files["capture"]]
            d = json.loads(benchlib.run(cmd, timeout=1800).stdout)
            res = {"times_ns": d["times_ns"], "wall_ns": d["wall_ns"],
                   "cpu_s": d["user_s"] + d["sys_s"], "n": d["n"],
                   "sent_bytes": d.get("sent_bytes")}
            if arm == "ours":
                files["capture_done"] = True
            checked = "/run/netns/" + names[0]
        res["loadavg"] = la
        # equivalence material while the namespaces still exist
        if files.get("check"):
            if arm == "ours" and "text" not in files:
                files["text"] = os.path.join(files["dir"], "ruleset-%d-%d.nft" % (npeers, fam))
                with open(files["text"], "w") as f:
                    f.write(nft_text_from_kernel(checked))
            if arm == "ipt":
                res["equiv"] = ipt_check(checked, npeers, fam == 46)
            else:
                res["json"] = list_json(checked)
        return res
    finally:
        benchlib.run([h, "rm", prefix, str(k)])


# ------------------------------------------------------------------ run
def run(profile, ctx):
    cfg = config(profile)
    results = []
    d = tempfile.mkdtemp(prefix="bench-b-", dir=ctx.outdir)
    for (npeers, fam) in cfg["shapes"]:
        files = {"dir": d, "capture": os.path.join(d, "batch-%d-%d.bin" % (npeers, fam)),
                 "ipt": ipt_files(npeers, fam == 46, d)}
        for k in cfg["ks"]:
            if npeers >= 1000 and k > cfg.get("kmax_large", k):
                continue
            point = {"K": k, "peers": npeers, "family": "ipv4" if fam == 4 else "dual",
                     "sets": 2 if fam == 4 else 4}
            log("(b) K=%d peers=%d family=%s" % (k, npeers, point["family"]))
            samples = {a: [] for a in ARMS}
            rep_medians = {a: [] for a in ARMS}
            extra = {a: {"cpu_s": 0.0, "wall_ns": 0, "n": 0, "loadavg": []} for a in ARMS}
            # round 0: warm-up + equivalence (ours first: it captures the bytes and the text)
            files["check"] = True
            files.pop("capture_done", None)
            files.pop("text", None)
            ref, problems = None, []
            for arm in ARMS:
                r = run_arm(ctx, arm, "w", min(k, 2), npeers, fam, files, cap=2)
                if arm == "ours":
                    ref = r["json"]
                elif "json" in r and r["json"] != ref:
                    problems.append("%s: ruleset differs from ours" % arm)
                problems += ["ipt: %s" % p for p in r.get("equiv", [])]
            files["check"] = False
            if problems:
                raise RuntimeError("(b) equivalence failed at %s: %s" % (point, "; ".join(problems)))
            for rep in range(cfg["reps"]):
                order = ARMS[rep % len(ARMS):] + ARMS[:rep % len(ARMS)]
                for arm in order:
                    r = run_arm(ctx, arm, "r", k, npeers, fam, files, cfg["cap"])
                    samples[arm] += r["times_ns"]
                    rep_medians[arm].append(median(r["times_ns"]))
                    e = extra[arm]
                    e["cpu_s"] += r["cpu_s"]
                    e["wall_ns"] += r["wall_ns"]
                    e["n"] += r["n"]
                    e["loadavg"].append(r["loadavg"])
                    if r.get("sent_bytes"):
                        e["sent_bytes_per_netns"] = r["sent_bytes"] / float(r["n"])
            stats = {}
            for arm in ARMS:
                xs = samples[arm]
                stats[arm] = {"p50_us": percentile(xs, 50) / 1e3, "p99_us": percentile(xs, 99) / 1e3,
                              "median_of_reps_us": median(rep_medians[arm]) / 1e3,
                              "samples": len(xs), "reps": cfg["reps"],
                              "timed_per_rep": len(xs) // cfg["reps"],
                              "wall_per_netns_us": extra[arm]["wall_ns"] / 1e3 / max(1, extra[arm]["n"]),
                              "cpu_per_netns_us": extra[arm]["cpu_s"] * 1e6 / max(1, extra[arm]["n"]),
                              "loadavg_median": median(extra[arm]["loadavg"])}
                if "sent_bytes_per_netns" in extra[arm]:
                    stats[arm]["netlink_bytes_per_netns"] = extra[arm]["sent_bytes_per_netns"]
            o = stats["ours"]["p50_us"]
            for arm in ARMS:
                s = stats[arm]
                s["ratio_to_ours_p50"] = ratio(s["p50_us"], o)
                s["ours_over_arm_p50"] = ratio(o, s["p50_us"])
                s["ours_over_arm_p99"] = ratio(stats["ours"]["p99_us"], s["p99_us"])
                results.append(ctx.emit(dict(bench=ID, arm=arm, point=point, unit="us",
                                             anchor="ours", equivalent=True, **s)))
    return results


# ------------------------------------------------------------------ summary
def summarize(results, ctx):
    cfg = config(ctx.profile)
    by = {}
    for r in results:
        p = r["point"]
        by.setdefault((p["peers"], p["family"], p["K"]), {})[r["arm"]] = r
    rows = []
    speedups, floors = [], []
    for key in sorted(by):
        a = by[key]
        o = a["ours"]
        sp = ratio(a["nft-f"]["p50_us"], o["p50_us"])
        fl = ratio(o["p50_us"], a["replay"]["p50_us"])
        speedups.append((key, sp))
        floors.append((key, fl))
        rows.append(["%d" % key[2], "%d" % key[0], key[1],
                     "%s / %s" % (fmt(o["p50_us"]), fmt(o["p99_us"])),
                     "%s / %s" % (fmt(a["replay"]["p50_us"]), fmt(a["replay"]["p99_us"])),
                     "%s / %s" % (fmt(a["lib"]["p50_us"]), fmt(a["lib"]["p99_us"])),
                     "%s / %s" % (fmt(a["nft-f"]["p50_us"]), fmt(a["nft-f"]["p99_us"])),
                     "%s / %s" % (fmt(a["ipt"]["p50_us"]), fmt(a["ipt"]["p99_us"])),
                     fmt(o["ours_over_arm_p50"] and 1 / a["nft-f"]["ratio_to_ours_p50"]),
                     fmt(ratio(o["p50_us"], a["lib"]["p50_us"])),
                     fmt(ratio(o["p50_us"], a["ipt"]["p50_us"])),
                     fmt(fl), fmt(sp),
                     fmt(o.get("netlink_bytes_per_netns")),
                     fmt(o["cpu_per_netns_us"]), fmt(o["loadavg_median"])])
    table = benchlib.md_table(
        ["K", "peers/set", "family", "ours p50/p99 µs", "replay p50/p99", "libnftables p50/p99",
         "nft -f p50/p99", "ipset+iptables p50/p99", "ours/nft-f", "ours/lib", "ours/ipt",
         "ours/replay", "nft-f ÷ ours", "batch bytes", "ours CPU µs/netns", "loadavg"], rows)
    sp_min = min((s for _, s in speedups if s), default=None)
    fl_max = max((f for _, f in floors if f), default=None)
    sp_bad = [k for k, s in speedups if s is not None and s < 100]
    fl_bad = [k for k, f in floors if f is not None and f > 2]
    t1 = ("**met** at every point (smallest speed-up %s×)" % fmt(sp_min)) if not sp_bad else \
        ("**missed** at %s (smallest speed-up %s×): with 1000 peers per set the kernel's own "
         "commit of thousands of elements (see the replay floor) is most of both arms, so the "
         "ratio to a ~10–20 ms process spawn shrinks; with 8 peers it is met where listed "
         "above." % (", ".join("K=%d/%d peers/%s" % (k[2], k[0], k[1]) for k in sp_bad), fmt(sp_min)))
    t2 = ("**met** at every point (largest ours/replay %s)" % fmt(fl_max)) if not fl_bad else \
        ("**missed** at %s (largest ours/replay %s)" % (
            ", ".join("K=%d/%d peers/%s" % (k[2], k[0], k[1]) for k in fl_bad), fmt(fl_max)))
    return "\n".join([
        "Arms interleaved per repetition (order rotated), %d repetitions after one warm-up "
        "round that also checks equivalence (every arm's `nft -j list ruleset`, normalised, "
        "equals ours; ipset/iptables: element and set-rule counts). Per-namespace latency "
        "pooled over repetitions; the shell-out arms (`nft -f`, ipset+iptables) time a strided "
        "sample of at most %d namespaces per repetition. Namespace creation/removal not timed. "
        "`ours` = nft_sock_open(netns) + nft_replace_table (emit + one batch + ACK) + close; "
        "ruleset = segd's fixed rules + 1 ingress rule pair (TCP/UDP 80) and 1 egress rule "
        "(TCP 5432) per family, sets i0/e0 per family with the given peers (table flags "
        "owner|persist for ours/replay; nft 1.0.6 cannot write those flags, so lib/nft-f/ipt "
        "tables have none)." % (cfg["reps"], cfg["cap"]),
        "",
        table,
        "",
        "Ratios are of p50s; `ours/X` < 1 means ours is faster. `nft-f ÷ ours` is the speed-up "
        "over `nsenter … nft -f`.",
        "",
        "- Target ≥100× faster than `nft -f` per namespace: " + t1,
        "- Target within 2× of the replay floor: " + t2,
        "- Noise: the machine was shared with other jobs during this run (loadavg column); "
        "p99s and K=1 points (few samples) are the least reliable figures.",
    ])
