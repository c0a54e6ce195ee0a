"""Benchmark (f): segd memory with a synthetic fleet of K network namespaces as endpoints.

K namespaces, each with one global address (10.128.0.0+i+1/32 on lo; no veths), are
registered with the real daemon (BUILD/daemon/segd --engine none, RLIMIT_NOFILE raised by the
harness) through POST /v1/endpoints on its unix socket; then three policies are applied:
  all-from-seed0    every endpoint accepts TCP 80 from the 10 endpoints labelled seed=0
  b-from-seed1      app=b accepts TCP 8080 from the 10 labelled seed=1, any namespace
(constant peers per endpoint, so total memberships grow linearly with K)
  a-egress-cidr     app=a may reach 10.0.0.0/8 except 10.128.0.0/9 on TCP 443 (interval set)
Measured: segd VmRSS/VmHWM (/proc/PID/status) at start, after registration, after the apply;
kernel Slab and MemAvailable deltas (/proc/meminfo) for the namespaces and for the rulesets.
Anchors: the bytes of input (registration bodies + policies) per endpoint; Cilium's published
+10.5 KiB agent memory per pod.
"""

import http.client
import json
import os
import socket
import tempfile
import time

import benchlib
from benchlib import log, ratio, fmt

ID = "f"
TITLE = "Daemon memory per endpoint (synthetic fleets of network namespaces)"
PACKAGES = []
TARGETS = ["daemon/segd", "tests/bench/segd-bench-apply"]
CILIUM_KIB_PER_POD = 10.5


def config(profile):
    if profile.quick:
        return dict(ks=[100, 300])
    # 10k needs 30k fds; where the hard limit does not allow that, the largest fleet that fits
    # is measured instead and the summary extrapolates to 10k, labelled as such
    return dict(ks=benchlib.fleet_sizes([1000, 10000]))


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout=600):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


def api(conn, method, path, body=None):
    data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    txt = r.read()
    if r.status >= 300:
        raise RuntimeError("%s %s: %d %s" % (method, path, r.status, txt[:300]))
    return json.loads(txt) if txt else {}


def meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            out[k] = int(v.split()[0]) * 1024
    return out


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM", "RssAnon", "VmData")):
                k, v = line.split(":", 1)
                out[k] = int(v.split()[0]) * 1024
    out["fds"] = len(os.listdir("/proc/%d/fd" % pid))
    return out


POLICIES = [
    {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
     "metadata": {"name": "all-from-seed0", "namespace": "fleet"},
     "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
              "ingress": [{"from": [{"podSelector": {"matchLabels": {"seed": "0"}}}],
                           "ports": [{"protocol": "TCP", "port": 80}]}]}},
    {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
     "metadata": {"name": "b-from-seed1", "namespace": "fleet"},
     "spec": {"podSelector": {"matchLabels": {"app": "b"}}, "policyTypes": ["Ingress"],
              "ingress": [{"from": [{"namespaceSelector": {},
                                     "podSelector": {"matchLabels": {"seed": "1"}}}],
                           "ports": [{"protocol": "TCP", "port": 8080}]}]}},
    {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
     "metadata": {"name": "a-egress-cidr", "namespace": "fleet"},
     "spec": {"podSelector": {"matchLabels": {"app": "a"}}, "policyTypes": ["Egress"],
              "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.128.0.0/9"]}}],
                          "ports": [{"protocol": "TCP", "port": 443}]}]}},
]


