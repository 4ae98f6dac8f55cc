"""daemon.pg_outage: RELIABILITY S1, S2 and "PostgreSQL stopped and restarted
under load", with the durability check of §3 (Jepsen set check + replay).

A private PostgreSQL (tests/fixtures/pg.sh start in a temporary directory,
EPOCHREG_PG_SCRIPT); the daemon on it; 8 client threads POST with unique
Idempotency-Keys (tag = key). `pg.sh halt` (fast shutdown):
  S1  from 1 s after the server is down, every POST and GET of the store
      answers 503 + Retry-After + JSON error, each within 1 s; /readyz 503
      within 1 s; /healthz and /now 200; epochreg_store_up 0.
`pg.sh restart`:
  S2  the first 201 within 10 s, epochreg_store_up back to 1, /readyz 200,
      the same daemon process (PID unchanged).
Afterwards every acknowledged (201/200) key is stored with its acknowledged
id, nothing is stored twice, extra records only among the indeterminate
requests; then every indeterminate key is replayed (200 or 201) and each
attempted key has exactly one record.
"""

import collections
import os
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (FACTOR, Daemon, HttpError, Load, Op, PrivatePG, Test, check_error,  # noqa: E402
                     durability_check, metrics, pct, replay, request, walk)

DOWN_SECONDS = 4.0


class Prober:
    """Every 100 ms: POST /epochs (own key), GET /epochs, GET /epochs/1,
    /readyz, /healthz, /now, and the store_up gauge."""

    def __init__(self, t, port):
        self.t = t
        self.port = port
        self.samples = []      # (name, t_start, seconds, Response or None, error)
        self.ops = []          # the probe POSTs, for the durability check
        self.store_up = []     # (t, value)
        self.stop_event = threading.Event()
        self.th = threading.Thread(target=self.loop, daemon=True)
        self.n = 0

    def start(self):
        self.th.start()
        return self

    def stop(self):
        self.stop_event.set()
        self.th.join(30)

    def one(self, name, method, path, headers=None, body=None):
        t0 = time.monotonic()
        try:
            r = request(self.port, method, path, headers, body, timeout=30)
            self.samples.append((name, t0, time.monotonic() - t0, r, None))
            return r
        except (HttpError, OSError) as e:
            self.samples.append((name, t0, time.monotonic() - t0, None, repr(e)))
            return None

    def loop(self):
        while not self.stop_event.is_set():
            self.n += 1
            key = "probe-0-%d" % self.n
            op = Op(key, -1)
            self.ops.append(op)
            r = self.one("POST /epochs", "POST", "/epochs", [("Idempotency-Key", key)], {"tag": key})
            op.t_end = time.monotonic()
            op.t_sent = op.t_start
            if r is None:
                op.outcome = "info"
            else:
                op.status = r.status
                op.outcome = "ok" if r.status in (200, 201) else ("fail" if 400 <= r.status < 500 else "info")
                if op.outcome == "ok":
                    op.rec_id = r.json()["id"]
            self.one("GET /epochs", "GET", "/epochs?limit=1")
            self.one("GET /epochs/1", "GET", "/epochs/1")
            self.one("GET /readyz", "GET", "/readyz")
            self.one("GET /healthz", "GET", "/healthz")
            self.one("GET /now", "GET", "/now")
            try:
                m = metrics(self.port)
                self.store_up.append((time.monotonic(), m.get("epochreg_store_up")))
            except Exception:  # noqa: BLE001
                self.store_up.append((time.monotonic(), None))
            self.stop_event.wait(0.1)


