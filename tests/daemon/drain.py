"""daemon.drain: the --drain-file switch (DESIGN "The daemon"; RELIABILITY F5).

/readyz 200; the drain file appears -> /readyz 503 with code "draining",
Retry-After and the JSON error body, while /healthz stays 200 and
registrations and reads keep working; the file goes -> /readyz 200 again.
Twice, to see that the switch is not one-shot.
"""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (FACTOR, Client, Daemon, Test, check_created, check_error, metrics,  # noqa: E402
                     request, sqlite_db)

SWITCH_S = 2.0   # how fast /readyz must follow the file


def wait_status(port, path, status, timeout):
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout * FACTOR:
        last = request(port, "GET", path)
        if last.status == status:
            return time.monotonic() - t0, last
        time.sleep(0.05)
    return None, last


def main(t):
    drain = t.path("drain")
    d = Daemon(t, sqlite_db(t), ["--drain-file", drain]).start()
    p = d.port
    r = request(p, "GET", "/readyz")
    t.check(r.status == 200, "/readyz 200 without the drain file", r.short())
    for rnd in (1, 2):
        with open(drain, "w") as f:
            f.write("draining for a test\n")
        secs, r = wait_status(p, "/readyz", 503, 10)
        if t.check(secs is not None and secs <= SWITCH_S * FACTOR,
                   "round %d: /readyz 503 within %.0f s of the drain file" % (rnd, SWITCH_S),
                   "after %s s, last: %s" % (secs, r.short())):
            t.info("round %d: /readyz went 503 after %.2f s" % (rnd, secs))
            check_error(t, r, 503, "round %d: /readyz while draining" % rnd, code="draining")
            h = request(p, "HEAD", "/readyz")
            t.check(h.status == 503 and h.body == b"", "round %d: HEAD /readyz 503 while draining" % rnd, h.short())
        r = request(p, "GET", "/healthz")
        t.check(r.status == 200, "round %d: /healthz 200 while draining" % rnd, r.short())
        c = Client(p)
        try:
            for i in range(5):
                r = c.request("POST", "/epochs", body={"tag": "drain-%d-%d" % (rnd, i)})
                check_created(t, r, "round %d: POST while draining" % rnd, tag="drain-%d-%d" % (rnd, i))
            r = c.request("GET", "/epochs?tag=drain-%d-0" % rnd)
            t.check(r.status == 200 and len(r.json()["items"]) == 1, "round %d: GET /epochs while draining" % rnd,
                    r.short())
            r = c.request("POST", "/app")
            t.check(r.status == 201, "round %d: legacy POST /app while draining" % rnd, r.short())
        finally:
            c.close()
        m = metrics(p)
        t.check(m.get("epochreg_store_up") == 1, "round %d: epochreg_store_up stays 1 while draining" % rnd,
                m.get("epochreg_store_up"))
        os.unlink(drain)
        secs, r = wait_status(p, "/readyz", 200, 10)
        t.check(secs is not None and secs <= SWITCH_S * FACTOR,
                "round %d: /readyz 200 within %.0f s of removing the drain file" % (rnd, SWITCH_S),
                "after %s s, last: %s" % (secs, r.short()))
    d.stop()


if __name__ == "__main__":
    Test("daemon.drain").run(main)
