"""daemon.options: the command line and environment of usage.txt.

--help prints usage.txt and exits 0; --version; bad usage exits 2; a daemon
that cannot start (port taken, store directory missing) exits 1; the
EPOCHREG_* environment variables are the fallback of the flags, and flags
win over them; several --listen (IPv4 and IPv6); --body-max; --batch-max 1
(no batch of more than one); --log-format text; SIGHUP reopens the log file.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (FACTOR, Client, Daemon, Test, check_created, check_error, clean_env, metrics,  # noqa: E402
                     request, require_exe, sqlite_db, wait_until)

USAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "frontends", "epochregd", "usage.txt")



def read_to_close(s):
    """Everything the server sends until it closes the connection."""
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    return data

def run(t, args, env=None, timeout=15):
    try:
        return subprocess.run([require_exe("EPOCHREG_DAEMON")] + args, capture_output=True, timeout=timeout * FACTOR,
                              env=clean_env(dict({"XDG_DATA_HOME": t.path("xdg")}, **(env or {}))), cwd=t.tmp)
    except subprocess.TimeoutExpired:
        return None


def main(t):
    os.makedirs(t.path("xdg"), exist_ok=True)
    p = run(t, ["--help"])
    t.check(p is not None and p.returncode == 0, "--help exits 0", p and p.returncode)
    if p is not None:
        with open(USAGE, "rb") as f:
            want = f.read()
        t.check(p.stdout == want, "--help prints usage.txt", (p.stdout[:200], want[:200]))
    p = run(t, ["--version"])
    t.check(p is not None and p.returncode == 0 and p.stdout.startswith(b"epochregd "),
            "--version: 'epochregd VERSION', exit 0", p and (p.returncode, p.stdout[:100]))
    db = sqlite_db(t)
    base = ["--listen", "127.0.0.1:0", "--db", db]
    for bad in (["--nope"], ["--workers", "0"], ["--workers", "65"], ["--batch-max", "0"],
                ["--batch-max", "10001"], ["--auth", "sometimes"], ["--log-format", "xml"],
                ["--listen", "nonsense"], ["--body-max", "abc"], ["--head-timeout", "-1"], ["stray-argument"],
                ["--max-connections", "0"], ["--workers"]):
        p = run(t, base + bad)
        t.check(p is not None and p.returncode == 2, "bad usage %s: exit 2" % " ".join(bad),
                "kept running" if p is None else "exit %d, stderr %r" % (p.returncode, p.stderr[-300:]))
        if p is not None:
            t.check(p.stderr.strip() != b"", "bad usage %s: a message on stderr" % " ".join(bad))
    for bad, want in (({"EPOCHREG_WORKERS": "0"}, 2), ({"EPOCHREG_AUTH": "nobody"}, 2)):
        p = run(t, base, env=bad)
        t.check(p is not None and p.returncode == want, "bad environment %s: exit %d" % (bad, want),
                "kept running" if p is None else "exit %d, stderr %r" % (p.returncode, p.stderr[-300:]))
    # cannot start: exit 1
    hold = socket.socket()
    hold.bind(("127.0.0.1", 0))
    hold.listen(1)
    busy = hold.getsockname()[1]
    p = run(t, ["--listen", "127.0.0.1:%d" % busy, "--db", db])
    t.check(p is not None and p.returncode == 1, "--listen on a port in use: exit 1",
            "kept running" if p is None else "exit %d, stderr %r" % (p.returncode, p.stderr[-300:]))
    hold.close()
    p = run(t, ["--listen", "127.0.0.1:0", "--db", "sqlite:" + t.path("no", "such", "dir", "x.db")])
    t.check(p is not None and p.returncode == 1, "a store that cannot be opened: exit 1",
            "kept running" if p is None else "exit %d, stderr %r" % (p.returncode, p.stderr[-300:]))

    # the environment as fallback, flags win
    tokens = t.path("tokens")
    token = "tok-" + "0123456789abcdef" * 2
    with open(tokens, "w") as f:
        f.write(token + "\n")
    os.chmod(tokens, 0o600)
    env_dir = t.path("envd")
    os.makedirs(env_dir)
    env = {"EPOCHREG_DB": db, "EPOCHREG_LISTEN": "127.0.0.1:0", "EPOCHREG_NODE": "env-node",
           "EPOCHREG_PIDFILE": os.path.join(env_dir, "pid"), "EPOCHREG_LOG_FILE": os.path.join(env_dir, "log"),
           "EPOCHREG_TOKEN_FILE": tokens, "EPOCHREG_DRAIN_FILE": os.path.join(env_dir, "drain")}
    d = Daemon(t, None, [], name="envd", env=env, minimal=True)
    d.pidfile = env["EPOCHREG_PIDFILE"]
    d.logfile = env["EPOCHREG_LOG_FILE"]
    d.start()
    r = request(d.port, "POST", "/epochs")
    check_error(t, r, 401, "EPOCHREG_TOKEN_FILE: POST without a token")
    r = request(d.port, "POST", "/epochs", [("Authorization", "Bearer " + token), ("X-Request-Id", "env-1")])
    check_created(t, r, "EPOCHREG_NODE/EPOCHREG_DB: POST with the token", node="env-node")
    open(env["EPOCHREG_DRAIN_FILE"], "w").close()
    t.check(wait_until(lambda: request(d.port, "GET", "/readyz").status == 503, 2 * FACTOR),
            "EPOCHREG_DRAIN_FILE: /readyz 503 when it exists")
    t.check(d.wait_log(lambda o: o.get("request_id") == "env-1") is not None,
            "EPOCHREG_LOG_FILE: the access line is in that file", d.diagnostics())
    d.stop()
    d2 = Daemon(t, None, ["--node", "flag-node", "--auth", "all"], name="flagwins", env=dict(env), minimal=True)
    d2.pidfile = env["EPOCHREG_PIDFILE"]
    d2.logfile = env["EPOCHREG_LOG_FILE"]
    os.unlink(env["EPOCHREG_DRAIN_FILE"])
    d2.start()
    r = request(d2.port, "GET", "/epochs")
    check_error(t, r, 401, "--auth all with EPOCHREG_TOKEN_FILE: GET needs a token")
    r = request(d2.port, "POST", "/epochs", [("Authorization", "Bearer " + token)])
    check_created(t, r, "--node beats EPOCHREG_NODE", node="flag-node")
    d2.stop()

    # several listeners, IPv4 and IPv6
    d3 = Daemon(t, db, listen=("127.0.0.1:0", "127.0.0.1:0", "[::1]:0"), name="multi").start()
    t.check(len(d3.ports) == 3 and all(s == "http" for s, _, _ in d3.ports), "three http lines in the ports file",
            d3.ports)
    for scheme, addr, port in d3.ports:
        host = "::1" if ":" in addr else "127.0.0.1"
        try:
            s = socket.create_connection((host, port), timeout=5)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = read_to_close(s)
            t.check(data.startswith(b"HTTP/1.1 200"), "listener %s %s answers" % (addr, port), data[:100])
        except OSError as e:
            t.fail("listener %s %s answers" % (addr, port), repr(e))
    # a record made over IPv6 has the IPv6 peer address
    v6 = [p for _, a, p in d3.ports if ":" in a]
    if v6:
        s = socket.create_connection(("::1", v6[0]), timeout=5)
        s.sendall(b"POST /epochs HTTP/1.1\r\nHost: [::1]\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        data = read_to_close(s)
        t.check(b'"client_ip":"::1"' in data, "a record made over IPv6 has client_ip ::1", data[-300:])
    d3.stop()

    # --body-max
    d4 = Daemon(t, db, ["--body-max", "100"], name="bodymax").start()
    ok = '{"tag":"b"}' + " " * 89
    r = request(d4.port, "POST", "/epochs", [("Content-Type", "application/json")], ok)
    t.check(r.status == 201, "--body-max 100: a 100-byte body 201", r.short())
    r = request(d4.port, "POST", "/epochs", [("Content-Type", "application/json")], ok + " ")
    check_error(t, r, 413, "--body-max 100: a 101-byte body")
    d4.stop()

    # --batch-max 1: group commit off, every batch holds one registration
    d5 = Daemon(t, db, ["--batch-max", "1", "--workers", "1"], name="batch1").start()
    statuses = []

    def client():
        c = Client(d5.port)
        for _ in range(25):
            statuses.append(c.request("POST", "/epochs").status)
        c.close()
    ths = [threading.Thread(target=client) for _ in range(8)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    t.check(statuses.count(201) == 200, "--batch-max 1: 200 POSTs 201", statuses.count(201))
    m = metrics(d5.port)
    t.check(m.get("epochreg_batch_size_count") == 200 and m.get("epochreg_batch_size_sum") == 200,
            "--batch-max 1: 200 batches of one", (m.get("epochreg_batch_size_count"), m.get("epochreg_batch_size_sum")))
    t.check(all(o.get("batch") == 1 for o in d5.access_lines() if o.get("status") == 201),
            "--batch-max 1: access lines say batch 1")
    # SIGHUP reopens the log file
    os.rename(d5.logfile, d5.logfile + ".1")
    d5.signal(signal.SIGHUP)
    time.sleep(0.2)
    r = request(d5.port, "GET", "/healthz", [("X-Request-Id", "after-hup")])
    t.check(r.status == 200 and d5.alive(), "SIGHUP: the daemon keeps running", r.short())
    line = d5.wait_log(lambda o: o.get("request_id") == "after-hup")
    t.check(line is not None, "SIGHUP: a new log file is opened at the same path and gets the next lines",
            d5.diagnostics())
    with open(d5.logfile + ".1") as f:
        t.check("after-hup" not in f.read(), "SIGHUP: the old file gets no more lines")
    d5.stop()

    # --log-format text
    d6 = Daemon(t, db, ["--log-format", "text"], name="textlog").start()
    request(d6.port, "GET", "/healthz", [("X-Request-Id", "text-log-1")])
    found = wait_until(lambda: "text-log-1" in d6.log_text(), 3 * FACTOR)
    t.check(found, "--log-format text: the access line names the request id", d6.log_text()[-500:])
    text_line = [l for l in d6.log_text().splitlines() if "request_id=text-log-1" in l]
    t.check(len(text_line) == 1 and re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z info request request_id=text-log-1 method=GET"
        r" route=/healthz status=200 latency_ms=\d+\.\d{3}", text_line[0]) is not None,
        "--log-format text: the access line, field by field (latency with three decimals)", text_line)
    t.check(not d6.log_lines()[0] or d6.log_lines()[1], "--log-format text: lines are not JSON objects",
            d6.log_text()[-300:])
    d6.json_log = False     # its lines are text by design
    d6.stop()


if __name__ == "__main__":
    Test("daemon.options").run(main)
