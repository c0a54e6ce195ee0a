#!/usr/bin/env python3
"""Abuse of segd's control API by local users, tried for real: a real segd on real unix sockets,
throwaway users and groups created here (useradd/groupadd, removed at the end), their
processes run with their credentials (setgroups/setgid/setuid before exec).

    test_api_abuse.py --segd BIN --segctl BIN [--probe BIN]

(a) 210 half-open connections from 7 read-only users trickling headers a byte at a time:
    root's `segctl apply` still succeeds within its --timeout, the users get at most 8
    connections each and 48 together (the rest are closed at accept), and every connection
    they do get is closed by the request deadline (--request-timeout), observed as the close.
(b) a user with no role (the socket opened to all by hand, as a misconfiguration would) is
    closed at accept, before a byte of its request is read: no answer, not even a 403.
(c) a user at the per-user limit is refused at once; another user is still served.
(d) the sockets are 0660, root:--group and root:--audit-group.
(e) segctl --timeout against servers that never accept (full listen queue), never read, or
    never answer: each phase is named, with the socket, and segctl exits non-zero in time.
(f) invalid UTF-8 in the path, the query or the body is a 400 saying so, not a 500.

Needs root (users, groups); no network namespaces. Prints PASS/FAIL and `N passed, N failed`.
"""

import argparse
import grp
import json
import os
import pwd
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from topology import Results, Segd  # noqa: E402

TAG = "%d" % os.getpid()
WGROUP = "segdw%s" % TAG
AGROUP = "segda%s" % TAG
READERS = ["segdr%d_%s" % (i, TAG) for i in range(7)]
NOBODY_USER = "segdn_%s" % TAG
REQUEST_TIMEOUT = 4  # --request-timeout given to segd (10 if this segd does not know it)
PER_USER = 8
READ_TOTAL = 48  # 64 connections, 16 of them kept for root and --group

# Runs as a throwaway user: opens N connections to a socket, optionally trickles a request a
# byte at a time (never finishing its headers), and reports when each was closed and what it
# received. Prints "ready" once connected; exits when all are closed, at max_s, or when stdin
# closes; then prints one JSON summary. Times are CLOCK_MONOTONIC, comparable across processes.
HOLDER = r'''
import json, os, select, socket, struct, sys, time
path, n, mode, max_s = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
REQ = b"GET /v1/status HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + b"a" * 4000
FULL = b"GET /v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
conns = []
for i in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 3, 0))
    c = {"i": i, "t_connect": time.monotonic(), "t_close": None, "got": 0, "sent": 0, "err": None}
    try:
        s.connect(path)
        s.setblocking(False)
        c["s"] = s
    except OSError as e:
        c["err"] = e.strerror
        s.close()
    conns.append(c)
    if mode == "full" and "s" in c:
        try:
            c["sent"] = c["s"].send(FULL)
        except OSError:  # already closed by the other end
            c["t_close"] = time.monotonic()
            c.pop("s").close()
print("ready", flush=True)
end = time.monotonic() + max_s
next_byte = time.monotonic()
def close(c, now):
    c["t_close"] = now
    c["s"].close()
    del c["s"]
while time.monotonic() < end:
    live = [c for c in conns if "s" in c]
    if not live:
        break
    now = time.monotonic()
    if mode == "trickle" and now >= next_byte:
        for c in live:
            try:
                c["s"].send(REQ[c["sent"] % len(REQ):][:1])
                c["sent"] += 1
            except BlockingIOError:
                pass
            except OSError:
                close(c, time.monotonic())
        next_byte = now + 0.1
        live = [c for c in conns if "s" in c]
    rl, _, _ = select.select([c["s"] for c in live] + [sys.stdin], [], [], 0.05)
    if sys.stdin in rl:
        if not sys.stdin.readline():
            break
    for c in live:
        if c["s"] in rl:
            try:
                d = c["s"].recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                d = b""
            c["got"] += len(d)
            if not d:
                close(c, time.monotonic())
for c in conns:
    c.pop("s", None)
print(json.dumps(conns), flush=True)
'''


def sh(*args, check=True):
    return subprocess.run(list(args), check=check, capture_output=True, text=True)


def user_creds(name):
    pw = pwd.getpwnam(name)
    gids = sorted({pw.pw_gid} | {g.gr_gid for g in grp.getgrall() if name in g.gr_mem})
    return pw.pw_uid, pw.pw_gid, gids


