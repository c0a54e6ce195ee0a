"""A scriptable fake of the Docker Engine API (the subset Podman also serves) on a unix socket.

segd follows a container engine with:

    GET /v1.41/containers/json                     running containers (list)
    GET /v1.41/containers/{id}/json                inspect (404 when gone)
    GET /v1.41/events?filters={"type":["container"]}   never-ending newline-delimited JSON

FakeEngine serves exactly that (plus /_ping and /version, under any /vX.Y prefix or none) from
containers the test controls, and lets the test misbehave on purpose:

    eng = FakeEngine("/tmp/x/engine.sock").start()
    c = eng.add_container("web", labels={"app": "web"}, netns="/run/netns/sgt1-web", pid=1234)
    eng.emit_container_event("start", c["id"])       # to every connected events stream
    eng.emit_raw(b'{"Type": "contai')               # arbitrary bytes (no newline added)
    eng.set_inspect(c["id"], status=500)              # or body=b"garbage", delay=5, times=1
    eng.drop_streams(partial=b'{"Type":"cont')        # abort every events stream mid-line
    eng.stop(); eng.restart()                          # socket removed, then recreated
    eng.requests_matching("/events")                   # what the client asked
    eng.add_container("late", ..., listed=False)        # inspectable, but absent from lists

Containers are plain dicts (see add_container); change them under eng.lock or through the
helpers. Everything is stdlib: socketserver.ThreadingUnixStreamServer and
http.server.BaseHTTPRequestHandler speaking HTTP/1.1 with keep-alive. The events route streams
with chunked transfer encoding (default, like dockerd) or, with chunked_events=False, an unbounded
body ended by closing the connection; each event is flushed as it is emitted.

Run as a script for a manual self-test against curl:
    python3 fake_engine.py --socket /tmp/fe.sock [--demo]
"""

import http.server
import json
import os
import queue
import secrets
import select
import socket
import socketserver
import threading
import time
import urllib.parse

API_VERSION = "1.41"
_CLOSE = object()   # end the events stream cleanly (terminating chunk / EOF)
_ABORT = object()   # cut the connection (no terminating chunk)


def new_id():
    """A 64-hex-digit container id."""
    return secrets.token_hex(32)


def _iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".000000000Z"


