"""daemon.https: HTTPS listeners (DESIGN "The daemon": OpenSSL; RELIABILITY X8).

A self-signed certificate for 127.0.0.1 is made at test time. One daemon
with --listen and --tls-listen: curl --cacert works over both, records that
came over TLS say protocol "https" (plain ones "http"), keep-alive and
pipelining over TLS, TLS 1.2 and 1.3 accepted, TLS 1.1 refused (Python ssl
and openssl s_client), plain HTTP on the TLS port and TLS on the HTTP port
do not hurt the daemon. An HTTPS-only daemon (--tls-listen without --listen)
has exactly one listener, the TLS one. A missing certificate or a key that
does not match makes the daemon exit 1 at start.
"""

import os
import socket
import ssl
import subprocess
import sys
import warnings

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (FACTOR, Conn, Daemon, HttpError, Test, build, check_created, check_record,  # noqa: E402
                     clean_env, curl, gen_cert, request, sqlite_db)

warnings.filterwarnings("ignore", category=DeprecationWarning)


def tls_probe(port, lo, hi, cafile=None):
    """Handshake with versions lo..hi. Returns (version or None, error text)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = lo
    ctx.maximum_version = hi
    if hi <= ssl.TLSVersion.TLSv1_1:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")   # let this client offer TLS 1.1 at all
    s = socket.create_connection(("127.0.0.1", port), timeout=5 * FACTOR)
    try:
        ss = ctx.wrap_socket(s)
        v = ss.version()
        ss.close()
        return v, ""
    except (ssl.SSLError, OSError) as e:
        return None, repr(e)
    finally:
        s.close()


def expect_start_failure(t, d, what, want_rc=1):
    cmd = d.command()
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=20 * FACTOR, env=clean_env({"XDG_DATA_HOME": d.dir}),
                           cwd=d.dir)
    except subprocess.TimeoutExpired:
        t.fail("%s: the daemon kept running (want exit %d)" % (what, want_rc))
        return
    t.check(p.returncode == want_rc, "%s: exit status %d" % (what, want_rc),
            "got %d; stderr: %s" % (p.returncode, p.stderr.decode(errors="replace")[-500:]))


def main(t):
    cert, key = gen_cert(t, "server")
    ctx = ssl.create_default_context(cafile=cert)
    tls_args = ["--tls-cert", cert, "--tls-key", key]
    d = Daemon(t, sqlite_db(t), tls_args, tls_listen=("127.0.0.1:0",), tls_client=ctx, name="both").start()
    schemes = sorted(s for s, _, _ in d.ports)
    t.check(schemes == ["http", "https"], "ports file: one http and one https line", d.ports)
    t.check(d.port != d.tls_port, "two different ports", d.ports)
    t.check(d.listening_sockets() == 2, "two listening sockets", d.listening_sockets())
    https = "https://127.0.0.1:%d" % d.tls_port
    http = "http://127.0.0.1:%d" % d.port

    c = curl(t, https + "/epochs", "--cacert", cert, "-X", "POST")
    rec_tls = None
    if t.check(c.rc == 0 and c.status == 201, "curl --cacert -X POST https://.../epochs: 201", c.short()):
        rec_tls = c.json()
        check_record(t, rec_tls, "record over TLS", protocol="https")
        t.check(c.header("location") == "/epochs/%d" % rec_tls["id"], "Location over TLS", c.short())
    c = curl(t, http + "/epochs", "-X", "POST")
    if t.check(c.rc == 0 and c.status == 201, "curl -X POST http://.../epochs next to TLS: 201", c.short()):
        check_record(t, c.json(), "record over plain HTTP", protocol="http")
    if rec_tls:
        c = curl(t, https + "/epochs/%d" % rec_tls["id"], "--cacert", cert)
        t.check(c.status == 200 and c.json() == rec_tls, "curl GET over TLS: the record (protocol https)", c.short())
        c = curl(t, http + "/epochs/%d" % rec_tls["id"])
        t.check(c.status == 200 and c.json() == rec_tls, "the TLS record read over plain HTTP", c.short())
    c = curl(t, https + "/epochs", "--cacert", cert, "-H", "Content-Type: application/json",
             "--data-binary", '{"tag":"tls"}')
    if t.check(c.status == 201, "curl POST JSON over TLS: 201", c.short()):
        check_record(t, c.json(), "tagged record over TLS", protocol="https", tag="tls")
    for p in ("/healthz", "/readyz", "/now", "/metrics", "/epochs?limit=2"):
        c = curl(t, https + p, "--cacert", cert)
        t.check(c.rc == 0 and c.status == 200, "curl GET %s over TLS: 200" % p, c.short())
    c = curl(t, https + "/healthz")
    t.check(c.rc != 0, "curl without --cacert refuses the self-signed certificate (sanity)", c.short())
    c = curl(t, https + "/no-such", "--cacert", cert)
    t.check(c.status == 404, "404 over TLS", c.short())

    # keep-alive and pipelining over TLS
    conn = Conn(d.tls_port, tls=ctx)
    try:
        for i in range(5):
            conn.send(build("GET", "/epochs?limit=1", [("X-Request-Id", "tls-ka-%d" % i)]))
            r = conn.read_response()
            t.check(r.status == 200 and r.header("x-request-id") == "tls-ka-%d" % i,
                    "TLS keep-alive: request %d answered on the same connection" % i, r.short())
        conn.send(build("POST", "/epochs", None, {"tag": "tls-ka"}))
        r = conn.read_response()
        if t.check(r.status == 201, "TLS keep-alive: POST 201", r.short()):
            check_created(t, r, "TLS keep-alive POST", protocol="https", tag="tls-ka")
        conn.send(build("HEAD", "/epochs?limit=1") + build("GET", "/epochs?limit=1"))
        h = conn.read_response(head=True)
        g = conn.read_response()
        t.check(h.status == 200 and h.header("content-length") == str(len(g.body)),
                "HEAD over TLS: headers only, Content-Length of the GET", (h.short(), len(g.body)))
        data = b"".join(build("GET", "/healthz", [("X-Request-Id", "tls-p-%d" % i)]) for i in range(10))
        data += build("POST", "/epochs", [("X-Request-Id", "tls-p-post")], {"tag": "tls-pipe"})
        conn.send(data)
        got = []
        for _ in range(11):
            try:
                r = conn.read_response()
                got.append((r.header("x-request-id"), r.status))
            except HttpError as e:
                t.fail("TLS pipelining: an answer is missing", e)
                break
        t.check(got == [("tls-p-%d" % i, 200) for i in range(10)] + [("tls-p-post", 201)],
                "TLS pipelining: 10 GETs + 1 POST answered in order", got)
    finally:
        conn.close()

    # protocol versions
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        got, err = tls_probe(d.tls_port, v, v)
        t.check(got is not None, "%s handshake accepted" % v.name, err)
    got, err = tls_probe(d.tls_port, ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1)
    t.check(got is None, "X8: TLS 1.0/1.1 refused by the server", "negotiated %s" % got)
    if got is None:
        t.check("NO_PROTOCOLS_AVAILABLE" not in err.upper() and "no protocols available" not in err,
                "X8: the TLS 1.1 refusal came from the server, not from this client's own settings", err)
    p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % d.tls_port, "-tls1_1",
                        "-cipher", "DEFAULT@SECLEVEL=0"], input=b"", capture_output=True, timeout=20)
    out = (p.stdout + p.stderr).decode(errors="replace")
    t.check("Cipher is (NONE)" in out or p.returncode != 0, "X8: openssl s_client -tls1_1 fails",
            out[-600:])

    # plain HTTP on the TLS port, TLS on the HTTP port: refused, daemon unharmed
    s = socket.create_connection(("127.0.0.1", d.tls_port), timeout=5)
    s.sendall(b"GET /epochs HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    s.settimeout(5 * FACTOR)
    try:
        data = s.recv(65536)
        t.check(not data.startswith(b"HTTP/1.1 2"), "plain HTTP on the TLS port is not served", data[:200])
    except (socket.timeout, OSError):
        t.fail("plain HTTP on the TLS port: the connection is neither answered nor closed within 5 s")
    s.close()
    try:
        c2 = Conn(d.port, tls=ctx, timeout=5)
        c2.close()
        t.fail("a TLS handshake on the plain HTTP port succeeded")
    except (ssl.SSLError, OSError):
        pass
    r = request(d.tls_port, "GET", "/healthz", tls=ctx)
    t.check(r.status == 200 and d.alive(), "daemon fine after the protocol mix-ups", r.short())
    # protocol label in the list: every record made over TLS says https
    r = request(d.port, "GET", "/epochs?limit=100")
    protos = {x["tag"]: x["protocol"] for x in r.json()["items"] if x["tag"]}
    t.check(protos.get("tls") == "https" and protos.get("tls-ka") == "https" and protos.get("tls-pipe") == "https",
            "records made over TLS list with protocol https", protos)
    d.stop()

    # HTTPS only: --tls-listen without --listen means no plain listener at all
    d2 = Daemon(t, sqlite_db(t, "only.db"), tls_args, listen=(), tls_listen=("127.0.0.1:0",), tls_client=ctx,
                name="https-only").start()
    t.check([s for s, _, _ in d2.ports] == ["https"], "HTTPS-only: the ports file has one https line", d2.ports)
    t.check(d2.listening_sockets() == 1, "HTTPS-only: exactly one listening socket (no default HTTP :8080)",
            d2.listening_sockets())
    c = curl(t, "https://127.0.0.1:%d/epochs" % d2.tls_port, "--cacert", cert, "-X", "POST")
    if t.check(c.status == 201, "HTTPS-only: POST over TLS 201", c.short()):
        check_record(t, c.json(), "HTTPS-only record", protocol="https")
    d2.stop()

    # start-up failures
    d3 = Daemon(t, sqlite_db(t, "bad.db"), ["--tls-cert", t.path("missing.crt"), "--tls-key", key],
                tls_listen=("127.0.0.1:0",), name="missing-cert")
    expect_start_failure(t, d3, "--tls-cert of a missing file")
    cert2, key2 = gen_cert(t, "other")
    d4 = Daemon(t, sqlite_db(t, "bad.db"), ["--tls-cert", cert, "--tls-key", key2],
                tls_listen=("127.0.0.1:0",), name="wrong-key")
    expect_start_failure(t, d4, "--tls-key that does not match the certificate")


if __name__ == "__main__":
    Test("daemon.https").run(main)
