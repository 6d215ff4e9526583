"""Connection-level limits of amcbatch-api, on private API processes with low limits:
libevent's own error replies (malformed requests, oversized headers and bodies, methods and
Expect values it refuses) arrive as our JSON errors; connections beyond api_max_connections
get 503 too_busy and are closed; 64 more pause accepting until some close; every way a
connection can end (EOF, half a request, a timeout, an error page, an event stream the
client walks away from, a pipelined pair) gives its slot back, which is checked by filling
the cap exactly again; a client trickling its request is dropped at api_timeout_s."""
import json
import socket
import time
import urllib.parse

import lib
from lib import (INSTANCES, TOKEN, api, check, create_workflow, done, require_stack, submit,
                 wait_until)

require_stack()

CAP = 3
SLACK = 64		# CONN_REFUSE_SLACK in src/api/conn.h


def addr():
    u = urllib.parse.urlparse(lib.URL)
    return u.hostname, u.port


def connect():
    s = socket.create_connection(addr(), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_reply(s, timeout=10):
    """One HTTP reply from s: (status, headers with lower-case names, body) or None when
    nothing complete arrives in time or the connection closes first."""
    s.settimeout(timeout)
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            b = s.recv(65536)
            if not b:
                return None
            buf += b
        head, rest = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        while len(rest) < n:
            b = s.recv(65536)
            if not b:
                return None
            rest += b
        return status, headers, rest[:n]
    except (socket.timeout, OSError):
        return None


def closed_by_server(s, timeout=10):
    """True when the server closes s (EOF or reset) within timeout, unread bytes dropped."""
    s.settimeout(timeout)
    try:
        while True:
            if not s.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except (socket.timeout, OSError):
        return False


def get(s, path, token=None, close=False):
    req = "GET %s HTTP/1.1\r\nHost: x\r\n" % path
    if token:
        req += "Authorization: Bearer %s\r\n" % token
    if close:
        req += "Connection: close\r\n"
    s.sendall((req + "\r\n").encode())
    return read_reply(s)


def raw_exchange(data):
    s = connect()
    try:
        s.sendall(data)
    except OSError:
        pass		# the server may answer and close before a big upload is through
    reply = read_reply(s)
    gone = closed_by_server(s)
    s.close()
    return reply, gone


def json_error(reply):
    """The error code of a JSON error reply whose Content-Length fits, else None."""
    if reply is None:
        return None
    status, headers, body = reply
    if not headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if doc.get("success") is not False or not doc.get("error", {}).get("message"):
        return None
    return doc["error"]["code"]


def cap_is_free(label):
    """Exactly CAP connections are served at once and one more is refused: so no slot
    leaked. Retries while the server is still closing connections of earlier steps."""
    last = None
    deadline = time.time() + 15
    while time.time() < deadline:
        socks = [connect() for _ in range(CAP + 1)]
        replies = [get(s, "/healthz") for s in socks]
        for s in socks:
            s.close()
        codes = [r[0] if r else None for r in replies]
        last = codes
        if codes == [200] * CAP + [503]:
            return check(True, label)
        time.sleep(0.3)
    return check(False, label, last)


# ---- libevent's own error replies, as JSON ----
first_api = lib.PrivateApi(api_max_connections=CAP, max_body_bytes=1024, api_timeout_s=30)
with first_api as url:
    if url is None:
        check(True, "connection limits # SKIP no amcbatch-api in BUILD_DIR")
        done()
    big_headers = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"a" * 1000) for i in range(80))
    chunked = b"".join(b"400\r\n" + b"x" * 1024 + b"\r\n" for _ in range(6)) + b"0\r\n\r\n"
    cases = [
        ("a malformed request line", b"GARBAGE\r\n\r\n", 400, "bad_request"),
        ("a header line without a colon", b"GET /healthz HTTP/1.1\r\nno colon\r\n\r\n", 400,
         "bad_request"),
        # libevent 2.1 takes an unparsable chunk size for an endless chunk: over the cap
        ("a bad chunk size", b"POST /workflows HTTP/1.1\r\nHost: x\r\nContent-Type: "
         b"application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n\r\n", 413, "body_too_large"),
        # and reports headers over its cap as malformed
        ("headers over 64 KiB", b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + big_headers + b"\r\n",
         400, "bad_request"),
        ("a request line over 64 KiB", b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 400,
         "bad_request"),
        ("a body over 4 x max_body_bytes", b"POST /workflows HTTP/1.1\r\nHost: x\r\nContent-Type: "
         b"application/json\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000, 413, "body_too_large"),
        ("a chunked body over 4 x max_body_bytes", b"POST /workflows HTTP/1.1\r\nHost: x\r\n"
         b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked, 413,
         "body_too_large"),
        ("TRACE", b"TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", 501, "not_implemented"),
        ("an unknown Expect", b"POST /workflows HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n"
         b"Content-Length: 2\r\n\r\n{}", 417, "expectation_failed"),
    ]
    for label, data, status, code in cases:
        reply, gone = raw_exchange(data)
        check(reply is not None and reply[0] == status and json_error(reply) == code and gone,
              "%s -> %d %s as JSON, connection closed" % (label, status, code),
              (reply, gone))
    reply, _ = raw_exchange(b"POST /workflows HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                            b"Content-Type: application/json\r\nContent-Length: 2000\r\n\r\n"
                            % TOKEN.encode() + b" " * 2000)
    check(reply is not None and reply[0] == 413 and json_error(reply) == "body_too_large",
          "a body between max_body_bytes and 4 x gets our own 413 body_too_large", reply)
    s = connect()
    r1 = get(s, "/healthz")
    s.sendall(b"GARBAGE\r\n\r\n")
    r2 = read_reply(s)
    s.close()
    check(r1 is not None and r1[0] == 200 and json_error(r2) == "bad_request",
          "an error page after a good reply on one keep-alive connection is JSON too", (r1, r2))
    st, body, raw = api("GET", "/healthz")
    check(st == 200, "the API serves normally after them", raw[:200])
    cap_is_free("after the error replies every connection slot is free again")

    # ---- the connection cap ----
    held = [connect() for _ in range(CAP)]
    replies = [get(s, "/healthz") for s in held]
    check([r[0] if r else None for r in replies] == [200] * CAP,
          "%d keep-alive connections are served" % CAP, replies)
    extra = connect()
    r = get(extra, "/instances", token=TOKEN)
    check(r is not None and r[0] == 503 and json_error(r) == "too_busy" and
          r[1].get("retry-after") == "1" and r[1].get("connection") == "close" and
          "connections" in json.loads(r[2])["error"]["message"],
          "one more connection gets 503 too_busy, Retry-After: 1, Connection: close", r)
    check(closed_by_server(extra), "and the server closes it")
    extra.close()
    r = get(held[0], "/healthz")
    check(r is not None and r[0] == 200, "the connections within the cap keep being served", r)
    held[0].close()
    again = connect()
    ok = wait_until(lambda: (get(again, "/healthz") or (0,))[0] == 200, 10, 0.3)
    check(ok, "once one closes, a new connection is served")
    again.close()
    for s in held[1:]:
        s.close()

    # ---- every way a connection ends gives its slot back ----
    for _ in range(5):
        connect().close()				# EOF before a request
    for _ in range(5):
        s = connect()
        s.sendall(b"GET /healthz HT")			# half a request line
        s.close()
    cap_is_free("after EOFs before and inside a request, exactly %d connections are served and "
                "one more refused" % CAP)
    s = connect()
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n"
              b"Connection: close\r\n\r\n")		# a pipelined pair
    p1, p2 = read_reply(s), read_reply(s)
    check(p1 is not None and p2 is not None and p1[0] == 200 and p2[0] == 200 and closed_by_server(s),
          "a pipelined pair is answered in order, then closed", (p1, p2))
    s.close()
    s = connect()
    r = get(s, "/healthz", close=True)
    check(r is not None and r[0] == 200 and closed_by_server(s), "Connection: close is honoured", r)
    s.close()
    # an event stream the client walks away from, and one that runs to its end
    wf = create_workflow("conn stream wf", "SELECT 1 AS one FROM impressions LIMIT 1")
    st, body, raw = submit(wf, INSTANCES[:1])
    check(st == 201, "a batch to stream", raw[:300])
    bid = body["batch"]["batch_id"] if st == 201 else "none"
    s = connect()
    s.sendall(("GET /workflows/batch/%s/events?token=%s HTTP/1.1\r\nHost: x\r\n\r\n"
               % (bid, TOKEN)).encode())
    s.settimeout(10)
    first = s.recv(4096)
    check(first.startswith(b"HTTP/1.1 200") and b"text/event-stream" in first,
          "an event stream starts", first[:300])
    s.close()					# walks away mid-stream
    lib.wait_batch(bid)
    s = connect()
    s.sendall(("GET /workflows/batch/%s/events?token=%s HTTP/1.1\r\nHost: x\r\n\r\n"
               % (bid, TOKEN)).encode())
    check(closed_by_server(s, 15), "the stream of a finished batch ends and the server closes it")
    s.close()
    s = connect()
    s.sendall(("GET /workflows/batch/%s/results.csv HTTP/1.1\r\nHost: x\r\nAuthorization: "
               "Bearer %s\r\n\r\n" % (bid, TOKEN)).encode())
    s.settimeout(10)
    first = s.recv(4096)
    check(first.startswith(b"HTTP/1.1 200"), "a CSV export starts", first[:200])
    s.close()
    cap_is_free("after pipelining, Connection: close, event streams and an export, exactly %d "
                "connections are served and one more refused" % CAP)

    # ---- beyond the cap and the slack, accepting pauses ----
    idle = [connect() for _ in range(CAP + SLACK)]
    time.sleep(0.5)
    waiting = connect()				# completes in the kernel's backlog
    waiting.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    r = read_reply(waiting, timeout=1.5)
    check(r is None, "with %d connections open a new one is not accepted" % (CAP + SLACK), r)
    for s in idle[:10]:
        s.close()
    r = read_reply(waiting, timeout=10)
    check(r is not None and r[0] == 503 and json_error(r) == "too_busy",
          "once some close it is accepted (and refused: still over the cap)", r)
    waiting.close()
    for s in idle[10:]:
        s.close()
    cap_is_free("after the pause every slot is free again")
    log = first_api.log()
    check("not accepting" in log and "accepting again" in log,
          "the log says when accepting paused and resumed", log[-800:])

