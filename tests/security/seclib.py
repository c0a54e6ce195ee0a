"""Tools for the security suites: entering network namespaces, hand-built frames, sniffing.

Everything here is Python's standard library: ctypes for setns(2), AF_PACKET for frames,
struct for headers. Nothing sends a packet outside a namespace the caller names.

in_netns(NS) moves only the calling thread into NS for the `with` block (setns(2) with
CLONE_NEWNET is per thread); sockets made inside keep that namespace for their whole life, so
the test process itself is a root process (every capability) in the attacker's, the victim's
or the hub's namespace, as a process started with `ip netns exec NS` would be. NS is a name
under /run/netns or a path (a container's SandboxKey).
"""

import contextlib
import ctypes
import ipaddress
import json
import os
import select
import socket
import struct
import subprocess
import time

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
PACKET_OUTGOING = 4

_libc = ctypes.CDLL(None, use_errno=True)


# ----------------------------------------------------------------------- namespaces
def netns_path(ns):
    return ns if ns.startswith("/") else os.path.join("/run/netns", ns)


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: %s" % os.strerror(e))


@contextlib.contextmanager
def in_netns(ns):
    """The calling thread in network namespace ns for the block (see the module comment)."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(netns_path(ns), os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)


def run(cmd, check=True, input=None, timeout=30):
    p = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError("command failed (%d): %s\n%s%s" % (
            p.returncode, " ".join(cmd), p.stdout, p.stderr))
    return p


def ns_cmd(ns, cmd):
    """cmd run in namespace ns: `ip netns exec` for a name, `nsenter --net=` for a path."""
    if ns.startswith("/"):
        return ["nsenter", "--net=" + ns] + list(cmd)
    return ["ip", "netns", "exec", ns] + list(cmd)


def ns_run(ns, cmd, check=True, timeout=30, input=None):
    return run(ns_cmd(ns, cmd), check=check, timeout=timeout, input=input)


def link_info(ns, ifname):
    """`ip -j link show` of one interface in ns (a dict)."""
    return json.loads(ns_run(ns, ["ip", "-j", "link", "show", "dev", ifname]).stdout)[0]


def mac_of(ns, ifname="eth0"):
    return link_info(ns, ifname)["address"]


def addrs_of(ns, ifname="eth0", family=None):
    """[(address, prefixlen, scope, dynamic)] of ifname in ns."""
    cmd = ["ip", "-j"] + (["-%d" % family] if family else []) + ["addr", "show", "dev", ifname]
    out = []
    for link in json.loads(ns_run(ns, cmd).stdout or "[]"):
        for a in link.get("addr_info") or []:
            dyn = a.get("dynamic", False) or a.get("valid_life_time", 4294967295) != 4294967295
            out.append((a["local"], a["prefixlen"], a.get("scope"), dyn))
    return out


def link_local_of(ns, ifname="eth0"):
    for a, _, scope, _ in addrs_of(ns, ifname, 6):
        if scope == "link" and a.startswith("fe80:"):
            return a
    return None


def routes6(ns, *selector):
    return ns_run(ns, ["ip", "-6", "route", "show"] + list(selector)).stdout


# ------------------------------------------------------------------------- headers
def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


def mac_str(b):
    return ":".join("%02x" % x for x in b)


def ip_bytes(a):
    return ipaddress.ip_address(a).packed


def version_of(a):
    return ipaddress.ip_address(a).version


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _pseudo(src, dst, proto, length):
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version == 4:
        return s.packed + d.packed + struct.pack("!BBH", 0, proto, length)
    return s.packed + d.packed + struct.pack("!I3xB", length, proto)


def _with_csum(seg, off, src, dst, proto, zero_is_ffff=False):
    c = csum(_pseudo(src, dst, proto, len(seg)) + seg)
    if zero_is_ffff and c == 0:
        c = 0xFFFF
    return seg[:off] + struct.pack("!H", c) + seg[off + 2:]


def udp(src, dst, sport, dport, payload):
    seg = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    return _with_csum(seg, 6, src, dst, 17, zero_is_ffff=True)


TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def tcp(src, dst, sport, dport, seq, ack=0, flags=TCP_SYN, window=64240, payload=b""):
    # one option, MSS 1460, as a real SYN carries
    opts = struct.pack("!BBH", 2, 4, 1460) if flags & TCP_SYN else b""
    off = (20 + len(opts)) // 4
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags, window, 0, 0) + opts + payload
    return _with_csum(seg, 16, src, dst, 6)


def icmp4(type_, code, rest=0, data=b""):
    m = struct.pack("!BBHI", type_, code, 0, rest) + data
    return m[:2] + struct.pack("!H", csum(m)) + m[4:]


def icmp6(src, dst, type_, code, body):
    """body: everything after the 4-byte type/code/checksum header."""
    m = struct.pack("!BBH", type_, code, 0) + body
    return _with_csum(m, 2, src, dst, 58)


_ident = [0x1234]


def ip_packet(src, dst, proto, payload, ttl=64):
    """IPv4 or IPv6 header (by the addresses' family) + payload."""
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version == 4:
        _ident[0] = (_ident[0] + 1) & 0xFFFF
        h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), _ident[0], 0x4000, ttl,
                        proto, 0, s.packed, d.packed)
        return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), proto, ttl, s.packed, d.packed) + payload


