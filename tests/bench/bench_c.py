"""Benchmark (c): what one change costs in an enforced fleet of N (issue 13, "Measurements").

Fleet: N network namespaces (one global address each, no veths) registered with the real segd
(`--flow-log none`: this measures changes, not logs; its soft RLIMIT_NOFILE = the hard limit).
Policies "watch-A" (A in 1, 10, 100) select the A endpoints labelled wA=yes and allow ingress
from app=new-A. Interleaved per repetition (order rotated), after one warm-up round:
  newcomer A   a newcomer labelled app=new-A is registered (the API returns once it is enforced
               everywhere) and removed again; A=0 is a newcomer no policy refers to
  relabel      the fleet's last endpoint is relabelled app=new-1, which makes it the peer of
               exactly one other endpoint's policy (watch-1), then back (PATCH .../labels)
  re-register  POST /v1/endpoints for a fresh namespace, DELETE it, POST the same namespace
               again, each as raw HTTP on a fresh connection to the unix socket
Measured: segd's own per-change counters (GET /v1/status changes.last: namespaces committed,
of which by set elements alone, plans compiled, messages, bytes, microseconds = commit time)
and the API round trip (p50/p99); the time to register the fleet. Anchor (same run): a full
resync of the same fleet, i.e. segd restarted on its state dir, which commits every namespace's
whole table.
Targets (issue 13): zero messages to unaffected namespaces; for A <= 10, commit time and API
time p50 at the largest N within 1.5x of N=100, and the same for the relabel; 10,000 endpoints
registered in < 10 s (checked as < 1 ms per endpoint at the largest N). A point that cannot run (e.g.
segd out of descriptors) is a missed target with its measured reason.
"""

import json
import os
import tempfile
import time

import benchlib
from benchlib import fmt, log, median, percentile, ratio

ID = "c"
TITLE = "Incremental update: one change in an enforced fleet of N"
PACKAGES = []
TARGETS = ["daemon/segd", "tests/bench/segd-bench-apply"]
AS = (0, 1, 10, 100)
RATIO_MAX = 1.5          # issue 13: t(10k)/t(100) <= 1.5 for A <= 10
REGISTER_S_PER_EP = 1e-3  # issue 13: 10,000 endpoints in < 10 s


def config(profile):
    if profile.quick:
        return dict(ns=[100, 2000], reps=20)
    return dict(ns=[100, 1000, 10000], reps=30)


def policies(a_values):
    out = []
    for a in a_values:
        if a == 0:
            continue
        out.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                    "metadata": {"name": "watch-%d" % a, "namespace": "fleet"},
                    "spec": {"podSelector": {"matchLabels": {"w%d" % a: "yes"}},
                             "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "new-%d" % a}}}],
                                          "ports": [{"protocol": "TCP", "port": 80}]}]}})
    return out


def fleet_labels(i):
    labels = {"app": "fleet", "shard": str(i % 100)}
    for a in AS[1:]:
        if i < a:
            labels["w%d" % a] = "yes"
    return labels


def last_change(conn):
    return benchlib.api(conn, "GET", "/v1/status")["changes"]["last"]


