#!/usr/bin/env python3
"""Incremental updates, checked on the kernel: an endpoint coming, going or changing labels
sends set-element changes only, and only to the namespaces whose peers it affects; rule counters
survive; unaffected namespaces get nothing. Uses segd's per-change counters (segctl status) and
the kernel's own view (segctl rules, nft list) as a cross-check.

Usage: test_incremental.py --segd BIN --segctl BIN --probe BIN
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from topology import Results, Segd, Topology, binaries_args  # noqa: E402

NS = "inc"


def main():
    a = binaries_args()

    res = Results()
    topo = Topology(a.probe)
    segd = Segd(a.segd, a.segctl).start()
    for n in ("db", "web1", "web2", "other1", "other2", "web3"):
        topo.add_endpoint(n)
    topo.start_server("db", tcp=(5432,), udp=())
    labels = {"db": "db", "web1": "web", "web2": "web", "other1": "other", "other2": "other"}
    for n, app in labels.items():
        segd.endpoint_add(n, topo.endpoints[n].netns, NS, {"app": app})
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": "db-from-web", "namespace": NS},
              "spec": {"podSelector": {"matchLabels": {"app": "db"}},
                       "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                                    "ports": [{"port": 5432}]}]}}
    p = segd.apply_objects([policy])
    assert p.returncode == 0, p.stderr

    def last():
        return segd.ctl_json("status")["changes"]["last"]

    def db_set4():
        for s in segd.ctl_json("rules", "db")["sets"]:
            if s["name"].endswith("_p4"):
                return s["elements"]
        return None

    def rule_packets():
        return sum(r.get("packets", 0) for c in segd.ctl_json("rules", "db")["chains"]
                   for r in c["rules"] if r.get("policy") == NS + "/db-from-web")

    def new_peer_is_one_element_change():
        before = rule_packets()
        res.check(topo.can("web1", "db", "tcp", 5432), "web1 cannot reach db")
        counted = rule_packets()
        res.check(counted > before, "the allow rule did not count web1's connection")
        segd.endpoint_add("web3", topo.endpoints["web3"].netns, NS, {"app": "web"})
        c = last()
        print("    web3 added: %s" % c, flush=True)
        # web3's own new table (full) + db's peer set (elements only); nothing else
        res.check(c["namespaces"] == 2, "%d namespaces committed, want 2 (web3, db)" % c["namespaces"])
        res.check(c["incremental"] == 1, "db was not updated by set elements alone: %s" % c)
        res.check(str(topo.endpoints["web3"].v4) in (db_set4() or []), "web3 not in db's peer set")
        res.check(rule_packets() >= counted, "db's rule counters were reset by the update (%d -> %d)"
                  % (counted, rule_packets()))
        res.check(topo.can("web3", "db", "tcp", 5432), "web3 cannot reach db after joining")

    def unreferenced_change_touches_nothing():
        segd.endpoint_label("other2", {"tier": "x"})
        c = last()
        print("    other2 relabelled (no policy refers to it): %s" % c, flush=True)
        res.check(c["namespaces"] == 0 and c["messages"] == 0,
                  "an unreferenced relabel sent %d messages to %d namespaces" % (c["messages"], c["namespaces"]))
        p2 = segd.ctl("endpoint", "del", "other2")
        res.check(p2.returncode == 0, "endpoint del other2 failed")
        c = last()
        res.check(c["namespaces"] == 0 and c["messages"] == 0,
                  "removing an unreferenced endpoint sent %d messages" % c["messages"])

    def relabel_into_selection():
        segd.endpoint_label("other1", {"app": "web"})
        c = last()
        print("    other1 relabelled to app=web: %s" % c, flush=True)
        res.check(c["namespaces"] == 1 and c["incremental"] == 1,
                  "relabel: want db alone, by set elements: %s" % c)
        # BEGIN, one NEWSETELEM per address family (IPv4 and IPv6 sets), END
        res.check(c["messages"] <= 4, "relabel took %d messages, want <= 4" % c["messages"])
        res.check(str(topo.endpoints["other1"].v4) in (db_set4() or []), "other1 not in db's peer set")
        segd.endpoint_label("other1", {"app": "other"})
        c = last()
        res.check(c["namespaces"] == 1 and c["incremental"] == 1, "relabel back: %s" % c)
        res.check(str(topo.endpoints["other1"].v4) not in (db_set4() or []), "other1 still in db's set")
        res.check(not topo.can("other1", "db", "tcp", 5432, timeout_ms=400),
                  "other1 still reaches db after leaving the selection")

    def removal_deletes_elements():
        p2 = segd.ctl("endpoint", "del", "web2")
        res.check(p2.returncode == 0, "endpoint del web2 failed")
        c = last()
        print("    web2 removed: %s" % c, flush=True)
        res.check(c["namespaces"] == 1 and c["incremental"] == 1, "removal: want db by elements: %s" % c)
        res.check(str(topo.endpoints["web2"].v4) not in (db_set4() or []), "web2 still in db's set")
        st = segd.ctl_json("rules", "db")
        res.check(st.get("in_sync") is True, "db's kernel table is not what segd believes after "
                  "incremental updates")

    res.run("a new peer is one set-element change in one namespace", new_peer_is_one_element_change)
    res.run("changes no policy refers to send nothing", unreferenced_change_touches_nothing)
    res.run("relabel into and out of a selection", relabel_into_selection)
    res.run("a removed peer is deleted from the set", removal_deletes_elements)
    rc = res.summary()
    segd.close()
    topo.close()
    return rc


if __name__ == "__main__":
    sys.exit(main())