def main(t):
    pg = PrivatePG(t)
    conninfo = pg.start()
    d = Daemon(t, conninfo + " dbname=postgres", ["--node", "outage"]).start()
    pid0 = d.proc.pid
    load = Load(t, d.port, 8, "out", timeout=30, pause_on_error=0.05).start()
    time.sleep(2.0)
    ok_before = sum(1 for op in load.ops if op.outcome == "ok")
    t.check(ok_before > 0, "load is registering before the outage", load.summary())
    m0 = metrics(d.port)
    errors0 = m0.get("epochreg_store_errors_total") or 0
    prober = Prober(t, d.port).start()

    # ---- S1: halt
    t_halt0 = time.monotonic()
    halt_s = pg.halt()
    t_down = time.monotonic()
    t.info("pg.sh halt took %.2f s" % halt_s)
    time.sleep(DOWN_SECONDS)
    t_restart0 = time.monotonic()
    pg.restart()
    t_up = time.monotonic()
    t.info("PostgreSQL down for %.1f s (halt returned -> restart returned)" % (t_up - t_down))

    # ---- S2: recovery
    def first_201_after(tt):
        ends = [op.t_end for op in load.ops + prober.ops
                if op.status == 201 and op.t_end is not None and op.t_end > tt]
        return min(ends) if ends else None
    deadline = t_up + 10 * FACTOR + 5
    while time.monotonic() < deadline and first_201_after(t_up) is None:
        time.sleep(0.05)
    f201 = first_201_after(t_up)
    time.sleep(2.0)     # some load after recovery
    prober.stop()
    load.stop()
    t.info("load: %s" % load.summary())

    # S1 checks: requests that started from t_down + 1 s until the restart began
    grace = 1.0 * FACTOR
    window = (t_down + grace, t_restart0)
    store_routes = ("POST /epochs", "GET /epochs", "GET /epochs/1")
    lat, retry = [], collections.Counter()
    bad = []
    for name, ts, secs, r, err in prober.samples:
        if not (window[0] <= ts < window[1]):
            continue
        if name in store_routes or name == "GET /readyz":
            if r is None or r.status != 503:
                bad.append((name, round(ts - t_down, 2), r.short() if r else err))
                continue
            lat.append(secs)
            retry[r.header("retry-after")] += 1
            if len(lat) <= 3 or secs > 1.0 * FACTOR:
                check_error(t, r, 503, "S1 %s while PostgreSQL is down" % name)
            t.check(secs <= 1.0 * FACTOR, "S1 %s answered within 1 s while PostgreSQL is down" % name,
                    "%.2f s" % secs)
        elif name in ("GET /healthz", "GET /now"):
            t.check(r is not None and r.status == 200, "S1 %s 200 while PostgreSQL is down" % name,
                    r.short() if r else err)
    t.check(all(k is not None and k.isdigit() for k in retry), "S1: every 503 has Retry-After in seconds",
            dict(retry))
    t.check(not bad, "S1: every POST/GET on the store and /readyz answers 503 from 1 s after the stop",
            "%d others, e.g. %s" % (len(bad), bad[:5]))
    t.check(len(lat) >= 10, "S1: enough probes during the outage", len(lat))
    load_bad = [(op.key, op.status, op.error, round(op.t_end - op.t_start, 2)) for op in load.ops
                if op.t_start is not None and window[0] <= op.t_start < window[1]
                and op.t_sent is not None and (op.status != 503 or op.t_end - op.t_start > 1.0 * FACTOR)]
    n_load_window = sum(1 for op in load.ops if op.t_sent is not None and window[0] <= op.t_start < window[1])
    t.check(not load_bad, "S1: every load POST during the outage got 503 within 1 s",
            "%d of %d, e.g. %s" % (len(load_bad), n_load_window, load_bad[:5]))
    lat += [op.t_end - op.t_start for op in load.ops
            if op.t_sent is not None and window[0] <= op.t_start < window[1] and op.status == 503]
    if lat:
        t.info("S1: %d 503s during the outage, latency p50 %.1f ms, max %.1f ms, Retry-After values %s"
               % (len(lat), pct(lat, 50) * 1e3, max(lat) * 1e3, dict(retry)))
    ready503 = [ts for name, ts, _, r, _ in prober.samples
                if name == "GET /readyz" and ts >= t_down and r is not None and r.status == 503]
    if t.check(ready503, "S1: /readyz answered 503 during the outage"):
        t.check(ready503[0] - t_down <= 1.0 * FACTOR, "S1: /readyz 503 within 1 s of the stop",
                "%.2f s" % (ready503[0] - t_down))
        t.info("S1: /readyz first 503 %.2f s after the stop (halt began %.2f s before it returned)"
               % (ready503[0] - t_down, t_down - t_halt0))
    down_gauge = [v for ts, v in prober.store_up if window[0] <= ts < window[1]]
    t.check(down_gauge and all(v == 0 for v in down_gauge), "S1: epochreg_store_up 0 during the outage",
            down_gauge[:10])
    # S2 checks
    if t.check(f201 is not None and f201 - t_up <= 10 * FACTOR, "S2: first 201 within 10 s after PostgreSQL is back",
               "none" if f201 is None else "%.2f s" % (f201 - t_up)):
        t.info("S2: first 201 %.2f s after the restart returned" % (f201 - t_up))
    up_after = [(ts - t_up, v) for ts, v in prober.store_up if ts > t_up]
    t.check(any(v == 1 for _, v in up_after), "S2: epochreg_store_up back to 1", up_after[-5:])
    r = request(d.port, "GET", "/readyz")
    t.check(r.status == 200, "S2: /readyz 200 after recovery", r.short())
    t.check(d.alive() and d.proc.pid == pid0 and int(open(d.pidfile).read()) == pid0,
            "S2: the same daemon process throughout (no restart)")
    m = metrics(d.port)
    t.check((m.get("epochreg_store_errors_total") or 0) > errors0, "epochreg_store_errors_total grew during the outage",
            (errors0, m.get("epochreg_store_errors_total")))
    t.check(m.get("epochreg_store_up") == 1, "epochreg_store_up 1 at the end", m.get("epochreg_store_up"))

    # durability: Jepsen set check, then replay the indeterminate keys
    ops = load.ops + prober.ops
    items = walk(t, d.port)
    if items is None:
        t.fatal("final read failed")
    acked, info, _ = durability_check(t, [o for o in load.ops], items, "out", "load")
    durability_check(t, prober.ops, items, "probe", "probes")
    notsent = sum(1 for op in ops if op.outcome == "notsent")
    t.info("requests that never started (connect failed): %d" % notsent)
    keys = sorted({op.key for op in ops if op.outcome == "info"})
    t.info("replaying %d indeterminate keys" % len(keys))
    res = replay(t, d.port, keys, "replay")
    t.info("replay: %s" % dict(collections.Counter(res.values())))
    items = walk(t, d.port)
    by_tag = collections.Counter(x["tag"] for x in items)
    attempted = {op.key for op in ops if op.outcome in ("ok", "info")}
    missing = sorted(k for k in attempted if by_tag[k] == 0)
    twice = sorted(k for k in attempted if by_tag[k] > 1)
    extra = sorted(k for k in by_tag if k not in attempted)
    t.check(not missing and not twice and not extra,
            "exactly once: after the replays every attempted key has exactly one record",
            "missing %s, twice %s, extra %s" % (missing[:10], twice[:10], extra[:10]))
    ids = {}
    for x in items:
        ids[x["tag"]] = x["id"]
    wrong = [k for k, op in ((op.key, op) for op in ops if op.outcome == "ok") if ids.get(k) != op.rec_id]
    t.check(not wrong, "every acknowledged id is still the key's record after the replays", wrong[:10])
    rc, secs = d.stop()
    t.info("daemon stopped in %.2f s" % secs)


if __name__ == "__main__":
    Test("daemon.pg_outage").run(main)