def one_fleet(ctx, n, reps):
    h = ctx.helper("segd-bench-apply")
    prefix = ctx.prefix + "c%d-" % n
    work = tempfile.mkdtemp(prefix="bench-c-", dir=ctx.outdir)
    total = n + (len(AS) + 1) * (reps + 1)   # newcomers and re-registered, + the warm-up round
    t0 = time.monotonic()
    benchlib.run([h, "mk", prefix, str(total), "addr"], timeout=3600)
    ctx.on_cleanup(lambda: benchlib.run([h, "rm", prefix, str(total)], check=False))
    log("(c) N=%d: %d namespaces made in %.1f s" % (n, total, time.monotonic() - t0))
    nsname = prefix.split("/")[-1]
    sock = os.path.join(work, "segd.sock")
    p, conn, _, logf = benchlib.start_segd(ctx, work, ["--flow-log", "none"])
    samples = {"newcomer": [], "relabel": [], "reregister": []}
    try:
        bodies = [{"name": "ep%d" % i, "netns": "%s%d" % (nsname, i), "namespace": "fleet",
                   "labels": fleet_labels(i)} for i in range(n)]
        t_register = benchlib.register_fleet(conn, p.pid, bodies)
        fds = benchlib.proc_status(p.pid)["fds"]
        text = json.dumps({"apiVersion": "v1", "kind": "List", "items": policies(AS)})
        benchlib.api(conn, "POST", "/v1/apply?file=bench-c.json", text)
        peer = "ep%d" % (n - 1)   # no wA label beyond A=100; its own ruleset stays as it is

        k = n
        for rep in range(reps + 1):     # round 0 is the warm-up
            arms = [("newcomer", a) for a in AS] + [("relabel", 1), ("reregister", None)]
            arms = arms[rep % len(arms):] + arms[:rep % len(arms)]
            for kind, a in arms:
                if kind == "newcomer":
                    name = "new%d-%d" % (a, rep)
                    t0 = time.monotonic()
                    benchlib.api(conn, "POST", "/v1/endpoints",
                                 {"name": name, "netns": "%s%d" % (nsname, k),
                                  "namespace": "fleet", "labels": {"app": "new-%d" % a}})
                    t_start = time.monotonic() - t0
                    start = last_change(conn)
                    t0 = time.monotonic()
                    benchlib.api(conn, "DELETE", "/v1/endpoints/" + name)
                    t_stop = time.monotonic() - t0
                    stop = last_change(conn)
                    k += 1
                    s = dict(A=a, t_start_ms=t_start * 1e3, t_stop_ms=t_stop * 1e3,
                             start=start, stop=stop)
                elif kind == "relabel":
                    path = "/v1/endpoints/%s/labels" % peer
                    t0 = time.monotonic()
                    benchlib.api(conn, "PATCH", path, {"set": {"app": "new-1"}})
                    t_to = time.monotonic() - t0
                    to = last_change(conn)
                    t0 = time.monotonic()
                    benchlib.api(conn, "PATCH", path, {"set": {"app": "fleet"}})
                    t_back = time.monotonic() - t0
                    back = last_change(conn)
                    s = dict(t_to_ms=t_to * 1e3, t_back_ms=t_back * 1e3, to=to, back=back)
                else:
                    name = "rr-%d" % rep
                    body = {"name": name, "netns": "%s%d" % (nsname, k), "namespace": "fleet",
                            "labels": {"app": "rereg"}}
                    t_first = benchlib.raw_http(sock, "POST", "/v1/endpoints", body)[0]
                    benchlib.raw_http(sock, "DELETE", "/v1/endpoints/" + name)
                    t_second = benchlib.raw_http(sock, "POST", "/v1/endpoints", body)[0]
                    benchlib.raw_http(sock, "DELETE", "/v1/endpoints/" + name)
                    k += 1
                    s = dict(t_first_ms=t_first * 1e3, t_second_ms=t_second * 1e3)
                if rep > 0:
                    samples[kind].append(s)
        # anchor: a full resync of the same fleet (restart: every table replaced)
        conn.close()
        ctx.stop(p)
        logf.close()
        p, conn, t_full, logf = benchlib.start_segd(ctx, work, ["--flow-log", "none"])
        full = last_change(conn)
        full["wall_ms"] = t_full * 1e3
        conn.close()
    finally:
        ctx.stop(p)
        logf.close()
        benchlib.run([h, "rm", prefix, str(total)], check=False)
    return samples, full, dict(t_register_s=t_register, fds=fds)


def _p(xs):
    return median(xs), percentile(xs, 99)