# ---- slow clients time out and give their slots back ----
with lib.PrivateApi(api_max_connections=CAP, api_timeout_s=1) as url:
    s1 = connect()
    s2 = connect()
    s2.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")	# never finishes its headers
    t0 = time.time()
    check(closed_by_server(s1, 10) and closed_by_server(s2, 10),
          "an idle client and one stuck in its headers are dropped after api_timeout_s")
    check(time.time() - t0 < 8, "within a few seconds of api_timeout_s (1 s)", time.time() - t0)
    s1.close()
    s2.close()
    s = connect()
    s.settimeout(0.5)
    t0 = time.time()
    sent = 0
    try:
        for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 60:
            s.send(bytes([b]))
            sent += 1
            try:
                if s.recv(1) == b"":
                    break
            except socket.timeout:
                pass
    except OSError:
        pass
    check(time.time() - t0 < 8 and sent < 60,
          "a client trickling its headers a byte at a time is dropped near api_timeout_s, "
          "though every byte restarts libevent's own timeout", (time.time() - t0, sent))
    s.close()
    s = connect()
    s.sendall(b"GET /healthz HTTP/1.1\r\n")
    time.sleep(0.5)
    s.sendall(b"Host: x\r\n\r\n")
    r1 = read_reply(s)
    time.sleep(0.6)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    r2 = read_reply(s)
    check(r1 is not None and r1[0] == 200 and r2 is not None and r2[0] == 200,
          "a request sent in parts within api_timeout_s is served, and the deadline starts "
          "again after each reply", (r1, r2))
    check(closed_by_server(s, 10), "an idle keep-alive connection is closed after api_timeout_s")
    s.close()
    cap_is_free("and their slots are free again")
done()
