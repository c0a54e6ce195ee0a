#!/bin/bash
# SPDX-License-Identifier: MIT
#
# segctl against fake-segd.py: requests sent (method, path, query, body), output formats,
# argument errors, diagnostics, exit codes. A client test only; the real daemon is tested
# end to end elsewhere.
#
# Usage: tests/cli/test-cli.sh [PATH/TO/segctl]     (or SEGCTL=...)
set -u

SEGCTL=${1:-${SEGCTL:-segctl}}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
sock=$tmp/segd.sock
log=$tmp/requests.log
pass=0
fail=0
name=

python3 "$here/fake-segd.py" --socket "$sock" --log "$log" >"$tmp/server.out" 2>&1 &
server=$!
cleanup() {
	kill "$server" 2>/dev/null
	wait "$server" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
for _ in $(seq 50); do
	[ -S "$sock" ] && break
	sleep 0.1
done
if [ ! -S "$sock" ]; then
	echo "fake-segd did not start:" >&2
	cat "$tmp/server.out" >&2
	exit 1
fi
export SEGD_SOCKET=$sock
# A sanitized segctl must fail loudly, not print and carry on.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# ---- helpers --------------------------------------------------------------------------------

# run ARGS...: runs segctl, stdout in $tmp/out, stderr in $tmp/err, status in $rc.
run() {
	: >"$log"
	"$SEGCTL" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
}
run_stdin() {
	local input=$1
	shift
	: >"$log"
	"$SEGCTL" "$@" <"$input" >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

t() { name=$*; }

ok() { pass=$((pass + 1)); }
bad() {
	fail=$((fail + 1))
	echo "FAIL [$name]: $*"
	echo "  rc=$rc"
	sed 's/^/  stdout: /' "$tmp/out" | head -20
	sed 's/^/  stderr: /' "$tmp/err" | head -20
}

expect_rc() { [ "$rc" -eq "$1" ] && ok || bad "exit status $rc, expected $1"; }
expect_out() { [ "$(cat "$tmp/out")" == "$1" ] && ok || bad "stdout differs; expected:
$1"; }
expect_err() { [ "$(cat "$tmp/err")" == "$1" ] && ok || bad "stderr differs; expected:
$1"; }
expect_out_has() { [[ "$(cat "$tmp/out")" == *"$1"* ]] && ok || bad "stdout lacks '$1'"; }
expect_err_has() { [[ "$(cat "$tmp/err")" == *"$1"* ]] && ok || bad "stderr lacks '$1'"; }
expect_out_empty() { [ ! -s "$tmp/out" ] && ok || bad "stdout not empty"; }
expect_err_empty() { [ ! -s "$tmp/err" ] && ok || bad "stderr not empty"; }
expect_requests() {
	local n
	n=$(wc -l <"$log")
	[ "$n" -eq "$1" ] && ok || bad "$n requests, expected $1"
}
# expect_req N PYEXPR: request number N (1-based) satisfies PYEXPR over r (the logged request)
# and b (its body parsed as JSON, or None).
expect_req() {
	if python3 - "$log" "$1" "$2" <<'EOF'; then ok; else bad "request $1: not ($2)"; sed 's/^/  request: /' "$log"; fi
import json, sys
lines = open(sys.argv[1]).read().splitlines()
n = int(sys.argv[2])
if len(lines) < n:
    sys.exit(1)
r = json.loads(lines[n - 1])
try:
    b = json.loads(r["body"])
except ValueError:
    b = None
sys.exit(0 if eval(sys.argv[3]) else 1)
EOF
}
# expect_json PYEXPR: stdout is JSON and satisfies PYEXPR over j.
expect_json() {
	if python3 - "$tmp/out" "$1" <<'EOF'; then ok; else bad "stdout JSON: not ($1)"; fi
import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)
EOF
}

# ---- global options, help, version ------------------------------------------------------

t version
run --version
expect_rc 0
expect_out "segctl $("$SEGCTL" --version | cut -d' ' -f2)"
expect_out_has "segctl 0."

t help
run --help
expect_rc 0
for v in apply delete get endpoint rules check matrix node status; do expect_out_has "  $v "; done

for v in apply delete get endpoint rules status; do
	t "$v --help"
	run "$v" --help
	expect_rc 0
	expect_out_has "Usage: segctl $v"
	expect_requests 0
	t "help $v"
	run help "$v"
	expect_rc 0
	expect_out_has "Usage: segctl $v"
done

t "endpoint add --help"
run endpoint add --help
expect_rc 0
expect_out_has "Usage: segctl endpoint add"

t "no command"
run
expect_rc 1
expect_err_has "Usage: segctl"

t "unknown command"
run frobnicate
expect_rc 1
expect_err "segctl: unknown command 'frobnicate'
Try 'segctl --help' for more information."

t "unknown global option"
run --frob status
expect_rc 1
expect_err_has "segctl: unknown option '--frob'"

t "unknown verb option"
run get ep --frob
expect_rc 1
expect_err "segctl get: unknown option '--frob'
Try 'segctl get --help' for more information."
expect_requests 0

t "missing option argument"
run get ep -o
expect_rc 1
expect_err_has "segctl get: option '-o' requires an argument"

t "missing long option argument"
run status --socket
expect_rc 1
expect_err_has "segctl status: option '--socket' requires an argument"

t "bad output format"
run get ep -o xml
expect_rc 1
expect_err_has "unknown output format 'xml' (expected one of: table, json, yaml, name, wide)"
expect_requests 0

# ---- socket selection and connection errors ----------------------------------------------

t "socket from --socket before the verb"
SEGD_SOCKET=$tmp/nope.sock run --socket "$sock" status
expect_rc 0
expect_req 1 'r["method"] == "GET" and r["path"] == "/v1/status"'

t "socket from --socket after the verb"
SEGD_SOCKET=$tmp/nope.sock run status --socket "$sock"
expect_rc 0
expect_requests 1
expect_out_has "segd 0.1.0 (pid 4242)"
SEGD_SOCKET=$tmp/nope.sock run status --socket="$sock"
expect_rc 0
expect_requests 1
for args in "get ep" "get netpol x -n x" "rules x-a" "delete ep x-a" "delete -f $tmp/p.json" \
	"apply -f $tmp/p.json" "endpoint add w --netns n" "endpoint label x-a a=b" \
	"endpoint del x-a"; do
	t "--socket after: $args"
	echo '{}' >"$tmp/p.json"
	# shellcheck disable=SC2086
	SEGD_SOCKET=$tmp/nope.sock run $args --socket "$sock"
	expect_requests 1
	# shellcheck disable=SC2086
	run $args --socket "$tmp/nope.sock"
	expect_rc 2
	expect_err "segctl: cannot connect to segd at $tmp/nope.sock: No such file or directory"
done

t "socket from SEGD_SOCKET"
run status
expect_rc 0

t "connection failure"
run --socket "$tmp/nope.sock" status
expect_rc 2
expect_err "segctl: cannot connect to segd at $tmp/nope.sock: No such file or directory"

t "default socket"
if [ ! -e /run/segd/segd.sock ]; then
	SEGD_SOCKET='' run status
	expect_rc 2
	expect_err_has "segctl: cannot connect to segd at /run/segd/segd.sock: "
fi

t "--timeout before and after the verb"
run --timeout 5 status
expect_rc 0
expect_requests 1
run status --timeout 0.5
expect_rc 0
for good_t in 5s 500ms 2m 1h 24h 0.25 1.5s 86400; do
	t "--timeout $good_t"
	run --timeout "$good_t" status
	expect_rc 0
	expect_requests 1
done
# DURATION: the parser's cases are tests/unit/test-duration.c; here, that its errors reach the user
for bad in "0:not more than 0" "-1:not a number" "abc:not a number" \
	"1e9:unknown unit (ms, s, m or h)" ":empty" "5 s:unknown unit (ms, s, m or h)" \
	"1d:unknown unit (ms, s, m or h)" "86401:too long" "25h:too long" \
	"99999999999999999999999:too long" "1.:no digits after '.'" \
	"0x10:unknown unit (ms, s, m or h)" "inf:not a number" "0.0000000001:not more than 0"; do
	bad_t=${bad%%:*}
	t "bad --timeout '$bad_t'"
	run --timeout "$bad_t" status
	expect_rc 1
	expect_err "segctl: --timeout: invalid duration '$bad_t': ${bad#*:}; expected 30, 30s, 500ms, 2m or 1h, more than 0 and at most 24h
Try 'segctl --help' for more information."
	expect_requests 0
	run apply -f "$tmp/nothing.yaml" --timeout "$bad_t"
	expect_rc 1
	expect_err_has "segctl apply: --timeout: invalid duration '$bad_t': ${bad#*:}"
done

t "read-only socket: not used when the main one is merely absent"
SEGD_AUDIT_SOCKET=$sock run --socket "$tmp/nope.sock" status
expect_rc 2
expect_err "segctl: cannot connect to segd at $tmp/nope.sock: No such file or directory"

# A listener whose queue is full: a non-blocking AF_UNIX connect() fails at once with EAGAIN
# (curl connects non-blocking), which segctl must take as "wait", not "cannot connect".
# full-queue.py PATH MODE: fills PATH's listen queue, then touches PATH.ready; MODE "stay"
# keeps it full, "release" empties it 0.5 s later and answers every request with {}.
cat >"$tmp/full-queue.py" <<'EOF'
import os, socket, sys, time
path, mode = sys.argv[1], sys.argv[2]
ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
ls.bind(path)
ls.listen(0)
fillers = []
while True:
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.setblocking(False)
    try:
        c.connect(path)
    except BlockingIOError:
        c.close()
        break
    fillers.append(c)
open(path + ".ready", "w").close()
if mode == "stay":
    sys.stdin.read()  # until the test closes it
    sys.exit(0)
time.sleep(0.5)  # the queue stays full this long: the server's behaviour under test
for c in fillers:
    c.close()
while True:
    c, _ = ls.accept()
    c.settimeout(5)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            d = c.recv(65536)
            if not d:
                break
            data += d
        if data.startswith(b"GET "):
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
    except OSError:
        pass
    c.close()
EOF
full_queue() { # PATH MODE: starts full-queue.py, waits for its queue to be full
	rm -f "$1" "$1.ready"
	python3 "$tmp/full-queue.py" "$1" "$2" <"$tmp/fifo" &
	fq=$!
	exec 9>"$tmp/fifo"
	for _ in $(seq 100); do
		[ -e "$1.ready" ] && return 0
		sleep 0.1
	done
	echo "full-queue.py did not start" >&2
	return 1
}
full_queue_stop() {
	exec 9>&-
	kill "$fq" 2>/dev/null
	wait "$fq" 2>/dev/null
}
mkfifo "$tmp/fifo"

t "listen queue full for good: a connect timeout, not 'cannot connect'"
if full_queue "$tmp/full.sock" stay; then
	start=$(date +%s%N)
	run --socket "$tmp/full.sock" --timeout 0.5 status
	took_ms=$((($(date +%s%N) - start) / 1000000))
	expect_rc 2
	expect_err "segctl: timed out (--timeout 0.5) connecting to segd at $tmp/full.sock"
	[ "$took_ms" -ge 450 ] && ok || bad "gave up after $took_ms ms, before --timeout 0.5"
else
	bad "no full listen queue"
fi
full_queue_stop

t "listen queue full for a while: segctl waits for room, then gets its answer"
if full_queue "$tmp/full.sock" release; then
	run --socket "$tmp/full.sock" --timeout 20 status -o json
	expect_rc 0
	expect_err_empty
	expect_out "{}"
else
	bad "no full listen queue"
fi
full_queue_stop

t "socket path too long"
run --socket "/$(printf 'a%.0s' $(seq 120))" status
expect_rc 1
expect_err_has "--socket: path longer than 107 bytes"

# ---- apply --------------------------------------------------------------------------------

cat >"$tmp/p.yaml" <<'EOF'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-b, namespace: x}
spec: {podSelector: {}}
EOF
applied='namespace/x configured
networkpolicy/x/allow-b created
networkpolicy/x/deny-all unchanged'

t "apply -f"
run apply -f "$tmp/p.yaml"
expect_rc 0
expect_out "$applied"
expect_err_empty
expect_requests 1
expect_req 1 'r["method"] == "POST" and r["path"] == "/v1/apply"'
expect_req 1 "r['query'] == {'file': '$tmp/p.yaml'}"
expect_req 1 "r['body'] == open('$tmp/p.yaml').read()"
expect_req 1 'r["content_type"] == "application/yaml"'

t "apply: an endpoint not committed yet is a warning, the change is in force"
printf '# NOTCOMMITTED\nkind: NetworkPolicy\n' > "$tmp/nc.yaml"
run apply -f "$tmp/nc.yaml"
expect_rc 0
expect_out "networkpolicy/x/allow-b created"
expect_err "segctl: warning: endpoint ctr-f4 not committed yet (it keeps its last ruleset and is retried): kernel refused ruleset: Argument list too long"

t "apply --dry-run"
run apply --dry-run -f "$tmp/p.yaml"
expect_rc 0
expect_req 1 "r['query'] == {'file': '$tmp/p.yaml', 'dryRun': 'true'}"
expect_out_has "networkpolicy/x/allow-b created (dry run)"

t "apply file name is URL-encoded"
cp "$tmp/p.yaml" "$tmp/a b&c=d%.json"
run apply -f "$tmp/a b&c=d%.json"
expect_rc 0
expect_req 1 "r['query'] == {'file': '$tmp/a b&c=d%.json'}"
expect_req 1 "'%20' in r['raw_query'] and '%26' in r['raw_query'] and '%25' in r['raw_query']"

t "apply JSON content type"
echo '  {"kind": "List", "items": []}' >"$tmp/p.json"
run apply -f "$tmp/p.json"
expect_req 1 'r["content_type"] == "application/json"'

t "apply -f of a file with a UTF-8 byte order mark and CRLF: sent as it is, JSON is JSON"
printf '\xef\xbb\xbf{"apiVersion": "networking.k8s.io/v1",\r\n "kind": "List", "items": []}\r\n' >"$tmp/bom.json"
printf '\xef\xbb\xbfapiVersion: v1\r\nkind: Namespace\r\nmetadata: {name: x}\r\n' >"$tmp/bom.yaml"
run apply -f "$tmp/bom.json"
expect_rc 0
expect_req 1 'r["content_type"] == "application/json"'
expect_req 1 "r['body'] == open('$tmp/bom.json', encoding='utf-8', newline='').read()"
run apply -f "$tmp/bom.yaml"
expect_rc 0
expect_req 1 'r["content_type"] == "application/yaml"'
expect_req 1 "r['body'] == open('$tmp/bom.yaml', encoding='utf-8', newline='').read()"

t "apply -f - (stdin)"
run_stdin "$tmp/p.yaml" apply -f -
expect_rc 0
expect_req 1 "r['query'] == {'file': '-'} and r['body'] == open('$tmp/p.yaml').read()"

t "apply several files, options after files: all validated, then all applied"
run apply -f "$tmp/p.yaml" --filename "$tmp/p.json" --socket "$sock"
expect_rc 0
expect_requests 4
expect_req 1 "r['query'] == {'file': '$tmp/p.yaml', 'dryRun': 'true'}"
expect_req 2 "r['query'] == {'file': '$tmp/p.json', 'dryRun': 'true'}"
expect_req 4 "r['query'] == {'file': '$tmp/p.json'}"

t "apply -o json"
run apply -f "$tmp/p.yaml" -o json
expect_rc 0
expect_json 'j["endpoints_updated"] == 2 and len(j["applied"]) == 3'

t "apply diagnostics"
printf 'kind: NetworkPolicy\nBAD\n' >"$tmp/bad.yaml"
run apply -f "$tmp/bad.yaml"
expect_rc 1
expect_out_empty
expect_err "segctl: $tmp/bad.yaml: invalid policy (2 problems)
$tmp/bad.yaml:14:9: spec.ingress[0].from[1].ipBlock.cidr: invalid CIDR \"10.0.0.0/33\"
$tmp/bad.yaml:3:1: unknown field \"spek\""

t "apply with one bad file applies nothing"
run apply -f "$tmp/bad.yaml" -f "$tmp/p.yaml"
expect_rc 1
expect_requests 2
expect_req 2 "r['query'].get('dryRun') == 'true'"
expect_out_empty
expect_err_has "segctl: nothing applied"

t "apply without -f"
run apply
expect_rc 1
expect_err_has "segctl apply: no files given (-f FILE)"
expect_requests 0

t "apply stray argument"
run apply -f "$tmp/p.yaml" extra
expect_rc 1
expect_err_has "unexpected argument 'extra'"
expect_requests 0

t "apply -f - twice"
run apply -f - -f -
expect_rc 1
expect_err_has "'-f -' given twice"

t "apply missing file sends nothing"
run apply -f "$tmp/p.yaml" -f "$tmp/missing.yaml"
expect_rc 1
expect_err "segctl: cannot open $tmp/missing.yaml: No such file or directory"
expect_requests 0

t "apply directory"
run apply -f "$tmp"
expect_rc 1
expect_err "segctl: $tmp: is a directory"

t "apply over 4 MiB"
head -c $((4 * 1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$tmp/big.yaml"
run apply -f "$tmp/big.yaml"
expect_rc 1
expect_err "segctl: $tmp/big.yaml: larger than the 4 MiB limit"
expect_requests 0
run_stdin "$tmp/big.yaml" apply -f -
expect_rc 1
expect_err "segctl: -: larger than the 4 MiB limit"

t "apply exactly 4 MiB"
head -c $((4 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$tmp/big.yaml"
run apply -f "$tmp/big.yaml"
expect_rc 0
expect_req 1 'len(r["body"]) == 4 * 1024 * 1024'
expect_out ""

t "apply connection failure"
run apply -f "$tmp/p.yaml" --socket "$tmp/nope.sock"
expect_rc 2

# ---- delete -----------------------------------------------------------------------------

t "delete -f"
run delete -f "$tmp/p.yaml"
expect_rc 0
expect_req 1 "r['method'] == 'POST' and r['path'] == '/v1/delete' and r['query'] == {'file': '$tmp/p.yaml'}"
expect_out "networkpolicy/x/allow-b deleted"

t "delete -f, policy absent"
echo MISSING >"$tmp/missing.yaml"
run delete -f "$tmp/missing.yaml"
expect_rc 1
expect_err "segctl: networkpolicy x/missing not found"

t "delete networkpolicy NAME -n NS"
run delete networkpolicy allow-b -n x
expect_rc 0
expect_req 1 'r["method"] == "DELETE" and r["path"] == "/v1/networkpolicies/x/allow-b" and r["body"] == ""'
expect_out "networkpolicy/x/allow-b deleted"

t "delete netpol: default namespace"
run delete netpol web
expect_rc 0
expect_req 1 'r["path"] == "/v1/networkpolicies/default/web"'

t "delete networkpolicies: several names"
run delete networkpolicies -n x allow-b deny-all
expect_rc 0
expect_requests 2
expect_req 2 'r["path"] == "/v1/networkpolicies/x/deny-all"'

t "delete networkpolicy: 404"
run delete netpol nope -n x
expect_rc 1
expect_err "segctl: networkpolicy x/nope not found"

t "delete endpoint NAME"
run delete endpoint x-a
expect_rc 0
expect_req 1 'r["method"] == "DELETE" and r["path"] == "/v1/endpoints/x-a"'
expect_out "endpoint/x-a deleted"

t "delete argument errors"
run delete
expect_rc 1
expect_err_has "expected -f FILE or a resource and names"
run delete pods x
expect_rc 1
expect_err_has "unknown resource 'pods'"
run delete netpol
expect_rc 1
expect_err_has "expected a name after 'netpol'"
run delete netpol Bad_Name
expect_rc 1
expect_err_has "invalid networkpolicy name 'Bad_Name'"
run delete -f "$tmp/p.yaml" netpol x
expect_rc 1
expect_err_has "exclusive"
run delete netpol x -n BAD
expect_rc 1
expect_err_has "invalid namespace name 'BAD'"
expect_requests 0

# ---- endpoint ---------------------------------------------------------------------------

t "endpoint add"
run endpoint add web-1 --netns web-1 --namespace shop -l app=web --label tier=front \
	--port http=8080 -p dns=53/udp -p assoc=9/Sctp
expect_rc 0
expect_out "endpoint/web-1 created"
expect_req 1 'r["method"] == "POST" and r["path"] == "/v1/endpoints" and r["content_type"] == "application/json"'
expect_req 1 'b == {"name": "web-1", "netns": "web-1", "namespace": "shop", "labels": {"app": "web", "tier": "front"}, "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "assoc", "port": 9, "protocol": "SCTP"}]}'

t "endpoint add: minimal body"
run endpoint add web-2 --netns ns2
expect_rc 0
expect_req 1 'b == {"name": "web-2", "netns": "ns2"}'

t "endpoint add -o json"
run endpoint add web-3 --netns ns3 -n shop -o json
expect_rc 0
expect_json 'j["name"] == "web-3" and j["namespace"] == "shop" and j["state"] == "pending"'

t "endpoint add: exists"
run endpoint add x-a --netns x-a
expect_rc 1
expect_err 'segctl: endpoint "x-a" exists'

t "endpoint add: argument errors"
run endpoint add web-1
expect_rc 1
expect_err_has "segctl endpoint add: --netns NETNS is required"
run endpoint add --netns n
expect_rc 1
expect_err_has "expected an endpoint NAME"
run endpoint add Web --netns n
expect_rc 1
expect_err_has "invalid endpoint name 'Web'"
run endpoint add w --netns a/b
expect_rc 1
expect_err_has "invalid netns name 'a/b'"
run endpoint add w --netns ..
expect_rc 1
expect_err_has "invalid netns name '..'"
run endpoint add w --netns n -l app
expect_rc 1
expect_err_has "invalid label 'app': expected KEY=VALUE"
run endpoint add w --netns n -l 'app=a b'
expect_rc 1
expect_err_has "invalid value for label 'app'"
run endpoint add w --netns n -l '-x=1'
expect_rc 1
expect_err_has "invalid label key '-x'"
run endpoint add w --netns n -l a=1 -l a=2
expect_rc 1
expect_err_has "label 'a' given twice"
run endpoint add w --netns n -p http
expect_rc 1
expect_err_has "is not NAME=PORT[/PROTOCOL]"
run endpoint add w --netns n -p http=0
expect_rc 1
expect_err_has 'invalid port number "0"'
run endpoint add w --netns n -p http=65536
expect_rc 1
expect_err_has 'invalid port number "65536"'
run endpoint add w --netns n -p http=80x
expect_rc 1
expect_err_has 'invalid port number "80x"'
run endpoint add w --netns n -p http=-1
expect_rc 1
expect_err_has 'invalid port number "-1"'
run endpoint add w --netns n -p http=80/icmp
expect_rc 1
expect_err_has 'unsupported protocol "icmp"'
run endpoint add w --netns n -p HTTP=80
expect_rc 1
expect_err_has 'invalid port name "HTTP"'
run endpoint add w --netns n -p http=80 -p http=81
expect_rc 1
expect_err_has "port 'http' given twice"
run endpoint add w x --netns n
expect_rc 1
expect_err_has "unexpected argument 'x'"
run endpoint
expect_rc 1
expect_err_has "expected add, label or del"
run endpoint frob
expect_rc 1
expect_err_has "unknown sub-command 'frob'"
expect_requests 0

t "endpoint label"
run endpoint label x-a app=db tier- env=prod
expect_rc 0
expect_out "endpoint/x-a labeled"
expect_req 1 'r["method"] == "PATCH" and r["path"] == "/v1/endpoints/x-a/labels"'
expect_req 1 'b == {"set": {"app": "db", "env": "prod"}, "remove": ["tier"]}'

t "endpoint label -o yaml"
run endpoint label x-a pod- -o yaml
expect_rc 0
expect_out_has "labels:
  app: web
ports:"

t "endpoint label: errors"
run endpoint label x-a
expect_rc 1
expect_err_has "expected KEY=VALUE or KEY- after the name"
run endpoint label x-a app
expect_rc 1
expect_err_has "invalid label change 'app'"
run endpoint label x-a app=1 app-
expect_rc 1
expect_err_has "label 'app' given twice"
run endpoint label x-a -
expect_rc 1
expect_err_has "invalid label change '-'"
expect_requests 0
run endpoint label nope a=b
expect_rc 1
expect_err 'segctl: endpoint "nope" not found'

for v in del delete rm; do
	t "endpoint $v"
	run endpoint "$v" x-a
	expect_rc 0
	expect_out "endpoint/x-a deleted"
	expect_req 1 'r["method"] == "DELETE" and r["path"] == "/v1/endpoints/x-a"'
done

t "endpoint del: several, one missing"
run endpoint rm x-a nope y-b
expect_rc 1
expect_requests 3
expect_out "endpoint/x-a deleted
endpoint/y-b deleted"
expect_err 'segctl: endpoint "nope" not found'

t "endpoint: --socket before the sub-verb"
SEGD_SOCKET=$tmp/nope.sock run endpoint --socket "$sock" del x-a
expect_rc 0
expect_requests 1

# ---- get --------------------------------------------------------------------------------

t "get endpoints"
run get endpoints
expect_rc 0
expect_req 1 'r["method"] == "GET" and r["path"] == "/v1/endpoints" and r["query"] == {}'
expect_out "NAME   ID   NAMESPACE   STATE      GUARD      ADDRESSES           LABELS          POLICIES
x-a    -    x           enforced   enforced   10.71.0.2,fd71::2   app=web,pod=a   x/deny-all,x/allow-b
y-b    -    y           error      none       <none>              <none>          <none>"

for alias in ep endpoint; do
	t "get $alias -n x"
	run get "$alias" -n x
	expect_rc 0
	expect_req 1 'r["path"] == "/v1/endpoints" and r["query"] == {"namespace": "x"}'
	expect_out "NAME   ID   NAMESPACE   STATE      GUARD      ADDRESSES           LABELS          POLICIES
x-a    -    x           enforced   enforced   10.71.0.2,fd71::2   app=web,pod=a   x/deny-all,x/allow-b"
done

t "get endpoints: empty"
run get ep -n empty
expect_rc 0
expect_out_empty
expect_err "No resources found in empty namespace."

t "get endpoint NAME"
run get ep x-a
expect_rc 0
expect_req 1 'r["path"] == "/v1/endpoints/x-a"'
expect_out_has "x-a    -    x           enforced"

t "get endpoint NAME -n other"
run get ep x-a -n y
expect_rc 1
expect_err 'segctl: endpoint "x-a" not found in namespace "y"'

t "get endpoint: 404"
run get ep nope
expect_rc 1
expect_err 'segctl: endpoint "nope" not found'

t "get endpoints -o json"
run get ep -o json
expect_rc 0
expect_json 'list(j) == ["items"] and [e["name"] for e in j["items"]] == ["x-a", "y-b"]'
expect_out_has '    "items": ['

t "get endpoint NAME -o json"
run get ep x-a -o json
expect_rc 0
expect_json 'j["name"] == "x-a" and j["isolation"] == {"ingress": True, "egress": False} and j["error"] is None'

t "get endpoint NAME -o yaml"
run get ep x-a -o yaml
expect_rc 0
expect_out "name: x-a
namespace: x
netns: x-a
labels:
  pod: a
  app: web
ports:
- name: serve-80-tcp
  port: 80
  protocol: TCP
addresses:
- 10.71.0.2
- fd71::2
state: enforced
error: null
policies:
- x/deny-all
- x/allow-b
isolation:
  ingress: true
  egress: false
guard:
  state: enforced
  reason: null
  devices:
  - interface: eth0
    device: p0
    netns: hub
    table: segd-5
    installed: true"

if python3 -c 'import yaml' 2>/dev/null; then
	for res in ep netpol ns; do
		t "get $res -o yaml equals -o json"
		run get "$res" -A -o json
		cp "$tmp/out" "$tmp/json"
		run get "$res" -A -o yaml
		expect_rc 0
		python3 -c 'import json, sys, yaml
sys.exit(0 if yaml.safe_load(open(sys.argv[1])) == json.load(open(sys.argv[2])) else 1)' \
			"$tmp/out" "$tmp/json" && ok || bad "YAML and JSON differ"
	done
fi

t "yaml quoting"
run endpoint add q --netns n -l a=true -l b=80 -l c=null -l d=yes -l e=1.5 -l f=0o17 -l g=x -o yaml
expect_rc 0
expect_out_has "  a: 'true'
  b: '80'
  c: 'null'
  d: 'yes'
  e: '1.5'
  f: '0o17'
  g: x"
expect_out_has "ports: []"

t "get networkpolicies: namespace default"
run get networkpolicies
expect_rc 0
expect_req 1 'r["path"] == "/v1/networkpolicies" and r["query"] == {"namespace": "default"}'
expect_out "NAMESPACE   NAME   POD-SELECTOR         POLICY-TYPES
default     web    app=web,tier=front   Ingress"

t "get netpol -A"
run get netpol -A
expect_rc 0
expect_req 1 'r["path"] == "/v1/networkpolicies" and r["query"] == {}'
expect_out "NAMESPACE   NAME       POD-SELECTOR                        POLICY-TYPES
default     web        app=web,tier=front                  Ingress
x           allow-b    pod=a,env in (prod,stage),!legacy   Ingress,Egress
x           deny-all   <none>                              Ingress"

t "get networkpolicy NAME -n NS"
run get networkpolicy allow-b -n x
expect_rc 0
expect_req 1 'r["path"] == "/v1/networkpolicies/x/allow-b"'
expect_out_has "x           allow-b"

t "get netpol NAME -o yaml"
run get netpol allow-b -n x -o yaml
expect_rc 0
expect_out "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-b
  namespace: x
spec:
  podSelector:
    matchLabels:
      pod: a
    matchExpressions:
    - key: env
      operator: In
      values:
      - prod
      - stage
    - key: legacy
      operator: DoesNotExist
  policyTypes:
  - Ingress
  - Egress
  ingress:
  - {}"

t "get netpol -o name"
run get netpol -A -o name
expect_rc 0
expect_out "networkpolicy/default/web
networkpolicy/x/allow-b
networkpolicy/x/deny-all"

t "get netpol: 404"
run get netpol nope
expect_rc 1
expect_req 1 'r["path"] == "/v1/networkpolicies/default/nope"'
expect_err "segctl: networkpolicy default/nope not found"

t "get namespaces"
run get ns
expect_rc 0
expect_req 1 'r["path"] == "/v1/namespaces"'
expect_out "NAME      LABELS
default   kubernetes.io/metadata.name=default
x         kubernetes.io/metadata.name=x,team=red"

t "get namespace NAME"
run get namespace x -o json
expect_rc 0
expect_json 'j["metadata"]["name"] == "x"'
run get namespaces nope
expect_rc 1
expect_err 'segctl: namespace "nope" not found'

t "get -o name for endpoints and namespaces"
run get ep -o name
expect_out "endpoint/x-a
endpoint/y-b"
run get ns -o name
expect_out "namespace/default
namespace/x"

t "get argument errors"
run get
expect_rc 1
expect_err_has "expected a resource"
run get pods
expect_rc 1
expect_err_has "unknown resource 'pods'"
run get netpol -n x -A
expect_rc 1
expect_err_has "-n and -A are exclusive"
run get ns -n x
expect_rc 1
expect_err_has "namespaces are not namespaced"
run get netpol web -A
expect_rc 1
expect_err_has "-A lists every namespace: it takes no NAME"
run get ep a b
expect_rc 1
expect_err_has "unexpected argument 'b'"
run get ep -n Bad
expect_rc 1
expect_err_has "invalid namespace name 'Bad'"
expect_requests 0

t "get: options before the resource"
run get -o name -n x ep
expect_rc 0
expect_out "endpoint/x-a"

# ---- rules ------------------------------------------------------------------------------

t "rules"
run rules x-a
expect_rc 0
expect_req 1 'r["method"] == "GET" and r["path"] == "/v1/endpoints/x-a/rules"'
expect_out 'endpoint x-a  netns x-a  table inet segd  flags owner,persist
in sync: yes

chain input (hook input, priority 0, policy accept)
  HANDLE   PACKETS   BYTES   EXPR                                          COMMENT
  4        0         0       iifname "lo" accept                           segd: loopback
  9        3         180     ip saddr @i0_p4 tcp dport 80 counter accept   x/allow-b ingress[0]

chain output (hook output, priority 0, policy accept)
  (no rules)

set i0_p4 (ipv4_addr)
  10.71.0.3
set i1_c4 (ipv4_addr, interval)
  10.0.0.0-10.0.255.255
set i0_p6 (ipv6_addr)
  (empty)'

t "rules: out of sync"
run rules y-b
expect_rc 0
expect_out_has "in sync: NO"

t "rules -o json"
run rules x-a -o json
expect_rc 0
expect_json 'j["in_sync"] is True and j["chains"][0]["rules"][1]["packets"] == 3 and j["sets"][1]["flags"] == ["interval"]'

t "rules: errors"
run rules
expect_rc 1
expect_err_has "expected an endpoint NAME"
run rules x-a -o name
expect_rc 1
expect_err_has "unknown output format 'name'"
run rules nope
expect_rc 1
expect_err 'segctl: endpoint "nope" not found'

# ---- status -----------------------------------------------------------------------------

t "status"
run status
expect_rc 0
expect_out "segd 0.1.0 (pid 4242), up 1h 2m 3s
endpoints:        2 (1 enforced, 1 in error)
networkpolicies:  3
cluster policies: 2
namespaces:       2
table flags:      owner,persist
hook fail-open:   db, cache (/etc/segd/segd.conf)
last errors:
  2024-05-01T10:00:00Z  netns y-b vanished"

t "status -o json"
run status -o json
expect_rc 0
expect_json 'j["pid"] == 4242 and j["table_flags"] == ["owner", "persist"]'

t "status: stray argument"
run status now
expect_rc 1
expect_err_has "unexpected argument 'now'"

# ---- check, matrix ----------------------------------------------------------------------

t "check"
run check web x-a 80
expect_rc 0
expect_req 1 'r["method"] == "GET" and r["path"] == "/v1/check" and r["query"] == {"from": "web", "to": "x-a", "port": "80"}'
expect_out_has "web -> x-a 80: DENIED"
expect_out_has "  ingress  at x-a: DENIED - x-a is selected by x/deny-all for ingress"
expect_out_has "not guarded on the host side (none: mv0 (macvlan): no host-side device to guard): a workload with CAP_NET_RAW or CAP_NET_ADMIN can get around this"
expect_out_has "kernel: web in sync, x-a DIFFERS from the plan"
expect_out_has "warning: the kernel does not hold the committed plan"

t "check -o json"
run check web x-a 53/udp -o json
expect_rc 0
expect_json 'j["verdict"] == "denied" and j["ingress"]["selected_by"] == ["x/deny-all"] and j["port"] == "53/udp"'

t "check: bad port"
for port in 0 65536 80/ICMP http 80/ /TCP; do
	run check web x-a "$port"
	expect_rc 1
	expect_err_has "invalid port '$port'"
done
expect_requests 0

t "check: argument count"
run check web x-a
expect_rc 1
expect_err_has "expected FROM TO PORT[/PROTOCOL]"

t "check: unknown endpoint"
run check nobody x-a 80
expect_rc 1
expect_err_has "nobody: no such endpoint"

t "matrix: table"
run matrix -n x --port 80 --port 53/UDP
expect_rc 0
expect_req 1 'r["path"] == "/v1/matrix" and r["query"] == {"namespace": "x", "ports": "80,53/UDP"}'
expect_out_has "PORT 80"
expect_out_has "Not evaluated (no committed ruleset): y-b (error)"

t "matrix: default namespace, no ports"
run matrix
expect_req 1 'r["query"] == {"namespace": "default"}'

t "matrix -A -o csv"
run matrix -A -o csv
expect_rc 0
expect_req 1 'r["query"] == {}'
expect_out_has "from,to,port,allowed"
expect_out_has '"x,b",x-a,80/TCP,false'
expect_out_has 'x-a,y-c,80/TCP,true'

t "matrix -o dot"
run matrix -A -o dot --port 80 --port 53/UDP
expect_rc 0
expect_out_has 'subgraph "cluster_0"'
expect_out_has '"x-a" -> "y-c" [label="80,53/UDP"];'
expect_out_has '"y-c" -> "x-a" [label="53/UDP"];'

t "matrix -o json"
run matrix -A -o json
expect_json 'len(j["pairs"]) == 6 and j["pairs"][0]["from"] == "x-a"'

t "matrix: the rows become pairs; no pair where no family is shared"
run matrix -n nofamily -o json
expect_rc 0
expect_json '"rows" not in j and len(j["pairs"]) == 4 and {(p["from"], p["to"]) for p in j["pairs"]} == {("x-a", "x,b"), ("x,b", "x-a"), ("x,b", "y-c"), ("y-c", "x,b")}'
expect_json '[p["allowed"] for p in j["pairs"]] == [True, False, True, True]'
run matrix -n nofamily
expect_rc 0
expect_out_has "x-a       -         Y         ?         "

t "matrix: rows that do not fit the endpoints"
run matrix -n badrows
expect_rc 1
expect_err "segctl: segd's matrix has rows that do not fit its endpoints"

t "matrix: bad options"
run matrix -o html
expect_rc 1
expect_err_has "unknown output format 'html'"
run matrix -n x -A
expect_rc 1
expect_err_has "exclude each other"
run matrix --port 99999
expect_rc 1
expect_err_has "invalid port '99999'"

# ---- ClusterNetworkPolicy ------------------------------------------------------------------

cat >"$tmp/cnp.yaml" <<'EOF'
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: x}
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: allow-b, namespace: x}
  spec: {podSelector: {}}
- apiVersion: policy.networking.k8s.io/v1alpha2
  kind: ClusterNetworkPolicy
  metadata: {name: block-x}
  spec:
    tier: Admin
    priority: 10
    subject: {namespaces: {matchLabels: {team: red}}}
    ingress: [{action: Deny, from: [{namespaces: {}}]}]
EOF

t "apply -f: a List mixing Namespace, NetworkPolicy and ClusterNetworkPolicy"
run apply -f "$tmp/cnp.yaml"
expect_rc 0
expect_requests 1
expect_req 1 "r['method'] == 'POST' and r['path'] == '/v1/apply' and r['body'] == open('$tmp/cnp.yaml').read()"
expect_out "namespace/x unchanged
networkpolicy/x/allow-b created
clusternetworkpolicy/block-x created"

t "delete -f: a mixed List"
run delete -f "$tmp/cnp.yaml"
expect_rc 0
expect_req 1 "r['method'] == 'POST' and r['path'] == '/v1/delete'"
expect_out "clusternetworkpolicy/block-x deleted
networkpolicy/x/allow-b deleted"

for res in clusternetworkpolicies clusternetworkpolicy cnp; do
	t "get $res: table"
	run get "$res"
	expect_rc 0
	expect_requests 1
	expect_req 1 'r["method"] == "GET" and r["path"] == "/v1/clusternetworkpolicies" and r["query"] == {}'
	expect_out "NAME           TIER       PRIORITY
block-x        Admin      10
default-deny   Baseline   1000"
done

t "get cnp -A: cluster-scoped, the same list"
run get cnp -A
expect_rc 0
expect_req 1 'r["path"] == "/v1/clusternetworkpolicies" and r["query"] == {}'
expect_out_has "block-x        Admin      10"

t "get cnp -o wide: subject and rule counts"
run get cnp -o wide
expect_rc 0
expect_out "NAME           TIER       PRIORITY   SUBJECT                          INGRESS-RULES   EGRESS-RULES
block-x        Admin      10         namespaces:team=red              1               2
default-deny   Baseline   1000       namespaces:<none> pods:app=web   1               0"

t "get cnp -o json: the full objects under items"
run get cnp -o json
expect_rc 0
expect_json 'list(j) == ["items"] and [c["metadata"]["name"] for c in j["items"]] == ["block-x", "default-deny"] and j["items"][0]["kind"] == "ClusterNetworkPolicy" and j["items"][0]["spec"]["egress"][0] == {"action": "Pass", "to": [{"networks": ["10.0.0.0/8"]}]}'

t "get cnp -o name"
run get cnp -o name
expect_rc 0
expect_out "clusternetworkpolicy/block-x
clusternetworkpolicy/default-deny"

t "get clusternetworkpolicy NAME"
run get clusternetworkpolicy block-x
expect_rc 0
expect_requests 1
expect_req 1 'r["method"] == "GET" and r["path"] == "/v1/clusternetworkpolicies/block-x"'
expect_out "NAME      TIER    PRIORITY
block-x   Admin   10"

t "get cnp NAME -o json: the object itself"
run get cnp default-deny -o json
expect_rc 0
expect_json 'j["metadata"] == {"name": "default-deny"} and j["spec"]["tier"] == "Baseline" and j["spec"]["subject"]["pods"]["podSelector"] == {"matchLabels": {"app": "web"}}'

if python3 -c 'import yaml' 2>/dev/null; then
	t "get cnp -o yaml equals -o json"
	run get cnp -o json
	cp "$tmp/out" "$tmp/json"
	run get cnp -o yaml
	expect_rc 0
	python3 -c 'import json, sys, yaml
sys.exit(0 if yaml.safe_load(open(sys.argv[1])) == json.load(open(sys.argv[2])) else 1)' \
		"$tmp/out" "$tmp/json" && ok || bad "YAML and JSON differ"
fi

t "get cnp NAME: 404"
run get cnp nope
expect_rc 1
expect_out_empty
expect_err "segctl: clusternetworkpolicy nope not found"

t "get cnp: argument errors"
run get cnp -n x
expect_rc 1
expect_err_has "clusternetworkpolicies are cluster-scoped: -n does not apply"
run get cnp Bad_Name
expect_rc 1
expect_err_has "invalid clusternetworkpolicy name 'Bad_Name'"
run get cnp -o bogus
expect_rc 1
expect_err_has "unknown output format 'bogus' (expected one of: table, json, yaml, name, wide)"
expect_requests 0

for res in clusternetworkpolicy clusternetworkpolicies cnp; do
	t "delete $res NAME"
	run delete "$res" block-x
	expect_rc 0
	expect_requests 1
	expect_req 1 'r["method"] == "DELETE" and r["path"] == "/v1/clusternetworkpolicies/block-x" and r["body"] == ""'
	expect_out "clusternetworkpolicy/block-x deleted"
done

t "delete cnp: several names, one missing"
run delete cnp block-x nope default-deny
expect_rc 1
expect_requests 3
expect_req 3 'r["path"] == "/v1/clusternetworkpolicies/default-deny"'
expect_out "clusternetworkpolicy/block-x deleted
clusternetworkpolicy/default-deny deleted"
expect_err "segctl: clusternetworkpolicy nope not found"

t "delete cnp: argument errors"
run delete cnp block-x -n x
expect_rc 1
expect_err_has "clusternetworkpolicies are cluster-scoped: -n does not apply"
run delete cnp Bad_Name
expect_rc 1
expect_err_has "invalid clusternetworkpolicy name 'Bad_Name'"
expect_requests 0

t "help names the new kind"
run get --help
expect_out_has "clusternetworkpolicies (cnp, clusternetworkpolicy)"
run delete --help
expect_out_has "segctl delete clusternetworkpolicy NAME..."
run apply --help
expect_out_has "ClusterNetworkPolicy"

# ---- Kubernetes Node objects: k8snodes ---------------------------------------------------

for res in k8snodes k8snode; do
	t "get $res: table"
	run get "$res"
	expect_rc 0
	expect_requests 1
	expect_req 1 'r["method"] == "GET" and r["path"] == "/v1/nodes" and r["query"] == {}'
	expect_out "NAME   ADDRESSES          LABELS
n1     10.1.0.1,fd00::1   kubernetes.io/os=linux
n2     <none>             <none>"
done

t "get k8snode NAME -o json: the object itself"
run get k8snode n1 -o json
expect_rc 0
expect_req 1 'r["path"] == "/v1/nodes/n1"'
expect_json 'j["kind"] == "Node" and j["status"]["addresses"][1] == {"type": "InternalIP", "address": "fd00::1"}'

t "get k8snodes -o name"
run get k8snodes -o name
expect_rc 0
expect_out "k8snode/n1
k8snode/n2"

t "get k8snode NAME: 404, and argument errors"
run get k8snode nope
expect_rc 1
expect_err "segctl: node nope not found"
run get k8snodes -n x
expect_rc 1
expect_err_has "k8snodes are cluster-scoped: -n does not apply"
run get k8snode Bad_Name
expect_rc 1
expect_err_has "invalid k8snode name 'Bad_Name'"
expect_requests 0

t "delete k8snode NAME"
for res in k8snode k8snodes; do
	run delete "$res" n1
	expect_rc 0
	expect_requests 1
	expect_req 1 'r["method"] == "DELETE" and r["path"] == "/v1/nodes/n1"'
	expect_out "node/n1 deleted"
done
run delete k8snodes n1 -n x
expect_rc 1
expect_err_has "k8snodes are cluster-scoped: -n does not apply"
run delete k8snode Bad_Name
expect_rc 1
expect_err_has "invalid k8snode name 'Bad_Name'"
expect_requests 0

t "the Kubernetes Nodes' old spellings are not taken for the fleet's"
for res in node nodes no; do
	run delete "$res" n1
	expect_rc 1
	expect_err "segctl delete: '$res' is ambiguous: 'segctl node delete NAME' removes a node of the fleet, 'segctl delete k8snode NAME' a Kubernetes Node object
Try 'segctl delete --help' for more information."
	expect_requests 0
done
run get no
expect_rc 1
expect_err_has "unknown resource 'no' (expected endpoints, networkpolicies, clusternetworkpolicies, namespaces, nodes or k8snodes)"

# ---- the fleet's nodes (docs/fleet.md) ------------------------------------------------------

# expect_out_re REGEX: stdout, as a whole, matches the Python regular expression.
expect_out_re() {
	if python3 -c 'import re, sys; sys.exit(0 if re.fullmatch(sys.argv[2], open(sys.argv[1]).read()) else 1)' \
		"$tmp/out" "$1"; then ok; else bad "stdout does not match: $1"; fi
}

# Ages come from the fake's clock and ours: a second may pass between them (3s or 4s).
for res in nodes node; do
	t "get $res: table, states and heartbeat ages"
	run get "$res"
	expect_rc 0
	expect_requests 1
	expect_req 1 'r["method"] == "GET" and r["path"] == "/v1/fleet" and r["query"] == {}'
	expect_err_empty
	expect_out_re 'NAME      STATE          ENFORCED   ENDPOINTS   HEARTBEAT
n1        ready          42         12          [34]s
n2        behind         41         3           2m3[01]s
n3        lost           -          -           -
n4        ready          42         0           21m
n5\?\[31m   disconnected   7          -           -
'
done

t "get nodes -o wide"
run get nodes -o wide
expect_rc 0
expect_out_re 'NAME      STATE          ENFORCED   ENDPOINTS   HEARTBEAT   NOT-COMMITTED   SELF
n1        ready          42         12          [34]s {10}0               yes
n2        behind         41         3           2m3[01]s {7}1               -
n3        lost           -          -           - {11}-               -
n4        ready          42         0           21m {9}0               -
n5\?\[31m   disconnected   7          -           - {11}-               -
'

t "get nodes -o json: GET /v1/fleet's answer"
run get nodes -o json
expect_rc 0
expect_json 'j["store"] == "etcd" and j["node"] == "n1" and j["revision"] == 42 and [n["name"] for n in j["nodes"]][:4] == ["n1", "n2", "n3", "n4"]'

t "get nodes -o name, get node NAME"
run get nodes -o name
expect_out 'node/n1
node/n2
node/n3
node/n4
node/n5?[31m'
run get node n2
expect_rc 0
expect_out_re 'NAME   STATE    ENFORCED   ENDPOINTS   HEARTBEAT
n2     behind   41         3           2m3[01]s
'
run get node n2 -o json
expect_rc 0
expect_json 'j["name"] == "n2" and j["enforced_revision"] == 41 and j["not_committed"] == 1'
run get node nope
expect_rc 1
expect_err 'segctl: node "nope" not found'
run get nodes -n x
expect_rc 1
expect_err_has "nodes are cluster-scoped: -n does not apply"
run get node Bad_Name
expect_rc 1
expect_err_has "invalid node name 'Bad_Name'"
expect_requests 0

t "node delete NAME"
for verb in delete del rm; do
	run node "$verb" n2
	expect_rc 0
	expect_requests 1
	expect_req 1 'r["method"] == "DELETE" and r["path"] == "/v1/fleet/nodes/n2" and r["body"] == ""'
	expect_out "node/n2 deleted"
done
run node delete n2 n4.example.com -o json
expect_rc 0
expect_requests 2
expect_req 2 'r["path"] == "/v1/fleet/nodes/n4.example.com"'
expect_out '{
    "deleted": "n2"
}
{
    "deleted": "n4.example.com"
}'

t "node delete: segd's refusals"
run node delete nope
expect_rc 1
expect_err "segctl: node nope is not in the fleet"
run node delete single
expect_rc 1
expect_err "segctl: a single host has no fleet (segd --store)"
run node delete nope n2
expect_rc 1
expect_requests 2
expect_out "node/n2 deleted"

t "node argument errors"
run node
expect_rc 1
expect_err_has "expected a command: delete"
run node list
expect_rc 1
expect_err_has "unknown command 'list' (expected delete)"
run node delete
expect_rc 1
expect_err_has "expected a node name after 'delete'"
run node delete n1 Bad_Name
expect_rc 1
expect_err_has "invalid node name 'Bad_Name'"
run node delete -- -n1
expect_rc 1
expect_err_has "invalid node name '-n1'"
expect_requests 0
run node --help
expect_rc 0
expect_out_has "Usage: segctl node delete NAME..."

t "get endpoints -A: the NODE column (-o wide too)"
for o in "-A" "-o wide"; do
	# shellcheck disable=SC2086
	run get ep $o
	expect_rc 0
	expect_out "NAME   ID   NAMESPACE   NODE   STATE      GUARD      ADDRESSES           LABELS          POLICIES
x-a    -    x           n1     enforced   enforced   10.71.0.2,fd71::2   app=web,pod=a   x/deny-all,x/allow-b
y-b    -    y           -      error      none       <none>              <none>          <none>"
done

# ---- apply and delete in a fleet: the wait for the nodes -------------------------------------

# millis: CLOCK_REALTIME in milliseconds (to measure how long segctl waited).
millis() { date +%s%3N; }
# expect_looks MIN MAX: requests after the change were MIN..MAX looks at GET /v1/fleet.
expect_looks() {
	local n
	n=$(grep -c '"path": "/v1/fleet"' "$log")
	[ "$n" -ge "$1" ] && [ "$n" -le "$2" ] && ok || bad "$n looks at /v1/fleet, expected $1..$2"
}

printf 'kind: NetworkPolicy # FLEETOK\n' >"$tmp/fleet.yaml"
printf 'kind: NetworkPolicy # FLEETSTUCK\n' >"$tmp/stuck.yaml"

t "apply in a fleet: waits until every live node enforces the revision"
run apply -f "$tmp/fleet.yaml"
expect_rc 0
expect_out "$applied
enforced on 2 node(s) at revision 42"
expect_err_empty
# n2 catches up at the third look; n3 is lost (behind, not waited for)
expect_requests 4
expect_req 1 'r["method"] == "POST" and r["path"] == "/v1/apply"'
for i in 2 3 4; do expect_req $i 'r["method"] == "GET" and r["path"] == "/v1/fleet"'; done

t "apply in a fleet: the looks are paced, 2 ms then twice as long each time"
python3 - "$log" <<'PYEOF' && ok || bad "looks not paced: $(cat "$log")"
import json, sys
t = [json.loads(l)["time"] for l in open(sys.argv[1])][1:]
gaps = [b - a for a, b in zip(t, t[1:])]
sys.exit(0 if len(gaps) == 2 and gaps[0] >= 0.002 and gaps[1] >= 0.004 else 1)
PYEOF

t "apply in a fleet, -o json: the answer alone on stdout, after the wait"
run apply -f "$tmp/fleet.yaml" -o json
expect_rc 0
expect_json 'j["revision"] == 42 and len(j["applied"]) == 3'
expect_requests 4

t "apply in a fleet, several files: one wait, for the newest revision"
run apply -f "$tmp/fleet.yaml" -f "$tmp/p.yaml"
expect_rc 0
expect_requests 7
run apply -f "$tmp/p.yaml" -f "$tmp/fleet.yaml"
expect_rc 0
expect_out "$applied
$applied
enforced on 2 node(s) at revision 42"
expect_requests 7
expect_looks 3 3

t "apply --dry-run in a fleet: nothing to wait for"
run apply -f "$tmp/fleet.yaml" --dry-run
expect_rc 0
expect_requests 1
expect_out_has "(dry run)"
[[ "$(cat "$tmp/out")" != *enforced* ]] && ok || bad "a dry run waited"

t "apply --no-wait in a fleet"
run apply -f "$tmp/fleet.yaml" --no-wait
expect_rc 0
expect_requests 1
expect_out "$applied
revision 42: not waiting for the nodes (--no-wait)"

t "apply in a fleet: timeout names the nodes behind, and exits 1"
start=$(millis)
run apply -f "$tmp/stuck.yaml" --timeout 1500ms
took=$(($(millis) - start))
expect_rc 1
expect_out "$applied"
expect_err "segctl: timed out after 1.5s: not enforced on node(s): n2 (revision 41 < 42), n5 (revision unknown)
segctl: warning: node n1 cannot reach the store (etcd: connection refused): the nodes are as it last saw them"
[ "$took" -ge 1500 ] && ok || bad "gave up after $took ms, before --timeout 1500ms"
[ "$took" -lt 7000 ] && ok || bad "waited $took ms for --timeout 1500ms"
# paced: at most 50 ms between looks after the first few, not a busy loop (a call of the
# wait is bounded by --timeout too: a loaded machine must not time a poll out)
expect_looks 8 60

t "apply in a fleet: --timeout 1 (plain seconds)"
start=$(millis)
run apply -f "$tmp/stuck.yaml" --timeout 1
took=$(($(millis) - start))
expect_rc 1
expect_err_has "segctl: timed out after 1s: not enforced on node(s): n2 (revision 41 < 42)"
[ "$took" -ge 1000 ] && [ "$took" -lt 6000 ] && ok || bad "took $took ms for --timeout 1"
expect_looks 8 40

t "apply in a fleet: timeout with many nodes behind names 16 and counts them"
printf 'kind: NetworkPolicy # FLEETMANY\n' >"$tmp/many.yaml"
run apply -f "$tmp/many.yaml" --timeout 1500ms
expect_rc 1
expect_err "segctl: timed out after 1.5s: not enforced on node(s): $(for i in $(seq 0 15); do
	printf 'm%02d (revision 41 < 42), ' "$i"
done | sed 's/, $//'), ... (20 in all)"

t "apply in a fleet: no live node"
printf 'kind: NetworkPolicy # FLEETNOLIVE\n' >"$tmp/nolive.yaml"
run apply -f "$tmp/nolive.yaml" --timeout 1500ms
expect_rc 1
expect_err "segctl: timed out after 1.5s: no live node to enforce revision 42"

t "apply in a fleet: GET /v1/fleet fails"
printf 'kind: NetworkPolicy # FLEETGONE\n' >"$tmp/gone.yaml"
run apply -f "$tmp/gone.yaml"
expect_rc 1
expect_out "$applied"
expect_err "segctl: etcd unreachable: connection refused
segctl: the change is at revision 42; whether the nodes enforce it is unknown"
expect_requests 2

t "apply: an invalid revision is an error"
for rev in WRONGREV NEGREV; do
	printf 'kind: NetworkPolicy # FLEET%s\n' "$rev" >"$tmp/badrev.yaml"
	run apply -f "$tmp/badrev.yaml"
	expect_rc 1
	expect_out "$applied"
	expect_err 'segctl: reply from segd has an invalid "revision"'
	expect_requests 1
done

t "apply: revision 0 (its node wrote no change yet, nothing changed) is nothing to wait for"
printf 'kind: NetworkPolicy # FLEETZEROREV\n' >"$tmp/zerorev.yaml"
run apply -f "$tmp/zerorev.yaml"
expect_rc 0
expect_out "$applied"
expect_err_empty
expect_requests 1

t "delete -f in a fleet"
run delete -f "$tmp/fleet.yaml"
expect_rc 0
expect_out "networkpolicy/x/allow-b deleted
enforced on 2 node(s) at revision 42"
expect_requests 4
run delete -f "$tmp/stuck.yaml" --timeout 1500ms
expect_rc 1
expect_err_has "segctl: timed out after 1.5s: not enforced on node(s): n2 (revision 41 < 42)"
run delete -f "$tmp/fleet.yaml" --no-wait
expect_rc 0
expect_requests 1
expect_out "networkpolicy/x/allow-b deleted
revision 42: not waiting for the nodes (--no-wait)"

t "delete NAME in a fleet"
run delete netpol fleetok -n fleet
expect_rc 0
expect_req 1 'r["method"] == "DELETE" and r["path"] == "/v1/networkpolicies/fleet/fleetok"'
expect_out "networkpolicy/fleet/fleetok deleted
enforced on 2 node(s) at revision 42"
expect_requests 4
run delete netpol fleetstuck -n fleet --timeout 1500ms
expect_rc 1
expect_out "networkpolicy/fleet/fleetstuck deleted"
expect_err_has "segctl: timed out after 1.5s: not enforced on node(s): n2 (revision 41 < 42)"

t "a single host: apply and delete unchanged, no look at the fleet"
run apply -f "$tmp/p.yaml"
expect_out "$applied"
expect_requests 1
run delete netpol allow-b -n x
expect_out "networkpolicy/x/allow-b deleted"
expect_requests 1

t "apply and delete --help: --no-wait, --timeout DURATION"
for v in apply delete; do
	run "$v" --help
	expect_out_has "--no-wait"
	expect_out_has "--timeout DURATION"
	expect_out_has "enforced on N node(s) at revision R"
done

t "endpoint add: --timeout after the verb is --timeout, not --netns"
run endpoint add web-9 --netns ns9 --timeout 5
expect_rc 0
expect_req 1 'b == {"name": "web-9", "netns": "ns9"}'

# ---- bad replies ------------------------------------------------------------------------

t "reply not JSON"
run get ep garbage
expect_rc 1
expect_err_has "segctl: reply from segd is not valid JSON"

t "reply not an object"
run get ep array
expect_rc 1
expect_err "segctl: reply from segd is not a JSON object"

t "error reply without JSON"
run get ep fail-plain
expect_rc 1
expect_err "segctl: segd answered HTTP 500 without an error message"

t "reply over 64 MiB"
run rules huge
expect_rc 1
expect_err "segctl: reply from segd is larger than 64 MiB"

# -------------------------------------------------------------------------------------------

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