def run(profile, ctx):
    cfg = config(profile)
    out = []
    for n in cfg["ns"]:
        log("(c) fleet of %d endpoints, %d repetitions" % (n, cfg["reps"]))
        try:
            samples, full, fleet = one_fleet(ctx, n, cfg["reps"])
        except benchlib.Unreachable as e:
            log("(c) N=%d could not run: %s" % (n, e))
            out.append(ctx.emit(dict(bench=ID, arm="segd incremental", point={"N": n}, N=n,
                                     unreachable=str(e))))
            continue
        common = dict(N=n, t_register_s=fleet["t_register_s"],
                      register_ms_per_ep=fleet["t_register_s"] * 1e3 / n,
                      fds_after_register=fleet["fds"], full_messages=full["messages"],
                      full_namespaces=full["namespaces"], full_us=full["usec"],
                      full_wall_ms=full["wall_ms"])
        for a in AS:
            s = [x for x in samples["newcomer"] if x["A"] == a]
            st = [x["start"] for x in s]
            api50, api99 = _p([x["t_start_ms"] for x in s])
            c50, c99 = _p([x["usec"] for x in st])
            r = dict(common, bench=ID, arm="newcomer", point={"N": n, "A": a},
                     anchor="full resync (restart, every table replaced)", A=a, reps=len(s),
                     start_ms_p50=api50, start_ms_p99=api99,
                     stop_ms_p50=median([x["t_stop_ms"] for x in s]),
                     commit_us_p50=c50, commit_us_p99=c99,
                     namespaces=median([x["namespaces"] for x in st]),
                     namespaces_max=max(x["namespaces"] for x in st),
                     incremental=median([x["incremental"] for x in st]),
                     compiled=median([x["compiled"] for x in st]),
                     messages=median([x["messages"] for x in st]),
                     bytes=median([x["bytes"] for x in st]),
                     stop_namespaces=median([x["stop"]["namespaces"] for x in s]),
                     stop_namespaces_max=max(x["stop"]["namespaces"] for x in s),
                     stop_messages=median([x["stop"]["messages"] for x in s]))
            # the newcomer's own table + the A namespaces that select it, at start and stop
            r["unaffected_namespaces_touched"] = max(r["namespaces_max"] - (a + 1),
                                                     r["stop_namespaces_max"] - (a + 1))
            r["messages_per_A"] = ratio(r["messages"], a) if a else None
            r["ratio_messages_to_full"] = ratio(r["messages"], full["messages"])
            r["ratio_time_to_full"] = ratio(r["commit_us_p50"], full["usec"])
            log("(c) N=%d A=%d: %s namespaces, %s messages, commit %s/%s us, API %s/%s ms "
                "(p50/p99)" % (n, a, r["namespaces"], r["messages"], fmt(c50), fmt(c99),
                               fmt(api50), fmt(api99)))
            out.append(ctx.emit(r))
        rl = samples["relabel"]
        api50, api99 = _p([x["t_to_ms"] for x in rl])
        c50, c99 = _p([x["to"]["usec"] for x in rl])
        r = dict(common, bench=ID, arm="relabel", point={"N": n, "A": "relabel"}, A="relabel",
                 reps=len(rl), api_ms_p50=api50, api_ms_p99=api99, commit_us_p50=c50,
                 commit_us_p99=c99, back_api_ms_p50=median([x["t_back_ms"] for x in rl]),
                 back_commit_us_p50=median([x["back"]["usec"] for x in rl]),
                 namespaces=median([x["to"]["namespaces"] for x in rl]),
                 namespaces_max=max(x["to"]["namespaces"] for x in rl),
                 messages=median([x["to"]["messages"] for x in rl]))
        log("(c) N=%d relabel: %s namespaces, commit %s/%s us, API %s/%s ms (p50/p99)" % (
            n, r["namespaces"], fmt(c50), fmt(c99), fmt(api50), fmt(api99)))
        out.append(ctx.emit(r))
        rr = samples["reregister"]
        f50, f99 = _p([x["t_first_ms"] for x in rr])
        s50, s99 = _p([x["t_second_ms"] for x in rr])
        r = dict(common, bench=ID, arm="reregister", point={"N": n, "A": "re-register"},
                 A="re-register", reps=len(rr), first_ms_p50=f50, first_ms_p99=f99,
                 second_ms_p50=s50, second_ms_p99=s99, ratio_second_to_first=ratio(s50, f50))
        log("(c) N=%d re-register after delete: first POST %s/%s ms, second %s/%s ms" % (
            n, fmt(f50), fmt(f99), fmt(s50), fmt(s99)))
        out.append(ctx.emit(r))
        log("(c) N=%d registered in %.2f s (%.3f ms per endpoint)" % (
            n, fleet["t_register_s"], common["register_ms_per_ep"]))
    return out


