#!/usr/bin/env python3
"""segd following a container engine that misbehaves.

Topology network namespaces play the containers; tests/lib/fake_engine.py plays the Docker
Engine API on a unix socket; segd runs with --engine unix://SOCK --resync-interval 2. Every
scenario asserts through `segctl get endpoints -o json` / `segctl rules NAME -o json` and, where
cheap, real probes between the namespaces. Nothing waits by sleeping: the test polls segd's
engine counters (segctl status -o json: engine.events, lists, inspections, connects, queued,
inflight) and the fake engine's request log. "Event-driven" is proven, not assumed: the
container of such a check is absent from the engine's list until segd reacted to its event, and
engine.lists must not move between the event and the reaction (no resync ran).

  a  containers listed at start become enforced endpoints (labels, namespace, named ports)
  b  a start event adds a container; a remove event + inspect 404 removes it
  c  hostile event lines (malformed, non-object, unknown fields, wrong types, > 1 MiB, invalid
     UTF-8, deep nesting, ids that would inject into the request): segd stays up, logs, nothing
     else changes, later valid events still work
  d  hostile labels: 1000 labels, bad segd.io/ports, namespace or segd.io/ label: skipped or
     error with a clear message; labels no selector can name (a bad key, a 1 MiB value, a
     value no label value, a NUL): enforced, the key left out or the value unmatchable
     (checked with real packets); others unaffected
  e  a container gone between event and inspect; inspect answering 500, garbage, wrong types, a
     truncated body, slowly, or never: skipped, the API stays responsive, recovery afterwards
  f  the events stream cut mid-line; the engine socket removed and recreated (and refusing for
     a while): reconnect with backoff, a full resync converges
  g  a SandboxKey naming no netns / not a netns, a dead pid: clear error, no crash, no fd kept
  g2 Docker-shaped sandbox keys (EXEC_ROOT/netns/ID bind mounts): taken when the pid proves
     them; another namespace than the pid's, a FIFO, a symlink, no pid: refused; a key not
     visible here: the pid's namespace; the Compose project label as the namespace
  h  host network mode: unenforceable (and nothing installed anywhere)
  i  50 containers come and go: segd alive, fd count back at its baseline; sanitizer reports
     fail the run (Results.summary)

Usage: test_engine_input.py --segd BIN --segctl BIN --probe BIN
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from fake_engine import FakeEngine, new_id  # noqa: E402
from topology import (Results, Segd, Topology, eventually, policy_sets_text,  # noqa: E402
                      ruleset_signature)

RESYNC = 2          # --resync-interval
SETTLE = 2 * RESYNC + 1.5   # long enough for a resync to have happened whatever the phase
NS = "t"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--segd", required=True)
    ap.add_argument("--segctl", required=True)
    ap.add_argument("--probe", required=True)
    ap.add_argument("--churn", type=int, default=50, help="container lifecycles in (i)")
    ap.add_argument("--only", default="", help="comma-separated scenario letters to run "
                    "(a always runs: it sets up the containers), e.g. --only c,e2")
    a = ap.parse_args()

    res = Results()
    topo = Topology(a.probe)
    segd = Segd(a.segd, a.segctl)
    eng_sock = os.path.join(segd.workdir, "engine.sock")
    eng = FakeEngine(eng_sock).start()
    segd.extra_args = ["--engine", "unix://" + eng_sock, "--resync-interval", str(RESYNC)]
    sleepers = []

    # ------------------------------------------------------------------ helpers
    def sleeper(netns):
        """A process inside netns: the container's init (its /proc/PID/ns/net)."""
        p = subprocess.Popen(["ip", "netns", "exec", netns, "sleep", "100000"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sleepers.append(p)
        # wait until the exec happened: its netns differs from ours
        own = os.readlink("/proc/self/ns/net")
        for _ in range(200):
            try:
                if os.readlink("/proc/%d/ns/net" % p.pid) != own and \
                        open("/proc/%d/comm" % p.pid).read().strip() == "sleep":
                    break
            except OSError:
                pass
            time.sleep(0.01)
        return p.pid

    def container(name, labels=None, sandbox=True, ns_name=None, **kw):
        """An engine container living in topology netns ns_name (default: name)."""
        ns_name = ns_name or name
        if ns_name not in topo.endpoints:
            topo.add_endpoint(ns_name)
        netns = topo.endpoints[ns_name].netns
        pid = kw.pop("pid", None) or sleeper(netns)
        return eng.add_container(name, labels=labels, netns=("/run/netns/" + netns) if sandbox else "",
                                 pid=pid, **kw)

    def eps():
        return {e["name"]: e for e in segd.items("endpoints")}

    def ep_of(cid, all_eps=None):
        """The endpoint holding container cid (by id or containers[]), or None."""
        for e in (all_eps if all_eps is not None else eps()).values():
            if e.get("id") == cid or any(c.get("id") == cid for c in e.get("containers") or []):
                return e
        return None

    def wait_enforced(c, timeout=8.0):
        def prob():
            e = ep_of(c["id"])
            if not e:
                return "%s (%s) is not an endpoint" % (c["name"], c["id"][:12])
            if e.get("state") != "enforced":
                return "%s is %s: %s" % (c["name"], e.get("state"), e.get("error"))
            return None
        return eventually(prob, timeout, 0.2)

    def wait_gone(c, timeout=8.0):
        def prob():
            e = ep_of(c["id"])
            return e and "%s still an endpoint (%s)" % (c["name"], e.get("state"))
        return eventually(prob, timeout, 0.2)

    def log_offset():
        try:
            return os.path.getsize(segd.log_path)
        except OSError:
            return 0

    def log_since(off):
        try:
            with open(segd.log_path, "rb") as f:
                f.seek(off)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def warnings_in(text):
        """Lines above debug level: with a "<N>" prefix (journal) N <= 4; without one, lines
        lacking the " (file.c:LINE)" suffix of debug lines that are not plain info."""
        out = []
        for ln in text.splitlines():
            m = re.match(r"^<(\d)>", ln)
            if m:
                if int(m.group(1)) <= 4:
                    out.append(ln)
            elif ln and not re.search(r" \([^()]*\.c:\d+\)$", ln) and \
                    re.search(r"ignor|malformed|skip|invalid|fail|cannot|error|over \d+", ln, re.I):
                out.append(ln)
        return out

    def ref(e):
        """How to address an endpoint: its name, or an id prefix when the name is no RFC 1123
        label (segctl refuses those; reported as a failure elsewhere)."""
        n = e.get("name") or ""
        if re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", n) and len(n) <= 63:
            return n
        return (e.get("id") or n)[:12]

    def rules_sig(name):
        return ruleset_signature(segd.ctl_json("rules", name))

    def snapshot():
        """What must not change when bad input arrives: every endpoint (minus volatile
        fields) and the kernel ruleset of the enforced ones."""
        out = {}
        for n, e in eps().items():
            e = dict(e)
            out[n] = json.dumps(e, sort_keys=True)
            if e.get("state") == "enforced":
                out[n + "/rules"] = rules_sig(ref(e))
        return out

    def diff(before, after, only=None, rules=True):
        keys = sorted(set(before) | set(after))
        if only is not None:
            keys = [k for k in keys if k.split("/")[0] in only]
        if not rules:
            keys = [k for k in keys if not k.endswith("/rules")]
        out = []
        for k in keys:
            b, a_ = before.get(k) or "-", after.get(k) or "-"
            if b == a_:
                continue
            i = next((i for i in range(min(len(a_), len(b))) if a_[i] != b[i]), min(len(a_), len(b)))
            lo = max(0, i - 120)
            out.append("%s changed at char %d:\n  before ...%s\n  after  ...%s" % (
                k, i, b[lo:i + 180], a_[lo:i + 180]))
        return out

    def api_latency():
        t0 = time.monotonic()
        p = segd.ctl("status", timeout=30)
        return time.monotonic() - t0, p.returncode

    def fd_count():
        return len(os.listdir("/proc/%d/fd" % segd.proc.pid))

    def netns_fds():
        n = 0
        for fd in os.listdir("/proc/%d/fd" % segd.proc.pid):
            try:
                if os.readlink("/proc/%d/fd/%s" % (segd.proc.pid, fd)).startswith("net:["):
                    n += 1
            except OSError:
                pass
        return n

    def engine():
        """segd's engine counters (GET /v1/status .engine): socket, connected, queued, inflight,
        events (lines handled), lists (container lists completed: the first one and every
        resync), inspections (completed), connects. {} once segd is dead."""
        try:
            return segd.status().get("engine") or {}
        except RuntimeError:
            if not segd.alive():
                return {}
            raise

    def idle(e):
        return not e.get("queued") and not e.get("inflight")

    def wait_engine(pred, timeout, what):
        """Poll the engine counters until pred(engine) is true. Returns a problem or None."""
        last = {}

        def prob():
            last.clear()
            last.update(engine())
            if not segd.alive():
                return None  # the caller reports that
            return not pred(last) and "engine %s" % json.dumps(last, sort_keys=True)
        p = eventually(prob, timeout, 0.05)
        return p and "%s within %.0fs: %s" % (what, timeout, p)

    def after_resync(lists0=None, n=1):
        """Wait until segd completed n container lists beyond the counter value lists0 (default:
        the current one), i.e. n resyncs ran after that point, and then until the engine is
        idle: the inspections that the list started have finished. True on success. (With
        n=2 the last list surely was asked for after lists0 was read.)"""
        lists0 = engine().get("lists", 0) if lists0 is None else lists0
        return not wait_engine(lambda e: e.get("lists", 0) >= lists0 + n and idle(e),
                               n * (RESYNC + 1) + 10, "%d resync(s)" % n)

    def event_driven(c, action="start", timeout=4.0, attempts=3):
        """Proves that segd reacts to c's `action` event itself, not to a resync. c was added
        with listed=False: the engine's container list does not show it, so no list can make
        segd look at it. Right after a resync completed (the next one is ~RESYNC away) the
        event is emitted; then segd must have handled the line (engine.events grew), inspected
        c (the fake engine saw the request, engine.inspections grew) and made it an endpoint,
        while engine.lists stayed where it was: no resync ran meanwhile. Should one have run
        (a slow reaction), the attempt proves nothing and is repeated after the next resync
        (c, now known but unlisted, is inspected again on the event). c is listed afterwards.
        Returns a problem string or None."""
        try:
            for attempt in range(1, attempts + 1):
                if not eng.wait_streams(1, 10):
                    return "no events stream connected"
                if not after_resync():
                    return "no resync before the %s event for %s: %s" % (action, c["name"], engine())
                e0 = engine()
                t1 = time.monotonic()
                if not eng.emit_container_event(action, c["id"]):
                    return "no events stream connected"

                def reacted():
                    e = engine()
                    if e.get("events", 0) <= e0.get("events", 0):
                        return "segd handled no event line (events %s)" % e.get("events")
                    if not eng.inspects_of(c["id"], t1):
                        return "segd did not inspect %s after its %s event" % (c["name"], action)
                    if e.get("inspections", 0) <= e0.get("inspections", 0) or not idle(e):
                        return "the inspection of %s did not complete" % c["name"]
                    if not ep_of(c["id"]):
                        return "%s is not an endpoint" % c["name"]
                    return None
                p = eventually(reacted, timeout, 0.05)
                e1 = engine()  # read after the reaction was seen
                if p:
                    return "the %s event for %s: %s within %.0fs (engine counters before %s, " \
                        "after %s)" % (action, c["name"], p, timeout, json.dumps(e0, sort_keys=True),
                                       json.dumps(e1, sort_keys=True))
                if e1.get("lists") == e0.get("lists"):
                    if attempt > 1:
                        print("    note: event-driven reaction to %s shown on attempt %d" % (
                            c["name"], attempt), flush=True)
                    return None
            return "a resync ran during each of %d attempts to show that segd reacts to the %s " \
                "event for %s alone (lists %s -> %s)" % (attempts, action, c["name"],
                                                        e0.get("lists"), e1.get("lists"))
        finally:
            eng.set_listed(c["id"], True)

    def pending_inspect(c, since, timeout=10.0):
        """The first inspect request for c since `since` (fake engine record; "done" appears
        in it once the reply left), waiting for it to arrive; None if none came."""
        eventually(lambda: not eng.inspects_of(c["id"], since), timeout, 0.02)
        rq = eng.inspects_of(c["id"], since)
        return rq[0] if rq else None

    def expect_rejected(c, what, text_hint=None, timeout=None):
        """c must be skipped (absent, with a log line naming it) or be an error endpoint
        with a message; never enforced. Returns problems."""
        # Wait until segd inspected it at least once and that inspection completed: once the
        # fake engine saw the request, segd counts it in flight until it is done, and it
        # applies the reply before anything else; so the engine idle after that means the
        # verdict on c is in.
        probs = []
        p = eventually(lambda: not eng.inspects_of(c["id"]) and "no inspect request",
                       timeout or SETTLE, 0.05)
        p = p or wait_engine(idle, timeout or SETTLE, "the engine idle after inspecting %s" % c["name"])
        if p:
            probs.append("%s: %s" % (what, p))
        e = ep_of(c["id"]) or eps().get(c["name"])
        if e is None:
            text = log_since(0)
            if c["id"][:12] not in text and c["name"] not in text:
                probs.append("%s: skipped without a log line naming %s or %s" % (
                    what, c["name"], c["id"][:12]))
        elif e.get("state") == "enforced":
            probs.append("%s: enforced anyway (labels %s)" % (what, json.dumps(e.get("labels"))[:200]))
        elif e.get("state") not in ("error",):
            probs.append("%s: state %s, want error or skipped" % (what, e.get("state")))
        elif not e.get("error"):
            probs.append("%s: error state without a message" % what)
        elif text_hint and not re.search(text_hint, e["error"], re.I):
            probs.append("%s: message %r does not mention %s" % (what, e["error"], text_hint))
        else:
            print("    note: %s -> error: %s" % (what, e["error"][:160]), flush=True)
        if not eng.inspects_of(c["id"]):
            probs.append("%s: never inspected" % what)
        return probs

    # --------------------------------------------------------------- the setup
    pol = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": "web-from-client", "namespace": NS},
           "spec": {"podSelector": {"matchLabels": {"app": "web"}},
                    "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}],
                                 "ports": [{"port": "http", "protocol": "TCP"}]}]}}
    web = container("web", {"app": "web", "segd.io/namespace": NS,
                            "segd.io/ports": "http=80/TCP,admin=81/TCP"})
    client = container("client", {"app": "client", "segd.io/namespace": NS})
    other = container("other", {"app": "client", "io.kubernetes.pod.namespace": "k8sns"})
    plain = container("plainc", {"app": "plain"}, sandbox=False)  # /proc/PID/ns/net
    topo.start_server("web", tcp=(80, 81), udp=())
    try:
        segd.start()
    except RuntimeError as e:
        print("FAIL segd --engine unix://SOCK did not start: %s" % e, flush=True)
        print("0 passed, 1 failed", flush=True)
        eng.stop()
        return 1
    good = {}  # name -> container, all enforced and unchanged by bad input

    # ------------------------------------------------------------------ (a)
    def a_listed_at_start():
        for c in (web, client, other, plain):
            res.no_problems([p for p in [wait_enforced(c, 15)] if p], "start")
        p = segd.apply_objects([pol])
        res.check(p.returncode == 0, "apply failed: %s%s" % (p.stdout, p.stderr))
        all_eps = eps()
        want = {"web": (NS, {"app": "web"}, [("admin", 81, "TCP"), ("http", 80, "TCP")]),
                "client": (NS, {"app": "client"}, []),
                "other": ("k8sns", {"app": "client"}, []),
                "plainc": ("default", {"app": "plain"}, [])}
        for c in (web, client, other, plain):
            e = ep_of(c["id"], all_eps)
            if not res.check(e, "%s: no endpoint" % c["name"]):
                continue
            ns, labels, ports = want[c["name"]]
            res.check(e.get("name") == c["name"], "%s: endpoint name %r" % (c["name"], e.get("name")))
            res.check(e.get("kind") == "container", "%s: kind %r" % (c["name"], e.get("kind")))
            res.check(e.get("id") == c["id"], "%s: id %r" % (c["name"], e.get("id")))
            res.check(e.get("namespace") == ns, "%s: namespace %r, want %r" % (c["name"], e.get("namespace"), ns))
            got_labels = e.get("labels") or {}
            res.check(all(got_labels.get(k) == v for k, v in labels.items()),
                      "%s: labels %s lack %s" % (c["name"], got_labels, labels))
            got_ports = sorted((p.get("name"), p.get("port"), p.get("protocol")) for p in e.get("ports") or [])
            res.check(got_ports == sorted(ports), "%s: ports %s, want %s" % (c["name"], got_ports, ports))
            res.check(str(topo.endpoints[c["name"]].v4) in (e.get("addresses") or []),
                      "%s: addresses %s lack %s" % (c["name"], e.get("addresses"), topo.endpoints[c["name"]].v4))
            if c is not plain:
                res.check(e.get("netns") == c["netns"], "%s: netns %r, want %r" % (c["name"], e.get("netns"), c["netns"]))
        res.check(eng.stream_count() >= 1, "segd did not open the events stream")
        rq = eng.requests_matching("/events")
        if rq:
            f = rq[0]["query"].get("filters", ["{}"])[0]
            try:
                res.check(json.loads(f).get("type") == ["container"], "events filters %r" % f)
            except ValueError:
                res.check(False, "events filters not JSON: %r" % f)
        # the policy uses the named port "http" from segd.io/ports
        def traffic():
            bad = []
            for src, port, want_ok in (("client", 80, True), ("client", 81, False),
                                       ("other", 80, False), ("plainc", 80, False)):
                got = topo.can(src, "web", "tcp", port)
                if got != want_ok:
                    bad.append("%s -> web:%d %s, want %s" % (src, port, got, want_ok))
            return bad
        res.no_problems(eventually(traffic, 5, 0.3) or [], "traffic")
        r = segd.ctl_json("rules", "web")
        res.check(r.get("in_sync") is True, "web rules not in sync")
        good.update({"web": web, "client": client, "other": other, "plainc": plain})

    # ------------------------------------------------------------------ (b)
    def b_events_add_remove():
        late = container("late", {"app": "client", "segd.io/namespace": NS}, listed=False)
        p = event_driven(late)
        res.check(not p, p)
        res.no_problems([p for p in [wait_enforced(late, 4)] if p], "start event")
        res.check(eventually(lambda: not topo.can("late", "web", "tcp", 80), 5, 0.3) is False,
                  "late (app=client) cannot reach web:80 after its start event")
        res.check(str(topo.endpoints["late"].v4) in policy_sets_text(segd.ctl_json("rules", "web")),
                  "late's address is not in web's peer set")
        eng.remove_container(late["id"])
        t = time.monotonic()
        for action in ("kill", "die", "stop", "destroy"):
            eng.emit_container_event(action, late["id"], {"name": "late"})
        res.no_problems([p for p in [wait_gone(late, 3 * RESYNC)] if p], "remove event")
        ins = eng.inspects_of(late["id"], t)
        res.check(ins, "segd did not re-inspect late after its destroy event")
        res.check(str(topo.endpoints["late"].v4) not in policy_sets_text(segd.ctl_json("rules", "web")),
                  "late's address is still in web's peer set")
        # a start event for an existing container re-inspects it and changes nothing
        before = snapshot()
        e0 = engine()
        t = time.monotonic()
        eng.emit_container_event("start", web["id"])
        eng.emit_container_event("exec_start: sh", web["id"])
        # both lines handled and the re-inspection they asked for done
        p = wait_engine(lambda e: e.get("events", 0) >= e0.get("events", 0) + 2 and
                        e.get("inspections", 0) > e0.get("inspections", 0) and idle(e),
                        SETTLE, "two event lines handled and web re-inspected")
        res.check(not p, p)
        res.check(eng.inspects_of(web["id"], t), "segd did not re-inspect web after its start event")
        res.no_problems(diff(before, snapshot(), good), "repeated events")

    # ------------------------------------------------------------------ (c)
    def c_hostile_events():
        eng.wait_streams(1, 10)
        before = snapshot()
        off = log_offset()
        wid = web["id"]
        base = eng.container_event("start", wid)
        huge_attr = dict(base, Actor={"ID": wid, "Attributes": {"big": "x" * (1 << 20) + "y"}})
        nested = b"[" * 200000 + b"]" * 200000 + b"\n"
        nested_obj = b'{"a":' * 100000 + b"1" + b"}" * 100000 + b"\n"
        cases = [
            ("malformed JSON", b'{"Type":"container","Action":"start",\n'),
            ("garbage", b"{{{{ not json ]]]\n"),
            ("NUL bytes", b'{"Type":"container\x00","Action":"start","Actor":{"ID":"' + wid.encode() + b'"}}\n'),
            ("blank lines / CRLF", b"\n\r\n   \n\t\r\n"),
            ("non-object: array", b"[1,2,3]\n"),
            ("non-object: string", b'"start"\n'),
            ("non-object: number", b"42\n"),
            ("non-object: null", b"null\n"),
            ("non-object: true", b"true\n"),
            ("unknown fields", json.dumps(dict(base, Foo={"Bar": [1, 2, {"x": None}]},
                                               Actor=dict(base["Actor"], Extra=[1]))).encode() + b"\n"),
            ("wrong type: Action number", json.dumps(dict(base, Action=5, status=5)).encode() + b"\n"),
            ("wrong type: Actor string", json.dumps(dict(base, Actor="x")).encode() + b"\n"),
            ("wrong type: ID number", json.dumps(dict(base, id=123, Actor={"ID": 123, "Attributes": []})).encode() + b"\n"),
            ("wrong type: ID null", json.dumps(dict(base, id=None, Actor={"ID": None})).encode() + b"\n"),
            ("wrong type: Type object", json.dumps(dict(base, Type={"x": 1})).encode() + b"\n"),
            ("wrong type: time string", json.dumps(dict(base, time="now", timeNano=[1])).encode() + b"\n"),
            ("missing Actor and id", b'{"Type":"container","Action":"start"}\n'),
            ("empty id", json.dumps(dict(base, id="", Actor={"ID": "", "Attributes": {}})).encode() + b"\n"),
            ("id with path", json.dumps(dict(base, id="../../_ping", Actor={"ID": "../../_ping?x=1#"})).encode() + b"\n"),
            ("id with CRLF", json.dumps(dict(base, id="abc\r\nX-Injected: 1",
                                             Actor={"ID": "abc\r\nX-Injected: 1\r\n\r\nGET /x HTTP/1.1"})).encode() + b"\n"),
            ("id with spaces and %", json.dumps(dict(base, id="a b%00c", Actor={"ID": "a b%00c"})).encode() + b"\n"),
            ("id 100k chars", json.dumps(dict(base, id="a" * 100000, Actor={"ID": "a" * 100000})).encode() + b"\n"),
            ("other event type", json.dumps(dict(base, Type="network", Action="connect")).encode() + b"\n"),
            ("unknown action", json.dumps(dict(base, Action="teleport", status="teleport")).encode() + b"\n"),
            ("invalid UTF-8", b'{"Type":"container","Action":"st\xff\xfeart","Actor":{"ID":"' + wid.encode() +
             b'","Attributes":{"name":"\xc3\x28"}}}\n'),
            ("lone surrogate escape", b'{"Type":"container","Action":"start","Actor":{"ID":"\\ud800' + wid.encode() + b'"}}\n'),
            ("duplicate keys", b'{"Type":"container","Action":"start","Actor":{"ID":"' + wid.encode() +
             b'"},"Actor":{"ID":"x"}}\n'),
            ("line over 1 MiB (valid JSON)", json.dumps(huge_attr).encode() + b"\n"),
            ("line over 1 MiB (junk)", b"z" * ((1 << 20) + 100) + b"\n"),
            ("2 MiB without a newline, then one", b"{" * (2 << 20) + b"\n"),
            ("deeply nested array", nested),
            ("deeply nested object", nested_obj),
        ]
        streams_before = eng.streams_opened
        for what, data in cases:
            if not eng.wait_streams(1, 3 * RESYNC + 10):
                res.check(False, "no events stream before %s" % what)
                break
            e0 = engine()
            t = time.monotonic()
            if not eng.emit_raw(data):
                res.check(False, "no events stream took %s" % what)
                continue
            eng.wait_idle(5)
            # segd has taken the bytes in once it counted each of their lines, or (a line over
            # its limit) once it dropped the stream and opened a new one
            p = wait_engine(lambda e: e.get("events", 0) >= e0.get("events", 0) + data.count(b"\n") or
                            (e.get("connects", 0) > e0.get("connects", 0) and
                             eng.wait_streams(1, 0, opened_after=t)),
                            15, "segd took in the event line(s) of %s" % what)
            if not res.check(segd.alive(), "segd died after event line: %s" % what):
                break
            res.check(not p, p)
            lat, rc = api_latency()
            res.check(rc == 0 and lat < 3, "API after %s: rc %d in %.1fs" % (what, rc, lat))
        if not segd.alive():
            return
        if eng.streams_opened > streams_before:
            print("    note: segd reopened the events stream %d time(s) during the hostile lines"
                  % (eng.streams_opened - streams_before), flush=True)
        # whatever the lines set off (inspections, the lists after each reconnect) has finished
        # when a resync has run since and the engine is idle: then nothing may have changed
        res.check(after_resync(), "no resync after the hostile lines: %s" % engine())
        res.no_problems(diff(before, snapshot(), good), "after hostile event lines")
        bad_paths = [r["raw_path"] for r in eng.requests
                     if "_ping" in r["raw_path"] and "/containers/" in r["raw_path"]
                     or "X-Injected" in json.dumps(r["headers"]) or r["path"] == "/x"
                     or ("/containers/" in r["path"] and ".." in r["path"])]
        res.check(not bad_paths, "event ids reached the engine as paths/headers: %s" % bad_paths[:3])
        odd = [r["raw_path"][:80] for r in eng.requests
               if r["path"].startswith("/v1.41/containers/") and r["path"].count("/") != 4
               and r["path"] != "/v1.41/containers/json"]
        res.check(not odd, "segd sent inspect paths with extra segments: %s" % odd[:3])
        text = log_since(off)
        res.check(warnings_in(text), "no warning or error logged for the hostile event lines")
        res.check(len(text) < (1 << 20), "segd logged %d bytes for the hostile lines (copies engine "
                  "input wholesale?)" % len(text))
        # later valid events still work (and are event-driven, not only the resync)
        after = container("after-c", {"app": "client", "segd.io/namespace": NS}, listed=False)
        p = event_driven(after)
        res.check(not p, "after hostile lines: %s" % p)
        res.no_problems([p for p in [wait_enforced(after, 4)] if p], "valid event after hostile lines")
        res.check(topo.can("after-c", "web", "tcp", 80), "after-c cannot reach web:80")
        good["after-c"] = after

    # ------------------------------------------------------------------ (d)
    def d_hostile_labels():
        before = snapshot()
        nslab = {"segd.io/namespace": NS}
        specs = [
            ("many-labels", dict({"l%04d" % i: "v%d" % i for i in range(1000)}, **nslab), "label"),
            ("bad-ports", dict(nslab, app="w", **{"segd.io/ports": "http=99999/TCP,=80/XYZ,junk"}), "port"),
            ("bad-namespace", {"segd.io/namespace": "Not_Valid!", "app": "client"}, "namespace"),
            ("bad-segd-label", dict(nslab, **{"segd.io/namespace": "a\u0000b"}), "label"),
        ]
        # Labels no selector can name (engines allow any string): the container is enforced,
        # a bad key left out, a bad value kept but matching no selector value. app=client
        # reaches web:http; an unmatchable app does not.
        unmatchable = [
            ("big-label", dict(nslab, app="x" * (1 << 20))),
            ("bad-value", dict(nslab, app="x" * 64)),
            ("nul-label", dict(nslab, app="a\u0000b")),
            ("path-label", dict(nslab, app="/srv/shop", maintainer="A <a@b.c>")),
        ]
        bad_key = container("bad-key", dict(nslab, **{"-bad key!": "x", "app": "client"}))
        eng.emit_container_event("start", bad_key["id"])
        ucs = []
        for name, labels in unmatchable:
            c = container(name, labels)
            ucs.append(c)
            eng.emit_container_event("start", c["id"])
        cs = []
        for name, labels, hint in specs:
            c = container(name, labels)
            cs.append((c, name, hint))
            eng.emit_container_event("start", c["id"])
        # a Docker-legal name that is no RFC 1123 label
        odd = container("Odd_Name.1", {"app": "bystander", "segd.io/namespace": NS}, ns_name="odd-name")
        eng.emit_container_event("start", odd["id"])
        # one bad container must not poison the list: a container that only a resync can find
        # (no event) still appears
        quiet = container("quiet", {"app": "bystander", "segd.io/namespace": NS})
        p = wait_enforced(quiet, SETTLE + 2)
        res.check(not p, "with hostile-label containers listed, a resync-only container: %s "
                  "(one bad container breaks the whole list?)" % p)
        for c, name, hint in cs:
            res.no_problems(expect_rejected(c, name, hint), "hostile labels")
        # A container keeps its engine name (Docker allows [a-zA-Z0-9][a-zA-Z0-9_.-]*), and
        # segctl must be able to name it.
        e = ep_of(odd["id"])
        res.check(e and e.get("name") == "Odd_Name.1", "container Odd_Name.1 not listed under its name: %r" % e)
        if e:
            p = segd.ctl("rules", "Odd_Name.1", "-o", "json")
            res.check(p.returncode == 0, "segctl rules Odd_Name.1 failed: %s" % p.stderr.strip())
        else:
            res.no_problems(expect_rejected(odd, "Odd_Name.1"), "container name")
        for c in [bad_key] + ucs:
            res.no_problems([p for p in [wait_enforced(c, SETTLE)] if p], "labels no selector names")
        e = ep_of(bad_key["id"]) or {}
        res.check(sorted((e.get("labels") or {})) == ["app", "segd.io/namespace"],
                  "bad-key: labels %r, want the bad key left out" % e.get("labels"))
        for c in ucs:
            e = ep_of(c["id"]) or {}
            res.check((e.get("labels") or {}).get("app") == "<not-a-label-value>",
                      "%s: app=%r, want it unmatchable" % (c["name"], (e.get("labels") or {}).get("app", "")[:40]))
            res.check(not topo.can(c["name"], "web", "tcp", 80),
                      "%s (app no label value) reaches web:80" % c["name"])
        res.check(topo.can("bad-key", "web", "tcp", 80), "bad-key (app=client, one key left out) "
                  "cannot reach web:80")
        res.check(segd.alive(), "segd died on hostile labels")
        # and through a resync that sees them again (and its inspections)
        res.check(after_resync() or not segd.alive(), "no resync after the hostile labels: %s" % engine())
        res.check(segd.alive(), "segd died on hostile labels (resync)")
        res.no_problems(diff(before, snapshot(), good, rules=False), "with hostile labels")
        res.check(topo.can("client", "web", "tcp", 80) and not topo.can("other", "web", "tcp", 80),
                  "traffic to web changed after hostile labels")
        extra = [(c, c["name"], None) for c in [bad_key] + ucs]
        for c, _, _ in cs + extra:
            eng.remove_container(c["id"])
            eng.emit_container_event("destroy", c["id"])
        for c in (odd, quiet):
            eng.remove_container(c["id"])
            eng.emit_container_event("destroy", c["id"])
        for c, name, _ in cs + extra + [(odd, "odd", None), (quiet, "quiet", None)]:
            res.no_problems([p for p in [wait_gone(c, SETTLE)] if p], "removing " + name)
        res.no_problems(diff(before, snapshot(), good), "after hostile labels")

    # ------------------------------------------------------------------ (e)
    def e_inspect_failures():
        before = snapshot()
        off = log_offset()
        # died between its start event and the inspect
        ghost = new_id()
        eng.emit(eng.container_event("start", ghost, {"name": "ghost", "app": "client"}))
        # listed as running, but gone by the time of the inspect
        racer = container("racer", {"app": "client", "segd.io/namespace": NS})
        eng.set_inspect(racer["id"], status=404)
        eng.emit_container_event("start", racer["id"])
        bad = {
            "i500": dict(status=500),
            "igarbage": dict(body=b"\x00\xff{not json at all"),
            "iempty": dict(body=b""),
            "iarray": dict(body=[1, 2, 3]),
            "itypes": dict(body={"Id": 5, "Name": ["x"], "State": "running",
                                 "Config": {"Labels": ["a=b"]}, "HostConfig": None,
                                 "NetworkSettings": {"SandboxKey": 7}}),
            "ipidstr": None,  # filled below: valid shape, Pid a string, no SandboxKey
            "itrunc": dict(truncate=40),
            "ihtml": dict(status=200, body="<html>proxy error</html>", ctype="text/html"),
        }
        cs = {}
        for name, o in bad.items():
            c = container(name, {"app": "client", "segd.io/namespace": NS})
            if o is None:
                body = eng.inspect_json(c)
                body["State"]["Pid"] = "%d" % c["pid"]
                body["NetworkSettings"]["SandboxKey"] = ""
                o = dict(body=body)
            eng.set_inspect(c["id"], **o)
            cs[name] = c
            eng.emit_container_event("start", c["id"])
        res.no_problems(expect_rejected(racer, "inspect 404 after list"), "racer")
        for name, c in cs.items():
            res.no_problems(expect_rejected(c, "inspect " + name), name)
        res.check(ep_of(ghost) is None and "ghost" not in eps(), "a container that died before its "
                  "inspect became an endpoint")
        res.check(segd.alive(), "segd died on failing inspects")
        res.no_problems(diff(before, snapshot(), good), "after failing inspects")
        res.check(warnings_in(log_since(off)), "nothing logged for failing inspects")
        # recovery: the engine answers properly again -> they converge on the next resync
        eng.clear_inspect()
        for name, c in cs.items():
            res.no_problems([p for p in [wait_enforced(c, SETTLE + 3)] if p], "recovery of " + name)
        res.no_problems([p for p in [wait_enforced(racer, SETTLE)] if p], "recovery of racer")

        # a slow inspect must not block the control API nor other containers
        slow = container("slowc", {"app": "client", "segd.io/namespace": NS})
        t_slow = time.monotonic()
        eng.set_inspect(slow["id"], delay=6, times=1)  # the first inspect from now on
        eng.emit_container_event("start", slow["id"])
        rq_slow = pending_inspect(slow, t_slow)
        lat, rc = api_latency()
        res.check(rq_slow and "done" not in rq_slow, "the slow inspect was not pending while the "
                  "API was measured")
        res.check(rc == 0 and lat < 1.5, "control API blocked %.1fs (rc %d) behind a slow engine "
                  "inspect" % (lat, rc))
        res.no_problems([p for p in [wait_enforced(slow, 12)] if p], "slow inspect")
        # ... and its stale reply (state as of the request: running), landing after the
        # container was removed and reported gone, must not bring it back
        eng.remove_container(slow["id"])
        eng.emit_container_event("destroy", slow["id"])
        res.no_problems([p for p in [wait_gone(slow, SETTLE)] if p], "slow container removal")
        t_gone = time.monotonic()
        # The stale reply leaves the fake engine 6 s after its request; once it has left and
        # segd has nothing in flight any more, segd has dealt with it: then look.
        p = rq_slow and eventually(lambda: "done" not in rq_slow and "the slow reply has not left",
                                   6 + 5, 0.1)
        p = p or (rq_slow and wait_engine(idle, 10, "the engine idle after the slow reply"))
        res.check(rq_slow and not p, "the stale reply: %s" % p)
        if rq_slow and rq_slow.get("done", 0) < t_gone:
            print("    note: the slow reply left before slowc was reported gone", flush=True)
        back = ep_of(slow["id"])
        res.check(not back, "a stale inspect reply (sent before the container was removed, "
                  "delivered after its 404) resurrected endpoint %s (state %s)" % (
                      back and back.get("name"), back and back.get("state")))
        res.no_problems([p for p in [wait_gone(slow, SETTLE)] if p], "slow container, later")

        # an inspect that never answers: the API stays up; segd times out and goes on
        hang = container("hangc", {"app": "client", "segd.io/namespace": NS})
        t_hang = time.monotonic()
        eng.set_inspect(hang["id"], hang=40, times=1)
        eng.emit_container_event("start", hang["id"])
        rq_hang = pending_inspect(hang, t_hang)
        lat, rc = api_latency()
        res.check(rq_hang and "done" not in rq_hang, "the hung inspect was not pending while the "
                  "API was measured")
        res.check(rc == 0 and lat < 1.5, "control API blocked %.1fs (rc %d) behind a hung engine "
                  "request" % (lat, rc))
        nxt = container("nextc", {"app": "client", "segd.io/namespace": NS})
        eng.emit_container_event("start", nxt["id"])
        p = wait_enforced(nxt, 25)
        res.check(not p, "a container started while another inspect hangs: %s (no request "
                  "timeout on the engine client?)" % p)
        res.no_problems([p for p in [wait_enforced(hang, 45)] if p], "hung inspect, later")
        res.check(segd.alive(), "segd died")
        for c in [racer, hang, nxt] + list(cs.values()):
            eng.remove_container(c["id"])
            eng.emit_container_event("destroy", c["id"])
        for c in [racer, hang, nxt] + list(cs.values()):
            res.no_problems([p for p in [wait_gone(c, SETTLE)] if p], "cleanup")

    # ----------------------------------------------------------------- (e2)
    def e2_list_failures():
        """A failing or partly garbage container list is not an empty one: nothing is removed."""
        before = snapshot()
        real = lambda: eng.list_json()  # noqa: E731
        cases = [
            ("list 500", dict(status=500)),
            ("list 404", dict(status=404)),
            ("list garbage", dict(body=b"\x00\xffnot json")),
            ("list object", dict(body={"message": "page not found"})),
            ("list truncated", dict(truncate=50)),
            ("list empty body", dict(body=b"")),
            ("list over 64 MiB", dict(body=b"[" + b" " * (64 << 20) + b"]")),
            ("list with junk entries", None),
        ]
        for what, o in cases:
            if o is None:
                o = dict(body=real() + [{"Id": 5}, "string", None, [], {"Id": "../../x"},
                                        {"Id": "a" * 100000}, {"Names": "x", "Labels": []}])
            eng.set_list(**o)
            # two lists completed since: the second was surely asked for after set_list
            ok = after_resync(n=2)
            res.check(segd.alive(), "segd died on %s" % what)
            if not segd.alive():
                return
            res.check(ok, "%s: no two resyncs: %s" % (what, engine()))
            res.no_problems(diff(before, snapshot(), good), what)
        eng.clear_list()
        # and the engine's real list still converges afterwards
        fresh = container("fresh", {"app": "bystander", "segd.io/namespace": NS})
        res.no_problems([p for p in [wait_enforced(fresh, SETTLE)] if p], "after list failures")
        eng.remove_container(fresh["id"])
        res.no_problems([p for p in [wait_gone(fresh, SETTLE)] if p], "after list failures")

    # ------------------------------------------------------------------ (f)
    def f_stream_and_socket_loss():
        before = snapshot()
        n0 = eng.streams_opened
        t0 = time.monotonic()
        lists0 = engine().get("lists", 0)
        eng.wait_streams(1, 10)
        res.check(eng.drop_streams(partial=b'{"Type":"container","Action":"destroy","Actor":{"ID":"'
                                   + web["id"][:20].encode()) >= 1, "no stream to drop")
        res.check(eng.wait_streams(1, 15, opened_after=t0), "segd did not reopen the events stream "
                  "within 15s after it was cut mid-line")
        res.check(eng.streams_opened > n0, "no new events stream")
        res.check(after_resync(lists0), "no resync (list) after the events stream came back")
        res.no_problems(diff(before, snapshot(), good), "after a stream cut mid-line")
        # the half line must not be glued to the new stream's first event
        post = container("post-cut", {"app": "client", "segd.io/namespace": NS}, listed=False)
        p = event_driven(post)
        res.check(not p, "after a stream cut: %s" % p)
        res.no_problems([p for p in [wait_enforced(post, 4)] if p], "event after a cut")

        # clean end of stream (terminating chunk): reconnect too
        t0 = time.monotonic()
        eng.close_streams()
        res.check(eng.wait_streams(1, 15, opened_after=t0), "segd did not reopen the events stream "
                  "after the engine ended it cleanly")

        # the engine goes away (socket removed), things change meanwhile, it comes back
        doomed = container("doomed", {"app": "client", "segd.io/namespace": NS})
        res.no_problems([p for p in [wait_enforced(doomed, SETTLE)] if p], "doomed")
        before = snapshot()
        e0 = engine()
        eng.stop()
        res.check(not os.path.exists(eng_sock), "socket still there")
        # segd saw it go: disconnected, and tried again at least twice since, each time with a
        # container list that failed (a failed list must not read as an empty one)
        p = wait_engine(lambda e: not e.get("connected") and
                        e.get("connects", 0) >= e0.get("connects", 0) + 2 and
                        e.get("lists", 0) >= e0.get("lists", 0) + 2,
                        3 * RESYNC + 10, "two reconnect attempts and lists while the engine is away")
        res.check(not p, p)
        res.check(segd.alive(), "segd died when the engine went away")
        lat, rc = api_latency()
        res.check(rc == 0 and lat < 1.5, "API while the engine is down: rc %d, %.1fs" % (rc, lat))
        res.no_problems(diff(before, snapshot(), list(good) + ["doomed", "post-cut"]),
                        "endpoints changed while the engine was unreachable")
        born = container("born", {"app": "client", "segd.io/namespace": NS})
        eng.remove_container(doomed["id"])
        # back, but broken for a while: accepts and hangs up at once -> count the attempts
        eng.refuse_connections = True
        acc0 = eng.connections_accepted
        eng.start()
        # Not synchronisation: the window is the measurement (connection attempts per 6 s
        # against an engine that hangs up at once show whether segd backs off).
        time.sleep(6)
        attempts = eng.connections_accepted - acc0
        res.check(attempts <= 30, "%d connection attempts in 6s against a broken engine "
                  "(no backoff?)" % attempts)
        res.check(segd.alive(), "segd died against an engine that hangs up")
        eng.refuse_connections = False
        # then healthy: socket removed and recreated once more
        eng.restart()
        t_back = time.monotonic()
        p1 = wait_enforced(born, 45)
        p2 = wait_gone(doomed, 45)
        res.check(not p1, "after the engine came back: %s" % p1)
        res.check(not p2, "after the engine came back: %s" % p2)
        res.check(eng.wait_streams(1, 5), "no events stream after the engine came back")
        print("    note: converged %.1fs after the engine came back (%d attempts while broken)"
              % (time.monotonic() - t_back, attempts), flush=True)
        res.no_problems(diff(before, snapshot(), good, rules=False),
                        "survivors after the engine came back")
        res.check(topo.can("born", "web", "tcp", 80), "born cannot reach web:80")
        for c in (born, post):
            eng.remove_container(c["id"])
            eng.emit_container_event("destroy", c["id"])
            res.no_problems([p for p in [wait_gone(c, SETTLE)] if p], "cleanup")

    # ------------------------------------------------------------------ (g)
    def g_bad_netns():
        before = snapshot()
        after_resync()  # fds counted in the same state before and after: a list done, idle
        fds0 = fd_count()
        dead = subprocess.Popen(["true"])
        dead.wait()
        cases = [
            ("nonetns", dict(netns="/run/netns/" + topo.prefix + "does-not-exist",
                             pid=dead.pid), "netns|namespace|no such|exist"),
            ("deadpid", dict(netns="", pid=dead.pid), "pid|process|no such|exist|namespace"),
            ("notnetns", dict(netns="/etc/hostname", pid=dead.pid), "netns|namespace"),
            ("dirnetns", dict(netns="/run/netns", pid=dead.pid), "netns|namespace"),
            ("relnetns", dict(netns="run/netns/x", pid=dead.pid), "netns|namespace|path"),
            ("zeropid", dict(netns="", pid=0), "pid|namespace"),
            ("negpid", dict(netns="", pid=-5), "pid|namespace"),
        ]
        cs = []
        for name, kw, hint in cases:
            c = eng.add_container(name, labels={"app": "client", "segd.io/namespace": NS}, **kw)
            cs.append((c, name, hint))
            eng.emit_container_event("start", c["id"])
        for c, name, hint in cs:
            res.no_problems(expect_rejected(c, name, hint), "bad netns")
        res.check(segd.alive(), "segd died on bad namespaces")
        res.no_problems(diff(before, snapshot(), good), "after bad namespaces")
        for c, _, _ in cs:
            eng.remove_container(c["id"])
            eng.emit_container_event("destroy", c["id"])
        for c, name, _ in cs:
            res.no_problems([p for p in [wait_gone(c, SETTLE)] if p], "removing " + name)
        res.check(after_resync(), "no resync after removing the bad namespaces: %s" % engine())
        res.check(fd_count() <= fds0 + 1, "fds %d -> %d after bad namespaces" % (fds0, fd_count()))

    # ----------------------------------------------------------------- (g2)
    def g2_docker_sandbox():
        """Docker's sandbox keys: EXEC_ROOT/netns/ID, a bind mount of the namespace. Taken when
        the container's pid is in that namespace; an engine that names another namespace, a
        FIFO, a symlink, or a path with no process to prove it is refused."""
        exec_netns = "/run/%sexec/netns" % topo.prefix
        os.makedirs(exec_netns, exist_ok=True)
        mounts = []

        def bind(ns_name, key):
            path = os.path.join(exec_netns, key)
            open(path, "w").close()
            subprocess.run(["mount", "--bind", "/run/netns/" + topo.endpoints[ns_name].netns,
                            path], check=True)
            mounts.append(path)
            return path

        def own(name):
            topo.add_endpoint(name)
            return sleeper(topo.endpoints[name].netns)

        before = snapshot()
        compose = {"app": "client", "com.docker.compose.project": NS}
        pid_ok = own("dkok")
        ok = eng.add_container("dkok", labels=compose, netns=bind("dkok", "0a1b2c3d4e5f"),
                               pid=pid_ok)
        gone = eng.add_container("dkgone", labels=compose, pid=own("dkgone"),
                                 netns=os.path.join(exec_netns, "not-there"))
        liar = eng.add_container("dkliar", labels=compose, pid=own("dkliar"),
                                 netns=bind("web", "5e5e5e5e5e5e"))
        fifo_path = os.path.join(exec_netns, "fifo")
        os.mkfifo(fifo_path)
        fifo = eng.add_container("dkfifo", labels=compose, pid=own("dkfifo"), netns=fifo_path)
        link_path = os.path.join(exec_netns, "link")
        pid_link = own("dklink")
        os.symlink(bind("dklink", "1c1c1c1c1c1c"), link_path)
        link = eng.add_container("dklink", labels=compose, pid=pid_link, netns=link_path)
        topo.add_endpoint("dknopid")
        nopid = eng.add_container("dknopid", labels=compose, pid=0,
                                  netns=bind("dknopid", "2d2d2d2d2d2d"))
        cs = [ok, gone, liar, fifo, link, nopid]
        for c in cs:
            eng.emit_container_event("start", c["id"])
        for c in (ok, gone):
            res.no_problems([p for p in [wait_enforced(c, SETTLE)] if p], c["name"])
        e = ep_of(ok["id"]) or {}
        res.check(e.get("netns") == os.path.join(exec_netns, "0a1b2c3d4e5f"),
                  "dkok: netns %r, want the engine's sandbox key" % e.get("netns"))
        res.check(e.get("namespace") == NS, "dkok: namespace %r from the Compose project label, "
                  "want %s" % (e.get("namespace"), NS))
        e = ep_of(gone["id"]) or {}
        res.check(re.fullmatch(r"/proc/\d+/ns/net", e.get("netns") or "") is not None,
                  "dkgone: netns %r, want the pid's (the engine's path is not there)"
                  % e.get("netns"))
        # real packets: a client of namespace NS (by its Compose project) reaches web's http
        res.check(topo.can("dkok", "web", "tcp", 80), "dkok (Compose project %s) cannot reach "
                  "web:80" % NS)
        res.check(not topo.can("dkok", "web", "tcp", 81), "dkok reaches web:81")
        for c, what, hint in (
                (liar, "another namespace than its pid's", "not the network namespace of the "
                 "container's process"),
                (fifo, "a FIFO as sandbox key", "not a network namespace"),
                (link, "a symlink as sandbox key", "not a network namespace"),
                (nopid, "a sandbox key with no pid", "no process")):
            res.no_problems(expect_rejected(c, what, hint), "docker sandbox")
        lat, rc = api_latency()
        res.check(rc == 0 and lat < 1.5, "API after a FIFO sandbox key: rc %d, %.1fs" % (rc, lat))
        # web's namespace, named by the liar, is untouched: the same endpoint (its peer sets
        # hold dkok and dkgone now; the rules are compared once they are gone)
        res.no_problems(diff(before, snapshot(), good, rules=False),
                        "with Docker-shaped sandbox keys")
        for c in cs:
            eng.remove_container(c["id"])
            eng.emit_container_event("destroy", c["id"])
        for c in cs:
            res.no_problems([p for p in [wait_gone(c, SETTLE)] if p], "removing " + c["name"])
        res.no_problems(diff(before, snapshot(), good), "after Docker-shaped sandbox keys")
        for m in mounts:
            subprocess.run(["umount", "-l", m], check=False)
        subprocess.run(["rm", "-rf", os.path.dirname(exec_netns)], check=False)

    # ------------------------------------------------------------------ (h)
    def h_host_network():
        before = snapshot()
        # SandboxKey/pid point at a namespace of ours: if segd ignored NetworkMode it would
        # enforce there, not in the host's namespace.
        hc = container("hostnet", {"app": "client", "segd.io/namespace": NS}, ns_name="hostsim",
                       network_mode="host")
        eng.emit_container_event("start", hc["id"])

        def prob():
            e = ep_of(hc["id"]) or eps().get("hostnet")
            if not e:
                return "host-network container is not an endpoint"
            if e.get("state") != "unenforceable":
                return "state %s, want unenforceable" % e.get("state")
            if not e.get("error"):
                return "unenforceable without a reason"
            return None
        res.check(not eventually(prob, SETTLE, 0.3), str(prob()))
        res.check(topo.nft_table("hostsim") is None, "segd installed a table for a host-network "
                  "container (in its SandboxKey namespace)")
        res.no_problems(diff(before, snapshot(), good), "after a host-network container")
        # a container joining web's namespace is a second container of web's endpoint
        joined = eng.add_container("web-sidecar", labels={"app": "web", "segd.io/namespace": NS},
                                   netns="", pid=sleeper(topo.endpoints["web"].netns),
                                   network_mode="container:" + web["id"])
        eng.emit_container_event("start", joined["id"])

        def sidecar_joined():
            ids = [c.get("id") for c in (eps().get("web") or {}).get("containers") or []]
            return joined["id"] not in ids and "web's containers %s lack the sidecar" % [
                i[:12] for i in ids if i]
        eventually(sidecar_joined, SETTLE, 0.2)
        # and through a resync that sees it again
        res.check(after_resync() or not segd.alive(), "no resync after the sidecar joined: %s" % engine())
        res.check(segd.alive(), "segd died on a container:<id> network mode")
        e = eps().get("web") or {}
        res.check(e.get("state") == "enforced", "web is %s after a sidecar joined" % e.get("state"))
        res.check(rules_sig("web") == before.get("web/rules"), "web's rules changed when a sidecar joined")
        ids = [c.get("id") for c in e.get("containers") or []]
        res.check(joined["id"] in ids, "web's containers %s lack the sidecar" % [i[:12] for i in ids if i])
        for c in (hc, joined):
            eng.remove_container(c["id"])
            eng.emit_container_event("destroy", c["id"])
        res.no_problems([p for p in [wait_gone(hc, SETTLE)] if p], "removing hostnet")
        e = eps().get("web") or {}

        def sidecar_left():
            ids = [c.get("id") for c in (eps().get("web") or {}).get("containers") or []]
            return joined["id"] in ids and "web still lists the removed sidecar"
        res.check(not eventually(sidecar_left, SETTLE, 0.3), "web still lists the removed sidecar")
        res.check((eps().get("web") or {}).get("state") == "enforced", "web not enforced after the sidecar left")

    # ------------------------------------------------------------------ (i)
    def i_churn():
        eng.clear_inspect()
        # fds counted in the same state before and after: a resync done, the engine idle
        res.check(after_resync(), "no resync before the churn: %s" % engine())
        fds0, nfds0 = fd_count(), netns_fds()
        pool = ["churn%d" % i for i in range(5)]
        for n in pool:
            if n not in topo.endpoints:
                topo.add_endpoint(n)
        pool_pids = {n: sleeper(topo.endpoints[n].netns) for n in pool}
        done, rnd = 0, 0
        while done < a.churn:
            batch = []
            for n in pool[:min(len(pool), a.churn - done)]:
                c = eng.add_container("c%d-%s" % (rnd, n), labels={"app": "client", "segd.io/namespace": NS},
                                      netns="/run/netns/" + topo.endpoints[n].netns,
                                      pid=pool_pids[n])
                batch.append(c)
                eng.emit_container_event("create", c["id"])
                eng.emit_container_event("start", c["id"])
            for c in batch:
                p = wait_enforced(c, SETTLE)
                if p:
                    res.check(False, "churn round %d: %s" % (rnd, p))
                    return
            for c in batch:
                eng.remove_container(c["id"])
                for action in ("kill", "die", "stop", "destroy"):
                    eng.emit_container_event(action, c["id"], {"name": c["name"]})
            for c in batch:
                p = wait_gone(c, SETTLE)
                if p:
                    res.check(False, "churn round %d: %s" % (rnd, p))
                    return
            done += len(batch)
            rnd += 1
        res.check(after_resync(), "no resync after the churn: %s" % engine())
        fds1, nfds1 = fd_count(), netns_fds()
        print("    note: fds %d -> %d, netns fds %d -> %d over %d lifecycles" % (
            fds0, fds1, nfds0, nfds1, done), flush=True)
        res.check(fds1 <= fds0 + 2, "fd leak: %d -> %d after %d containers came and went" % (fds0, fds1, done))
        res.check(nfds1 <= nfds0, "netns fd leak: %d -> %d" % (nfds0, nfds1))
        left = [n for n in eps() if n.startswith("c") and "-churn" in n]
        res.check(not left, "churned endpoints left: %s" % left[:5])
        res.check(segd.alive(), "segd died during churn")
        res.check(topo.can("client", "web", "tcp", 80) and not topo.can("other", "web", "tcp", 80),
                  "traffic to web changed after churn")
        res.check(segd.ctl_json("rules", "web").get("in_sync") is True, "web out of sync after churn")

    scenarios = [
        ("a: containers listed at start are enforced (labels, namespace, ports)", a_listed_at_start),
        ("b: start event adds, remove event + inspect 404 removes", b_events_add_remove),
        ("c: hostile event lines are logged and skipped", c_hostile_events),
        ("d: hostile labels are skipped or an error", d_hostile_labels),
        ("e: inspect 404/500/garbage/slow/hung", e_inspect_failures),
        ("e2: a failing or partly garbage list removes nothing", e2_list_failures),
        ("f: stream cut mid-line, engine socket gone and back", f_stream_and_socket_loss),
        ("g: missing netns, dead pid", g_bad_netns),
        ("g2: Docker sandbox keys: proved by the pid, else refused", g2_docker_sandbox),
        ("h: host network is unenforceable; container:<id> joins", h_host_network),
        ("i: %d containers come and go without an fd leak" % a.churn, i_churn),
    ]
    only = set(x for x in a.only.split(",") if x)
    for name, fn in scenarios:
        if only and name.split(":")[0] not in only | {"a"}:
            continue
        if not segd.alive():
            res.run(name, lambda: res.check(False, "segd is not running"))
            continue
        res.run(name, fn)
    res.run("segd is alive at the end", lambda: res.check(segd.alive(), "segd exited with %s" % (
        segd.proc.returncode if segd.proc else None)))

    if res.failed:
        print("segd log tail:\n" + segd.log_tail(60))
    rc = res.summary()  # stops segd, reads its log for sanitizer reports
    eng.stop()
    for p in sleepers:
        p.kill()
        p.wait()
    segd.close()
    topo.close()
    return rc


if __name__ == "__main__":
    sys.exit(main())
