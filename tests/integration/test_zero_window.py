#!/usr/bin/env python3
"""Zero window (RELIABILITY.md B1, container tier): no connection reaches a container that policy
isolates, not even during its first milliseconds, with Podman (OCI hook) or Docker (segd-runc).

    test_zero_window.py [--engine podman|docker] [--segd BIN] [--segctl BIN] [--hook BIN]
                        [--runtime BIN] [--build DIR] [--starts N] [--control-starts N]
                        [--label-starts N] [--hold-ms N] [--interval-us N] [--keep-log]

A NetworkPolicy denies all ingress to app=target. An attacker container on the same
bridge network hammers the target's fixed address and port with TCP connects (segd-probe
hammer: a new non-blocking connect every --interval-us, 64 in flight) from before each start
until after the container is up. The target's first instruction is a server on that port
(segd-probe serve as PID 1). Each of --starts rounds is `ENGINE run -d --ip FIXED --mac-address
FIXED` then `ENGINE rm -f`, same address every time. With the OCI hook (segd-oci-hook at
createRuntime: Podman reads it from hooks.d, Docker's containers get it from segd-runc, their
default runtime) not a single handshake may complete: the test fails if one does.

Control: --control-starts rounds without the hook (Podman: a hooks.d without segd's; Docker:
`--runtime runc`), where segd learns of the container from engine events only. There the window exists, and at least one handshake must get through: otherwise
the measurement cannot see a window and the hooked run's zero proves nothing (the control
fails). Its figures are printed: they show why the hook exists. Also printed: `ENGINE run`
latency with and without the hook (the start latency it adds).

Labels: neither engine shows a container's labels to OCI hooks, so a hooked container is
default-deny until segd learns its labels from the engine. --label-starts rounds measure how
long that takes: from `ENGINE run` returning until segd's API shows the container's endpoint
enforced with its labels (polled on segd's socket every 2 ms).
"""

import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import topology as T  # noqa: E402
import docker as D  # noqa: E402
import podman as P  # noqa: E402
from topology import eventually  # noqa: E402

NS = "zw"
PORT = 8080
TARGET_MAC = "02:5e:67:00:00:20"
DENY_TARGET = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
               "metadata": {"name": "deny-target", "namespace": NS},
               "spec": {"podSelector": {"matchLabels": {"app": "target"}}, "policyTypes": ["Ingress"]}}


def pct(vals, q):
    if not vals:
        return float("nan")
    s = sorted(vals)
    return s[min(len(s) - 1, int(round(q / 100.0 * (len(s) - 1))))]


