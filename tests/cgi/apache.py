#!/usr/bin/env python3
"""epochreg.cgi under a real Apache 2.4, against epochregd: one table of
HTTP cases, both front ends, any difference fails.

The test starts a private Apache (tests/fixtures/apache.sh: mod_cgid,
ScriptAlias, SetEnv, CGIPassAuth On) serving epochreg.cgi on a SQLite store
of its own, and an epochregd on another, both empty, both with the same
node name and the same bearer token for writes. Every case goes to both, in
the same order, over real sockets; the statuses, the JSON bodies and the
headers that carry meaning (Location, Allow, WWW-Authenticate, Retry-After,
Content-Type, X-Request-Id) must be equal once the times are masked and the
CGI's script path is taken off Location and "next". Record ids are not
masked: both stores see the same registrations in the same order.

Then the daemon's own J (bodies, on every write route) and Q1-Q6 (queries)
tables from tests/daemon/framing.py, the ones daemon.framing runs, through
both front ends the same way (a few rows that Apache answers itself are left
out, see battery_cases()).

The same for a shorter table over HTTPS (Apache's mod_ssl vhost against the
daemon's TLS port): records say "https".

Then what only the CGI path has: Apache's UNIQUE_ID as the request id, a
chunked request body (Apache passes it without CONTENT_LENGTH), and a
"Proxy:" request header aimed at a listening trap (httpoxy, C13).

    EPOCHREG_CGI=$PWD/build/frontends/cgi/epochreg.cgi \\
    EPOCHREG_DAEMON=$PWD/build/frontends/epochregd/epochregd python3 tests/cgi/apache.py sqlite
    ... apache.py postgres   also EPOCHREG_CLI (to migrate the CGI's database) and
                             EPOCHREG_TEST_PG_DIR (the pg fixture's state directory)
"""

import os
import re
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "daemon"))

from harness import (FACTOR, Conn, Daemon, Test, exchange_safe, gen_cert,  # noqa: E402
                     mask_record_times, pg_database, request_safe, shared_pg,
                     trap_listener)
from framing import j_cases, q_cases  # noqa: E402

FIXTURE = os.path.join(HERE, "..", "fixtures", "apache.sh")
DEPLOY_CONF = os.path.join(HERE, "conf", "deploy.conf")
PGBOUNCER = os.path.join(HERE, "..", "fixtures", "pgbouncer.sh")
EXAMPLE_CONF = os.path.join(HERE, "..", "..", "examples", "apache", "epochreg.conf")
SCRIPT = "/cgi-bin/epochreg.cgi"
TOKEN = "apache-test-token-0123456789"
AUTH = ("Authorization", "Bearer " + TOKEN)
JSON = ("Content-Type", "application/json")

