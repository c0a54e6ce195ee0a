#!/usr/bin/env python3
"""NetworkPolicy truth-table conformance runner for segd (real namespaces, real traffic).

    run.py --segd BIN --segctl BIN --probe BIN [--family 4|6|both] [CASE.json|DIR]...

Runs every case in the format of shared/conformance/README.md: nine (or more) pods as network
namespaces on one bridge, registered with one segd as endpoints; for each case (or each step of
its `steps`) the policies are applied, labels set, and every ordered pair of pods is probed on
every listed port with real TCP handshakes and UDP echoes, then compared with `expect`.

Between cases: every policy is deleted and pod/namespace labels are reset to the case's.
Output: one line per case `PASS|FAIL|SKIP name (...)`, mismatches listed under a failing case,
and the final line `N passed, N failed[, N skipped]`. Exit 1 if any case failed, 2 on a
harness/setup error.

IPv6: pods' IPv6 addresses embed their IPv4 address (fd00:213::/96 + v4), so any IPv4 ipBlock
(placeholder or literal) has an exact IPv6 image selecting the same pods. With --family 6 the
ipBlocks are translated; with both, each IPv4 ipBlock peer is followed by its IPv6 image (peers
are ORed, and an IPv4 block never matches IPv6 traffic, so the union is exact per family).
"""

import argparse
import copy
import glob
import ipaddress
import json
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import topology as T  # noqa: E402

SCTP_REASON = "SCTP not available in this kernel"
DEFAULT_NAMED_PORTS = [("serve-80-tcp", 80, "TCP"), ("serve-81-tcp", 81, "TCP"),
                       ("serve-80-udp", 80, "UDP"), ("serve-81-udp", 81, "UDP")]
RE_IP = re.compile(r"\{\{ip:([^}:]+)\}\}")
RE_NET = re.compile(r"\{\{net:([^}:]+):(\d+)\}\}")
MAX_LISTED = 40


class CaseError(Exception):
    pass


def ep_name(pod):
    ns, _, name = pod.partition("/")
    return "%s-%s" % (ns, name)


def port_key(p):
    return "%d/%s" % (int(p["port"]), p.get("protocol", "TCP").upper())


def parse_key(key):
    port, _, proto = key.partition("/")
    return int(port), (proto or "TCP").upper()


def load_cases(paths):
    files = []
    for p in paths:
        if os.path.isdir(p):
            files += sorted(glob.glob(os.path.join(p, "*.json")))
        else:
            files.append(p)
    cases = []
    for f in files:
        try:
            with open(f) as fh:
                c = json.load(fh)
            if not isinstance(c, dict):
                raise ValueError("not a JSON object")
            c.setdefault("name", os.path.splitext(os.path.basename(f))[0])
        except (OSError, ValueError) as e:
            c = {"name": os.path.basename(f), "_load_error": str(e)}
        c["_file"] = f
        cases.append(c)
    return cases


def case_steps(c):
    if "steps" in c:
        return c["steps"]
    return [{"policies": c.get("policies", []), "expect": c.get("expect", {})}]


def named_port_proto(name):
    for suffix in ("tcp", "udp", "sctp"):
        if name.lower().endswith("-" + suffix):
            return suffix.upper()
    return "TCP"


# --------------------------------------------------------------- placeholders
def substitute_v4(obj, ips):
    """Replace {{ip:NS/POD}} and {{net:NS/POD:LEN}} with IPv4 text in every string."""
    if isinstance(obj, dict):
        return {k: substitute_v4(v, ips) for k, v in obj.items()}
    if isinstance(obj, list):
        return [substitute_v4(v, ips) for v in obj]
    if isinstance(obj, str) and "{{" in obj:
        def ip(m):
            if m.group(1) not in ips:
                raise CaseError("placeholder names unknown pod %r" % m.group(1))
            return str(ips[m.group(1)])

        def net(m):
            if m.group(1) not in ips:
                raise CaseError("placeholder names unknown pod %r" % m.group(1))
            n = ipaddress.ip_network("%s/%s" % (ips[m.group(1)], m.group(2)), strict=False)
            return str(n)
        s = RE_NET.sub(net, RE_IP.sub(ip, obj))
        if "{{" in s:
            raise CaseError("unknown placeholder in %r" % obj)
        return s
    return obj