def ether(dst_mac, src_mac, ethertype, payload):
    return mac_bytes(dst_mac) + mac_bytes(src_mac) + struct.pack("!H", ethertype) + payload


def ip_frame(src_mac, dst_mac, src, dst, proto, l4, ttl=64):
    et = ETH_P_IP if version_of(src) == 4 else ETH_P_IPV6
    return ether(dst_mac, src_mac, et, ip_packet(src, dst, proto, l4, ttl))


def udp_frame(src_mac, dst_mac, src, dst, sport, dport, payload):
    return ip_frame(src_mac, dst_mac, src, dst, 17, udp(src, dst, sport, dport, payload))


def syn_frame(src_mac, dst_mac, src, dst, sport, dport, seq):
    return ip_frame(src_mac, dst_mac, src, dst, 6, tcp(src, dst, sport, dport, seq))


def arp_frame(src_mac, dst_mac, op, sha, spa, tha, tpa):
    body = struct.pack("!HHBBH6s4s6s4s", 1, ETH_P_IP, 6, 4, op, mac_bytes(sha), ip_bytes(spa),
                       mac_bytes(tha), ip_bytes(tpa))
    return ether(dst_mac, src_mac, ETH_P_ARP, body)


def gratuitous_arp(mac, ip):
    """An ARP request for ip from ip (sender = target), broadcast: updates every neighbour
    cache that already has an entry for ip, whatever its lock time."""
    return arp_frame(mac, "ff:ff:ff:ff:ff:ff", 1, mac, ip, "00:00:00:00:00:00", ip)


def all_nodes_mac():
    return "33:33:00:00:00:01"


def _opt_lladdr(kind, mac):
    return struct.pack("!BB6s", kind, 1, mac_bytes(mac))


def na_frame(src_mac, dst_mac, src, dst, target, tlla_mac, override=True, solicited=False):
    flags = (0x20 if override else 0) | (0x40 if solicited else 0)
    body = struct.pack("!B3x16s", flags, ip_bytes(target)) + _opt_lladdr(2, tlla_mac)
    return ip_frame(src_mac, dst_mac, src, dst, 58, icmp6(src, dst, 136, 0, body), ttl=255)


def ra_frame(src_mac, dst_mac, src, dst, prefix, lifetime=1800, valid=86400, preferred=14400):
    """Router Advertisement: router lifetime `lifetime` s, a prefix information option with
    the on-link and autonomous flags (SLAAC) for the /64 prefix, and the source link-layer
    address option."""
    net = ipaddress.ip_network(prefix)
    body = struct.pack("!BBHII", 64, 0, lifetime, 0, 0)
    body += _opt_lladdr(1, src_mac)
    body += struct.pack("!BBBBIII16s", 3, 4, net.prefixlen, 0xC0, valid, preferred, 0,
                        net.network_address.packed)
    return ip_frame(src_mac, dst_mac, src, dst, 58, icmp6(src, dst, 134, 0, body), ttl=255)


def redirect_frame(src_mac, dst_mac, src, dst, target, destination, tlla_mac):
    """ICMPv6 Redirect: "for `destination` use `target`" (with the target's link-layer address)."""
    body = struct.pack("!4x16s16s", ip_bytes(target), ip_bytes(destination)) + _opt_lladdr(2, tlla_mac)
    return ip_frame(src_mac, dst_mac, src, dst, 58, icmp6(src, dst, 137, 0, body), ttl=255)


def port_unreachable(src, dst, inner_src, inner_dst, inner_sport, inner_dport, inner_payload=b"x"):
    """ICMP port unreachable (v4 type 3 code 3, v6 type 1 code 4) from src to dst quoting the
    UDP datagram inner_src:inner_sport -> inner_dst:inner_dport as it left inner_src."""
    inner = ip_packet(inner_src, inner_dst, 17,
                      udp(inner_src, inner_dst, inner_sport, inner_dport, inner_payload))
    if version_of(src) == 4:
        return ip_packet(src, dst, 1, icmp4(3, 3, 0, inner))
    return ip_packet(src, dst, 58, icmp6(src, dst, 1, 4, struct.pack("!I", 0) + inner))