# (name, method, target, headers, body). Every case sends its own
# X-Request-Id (added below) unless it gives one.
CASES = [
    ("post", "POST", "/epochs", [JSON, AUTH], b'{"tag":"one"}'),
    ("post_empty", "POST", "/epochs", [AUTH], None),
    ("post_key", "POST", "/epochs", [JSON, AUTH, ("Idempotency-Key", "k-1")], b'{"tag":"k"}'),
    ("post_key_replay", "POST", "/epochs", [JSON, AUTH, ("Idempotency-Key", "k-1")], b'{"tag":"k"}'),
    ("post_key_conflict", "POST", "/epochs", [JSON, AUTH, ("Idempotency-Key", "k-1")], b'{"tag":"z"}'),
    ("post_register_time", "POST", "/EpochRegisterTime", [AUTH], None),
    ("post_store_time", "POST", "/storeEpochTime", [AUTH], None),
    ("post_app", "POST", "/app", [JSON, AUTH], b'{"tag":"app"}'),
    ("list", "GET", "/epochs?limit=2", [], None),
    ("list_asc_tag", "GET", "/epochs?order=asc&tag=k", [], None),
    ("list_since", "GET", "/epochs?since=0&until=1&limit=5", [], None),
    ("list_plus", "GET", "/epochs?tag=a+b", [], None),
    ("get_epoch", "GET", "/getEpoch?limit=1", [], None),
    ("get_epoch_store", "GET", "/getEpochStore?limit=1&order=asc", [], None),
    ("get_app", "GET", "/app?limit=1", [], None),
    ("one", "GET", "/epochs/1", [], None),
    ("missing", "GET", "/epochs/999", [], None),
    ("head", "HEAD", "/epochs?limit=1", [], None),
    ("now_shape", "GET", "/now", [], None),
    ("healthz", "GET", "/healthz", [], None),
    ("readyz", "GET", "/readyz", [], None),
    ("unknown", "GET", "/nothing", [], None),
    ("bad_limit", "GET", "/epochs?limit=0", [], None),
    ("repeated", "GET", "/epochs?limit=1&limit=2", [], None),
    ("unknown_param", "GET", "/epochs?limti=1", [], None),
    ("bad_id", "GET", "/epochs/abc", [], None),
    ("bad_json", "POST", "/epochs", [JSON, AUTH], b'{"tag":'),
    ("dup_member", "POST", "/epochs", [JSON, AUTH], b'{"tag":"a","tag":"b"}'),
    ("whitespace_body", "POST", "/epochs", [JSON, AUTH], b'   '),
    ("text_plain", "POST", "/epochs", [("Content-Type", "text/plain"), AUTH], b'{"tag":"x"}'),
    ("too_large", "POST", "/epochs", [JSON, AUTH], b'{"tag":"' + b"x" * 17000 + b'"}'),
    ("bad_key", "POST", "/epochs", [AUTH, ("Idempotency-Key", "a b")], None),
    ("no_token", "POST", "/epochs", [], None),
    ("wrong_token", "POST", "/epochs", [("Authorization", "Bearer nope-nope-nope-nope")], None),
    ("delete", "DELETE", "/epochs", [], None),
    ("put_one", "PUT", "/epochs/1", [], None),
    ("post_now", "POST", "/now", [AUTH], None),
    ("bad_rid", "GET", "/healthz", [("X-Request-Id", "bad id")], None),
    ("after_all", "GET", "/epochs?order=asc&after=2&limit=3", [], None),
]

# The same over HTTPS (Apache's mod_ssl vhost, the daemon's --tls-listen):
# the records say "https", and HTTPS=on reaches the CGI.
TLS_CASES = [
    ("tls_post", "POST", "/epochs", [JSON, AUTH], b'{"tag":"tls"}'),
    ("tls_one", "GET", "/epochs?limit=1", [], None),
    ("tls_no_token", "POST", "/epochs", [], None),
    ("tls_missing", "GET", "/epochs/999", [], None),
    ("tls_bad_json", "POST", "/epochs", [JSON, AUTH], b'{"tag":1}'),
]

MEANINGFUL = ("location", "allow", "www-authenticate", "retry-after", "content-type",
              "x-request-id", "cache-control")


def mask(text, prefix):
    text = mask_record_times(text)
    if prefix:
        text = text.replace('"next":"%s/' % prefix, '"next":"/')
    return text


def generated(rid):
    return rid is None or re.fullmatch(r"[0-9a-f]{32}|[A-Za-z0-9_-]{20,32}", rid) is not None


def view(r, prefix, sent_rid):
    """What must be equal between the two front ends."""
    heads = {}
    for k in MEANINGFUL:
        v = r.header(k)
        if v is None:
            continue
        if k == "location" and prefix and v.startswith(prefix + "/"):
            v = v[len(prefix):]
        if k == "x-request-id" and (not sent_rid or (v != sent_rid and generated(v))):
            v = "<generated>"  # both generate one (a refused head echoes nothing)
        heads[k] = v
    body = r.body.decode("utf-8", "replace")
    if not sent_rid:
        body = re.sub(r'"request_id":"[^"]*"', '"request_id":"<generated>"', body)
    return r.status, heads, mask(body, prefix)


def alike(t, label, rd, ra, sent_rid):
    """Checks that both front ends answered, and alike. False only when one
    did not answer at all (nothing more to check about the case then)."""
    if not t.check(rd.status and ra.status, "%s: both answered" % label, (rd.short(), ra.short())):
        return False
    vd, va = view(rd, "", sent_rid), view(ra, SCRIPT, sent_rid)
    t.check(vd == va, "%s: epochregd and epochreg.cgi answer alike" % label,
            "daemon: %r\n      cgi:    %r" % (vd, va))
    return True


