#!/usr/bin/env python3
"""Golden tests of epochreg.cgi, run directly (no web server).

Each case is an environment and a stdin; the program's whole output (the
Status line, the headers, the body) is compared with tests/cgi/golden/NAME.out
after the values that change from run to run are replaced by placeholders:
times (<EPOCH>, <EPOCH_US>, <TIME>) and generated request ids (<RID>). Record
ids are not replaced: every run starts from an empty SQLite store and runs
the cases in order, so they are the same each time.

Besides the exact output, some rows check what a golden file cannot: how
long the program took (C6, C7), what it wrote on stderr (C12), its exit
status, and that a trap listening where *_PROXY points saw no connection
(C13). The rows follow ../shared/RELIABILITY.md section 3.4, C1-C14.

    EPOCHREG_CGI=build/frontends/cgi/epochreg.cgi python3 tests/cgi/golden.py
    ... golden.py --update     rewrite the .out files (then read the diff!)
"""

import os
import re
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "daemon"))

from harness import mask_record_times, trap_listener  # noqa: E402
GOLDEN = os.path.join(HERE, "golden")
CGI = os.environ.get("EPOCHREG_CGI", "")
FACTOR = float(os.environ.get("EPOCHREG_TEST_TIME_FACTOR", "1"))
SCRIPT = "/cgi-bin/epochreg.cgi"
TOKEN = "golden-token-0123456789abcdef"
# The directory of epochreg.cgi's default store (sqlite:/var/lib/epochreg/...).
DEFAULT_DB_DIR = "/var/lib/epochreg"
# Built with the PostgreSQL backend (CMake passes EPOCHREG_WITH_POSTGRES):
# without it, the cases that open a postgresql: store are not this build's.
WITH_POSTGRES = os.environ.get("EPOCHREG_TEST_WITH_POSTGRES", "1") != "0"  # CMake's $<BOOL:...>
PG_CASES = {"db_unreachable", "db_unreachable_ready", "db_no_libpq"}


class Run:
    def __init__(self, rc, out, err, seconds):
        self.rc, self.out, self.err, self.seconds = rc, out, err, seconds

    def status(self):
        m = re.match(rb"Status: (\d{3}) ", self.out)
        return int(m.group(1)) if m else None

    def header(self, name):
        head = self.out.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        for line in head.split("\r\n")[1:]:
            k, _, v = line.partition(": ")
            if k.lower() == name.lower():
                return v
        return None