def frame_of_ip(src_mac, dst_mac, pkt):
    return ether(dst_mac, src_mac, ETH_P_IP if pkt[0] >> 4 == 4 else ETH_P_IPV6, pkt)


# ------------------------------------------------------------------------- parsing
def parse(frame):
    """A dict describing an Ethernet frame: macs, ethertype, and for IP: family, src, dst,
    proto, and for TCP/UDP ports (TCP also flags, seq, ack), for ICMP type/code, payload."""
    if len(frame) < 14:
        return None
    d = {"dst_mac": mac_str(frame[0:6]), "src_mac": mac_str(frame[6:12])}
    et = struct.unpack("!H", frame[12:14])[0]
    d["ethertype"] = et
    p = frame[14:]
    if et == ETH_P_IP and len(p) >= 20:
        ihl = (p[0] & 0xF) * 4
        d.update(family=4, proto=p[9], src=str(ipaddress.IPv4Address(p[12:16])),
                 dst=str(ipaddress.IPv4Address(p[16:20])))
        l4 = p[ihl:struct.unpack("!H", p[2:4])[0]]
    elif et == ETH_P_IPV6 and len(p) >= 40:
        d.update(family=6, proto=p[6], src=str(ipaddress.IPv6Address(p[8:24])),
                 dst=str(ipaddress.IPv6Address(p[24:40])))
        l4 = p[40:40 + struct.unpack("!H", p[4:6])[0]]
    elif et == ETH_P_ARP and len(p) >= 28:
        d.update(arp_op=struct.unpack("!H", p[6:8])[0], arp_sha=mac_str(p[8:14]),
                 arp_spa=str(ipaddress.IPv4Address(p[14:18])), arp_tpa=str(ipaddress.IPv4Address(p[24:28])))
        return d
    else:
        return d
    if d["proto"] in (6, 17) and len(l4) >= 8:
        d["sport"], d["dport"] = struct.unpack("!HH", l4[:4])
        if d["proto"] == 6 and len(l4) >= 20:
            d["seq"], d["ack"] = struct.unpack("!II", l4[4:12])
            d["flags"] = l4[13]
            d["payload"] = l4[(l4[12] >> 4) * 4:]
        elif d["proto"] == 17:
            d["payload"] = l4[8:]
    elif d["proto"] in (1, 58) and len(l4) >= 4:
        d["icmp_type"], d["icmp_code"] = l4[0], l4[1]
    return d


# ------------------------------------------------------------------------ sockets
def packet_socket(ns, ifname="eth0", proto=0):
    """AF_PACKET SOCK_RAW socket on ifname in ns (proto 0: send only)."""
    with in_netns(ns):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(proto))
        s.bind((ifname, proto))
    return s


def send_frames(ns, frames, ifname="eth0"):
    with packet_socket(ns, ifname) as s:
        for f in frames:
            s.send(f)