def compare(t, cases, dport, aport, tls):
    """Sends every case to the daemon and to the CGI under Apache, in order;
    their answers must be alike."""
    for name, method, target, headers, body in cases:
        hdrs = list(headers)
        sent_rid = None
        if not any(k.lower() == "x-request-id" for k, _ in hdrs):
            sent_rid = "apache-" + name
            hdrs.append(("X-Request-Id", sent_rid))
        else:
            sent_rid = dict((k.lower(), v) for k, v in hdrs)["x-request-id"]
            if not re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", sent_rid):
                sent_rid = None
        rd = request_safe(dport, method, target, hdrs, body, tls=tls)
        ra = request_safe(aport, method, SCRIPT + target, hdrs, body, tls=tls)
        if not alike(t, name, rd, ra, sent_rid):
            continue
        if name in ("post", "tls_post"):
            rec = ra.json() if ra.status == 201 else {}
            want = "https" if tls else "http"
            t.check(ra.status == 201 and ra.header("location") == "%s/epochs/%s"
                    % (SCRIPT, rec.get("id")) and rec.get("protocol") == want,
                    "C1: 201, Location under the script's path, protocol %s" % want,
                    ra.short())
        if name == "list":
            nxt = ra.json().get("next") if ra.status == 200 else None
            t.check(nxt is not None and nxt.startswith(SCRIPT + "/epochs?"),
                    "next carries the script's path", nxt)


def battery_cases():
    """The daemon's own J (bodies, on every write route) and Q1-Q6 (queries,
    ids) rows from tests/daemon/framing.py, as raw requests. Left out, because
    Apache, not the CGI, answers them: a body announced and never sent (see
    deployment()), Q7's dot-segments and encoded paths (Apache normalises the
    path before it picks the script) and an encoded NUL in the path (Apache's
    own 404)."""
    for c in j_cases() + q_cases():
        if c.row == "Q7" or "nothing sent" in c.name or (c.row == "Q6" and "%00" in c.name):
            continue
        yield c


def compare_battery(t, dport, aport):
    """Every battery case to both front ends, in order: the same status, body
    and meaningful headers (connection handling is Apache's, not compared)."""
    n = 0
    for c in battery_cases():
        line, _, rest = c.data.partition(b"\r\n")
        method, target, version = line.split(b" ", 2)
        auth = ("Authorization: Bearer %s\r\n" % TOKEN).encode()  # writes need it here
        d_data = line + b"\r\n" + auth + rest
        cgi_data = b" ".join([method, SCRIPT.encode() + target, version]) + b"\r\n" + auth + rest
        rd = raw(dport, d_data.decode("latin-1"))
        ra = raw(aport, cgi_data.decode("latin-1"))
        label = "%s %s" % (c.row, c.name)
        if not alike(t, label, rd, ra, None):
            continue
        t.check(rd.status in c.expect, "%s: status %s, as RELIABILITY.md expects" % (label, sorted(c.expect)),
                rd.short())
        n += 1
    t.check(n > 200, "the J and Q1-Q6 battery ran (%d cases)" % n, n)


def raw(port, data, shut=False, timeout=10.0):
    """Sends a raw request (text), optionally closes the sending side, reads
    one answer (status 0 when none came)."""
    return exchange_safe(port, data.encode("latin-1"), "a raw request", timeout=timeout,
                         shut=shut)