class _Stream:
    """One connected events client."""

    def __init__(self, conn, query):
        self.conn = conn
        self.query = query
        self.q = queue.Queue()
        self.opened = time.monotonic()
        self.closed = threading.Event()
        self.sent = 0  # bytes of event payload written


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, path, engine):
        self.engine = engine
        super().__init__(path, _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeEngine/1.0"
    sys_version = ""

    # --------------------------------------------------------------- plumbing
    def setup(self):
        super().setup()
        self.engine = self.server.engine
        with self.engine.lock:
            self.engine._conns.add(self.connection)
            self.engine.connections_accepted += 1
            refuse = self.engine.refuse_connections
        if refuse:
            # A "broken" engine: accept and hang up at once (counts connection attempts).
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.close_connection = True

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        with self.engine.lock:
            self.engine._conns.discard(self.connection)

    def handle(self):
        if self.engine.refuse_connections:
            return
        try:
            super().handle()
        except (OSError, ValueError):
            pass

    def address_string(self):  # unix sockets have no peer address
        return "unix"

    def log_message(self, fmt, *args):
        if self.engine.verbose:
            super().log_message(fmt, *args)

    def _send(self, status, body, ctype="application/json", extra=None, length=None):
        if isinstance(body, (dict, list)):
            body = (json.dumps(body) + "\n").encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Docker-Experimental", "false")
        self.send_header("Ostype", "linux")
        self.send_header("Date", self.date_time_string())
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _error(self, status, message):
        self._send(status, {"message": message})

    # ---------------------------------------------------------------- routing
    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        self._record()
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        self._error(404, "page not found")

    def do_DELETE(self):
        self.do_POST()

    def _record(self):
        u = urllib.parse.urlsplit(self.path)
        rec = {"time": time.monotonic(), "method": self.command, "path": u.path,
               "query": urllib.parse.parse_qs(u.query), "raw_path": self.path,
               "headers": dict(self.headers.items())}
        with self.engine.lock:
            self.engine.requests.append(rec)
        return rec

    def do_GET(self):
        rec = self._record()
        try:
            self._get(rec)
        finally:
            # When the reply (or the decision not to give one) was done: a delayed reply's
            # "done" is when it left, so a test can wait for a stale reply to be delivered.
            rec["done"] = time.monotonic()

    def _get(self, rec):
        path = rec["path"]
        parts = [p for p in path.split("/") if p]
        if parts and parts[0].startswith("v") and parts[0][1:].replace(".", "").isdigit():
            parts = parts[1:]
        eng = self.engine
        if parts == ["_ping"]:
            return self._send(200, "OK", "text/plain; charset=utf-8")
        if parts == ["version"]:
            return self._send(200, {"Version": "24.0.7-fake", "ApiVersion": API_VERSION,
                                    "MinAPIVersion": "1.12", "Os": "linux", "Arch": "amd64",
                                    "KernelVersion": os.uname().release})
        if parts == ["containers", "json"]:
            return self._list(rec)
        if len(parts) == 3 and parts[0] == "containers" and parts[2] == "json":
            return self._inspect(parts[1])
        if parts == ["events"]:
            return self._events(rec)
        return eng and self._error(404, "page not found")

    # ------------------------------------------------------------------ list
    def _override(self, table, key):
        """Pops one use of an override (dict with status/body/delay/times/close)."""
        eng = self.engine
        with eng.lock:
            o = table.get(key)
            if o is None:
                return None
            if o.get("times") is not None:
                o["times"] -= 1
                if o["times"] <= 0:
                    del table[key]
            return dict(o)

    def _apply_override(self, o, default_body_fn):
        """Serves an override; returns True when it answered the request itself."""
        if o.get("delay"):
            time.sleep(o["delay"])
        if o.get("hang"):
            # Never answer (until the engine stops): a peer that accepts and goes silent.
            self.engine._stopping.wait(o["hang"] if o["hang"] is not True else None)
            self.close_connection = True
            return True
        if o.get("truncate") is not None:
            # Promise more than we send, then hang up.
            body = o.get("body")
            if body is None:
                body = (json.dumps(default_body_fn()) + "\n").encode()
            body = body if isinstance(body, bytes) else str(body).encode()
            cut = body[:o["truncate"]]
            self.send_response(o.get("status", 200))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(cut)
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return True
        if "status" in o or "body" in o:
            status = o.get("status", 200)
            body = o.get("body")
            if body is None:
                body = default_body_fn() if status < 400 else {"message": "fake engine: error %d" % status}
            self._send(status, body, o.get("ctype", "application/json"))
            return True
        return False

    def _list(self, rec):
        eng = self.engine
        o = self._override(eng._list_overrides, "list")
        if o and self._apply_override(o, eng.list_json):
            return
        all_ = rec["query"].get("all", ["0"])[0] in ("1", "true", "True")
        self._send(200, eng.list_json(all_))

    # --------------------------------------------------------------- inspect
    def _inspect(self, ref):
        eng = self.engine
        c = eng.find(ref)
        key = c["id"] if c else ref
        o = self._override(eng._inspect_overrides, key)
        if o and self._apply_override(o, lambda: eng.inspect_json(c) if c else {}):
            return
        if not c:
            return self._error(404, "No such container: %s" % ref)
        self._send(200, eng.inspect_json(c))

    # ---------------------------------------------------------------- events
    def _events(self, rec):
        eng = self.engine
        chunked = eng.chunked_events
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Docker-Experimental", "false")
        self.send_header("Ostype", "linux")
        self.send_header("Date", self.date_time_string())
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        st = _Stream(self.connection, rec["query"])
        with eng.lock:
            eng._streams.append(st)
            eng.streams_opened += 1
            eng._stream_cv.notify_all()
        self.close_connection = True
        try:
            while True:
                try:
                    item = st.q.get(timeout=0.2)
                except queue.Empty:
                    if self._peer_gone():
                        break
                    continue
                if item is _CLOSE:
                    if chunked:
                        self.wfile.write(b"0\r\n\r\n")
                        self.wfile.flush()
                    break
                if item is _ABORT:
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    break
                if not item:
                    continue
                if chunked:
                    self.wfile.write(b"%x\r\n" % len(item) + item + b"\r\n")
                else:
                    self.wfile.write(item)
                self.wfile.flush()
                st.sent += len(item)
        except OSError:
            pass
        finally:
            st.closed.set()
            with eng.lock:
                if st in eng._streams:
                    eng._streams.remove(st)
                eng._stream_cv.notify_all()

    def _peer_gone(self):
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if not r:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


class FakeEngine:
    """The fake engine. Thread-safe; every helper may be called while segd talks to it."""

    def __init__(self, socket_path, chunked_events=True, verbose=False):
        self.socket_path = socket_path
        self.chunked_events = chunked_events
        self.verbose = verbose
        self.lock = threading.RLock()
        self._stream_cv = threading.Condition(self.lock)
        self.containers = {}          # id -> container dict
        self.requests = []            # every request, see _Handler._record
        self.streams_opened = 0
        self.connections_accepted = 0
        self.refuse_connections = False
        self._streams = []
        self._conns = set()
        self._inspect_overrides = {}
        self._list_overrides = {}
        self._server = None
        self._thread = None
        self._stopping = threading.Event()
        self.starts = 0

    # -------------------------------------------------------------- lifecycle
    def start(self):
        if self._server:
            raise RuntimeError("fake engine already running")
        try:
            os.unlink(self.socket_path)
        except FileNotFoundError:
            pass
        self._stopping = threading.Event()
        self._server = _Server(self.socket_path, self)
        os.chmod(self.socket_path, 0o660)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        self.starts += 1
        return self

    def stop(self):
        """The engine goes away: the socket file is removed and every connection is cut."""
        srv, self._server = self._server, None
        if not srv:
            return
        self._stopping.set()
        srv.shutdown()
        srv.server_close()
        try:
            os.unlink(self.socket_path)
        except FileNotFoundError:
            pass
        with self.lock:
            streams = list(self._streams)
            conns = list(self._conns)
        for st in streams:
            st.q.put(_ABORT)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for st in streams:
            st.closed.wait(2)
        self._thread.join(5)

    def restart(self, down_seconds=0.0):
        self.stop()
        if down_seconds:
            time.sleep(down_seconds)
        return self.start()

    @property
    def running(self):
        return self._server is not None

    close = stop

    # ------------------------------------------------------------- containers
    def add_container(self, name, labels=None, netns=None, pid=0, network_mode="bridge",
                      running=True, cid=None, image="busybox:latest", listed=True, **extra):
        """A container: netns is the SandboxKey (e.g. /run/netns/NAME; "" for none), pid its
        init pid (0 when not running). extra keys override inspect fields at top level.
        listed=False keeps it out of the container list (inspect and events still know it):
        a client can only learn of it from an event, until set_listed(ref, True)."""
        c = {"id": cid or new_id(), "name": name, "labels": dict(labels or {}),
             "netns": netns if netns is not None else "", "pid": pid,
             "network_mode": network_mode, "running": running, "image": image,
             "created": time.time(), "listed": listed, "extra": extra}
        with self.lock:
            self.containers[c["id"]] = c
        return c

    def remove_container(self, ref):
        with self.lock:
            c = self.find(ref)
            if c:
                del self.containers[c["id"]]
            return c

    def set_running(self, ref, running, pid=None):
        with self.lock:
            c = self.find(ref)
            c["running"] = running
            if pid is not None:
                c["pid"] = pid
            elif not running:
                c["pid"] = 0
            return c

    def set_listed(self, ref, listed=True):
        with self.lock:
            c = self.find(ref)
            if c:
                c["listed"] = listed
            return c

    def find(self, ref):
        """By id, unique id prefix or name (like the engine)."""
        with self.lock:
            if ref in self.containers:
                return self.containers[ref]
            hits = [c for c in self.containers.values()
                    if c["name"] == ref.lstrip("/") or (len(ref) >= 1 and c["id"].startswith(ref))]
            return hits[0] if len(hits) == 1 else None

    def list_json(self, all_=False):
        with self.lock:
            cs = sorted(self.containers.values(), key=lambda c: -c["created"])
            out = []
            for c in cs:
                if (not c["running"] and not all_) or not c.get("listed", True):
                    continue
                out.append({
                    "Id": c["id"], "Names": ["/" + c["name"]], "Image": c["image"],
                    "ImageID": "sha256:" + "0" * 64, "Command": "sleep infinity",
                    "Created": int(c["created"]), "Ports": [], "Labels": dict(c["labels"]),
                    "State": "running" if c["running"] else "exited",
                    "Status": "Up 1 second" if c["running"] else "Exited (0) 1 second ago",
                    "HostConfig": {"NetworkMode": c["network_mode"]},
                    "NetworkSettings": {"Networks": {}}, "Mounts": []})
            return out

    def inspect_json(self, c):
        with self.lock:
            running = c["running"]
            d = {
                "Id": c["id"], "Created": _iso(c["created"]), "Path": "sleep",
                "Args": ["infinity"],
                "State": {"Status": "running" if running else "exited", "Running": running,
                          "Paused": False, "Restarting": False, "OOMKilled": False,
                          "Dead": False, "Pid": c["pid"] if running else 0,
                          "ExitCode": 0, "Error": "", "StartedAt": _iso(c["created"]),
                          "FinishedAt": "0001-01-01T00:00:00Z"},
                "Image": "sha256:" + "0" * 64, "Name": "/" + c["name"], "RestartCount": 0,
                "Driver": "overlay2", "Platform": "linux",
                "HostConfig": {"NetworkMode": c["network_mode"], "Privileged": False},
                "Config": {"Hostname": c["id"][:12], "Image": c["image"],
                           "Cmd": ["sleep", "infinity"], "Labels": dict(c["labels"])},
                "NetworkSettings": {"Bridge": "", "SandboxID": c["id"][::-1],
                                    "SandboxKey": c["netns"] if running else "",
                                    "Networks": {}},
            }
            for k, v in c["extra"].items():
                d[k] = v
            return d

    # ---------------------------------------------------------------- events
    def container_event(self, action, ref, attributes=None):
        """A Docker-shaped container event (dict). ref may name a container that is gone."""
        with self.lock:
            c = self.find(ref)
            cid = c["id"] if c else ref
            attrs = {"image": c["image"] if c else "busybox:latest",
                     "name": c["name"] if c else "gone"}
            if c:
                attrs.update(c["labels"])
        if attributes:
            attrs.update(attributes)
        now = time.time()
        return {"status": action, "id": cid, "from": attrs.get("image"),
                "Type": "container", "Action": action,
                "Actor": {"ID": cid, "Attributes": attrs}, "scope": "local",
                "time": int(now), "timeNano": int(now * 1e9)}

    def emit(self, obj):
        """One JSON value (anything json.dumps takes) plus a newline to every stream."""
        return self.emit_raw((json.dumps(obj) + "\n").encode())

    def emit_container_event(self, action, ref, attributes=None):
        return self.emit(self.container_event(action, ref, attributes))

    def emit_raw(self, data):
        """Arbitrary bytes, exactly as given (no newline added), to every stream.
        Returns the number of streams it was queued to."""
        if isinstance(data, str):
            data = data.encode()
        with self.lock:
            streams = list(self._streams)
        for st in streams:
            st.q.put(data)
        return len(streams)

    def drop_streams(self, partial=None):
        """Cut every events stream, after `partial` bytes (e.g. half a JSON line)."""
        with self.lock:
            streams = list(self._streams)
        for st in streams:
            if partial:
                st.q.put(partial if isinstance(partial, bytes) else partial.encode())
            st.q.put(_ABORT)
        for st in streams:
            st.closed.wait(3)
        return len(streams)

    def close_streams(self):
        """End every events stream cleanly (terminating chunk or EOF)."""
        with self.lock:
            streams = list(self._streams)
        for st in streams:
            st.q.put(_CLOSE)
        for st in streams:
            st.closed.wait(3)
        return len(streams)

    def stream_count(self):
        with self.lock:
            return len(self._streams)

    def wait_streams(self, n=1, timeout=10.0, opened_after=None):
        """Wait until at least n events streams are connected (opened after the monotonic
        time opened_after, when given). True on success."""
        deadline = time.monotonic() + timeout
        with self._stream_cv:
            while True:
                ok = [s for s in self._streams
                      if opened_after is None or s.opened > opened_after]
                if len(ok) >= n:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._stream_cv.wait(min(left, 0.2))

    def wait_idle(self, timeout=5.0):
        """Wait until every queued event has been written to its stream."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if all(s.q.empty() for s in self._streams):
                    return True
            time.sleep(0.02)
        return False

    # ------------------------------------------------------------- misbehave
    def set_inspect(self, ref, status=None, body=None, delay=None, times=None, truncate=None,
                    hang=None, ctype=None):
        """Make inspect of a container (id, or any string for an unknown one) misbehave:
        status (404, 500, ...), body (dict/list/str/bytes served as is), delay (seconds before
        answering; the reply describes the container as it was when the request arrived, like
        an engine that took its snapshot and then was slow to deliver it), truncate (send only this many body bytes, then hang up), hang (never
        answer: True or seconds). times: only for the next N requests (default: until
        cleared)."""
        c = self.find(ref)
        key = c["id"] if c else ref
        o = {}
        for k, v in (("status", status), ("body", body), ("delay", delay), ("times", times),
                     ("truncate", truncate), ("hang", hang), ("ctype", ctype)):
            if v is not None:
                o[k] = v
        with self.lock:
            self._inspect_overrides[key] = o
        return o

    def clear_inspect(self, ref=None):
        with self.lock:
            if ref is None:
                self._inspect_overrides.clear()
            else:
                c = self.find(ref)
                self._inspect_overrides.pop(c["id"] if c else ref, None)

    def set_list(self, status=None, body=None, delay=None, times=None, truncate=None, hang=None,
                 ctype=None):
        """Same for the container list."""
        o = {}
        for k, v in (("status", status), ("body", body), ("delay", delay), ("times", times),
                     ("truncate", truncate), ("hang", hang), ("ctype", ctype)):
            if v is not None:
                o[k] = v
        with self.lock:
            self._list_overrides["list"] = o

    def clear_list(self):
        with self.lock:
            self._list_overrides.clear()

    # -------------------------------------------------------------- requests
    def requests_matching(self, contains=None, since=None, method=None):
        with self.lock:
            return [r for r in self.requests
                    if (contains is None or contains in r["path"])
                    and (since is None or r["time"] >= since)
                    and (method is None or r["method"] == method)]

    def inspects_of(self, ref, since=None):
        c = self.find(ref)
        cid = c["id"] if c else ref
        return [r for r in self.requests_matching("/containers/", since)
                if r["path"].rstrip("/").endswith("/json")
                and r["path"].split("/")[-2] in (cid, c["name"] if c else None)]

    def list_requests(self, since=None):
        return [r for r in self.requests_matching("/containers/json", since)
                if r["path"].split("/")[-2] == "containers"]

    def clear_requests(self):
        with self.lock:
            self.requests = []


# ------------------------------------------------------------------ self-test
def _http(sock, path, timeout=5):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock)
    s.sendall(("GET %s HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n" % path).encode())
    data = b""
    while True:
        try:
            b = s.recv(65536)
        except socket.timeout:
            break
        if not b:
            break
        data += b
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), head, body


def _dechunk(body):
    out, rest = b"", body
    while rest:
        size, sep, rest = rest.partition(b"\r\n")
        if not sep:
            break
        n = int(size, 16)
        if n == 0:
            break
        out, rest = out + rest[:n], rest[n + 2:]
    return out


def self_test(sock):
    """Exercises every route with a raw HTTP client; raises AssertionError on a mismatch."""
    eng = FakeEngine(sock).start()
    try:
        a = eng.add_container("a", labels={"app": "a"}, netns="/run/netns/x", pid=1)
        st, _, body = _http(sock, "/v1.41/containers/json")
        assert st == 200 and json.loads(body)[0]["Id"] == a["id"], body
        st, _, body = _http(sock, "/v1.41/containers/%s/json" % a["id"][:12])
        j = json.loads(body)
        assert st == 200 and j["NetworkSettings"]["SandboxKey"] == "/run/netns/x", j
        assert j["Config"]["Labels"] == {"app": "a"} and j["State"]["Pid"] == 1, j
        st, _, _ = _http(sock, "/v1.41/containers/%s/json" % new_id())
        assert st == 404
        # unlisted: inspectable, absent from the list until set_listed
        h = eng.add_container("hidden", netns="/run/netns/y", pid=2, listed=False)
        st, _, body = _http(sock, "/v1.41/containers/json")
        assert st == 200 and [c["Id"] for c in json.loads(body)] == [a["id"]], body
        assert _http(sock, "/v1.41/containers/%s/json" % h["id"])[0] == 200
        eng.set_listed(h["id"])
        st, _, body = _http(sock, "/v1.41/containers/json")
        assert h["id"] in [c["Id"] for c in json.loads(body)], body
        eng.remove_container(h["id"])
        # a delayed reply records when it left
        eng.set_inspect(a["id"], delay=0.3, times=1)
        t = time.monotonic()
        assert _http(sock, "/v1.41/containers/%s/json" % a["id"])[0] == 200
        rq = eng.inspects_of(a["id"], t)
        assert rq and rq[0]["done"] - rq[0]["time"] >= 0.3, rq
        eng.set_inspect(a["id"], status=500, times=1)
        assert _http(sock, "/v1.41/containers/%s/json" % a["id"])[0] == 500
        assert _http(sock, "/v1.41/containers/%s/json" % a["id"])[0] == 200
        eng.set_inspect(a["id"], body=b"\x00garbage{", times=1)
        assert _http(sock, "/v1.41/containers/%s/json" % a["id"])[2] == b"\x00garbage{"
        eng.set_inspect(a["id"], truncate=10, times=1)
        st, head, body = _http(sock, "/v1.41/containers/%s/json" % a["id"])
        assert len(body) == 10 and b"Content-Length" in head, (head, body)

        # events: a reader thread collects the dechunked stream
        got = []
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        s.sendall(b'GET /v1.41/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D '
                  b'HTTP/1.1\r\nHost: docker\r\n\r\n')

        def reader():
            while True:
                b = s.recv(65536)
                if not b:
                    break
                got.append(b)
        t = threading.Thread(target=reader, daemon=True)
        t.start()
        assert eng.wait_streams(1, 5)
        rq = eng.requests_matching("/events")[-1]
        assert json.loads(rq["query"]["filters"][0]) == {"type": ["container"]}, rq
        eng.emit_container_event("start", a["id"])
        eng.emit_raw(b"not json\n")
        eng.emit_raw(b"x" * (1 << 20) + b"\n")
        eng.drop_streams(partial=b'{"Type":"conta')
        t.join(5)
        raw = b"".join(got)
        head, _, body = raw.partition(b"\r\n\r\n")
        assert b"Transfer-Encoding: chunked" in head, head
        lines = _dechunk(body).split(b"\n")
        ev = json.loads(lines[0])
        assert ev["Action"] == "start" and ev["Actor"]["ID"] == a["id"], ev
        assert lines[1] == b"not json" and len(lines[2]) == 1 << 20, lines[:2]
        assert lines[3] == b'{"Type":"conta', lines[3][:40]
        assert eng.stream_count() == 0

        eng.stop()
        assert not os.path.exists(sock)
        eng.start()
        assert _http(sock, "/_ping")[2] == b"OK"
        print("fake_engine self-test: ok")
    finally:
        eng.stop()


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", default="/tmp/fake-engine-%d.sock" % os.getpid())
    ap.add_argument("--serve", action="store_true", help="serve a demo container until ^C, "
                    "emitting a start event every 2 s")
    a = ap.parse_args()
    if not a.serve:
        self_test(a.socket)
    else:
        eng = FakeEngine(a.socket, verbose=True).start()
        c = eng.add_container("demo", labels={"app": "demo"}, netns="/run/netns/demo", pid=1)
        print("serving on", a.socket, flush=True)
        try:
            while True:
                time.sleep(2)
                eng.emit_container_event("start", c["id"])
        except KeyboardInterrupt:
            eng.stop()