def one_point(ctx, k):
    h = ctx.helper("segd-bench-apply")
    segd = ctx.product("daemon/segd")
    prefix = ctx.prefix + "f%d-" % k
    work = tempfile.mkdtemp(prefix="bench-f-", dir=ctx.outdir)
    sock = os.path.join(work, "segd.sock")
    m0 = meminfo()
    t0 = time.monotonic()
    benchlib.run([h, "mk", prefix, str(k), "addr"], timeout=1800)
    ctx.on_cleanup(lambda: benchlib.run([h, "rm", prefix, str(k)], check=False))
    t_mk = time.monotonic() - t0
    m1 = meminfo()
    nofile = 8 * k + 4096

    limits = benchlib.nofile_preexec(nofile)
    logf = open(os.path.join(work, "segd.log"), "w")
    p = ctx.popen([segd, "--socket", sock, "--state-dir", os.path.join(work, "state"),
                   "--audit-log", os.path.join(work, "audit.jsonl"),
                   "--engine", "none", "--log-level", "warning"],
                  stdout=logf, stderr=logf, preexec_fn=limits)
    try:
        for _ in range(500):
            if os.path.exists(sock):
                break
            if p.poll() is not None:
                raise RuntimeError("segd exited %d" % p.returncode)
            time.sleep(0.02)
        time.sleep(0.2)
        conn = UnixHTTP(sock)
        api(conn, "GET", "/v1/status")
        s0 = proc_status(p.pid)
        input_bytes = 0
        t0 = time.monotonic()
        for i in range(k):
            body = json.dumps({"name": "ep%d" % i, "netns": "%s%d" % (prefix.split("/")[-1], i),
                               "namespace": "fleet",
                               "labels": dict({"app": "abcd"[i % 4], "shard": str(i % 100),
                                               "tier": "t%d" % (i % 7)},
                                              **({"seed": str(i // 10)} if i < 20 else {})),
                               "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]})
            input_bytes += len(body) + 12  # + the address segd reads itself
            api(conn, "POST", "/v1/endpoints", body)
        t_reg = time.monotonic() - t0
        s1 = proc_status(p.pid)
        m2 = meminfo()
        text = json.dumps({"apiVersion": "v1", "kind": "List", "items": POLICIES})
        input_bytes += len(text)
        t0 = time.monotonic()
        res = api(conn, "POST", "/v1/apply?file=bench.json", text)
        t_apply = time.monotonic() - t0
        time.sleep(0.5)
        st = api(conn, "GET", "/v1/status")
        s2 = proc_status(p.pid)
        m3 = meminfo()
        conn.close()
    finally:
        ctx.stop(p)
        logf.close()
    benchlib.run([h, "rm", prefix, str(k)], check=False)
    elements = k * 10 + (k // 4) * 10  # seed=0 set in all, seed=1 set in app=b
    r = dict(K=k, t_mk_s=t_mk, t_register_s=t_reg, t_apply_s=t_apply,
             endpoints_updated=res.get("endpoints_updated"), enforced=st.get("enforced"),
             errors=st.get("errors"), rss_start=s0["VmRSS"], rss_registered=s1["VmRSS"],
             rss_enforced=s2["VmRSS"], hwm=s2["VmHWM"], fds=s2["fds"],
             fds_per_endpoint=(s2["fds"] - s0["fds"]) / float(k),
             rss_per_ep=(s2["VmRSS"] - s0["VmRSS"]) / float(k),
             hwm_per_ep=(s2["VmHWM"] - s0["VmRSS"]) / float(k),
             rss_reg_per_ep=(s1["VmRSS"] - s0["VmRSS"]) / float(k),
             input_bytes_per_ep=input_bytes / float(k),
             slab_netns_per_ep=(m1["Slab"] - m0["Slab"]) / float(k),
             slab_rules_per_ep=(m3["Slab"] - m2["Slab"]) / float(k),
             memavail_netns_per_ep=(m0["MemAvailable"] - m1["MemAvailable"]) / float(k),
             memavail_rules_per_ep=(m2["MemAvailable"] - m3["MemAvailable"]) / float(k),
             kernel_set_elements=elements)
    r["ratio_rss_to_input"] = ratio(r["rss_per_ep"], r["input_bytes_per_ep"])
    r["ratio_rss_to_cilium"] = ratio(r["rss_per_ep"], CILIUM_KIB_PER_POD * 1024)
    return r


def run(profile, ctx):
    cfg = config(profile)
    results = []
    for k in cfg["ks"]:
        log("(f) fleet of %d endpoints" % k)
        r = one_point(ctx, k)
        log("(f) K=%d: %.0f B/endpoint RSS, register %.1f s, apply %.1f s, enforced %s" % (
            k, r["rss_per_ep"], r["t_register_s"], r["t_apply_s"], r["enforced"]))
        results.append(ctx.emit(dict(bench=ID, arm="segd", point={"K": k}, anchor="input bytes",
                                     **r)))
    if len(results) >= 2:
        a, b = results[0], results[-1]
        slope = (b["rss_enforced"] - a["rss_enforced"]) / float(b["K"] - a["K"])
        for r in results:
            r["slope_bytes_per_ep"] = slope
        results.append(ctx.emit(dict(bench=ID, arm="segd", point={"K": "%d->%d" % (a["K"], b["K"])},
                                     slope_bytes_per_ep=slope,
                                     slope_over_mean_at_small=ratio(slope, a["rss_per_ep"]))))
    return results


def summarize(results, ctx):
    pts = [r for r in results if isinstance(r["point"]["K"], int)]
    rows = [[str(r["K"]), fmt(r["rss_start"] / 1048576.0), fmt(r["rss_enforced"] / 1048576.0),
             fmt(r["hwm"] / 1048576.0), fmt(r["rss_reg_per_ep"]), fmt(r["rss_per_ep"]),
             fmt(r["hwm_per_ep"]), fmt(r["input_bytes_per_ep"]), fmt(r["ratio_rss_to_input"]),
             fmt(r["fds_per_endpoint"]), fmt(r["slab_netns_per_ep"]), fmt(r["slab_rules_per_ep"]),
             fmt(r["memavail_rules_per_ep"]), "%s/%s" % (r["enforced"], r["K"]),
             fmt(r["t_register_s"]), fmt(r["t_apply_s"])] for r in pts]
    table = benchlib.md_table(
        ["K", "RSS start MiB", "RSS enforced MiB", "HWM MiB", "B/ep registered", "B/ep enforced",
         "HWM B/ep", "input B/ep", "RSS ÷ input", "fds/ep", "kernel slab B/netns",
         "kernel slab B/ep ruleset", "MemAvail B/ep ruleset", "enforced", "register s",
         "apply s"], rows)
    lines = ["Per-endpoint figures are (value − segd's RSS at start) / K. Kernel figures are "
             "/proc/meminfo deltas (whole machine: other jobs add noise). Fleet: labels app "
             "(4 values), shard (100), tier (7), seed (first 20); three policies (two hash-set "
             "peer selectors of 10 peers each, one ipBlock with except).", "", table, ""]
    slope = [r for r in results if not isinstance(r["point"]["K"], int)]
    if pts:
        worst = max(r["rss_per_ep"] for r in pts)
        ok = worst < 10 * 1024
        lines.append("- Target < 10 KiB per endpoint (Cilium agent: +10.5 KiB per pod): %s "
                     "(largest %s B/endpoint = %s× Cilium's figure)." % (
                         "**met**" if ok else "**missed**", fmt(worst),
                         fmt(worst / (CILIUM_KIB_PER_POD * 1024))))
    if slope:
        s = slope[0]
        lin = s.get("slope_over_mean_at_small")
        lines.append("- Linearity %s: marginal %s B/endpoint, %s× the per-endpoint figure at the "
                     "small fleet (≈1 means linear) — %s." % (
                         s["point"]["K"], fmt(s["slope_bytes_per_ep"]), fmt(lin),
                         "**met**" if lin is not None and 0.5 <= lin <= 1.5 else "**missed**"))
        if pts and pts[-1]["K"] < 10000:
            big = pts[-1]
            est = big["rss_enforced"] + s["slope_bytes_per_ep"] * (10000 - big["K"])
            lines.append("- **Extrapolated, not measured:** 10k endpoints ≈ %s MiB RSS "
                         "(RSS at K=%d plus the marginal slope × %d). 10k endpoints need "
                         "%d × 10k open files in segd; the hard RLIMIT_NOFILE here is %d and "
                         "the VM does not grant CAP_SYS_RESOURCE to raise it, so K=%d is the "
                         "largest fleet that fits." % (
                             fmt(est / 1048576.0), big["K"], 10000 - big["K"],
                             benchlib.FDS_PER_ENDPOINT, benchlib.nofile_hard(), big["K"]))
    lines.append("- segd holds ≈%s fds per endpoint; the harness raises RLIMIT_NOFILE for it "
                 "(segd raises its soft limit to the hard limit; the systemd unit sets LimitNOFILE)." % fmt(pts[-1]["fds_per_endpoint"] if pts else None))
    return "\n".join(lines)