def deployment(t, cgi):
    """Apache set up as examples/apache/epochreg.conf recommends
    (the example's <Location> block itself, after tests/cgi/conf/deploy.conf:
    LimitRequestBody, RequestReadTimeout, JSON ErrorDocuments), serving a
    store that cannot be reached. mod_cgid hands
    the whole request body to the CGI before it reads the CGI's answer, so a
    body that is announced and never sent is Apache's to refuse: C6 and C7
    are answered by Apache, in the API's JSON error shape; C3 is Apache's
    400; C12 is the CGI's 503 with its line in Apache's error log."""
    with open(EXAMPLE_CONF) as fp:
        example = fp.read()
    m = re.search(r"^<Location /cgi-bin/epochreg.cgi>\n.*?^</Location>\n", example, re.M | re.S)
    if not m:
        t.fatal("no <Location /cgi-bin/epochreg.cgi> block in %s" % EXAMPLE_CONF)
    block = "".join(l for l in m.group(0).splitlines(True)
                    if not re.match(r"\s*(SetEnv|PassEnv)\b", l))
    extra = t.path("deploy.conf")
    with open(DEPLOY_CONF) as fp, open(extra, "w") as out:
        out.write(fp.read() + block)
    state = t.path("apache-deploy")
    # An unreachable store in any build: a SQLite file in a directory that
    # does not exist (503, as for a PostgreSQL server that is down).
    r = subprocess.run(["bash", FIXTURE, "start", state, cgi,
                        "EPOCHREG_DB=sqlite:@ROOT@/no-such-directory/x.db"],
                       capture_output=True, text=True,
                       env=dict(os.environ, APACHE_EXTRA_CONF=extra))
    t.cleanups.append(lambda: subprocess.run(["bash", FIXTURE, "stop", state], check=False))
    if r.returncode != 0:
        t.fatal("apache.sh start (deployment config) failed: %s %s" % (r.stdout, r.stderr))
    root = open(os.path.join(state, "root")).read().strip()
    port = int(open(os.path.join(state, "port")).read())
    head = "POST %s/epochs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" % SCRIPT

    def json_error(r, status):
        try:
            body = r.json()
        except ValueError:
            return False
        return (r.status == status and body.get("error", {}).get("status") == status
                and (r.header("content-type") or "").startswith("application/json"))

    t0 = time.monotonic()
    r = raw(port, head + "Content-Length: 104857600\r\n\r\n")
    t.check(json_error(r, 413) and time.monotonic() - t0 < 2 * FACTOR,
            "C6: 100 MiB announced, nothing sent: a JSON 413 at once", r.short())
    t0 = time.monotonic()
    r = raw(port, head + "Content-Length: 10\r\n\r\n{\"t", timeout=20)
    took = time.monotonic() - t0
    t.check(json_error(r, 408) and 1.5 < took < 10 * FACTOR,
            "C7: a silent body: a JSON 408 at the body deadline (2 s here)", (took, r.short()))
    r = raw(port, head + "Content-Length: 10\r\n\r\n{\"t", shut=True)
    t.check(r.status == 400, "C3: a body shorter than announced, then EOF: 400", r.short())
    r = request_safe(port, "GET", SCRIPT + "/epochs")
    t.check(json_error(r, 503) and r.header("retry-after") == "1",
            "C12: an unreachable store: the CGI's JSON 503 + Retry-After", r.short())
    with open(os.path.join(root, "logs", "error.log"), errors="replace") as fp:
        lines = [l for l in fp if "epochreg.cgi: cannot open the store (EPOCHREG_DB)" in l]
    t.check(len(lines) == 1, "C12: ... and one line in Apache's error log", lines)


def via_pgbouncer(t, cgi, cgi_db):
    """The README's pgbouncer setup (tests/fixtures/pgbouncer.sh: session
    pooling, DISCARD ALL) between the CGI and PostgreSQL: requests in a row
    reuse one server connection, and the statements the request before
    prepared on it must not clash with the next one's."""
    state = t.path("pgbouncer")
    r = subprocess.run(["bash", PGBOUNCER, "start", state, os.environ.get("EPOCHREG_TEST_PG_DIR", "")],
                       capture_output=True, text=True)
    t.cleanups.append(lambda: subprocess.run(["bash", PGBOUNCER, "stop", state], check=False))
    if r.returncode != 0:
        t.fatal("pgbouncer.sh start failed: %s %s" % (r.stdout, r.stderr))
    dbname = re.search(r"dbname=(\S+)", cgi_db).group(1)
    via = open(os.path.join(state, "conninfo")).read().strip() + " dbname=" + dbname
    ap = t.path("apache-pgbouncer")
    r = subprocess.run(["bash", FIXTURE, "start", ap, cgi, "EPOCHREG_DB=" + via],
                       capture_output=True, text=True)
    t.cleanups.append(lambda: subprocess.run(["bash", FIXTURE, "stop", ap], check=False))
    if r.returncode != 0:
        t.fatal("apache.sh start (via pgbouncer) failed: %s %s" % (r.stdout, r.stderr))
    port = int(open(os.path.join(ap, "port")).read())
    ids = []
    for _ in range(4):
        r = request_safe(port, "POST", SCRIPT + "/epochs", [JSON], b'{"tag":"pgbouncer"}')
        if t.check(r.status == 201, "via pgbouncer: POST /epochs 201", r.short()):
            ids.append(r.json()["id"])
        time.sleep(0.2)  # the server connection's DISCARD ALL is done before the next
    t.check(len(ids) == 4 and ids == sorted(set(ids)), "via pgbouncer: four records, ids increasing", ids)
    r = request_safe(port, "GET", SCRIPT + "/epochs?tag=pgbouncer&order=asc")
    t.check(r.status == 200 and [x["id"] for x in r.json()["items"]] == ids,
            "via pgbouncer: the list has them", r.short())
    # pgbouncer's own account (its admin console): fewer server connections
    # to the database than CGI requests, so they were reused.
    admin = open(os.path.join(state, "conninfo")).read().strip() + " dbname=pgbouncer"
    q = subprocess.run(["psql", "-XAtq", "-d", admin, "-c", "SHOW SERVERS"],
                       capture_output=True, text=True)
    servers = [l for l in q.stdout.splitlines() if l.split("|")[2:3] == [dbname]]
    t.check(q.returncode == 0 and 1 <= len(servers) < 4,
            "via pgbouncer: 4 requests served by %d server connection(s) (pooled)" % len(servers),
            (q.stdout, q.stderr))


