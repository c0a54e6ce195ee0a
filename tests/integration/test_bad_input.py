#!/usr/bin/env python3
"""Hostile input against a running segd: every bad request gets a clear error, the daemon keeps
running, and nothing else changes (the kernel ruleset of an enforced endpoint is compared before
and after). Also: a vanished network namespace, and a caller that is neither root nor in the
segd group.

Usage: test_bad_input.py --segd BIN --segctl BIN --probe BIN
"""

import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import topology  # noqa: E402
from topology import Results, Segd, Topology, binaries_args, eventually  # noqa: E402

MAX_BODY = 4 * 1024 * 1024


def http(sock_path, method, path, body=b"", timeout=20, raw=None):
    """One HTTP/1.1 request over the unix socket; returns (status, parsed JSON or None)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    try:
        if raw is not None:
            s.sendall(raw)
        else:
            head = ("%s %s HTTP/1.1\r\nHost: segd\r\nContent-Length: %d\r\n"
                    "Connection: close\r\n\r\n" % (method, path, len(body))).encode()
            s.sendall(head)
            try:
                s.sendall(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may answer and close before reading an oversized body
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    if not data:
        return None, None
    head, _, payload = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    if b"Transfer-Encoding: chunked" in head:
        out, rest = b"", payload
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size, 16)
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2:]
        payload = out
    try:
        return status, json.loads(payload) if payload else None
    except ValueError:
        return status, None


def ruleset(segd, name):
    o = segd.ctl_json("rules", name)
    for c in o.get("chains", []):
        for r in c.get("rules", []):
            r.pop("packets", None)
            r.pop("bytes", None)
    for s in o.get("sets", []):
        if "dynamic" in (s.get("flags") or []):  # peers4/peers6 move with traffic
            s.pop("elements", None)
    return json.dumps({"chains": o.get("chains"), "sets": o.get("sets")}, sort_keys=True)


NP = ('{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy",'
      '"metadata":{"name":"%s","namespace":"t"},"spec":%s}')


def main():
    a = binaries_args()

    res = Results()
    topo = Topology(a.probe)
    segd = Segd(a.segd, a.segctl).start()
    for n in ("a", "b", "gone"):
        topo.add_endpoint(n)
    segd.endpoint_add("a", topo.endpoints["a"].netns, "t", {"app": "a"})
    segd.endpoint_add("b", topo.endpoints["b"].netns, "t", {"app": "b"})
    good = NP % ("allow-b", '{"podSelector":{"matchLabels":{"app":"a"}},"ingress":[{"from":'
                 '[{"podSelector":{"matchLabels":{"app":"b"}}}]}]}')
    st, _ = http(segd.socket, "POST", "/v1/apply?file=good.json", good.encode())
    assert st == 200, "baseline apply failed: %s" % st
    baseline = ruleset(segd, "a")

    def unchanged(what):
        res.check(segd.alive(), "segd died after %s" % what)
        if segd.alive():
            res.check(ruleset(segd, "a") == baseline, "ruleset of a changed after %s" % what)
            pols = segd.ctl_json("get", "networkpolicies", "-A")["items"]
            res.check([p["metadata"]["name"] for p in pols] == ["allow-b"],
                      "policies changed after %s: %s" % (what, [p["metadata"]["name"] for p in pols]))

    def expect_error(what, status, body, want_status, want_text=None, want_path=None):
        res.check(status == want_status, "%s: HTTP %s, want %s (%s)" % (what, status, want_status, body))
        if body is not None:
            err = body.get("error", {})
            text = json.dumps(err)
            res.check("message" in err, "%s: no error message: %s" % (what, body))
            if want_text:
                res.check(want_text in text, "%s: %r not in %s" % (what, want_text, text))
            if want_path:
                paths = [d.get("path") for d in err.get("diagnostics", [])]
                res.check(want_path in paths, "%s: no diagnostic at %s: %s" % (what, want_path, text))
                for d in err.get("diagnostics", []):
                    res.check(d.get("line", 0) > 0 and d.get("column", 0) > 0,
                              "%s: diagnostic without position: %s" % (what, d))
        unchanged(what)

    def oversized():
        body = b'{"kind":"List","apiVersion":"v1","items":[' + b" " * (MAX_BODY + 10) + b"]}"
        st, o = http(segd.socket, "POST", "/v1/apply?file=big.json", body)
        expect_error("oversized body", st, o, 413, "limit")

    def invalid_utf8():
        body = (NP % ("bad-\xff", '{"podSelector":{}}')).encode("latin-1")
        st, o = http(segd.socket, "POST", "/v1/apply?file=u.json", body)
        expect_error("invalid UTF-8", st, o, 400)

    def duplicate_keys():
        body = NP % ("dup", '{"podSelector":{},"podSelector":{}}')
        st, o = http(segd.socket, "POST", "/v1/apply?file=d.json", body.encode())
        expect_error("duplicate key (JSON)", st, o, 400, "duplicate")
        y = ("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: d\n"
             "  namespace: t\nspec:\n  podSelector: {}\n  podSelector: {}\n")
        st, o = http(segd.socket, "POST", "/v1/apply?file=d.yaml", y.encode())
        expect_error("duplicate key (YAML)", st, o, 400, "duplicate")

    def unknown_kind_and_field():
        st, o = http(segd.socket, "POST", "/v1/apply?file=k.json",
                     b'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}')
        expect_error("unknown kind", st, o, 400, "kind")
        body = NP % ("f", '{"podSelector":{},"ingress":[{"form":[]}]}')
        st, o = http(segd.socket, "POST", "/v1/apply?file=f.json", body.encode())
        expect_error("unknown field", st, o, 400, 'unknown field \\"form\\"', "spec.ingress[0]")

    def bad_selector():
        body = NP % ("s", '{"podSelector":{"matchExpressions":[{"key":"app","operator":"In"}]}}')
        st, o = http(segd.socket, "POST", "/v1/apply?file=s.json", body.encode())
        expect_error("In without values", st, o, 400)
        body = NP % ("s", '{"podSelector":{"matchLabels":{"-bad key":"x"}}}')
        st, o = http(segd.socket, "POST", "/v1/apply?file=s.json", body.encode())
        expect_error("invalid label key", st, o, 400)

    def one_bad_among_good():
        # All or nothing: a valid policy in the same file is not applied either.
        items = [json.loads(NP % ("p%d" % i, '{"podSelector":{}}')) for i in range(20)]
        items.append(json.loads(NP % ("broken", '{"podSelector":{},"ingress":[{"ports":'
                                      '[{"port":80,"endPort":70}]}]}')))
        body = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
        st, o = http(segd.socket, "POST", "/v1/apply?file=many.json", body.encode())
        expect_error("one bad policy among 20 good ones", st, o, 400, "endPort",
                     "items[20].spec.ingress[0].ports[0].endPort")

    def too_many_documents():
        doc = "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n"
        st, o = http(segd.socket, "POST", "/v1/apply?file=docs.yaml", (doc * 5000).encode())
        expect_error("too many documents", st, o, 400)

    def yaml_alias_bomb():
        y = ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
             "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\n")
        st, o = http(segd.socket, "POST", "/v1/apply?file=bomb.yaml", y.encode())
        expect_error("YAML aliases", st, o, 400)

    def garbage_http():
        # A connection sending junk (or nothing) must not hold up anyone else.
        junk = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        junk.connect(segd.socket)
        junk.sendall(b"\x00\x01\x02 garbage\r\n\r\n")
        idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        idle.connect(segd.socket)
        idle.sendall(b"POST /v1/apply HTTP/1.1\r\nContent-Length: 1000\r\n\r\n{")
        t0 = time.monotonic()
        st, o = http(segd.socket, "GET", "/v1/status", timeout=5)
        res.check(st == 200 and time.monotonic() - t0 < 2,
                  "a request behind a junk and a stalled connection took %.1fs (HTTP %s)" % (time.monotonic() - t0, st))
        junk.close()
        idle.close()
        st, o = http(segd.socket, "GET", "/v1/nothing")
        expect_error("unknown path", st, o, 404)
        st, o = http(segd.socket, "POST", "/v1/endpoints", b"{not json")
        expect_error("endpoint body not JSON", st, o, 400)

    def bad_endpoints():
        for what, body, want, text in [
            ("missing netns", {"name": "z", "netns": "no-such-netns-%d" % os.getpid()}, 400, "not found"),
            ("invalid name", {"name": "Not_Valid", "netns": topo.endpoints["gone"].netns}, 400, "name"),
            ("netns with slash", {"name": "z", "netns": "../etc"}, 400, "netns"),
            ("duplicate name", {"name": "a", "netns": topo.endpoints["gone"].netns}, 409, "exists"),
            ("netns already used", {"name": "z", "netns": topo.endpoints["a"].netns}, 409, "already"),
            ("unknown field", {"name": "z", "netns": topo.endpoints["gone"].netns, "x": 1}, 400, None),
            ("bad port", {"name": "z", "netns": topo.endpoints["gone"].netns,
                          "ports": [{"name": "http", "port": 70000}]}, 400, "port"),
            ("bad label value", {"name": "z", "netns": topo.endpoints["gone"].netns,
                                 "labels": {"app": "x" * 64}}, 400, "label"),
            ("too many labels", {"name": "z", "netns": topo.endpoints["gone"].netns,
                                 "labels": {"k%d" % i: "v" for i in range(300)}}, 400, None),
        ]:
            st, o = http(segd.socket, "POST", "/v1/endpoints", json.dumps(body).encode())
            expect_error("endpoint " + what, st, o, want, text)
        n = len(segd.ctl_json("get", "endpoints", "-A")["items"])
        res.check(n == 2, "bad endpoints registered something: %d endpoints" % n)

    def unprivileged_client():
        # Open the socket's mode (and its directory) so that the peer-credential check itself
        # is what refuses: at accept, before the request is read (no answer, not even 403).
        os.chmod(segd.socket, 0o666)
        dir_mode = os.stat(segd.workdir).st_mode & 0o777
        os.chmod(segd.workdir, 0o711)
        try:
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    os.setgroups([])
                    os.setgid(65534)
                    os.setuid(65534)
                    body = NP % ("evil", '{"podSelector":{}}')
                    st, o = http(segd.socket, "POST", "/v1/apply?file=e.json", body.encode())
                    code = 0 if st is None else 10
                except (BrokenPipeError, ConnectionResetError):
                    code = 0  # closed before the request was even sent
                except Exception:  # noqa: BLE001
                    code = 11
                os._exit(code)
            _, status = os.waitpid(pid, 0)
            res.check(os.waitstatus_to_exitcode(status) == 0,
                      "uid 65534 was not closed at accept, unanswered (child exit %d)" % os.waitstatus_to_exitcode(status))
        finally:
            os.chmod(segd.socket, 0o660)
            os.chmod(segd.workdir, dir_mode)
        unchanged("an unprivileged request")
        res.check(oct(os.stat(segd.socket).st_mode & 0o777) == oct(0o660),
                  "socket mode is not 0660")

    def vanished_namespace():
        g = topo.endpoints["gone"]
        segd.endpoint_add("gone", g.netns, "t", {"app": "b"})
        # a's peer set now holds gone's address (it is labelled app=b)
        res.check(str(g.v4) in topology.policy_sets_text(segd.ctl_json("rules", "a")), "gone's address not in a's set")
        subprocess.run(["ip", "netns", "del", g.netns], check=True)

        def not_marked():  # problems, for eventually()
            ep = [e for e in segd.ctl_json("get", "endpoints", "-A")["items"] if e["name"] == "gone"]
            if ep and ep[0]["state"] == "error" and "vanished" in (ep[0]["error"] or ""):
                return None
            return ep
        res.check(not eventually(not_marked, timeout=6.0), "vanished namespace not reported as error")
        res.check(segd.alive(), "segd died when a namespace vanished")
        res.check(str(g.v4) not in topology.policy_sets_text(segd.ctl_json("rules", "a")),
                  "a vanished endpoint's address is still a peer")
        st = segd.ctl_json("status")
        res.check(any("vanished" in (e.get("message") or "") for e in st.get("last_errors", [])),
                  "status does not list the vanished namespace")
        segd.ctl("endpoint", "del", "gone", check=True)

    def hook_api():
        # What segd-oci-hook sends at createRuntime: the container's netns and annotations.
        topo.add_endpoint("hooked")
        h = topo.endpoints["hooked"]
        cid = "%064x" % 0xabc123
        body = {"id": cid, "pid": 0, "netns": "/run/netns/" + h.netns,
                "annotations": {"segd.io/labels": "app=b;segd.io/namespace=t"}}
        st, o = http(segd.socket, "POST", "/v1/hooks/createRuntime", json.dumps(body).encode())
        res.check(st == 200, "hook createRuntime: HTTP %s %s" % (st, o))
        if st == 200:
            res.check(o.get("state") == "enforced" and o.get("labels", {}).get("app") == "b"
                      and o.get("namespace") == "t" and o.get("quarantined") is False,
                      "hook with labels: not enforced with its labels: %s" % o)
            # its address is a peer of a (app=b is allowed into a) before any engine saw it
            res.check(str(h.v4) in topology.policy_sets_text(segd.ctl_json("rules", "a")),
                      "hooked container's address is not in a's peer set")
        # without labels: default-deny both ways until the engine tells
        cid2 = "%064x" % 0xabc124
        topo.add_endpoint("hooked2")
        st, o = http(segd.socket, "POST", "/v1/hooks/createRuntime", json.dumps(
            {"id": cid2, "pid": 0, "netns": "/run/netns/" + topo.endpoints["hooked2"].netns,
             "annotations": {}}).encode())
        res.check(st == 200 and o.get("quarantined") is True and o.get("isolation") ==
                  {"ingress": True, "egress": True}, "hook without labels: %s %s" % (st, o))
        # null netns (the runtime made a new one: use the pid), bad values
        st, o = http(segd.socket, "POST", "/v1/hooks/createRuntime", json.dumps(
            {"id": "%064x" % 1, "pid": 0, "netns": None}).encode())
        res.check(st in (400, 404), "hook with no netns and no pid: HTTP %s" % st)
        st, o = http(segd.socket, "POST", "/v1/hooks/createRuntime", json.dumps(
            {"id": "../../etc", "pid": 1, "netns": "/run/netns/" + h.netns}).encode())
        res.check(st == 400, "hook with a bad id: HTTP %s" % st)
        st, o = http(segd.socket, "POST", "/v1/hooks/createRuntime", json.dumps(
            {"id": "%064x" % 2, "pid": 1, "netns": "/etc/passwd"}).encode())
        res.check(st == 400, "hook with a netns outside /run/netns: HTTP %s" % st)
        for c in (cid, cid2):
            st, o = http(segd.socket, "POST", "/v1/hooks/poststop", json.dumps({"id": c}).encode())
            res.check(st == 200, "poststop: HTTP %s" % st)
        left = [e["name"] for e in segd.ctl_json("get", "endpoints", "-A")["items"]
                if e.get("kind") == "container"]
        res.check(not left, "containers left after poststop: %s" % left)
        res.check(str(h.v4) not in topology.policy_sets_text(segd.ctl_json("rules", "a")),
                  "a stopped container's address is still a peer")

    for name, fn in [("the OCI hook's API: labels, default-deny, poststop", hook_api),
                     ("oversized body is rejected, not truncated", oversized),
                     ("invalid UTF-8", invalid_utf8),
                     ("duplicate keys", duplicate_keys),
                     ("unknown kind and unknown field", unknown_kind_and_field),
                     ("invalid selectors", bad_selector),
                     ("one bad policy rejects the whole file", one_bad_among_good),
                     ("too many documents", too_many_documents),
                     ("YAML aliases are refused", yaml_alias_bomb),
                     ("malformed HTTP and JSON", garbage_http),
                     ("bad endpoint registrations", bad_endpoints),
                     ("callers neither root nor in group segd are refused", unprivileged_client),
                     ("a vanished namespace is an error, not a peer", vanished_namespace)]:
        res.run(name, fn)

    if res.failed:
        print("segd log tail:\n" + segd.log_tail(60))
    rc = res.summary()  # before close(): it reads segd's log for sanitizer reports
    segd.close()
    topo.close()
    return rc


if __name__ == "__main__":
    sys.exit(main())
