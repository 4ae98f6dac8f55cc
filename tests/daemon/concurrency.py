"""daemon.concurrency_sqlite / daemon.concurrency_postgres (argv[1]: sqlite|postgres).

64 concurrent clients x 100 POSTs each on keep-alive connections. Every 201's
id must then be GET-able with the same record, and a full list walk must
contain exactly the acknowledged ids (none missing, none twice, nothing else).
Group commit must have happened: some batch held more than one registration
(epochreg_batch_size histogram and the access log's "batch" field); the
observed distribution is printed.
"""

import collections
import os
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Client, Conn, Daemon, HttpError, Test, build, metrics, pct,  # noqa: E402
                     pg_database, shared_pg, sqlite_db, walk)

CLIENTS = 64
PER_CLIENT = 100


def main(t, backend):
    if backend == "sqlite":
        db = sqlite_db(t)
    elif backend == "postgres":
        db = pg_database(t, shared_pg(t), "concurrency")
    else:
        t.fatal("usage: concurrency.py sqlite|postgres")
    d = Daemon(t, db, name="epochregd-" + backend).start()
    results = [[] for _ in range(CLIENTS)]     # (status, id, tag, seconds)
    errors = []
    barrier = threading.Barrier(CLIENTS)

    def client(i):
        conn = None
        barrier.wait()
        for n in range(PER_CLIENT):
            tag = "c%d-%d" % (i, n)
            t0 = time.monotonic()
            try:
                if conn is None:
                    conn = Conn(d.port, timeout=30)
                if not conn.send(build("POST", "/epochs", None, {"tag": tag})):
                    raise HttpError("send: %r" % conn.send_error)
                r = conn.read_response(timeout=30)
            except (HttpError, OSError) as e:
                errors.append((tag, repr(e)[:200]))
                results[i].append((None, None, tag, time.monotonic() - t0))
                if conn is not None:
                    conn.close()
                conn = None
                continue
            rid = None
            if r.status == 201:
                try:
                    rid = r.json()["id"]
                except (ValueError, KeyError):
                    errors.append((tag, "unparsable 201 body %r" % r.body[:100]))
            else:
                errors.append((tag, r.short()[:300]))
            results[i].append((r.status, rid, tag, time.monotonic() - t0))
            if r.has_token("connection", "close"):
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    t0 = time.monotonic()
    ths = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    elapsed = time.monotonic() - t0
    flat = [x for r in results for x in r]
    statuses = collections.Counter(s for s, _, _, _ in flat)
    lat = [x[3] for x in flat]
    t.info("%s: %d POSTs from %d clients in %.1f s (%.0f/s); statuses %s; latency p50 %.1f ms, p99 %.1f ms, "
           "max %.1f ms" % (backend, len(flat), CLIENTS, elapsed, len(flat) / elapsed, dict(statuses),
                            pct(lat, 50) * 1e3, pct(lat, 99) * 1e3, max(lat) * 1e3))
    t.check(statuses.get(201) == CLIENTS * PER_CLIENT, "every POST answered 201",
            "%s; first errors: %s" % (dict(statuses), errors[:5]))
    acked = {rid: tag for s, rid, tag, _ in flat if s == 201 and rid is not None}
    ids = [rid for s, rid, _, _ in flat if s == 201 and rid is not None]
    t.check(len(ids) == len(set(ids)), "no id acknowledged twice", len(ids) - len(set(ids)))
    # per client, ids increase (one connection, requests in sequence)
    bad_order = [i for i, r in enumerate(results) if [x[1] for x in r if x[1]] != sorted(x[1] for x in r if x[1])]
    t.check(not bad_order, "ids increase along each client's sequence", bad_order[:5])

    # every acknowledged id is GET-able with its record
    missing, wrong = [], []
    id_list = sorted(acked)
    lock = threading.Lock()

    def getter(k):
        c = Client(d.port, timeout=30)
        try:
            for rid in id_list[k::8]:
                r = c.request("GET", "/epochs/%d" % rid)
                if r.status != 200:
                    with lock:
                        missing.append((rid, r.status))
                    continue
                rec = r.json()
                if rec.get("id") != rid or rec.get("tag") != acked[rid]:
                    with lock:
                        wrong.append((rid, rec))
        finally:
            c.close()
    gs = [threading.Thread(target=getter, args=(k,)) for k in range(8)]
    for g in gs:
        g.start()
    for g in gs:
        g.join()
    t.check(not missing, "every acknowledged id is GET-able (200)", "%d not: %s" % (len(missing), missing[:10]))
    t.check(not wrong, "GET /epochs/{id} returns the acknowledged record", wrong[:5])

    items = walk(t, d.port, "/epochs?order=asc&limit=1000")
    if items is not None:
        listed = [x["id"] for x in items]
        t.check(len(listed) == len(set(listed)), "list walk: no id twice", len(listed) - len(set(listed)))
        t.check(listed == sorted(listed), "list walk (asc): ids in increasing order")
        t.check(set(listed) == set(acked),
                "list walk holds exactly the acknowledged ids",
                "missing %s, extra %s" % (sorted(set(acked) - set(listed))[:10], sorted(set(listed) - set(acked))[:10]))
        t.check(all(x["tag"] == acked.get(x["id"]) for x in items), "list walk: every record has its client's tag")
        desc = walk(t, d.port, "/epochs?limit=777")
        if desc is not None:
            t.check([x["id"] for x in desc] == sorted(listed, reverse=True), "desc walk by 777: the same ids")

    m = metrics(d.port)
    n = CLIENTS * PER_CLIENT
    t.check(m.get("epochreg_registrations_total") == n, "epochreg_registrations_total = %d" % n,
            m.get("epochreg_registrations_total"))
    t.check(m.get("epochreg_http_requests_total", route="/epochs", status="201") == n,
            'epochreg_http_requests_total{route="/epochs",status="201"} = %d' % n,
            m.get("epochreg_http_requests_total", route="/epochs", status="201"))
    bcount = m.get("epochreg_batch_size_count") or 0
    bsum = m.get("epochreg_batch_size_sum") or 0
    buckets = m.buckets("epochreg_batch_size")
    dist, prev = [], 0
    for le, cum in buckets:
        dist.append("<=%g: %d" % (le, cum - prev))
        prev = cum
    t.info("%s: epochreg_batch_size: %d batches, %d registrations, mean %.2f; per bucket: %s"
           % (backend, bcount, bsum, bsum / bcount if bcount else 0, ", ".join(dist)))
    t.check(bsum == n, "epochreg_batch_size_sum = registrations", (bsum, n))
    t.check(bcount and bsum / bcount > 1.0, "group commit: mean batch size > 1 (some batch held several)",
            (bcount, bsum))
    one = [cum for le, cum in buckets if le == 1.0]
    if one:
        t.check(bcount - one[0] > 0, "group commit: batches of more than 1 occurred (histogram)",
                "le=1: %d of %d" % (one[0], bcount))
    # the access log's batch field
    logged = [o.get("batch") for o in d.access_lines() if o.get("status") == 201]
    c = collections.Counter(logged)
    t.check(len(logged) == n, "access log: one line per 201", (len(logged), n))
    t.check(any(isinstance(b, int) and b > 1 for b in logged), "access log: batch > 1 seen", dict(c.most_common(10)))
    t.info("%s: access-log batch field, registrations by batch size: %s"
           % (backend, ", ".join("%s: %d" % (k, v) for k, v in sorted(c.items(), key=lambda kv: (str(type(kv[0])), kv[0])))[:800]))
    from harness import wait_until
    oc = wait_until(lambda: (metrics(d.port).get("epochreg_open_connections") or 0) <= 2, 5)
    t.check(oc, "epochreg_open_connections back to <= 2 (the scrape's own) after the clients left",
            metrics(d.port).get("epochreg_open_connections"))
    d.stop()


if __name__ == "__main__":
    backend = sys.argv[1] if len(sys.argv) > 1 else ""
    Test("daemon.concurrency_" + (backend or "usage")).run(lambda t: main(t, backend))