def run(env, stdin=b"", keep_open=False, timeout=30):
    """Runs the CGI with exactly @env (plus PATH). With keep_open the stdin
    pipe stays open and silent (a client that stopped sending)."""
    full = {"PATH": "/usr/bin:/bin"}
    full.update(env)
    t0 = time.monotonic()
    p = subprocess.Popen([CGI], env=full, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    if keep_open:
        if stdin:
            p.stdin.write(stdin)
            p.stdin.flush()
        out, err = p.stdout.read(), b""
        p.wait(timeout=timeout * FACTOR)
        err = p.stderr.read()
        p.stdin.close()
    else:
        try:
            p.stdin.write(stdin)
            p.stdin.close()
        except BrokenPipeError:
            pass  # the program answered without reading (413 at once)
        out = p.stdout.read()
        err = p.stderr.read()
        p.wait(timeout=timeout * FACTOR)
    return Run(p.returncode, out, err, time.monotonic() - t0)


def normalise(out):
    text = mask_record_times(out.decode("utf-8", "replace"))
    text = re.sub(r"\b[0-9a-f]{32}\b", "<RID>", text)
    # The body's length moves with nothing above (same digits each run),
    # except a generated request id, which has a fixed length: kept as is.
    return text


class Failures:
    def __init__(self):
        self.n = 0
        self.checks = 0

    def check(self, ok, what, detail=""):
        self.checks += 1
        if not ok:
            self.n += 1
            print("FAIL: %s\n      %s" % (what, str(detail)[:800]))
        return ok


def cases(db, tokens, unreadable, fake_libpq):
    base = {"SCRIPT_NAME": SCRIPT, "REMOTE_ADDR": "127.0.0.1", "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1", "EPOCHREG_DB": db, "EPOCHREG_NODE": "golden"}

    def c(name, method, path, query=None, body=b"", ctype=None, length="auto", rid=None,
          **extra):
        env = dict(base)
        if method is not None:
            env["REQUEST_METHOD"] = method
        if path is not None:
            env["PATH_INFO"] = path
        env["QUERY_STRING"] = query or ""
        if ctype:
            env["CONTENT_TYPE"] = ctype
        if length == "auto":
            if body:
                env["CONTENT_LENGTH"] = str(len(body))
        elif length is not None:
            env["CONTENT_LENGTH"] = length
        env["HTTP_X_REQUEST_ID"] = rid or ("golden-" + name)
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return name, env, body

    js = "application/json"
    yield c("post_created", "POST", "/epochs", body=b'{"tag":"one"}', ctype=js)       # C1
    yield c("post_empty", "POST", "/epochs")
    yield c("post_key", "POST", "/epochs", body=b'{"tag":"k"}', ctype=js, HTTP_IDEMPOTENCY_KEY="key-1")
    yield c("post_key_replay", "POST", "/epochs", body=b'{"tag":"k"}', ctype=js, HTTP_IDEMPOTENCY_KEY="key-1")
    yield c("post_key_conflict", "POST", "/epochs", body=b'{"tag":"other"}', ctype=js,
            HTTP_IDEMPOTENCY_KEY="key-1")
    yield c("post_legacy_register", "POST", "/EpochRegisterTime")
    yield c("post_legacy_store", "POST", "/storeEpochTime")
    yield c("post_legacy_app", "POST", "/app", body=b'{"tag":"app"}', ctype="application/json; charset=utf-8")
    yield c("post_chunked", "POST", "/epochs", body=b'{"tag":"chunked"}', ctype=js, length=None)   # C2
    yield c("post_more_than_length", "POST", "/epochs", body=b'{}{"tag":"x"}', ctype=js, length="2")  # C4
    yield c("get_list", "GET", "/epochs", query="limit=2")
    yield c("get_list_asc", "GET", "/epochs", query="order=asc&limit=3&tag=k")
    yield c("get_one", "GET", "/epochs/1")
    yield c("get_missing", "GET", "/epochs/999")
    yield c("head_list", "HEAD", "/epochs", query="limit=1")
    yield c("get_legacy_getepoch", "GET", "/getEpoch", query="limit=1")
    yield c("get_legacy_store", "GET", "/getEpochStore", query="limit=1&order=asc")
    yield c("get_legacy_app", "GET", "/app", query="limit=1")
    yield c("get_now", "GET", "/now")
    yield c("get_healthz", "GET", "/healthz")
    yield c("get_readyz", "GET", "/readyz")
    yield c("get_metrics", "GET", "/metrics")
    yield c("unknown_path", "GET", "/nothing")
    yield c("no_path_info", "GET", None)
    yield c("bad_limit", "GET", "/epochs", query="limit=0")
    yield c("repeated_param", "GET", "/epochs", query="limit=1&limit=2")
    yield c("bad_id", "GET", "/epochs/abc")
    yield c("bad_json", "POST", "/epochs", body=b'{"tag":', ctype=js)
    yield c("unknown_member", "POST", "/epochs", body=b'{"tga":"x"}', ctype=js)
    yield c("bad_key", "POST", "/epochs", HTTP_IDEMPOTENCY_KEY="has space")
    yield c("bad_request_id", "GET", "/healthz", rid="bad id!")
    yield c("unique_id", "GET", "/healthz", rid=None, HTTP_X_REQUEST_ID=None,
            UNIQUE_ID="awIVtJtj8qCln-bsUkL1VQAAAAA")
    yield c("short_body", "POST", "/epochs", body=b'{"a"', ctype=js, length="10")      # C3
    for i, v in enumerate(["-1", "abc", "1e3", " 2", "2 ", "0x2", "+2", ""]):          # C5
        yield c("length_bad_%d" % i, "POST", "/epochs", body=b"{}", ctype=js, length=v)
    yield c("length_over_limit", "POST", "/epochs", ctype=js, length="16385")           # C6
    yield c("chunked_over_limit", "POST", "/epochs", body=b"{" + b" " * 16384 + b"}", ctype=js,
            length=None)                                                                  # C2
    yield c("no_method", None, "/epochs")                                                # C8
    yield c("delete", "DELETE", "/epochs")                                               # C8
    yield c("put_one", "PUT", "/epochs/1")
    yield c("long_query", "GET", "/epochs", query="tag=" + "a" * 65536)                 # C9
    yield c("crlf_tag", "GET", "/epochs", query="tag=%0d%0aSet-Cookie:%20x=1")          # C9
    yield c("dot_dot", "GET", "/../../etc/passwd")                                       # C10
    yield c("text_plain", "POST", "/epochs", body=b'{"tag":"x"}', ctype="text/plain")   # C11
    yield c("db_garbage", "GET", "/epochs", EPOCHREG_DB="nonsense:whatever")            # C12
    yield c("db_unreachable", "GET", "/epochs",
            EPOCHREG_DB="postgresql://127.0.0.1:1/none?connect_timeout=2")             # C12
    yield c("db_unreachable_ready", "GET", "/readyz",
            EPOCHREG_DB="postgresql://127.0.0.1:1/none?connect_timeout=2")
    yield c("db_missing_dir", "POST", "/epochs", EPOCHREG_DB=None)                      # C12 default
    # libpq is loaded when a PostgreSQL store is opened: a site without it
    # gets a 500 and the reason in the error log.
    yield c("db_no_libpq", "GET", "/epochs", LD_LIBRARY_PATH=fake_libpq,
            EPOCHREG_DB="postgresql://127.0.0.1:1/none?connect_timeout=2")
    yield c("healthz_no_db", "GET", "/healthz", EPOCHREG_DB="nonsense:whatever")
    yield c("auth_missing", "POST", "/epochs", EPOCHREG_TOKEN_FILE=tokens)              # C14
    yield c("auth_wrong", "POST", "/epochs", EPOCHREG_TOKEN_FILE=tokens,
            HTTP_AUTHORIZATION="Bearer wrong-token-0123456789")                          # C14
    yield c("auth_right", "POST", "/epochs", EPOCHREG_TOKEN_FILE=tokens,
            HTTP_AUTHORIZATION="Bearer " + TOKEN)
    yield c("auth_read_open", "GET", "/epochs/1", EPOCHREG_TOKEN_FILE=tokens)
    yield c("auth_all_read", "GET", "/epochs/1", EPOCHREG_TOKEN_FILE=tokens, EPOCHREG_AUTH="all")
    yield c("token_file_unreadable", "POST", "/epochs", EPOCHREG_TOKEN_FILE=unreadable)
    yield c("bad_body_max", "POST", "/epochs", EPOCHREG_BODY_MAX="16k")
    yield c("small_body_max", "POST", "/epochs", body=b'{"tag":"x"}', ctype=js, EPOCHREG_BODY_MAX="4")
    yield c("https_on", "POST", "/epochs", HTTPS="on")
    yield c("drain", "GET", "/readyz", EPOCHREG_DRAIN_FILE=os.path.join(os.path.dirname(tokens), "tokens"))


def main():
    update = "--update" in sys.argv
    if not CGI or not os.access(CGI, os.X_OK):
        print("FAIL: EPOCHREG_CGI does not name the epochreg.cgi binary (%r)" % CGI)
        return 1
    f = Failures()
    with tempfile.TemporaryDirectory(prefix="epochreg-cgi-golden.") as tmp:
        db = "sqlite:" + os.path.join(tmp, "golden.db")
        tokens = os.path.join(tmp, "tokens")
        with open(tokens, "w") as fp:
            fp.write("# test token\n%s\n" % TOKEN)
        os.chmod(tokens, 0o600)
        unreadable = os.path.join(tmp, "no-such-token-file")
        fake_libpq = os.path.join(tmp, "fake-libpq")
        os.mkdir(fake_libpq)
        with open(os.path.join(fake_libpq, "libpq.so.5"), "w") as fp:
            fp.write("not a shared library\n")
        port, seen, stop = trap_listener()
        trap = "http://127.0.0.1:%d" % port
        names = set()
        for name, env, body in cases(db, tokens, unreadable, fake_libpq):
            if name in PG_CASES and not WITH_POSTGRES:
                continue
            names.add(name)
            if name == "post_created":                                                    # C13
                env = dict(env, HTTP_PROXY=trap, http_proxy=trap, HTTPS_PROXY=trap, ALL_PROXY=trap)
            r = run(env, body)
            f.check(r.rc == 0, "%s: exit status 0" % name, (r.rc, r.err))
            text = normalise(r.out)
            path = os.path.join(GOLDEN, name + ".out")
            if name == "db_missing_dir" and os.path.isdir(DEFAULT_DB_DIR):
                # The default store's directory exists on this machine (a site
                # set up for the CGI): the default then works; the golden
                # file is for a machine without it.
                f.check(r.status() in (201, 503), "%s: 201 or 503 with %s present" %
                        (name, DEFAULT_DB_DIR), r.out[:300])
                continue
            if update:
                with open(path, "w", newline="") as fp:
                    fp.write(text)
            else:
                try:
                    with open(path, newline="") as fp:
                        want = fp.read()
                except FileNotFoundError:
                    want = None
                f.check(want == text, "%s: output equals golden/%s.out" % (name, name),
                        "got:\n" + text)
            # What a golden file cannot say:
            if name in ("db_garbage", "db_unreachable", "db_missing_dir", "token_file_unreadable",
                        "bad_body_max", "no_method", "db_no_libpq"):
                lines = [l for l in r.err.decode("utf-8", "replace").splitlines() if l]
                f.check(len(lines) >= 1 and lines[0].startswith("epochreg.cgi: "),
                        "%s: a line on stderr (Apache's error log)" % name, r.err)
                if name == "db_no_libpq":
                    f.check(b"cannot load libpq.so.5 (Debian package libpq5)" in r.err,
                            "%s: the log line says libpq is missing" % name, r.err)
            elif name not in ("db_unreachable_ready",):
                f.check(r.err == b"", "%s: nothing on stderr" % name, r.err)
            if name == "length_over_limit":
                f.check(r.seconds < 5 * FACTOR, "C6: 413 without waiting for a body", r.seconds)
            if name == "crlf_tag":
                f.check(r.header("Set-Cookie") is None, "C9: no injected header", r.out[:300])
            if name == "post_created":
                time.sleep(0.3)
                f.check(not seen, "C13: the trap where *_PROXY pointed saw no connection", seen)
        stop.set()

        # C7: CONTENT_LENGTH promises 10 bytes, stdin stays open and silent.
        env = {"REQUEST_METHOD": "POST", "PATH_INFO": "/epochs", "SCRIPT_NAME": SCRIPT,
               "CONTENT_LENGTH": "10", "CONTENT_TYPE": "application/json", "EPOCHREG_DB": db,
               "EPOCHREG_CGI_TIMEOUT": "1", "HTTP_X_REQUEST_ID": "golden-silent"}
        r = run(env, b'{"t', keep_open=True)
        f.check(r.status() == 408 and b'"code":"request_timeout"' in r.out,
                "C7: a silent client gets 408 with a JSON error", r.out[:400])
        f.check(0.9 < r.seconds < 5 * FACTOR, "C7: within the read deadline (1 s)", r.seconds)
        if not WITH_POSTGRES:
            # A build without the PostgreSQL backend: a postgresql: store is
            # a setting this installation cannot use.
            env = {"REQUEST_METHOD": "GET", "PATH_INFO": "/epochs", "SCRIPT_NAME": SCRIPT,
                   "EPOCHREG_DB": "postgresql://127.0.0.1:1/none"}
            r = run(env, b"")
            f.check(r.rc == 0 and r.status() == 500 and b'"code":"configuration"' in r.out
                    and b"no PostgreSQL backend" in r.err,
                    "no PostgreSQL backend built: 500 configuration, the reason on stderr",
                    (r.out[:300], r.err))
        if WITH_POSTGRES:
            # A store that never answers: a socket that listens and never speaks
            # (the kernel completes the handshake; libpq then waits for the
            # server's first message, connect_timeout=0 disables libpq's own
            # limit). The alarm must answer 504 at EPOCHREG_CGI_STORE_TIMEOUT.
            silent = socket.socket()
            silent.bind(("127.0.0.1", 0))
            silent.listen(8)
            env = {"REQUEST_METHOD": "POST", "PATH_INFO": "/epochs", "SCRIPT_NAME": SCRIPT,
                   "HTTP_X_REQUEST_ID": "golden-hang", "EPOCHREG_CGI_STORE_TIMEOUT": "1",
                   "EPOCHREG_DB": "host=127.0.0.1 port=%d dbname=x connect_timeout=0"
                   % silent.getsockname()[1]}
            r = run(env, b"")
            silent.close()
            f.check(r.rc == 0 and r.status() == 504 and b'"code":"timeout"' in r.out
                    and r.header("X-Request-Id") == "golden-hang" and r.header("Retry-After"),
                    "a store that never answers: 504 + Retry-After from the alarm", r.out[:400])
            f.check(0.9 < r.seconds < 5 * FACTOR, "... after EPOCHREG_CGI_STORE_TIMEOUT (1 s)", r.seconds)
            f.check(b"did not answer in time" in r.err, "... and a line on stderr", r.err)
        if not update:
            extra = sorted(n[:-4] for n in os.listdir(GOLDEN)
                           if n.endswith(".out") and n[:-4] not in names
                           and not (n[:-4] in PG_CASES and not WITH_POSTGRES))
            f.check(not extra, "no golden file without a case", extra)
    print("%d checks, %d failed" % (f.checks, f.n))
    return 1 if f.n else 0


if __name__ == "__main__":
    sys.exit(main())
