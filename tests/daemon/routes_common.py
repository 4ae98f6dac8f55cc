"""Every route and every error of the HTTP API, through curl and raw sockets.

Shared by routes_sqlite.py and routes_postgres.py (the same checks against
each backend). DESIGN.md "The HTTP API" is the contract; RELIABILITY.md rows
covered here: X4 (auth), X5 (X-Forwarded-* from an untrusted peer), X7
(X-Request-Id rules, Location from the id), B27 (405 + Allow), B26 (501),
B31 (pipelining), J10 (request id / key rules).
"""

import json
import os
import re
import threading
import uuid

from harness import (FACTOR, Client, Conn, Daemon, Fatal, build, check_basics, check_created,
                     check_error, check_record, curl, metrics, norm_ct, pg_database,
                     shared_pg, sqlite_db, walk, JSON_CT, REQUEST_ID_RE)
from harness import request_safe as request

NODE = "routes-node"
GET_ROUTES = ["/epochs", "/now", "/healthz", "/readyz", "/metrics", "/getEpoch",
              "/getEpochStore", "/app"]
WRITE_ROUTES = ["/epochs", "/EpochRegisterTime", "/storeEpochTime", "/app"]
LIST_ALIASES = ["/getEpoch", "/getEpochStore", "/app"]


def allow_set(r):
    return {x.strip().upper() for x in (r.header("allow") or "").split(",") if x.strip()}