def stores(t, backend):
    """(the CGI's store URI for SetEnv, the daemon's): fresh and empty, the
    CGI's already migrated (the CGI never migrates PostgreSQL)."""
    if backend == "sqlite":
        return "sqlite:@ROOT@/data/cgi.db", "sqlite:" + t.path("daemon.db")
    base = shared_pg(t)
    cgi_db = pg_database(t, base, "cgi")
    cli = os.environ.get("EPOCHREG_CLI", "")
    if not os.access(cli, os.X_OK):
        t.fatal("EPOCHREG_CLI does not name the epochreg tool (%r)" % cli)
    r = subprocess.run([cli, "--db", cgi_db, "migrate"], capture_output=True, text=True)
    if r.returncode != 0:
        t.fatal("epochreg migrate failed: %s %s" % (r.stdout, r.stderr))
    return cgi_db, pg_database(t, base, "daemon")


def unmigrated(t, cgi):
    """A PostgreSQL store nobody migrated: the CGI answers 503 naming the
    command that would, and migrates nothing itself."""
    db = pg_database(t, shared_pg(t), "unmigrated")
    env = {"PATH": "/usr/bin:/bin", "REQUEST_METHOD": "POST", "PATH_INFO": "/epochs",
           "SCRIPT_NAME": SCRIPT, "REMOTE_ADDR": "127.0.0.1", "EPOCHREG_DB": db}
    r = subprocess.run([cgi], env=env, input=b"", capture_output=True, timeout=30)
    out = r.stdout.decode("utf-8", "replace")
    t.check(r.returncode == 0 and out.startswith("Status: 503 ") and "epochreg migrate" in out
            and "Retry-After: 1" in out,
            "an unmigrated PostgreSQL store: 503 + Retry-After naming `epochreg migrate`", out)
    q = subprocess.run(["psql", "-XAtq", "-d", db, "-c",
                        "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'epochreg%'"],
                       capture_output=True, text=True)
    t.check(q.returncode == 0 and q.stdout.strip() == "0",
            "... and the CGI created no table in it", (q.stdout, q.stderr))