class Hammer:
    """segd-probe hammer inside the attacker, until stop(); collects ok/refused events."""

    def __init__(self, pm, attacker, target, interval_us):
        args = ["exec", "-i", pm.name(attacker), P.PROBE_IN_IMAGE, "hammer", "--stop-on-eof",
                "--duration-ms", str(3600 * 1000), "--interval-us", str(interval_us),
                "--concurrency", "64", "--timeout-ms", "200", "tcp:%s:%d" % (target, PORT)]
        argv, env = pm.cli_command()
        self.proc = subprocess.Popen(argv + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        self.ok, self.refused, self.summary, self.other = [], [], {}, []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.proc.stdout:
            parts = line.split()
            if parts[:1] == ["ok"] and len(parts) == 3:
                self.ok.append((int(parts[1]) / 1e6, int(parts[2]) / 1e6))
            elif parts[:1] == ["refused"] and len(parts) == 3:
                self.refused.append((int(parts[1]) / 1e6, int(parts[2]) / 1e6))
            elif parts[:1] == ["attempts"]:
                self.summary = {parts[i]: int(parts[i + 1]) for i in range(0, len(parts) - 1, 2)}
            else:
                self.other.append(line.rstrip())

    def wait_started(self, netns_pid, target, port, timeout=30.0):
        """Wait until the hammer's connects to target:port are under way: sockets to it show up
        in /proc/PID/net/tcp of a process in the attacker's network namespace (netns_pid).
        Raises if they do not (or the hammer exited)."""
        rem = "%08X:%04X" % (struct.unpack("=I", socket.inet_aton(target))[0], port)

        def problem():
            if self.proc.poll() is not None:
                return "the hammer exited (%s): %s" % (self.proc.returncode, self.other[-5:])
            try:
                with open("/proc/%d/net/tcp" % netns_pid) as f:
                    rows = [ln.split() for ln in f.readlines()[1:]]
            except OSError as e:
                return "cannot read the attacker's sockets: %s" % e
            return not any(len(r) > 2 and r[2] == rem for r in rows) and \
                "no connect to %s:%d under way" % (target, port)
        bad = eventually(problem, timeout, 0.02)
        if bad:
            raise RuntimeError("hammer not started within %.0fs: %s" % (timeout, bad))

    def stop(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.t.join(10)
        err = self.proc.stderr.read()
        if not self.summary:
            raise RuntimeError("hammer gave no summary (exit %s): %s %s" % (
                self.proc.returncode, self.other[-5:], err.strip()))
        return self.summary


class Suite:
    def __init__(self, a):
        self.a = a
        self.r = T.Results()
        self.pm = self.segd = None
        self.latency = {}

    def setup(self):
        self.segd = P.EngineSegd(self.a.segd, self.a.segctl, engine="unix://placeholder",
                                 resync_interval=5, log_level=self.a.log_level)
        if self.a.engine == "docker":
            if not self.a.runtime:
                raise RuntimeError("the zero window with Docker needs segd-runc (--runtime, "
                                   "default BUILD/daemon/segd-runc)")
            self.pm = D.Docker(runtime=self.a.runtime, segd_socket=self.segd.socket,
                               hook_timeout_ms=self.a.hook_timeout_ms,
                               probe_static=self.a.probe_static)
            self.hooked_by = "segd-runc %s" % self.a.runtime
        else:
            self.pm = P.Podman(hook=self.a.hook, segd_socket=self.segd.socket,
                               hook_timeout_ms=self.a.hook_timeout_ms,
                               probe_static=self.a.probe_static)
            self.hooked_by = "hook %s" % self.a.hook
            others = [n for n in P._names(self.pm.penv, "container")
                      if not n.startswith(self.pm.prefix)]
            if others:
                print("# note: %d other container(s) exist on this host; this segd follows them "
                      "too" % len(others))
        self.segd.engine = "unix://" + self.pm.api_socket
        self.net, self.subnet = self.pm.network_create("zw")
        self.ip = lambda h: str(self.subnet.network_address + h)
        self.segd.start()
        p = self.segd.apply_objects([DENY_TARGET])
        if p.returncode != 0:
            raise RuntimeError("apply: %s" % (p.stderr or p.stdout))
        lab = lambda app: {"app": app, "segd.io/namespace": NS}  # noqa: E731
        # Test infrastructure, not under test: started without the hook (segd still follows
        # them through engine events).
        self.pm.run("canary", labels=lab("canary"), network=self.net, ip=self.ip(11), serve=(PORT,),
                    hooks=False)
        self.pm.run("attacker", labels=lab("attacker"), network=self.net, ip=self.ip(12), hooks=False)
        # a process in the attacker's network namespace: its /proc/PID/net/tcp shows the hammer
        self.attacker_pid = int(((self.pm.inspect("attacker") or {}).get("State") or {}).get("Pid") or 0)
        if self.attacker_pid <= 0:
            raise RuntimeError("no pid for the attacker container")

        def ready():
            eps = self.segd.endpoints()
            return ["%s: %s" % (n, (eps.get(self.pm.name(n)) or {}).get("state", "missing"))
                    for n in ("canary", "attacker")
                    if (eps.get(self.pm.name(n)) or {}).get("state") != "enforced"]
        bad = eventually(ready, timeout=15, interval=0.2)
        if bad:
            raise RuntimeError("canary/attacker not enforced: %s" % bad)
        t = "tcp:%s:%d" % (self.ip(11), PORT)
        bad = eventually(lambda: not self.pm.probe("attacker", [t])[t], timeout=5, interval=0.3)
        if bad:
            raise RuntimeError("the attacker cannot reach the canary (%s): the hammer would prove nothing" % t)
        print("# %s: network %s %s; target %s:%d (mac %s); attacker %s; %s" % (
            self.pm.kind, self.net, self.subnet, self.ip(20), PORT, TARGET_MAC, self.ip(12),
            self.hooked_by), flush=True)

    def rounds(self, label, n, hooks):
        """n starts of the target under the hammer; returns a dict of figures."""
        target_ip = self.ip(20)
        self.pm.rm("target")
        hammer = Hammer(self.pm, "attacker", target_ip, self.a.interval_us)
        windows, lat, failures, rm_starts = [], [], [], []
        try:
            # the first start happens under fire: wait until the hammer's connects are under way
            hammer.wait_started(self.attacker_pid, target_ip, PORT)
            t_begin = time.monotonic()
            for i in range(n):
                t0 = time.monotonic()
                try:
                    self.pm.run("target", labels={"app": "target", "segd.io/namespace": NS},
                                network=self.net, ip=target_ip, mac=TARGET_MAC, serve=(PORT,), hooks=hooks)
                except RuntimeError as e:
                    failures.append(str(e))
                    self.pm.rm("target")
                    continue
                t1 = time.monotonic()
                # Not synchronisation: how long each target lives under fire is a parameter
                # of the measurement (--hold-ms).
                time.sleep(self.a.hold_ms / 1000.0)
                t_rm = time.monotonic()
                self.pm.rm("target")
                t2 = time.monotonic()
                windows.append((t0, t1, t2))
                rm_starts.append(t_rm)
                lat.append(t1 - t0)
        finally:
            # No grace sleep: on EOF the hammer starts nothing new and decides every connect
            # still in flight (timeout 200 ms) before it prints its summary.
            summary = hammer.stop()
        t_end = time.monotonic()
        alive = sum(t2 - t0 for t0, _, t2 in windows)
        def owner(a):
            """Index of the start an event at a belongs to: the last one begun before it."""
            idx = -1
            for i, (w0, _, _) in enumerate(windows):
                if w0 - 0.001 <= a:
                    idx = i
            return idx
        # When did each success start, relative to `podman run` returning, and to `podman rm`?
        rel, rel_rm = [], []
        for a, _ in hammer.ok:
            i = owner(a)
            if i >= 0:
                rel.append((a - windows[i][1]) * 1000)
                rel_rm.append((a - rm_starts[i]) * 1000)
        in_window = rel
        # Resets while the container starts or runs mean its stack saw packets unfiltered;
        # resets after `podman rm` began (workload killed, netns not yet gone) are reported apart.
        rst_start = rst_stop = 0
        for a, _ in hammer.refused:
            i = owner(a)
            if i >= 0 and a < rm_starts[i]:
                rst_start += 1
            elif i >= 0:
                rst_stop += 1
        fig = {"label": label, "rst_start": rst_start, "rst_stop": rst_stop, "starts": len(windows), "failed_runs": failures,
               "attempts": summary.get("attempts", 0), "ok": summary.get("ok", 0),
               "refused": summary.get("refused", 0), "unreach": summary.get("unreach", 0),
               "timeout": summary.get("timeout", 0), "other": summary.get("other", 0),
               "alive_fraction": alive / max(1e-9, t_end - t_begin),
               "ok_in_windows": len(in_window), "ok_rel_ms": rel, "lat": lat,
               "starts_with_success": len({owner(a) for a, _ in hammer.ok})}
        print("    %s: %d starts, %d connection attempts (~%d while the target existed), %d handshakes "
              "succeeded (%d starts affected), %d resets (%d while starting/running, %d after %s rm "
              "began), %d unreachable, %d timed out; "
              "%s run p50 %.0f ms p99 %.0f ms" % (
                  label, fig["starts"], fig["attempts"], fig["attempts"] * fig["alive_fraction"], fig["ok"],
                  fig["starts_with_success"] if fig["ok"] else 0, fig["refused"], rst_start, rst_stop,
                  self.pm.kind, fig["unreach"], fig["timeout"], self.pm.kind,
                  pct(lat, 50) * 1000, pct(lat, 99) * 1000), flush=True)
        if rel:
            print("    %s: successes began %.0f .. %.0f ms after %s run returned (p50 %.0f ms); "
                  "%d of them after %s rm began" % (
                      label, min(rel), max(rel), self.pm.kind, pct(rel, 50),
                      sum(1 for x in rel_rm if x >= 0), self.pm.kind), flush=True)
        if failures:
            print("    %s: %d %s run failures, first: %s" % (label, len(failures), self.pm.kind,
                                                           failures[0]), flush=True)
        return fig

    def t_hook(self):
        fig = self.rounds("with hook", self.a.starts, hooks=True)
        self.latency["hook"] = fig["lat"]
        self.r.check(fig["starts"] >= self.a.starts * 0.95, "only %d of %d starts ran: %s" % (
            fig["starts"], self.a.starts, fig["failed_runs"][:3]))
        self.r.check(fig["attempts"] * fig["alive_fraction"] >= fig["starts"],
                     "too few attempts while the target existed (%d) to mean anything" % (
                         fig["attempts"] * fig["alive_fraction"]))
        self.r.check(fig["ok"] == 0, "%d connections to the isolated target succeeded (zero window violated); "
                     "relative to run returning (ms): %s" % (fig["ok"], [round(x) for x in fig["ok_rel_ms"][:10]]))
        # Resets are reported, not failed on: podman (netavark) and Docker (libnetwork's prestart
        # hook) configure the address before the OCI runtime runs createRuntime hooks, so SYNs
        # that arrive in between meet a namespace with no table yet and nothing listening (RST).
        # No workload runs then: nothing can answer.
        if fig["rst_start"]:
            print("    note: %d SYNs were answered with RST before the workload listened (address "
                  "configured before the createRuntime hook ran); 0 handshakes completed" % fig["rst_start"],
                  flush=True)
        self.fig_hook = fig

    def t_control(self):
        fig = self.rounds("control, no hook (engine events only)", self.a.control_starts, hooks=False)
        self.latency["nohook"] = fig["lat"]
        self.fig_control = fig
        if self.latency.get("hook") and fig["lat"]:
            add50 = (pct(self.latency["hook"], 50) - pct(fig["lat"], 50)) * 1000
            add99 = (pct(self.latency["hook"], 99) - pct(fig["lat"], 99)) * 1000
            print("    start latency added by the hook: p50 %+.0f ms, p99 %+.0f ms "
                  "(run with hook p50 %.0f / p99 %.0f ms, without p50 %.0f / p99 %.0f ms)" % (
                      add50, add99, pct(self.latency["hook"], 50) * 1000, pct(self.latency["hook"], 99) * 1000,
                      pct(fig["lat"], 50) * 1000, pct(fig["lat"], 99) * 1000), flush=True)
        print("    control: %d of %d starts let a handshake through (%d handshakes, %d resets)" % (
            fig["starts_with_success"] if fig["ok"] else 0, fig["starts"], fig["ok"], fig["refused"]),
            flush=True)
        self.r.check(fig["starts"] >= self.a.control_starts * 0.95, "only %d of %d control starts ran: %s" % (
            fig["starts"], self.a.control_starts, fig["failed_runs"][:3]))
        # The control is what makes the hooked figure mean something: without the hook the
        # window exists (historically 17-20 of 20 starts let a handshake through). If the
        # hammer sees none here, it cannot see a window at all, and the hooked run's 0 proves
        # nothing.
        self.r.check(fig["ok"] > 0, "no handshake got through in %d control starts without the hook: "
                     "the measurement cannot see the window the hook closes, so 0 with the hook "
                     "proves nothing (%d attempts, %d resets, %d timed out, %d unreachable)" % (
                         fig["starts"], fig["attempts"], fig["refused"], fig["timeout"], fig["unreach"]))

    def api_get(self, path):
        """GET path on segd's socket (raw HTTP/1.0: a 2 ms poll cannot afford a segctl
        process per look); the decoded JSON body, or None."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect(self.segd.socket)
            s.sendall(("GET %s HTTP/1.0\r\nHost: segd\r\n\r\n" % path).encode())
            data = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
        except OSError:
            return None
        finally:
            s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        if b" 200 " not in head.split(b"\r\n")[0]:
            return None
        try:
            return json.loads(body)
        except ValueError:
            return None

    def t_labels(self):
        """How long a hooked container stays default-deny before segd knows its labels."""
        name, want = self.pm.name("target"), {"app": "target", "segd.io/namespace": NS}
        after_return, after_start = [], []
        self.pm.rm("target")
        for i in range(self.a.label_starts):
            t0 = time.monotonic()
            self.pm.run("target", labels=want, network=self.net, ip=self.ip(20), serve=(PORT,))
            t1 = time.monotonic()
            t2 = None
            while time.monotonic() - t1 < 30:
                eps = self.api_get("/v1/endpoints") or {}
                e = next((x for x in eps.get("items") or [] if x.get("name") == name), None)
                if e and e.get("state") == "enforced" and not e.get("quarantined") and \
                        (e.get("labels") or {}).get("app") == "target":
                    t2 = time.monotonic()
                    break
                time.sleep(0.002)  # the poll's period: the measurement's resolution
            self.pm.rm("target")
            if not self.r.check(t2 is not None, "start %d: segd did not learn the labels of %s "
                                "within 30 s" % (i, name)):
                return
            after_return.append((t2 - t1) * 1000)
            after_start.append((t2 - t0) * 1000)
        print("    labels known (endpoint enforced with its own labels): %.0f ms p50 / %.0f ms p99 / "
              "%.0f ms max after %s run returned (%.0f ms p50 / %.0f ms p99 after it began); "
              "default-deny until then" % (
                  pct(after_return, 50), pct(after_return, 99), max(after_return), self.pm.kind,
                  pct(after_start, 50), pct(after_start, 99)), flush=True)
        self.label_delay = after_return

    def main(self):
        try:
            self.setup()
        except Exception as e:  # noqa: BLE001
            print("SETUP FAILED: %s" % e, flush=True)
            if self.segd:
                print(self.segd.log_tail(), flush=True)
            self.r.failed += 1
            self.teardown()
            return self.r.summary()
        try:
            if self.a.starts > 0:
                self.r.run("zero window with the OCI hook (%d starts)" % self.a.starts, self.t_hook)
            if self.a.control_starts > 0:
                self.r.run("control without the hook (%d starts): the measurement sees the window"
                           % self.a.control_starts, self.t_control)
            if self.a.label_starts > 0:
                self.r.run("labels learned from the engine (%d starts)" % self.a.label_starts,
                           self.t_labels)
            if hasattr(self, "fig_hook"):
                f = self.fig_hook
                print("# zero-window figure: %d starts, %d connection attempts, %d successes (must be 0), "
                      "hook adds p50 %s ms to %s run" % (
                          f["starts"], f["attempts"], f["ok"],
                          ("%+.0f" % ((pct(self.latency["hook"], 50) - pct(self.latency["nohook"], 50)) * 1000))
                          if self.latency.get("nohook") else "?", self.pm.kind), flush=True)
        finally:
            self.teardown()
        return self.r.summary()

    def teardown(self):
        P.suite_teardown(self)


def args():
    ap = P.suite_parser(__doc__)
    ap.add_argument("--engine", choices=("podman", "docker"), default="podman")
    ap.add_argument("--starts", type=int, default=200)
    ap.add_argument("--label-starts", type=int, default=20,
                    help="starts that measure how long until segd knows the labels")
    ap.add_argument("--control-starts", type=int, default=20)
    ap.add_argument("--hold-ms", type=int, default=200, help="how long each target stays up")
    ap.add_argument("--interval-us", type=int, default=2000, help="hammer: one new connect every N us")
    ap.add_argument("--log-level", default="info")
    return P.suite_args(ap)


if __name__ == "__main__":
    sys.exit(Suite(args()).main())