def translate_ipblocks(obj, family):
    """family 4: unchanged; 6: IPv4 ipBlocks replaced by their IPv6 image; both: image added."""
    if family == 4:
        return obj
    if isinstance(obj, dict):
        return {k: translate_ipblocks(v, family) for k, v in obj.items()}
    if not isinstance(obj, list):
        return obj
    out = []
    for item in obj:
        item = translate_ipblocks(item, family)
        blk = item.get("ipBlock") if isinstance(item, dict) else None
        if isinstance(blk, dict) and isinstance(blk.get("cidr"), str) and ":" not in blk["cidr"]:
            try:
                v6 = dict(blk)
                v6["cidr"] = T.v6_image_of_cidr(blk["cidr"])
                if "except" in blk:
                    v6["except"] = [T.v6_image_of_cidr(e) for e in blk["except"]]
            except ValueError as e:
                raise CaseError("cannot translate ipBlock %s to IPv6: %s" % (json.dumps(blk), e))
            peer6 = dict(item)
            peer6["ipBlock"] = v6
            if family == "both":
                out.append(item)
            out.append(peer6)
        else:
            out.append(item)
    return out


# --------------------------------------------------------------------- runner
class Runner:
    def __init__(self, args, cases):
        self.args = args
        self.cases = cases
        self.families = [4, 6] if args.family == "both" else [int(args.family)]
        self.sctp = T.sctp_available()
        self.topo = None
        self.segd = None
        self.pods = []
        self.ports = {"TCP": set([80, 81]), "UDP": set([80, 81])}
        self.named_ports = list(DEFAULT_NAMED_PORTS)
        self.jsonl = open(args.jsonl, "w") if args.jsonl else None
        self.ns_labels = None  # last namespace labels applied and verified
        self.total_skipped_probes = 0
        self.policies_in_force = set()
        # segctl matrix/check evaluate every address family two endpoints share, so their
        # answers equal the truth table only when the case's ipBlocks cover both
        self.explain = args.family == "both" and not args.no_explain

    # ------------------------------------------------------------------ setup
    def plan_topology(self):
        pods = ["%s/%s" % (ns, p) for ns in "xyz" for p in "abc"]
        names = {n for n, _, _ in self.named_ports}
        for c in self.cases:
            if "_load_error" in c:
                continue
            for p in c.get("pods", []):
                if isinstance(p, dict) and p.get("name") and p["name"] not in pods:
                    pods.append(p["name"])
            for st in case_steps(c):
                for key in (st.get("expect") or {}):
                    port, proto = parse_key(key)
                    if proto in self.ports:
                        self.ports[proto].add(port)
            for name, num in (c.get("named_ports") or {}).items():
                if name not in names:
                    self.named_ports.append((name, int(num), named_port_proto(name)))
                    names.add(name)
        self.pods = pods

    def setup(self):
        a = self.args
        self.topo = T.Topology(a.probe)
        for pod in self.pods:
            self.topo.add_endpoint(ep_name(pod))
        for pod in self.pods:
            self.topo.start_server(ep_name(pod), tcp=sorted(self.ports["TCP"]),
                                   udp=sorted(self.ports["UDP"]))
        self.segd = T.Segd(a.segd, a.segctl, deny_action=a.deny_action)
        self.segd.start()
        for pod in self.pods:
            ns, _, name = pod.partition("/")
            ep = self.topo.endpoints[ep_name(pod)]
            p = self.segd.endpoint_add(ep.name, ep.netns, ns, {"pod": name}, self.named_ports)
            if p.returncode != 0:
                raise RuntimeError("segctl endpoint add %s failed (%d): %s%s" % (
                    ep.name, p.returncode, p.stdout, p.stderr))
        self.ep_labels = {pod: {"pod": pod.partition("/")[2]} for pod in self.pods}

    def teardown(self):
        if self.segd:
            if self.args.keep_log:
                print("segd log: %s" % self.segd.log_path)
            self.segd.close()
        if self.topo:
            self.topo.close()
        if self.jsonl:
            self.jsonl.close()

    def ips(self, family=4):
        return {pod: self.topo.endpoints[ep_name(pod)].addr(family) for pod in self.pods}

    # ----------------------------------------------------------------- state
    def set_namespaces(self, labels_by_ns):
        nss = sorted({p.partition("/")[0] for p in self.pods} | set(labels_by_ns))
        wanted = {ns: dict(labels_by_ns.get(ns) or {}) for ns in nss}
        if wanted == self.ns_labels:
            return
        self.ns_labels = None
        objs = [{"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": ns, "labels": dict(labels_by_ns.get(ns) or {})}}
                for ns in nss]
        p = self.segd.apply_objects(objs, "namespaces.json")
        if p.returncode != 0:
            raise CaseError("applying Namespace labels failed (%d): %s" % (p.returncode, (p.stderr or p.stdout).strip()))
        got = {it["metadata"]["name"]: (it["metadata"].get("labels") or {})
               for it in self.segd.items("namespaces")}
        for ns in nss:
            want = dict(labels_by_ns.get(ns) or {})
            want.setdefault("kubernetes.io/metadata.name", ns)
            if got.get(ns) != want:
                raise CaseError("namespace %s labels are %s after apply, want %s" % (
                    ns, json.dumps(got.get(ns)), json.dumps(want)))
        self.ns_labels = wanted

    def set_pods(self, pods_spec):
        want = {}
        for p in pods_spec or []:
            if p.get("name") not in self.ep_labels:
                raise CaseError("case names unknown pod %r" % p.get("name"))
            want[p["name"]] = dict(p.get("labels") or {})
        cur = {it["name"]: (it.get("labels") or {}) for it in self.segd.items("endpoints")}
        changed = False
        for pod, labels in want.items():
            have = cur.get(ep_name(pod), {})
            setl = {k: v for k, v in labels.items() if have.get(k) != v}
            rem = [k for k in have if k not in labels]
            if setl or rem:
                changed = True
                r = self.segd.endpoint_label(ep_name(pod), setl, rem)
                if r.returncode != 0:
                    raise CaseError("segctl endpoint label %s failed (%d): %s" % (
                        ep_name(pod), r.returncode, (r.stderr or r.stdout).strip()))
            self.ep_labels[pod] = labels
        if changed:
            cur = {it["name"]: (it.get("labels") or {}) for it in self.segd.items("endpoints")}
        for pod, labels in want.items():
            if cur.get(ep_name(pod)) != labels:
                raise CaseError("endpoint %s labels are %s, want %s" % (
                    ep_name(pod), json.dumps(cur.get(ep_name(pod))), json.dumps(labels)))

    def delete_all_policies(self):
        items = self.segd.items("networkpolicies")
        for it in items:
            md = it.get("metadata", {})
            p = self.segd.ctl("delete", "networkpolicy", md.get("name"), "-n", md.get("namespace", "default"))
            if p.returncode != 0:
                raise CaseError("segctl delete networkpolicy %s/%s failed (%d): %s" % (
                    md.get("namespace"), md.get("name"), p.returncode, (p.stderr or p.stdout).strip()))

    def set_policies(self, policies):
        fam = "both" if len(self.families) == 2 else self.families[0]
        objs = [translate_ipblocks(substitute_v4(copy.deepcopy(p), self.ips(4)), fam) for p in policies]
        want = set()
        for o in objs:
            md = o.get("metadata") or {}
            want.add((md.get("namespace", "default"), md.get("name")))
        if objs:
            p = self.segd.apply_objects(objs, "case-policies.json")
            if p.returncode != 0:
                raise CaseError("segctl apply failed (%d): %s" % (p.returncode, (p.stderr or p.stdout).strip()))
        deleted = False
        have = set()
        for it in self.segd.items("networkpolicies"):
            md = it.get("metadata", {})
            key = (md.get("namespace", "default"), md.get("name"))
            have.add(key)
            if key not in want:
                deleted = True
                p = self.segd.ctl("delete", "networkpolicy", key[1], "-n", key[0])
                if p.returncode != 0:
                    raise CaseError("segctl delete networkpolicy %s/%s failed (%d): %s" % (
                        key[0], key[1], p.returncode, (p.stderr or p.stdout).strip()))
        if deleted:
            have = {(it["metadata"].get("namespace", "default"), it["metadata"].get("name"))
                    for it in self.segd.items("networkpolicies")}
        if have != want:
            raise CaseError("policies in force %s, want %s" % (sorted(have), sorted(want)))
        self.policies_in_force = {"%s/%s" % k for k in want}

    def endpoint_problems(self):
        bad = []
        for it in self.segd.items("endpoints"):
            if it.get("state") != "enforced":
                bad.append("%s state=%s%s" % (it.get("name"), it.get("state"),
                                              (" error=%s" % it["error"]) if it.get("error") else ""))
        return bad

    # ----------------------------------------------------------------- probes
    def probe_step(self, case, expect):
        """Returns (probes, skipped, mismatches[list of dict])."""
        ignore_lo = case.get("ignore_loopback", True)
        # A step judges exactly the ports its expect names (upstream sometimes probes fewer
        # ports after a later step); `ports` only gives the order.
        keys = [k for k in (port_key(p) for p in case.get("ports", [])) if k in expect]
        keys += [k for k in expect if k not in keys]
        plan, want, skipped = {}, {}, 0
        for key in keys:
            e = expect[key]
            port, proto = parse_key(key)
            exc = {}
            for ex in e.get("exceptions", []):
                exc[(ex[0], ex[1])] = bool(ex[2])
            for (f, t) in exc:
                if f not in self.ep_labels or t not in self.ep_labels:
                    raise CaseError("expect %s names unknown pod in %s -> %s" % (key, f, t))
            pairs = [(f, t) for f in self.pods for t in self.pods if not (ignore_lo and f == t)]
            if proto == "SCTP":
                skipped += len(pairs) * len(self.families)
                continue
            if proto not in ("TCP", "UDP"):
                raise CaseError("unsupported protocol %s" % proto)
            for f, t in pairs:
                exp = exc.get((f, t), bool(e.get("allowed_default", True)))
                for fam in self.families:
                    tgt = self.topo.endpoints[ep_name(t)].target(proto, fam, port)
                    plan.setdefault(ep_name(f), []).append(tgt)
                    want[(ep_name(f), tgt)] = (key, fam, f, t, exp)
        res = self.topo.probe_matrix(plan, self.args.timeout_ms) if plan else {}
        mism = []
        for (src, tgt), (key, fam, f, t, exp) in want.items():
            got = res[src][tgt]
            if got != exp:
                mism.append({"port": key, "family": fam, "from": f, "to": t,
                             "expected": exp, "got": got})
        return len(want), skipped, mism

    # ---------------------------------------------------------------- explain
    def explain_step(self, case, expect):
        """segctl matrix must equal the truth table (SCTP included: it reads plans, not
        packets), and segctl check must give the same verdict for the step's exceptions and
        one default pair, naming policies in force, with the kernel in sync."""
        keys = list(expect)
        args = ["matrix", "-A", "-o", "json"]
        for k in keys:
            args += ["--port", k]
        m = self.segd.ctl_json(*args)
        got = {(p["from"], p["to"], p["port"]): p["allowed"] for p in m.get("pairs", [])}
        probs, samples = [], []
        for key in keys:
            e = expect[key]
            exc = {(x[0], x[1]): bool(x[2]) for x in e.get("exceptions", [])}
            default = bool(e.get("allowed_default", True))
            for f in self.pods:
                for t in self.pods:
                    if f == t:
                        continue  # the matrix leaves out an endpoint to itself
                    exp = exc.get((f, t), default)
                    g = got.get((ep_name(f), ep_name(t), key))
                    if g != exp:
                        probs.append("matrix %s %s -> %s: %s, expected %s" % (
                            key, f, t, g, "allow" if exp else "deny"))
            samples += [(f, t, key, v) for (f, t), v in list(exc.items())[:3] if f != t]
            pair = next(((f, t) for f in self.pods for t in self.pods
                         if f != t and (f, t) not in exc), None)
            if pair:
                samples.append((pair[0], pair[1], key, default))
        for f, t, key, exp in samples[:6]:
            o = self.segd.ctl_json("check", ep_name(f), ep_name(t), key, "-o", "json")
            what = "check %s -> %s %s" % (f, t, key)
            if (o.get("verdict") == "allowed") != exp:
                probs.append("%s: verdict %s, expected %s" % (what, o.get("verdict"), "allow" if exp else "deny"))
            for d in ("egress", "ingress"):
                x = o.get(d) or {}
                named = [r.get("policy") for r in x.get("rules", [])] + list(x.get("selected_by", []))
                stray = [n for n in named if n not in self.policies_in_force]
                if stray:
                    probs.append("%s: %s names policies not in force: %s" % (what, d, stray))
                if x.get("isolated") and x.get("allowed") and not x.get("rules"):
                    probs.append("%s: %s allowed while isolated, but no rule named" % (what, d))
                if x.get("enforced") and not x.get("allowed") and not x.get("selected_by"):
                    probs.append("%s: %s denied without the selecting policies" % (what, d))
            if o.get("kernel_mismatch"):
                probs.append("%s: the kernel does not hold the plan: %s" % (what, o.get("kernel")))
        return probs

    # ------------------------------------------------------------------- case
    def run_case(self, c):
        t0 = time.monotonic()
        rec = {"case": c.get("name"), "file": c.get("_file"), "probes": 0, "mismatches": 0,
               "skipped_probes": 0, "steps": []}
        if "_load_error" in c:
            raise CaseError("cannot load: %s" % c["_load_error"])
        if not self.segd.alive():
            raise CaseError("segd is not running (exited %s); log tail:\n%s" % (
                self.segd.proc.returncode, self.segd.log_tail()))
        steps = case_steps(c)
        # Reset: no policies, labels as the case starts.
        self.delete_all_policies()
        base_pods = [{"name": p, "labels": {"pod": p.partition("/")[2]}} for p in self.pods]
        given = {p["name"]: p for p in c.get("pods", [])}
        self.set_pods([given.get(p["name"], p) for p in base_pods])
        self.set_namespaces(c.get("namespaces") or {})
        lines = []
        for i, st in enumerate(steps):
            label = "step %d/%d" % (i + 1, len(steps)) if "steps" in c else "policies"
            if st.get("namespaces") is not None:
                self.set_namespaces(st["namespaces"])
            if st.get("pods") is not None:
                self.set_pods(st["pods"])
            if "policies" in st:
                self.set_policies(st.get("policies") or [])
            if self.args.settle_ms:
                # Off by default (segctl returns once the change is enforced): a manual knob
                # to tell a timing problem from a wrong verdict, never needed to pass.
                time.sleep(self.args.settle_ms / 1000.0)
            if not st.get("expect"):
                continue
            probes, skipped, mism = self.probe_step(c, st["expect"])
            if self.explain:
                for prob in self.explain_step(c, st["expect"]):
                    mism.append({"explain": prob})
            rec["probes"] += probes
            rec["skipped_probes"] += skipped
            rec["mismatches"] += len(mism)
            srec = {"step": i + 1, "probes": probes, "mismatches": len(mism),
                    "denied_but_allowed": sum(1 for m in mism if m.get("got")),
                    "allowed_but_denied": sum(1 for m in mism if m.get("got") is False),
                    "explain": sum(1 for m in mism if "explain" in m)}
            rec["steps"].append(srec)
            if mism:
                probs = self.endpoint_problems()
                lines.append("  %s%s: %d mismatches (%d allowed but should be denied, %d denied but should be allowed, "
                             "%d from segctl matrix/check)" % (
                                 label, (" (%s)" % st["action"]) if st.get("action") else "", len(mism),
                                 srec["denied_but_allowed"], srec["allowed_but_denied"], srec["explain"]))
                merged = {}
                for m in mism:
                    if "explain" in m:
                        lines.append("    explain: %s" % m["explain"])
                        continue
                    merged.setdefault((m["port"], m["from"], m["to"], m["expected"], m["got"]), []).append(m["family"])
                for (port, f, t, exp, got), fams in sorted(merged.items())[:MAX_LISTED]:
                    lines.append("    %-7s %s -> %s [%s]: expected %s, got %s" % (
                        port, f, t, "+".join("IPv%d" % x for x in sorted(fams)),
                        "allow" if exp else "deny", "allow" if got else "deny"))
                if len(merged) > MAX_LISTED:
                    lines.append("    ... %d more" % (len(merged) - MAX_LISTED))
                if probs:
                    lines.append("    endpoints not enforced: %s" % "; ".join(probs))
        rec["seconds"] = round(time.monotonic() - t0, 3)
        return rec, lines

    def run(self):
        passed = failed = skipped = 0
        self.plan_topology()
        try:
            self.setup()
        except Exception as e:  # noqa: BLE001
            print("SETUP FAILED: %s" % e, flush=True)
            if self.segd:
                print(self.segd.log_tail(), flush=True)
            self.teardown()
            return 2
        try:
            print("# kernel %s; families %s; %d pods; SCTP %s; probe timeout %d ms" % (
                os.uname().release, "+".join("IPv%d" % f for f in self.families), len(self.pods),
                "available" if self.sctp else "not available (SCTP probes skipped)",
                self.args.timeout_ms), flush=True)
            ok = self.preflight()
            if not ok:
                return 2
            for c in self.cases:
                if self.args.only and not re.search(self.args.only, c.get("name", "")):
                    continue
                name = c.get("name")
                t0 = time.monotonic()
                try:
                    rec, lines = self.run_case(c)
                except CaseError as e:
                    failed += 1
                    print("FAIL %s (error: %s, %.2fs)" % (name, e, time.monotonic() - t0), flush=True)
                    self.emit({"case": name, "file": c.get("_file"), "result": "FAIL", "error": str(e)})
                    continue
                except Exception as e:  # noqa: BLE001
                    failed += 1
                    print("FAIL %s (harness error: %s: %s, %.2fs)" % (name, type(e).__name__, e,
                                                                      time.monotonic() - t0), flush=True)
                    self.emit({"case": name, "file": c.get("_file"), "result": "FAIL", "error": str(e)})
                    continue
                self.total_skipped_probes += rec["skipped_probes"]
                skip_txt = (", %d skipped: %s" % (rec["skipped_probes"], SCTP_REASON)) if rec["skipped_probes"] else ""
                if rec["probes"] == 0 and rec["skipped_probes"] > 0 and not rec["mismatches"]:
                    result = "SKIP"
                    skipped += 1
                    print("SKIP %s (%d probes skipped: %s)" % (name, rec["skipped_probes"], SCTP_REASON), flush=True)
                else:
                    result = "FAIL" if rec["mismatches"] else "PASS"
                    if rec["mismatches"]:
                        failed += 1
                    else:
                        passed += 1
                    print("%s %s (%d probes, %d mismatches%s, %.2fs)" % (
                        result, name, rec["probes"], rec["mismatches"], skip_txt, rec["seconds"]), flush=True)
                for line in lines:
                    print(line, flush=True)
                rec["result"] = result
                self.emit(rec)
        finally:
            self.teardown()
        if self.total_skipped_probes:
            print("# %d probes skipped (%s)" % (self.total_skipped_probes, SCTP_REASON))
        for report in T.sanitizer_failures():
            failed += 1
            print("FAIL sanitizer report from segd\n    " + report.replace("\n", "\n    "), flush=True)
        print("%d passed, %d failed%s" % (passed, failed, (", %d skipped" % skipped) if skipped else ""), flush=True)
        return 1 if failed else 0

    def preflight(self):
        """No policy: every pair must connect on every served port (topology sanity)."""
        plan, n = {}, 0
        for f in self.pods:
            for t in self.pods:
                if f == t:
                    continue
                for proto in ("TCP", "UDP"):
                    for port in sorted(self.ports[proto]):
                        for fam in self.families:
                            plan.setdefault(ep_name(f), []).append(
                                self.topo.endpoints[ep_name(t)].target(proto, fam, port))
                            n += 1
        t0 = time.monotonic()
        res = self.topo.probe_matrix(plan, max(self.args.timeout_ms, 1000))
        bad = [(s, t) for s, r in res.items() for t, ok in r.items() if not ok]
        if bad:
            print("PREFLIGHT FAILED: with no policy applied, %d of %d probes failed, e.g. %s" % (
                len(bad), n, ", ".join("%s -> %s" % b for b in bad[:8])), flush=True)
            print("  endpoints not enforced: %s" % "; ".join(self.endpoint_problems()))
            return False
        print("# preflight: %d probes without policy all connected (%.2fs)" % (n, time.monotonic() - t0), flush=True)
        return True

    def emit(self, rec):
        if self.jsonl:
            self.jsonl.write(json.dumps(rec) + "\n")
            self.jsonl.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--segd", required=True)
    ap.add_argument("--segctl", required=True)
    ap.add_argument("--probe", required=True, help="segd-probe binary")
    ap.add_argument("--family", choices=["4", "6", "both"], default="both")
    ap.add_argument("--timeout-ms", type=int, default=500,
                    help="how long a probe waits before calling a flow denied (default 500)")
    ap.add_argument("--deny-action", choices=["drop", "reject"], default=None)
    ap.add_argument("--settle-ms", type=int, default=0,
                    help="sleep after each change before probing (default 0: segctl returns when enforced)")
    ap.add_argument("--only", help="regex: run only cases whose name matches")
    ap.add_argument("--no-explain", action="store_true",
                    help="do not check segctl matrix/check against each step's truth table")
    ap.add_argument("--jsonl", help="write one JSON record per case to this file")
    ap.add_argument("--keep-log", action="store_true", help="keep the segd work dir and print its log path")
    ap.add_argument("cases", nargs="*", help="case files or directories")
    a = ap.parse_args()
    if a.keep_log:
        os.environ["SEGD_TEST_KEEP"] = "1"
    paths = a.cases
    if not paths:
        paths = [d for d in (os.path.join(HERE, "cases"),
                             os.path.join(HERE, "..", "..", "..", "shared", "conformance", "cases"))
                 if os.path.isdir(d)]
    if os.geteuid() != 0:
        print("run.py: needs root (network namespaces)", file=sys.stderr)
        return 2
    for b in (a.segd, a.segctl, a.probe):
        if not os.access(b, os.X_OK):
            print("run.py: %s is not executable" % b, file=sys.stderr)
            return 2
    cases = load_cases(paths)
    if not cases:
        print("run.py: no cases found in %s" % ", ".join(paths), file=sys.stderr)
        return 2
    return Runner(a, cases).run()


if __name__ == "__main__":
    sys.exit(main())