class Routes:
    def __init__(self, t, backend):
        self.t = t
        self.backend = backend
        self.created_on_epochs = 0   # 201s on POST /epochs (metrics check)
        self.created_total = 0       # 201s on any route

    # ------------------------------------------------------------ setup
    def db(self, label):
        if self.backend == "sqlite":
            return sqlite_db(self.t, label + ".db")
        return pg_database(self.t, self.base_pg, label)

    def run(self):
        t = self.t
        if self.backend == "postgres":
            self.base_pg = shared_pg(t)
        self.d = Daemon(t, self.db("routes"), ["--node", NODE]).start()
        self.port = self.d.port
        self.url = "http://127.0.0.1:%d" % self.port
        for step in (self.curl_routes, self.head_matches_get, self.legacy_routes,
                     self.pagination, self.idempotency, self.request_ids, self.errors,
                     self.keep_alive, self.pipelining, self.now_registers_nothing,
                     self.access_log, self.metrics_exposition):
            t.info("--- %s" % step.__name__)
            try:
                step()
            except Fatal:
                raise
            except Exception as e:  # noqa: BLE001 - keep going with the next step
                import traceback
                t.fail("%s raised %r" % (step.__name__, e), traceback.format_exc())
        self.d.stop()
        t.info("--- auth_and_proxies")
        self.auth_and_proxies()

    def post(self, path="/epochs", headers=None, body=None, port=None):
        r = request(port or self.port, "POST", path, headers, body)
        if r.status == 201:
            self.created_total += 1
            if path == "/epochs" and (port is None or port == self.port):
                self.created_on_epochs += 1
        return r

    # ------------------------------------------------------------ curl
    def curl_routes(self):
        t, url = self.t, self.url
        c = curl(t, url + "/epochs", "-X", "POST")
        t.check(c.rc == 0 and c.status == 201, "curl -X POST /epochs (no body): 201", c.short())
        rec = None
        try:
            rec = c.json()
        except ValueError:
            t.fail("curl POST /epochs: JSON body", c.short())
        if c.status == 201 and rec:
            self.created_total += 1
            self.created_on_epochs += 1
            check_record(t, rec, "curl POST /epochs", node=NODE, tag=None)
            t.check(c.header("location") == "/epochs/%s" % rec.get("id"),
                    "curl POST /epochs: Location /epochs/{id}", c.short())
            t.check(norm_ct(c.header("content-type")) == JSON_CT, "curl POST: JSON content type",
                    c.short())
            t.check(c.header("x-request-id") == rec.get("request_id"),
                    "curl POST: X-Request-Id header is the record's request_id", c.short())
        c2 = curl(t, url + "/epochs", "-H", "Content-Type: application/json",
                  "--data-binary", '{"tag":"curl-tag"}')
        t.check(c2.status == 201, "curl POST /epochs {\"tag\":\"curl-tag\"}: 201", c2.short())
        if c2.status == 201:
            self.created_total += 1
            self.created_on_epochs += 1
            rec2 = c2.json()
            check_record(t, rec2, "curl POST with tag", node=NODE, tag="curl-tag")
            if rec:
                t.check(rec2["id"] > rec["id"], "ids increase", (rec["id"], rec2["id"]))
            g = curl(t, url + "/epochs/%d" % rec2["id"])
            t.check(g.status == 200 and g.json() == rec2, "curl GET /epochs/{id}: the record",
                    g.short())
            h = curl(t, url + "/epochs/%d" % rec2["id"], "-I")
            t.check(h.rc == 0 and h.status == 200, "curl -I /epochs/{id}: 200", h.short())
            t.check(h.header("content-length") == str(len(g.body)),
                    "curl -I /epochs/{id}: Content-Length of the GET", (h.short(), len(g.body)))
            lst = curl(t, url + "/epochs")
            ok = t.check(lst.status == 200, "curl GET /epochs: 200", lst.short())
            if ok:
                j = lst.json()
                t.check(set(j) == {"items", "next"}, "GET /epochs: {items, next}", lst.body[:200])
                ids = [x["id"] for x in j["items"]]
                t.check(ids == sorted(ids, reverse=True) and ids[:1] == [rec2["id"]],
                        "GET /epochs: newest first", ids[:10])
        for path in ("/now", "/healthz", "/readyz", "/metrics"):
            c = curl(t, url + path)
            t.check(c.rc == 0 and c.status == 200, "curl GET %s: 200" % path, c.short())
            t.check(c.header("x-request-id") is not None, "curl GET %s: X-Request-Id" % path,
                    c.short())
        c = curl(t, url + "/now")
        if c.status == 200:
            j = c.json()
            t.check(set(j) == {"epoch", "epoch_us", "time"}, "/now: {epoch, epoch_us, time}", j)
            check_now(t, j)
        m = curl(t, url + "/metrics")
        t.check((m.header("content-type") or "").startswith("text/plain"),
                "/metrics: Content-Type text/plain (Prometheus text format)", m.short())
        for path in ("/EpochRegisterTime", "/storeEpochTime", "/app"):
            c = curl(t, url + path, "-X", "POST")
            ok = t.check(c.status == 201, "curl -X POST %s: 201" % path, c.short())
            if ok:
                self.created_total += 1
                r = c.json()
                check_record(t, r, "curl POST %s" % path, node=NODE, tag=None)
                t.check(c.header("location") == "/epochs/%d" % r["id"],
                        "curl POST %s: Location /epochs/{id}" % path, c.short())
        # errors as a real client sees them
        c = curl(t, url + "/no/such/path")
        t.check(c.status == 404 and norm_ct(c.header("content-type")) == JSON_CT,
                "curl GET /no/such/path: 404 JSON", c.short())
        c = curl(t, url + "/epochs", "-X", "DELETE")
        t.check(c.status == 405 and c.header("allow"), "curl -X DELETE /epochs: 405 + Allow",
                c.short())
        c = curl(t, url + "/epochs", "-H", "Content-Type: text/plain", "--data-binary", "hello")
        t.check(c.status == 415, "curl POST text/plain: 415", c.short())
        c = curl(t, url + "/epochs", "-H", "Content-Type: application/json", "--data-binary", "{")
        t.check(c.status == 400, "curl POST '{': 400", c.short())
        c = curl(t, url + "/epochs?limit=abc")
        t.check(c.status == 400, "curl GET /epochs?limit=abc: 400", c.short())
        big = self.t.path("big.json")
        with open(big, "w") as f:
            f.write('{"tag":"x"}' + " " * 20000)
        c = curl(t, url + "/epochs", "-H", "Content-Type: application/json", "--data-binary", "@" + big)
        t.check(c.status == 413, "curl POST 20 KB body: 413 (seen by curl)", c.short())

    # ------------------------------------------------------------ HEAD
    def head_matches_get(self):
        t = self.t
        r = self.post(body={"tag": "head"})
        rid = r.json()["id"] if r.status == 201 else 1
        paths = GET_ROUTES + ["/epochs/%d" % rid, "/epochs/999999999", "/no-such-path",
                              "/epochs?limit=2&order=asc", "/epochs?limit=abc"]
        c = Conn(self.port)
        try:
            for p in paths:
                c.send(build("HEAD", p))
                h = c.read_response(head=True)
                # the GET right behind it on the same connection only parses if
                # HEAD sent no body
                c.send(build("GET", p))
                g = c.read_response()
                check_basics(t, h, "HEAD %s" % p)
                t.check(h.status == g.status, "HEAD %s: same status as GET" % p, (h.short(), g.short()))
                if p in ("/metrics",):
                    t.check(h.header("content-length") is not None, "HEAD /metrics: Content-Length",
                            h.short())
                else:
                    t.check(h.header("content-length") == str(len(g.body)),
                            "HEAD %s: Content-Length of the GET body" % p, (h.short(), len(g.body)))
                t.check(norm_ct(h.header("content-type")) == norm_ct(g.header("content-type")),
                        "HEAD %s: same Content-Type as GET" % p, (h.short(), g.short()))
        finally:
            c.close()

    # ------------------------------------------------------------ legacy
    def legacy_routes(self):
        t = self.t
        for path in ("/EpochRegisterTime", "/storeEpochTime", "/app"):
            r = self.post(path, body={"tag": "legacy"})
            rec = check_created(t, r, "POST %s {tag}" % path, node=NODE, tag="legacy")
            if rec:
                g = request(self.port, "GET", "/epochs/%d" % rec["id"])
                t.check(g.status == 200 and g.json() == rec, "GET the record POSTed to %s" % path,
                        g.short())
        for q in ("", "?limit=3&order=asc", "?limit=2&tag=legacy", "?limit=1"):
            e = request(self.port, "GET", "/epochs" + q)
            je = e.json() if e.status == 200 else None
            for alias in LIST_ALIASES:
                a = request(self.port, "GET", alias + q)
                if not t.check(a.status == 200, "GET %s%s: 200" % (alias, q), a.short()):
                    continue
                ja = a.json()
                t.check(je is not None and ja["items"] == je["items"],
                        "GET %s%s: the same items as /epochs%s" % (alias, q, q), (a.body[:300], e.body[:300]))
                ne, na = je["next"] if je else None, ja.get("next")
                same = (ne is None and na is None) or (
                    isinstance(na, str) and isinstance(ne, str)
                    and na.split("?", 1)[-1] == ne.split("?", 1)[-1]
                    and na.split("?", 1)[0] in ("/epochs", alias))
                t.check(same, "GET %s%s: next continues like /epochs' next" % (alias, q), (na, ne))
                t.check(norm_ct(a.header("content-type")) == JSON_CT, "GET %s: JSON" % alias, a.short())
        # methods on legacy paths
        for path in ("/EpochRegisterTime", "/storeEpochTime"):
            r = request(self.port, "GET", path)
            check_error(t, r, 405, "GET %s" % path)
            t.check(allow_set(r) == {"POST"}, "GET %s: Allow: POST" % path, r.short())
        for path in ("/getEpoch", "/getEpochStore"):
            r = request(self.port, "POST", path)
            check_error(t, r, 405, "POST %s" % path)
            t.check(allow_set(r) == {"GET", "HEAD"}, "POST %s: Allow: GET, HEAD" % path, r.short())
        r = request(self.port, "PUT", "/app")
        check_error(t, r, 405, "PUT /app")
        t.check(allow_set(r) == {"GET", "HEAD", "POST"}, "PUT /app: Allow GET, HEAD, POST", r.short())

    # ------------------------------------------------------------ pagination
    def pagination(self):
        t = self.t
        tag = "page-" + uuid.uuid4().hex[:8]
        c = Client(self.port)
        created = []
        for i in range(105):
            r = c.request("POST", "/epochs", body={"tag": tag})
            if r.status == 201:
                self.created_total += 1
                self.created_on_epochs += 1
                created.append(r.json())
        c.close()
        if not t.check(len(created) == 105, "105 POSTs on one keep-alive connection: all 201",
                       len(created)):
            return
        ids = [x["id"] for x in created]
        t.check(ids == sorted(ids) and len(set(ids)) == 105, "ids increase with each registration",
                ids[:20])
        r = request(self.port, "GET", "/epochs?tag=" + tag)
        j = r.json()
        t.check(len(j["items"]) == 100 and isinstance(j["next"], str),
                "GET /epochs?tag: default limit 100 with a next link",
                (len(j["items"]), j["next"]))
        items = walk(t, self.port, "/epochs?tag=%s&limit=7" % tag, what="desc walk by 7")
        if items is not None:
            got = [x["id"] for x in items]
            t.check(got == sorted(ids, reverse=True), "desc walk by 7: every record once, newest first",
                    (len(got), got[:10]))
            t.check(items == sorted(created, key=lambda x: -x["id"]),
                    "desc walk: the records are the POSTed ones, unchanged")
        items = walk(t, self.port, "/epochs?tag=%s&limit=10&order=asc" % tag, what="asc walk by 10")
        if items is not None:
            t.check([x["id"] for x in items] == ids, "asc walk by 10: every record once, oldest first")
        pages = 0
        path = "/epochs?tag=%s&limit=7" % tag
        while path:
            r = request(self.port, "GET", path)
            j = r.json()
            pages += 1
            if j["next"]:
                t.check("tag=" + tag in j["next"] and "limit=7" in j["next"],
                        "next keeps the tag filter and the limit", j["next"])
            path = j["next"]
            if pages > 30:
                break
        t.check(pages == 15, "105 records by 7: 15 pages, the last one's next is null", pages)
        r = request(self.port, "GET", "/epochs?tag=%s&limit=105" % tag).json()
        t.check(len(r["items"]) == 105 and r["next"] is None,
                "limit equal to the count: one page, next null", (len(r["items"]), r["next"]))
        r = request(self.port, "GET", "/epochs?tag=%s&limit=1000" % tag)
        t.check(r.status == 200, "limit=1000 accepted", r.short())
        # cursors
        mid = created[50]
        r = request(self.port, "GET", "/epochs?tag=%s&order=asc&after=%d&limit=1000" % (tag, mid["id"])).json()
        t.check([x["id"] for x in r["items"]] == ids[51:], "after=<id> (exclusive), asc",
                [x["id"] for x in r["items"]][:5])
        r = request(self.port, "GET", "/epochs?tag=%s&before=%d&limit=1000" % (tag, mid["id"])).json()
        t.check([x["id"] for x in r["items"]] == list(reversed(ids[:50])), "before=<id> (exclusive), desc",
                [x["id"] for x in r["items"]][:5])
        # since (inclusive) / until (exclusive), to the microsecond
        us = mid["epoch_us"]
        s = "%d.%06d" % divmod(us, 1_000_000)
        r = request(self.port, "GET", "/epochs?tag=%s&since=%s&limit=1000&order=asc" % (tag, s)).json()
        want = [x["id"] for x in created if x["epoch_us"] >= us]
        t.check([x["id"] for x in r["items"]] == want and mid["id"] in want,
                "since=<epoch_us as seconds.micro> is inclusive", (s, [x["id"] for x in r["items"]][:5]))
        r = request(self.port, "GET", "/epochs?tag=%s&until=%s&limit=1000&order=asc" % (tag, s)).json()
        want = [x["id"] for x in created if x["epoch_us"] < us]
        t.check([x["id"] for x in r["items"]] == want and mid["id"] not in want,
                "until=<epoch_us> is exclusive", (s, [x["id"] for x in r["items"]][-5:]))
        r = request(self.port, "GET", "/epochs?tag=%s&since=%s&until=%s" % (tag, s, s))
        t.check(r.status == 200 and r.json() == {"items": [], "next": None},
                "since = until: 200 with an empty list", r.short())
        r = request(self.port, "GET", "/epochs?tag=%s&since=%d&until=%d" % (tag, us // 10**6 + 5, us // 10**6))
        t.check(r.status == 200 and r.json()["items"] == [], "since > until: empty list", r.short())
        r = request(self.port, "GET", "/epochs?tag=" + tag.replace("-", "%2D") + "&limit=1")
        t.check(r.status == 200 and len(r.json()["items"]) == 1, "percent-encoded tag matches", r.short())
        r = request(self.port, "GET", "/epochs?tag=no+such+tag")
        t.check(r.status == 200 and r.json() == {"items": [], "next": None},
                "unknown tag ('+' as space): empty list", r.short())

    # ------------------------------------------------------------ idempotency
    def idempotency(self):
        t = self.t
        k = "idem-" + uuid.uuid4().hex
        r1 = self.post(headers=[("Idempotency-Key", k)], body={"tag": "a"})
        rec = check_created(t, r1, "POST with Idempotency-Key", node=NODE, tag="a")
        if not rec:
            return
        r2 = request(self.port, "POST", "/epochs", [("Idempotency-Key", k), ("X-Request-Id", "replay-1")],
                     {"tag": "a"})
        t.check(r2.status == 200, "replay of the key: 200", r2.short())
        t.check(r2.status == 200 and r2.json() == rec, "replay: the original record (same id, time, request_id)",
                (r2.body[:300], rec))
        t.check(r2.body == r1.body, "replay: byte-identical body", (r2.body[:200], r1.body[:200]))
        for path in ("/app", "/EpochRegisterTime", "/storeEpochTime"):
            r = request(self.port, "POST", path, [("Idempotency-Key", k)], {"tag": "a"})
            t.check(r.status == 200 and r.json() == rec, "replay through %s: 200, the same record (one key space)"
                    % path, r.short())
        r = request(self.port, "POST", "/epochs", [("Idempotency-Key", k)], {"tag": "b"})
        check_error(t, r, 422, "same key, different tag")
        r = request(self.port, "POST", "/epochs", [("Idempotency-Key", k)])
        check_error(t, r, 422, "same key, no tag (was 'a')")
        k2 = "idem2-" + uuid.uuid4().hex
        r = self.post(headers=[("Idempotency-Key", k2)])
        rec2 = check_created(t, r, "POST with a key, no body", node=NODE, tag=None)
        r = request(self.port, "POST", "/epochs", [("Idempotency-Key", k2)])
        t.check(r.status == 200 and rec2 is not None and r.json() == rec2, "replay without body: 200", r.short())
        r = request(self.port, "POST", "/epochs", [("Idempotency-Key", k2)], {"tag": None})
        t.check(r.status == 200, "replay with {\"tag\":null} = no tag: 200", r.short())
        r = request(self.port, "POST", "/epochs", [("Idempotency-Key", k2)], {"tag": "z"})
        check_error(t, r, 422, "key stored without tag, now with one")
        # key syntax: 1-128 printable ASCII
        k128 = ("K" + uuid.uuid4().hex * 4)[:128]
        r = self.post(headers=[("Idempotency-Key", k128)])
        check_created(t, r, "128-character key", node=NODE)
        for bad, what in (("k" * 129, "129 characters"), ("a b", "a space"), ("caf\xe9", "a non-ASCII byte"),
                          ("", "empty")):
            r = request(self.port, "POST", "/epochs", [("Idempotency-Key", bad)])
            check_error(t, r, 400, "Idempotency-Key with %s" % what)
        # concurrent requests with one key: exactly one 201, the others 200, one record
        k3 = "idem3-" + uuid.uuid4().hex
        res = [None] * 12
        barrier = threading.Barrier(12)

        def go(i):
            c = Conn(self.port)
            data = build("POST", "/epochs", [("Idempotency-Key", k3)], {"tag": "conc"})
            barrier.wait()
            c.send(data)
            try:
                res[i] = c.read_response(timeout=20)
            except Exception as e:  # noqa: BLE001
                res[i] = e
            c.close()
        ths = [threading.Thread(target=go, args=(i,)) for i in range(12)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        statuses = sorted(getattr(x, "status", repr(x)) for x in res)
        t.check(statuses == [200] * 11 + [201], "12 concurrent POSTs with one key: one 201, eleven 200",
                statuses)
        bodies = {json.dumps(x.json(), sort_keys=True) for x in res if getattr(x, "status", 0) in (200, 201)}
        t.check(len(bodies) == 1, "12 concurrent POSTs with one key: all the same record", bodies)
        if 201 in statuses:
            self.created_total += 1
            self.created_on_epochs += 1
        r = request(self.port, "GET", "/epochs?tag=conc&limit=1000")
        t.check(r.status == 200 and len(r.json()["items"]) == 1, "one record for the concurrent key",
                r.body[:300])

    # ------------------------------------------------------------ request ids
    def request_ids(self):
        t = self.t
        good = "Route-Test_1.2:3-abc"
        r = self.post(headers=[("X-Request-Id", good)], body={"tag": "rid"})
        rec = check_created(t, r, "POST with a valid X-Request-Id", node=NODE, request_id=good)
        t.check(r.header("x-request-id") == good, "valid X-Request-Id echoed", r.short())
        self.logged_rid = good if rec else None
        r = request(self.port, "GET", "/epochs?limit=1", [("X-Request-Id", "get.id:1")])
        t.check(r.header("x-request-id") == "get.id:1", "valid X-Request-Id echoed on GET", r.short())
        r = request(self.port, "GET", "/no-such", [("X-Request-Id", "err-id-1")])
        t.check(r.status == 404 and r.header("x-request-id") == "err-id-1", "valid X-Request-Id echoed on a 404",
                r.short())
        r = request(self.port, "GET", "/epochs?limit=1", [("X-Request-Id", "x" * 64)])
        t.check(r.header("x-request-id") == "x" * 64, "64-character X-Request-Id echoed", r.short())
        seen = set()
        for bad, what in (("bad<id>", "invalid characters"), ("a" * 65, "65 characters"),
                          ("id with space", "spaces"), ("\xe9t\xe9", "non-ASCII bytes"),
                          ("", "empty"), ("a/b", "a slash")):
            r = self.post(headers=[("X-Request-Id", bad)])
            rec = check_created(t, r, "POST with X-Request-Id of %s" % what, node=NODE)
            hdr = r.header("x-request-id") or ""
            t.check(hdr != bad and REQUEST_ID_RE.fullmatch(hdr) is not None,
                    "X-Request-Id of %s: replaced by a generated id, never echoed" % what, r.short())
            if bad:
                t.check(bad.encode("latin-1") not in r.raw_head + r.body,
                        "X-Request-Id of %s: the raw value appears nowhere in the response" % what, r.short())
            if rec:
                t.check(rec["request_id"] == hdr, "X-Request-Id of %s: the record has the generated id" % what,
                        rec)
                seen.add(hdr)
        t.check(len(seen) == 6, "generated request ids are distinct", seen)

    # ------------------------------------------------------------ errors
    def errors(self):
        t = self.t
        r = request(self.port, "CONNECT", "/epochs", timeout=3)
        check_error(t, r, 501, "CONNECT /epochs (no tunnels)")
        for m in ("PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"):
            r = request(self.port, m, "/epochs", body=b"" if m in ("PUT", "PATCH") else None, timeout=3)
            check_error(t, r, 405, "%s /epochs" % m)
            t.check(allow_set(r) == {"GET", "HEAD", "POST"}, "%s /epochs: Allow: GET, HEAD, POST" % m,
                    r.short())
        for m in ("POST", "DELETE", "PUT"):
            r = request(self.port, m, "/epochs/1", body=b"" if m != "DELETE" else None)
            check_error(t, r, 405, "%s /epochs/1" % m)
            t.check(allow_set(r) == {"GET", "HEAD"}, "%s /epochs/1: Allow: GET, HEAD" % m, r.short())
        for p in ("/now", "/healthz", "/readyz", "/metrics"):
            r = request(self.port, "POST", p)
            check_error(t, r, 405, "POST %s" % p)
            t.check(allow_set(r) == {"GET", "HEAD"}, "POST %s: Allow: GET, HEAD" % p, r.short())
        for m in ("FOO", "get", "Post"):
            r = request(self.port, m, "/epochs")
            check_error(t, r, 501, "unknown method %s" % m)
        for p in ("/nope", "/epochs/1/x", "/EPOCHS", "/epochs.json", "/"):
            r = request(self.port, "GET", p)
            check_error(t, r, 404, "GET %s" % p)
        r = request(self.port, "PUT", "/nope")
        check_error(t, r, 404, "PUT on an unknown path (404 before 405)")
        r = request(self.port, "GET", "/epochs/999999999999")
        check_error(t, r, 404, "GET an id that does not exist")
        r = request(self.port, "GET", "/epochs/abc")
        check_error(t, r, {400, 404}, "GET /epochs/abc")
        cases = [
            ([("Content-Type", "application/json")], b"{", 400, "truncated JSON"),
            ([("Content-Type", "application/json")], b"   ", 400, "whitespace only"),
            ([("Content-Type", "application/json")], b'{"foo":1}', 400, "unknown member"),
            ([("Content-Type", "application/json")], b'{"tag":"a","tag":"b"}', 400, "duplicate member"),
            ([("Content-Type", "text/plain")], b"{}", 415, "text/plain"),
            ([], b"{}", 415, "a body without Content-Type"),
            ([("Content-Type", "application/json")], b'{"tag":"x"}' + b" " * 16384, 413, "body over 16 KiB"),
        ]
        for hdrs, body, status, what in cases:
            for path in WRITE_ROUTES:
                r = request(self.port, "POST", path, hdrs, body)
                check_error(t, r, status, "POST %s: %s" % (path, what))
        for q, what in (("limit=abc", "bad limit"), ("foo=1", "unknown parameter"),
                        ("limit=1&limit=2", "repeated parameter"), ("order=up", "bad order")):
            for path in ["/epochs"] + LIST_ALIASES:
                r = request(self.port, "GET", "%s?%s" % (path, q))
                check_error(t, r, 400, "GET %s?%s (%s)" % (path, q, what))
        r = request(self.port, "POST", "/epochs", [("Content-Type", "application/json; charset=utf-8")],
                    {"tag": "cs"})
        t.check(r.status == 201, "Content-Type with charset=utf-8: 201", r.short())
        if r.status == 201:
            self.created_total += 1
            self.created_on_epochs += 1

    # ------------------------------------------------------------ keep-alive
    def keep_alive(self):
        t = self.t
        c = Conn(self.port)
        try:
            seq = [("GET", "/epochs?limit=2", None, 200), ("POST", "/epochs", {"tag": "ka"}, 201),
                   ("HEAD", "/epochs", None, 200), ("GET", "/nope", None, 404),
                   ("DELETE", "/epochs", None, 405), ("GET", "/epochs?limit=0", None, 400),
                   ("POST", "/epochs", None, 201), ("GET", "/now", None, 200),
                   ("GET", "/healthz", None, 200), ("GET", "/metrics", None, 200)]
            for i, (m, p, body, want) in enumerate(seq):
                t.check(c.send(build(m, p, [("X-Request-Id", "ka-%d" % i)], body)),
                        "keep-alive: request %d sent" % i, c.send_error)
                r = c.read_response(head=(m == "HEAD"))
                t.check(r.status == want and r.header("x-request-id") == "ka-%d" % i,
                        "keep-alive: request %d (%s %s) answered %d on the same connection" % (i, m, p, want),
                        r.short())
                t.check(not r.has_token("connection", "close"), "keep-alive: no Connection: close after %s %s"
                        % (m, p), r.short())
                if want == 201 and r.status == 201:
                    self.created_total += 1
                    self.created_on_epochs += 1
        finally:
            c.close()
        c = Conn(self.port)
        c.send(b"GET /healthz HTTP/1.0\r\n\r\n")
        r = c.read_response()
        t.check(r.status == 200, "HTTP/1.0 request without Host: answered 200", r.short())
        t.check(r.version == "HTTP/1.1", "HTTP/1.0 request: the status line says HTTP/1.1 (RFC 9110 2.5; B21)",
                r.short())
        rest, how = c.read_rest(3)
        t.check(rest == b"" and how in ("eof", "reset"), "HTTP/1.0 without keep-alive: closed after the response",
                (rest[:100], how))
        c.close()
        c = Conn(self.port)
        c.send(build("GET", "/healthz", close=True))
        r = c.read_response()
        t.check(r.has_token("connection", "close"), "Connection: close request: Connection: close in the response",
                r.short())
        rest, how = c.read_rest(3)
        t.check(how in ("eof", "reset"), "Connection: close request: the server closes", how)
        c.close()

    # ------------------------------------------------------------ pipelining
    def pipelining(self):
        t = self.t
        c = Conn(self.port)
        try:
            data = b"".join(build("GET", "/epochs?limit=1", [("X-Request-Id", "pipe-%02d" % i)])
                            for i in range(20))
            data += build("POST", "/epochs", [("X-Request-Id", "pipe-post")], {"tag": "pipe"})
            c.send(data)
            got = []
            for i in range(21):
                try:
                    r = c.read_response()
                except Exception as e:  # noqa: BLE001
                    t.fail("B31 pipelining: answer %d missing" % (i + 1), repr(e))
                    break
                got.append((r.header("x-request-id"), r.status))
            want = [("pipe-%02d" % i, 200) for i in range(20)] + [("pipe-post", 201)]
            t.check(got == want, "B31: 20 GETs + 1 POST in one write: 21 answers in order", got)
            if got[-1:] == [("pipe-post", 201)]:
                self.created_total += 1
                self.created_on_epochs += 1
            c.send(build("GET", "/healthz"))
            r = c.read_response()
            t.check(r.status == 200, "B31: the connection is kept after the pipeline", r.short())
        finally:
            c.close()

    # ------------------------------------------------------------ /now
    def now_registers_nothing(self):
        t = self.t
        before = metrics(self.port).get("epochreg_registrations_total")
        lst = request(self.port, "GET", "/epochs?limit=1").json()["items"]
        for _ in range(5):
            r = request(self.port, "GET", "/now")
            t.check(r.status == 200, "/now: 200", r.short())
            check_now(t, r.json())
        after = metrics(self.port).get("epochreg_registrations_total")
        lst2 = request(self.port, "GET", "/epochs?limit=1").json()["items"]
        t.check(lst == lst2, "/now registers nothing (newest record unchanged)", (lst, lst2))
        t.check(before == after, "/now registers nothing (epochreg_registrations_total unchanged)",
                (before, after))

    # ------------------------------------------------------------ log
    def access_log(self):
        t, d = self.t, self.d
        if not getattr(self, "logged_rid", None):
            t.fail("access log: no request with a known id to look for")
            return
        line = d.wait_log(lambda o: o.get("request_id") == self.logged_rid and "status" in o)
        if not t.check(line is not None, "access log: a JSON line with request_id %r" % self.logged_rid,
                       d.diagnostics()):
            return
        t.check(line.get("status") == 201, "access log: status 201 (a number)", line)
        t.check(isinstance(line.get("latency_ms"), (int, float)), "access log: latency_ms is a number", line)
        t.check(isinstance(line.get("batch"), int) and line["batch"] >= 1,
                "access log: batch (a count >= 1) on a registration", line)
        raw = [l for l in d.log_text().splitlines() if '"request_id":"%s"' % self.logged_rid in l]
        t.check(len(raw) == 1 and re.fullmatch(
            r'\{"time":"[0-9T:.-]{26}Z","level":"info","msg":"request","request_id":"%s",'
            r'"method":"POST","route":"/epochs","status":201,"latency_ms":\d+\.\d{3},'
            r'"batch":\d+,"client_ip":"127\.0\.0\.1"\}' % re.escape(self.logged_rid), raw[0]) is not None,
            "access log: the registration's line, member by member (latency with three decimals)", raw)
        line = d.wait_log(lambda o: o.get("request_id") == "get.id:1")
        t.check(line is not None and line.get("status") == 200, "access log: the GET with request_id get.id:1",
                line)
        n404 = d.wait_log(lambda o: o.get("request_id") == "err-id-1")
        t.check(n404 is not None and n404.get("status") == 404, "access log: the 404 is logged", n404)

    # ------------------------------------------------------------ metrics
    def metrics_exposition(self):
        t = self.t
        m = metrics(self.port)
        t.check(not m.malformed(), "/metrics: every line is Prometheus text", m.malformed()[:5])
        v = m.get("epochreg_http_requests_total", route="/epochs", status="201")
        t.check(v is not None and v >= self.created_on_epochs,
                'epochreg_http_requests_total{route="/epochs",status="201"} counts the 201s of POST /epochs',
                (v, self.created_on_epochs))
        v = m.get("epochreg_http_requests_total", route="/epochs", status="405")
        t.check(v is not None and v >= 1, 'epochreg_http_requests_total{route="/epochs",status="405"} >= 1', v)
        v = m.get("epochreg_registrations_total")
        t.check(v is not None and v >= self.created_total, "epochreg_registrations_total >= records created",
                (v, self.created_total))
        for name, typ in (("epochreg_http_requests_total", "counter"),
                          ("epochreg_http_request_duration_seconds", "histogram"),
                          ("epochreg_registrations_total", "counter"),
                          ("epochreg_batch_size", "histogram"),
                          ("epochreg_store_errors_total", "counter"),
                          ("epochreg_open_connections", "gauge"),
                          ("epochreg_store_up", "gauge")):
            t.check(m.types.get(name) == typ, "/metrics: # TYPE %s %s" % (name, typ), m.types.get(name))
        for h in ("epochreg_http_request_duration_seconds", "epochreg_batch_size"):
            b = m.buckets(h)
            t.check(b and b[-1][0] == float("inf"), "%s has buckets ending in le=+Inf" % h, b[-3:])
            cnt = m.get(h + "_count")
            t.check(cnt is not None and b and b[-1][1] == cnt and m.get(h + "_sum") is not None,
                    "%s: _count equals the +Inf bucket, _sum present" % h, (cnt, b[-1:] if b else None))
            t.check(all(b[i][1] <= b[i + 1][1] for i in range(len(b) - 1)), "%s: buckets are cumulative" % h, b)
        t.check(m.get("epochreg_store_errors_total") is not None, "epochreg_store_errors_total present")
        oc = m.get("epochreg_open_connections")
        t.check(oc is not None and oc >= 1, "epochreg_open_connections >= 1 (this scrape's own)", oc)
        t.check(m.get("epochreg_store_up") == 1, "epochreg_store_up 1", m.get("epochreg_store_up"))
        bs = m.get("epochreg_batch_size_count")
        t.check(bs is not None and bs >= 1, "epochreg_batch_size_count >= 1", bs)

    # ------------------------------------------------------------ auth (X4), proxies (X5)
    def auth_and_proxies(self):
        t = self.t
        token = "tok-" + uuid.uuid4().hex          # 36 characters
        wrong = "tok-" + uuid.uuid4().hex
        tf = t.path("tokens")
        with open(tf, "w") as f:
            f.write("# the test's token\n\n%s\n" % token)
        os.chmod(tf, 0o600)
        db = self.db("auth")
        d = Daemon(t, db, ["--token-file", tf], name="auth-writes").start()
        p = d.port
        bearer = [("Authorization", "Bearer " + token)]
        for path in WRITE_ROUTES:
            r = request(p, "POST", path)
            check_error(t, r, 401, "X4 auth writes: POST %s without a token" % path)
            r = request(p, "POST", path, [("Authorization", "Bearer " + wrong)])
            check_error(t, r, 401, "X4 auth writes: POST %s with a wrong token" % path)
            r = request(p, "POST", path, [("Authorization", "Bearer " + token[:-1])])
            check_error(t, r, 401, "X4 auth writes: POST %s with a truncated token" % path)
            r = request(p, "POST", path, [("Authorization", "Bearer " + token + "x")])
            check_error(t, r, 401, "X4 auth writes: POST %s with a longer token" % path)
            r = request(p, "POST", path, [("Authorization", "Bearer ")])
            check_error(t, r, 401, "X4 auth writes: POST %s with an empty token" % path)
            r = request(p, "POST", path, [("Authorization", "Basic " + token)])
            check_error(t, r, 401, "X4 auth writes: POST %s with another scheme" % path)
            r = request(p, "POST", path, bearer)
            check_created(t, r, "X4 auth writes: POST %s with the token" % path)
        for path in ("/epochs", "/now", "/healthz", "/readyz", "/metrics", "/getEpoch"):
            r = request(p, "GET", path)
            t.check(r.status == 200, "X4 auth writes: GET %s needs no token" % path, r.short())
        # X5: X-Forwarded-* from a peer that is not a trusted proxy is ignored
        r = request(p, "POST", "/epochs", bearer + [("X-Forwarded-For", "203.0.113.9"),
                                                   ("X-Forwarded-Proto", "https")])
        check_created(t, r, "X5 untrusted X-Forwarded-For/-Proto ignored", client_ip="127.0.0.1",
                      protocol="http")
        d.stop()
        for canary in (token, wrong):
            t.check(canary not in d.log_text() and canary not in d.stderr_text(),
                    "X3: a bearer token never appears in the daemon's log")
        d2 = Daemon(t, db, ["--token-file", tf, "--auth", "all"], name="auth-all").start()
        p = d2.port
        for m, path in (("GET", "/epochs"), ("GET", "/epochs/1"), ("GET", "/now"), ("GET", "/metrics"),
                        ("GET", "/getEpoch"), ("GET", "/app"), ("POST", "/epochs")):
            r = request(p, m, path)
            check_error(t, r, 401, "X4 auth all: %s %s without a token" % (m, path))
        r = request(p, "HEAD", "/epochs")
        t.check(r.status == 401 and r.body == b"", "X4 auth all: HEAD /epochs without a token: 401, no body",
                r.short())
        for path in ("/healthz", "/readyz"):
            r = request(p, "GET", path)
            t.check(r.status == 200, "X4 auth all: %s needs no token" % path, r.short())
        for path in ("/epochs", "/now", "/metrics", "/getEpoch"):
            r = request(p, "GET", path, bearer)
            t.check(r.status == 200, "X4 auth all: GET %s with the token" % path, r.short())
        r = request(p, "POST", "/epochs", bearer)
        check_created(t, r, "X4 auth all: POST with the token")
        d2.stop()
        d3 = Daemon(t, db, ["--trusted-proxy", "127.0.0.1"], name="trusted-proxy").start()
        r = request(d3.port, "POST", "/epochs", [("X-Forwarded-For", "203.0.113.9"),
                                                 ("X-Forwarded-Proto", "https")])
        check_created(t, r, "X5 trusted proxy: X-Forwarded-For/-Proto honoured", client_ip="203.0.113.9",
                      protocol="https")
        d3.stop()


def check_now(t, j):
    import time as _t
    ok = isinstance(j.get("epoch_us"), int) and isinstance(j.get("epoch"), int)
    t.check(ok and j["epoch"] == j["epoch_us"] // 1_000_000, "/now: epoch = epoch_us / 10^6", j)
    if ok:
        t.check(abs(j["epoch_us"] / 1e6 - _t.time()) < 5 * FACTOR, "/now: epoch_us is the current time", j)
        from harness import format_time
        t.check(j.get("time") == format_time(j["epoch_us"]), "/now: time is epoch_us in RFC 3339 with 6 digits",
                j)


def main(t, backend):
    Routes(t, backend).run()
