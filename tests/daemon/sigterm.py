"""daemon.sigterm: RELIABILITY D4, SIGTERM under load.

16 client threads POST on keep-alive connections with unique
Idempotency-Keys (tag = key) against a SQLite store; SIGTERM (to the PID in
the pidfile). Pass:
- exit status 0 within 15 s;
- every request whose head was completely sent before the signal got a
  complete response, and a 201 (the daemon finishes in-flight work); a
  margin of 0.1 s before the signal is reported separately (a request sent
  that close to the signal may still sit unread in the socket);
- requests sent after the signal got a complete response or a clean close
  without a single byte: never a partial response;
- durability check on the store, read back with the CLI (`epochreg export`):
  every 201 stored with its id, nothing twice, extra records only among the
  indeterminate; then a second daemon on the same store answers 200/201 to a
  replay of every indeterminate key, and each key has exactly one record.
"""

import collections
import json
import os
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (FACTOR, Conn, Daemon, Load, Test, build, clean_env, durability_check, replay,  # noqa: E402
                     require_exe)

MARGIN = 0.1


def export(t, db):
    cli = require_exe("EPOCHREG_CLI")
    p = subprocess.run([cli, "--db", db, "export", "--format", "ndjson"], capture_output=True, timeout=120,
                       env=clean_env())
    if p.returncode != 0:
        t.fatal("epochreg export failed (%d): %s" % (p.returncode, p.stderr.decode(errors="replace")))
    return [json.loads(ln) for ln in p.stdout.decode().splitlines() if ln.strip()]


def main(t):
    require_exe("EPOCHREG_CLI")
    db = "sqlite:" + t.path("store.db")
    d = Daemon(t, db, name="first").start()
    # connections that must not hold the exit up: idle after a request
    # (keep-alive, idle timeout 30 s), and a head still arriving (10 s)
    idle = []
    for i in range(10):
        c = Conn(d.port)
        c.send(build("GET", "/healthz"))
        c.read_response()
        idle.append(c)
    for i in range(5):
        c = Conn(d.port)
        c.send(b"GET /epochs HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        idle.append(c)
    load = Load(t, d.port, 16, "term", timeout=30).start()
    time.sleep(2.0)
    t.check(sum(1 for op in load.ops if op.outcome == "ok") > 0, "load registers before the signal", load.summary())
    t_sig = time.monotonic()
    d.signal(signal.SIGTERM)
    try:
        rc = d.proc.wait(15 * FACTOR)
    except subprocess.TimeoutExpired:
        rc = None
    secs = time.monotonic() - t_sig
    load.stop()
    t.info("SIGTERM: exit status %s after %.2f s; load %s" % (rc, secs, load.summary()))
    if rc is None:
        t.fail("D4: the daemon did not exit within 15 s of SIGTERM", d.diagnostics())
        d.kill()
    else:
        t.check(rc == 0, "D4: exit status 0 after SIGTERM", "%s\n%s" % (rc, d.diagnostics()))
        t.check(secs <= 15 * FACTOR, "D4: exit within 15 s", secs)
    d.check_logs()
    for c in idle:
        rest, how = c.read_rest(2)
        t.check(how in ("eof", "reset") and (rest == b"" or rest.startswith(b"HTTP/1.1 ")),
                "D4: idle and half-sent connections are closed at exit (nothing or a response)", (rest[:100], how))
        c.close()
    ops = load.ops
    inflight = [op for op in ops if op.t_sent is not None and op.t_sent < t_sig
                and (op.t_end is None or op.t_end > t_sig)]
    t.info("in flight at the signal: %d requests" % len(inflight))
    early = [op for op in ops if op.t_sent is not None and op.t_sent < t_sig - MARGIN * FACTOR]
    late = [op for op in ops if op.t_sent is not None and t_sig - MARGIN * FACTOR <= op.t_sent < t_sig]
    after = [op for op in ops if op.t_sent is not None and op.t_sent >= t_sig]
    no_resp = [(op.key, op.error) for op in early if op.status is None]
    t.check(not no_resp, "D4: every request sent before the signal got a complete response",
            "%d without, e.g. %s" % (len(no_resp), no_resp[:5]))
    not201 = [(op.key, op.status, (op.body or b"")[:120]) for op in early if op.status is not None and op.status != 201]
    t.check(not not201, "D4: ... and it is a 201 (in-flight work is finished)", not201[:5])
    t.info("sent within %.1f s before the signal: %d (%s)" % (
        MARGIN * FACTOR, len(late),
        dict(collections.Counter(op.status if op.status is not None else (op.error or "")[:40] for op in late))))
    t.info("sent after the signal: %d (%s)" % (
        len(after),
        dict(collections.Counter(op.status if op.status is not None else (op.error or "")[:40] for op in after))))
    partial = [(op.key, op.error) for op in ops if op.status is None and op.error
               and ("closed without a response" not in op.error
                    and not op.error.startswith("send:") and not op.error.startswith("connect:"))]
    t.check(not partial, "D4: no partial response and no hang (only complete responses or clean closes)",
            partial[:5])
    # durability, reading the store with the CLI
    items = export(t, db)
    acked, info, _ = durability_check(t, ops, items, "term", "D4")
    # replay the indeterminate keys through a second daemon on the same store
    d2 = Daemon(t, db, name="second").start()
    res = replay(t, d2.port, info, "D4 replay")
    t.info("replay of %d indeterminate keys: %s" % (len(info), dict(collections.Counter(res.values()))))
    d2.stop()
    items = export(t, db)
    by_tag = collections.Counter(x["tag"] for x in items)
    attempted = set(acked) | set(info)
    bad = sorted(k for k in attempted if by_tag[k] != 1) + sorted(k for k in by_tag if k not in attempted)
    t.check(not bad, "D4: exactly one record per attempted key after the replays", bad[:10])


if __name__ == "__main__":
    Test("daemon.sigterm").run(main)