def main(t, backend):
    cgi = os.environ.get("EPOCHREG_CGI", "")
    if not os.access(cgi, os.X_OK):
        t.fatal("EPOCHREG_CGI does not name epochreg.cgi (%r)" % cgi)
    cgi_db, daemon_db = stores(t, backend)
    t.cgi_db = cgi_db
    state = t.path("apache")
    tokens_d = t.path("tokens")
    with open(tokens_d, "w") as fp:
        fp.write(TOKEN + "\n")
    os.chmod(tokens_d, 0o600)

    cert, key = gen_cert(t, "server")
    r = subprocess.run(["bash", FIXTURE, "start", state, cgi,
                        "EPOCHREG_DB=" + cgi_db, "EPOCHREG_NODE=shared",
                        "EPOCHREG_TOKEN_FILE=@ROOT@/data/tokens"],
                       capture_output=True, text=True,
                       env=dict(os.environ, APACHE_TLS_CERT=cert, APACHE_TLS_KEY=key))
    t.cleanups.append(lambda: subprocess.run(["bash", FIXTURE, "stop", state], check=False))
    if r.returncode != 0:
        t.fatal("apache.sh start failed: %s %s" % (r.stdout, r.stderr))
    root = open(os.path.join(state, "root")).read().strip()
    port = int(open(os.path.join(state, "port")).read())
    tls_port = int(open(os.path.join(state, "https_port")).read())
    tokens_a = os.path.join(root, "data", "tokens")
    with open(tokens_a, "w") as fp:
        fp.write(TOKEN + "\n")
    os.chmod(tokens_a, 0o600)
    if os.getuid() == 0:
        subprocess.run(["chown", "www-data:www-data", tokens_a], check=True)

    ctx = ssl.create_default_context(cafile=cert)
    d = Daemon(t, daemon_db, ["--node", "shared", "--token-file", tokens_d,
                              "--tls-cert", cert, "--tls-key", key],
               tls_listen=("127.0.0.1:0",), tls_client=ctx).start()
    t.cleanups.append(d.stop)

    compare(t, CASES, d.port, port, None)
    compare(t, TLS_CASES, d.tls_port, tls_port, ctx)
    compare_battery(t, d.port, port)

    # Apache's UNIQUE_ID becomes the request id when the client sends none.
    r = request_safe(port, "GET", SCRIPT + "/healthz")
    rid = r.header("x-request-id") or ""
    t.check(r.status == 200 and re.fullmatch(r"[A-Za-z0-9_-]{20,32}", rid) is not None,
            "no X-Request-Id: the CGI answers with Apache's UNIQUE_ID", r.short())

    # C2: a chunked body reaches the CGI without CONTENT_LENGTH.
    c = Conn(port)
    try:
        c.send(("POST %s/epochs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                "Authorization: Bearer %s\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                "7\r\n{\"tag\":\r\n9\r\n\"chunked\"\r\n1\r\n}\r\n0\r\n\r\n" % (SCRIPT, TOKEN)).encode())
        r = c.read_response()
    finally:
        c.close()
    t.check(r.status == 201 and r.json().get("tag") == "chunked",
            "C2: a chunked body is read to its end: 201 with the tag", r.short())

    # C4: CONTENT_LENGTH=2 and more bytes behind it: the CGI reads exactly 2.
    r = raw(port, "POST %s/epochs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Authorization: Bearer %s\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}{\"tag\":1}"
            % (SCRIPT, TOKEN))
    t.check(r.status == 201 and r.json().get("tag") is None,
            "C4: Content-Length 2 with more bytes behind: the 2 bytes register (201)", r.short())

    # C13: a Proxy: header (HTTP_PROXY under a naive server) goes nowhere.
    tport, seen, stop = trap_listener()
    r = request_safe(port, "POST", SCRIPT + "/epochs",
                     [AUTH, ("Proxy", "http://127.0.0.1:%d" % tport)], None)
    t.check(r.status == 201, "C13: a request with Proxy: registers", r.short())
    time.sleep(0.3)
    stop.set()
    t.check(not seen, "C13: the trap named by Proxy: saw no connection", seen)

    # Apache's error log has no line from the CGI for these requests
    # (configuration problems and store failures are the only ones it writes).
    # A sanitizer build reports there too (the CGI's stderr).
    with open(os.path.join(root, "logs", "error.log"), errors="replace") as fp:
        cgi_lines = [l for l in fp if "epochreg.cgi:" in l or "Sanitizer" in l
                     or "runtime error" in l]
    t.check(not cgi_lines, "no epochreg.cgi or sanitizer line in Apache's error log",
            cgi_lines[:5])


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    if which not in ("sqlite", "postgres"):
        sys.exit("usage: apache.py sqlite|postgres")

    def run(t):
        main(t, which)
        if which == "sqlite":  # its store is unreachable either way
            deployment(t, os.environ.get("EPOCHREG_CGI", ""))
        if which == "postgres":
            unmigrated(t, os.environ.get("EPOCHREG_CGI", ""))
            via_pgbouncer(t, os.environ.get("EPOCHREG_CGI", ""), t.cgi_db)
    Test("cgi.apache_" + which).run(run)