class Sniffer:
    """Every frame on ifname in ns from now on, both directions (AF_PACKET, ETH_P_ALL)."""

    def __init__(self, ns, ifname="eth0"):
        self.sock = packet_socket(ns, ifname, ETH_P_ALL)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.setblocking(False)
        self.seen = []   # (outgoing, parsed)

    def _drain(self):
        while True:
            try:
                data, addr = self.sock.recvfrom(65535)
            except BlockingIOError:
                return
            d = parse(data)
            if d is not None:
                self.seen.append((addr[2] == PACKET_OUTGOING, d))

    def find(self, pred):
        self._drain()
        return [d for out, d in self.seen if pred(out, d)]

    def wait(self, pred, timeout):
        """The frames matching pred(outgoing, parsed) once at least one has come, or [] after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.find(pred)
            left = deadline - time.monotonic()
            if got or left <= 0:
                return got
            select.select([self.sock], [], [], left)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def synack_for(src, sport, dport, isn):
    """Predicate: an outgoing SYN-ACK from src:dport to sport answering a SYN with seq isn."""
    def pred(out, d):
        return (out and d.get("proto") == 6 and d.get("src") == str(ipaddress.ip_address(src))
                and d.get("sport") == dport and d.get("dport") == sport
                and (d.get("flags", 0) & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK)
                and d.get("ack") == (isn + 1) & 0xFFFFFFFF)
    return pred


def family_of(a):
    return socket.AF_INET if version_of(a) == 4 else socket.AF_INET6


def sock_in(ns, family, kind, bind=None, v6only=True):
    """A socket made in ns; family 4 or 6 (or an address), kind SOCK_DGRAM/SOCK_STREAM."""
    fam = family if family in (socket.AF_INET, socket.AF_INET6) else (
        socket.AF_INET if family == 4 else socket.AF_INET6 if family == 6 else family_of(family))
    with in_netns(ns):
        s = socket.socket(fam, kind)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6 and v6only:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if bind is not None:
            s.bind(bind)
    return s


class Receiver:
    """UDP sockets (IPv4 and IPv6, one port) in ns that collect datagrams: payload -> sender."""

    def __init__(self, ns, port):
        self.port = port
        self.socks = [sock_in(ns, 4, socket.SOCK_DGRAM, ("0.0.0.0", port)),
                      sock_in(ns, 6, socket.SOCK_DGRAM, ("::", port))]
        for s in self.socks:
            s.setblocking(False)
        self.got = {}    # payload -> sender (the last one)
        self.log = []    # every (payload, sender), in order

    def _drain(self):
        for s in self.socks:
            while True:
                try:
                    data, addr = s.recvfrom(65535)
                except BlockingIOError:
                    break
                self.got[data] = addr[0]
                self.log.append((data, addr[0]))

    def wait(self, payloads, timeout):
        """Waits until every payload in `payloads` came or timeout; returns {payload: sender}
        of everything received so far (use a window with payloads=() to just collect)."""
        deadline = time.monotonic() + timeout
        want = set(payloads)
        while True:
            self._drain()
            left = deadline - time.monotonic()
            if (want and want <= set(self.got)) or left <= 0:
                return dict(self.got)
            select.select(self.socks, [], [], left)

    def senders(self):
        """Every address a datagram came from so far."""
        self._drain()
        return {a for _, a in self.log}

    def close(self):
        for s in self.socks:
            s.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def nonce(tag):
    return ("%s-%d-%s" % (tag, os.getpid(), os.urandom(4).hex())).encode()


# -------------------------------------------------------------- nf_tables ownership
NFNL_SUBSYS_NFTABLES = 10
NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END = 0x10, 0x11
NFT_MSG_NEWTABLE, NFT_MSG_DESTROYTABLE = 0, 26
NFTA_TABLE_NAME, NFTA_TABLE_FLAGS = 1, 2
NFT_TABLE_F_OWNER, NFT_TABLE_F_PERSIST = 0x2, 0x4
NLM_F_REQUEST, NLM_F_ACK, NLM_F_CREATE = 0x1, 0x4, 0x400
NLMSG_ERROR = 2
NFPROTO_INET = 1
NETLINK_NETFILTER = 12


def _nlattr(t, data):
    a = struct.pack("=HH", 4 + len(data), t) + data
    return a + b"\0" * ((4 - len(a) % 4) % 4)


def _nlmsg(t, flags, seq, family, res_id, attrs=b""):
    body = struct.pack("=BBH", family, 0, socket.htons(res_id)) + attrs
    return struct.pack("=IHHII", 16 + len(body), t, flags, seq, 0) + body


def squat_table(family=NFPROTO_INET, name="segd", flags=NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST):
    """In the current network namespace: destroy table `name` (if any) and create an empty
    one owned by the returned netlink socket (flags owner|persist), in one transaction. The
    table is the caller's for as long as the socket stays open. Raises OSError on a refusal."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    s.bind((0, 0))
    tname = _nlattr(NFTA_TABLE_NAME, name.encode() + b"\0")
    msgs = _nlmsg(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 1, 0, NFNL_SUBSYS_NFTABLES)
    msgs += _nlmsg(NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_DESTROYTABLE, NLM_F_REQUEST | NLM_F_ACK, 2,
                   family, 0, tname)
    msgs += _nlmsg(NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWTABLE,
                   NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, 3, family, 0,
                   tname + _nlattr(NFTA_TABLE_FLAGS, struct.pack("!I", flags)))
    msgs += _nlmsg(NFNL_MSG_BATCH_END, NLM_F_REQUEST, 4, 0, NFNL_SUBSYS_NFTABLES)
    s.sendto(msgs, (0, 0))
    s.settimeout(5)
    acked = set()
    while acked != {2, 3}:
        data = s.recv(65536)
        off = 0
        while off + 16 <= len(data):
            ln, t, _, seq, _ = struct.unpack("=IHHII", data[off:off + 16])
            if t == NLMSG_ERROR:
                err = struct.unpack("=i", data[off + 16:off + 20])[0]
                if err != 0:
                    s.close()
                    raise OSError(-err, "nf_tables refused message %d: %s" % (seq, os.strerror(-err)))
                acked.add(seq)
            off += (ln + 3) & ~3
    return s