def _pts(results, arm):
    return [r for r in results if r.get("arm") == arm]


# Registering one endpoint is a request that makes its audit record and its state journal
# line durable before the kernel sees the change (two fdatasyncs, write-ahead: docs/state.md),
# commits the endpoint's new table, and gives its namespace an id in segd's namespace for the
# one address watch (RTM_GETNSID/RTM_NEWNSID: the kernel finds a namespace's id by walking every
# id it has, so this grows with the fleet). BENCHMARKS.md (c) gives the figures.
REGISTER_FLOOR = ("two fdatasyncs (audit record, state journal) + the new table's commit + the "
                  "kernel's namespace-id lookups, which walk every id (O(namespaces))")
REGISTER_GATE_MS = 4.0


def check(results, profile):
    out = []
    for r in results:
        if r.get("unreachable"):
            out.append(dict(target="N=%d runs" % r["N"], met=False, detail=r["unreachable"]))
    nc = _pts(results, "newcomer")
    if nc:
        bad = [r for r in nc if r["unaffected_namespaces_touched"] != 0]
        out.append(dict(target="messages to unaffected namespaces = 0", met=not bad,
                        value=max(r["unaffected_namespaces_touched"] for r in nc),
                        detail="at most %d unaffected namespaces committed in one change%s" % (
                            max(r["unaffected_namespaces_touched"] for r in nc),
                            "" if not bad else " (N=%s)" % ",".join(
                                "%d/A=%d" % (r["N"], r["A"]) for r in bad))))
    ns = sorted({r["N"] for r in results if not r.get("unreachable")})
    if len(ns) >= 2:
        lo_n, hi_n = ns[0], ns[-1]
        for arm, a, key, what in (
                [("newcomer", a, k, w) for a in AS if a <= 10
                 for k, w in (("commit_us_p50", "commit time"), ("start_ms_p50", "API time"))]
                + [("relabel", "relabel", "commit_us_p50", "commit time"),
                   ("relabel", "relabel", "api_ms_p50", "API time")]):
            lo = [r for r in _pts(results, arm) if r["N"] == lo_n and r["A"] == a]
            hi = [r for r in _pts(results, arm) if r["N"] == hi_n and r["A"] == a]
            if not (lo and hi):
                continue
            q = ratio(hi[0][key], lo[0][key])
            label = ("A=%d" % a) if arm == "newcomer" else "relabel"
            out.append(dict(target="%s %s p50 t(N=%d)/t(N=%d) <= %g" % (
                label, what, hi_n, lo_n, RATIO_MAX), met=q is not None and q <= RATIO_MAX,
                value=q, detail="%s× (%s → %s %s)" % (
                    fmt(q), fmt(lo[0][key]), fmt(hi[0][key]),
                    "µs" if key.startswith("commit") else "ms")))
    if ns and ns[-1] < 10000 and profile.full:
        out.append(dict(target="N=10000 measured", met=False,
                        detail="largest fleet that ran: %d" % ns[-1]))
    for r in [r for r in _pts(results, "relabel") if r["N"] == max(x["N"] for x in results)]:
        lim = REGISTER_S_PER_EP * r["N"]
        out.append(dict(target="register N=%d in < %g s" % (r["N"], lim),
                        met=r["t_register_s"] < lim, value=r["t_register_s"],
                        detail="%.2f s (%.3f ms per endpoint; issue: 10,000 in < 10 s)" % (
                            r["t_register_s"], r["register_ms_per_ep"]),
                        floor=REGISTER_FLOOR))
        out.append(dict(target="register at most %g ms per endpoint (regression gate)" %
                        REGISTER_GATE_MS, met=r["register_ms_per_ep"] <= REGISTER_GATE_MS,
                        value=r["register_ms_per_ep"],
                        detail="%.3f ms per endpoint at N=%d" % (r["register_ms_per_ep"], r["N"])))
    return out


