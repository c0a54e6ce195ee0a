#!/usr/bin/env python3
"""Takes table `inet segd` of the network namespace it runs in and holds it.

    ip netns exec NS python3 nft_squat.py

In one nf_tables transaction: destroy `inet segd` (whoever's orphan it is) and create an empty
`inet segd` with flags owner|persist, owned by this process's netlink socket, which nft(8)
cannot do (its socket closes when it exits). Prints "ready" once the kernel acknowledged it,
or "refused ERRNO MESSAGE" and exits 1; then holds the socket (and so the table) until stdin
reaches EOF or the process is killed.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seclib as S  # noqa: E402


def main():
    try:
        sock = S.squat_table()
    except OSError as e:
        print("refused %d %s" % (e.errno or 0, e.strerror or e), flush=True)
        return 1
    print("ready", flush=True)
    sys.stdin.read()
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