def dropper(name):
    uid, gid, gids = user_creds(name)

    def drop():
        os.setgroups(gids)
        os.setgid(gid)
        os.setuid(uid)
    return drop


# The users cannot run an interpreter under /root (pyenv): the system's, which they can.
USER_PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable


class Holder:
    """HOLDER run as a user."""

    def __init__(self, user, path, n, mode, max_s):
        self.p = subprocess.Popen([USER_PYTHON, "-c", HOLDER, path, str(n), mode, str(max_s)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  cwd="/", preexec_fn=dropper(user))
        line = self.p.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError("holder did not start: %r" % line)

    def result(self, timeout):
        """Waits for the summary (the holder ends by itself: all closed, or max_s)."""
        out = [None]

        def read():
            out[0] = self.p.stdout.readline()
        t = threading.Thread(target=read, daemon=True)
        t.start()
        t.join(timeout)
        if out[0] is None:
            self.p.kill()
            raise RuntimeError("holder gave no summary in %ss" % timeout)
        self.p.wait(5)
        return json.loads(out[0])

    def stop(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        return self.result(10)


def http_raw(path, request, timeout=5.0):
    """Sends raw bytes as root; returns (status or None, body bytes)."""
    line, rest = request.split(b"\r\n", 1)
    request = line + b"\r\nConnection: close\r\n" + rest  # read the answer to the end
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(request)
    data = b""
    while True:
        try:
            d = s.recv(65536)
        except ConnectionResetError:
            break
        if not d:
            break
        data += d
    s.close()
    m = re.match(rb"HTTP/1\.\d (\d{3})", data)
    body = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
    return (int(m.group(1)) if m else None), body


class Test:
    def __init__(self, a):
        self.a = a
        self.r = Results()
        self.users = []
        self.groups = []
        for g in (WGROUP, AGROUP):
            sh("groupadd", "--system", g)
            self.groups.append(g)
        for u in READERS:
            sh("useradd", "--system", "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin",
               "-G", AGROUP, u)
            self.users.append(u)
        sh("useradd", "--system", "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin",
           NOBODY_USER)
        self.users.append(NOBODY_USER)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.metrics_port = s.getsockname()[1]
        base = ["--group", WGROUP, "--audit-group", AGROUP, "--fdstore", "none",
                "--metrics-listen", "127.0.0.1:%d" % self.metrics_port]
        self.deadline = REQUEST_TIMEOUT
        self.segd = Segd(a.segd, a.segctl, extra_args=base + ["--request-timeout",
                                                              str(REQUEST_TIMEOUT)])
        try:
            self.segd.start()
        except RuntimeError:
            # a segd without --request-timeout (the tests then show what it lacks)
            self.segd.close()
            self.deadline = 10
            self.segd = Segd(a.segd, a.segctl, extra_args=base)
            self.segd.start()
        os.chmod(self.segd.workdir, 0o711)  # reachable; the sockets' modes decide
        self.audit_socket = os.path.join(self.segd.workdir, "audit.sock")
        # users run a copy of segctl they can reach (the build may sit under /root)
        self.bindir = tempfile.mkdtemp(prefix="segd-abuse-bin-")
        os.chmod(self.bindir, 0o755)
        self.user_segctl = os.path.join(self.bindir, "segctl")
        shutil.copy(self.segd.segctl_bin, self.user_segctl)
        os.chmod(self.user_segctl, 0o755)

    def close(self):
        self.segd.close()
        shutil.rmtree(self.bindir, ignore_errors=True)
        for u in self.users:
            sh("userdel", u, check=False)
        for g in self.groups:
            sh("groupdel", g, check=False)

    def as_user(self, user, *args, timeout=30):
        return subprocess.run([self.user_segctl, "--socket", self.segd.socket] + list(args),
                              capture_output=True, text=True, cwd="/", preexec_fn=dropper(user),
                              timeout=timeout)

    def metrics(self):
        url = "http://127.0.0.1:%d/metrics" % self.metrics_port
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                values[k] = float(v)
        return values

    def refused(self, reason):
        return self.metrics().get('segd_api_connections_refused_total{reason="%s"}' % reason, -1)

    def log_has(self, pattern):
        return re.search(pattern, self.segd.log_tail(4000)) is not None

    # ---------------------------------------------------------------- (a)
    def t_trickle_flood(self):
        policy = os.path.join(self.segd.workdir, "flood-policy.json")
        with open(policy, "w") as f:
            json.dump({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                       "metadata": {"name": "during-flood", "namespace": "abuse"},
                       "spec": {"podSelector": {}, "ingress": []}}, f)
        timed_out_before = self.metrics().get("segd_api_connections_timed_out_total", 0)
        holders = [Holder(u, self.audit_socket if os.path.exists(self.audit_socket)
                          else self.segd.socket, 30, "trickle", self.deadline + 8)
                   for u in READERS]
        t0 = time.monotonic()
        p = self.segd.ctl("--timeout", "15", "apply", "-f", policy, timeout=40)
        if "unknown option '--timeout'" in p.stderr:  # an older segctl: does the API answer?
            self.r.check(False, "segctl has no --timeout")
            try:
                p = self.segd.ctl("apply", "-f", policy, timeout=20)
            except subprocess.TimeoutExpired:
                self.r.check(False, "root's apply hung during the flood")
                p = subprocess.CompletedProcess([], 1, "", "hung")
        took = time.monotonic() - t0
        self.r.check(p.returncode == 0, "root's apply during the flood failed (%d, %.1fs): %s%s"
                     % (p.returncode, took, p.stdout, p.stderr))
        self.r.check(took < 15, "root's apply took %.1fs" % took)
        conns = []
        for u, h in zip(READERS, holders):
            res = h.result(self.deadline + 15)
            for c in res:
                c["user"] = u
            conns += res
        self.r.check(len(conns) == 210, "%d connections reported" % len(conns))
        never = [c for c in conns if c["err"] is None and c["t_close"] is None]
        self.r.check(not never, "%d connections still open %ss after the deadline"
                     % (len(never), 8))
        failed = [c for c in conns if c["err"] is not None]
        self.r.check(not failed, "%d connects failed (the listen queue overflowed?): %s"
                     % (len(failed), failed[:2]))
        closed = [c for c in conns if c["t_close"] is not None]
        refused = [c for c in closed if c["t_close"] - c["t_connect"] < 2.0]
        held = [c for c in closed if c["t_close"] - c["t_connect"] >= 2.0]
        self.r.check(0 < len(held) <= READ_TOTAL,
                     "read-only users held %d connections, at most %d allowed"
                     % (len(held), READ_TOTAL))
        for u in READERS:
            n = len([c for c in held if c["user"] == u])
            self.r.check(n <= PER_USER, "%s held %d connections" % (u, n))
        late = [round(c["t_close"] - c["t_connect"], 2) for c in held
                if not (self.deadline - 0.5 <= c["t_close"] - c["t_connect"] <= self.deadline + 3)]
        self.r.check(not late, "held connections not closed at the %ss deadline: %s"
                     % (self.deadline, late[:8]))
        answered = [c for c in conns if c["got"]]
        self.r.check(not answered, "%d trickling connections got an answer" % len(answered))
        self.r.check(len(refused) + len(held) == 210,
                     "%d refused + %d held" % (len(refused), len(held)))
        m = self.metrics()
        self.r.check(m.get("segd_api_connections_timed_out_total", 0) - timed_out_before
                     == len(held), "timed_out_total grew by %s, %d held" % (
                         m.get("segd_api_connections_timed_out_total"), len(held)))
        names = [it["metadata"]["name"] for it in self.segd.items("networkpolicies")]
        self.r.check("during-flood" in names, "the policy applied during the flood is missing")

    # ---------------------------------------------------------------- (b)
    def t_no_role_closed_at_accept(self):
        before = self.refused("no-role")
        mode = os.stat(self.segd.socket).st_mode & 0o7777
        os.chmod(self.segd.socket, 0o666)  # as if an admin opened it up
        try:
            idle = Holder(NOBODY_USER, self.segd.socket, 1, "hold", 3).result(10)[0]
            asking = Holder(NOBODY_USER, self.segd.socket, 1, "full", 3).result(10)[0]
        finally:
            os.chmod(self.segd.socket, mode)
        for what, c in (("a silent connection", idle), ("a connection with a request", asking)):
            self.r.check(c["err"] is None, "%s: connect failed: %s" % (what, c["err"]))
            self.r.check(c["t_close"] is not None and c["t_close"] - c["t_connect"] < 2.0,
                         "%s from a user with no role was not closed at accept (%s)"
                         % (what, c["t_close"] and c["t_close"] - c["t_connect"]))
            self.r.check(c["got"] == 0, "%s from a user with no role got %d bytes (its request "
                         "was read and answered)" % (what, c["got"]))
        after = self.refused("no-role")
        self.r.check(after - before >= 2, "refused{no-role} went from %s to %s" % (before, after))
        self.r.check(self.log_has(r"Refused an API connection .*no role"),
                     "no log line for the refusal")
        # and without the chmod it cannot even connect; segctl says permission denied
        p = self.as_user(NOBODY_USER, "status")
        self.r.check(p.returncode == 1 and "permission denied" in p.stderr,
                     "a user in no group: %d %s" % (p.returncode, p.stderr))

    # ---------------------------------------------------------------- (c)
    def t_per_user_limit(self):
        u1, u2 = READERS[0], READERS[1]
        before = self.refused("per-user")
        h = Holder(u1, self.audit_socket, PER_USER + 1, "hold", self.deadline + 5)
        t_ready = time.monotonic()
        p = self.as_user(u2, "get", "networkpolicies", "-A", "--timeout", "5")
        t_served = time.monotonic()
        res = h.stop()
        self.r.check(p.returncode == 0, "another user was not served while %s held its %d: %d %s"
                     % (u1, PER_USER, p.returncode, p.stderr))
        self.r.check(all(c["err"] is None for c in res), "connect failed: %s" % res)
        quick = [c for c in res if c["t_close"] is not None and c["t_close"] < t_ready + 1.0
                 and c["t_close"] - c["t_connect"] < 2.0]
        self.r.check(len(quick) == 1 and quick[0]["i"] == PER_USER,
                     "want exactly the connection over the limit (#%d) closed at once, got %s"
                     % (PER_USER, [(c["i"], c["t_close"] and round(c["t_close"] - c["t_connect"], 2))
                                   for c in res]))
        early = [c["i"] for c in res[:PER_USER] if c["t_close"] is not None and c["t_close"] < t_served]
        self.r.check(not early, "connections within the limit closed before the other user was "
                     "served: %s" % early)
        after = self.refused("per-user")
        self.r.check(after - before == 1, "refused{per-user} went from %s to %s" % (before, after))
        # the slots come back: u1 is served again
        p = self.as_user(u1, "status", "--timeout", "5")
        self.r.check(p.returncode == 0, "%s not served after closing: %s" % (u1, p.stderr))

    # ---------------------------------------------------------------- (d)
    def t_socket_modes(self):
        for path, group in ((self.segd.socket, WGROUP), (self.audit_socket, AGROUP)):
            try:
                st = os.stat(path)
            except OSError as e:
                self.r.check(False, "%s: %s" % (path, e))
                continue
            self.r.check(st.st_mode & 0o7777 == 0o660, "%s has mode %o, want 0660"
                         % (path, st.st_mode & 0o7777))
            self.r.check(st.st_uid == 0 and st.st_gid == grp.getgrnam(group).gr_gid,
                         "%s is owned by %d:%d, want root:%s" % (path, st.st_uid, st.st_gid, group))
        # the read-only socket serves reads only, even to root
        st, body = http_raw(self.audit_socket, b"POST /v1/apply HTTP/1.1\r\nHost: x\r\n"
                            b"Content-Length: 2\r\n\r\n{}") if os.path.exists(self.audit_socket) \
            else (None, b"")
        self.r.check(st == 403 and b"read-only" in body, "a write on the read-only socket: %s %r"
                     % (st, body[:200]))

    # ---------------------------------------------------------------- (e)
    def segctl_timeout(self, sock, args, phase):
        t0 = time.monotonic()
        try:
            p = subprocess.run([self.segd.segctl_bin, "--socket", sock, "--timeout", "1.5"] + args,
                               capture_output=True, text=True, timeout=10)
        except subprocess.TimeoutExpired:
            self.r.check(False, "%s: segctl still running after 10 s" % phase)
            return
        took = time.monotonic() - t0
        self.r.check(p.returncode != 0, "%s: segctl exited 0" % phase)
        self.r.check("timed out" in p.stderr and phase in p.stderr and sock in p.stderr,
                     "%s: want 'timed out', '%s' and the socket in: %r" % (phase, phase, p.stderr))
        self.r.check(1.4 <= took < 5, "%s: segctl took %.2fs for --timeout 1.5" % (phase, took))

    def t_segctl_timeout(self):
        d = tempfile.mkdtemp(prefix="segd-abuse-srv-")
        servers, stop = [], threading.Event()
        try:
            # never accepts, its listen queue full
            full = os.path.join(d, "full.sock")
            ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            ls.bind(full)
            ls.listen(0)
            fillers = []
            while True:
                c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                c.setblocking(False)
                try:
                    c.connect(full)
                except BlockingIOError:
                    c.close()
                    break
                fillers.append(c)
            servers += [ls] + fillers

            def serve(path, read):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.bind(path)
                s.listen(4)
                servers.append(s)

                def loop():
                    held = []
                    s.settimeout(0.1)
                    while not stop.is_set():
                        try:
                            c, _ = s.accept()
                            held.append(c)
                        except OSError:
                            pass
                        for c in held:
                            if read:
                                c.setblocking(False)
                                try:
                                    c.recv(1 << 20)
                                except OSError:
                                    pass
                threading.Thread(target=loop, daemon=True).start()
            noread = os.path.join(d, "noread.sock")
            noanswer = os.path.join(d, "noanswer.sock")
            serve(noread, False)
            serve(noanswer, True)
            big = os.path.join(d, "big.yaml")
            with open(big, "w") as f:
                f.write(("#" + "x" * 99 + "\n") * 30000)  # 3 MB: more than the socket buffers
            self.segctl_timeout(full, ["status"], "connecting")
            self.segctl_timeout(noread, ["apply", "-f", big], "sending the request")
            self.segctl_timeout(noanswer, ["status"], "waiting for the answer")
            # no listener at all: an immediate, clear error
            p = subprocess.run([self.segd.segctl_bin, "--socket", os.path.join(d, "none.sock"),
                                "--timeout", "1.5", "status"], capture_output=True, text=True,
                               timeout=10)
            self.r.check(p.returncode == 2 and "cannot connect" in p.stderr,
                         "no listener: %d %r" % (p.returncode, p.stderr))
        finally:
            stop.set()
            for s in servers:
                s.close()
            shutil.rmtree(d, ignore_errors=True)

    # ---------------------------------------------------------------- (f)
    def t_invalid_utf8(self):
        sock = self.segd.socket
        cases = [
            ("path, percent-encoded", b"GET /v1/endpoints/%FF%FE HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("path, raw bytes", b"GET /v1/networkpolicies/a\xc0\xaf/b HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("query value", b"GET /v1/endpoints?namespace=%ED%A0%80 HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("query name", b"GET /v1/flows?%FF=1 HTTP/1.1\r\nHost: x\r\n\r\n"),
        ]
        body = b"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: caf\xe9\n"
        cases.append(("body", b"POST /v1/apply HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                      % len(body) + body))
        jbody = b'{"labels": {"a\xff": "b"}}'
        cases.append(("JSON body", b"PATCH /v1/endpoints/x/labels HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(jbody) + jbody))
        for what, req in cases:
            st, b = http_raw(sock, req)
            self.r.check(st == 400, "%s: HTTP %s %r" % (what, st, b[:200]))
            if st == 400 and what != "path, raw bytes":
                self.r.check(b"UTF-8" in b, "%s: the message does not say UTF-8: %r" % (what, b[:200]))
        self.r.check(self.segd.alive(), "segd died")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--segd", required=True)
    ap.add_argument("--segctl", required=True)
    ap.add_argument("--probe")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("test_api_abuse: needs root (creates users and groups)", file=sys.stderr)
        return 1
    t = Test(a)
    try:
        t.r.run("(d) the sockets are 0660, root:group and root:audit-group", t.t_socket_modes)
        t.r.run("(b) a caller with no role is closed at accept, unread", t.t_no_role_closed_at_accept)
        t.r.run("(c) a user at its limit is refused, another is served", t.t_per_user_limit)
        t.r.run("(a) 210 trickling connections: root's apply succeeds, the deadline closes them",
                t.t_trickle_flood)
        t.r.run("(e) segctl --timeout names the phase: connect, send, answer", t.t_segctl_timeout)
        t.r.run("(f) invalid UTF-8 in path, query and body is a 400", t.t_invalid_utf8)
    finally:
        t.close()
    return t.r.summary()


if __name__ == "__main__":
    sys.exit(main())