def summarize(results, ctx):
    nc = _pts(results, "newcomer")
    rows = [[str(r["N"]), str(r["A"]), fmt(r["namespaces"]), fmt(r["incremental"]),
             fmt(r["compiled"]), fmt(r["messages"]), fmt(r["bytes"]), fmt(r["commit_us_p50"]),
             fmt(r["commit_us_p99"]), fmt(r["start_ms_p50"]), fmt(r["start_ms_p99"]),
             fmt(r["stop_messages"]), fmt(r["full_messages"]), fmt(r["full_us"] / 1000.0),
             fmt(r["ratio_messages_to_full"])] for r in nc]
    lines = ["One endpoint joins an enforced fleet of N and is selected as a peer by the "
             "policies of A endpoints (then leaves); an endpoint of the fleet is relabelled so "
             "that it becomes the peer of exactly one other endpoint's policy (then back); a "
             "namespace is registered, deleted and registered again. segd runs with "
             "`--flow-log none` (this measures changes, not flow logs) and its soft "
             "RLIMIT_NOFILE at the hard limit (%d here). Counters are segd's own (`segctl "
             "status`: changes.last; commit µs = its `usec`); API ms is the HTTP round trip on "
             "the unix socket. The anchor is a full resync of the same fleet (restart on the "
             "same state dir: every namespace's table replaced)." % benchlib.nofile_hard(), "",
             benchlib.md_table(["N", "A", "ns committed", "by elements", "plans compiled",
                                "messages", "bytes", "commit µs p50", "commit µs p99",
                                "API ms p50", "API ms p99", "stop msgs", "full-resync msgs",
                                "full-resync ms", "msgs ÷ full"], rows), ""]
    rl = _pts(results, "relabel")
    if rl:
        lines += ["Relabel (PATCH `/v1/endpoints/NAME/labels`: the endpoint becomes the peer of "
                  "one other endpoint's policy; \"back\" undoes it) and registration of the fleet:",
                  "", benchlib.md_table(
                      ["N", "ns committed", "messages", "commit µs p50", "commit µs p99",
                       "API ms p50", "API ms p99", "back: commit µs p50", "back: API ms p50",
                       "register fleet s", "register ms/ep", "segd fds after register"],
                      [[str(r["N"]), fmt(r["namespaces"]), fmt(r["messages"]),
                        fmt(r["commit_us_p50"]), fmt(r["commit_us_p99"]), fmt(r["api_ms_p50"]),
                        fmt(r["api_ms_p99"]), fmt(r["back_commit_us_p50"]),
                        fmt(r["back_api_ms_p50"]), fmt(r["t_register_s"]),
                        fmt(r["register_ms_per_ep"]), str(r["fds_after_register"])]
                       for r in rl]), ""]
    rr = _pts(results, "reregister")
    if rr:
        lines += ["Re-register after delete (raw HTTP, one fresh connection per request: POST "
                  "`/v1/endpoints` for a fresh namespace, DELETE it, POST the same namespace "
                  "again; the issue saw 1.6 ms for the first and 23–29 ms for the second):", "",
                  benchlib.md_table(["N", "first POST ms p50", "p99", "second POST ms p50",
                                     "p99", "second ÷ first"],
                                    [[str(r["N"]), fmt(r["first_ms_p50"]), fmt(r["first_ms_p99"]),
                                      fmt(r["second_ms_p50"]), fmt(r["second_ms_p99"]),
                                      fmt(r["ratio_second_to_first"])] for r in rr]), ""]
    for t in check(results, ctx.profile):
        lines.append("- %s: %s — %s." % (t["target"], "**met**" if t["met"] else "**missed**",
                                        t["detail"]))
    return "\n".join(lines)
