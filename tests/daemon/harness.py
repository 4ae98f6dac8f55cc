"""Shared helpers for epochregd's integration tests (tests/daemon/*.py).

Python 3 standard library only; run with Debian's /usr/bin/python3.

Running one test by hand (after building; paths relative to the build dir B):

    EPOCHREG_DAEMON=B/frontends/epochregd/epochregd \\
    EPOCHREG_CLI=B/frontends/cli/epochreg \\
        /usr/bin/python3 tests/daemon/framing.py

Tests that use the shared test PostgreSQL (routes_postgres, concurrency
postgres) need EPOCHREG_TEST_PG_DIR, a state directory of
tests/fixtures/pg.sh (it holds DIR/conninfo); each test creates its own
database in that server:

    bash tests/fixtures/pg.sh start /tmp/pgstate
    EPOCHREG_DAEMON=... EPOCHREG_TEST_PG_DIR=/tmp/pgstate \\
        /usr/bin/python3 tests/daemon/routes_postgres.py
    bash tests/fixtures/pg.sh stop /tmp/pgstate

pg_outage.py starts (and halts, restarts, stops) its own private server and
needs EPOCHREG_PG_SCRIPT=tests/fixtures/pg.sh instead. Through CTest:

    ctest --test-dir B -R '^daemon\\.' --output-on-failure

Other knobs: EPOCHREG_TEST_KEEP=1 keeps the temporary directory (daemon log,
stderr, databases) and prints its path; EPOCHREG_TEST_TIME_FACTOR (default 1,
CTest sets 3 in a sanitizer build) stretches the slack of timing checks; the
contract thresholds themselves (1 s, 10 s, ...) are printed next to the
measured figures. A test never skips: anything missing is a failure.

Every daemon is started with --listen 127.0.0.1:0 --ports-file --pidfile
--log-file in a private temporary directory, stopped with SIGTERM sent to
the PID in its pidfile (never by name), and its exit status is checked.
"""

import collections
import json
import os
import shlex
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback

FACTOR = float(os.environ.get("EPOCHREG_TEST_TIME_FACTOR") or "1")
KEEP = os.environ.get("EPOCHREG_TEST_KEEP") == "1"

REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
RECORD_KEYS = {"id", "epoch", "epoch_us", "time", "tag", "client_ip", "protocol",
               "request_id", "node"}
JSON_CT = "application/json; charset=utf-8"


# ---------------------------------------------------------------- the test


class Fatal(Exception):
    """Stops the test at once (a missing prerequisite, a daemon that died)."""


class Test:
    """Collects failures instead of stopping at the first one; runs cleanups."""

    def __init__(self, name):
        self.name = name
        self.failures = []
        self.checks = 0
        self.cleanups = []
        self.lock = threading.Lock()
        self.t0 = time.monotonic()
        self.tmp = tempfile.mkdtemp(prefix="epochreg-%s." % name)
        os.chmod(self.tmp, 0o755)

    def check(self, cond, what, detail=None):
        with self.lock:
            self.checks += 1
        if not cond:
            self.fail(what, detail)
        return bool(cond)

    def fail(self, what, detail=None):
        msg = what if detail is None else "%s\n      %s" % (what, str(detail).replace("\n", "\n      "))
        with self.lock:
            self.failures.append(msg)
        print("FAIL: " + msg, flush=True)

    @staticmethod
    def info(msg):
        print(msg, flush=True)

    @staticmethod
    def fatal(msg):
        raise Fatal(msg)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def run(self, fn):
        try:
            fn(self)
        except Fatal as e:
            self.fail("fatal: %s" % e)
        except Exception:  # noqa: BLE001 - report everything
            self.fail("unexpected exception:\n" + traceback.format_exc())
        finally:
            for c in reversed(self.cleanups):
                try:
                    c()
                except Exception:  # noqa: BLE001
                    self.fail("cleanup failed:\n" + traceback.format_exc())
        elapsed = time.monotonic() - self.t0
        if KEEP:
            print("kept temporary directory %s" % self.tmp)
        else:
            subprocess.run(["rm", "-rf", self.tmp], check=False)
        if self.failures:
            print("\n%s: FAILED, %d failure(s) in %d checks, %.1f s" %
                  (self.name, len(self.failures), self.checks, elapsed), flush=True)
            for i, f in enumerate(self.failures, 1):
                print("  %d. %s" % (i, f))
            sys.exit(1)
        print("\n%s: passed, %d checks, %.1f s" % (self.name, self.checks, elapsed), flush=True)
        sys.exit(0)


def require_exe(var):
    p = os.environ.get(var)
    if not p:
        raise Fatal("%s is not set (path of the binary under test)" % var)
    if not (os.path.isfile(p) and os.access(p, os.X_OK)):
        raise Fatal("%s=%s is not an executable file (not built?)" % (var, p))
    return p


def clean_env(extra=None):
    """The environment for child processes: no EPOCHREG_* configuration and
    no proxies leak in from the caller."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("EPOCHREG_") and k.lower() not in
           ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    if extra:
        env.update(extra)
    return env


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


# ---------------------------------------------------------------- the daemon


class Daemon:
    """One epochregd process in its own directory under the test's tmp dir."""

    def __init__(self, t, db, args=(), listen=("127.0.0.1:0",), tls_listen=(),
                 name="epochregd", env=None, tls_client=None, minimal=False):
        self.t = t
        self._tls_ctx = tls_client
        # minimal: only --ports-file on the command line; the test gives the
        # rest (listen, pidfile, log file, store) through the environment
        self.minimal = minimal
        self.json_log = True
        self.db = db
        self.args = list(args)
        self.listen = list(listen)
        self.tls_listen = list(tls_listen)
        self.name = name
        self.env = dict(env or {})
        self.dir = t.path(name)
        os.makedirs(self.dir, exist_ok=True)
        self.ports_file = os.path.join(self.dir, "ports")
        self.pidfile = os.path.join(self.dir, "pid")
        self.logfile = os.path.join(self.dir, "log")
        self.errfile = os.path.join(self.dir, "stderr")
        self.proc = None
        self.ports = []
        self.port = None
        self.tls_port = None
        self.pid = None
        self.rc = None

    def command(self):
        if self.minimal:
            return [require_exe("EPOCHREG_DAEMON"), "--ports-file", self.ports_file] + self.args
        cmd = [require_exe("EPOCHREG_DAEMON")]
        for a in self.listen:
            cmd += ["--listen", a]
        for a in self.tls_listen:
            cmd += ["--tls-listen", a]
        cmd += ["--ports-file", self.ports_file, "--pidfile", self.pidfile,
                "--log-file", self.logfile]
        if self.db is not None:
            cmd += ["--db", self.db]
        return cmd + self.args

    def start(self, ready=True, timeout=30):
        for f in (self.ports_file, self.pidfile):
            if os.path.exists(f):
                os.unlink(f)
        cmd = self.command()
        # EPOCHREG_DAEMON_WRAPPER (e.g. "valgrind --error-exitcode=99 ...")
        # runs the daemon under a tool in the same process: the pidfile and
        # the exit status are still the daemon's.
        wrapper = os.environ.get("EPOCHREG_DAEMON_WRAPPER")
        if wrapper:
            cmd = shlex.split(wrapper) + cmd
        with open(self.errfile, "ab") as err:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err, cwd=self.dir,
                env=clean_env(dict({"XDG_DATA_HOME": self.dir}, **self.env)),
                start_new_session=True)
        self.t.cleanups.append(self._cleanup)
        want = len(self.listen) + len(self.tls_listen)
        deadline = time.monotonic() + timeout * FACTOR
        lines = []
        while True:
            if self.proc.poll() is not None:
                raise Fatal("%s exited with %s before writing its ports file\n  command: %s\n%s"
                            % (self.name, self.proc.returncode, " ".join(cmd), self.diagnostics()))
            try:
                with open(self.ports_file) as f:
                    text = f.read()
                if text.endswith("\n"):
                    lines = [ln for ln in text.splitlines() if ln.strip()]
                    if len(lines) >= want:
                        break
            except FileNotFoundError:
                pass
            if time.monotonic() > deadline:
                raise Fatal("%s wrote no complete ports file within %.0f s\n%s"
                            % (self.name, timeout * FACTOR, self.diagnostics()))
            time.sleep(0.02)
        self.ports = []
        for ln in lines:
            parts = ln.split()
            if len(parts) != 3 or parts[0] not in ("http", "https") or not parts[2].isdigit():
                raise Fatal("%s: malformed ports file line %r (want 'http|https ADDR PORT')"
                            % (self.name, ln))
            self.ports.append((parts[0], parts[1], int(parts[2])))
        self.t.check(len(self.ports) == want,
                     "%s: ports file has one line per listener" % self.name,
                     "want %d, got %r" % (want, lines))
        http_ports = [p for s, _, p in self.ports if s == "http"]
        https_ports = [p for s, _, p in self.ports if s == "https"]
        self.port = http_ports[0] if http_ports else None
        self.tls_port = https_ports[0] if https_ports else None
        # The pidfile names this very process.
        deadline = time.monotonic() + 10 * FACTOR
        while True:
            try:
                with open(self.pidfile) as f:
                    text = f.read().strip()
                if text:
                    self.pid = int(text)
                    break
            except (FileNotFoundError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise Fatal("%s: no PID in its pidfile %s" % (self.name, self.pidfile))
            time.sleep(0.02)
        self.t.check(self.pid == self.proc.pid, "%s: pidfile holds the daemon's PID" % self.name,
                     "pidfile %s, process %s" % (self.pid, self.proc.pid))
        if ready:
            self.wait_ready(timeout)
        return self

    def tls_context(self):
        return getattr(self, "_tls_ctx", None)

    def wait_ready(self, timeout=30, path="/readyz"):
        deadline = time.monotonic() + timeout * FACTOR
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Fatal("%s exited with %s while starting\n%s"
                            % (self.name, self.proc.returncode, self.diagnostics()))
            try:
                if self.port is not None:
                    r = request(self.port, "GET", path, timeout=5)
                else:
                    r = request(self.tls_port, "GET", path, timeout=5, tls=self.tls_context())
                last = "%d %s" % (r.status, r.body[:200])
                if r.status == 200:
                    return
            except (OSError, HttpError) as e:
                last = repr(e)
            time.sleep(0.05)
        raise Fatal("%s: %s not 200 within %.0f s (last: %s)\n%s"
                    % (self.name, path, timeout * FACTOR, last, self.diagnostics()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        with open(self.pidfile) as f:
            pid = int(f.read().strip())
        if pid != self.proc.pid:
            raise Fatal("%s: pidfile PID %d is not the daemon's %d" % (self.name, pid, self.proc.pid))
        os.kill(pid, sig)

    def stop(self, expect_rc=0, timeout=15):
        """SIGTERM by the pidfile's PID, wait, check the exit status. Returns
        (rc, seconds)."""
        if not self.alive():
            self.rc = self.proc.returncode
            self.t.check(self.rc == expect_rc, "%s: exit status" % self.name,
                         "it had already exited with %s (want %s)\n%s"
                         % (self.rc, expect_rc, self.diagnostics()))
            return self.rc, 0.0
        t0 = time.monotonic()
        self.signal(signal.SIGTERM)
        try:
            self.rc = self.proc.wait(timeout * FACTOR)
        except subprocess.TimeoutExpired:
            self.t.fail("%s: did not exit within %.0f s of SIGTERM" % (self.name, timeout * FACTOR),
                        self.diagnostics())
            self.proc.kill()
            self.rc = self.proc.wait()
            return self.rc, time.monotonic() - t0
        secs = time.monotonic() - t0
        self.t.check(self.rc == expect_rc, "%s: exit status after SIGTERM" % self.name,
                     "want %s, got %s\n%s" % (expect_rc, self.rc, self.diagnostics()))
        self.check_logs()
        return self.rc, secs

    def kill(self):
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def _cleanup(self):
        if self.alive():
            self.kill()

    def stderr_text(self):
        try:
            with open(self.errfile, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_text(self):
        try:
            with open(self.logfile, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def diagnostics(self, n=25):
        err = self.stderr_text().splitlines()[-n:]
        log = self.log_text().splitlines()[-n:]
        return ("  stderr (last %d lines):\n    %s\n  log (last %d lines):\n    %s"
                % (n, "\n    ".join(err) or "(empty)", n, "\n    ".join(log) or "(empty)"))

    def log_lines(self):
        """(objects, malformed lines) of the log file."""
        good, bad = [], []
        for ln in self.log_text().splitlines():
            if not ln.strip():
                continue
            try:
                o = json.loads(ln)
                if isinstance(o, dict):
                    good.append(o)
                else:
                    bad.append(ln)
            except ValueError:
                bad.append(ln)
        return good, bad

    def access_lines(self):
        good, _ = self.log_lines()
        return [o for o in good if "status" in o and "request_id" in o]

    def check_logs(self):
        _, bad = self.log_lines()
        self.t.check(not bad or not self.json_log, "%s: every log line is one JSON object" % self.name,
                     "%d malformed, first: %r" % (len(bad), bad[:3]))
        err = self.stderr_text()
        for needle in ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                       "ThreadSanitizer"):
            if needle in err:
                i = err.index(needle)
                self.t.fail("%s: sanitizer report on stderr" % self.name,
                            err[max(0, i - 200):i + 3000])
                break

    def wait_log(self, pred, timeout=5):
        deadline = time.monotonic() + timeout * FACTOR
        while True:
            for o in self.log_lines()[0]:
                if pred(o):
                    return o
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)

    def listening_sockets(self):
        """Number of TCP sockets in LISTEN state this process holds."""
        inodes = set()
        fd_dir = "/proc/%d/fd" % self.proc.pid
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            m = re.match(r"socket:\[(\d+)\]", target)
            if m:
                inodes.add(m.group(1))
        n = 0
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(table) as f:
                    next(f)
                    for ln in f:
                        cols = ln.split()
                        if cols[3] == "0A" and cols[9] in inodes:
                            n += 1
            except FileNotFoundError:
                pass
        return n


def sqlite_db(t, name="store.db"):
    return "sqlite:" + t.path(name)


# ---------------------------------------------------------------- raw HTTP


class HttpError(Exception):
    pass


class Closed(HttpError):
    """The connection ended before a complete response."""

    def __init__(self, got, how):
        super().__init__("connection %s after %d bytes: %r" % (how, len(got), bytes(got[:300])))
        self.got = bytes(got)
        self.how = how


class Timeout(HttpError):
    def __init__(self, got):
        super().__init__("timed out after %d bytes: %r" % (len(got), bytes(got[:300])))
        self.got = bytes(got)


class Malformed(HttpError):
    pass


class Response:
    def __init__(self, status_line, headers, body, raw_head):
        self.status_line = status_line
        m = re.match(r"(HTTP/\S+) (\d{3})(?: (.*))?$", status_line)
        if not m:
            raise Malformed("bad status line %r" % status_line)
        self.version = m.group(1)
        self.status = int(m.group(2))
        self.reason = m.group(3) or ""
        self.headers = headers
        self.body = body
        self.raw_head = raw_head

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    def has_token(self, name, token):
        for v in self.header_all(name):
            if token.lower() in [x.strip().lower() for x in v.split(",")]:
                return True
        return False

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def short(self):
        return "%s | %s | %r" % (self.status_line,
                                 "; ".join("%s: %s" % kv for kv in self.headers),
                                 self.body[:400])

    def __repr__(self):
        return "<Response %s>" % self.short()


def parse_head(raw):
    text = raw.decode("latin-1")
    lines = text.split("\r\n")
    headers = []
    for ln in lines[1:]:
        if not ln:
            continue
        if ":" not in ln:
            raise Malformed("bad response header line %r" % ln)
        k, v = ln.split(":", 1)
        headers.append((k.strip().lower(), v.strip()))
    return lines[0], headers


class Conn:
    """One client connection (plain or TLS) with a receive buffer."""

    def __init__(self, port, host="127.0.0.1", tls=None, timeout=10.0):
        self.t_connect = time.monotonic()
        s = socket.create_connection((host, port), timeout=timeout * FACTOR)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            s = tls.wrap_socket(s, server_hostname=host)
        self.sock = s
        self.buf = bytearray()
        self.eof = False
        self.how = None
        self.send_error = None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        try:
            self.sock.sendall(data)
            return True
        except OSError as e:
            self.send_error = e
            return False

    def _recv(self, deadline):
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Timeout(self.buf)
        self.sock.settimeout(remaining)
        try:
            d = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            raise Timeout(self.buf) from None
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            d = b""
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError) as e:
            self.eof = True
            self.how = "reset" if isinstance(e, ConnectionResetError) else "error: %s" % e
            return False
        if not d:
            self.eof = True
            self.how = "eof"
            return False
        self.buf += d
        return True

    def read_response(self, head=False, timeout=10.0):
        deadline = time.monotonic() + timeout * FACTOR
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                break
            if not self._recv(deadline):
                raise Closed(self.buf, self.how)
        raw_head = bytes(self.buf[:i])
        del self.buf[:i + 4]
        status_line, headers = parse_head(raw_head)
        r = Response(status_line, headers, b"", raw_head)
        r.close_delimited = False
        if head or r.status < 200 or r.status in (204, 304):
            return r
        te = r.header("transfer-encoding")
        if te is not None and "chunked" in te.lower():
            body = bytearray()
            while True:
                while b"\r\n" not in self.buf:
                    if not self._recv(deadline):
                        raise Closed(self.buf, self.how)
                j = self.buf.find(b"\r\n")
                size = int(self.buf[:j].split(b";")[0], 16)
                del self.buf[:j + 2]
                if size == 0:
                    while b"\r\n" not in self.buf:
                        if not self._recv(deadline):
                            raise Closed(self.buf, self.how)
                    # trailers are not expected; skip up to the blank line
                    while not self.buf.startswith(b"\r\n"):
                        k = self.buf.find(b"\r\n")
                        del self.buf[:k + 2]
                        while b"\r\n" not in self.buf:
                            if not self._recv(deadline):
                                raise Closed(self.buf, self.how)
                    del self.buf[:2]
                    break
                while len(self.buf) < size + 2:
                    if not self._recv(deadline):
                        raise Closed(self.buf, self.how)
                body += self.buf[:size]
                del self.buf[:size + 2]
            r.body = bytes(body)
            return r
        cl = r.header("content-length")
        if cl is not None:
            if not cl.isdigit():
                raise Malformed("bad Content-Length in response: %r" % cl)
            n = int(cl)
            while len(self.buf) < n:
                if not self._recv(deadline):
                    raise Closed(self.buf, self.how)
            r.body = bytes(self.buf[:n])
            del self.buf[:n]
            return r
        # neither: the body runs to the end of the connection
        r.close_delimited = True
        while self._recv(deadline):
            pass
        r.body = bytes(self.buf)
        self.buf.clear()
        return r

    def read_rest(self, timeout=3.0):
        """Reads until the server closes. Returns (bytes, how): how is 'eof',
        'reset' or 'timeout'."""
        deadline = time.monotonic() + timeout * FACTOR
        try:
            while self._recv(deadline):
                pass
        except Timeout:
            data = bytes(self.buf)
            self.buf.clear()
            return data, "timeout"
        data = bytes(self.buf)
        self.buf.clear()
        return data, self.how

    def shutdown_write(self):
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def build(method, path, headers=None, body=None, host="127.0.0.1", close=False,
          version="HTTP/1.1"):
    """A request as bytes. headers: list of (name, value) (or a dict). body:
    bytes/str; a dict/list is sent as JSON with Content-Type. Content-Length
    is added for a body unless given."""
    hdrs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode("utf-8")
        if not any(k.lower() == "content-type" for k, _ in hdrs):
            hdrs.append(("Content-Type", "application/json"))
    if isinstance(body, str):
        body = body.encode("utf-8")
    out = ["%s %s %s\r\n" % (method, path, version)]
    if host is not None:
        out.append("Host: %s\r\n" % host)
    for k, v in hdrs:
        out.append("%s: %s\r\n" % (k, v))
    if body is not None and not any(k.lower() == "content-length" for k, _ in hdrs):
        out.append("Content-Length: %d\r\n" % len(body))
    if close:
        out.append("Connection: close\r\n")
    out.append("\r\n")
    return "".join(out).encode("latin-1") + (body or b"")


def exchange(port, data, tls=None, timeout=10.0, head=False, shut=False):
    """Raw bytes on a fresh connection (with shut, the sending side is then
    closed), and the one response read back."""
    c = Conn(port, tls=tls, timeout=timeout)
    try:
        c.send(data)
        if shut:
            c.sock.shutdown(socket.SHUT_WR)
        return c.read_response(head=head, timeout=timeout)
    finally:
        c.close()


def exchange_safe(port, data, what, tls=None, timeout=10.0, head=False, shut=False):
    """exchange(), but a transport failure (timeout, reset, malformed
    response) comes back as a response with status 0 whose short() tells
    what happened to @what, so that a test reports it and goes on."""
    try:
        return exchange(port, data, tls, timeout, head, shut)
    except (HttpError, OSError) as e:
        err = e
    r = Response("HTTP/0.0 000 no response", [], b"", b"")
    r.error = err
    r.short = lambda: "no complete response to %s: %s" % (what, err)
    return r


def request(port, method, path, headers=None, body=None, tls=None, timeout=10.0,
            close=True):
    """One request on a fresh connection."""
    return exchange(port, build(method, path, headers, body, close=close), tls, timeout,
                    head=(method == "HEAD"))


def request_safe(port, method, path, headers=None, body=None, tls=None, timeout=10.0, close=True):
    """request(), with transport failures as in exchange_safe()."""
    return exchange_safe(port, build(method, path, headers, body, close=close),
                         "%s %s" % (method, path), tls, timeout, head=(method == "HEAD"))


class Client:
    """A keep-alive client that reconnects when the server closed."""

    def __init__(self, port, tls=None, timeout=10.0, headers=None):
        self.port = port
        self.tls = tls
        self.timeout = timeout
        self.headers = list(headers or [])
        self.conn = None

    def request(self, method, path, headers=None, body=None, timeout=None):
        timeout = timeout or self.timeout
        hdrs = self.headers + (list(headers.items()) if isinstance(headers, dict)
                               else list(headers or []))
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = Conn(self.port, tls=self.tls, timeout=timeout)
                fresh = True
            else:
                fresh = False
            self.conn.send(build(method, path, hdrs, body))
            try:
                r = self.conn.read_response(head=(method == "HEAD"), timeout=timeout)
            except Closed as e:
                self.close()
                # A kept-alive connection the server closed meanwhile: retry
                # once on a fresh one, when nothing came back.
                if not fresh and not e.got and attempt == 0:
                    continue
                raise
            if r.has_token("connection", "close"):
                self.close()
            return r
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# ---------------------------------------------------------------- checks


def check_basics(t, r, what):
    """Status line HTTP/1.1 and a valid X-Request-Id on every response."""
    if getattr(r, "error", None) is not None:
        return False     # already reported by the caller's status check
    ok = t.check(r.version == "HTTP/1.1", "%s: status line starts with HTTP/1.1" % what,
                 r.status_line)
    rid = r.header("x-request-id")
    ok &= t.check(rid is not None and REQUEST_ID_RE.fullmatch(rid) is not None,
                  "%s: response has a valid X-Request-Id" % what, r.short())
    if r.version == "HTTP/1.1":
        ok &= t.check(not getattr(r, "close_delimited", False),
                      "%s: the body is delimited by Content-Length, not by closing" % what, r.short())
    return ok


def norm_ct(v):
    return re.sub(r"\s*;\s*", "; ", (v or "").strip()).lower()


def check_error(t, r, statuses, what, code=None):
    """An error response in DESIGN's one shape."""
    if isinstance(statuses, int):
        statuses = {statuses}
    if getattr(r, "error", None) is not None:
        t.fail("%s: want %s" % (what, "/".join(map(str, sorted(statuses)))), r.short())
        return False
    ok = t.check(r.status in statuses, "%s: status %s" % (what, "/".join(map(str, sorted(statuses)))),
                 "got %s" % r.short())
    check_basics(t, r, what)
    if r.status < 400:
        return False
    ok &= t.check(norm_ct(r.header("content-type")) == JSON_CT,
                  "%s: error Content-Type is %s" % (what, JSON_CT), r.short())
    try:
        j = r.json()
        e = j.get("error") if isinstance(j, dict) else None
        good = (isinstance(j, dict) and set(j) == {"error"} and isinstance(e, dict)
                and set(e) == {"status", "code", "message"} and e["status"] == r.status
                and isinstance(e["code"], str) and e["code"] != ""
                and isinstance(e["message"], str))
        ok &= t.check(good, "%s: error body is {\"error\":{\"status\":%d,\"code\",\"message\"}}"
                      % (what, r.status), r.body[:400])
        if good and code is not None:
            ok &= t.check(e["code"] == code, "%s: error code %r" % (what, code), r.body[:400])
    except ValueError:
        ok = t.check(False, "%s: error body is JSON" % what, r.body[:400])
    if r.status in (503, 504):
        ra = r.header("retry-after")
        ok &= t.check(ra is not None and ra.isdigit(), "%s: %d has a valid Retry-After"
                      % (what, r.status), r.short())
    if r.status == 401:
        wa = r.header("www-authenticate") or ""
        ok &= t.check(wa.split(" ")[0].lower() == "bearer",
                      "%s: 401 has WWW-Authenticate: Bearer" % what, r.short())
    if r.status == 405:
        ok &= t.check(bool(r.header("allow")), "%s: 405 has Allow" % what, r.short())
    return ok


def format_time(epoch_us):
    secs, us = divmod(epoch_us, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + ".%06dZ" % us


def check_record(t, rec, what, protocol="http", node=None, tag="any", client_ip="127.0.0.1",
                 request_id=None, near_now=True):
    if not t.check(isinstance(rec, dict) and set(rec) == RECORD_KEYS,
                   "%s: record has exactly the fields %s" % (what, sorted(RECORD_KEYS)),
                   repr(rec)[:400]):
        return False
    ok = t.check(isinstance(rec["id"], int) and rec["id"] > 0, "%s: id is a positive integer" % what, rec)
    ok &= t.check(isinstance(rec["epoch_us"], int) and isinstance(rec["epoch"], int)
                  and rec["epoch"] == rec["epoch_us"] // 1_000_000,
                  "%s: epoch = epoch_us / 10^6" % what, rec)
    if isinstance(rec["epoch_us"], int):
        ok &= t.check(isinstance(rec["time"], str) and TIME_RE.fullmatch(rec["time"])
                      and rec["time"] == format_time(rec["epoch_us"]),
                      "%s: time is epoch_us as RFC 3339 with 6 digits and Z" % what, rec)
        if near_now:
            ok &= t.check(abs(rec["epoch_us"] / 1e6 - time.time()) < 120,
                          "%s: epoch_us is about now" % what, rec)
    ok &= t.check(rec["protocol"] == protocol, "%s: protocol %r" % (what, protocol), rec)
    if client_ip is not None:
        ok &= t.check(rec["client_ip"] == client_ip, "%s: client_ip %r" % (what, client_ip), rec)
    if node is not None:
        ok &= t.check(rec["node"] == node, "%s: node %r" % (what, node), rec)
    if tag != "any":
        ok &= t.check(rec["tag"] == tag, "%s: tag %r" % (what, tag), rec)
    ok &= t.check(isinstance(rec["request_id"], str) and REQUEST_ID_RE.fullmatch(rec["request_id"]),
                  "%s: request_id is valid" % what, rec)
    if request_id is not None:
        ok &= t.check(rec["request_id"] == request_id, "%s: request_id %r" % (what, request_id), rec)
    return ok


def check_created(t, r, what, **kw):
    """201 + Location /epochs/{id} + JSON record. Returns the record or None."""
    if not t.check(r.status == 201, "%s: 201" % what, r.short()):
        return None
    check_basics(t, r, what)
    t.check(norm_ct(r.header("content-type")) == JSON_CT, "%s: Content-Type %s" % (what, JSON_CT),
            r.short())
    try:
        rec = r.json()
    except ValueError:
        t.fail("%s: body is JSON" % what, r.body[:300])
        return None
    if not check_record(t, rec, what, **kw):
        return None
    t.check(r.header("location") == "/epochs/%d" % rec["id"], "%s: Location: /epochs/{id}" % what,
            r.short())
    if kw.get("request_id") is None:
        t.check(rec["request_id"] == r.header("x-request-id"),
                "%s: record's request_id equals the X-Request-Id header" % what, r.short())
    return rec


# ---------------------------------------------------------------- metrics


class Metrics:
    def __init__(self, text):
        self.text = text
        self.samples = []
        self.types = {}
        for ln in text.splitlines():
            if ln.startswith("# TYPE "):
                p = ln.split()
                if len(p) >= 4:
                    self.types[p[2]] = p[3]
                continue
            if not ln.strip() or ln.startswith("#"):
                continue
            m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$", ln)
            if not m:
                self.samples.append(("__malformed__", {"line": ln}, 0.0))
                continue
            labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            try:
                v = float(m.group(3))
            except ValueError:
                self.samples.append(("__malformed__", {"line": ln}, 0.0))
                continue
            self.samples.append((m.group(1), labels, v))

    def malformed(self):
        return [lab["line"] for n, lab, _ in self.samples if n == "__malformed__"]

    def get(self, name, **labels):
        """Sum of the samples of @name whose labels include @labels; None when none."""
        vals = [v for n, lab, v in self.samples
                if n == name and all(lab.get(k) == str(x) for k, x in labels.items())]
        return sum(vals) if vals else None

    def buckets(self, name, **labels):
        """[(le, cumulative count)] of a histogram."""
        out = []
        for n, lab, v in self.samples:
            if n == name + "_bucket" and all(lab.get(k) == str(x) for k, x in labels.items()):
                out.append((float(lab.get("le", "nan")), v))
        return sorted(out)


def metrics(port, tls=None, headers=None):
    r = request(port, "GET", "/metrics", headers=headers, tls=tls)
    if r.status != 200:
        raise Fatal("GET /metrics: %s" % r.short())
    return Metrics(r.body.decode("utf-8", "replace"))


# ---------------------------------------------------------------- listing


def walk(t, port, start="/epochs?order=asc&limit=1000", tls=None, headers=None, what="list walk"):
    """Follows next links from @start. Returns the items (None on error)."""
    c = Client(port, tls=tls, timeout=30, headers=headers)
    items = []
    seen = set()
    path = start
    try:
        while path is not None:
            if path in seen or len(seen) > 100000:
                t.fail("%s: next links loop" % what, path)
                return None
            seen.add(path)
            r = c.request("GET", path)
            if r.status != 200:
                t.fail("%s: GET %s" % (what, path), r.short())
                return None
            j = r.json()
            items += j["items"]
            path = j["next"]
            if path is not None and not (isinstance(path, str) and path.startswith("/")):
                t.fail("%s: next is a path from the root or null" % what, repr(path))
                return None
    finally:
        c.close()
    return items


# ---------------------------------------------------------------- curl


class CurlResult:
    def __init__(self, rc, status, headers, body, stderr):
        self.rc = rc
        self.status = status
        self.headers = headers
        self.body = body
        self.stderr = stderr

    def header(self, name):
        for k, v in self.headers:
            if k == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def short(self):
        return "curl rc %s, %s | %s | %r | %s" % (
            self.rc, self.status, "; ".join("%s: %s" % kv for kv in self.headers),
            self.body[:300], self.stderr.strip()[:300])


_curl_n = [0]


def curl(t, url, *args, timeout=15):
    _curl_n[0] += 1
    hdr = t.path("curl-%d.hdr" % _curl_n[0])
    out = t.path("curl-%d.body" % _curl_n[0])
    cmd = ["curl", "-sS", "--noproxy", "*", "--max-time", "%d" % (timeout * FACTOR),
           "-D", hdr, "-o", out, "-w", "%{http_code}"] + list(args) + [url]
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout * FACTOR + 10,
                           env=clean_env())
    except FileNotFoundError:
        raise Fatal("curl is not installed") from None
    headers, status = [], None
    try:
        with open(hdr, "rb") as f:
            blocks = [b for b in f.read().decode("latin-1").split("\r\n\r\n") if b.strip()]
        if blocks:
            status_line, headers = parse_head(blocks[-1].encode("latin-1"))
            status = int(status_line.split()[1])
    except FileNotFoundError:
        pass
    try:
        with open(out, "rb") as f:
            body = f.read()
    except FileNotFoundError:
        body = b""
    return CurlResult(p.returncode, status, headers, body, p.stderr.decode("utf-8", "replace"))


# ---------------------------------------------------------------- PostgreSQL


def psql(t, conninfo, sql, timeout=60):
    p = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-c", sql],
                       capture_output=True, timeout=timeout, env=clean_env())
    if p.returncode != 0:
        raise Fatal("psql %r failed: %s" % (sql, p.stderr.decode("utf-8", "replace").strip()))
    return p.stdout.decode("utf-8", "replace")


def shared_pg(t):
    """conninfo of the shared "pg" CTest fixture (without dbname)."""
    d = os.environ.get("EPOCHREG_TEST_PG_DIR")
    if not d:
        raise Fatal("EPOCHREG_TEST_PG_DIR is not set (the pg fixture's state dir)")
    try:
        with open(os.path.join(d, "conninfo")) as f:
            return f.read().strip()
    except OSError as e:
        raise Fatal("no PostgreSQL conninfo in %s: %s (did pg.start run?)" % (d, e)) from None


def pg_database(t, base, label):
    """Creates a database of its own in the server of @base; dropped at the end."""
    name = "epochregd_%s_%d" % (re.sub(r"[^a-z0-9_]", "_", label.lower()), os.getpid())
    admin = base + " dbname=postgres"
    psql(t, admin, 'DROP DATABASE IF EXISTS "%s"' % name)
    psql(t, admin, 'CREATE DATABASE "%s"' % name)

    def drop():
        try:
            psql(t, admin, 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
        except Fatal as e:
            print("note: %s" % e)
    t.cleanups.append(drop)
    return base + " dbname=" + name


class PrivatePG:
    """A PostgreSQL of the test's own (tests/fixtures/pg.sh), stopped at the end."""

    def __init__(self, t):
        self.t = t
        self.script = os.environ.get("EPOCHREG_PG_SCRIPT")
        if not self.script or not os.path.isfile(self.script):
            raise Fatal("EPOCHREG_PG_SCRIPT is not set or not a file (tests/fixtures/pg.sh)")
        self.state = t.path("pgstate")
        self.conninfo = None

    def _run(self, cmd, timeout=180):
        t0 = time.monotonic()
        p = subprocess.run(["bash", self.script, cmd, self.state], capture_output=True,
                           timeout=timeout, env=clean_env())
        if p.returncode != 0:
            raise Fatal("pg.sh %s failed (%d): %s%s" % (cmd, p.returncode,
                                                       p.stdout.decode(errors="replace"),
                                                       p.stderr.decode(errors="replace")))
        return time.monotonic() - t0

    def start(self):
        self.t.cleanups.append(self._stop_quietly)
        self._run("start")
        with open(os.path.join(self.state, "conninfo")) as f:
            self.conninfo = f.read().strip()
        return self.conninfo

    def halt(self):
        return self._run("halt")

    def restart(self):
        return self._run("restart")

    def _stop_quietly(self):
        if os.path.exists(os.path.join(self.state, "datadir")):
            subprocess.run(["bash", self.script, "stop", self.state], capture_output=True,
                           timeout=180, env=clean_env())


# ---------------------------------------------------------------- load


class Op:
    __slots__ = ("key", "thread", "t_start", "t_sent", "t_end", "status", "outcome",
                 "rec_id", "error", "retry_after", "body", "connected_before")

    def __init__(self, key, thread):
        self.key = key
        self.thread = thread
        self.t_start = time.monotonic()
        self.t_sent = None
        self.t_end = None
        self.status = None
        self.outcome = None   # ok / fail / info / notsent
        self.rec_id = None
        self.error = None
        self.retry_after = None
        self.body = None
        self.connected_before = False


class Load:
    """N threads POSTing {"tag": key} with Idempotency-Key: key over keep-alive
    connections. Outcomes: ok (201/200), fail (definite 4xx), info
    (indeterminate: 5xx, timeout, connection lost after sending), notsent
    (could not connect or send: the request never started)."""

    def __init__(self, t, port, threads, prefix, tls=None, path="/epochs", per_thread=None,
                 timeout=30.0, pause=0.0, headers=None, pause_on_error=0.0):
        self.t = t
        self.port = port
        self.tls = tls
        self.nthreads = threads
        self.prefix = prefix
        self.path = path
        self.per_thread = per_thread
        self.timeout = timeout
        self.pause = pause
        self.pause_on_error = pause_on_error
        self.headers = list(headers or [])
        self.stop_event = threading.Event()
        self.ops = []
        self.lock = threading.Lock()
        self.threads = []
        self.exceptions = []

    def start(self):
        for i in range(self.nthreads):
            th = threading.Thread(target=self._worker, args=(i,), daemon=True)
            th.start()
            self.threads.append(th)
        return self

    def stop(self, join_timeout=60):
        self.stop_event.set()
        self.join(join_timeout)

    def join(self, timeout=60):
        deadline = time.monotonic() + timeout * FACTOR
        for th in self.threads:
            th.join(max(0.1, deadline - time.monotonic()))
        alive = [th for th in self.threads if th.is_alive()]
        if alive:
            self.t.fail("load %s: %d client threads did not finish" % (self.prefix, len(alive)))

    def _worker(self, tid):
        try:
            self._loop(tid)
        except Exception:  # noqa: BLE001
            with self.lock:
                self.exceptions.append(traceback.format_exc())
            self.t.fail("load thread %d crashed" % tid, traceback.format_exc())

    def _loop(self, tid):
        conn = None
        i = 0
        while not self.stop_event.is_set():
            if self.per_thread is not None and i >= self.per_thread:
                break
            key = "%s-%d-%d" % (self.prefix, tid, i)
            op = Op(key, tid)
            if conn is None:
                try:
                    conn = Conn(self.port, tls=self.tls, timeout=self.timeout)
                except (OSError, ssl.SSLError) as e:
                    op.outcome = "notsent"
                    op.error = "connect: %r" % e
                    op.t_end = time.monotonic()
                    with self.lock:
                        self.ops.append(op)
                    time.sleep(0.05)
                    continue
            else:
                op.connected_before = True
            i += 1
            with self.lock:
                self.ops.append(op)
            op.t_start = time.monotonic()
            data = build("POST", self.path,
                         self.headers + [("Idempotency-Key", key), ("Content-Type", "application/json")],
                         json.dumps({"tag": key}).encode())
            if not conn.send(data):
                op.t_end = time.monotonic()
                op.outcome = "info"
                op.error = "send: %r" % conn.send_error
                conn.close()
                conn = None
                continue
            op.t_sent = time.monotonic()
            try:
                r = conn.read_response(timeout=self.timeout)
            except (HttpError, OSError) as e:
                op.t_end = time.monotonic()
                op.outcome = "info"
                op.error = repr(e)[:300]
                if isinstance(e, Closed) and not e.got:
                    op.error = "closed without a response (%s)" % e.how
                conn.close()
                conn = None
                if self.pause_on_error:
                    time.sleep(self.pause_on_error)
                continue
            op.t_end = time.monotonic()
            op.status = r.status
            op.retry_after = r.header("retry-after")
            if r.status in (200, 201):
                op.outcome = "ok"
                try:
                    rec = r.json()
                    op.rec_id = rec["id"]
                    if rec.get("tag") != key:
                        self.t.fail("load: record of key %s has tag %r" % (key, rec.get("tag")))
                except (ValueError, KeyError, TypeError):
                    op.outcome = "info"
                    op.error = "unparsable %d body %r" % (r.status, r.body[:200])
            elif 400 <= r.status < 500:
                op.outcome = "fail"
                op.body = r.body[:300]
            else:
                op.outcome = "info"
                op.body = r.body[:300]
            if r.has_token("connection", "close"):
                conn.close()
                conn = None
            if self.pause:
                time.sleep(self.pause)
            if self.pause_on_error and op.outcome != "ok":
                time.sleep(self.pause_on_error)
        if conn is not None:
            conn.close()

    def summary(self):
        c = collections.Counter(op.outcome for op in self.ops)
        s = collections.Counter(op.status for op in self.ops if op.status is not None)
        return "ops %d: %s; statuses %s" % (len(self.ops), dict(c), dict(sorted(s.items())))


def durability_check(t, ops, items, prefix, what):
    """Jepsen-style set check on the records whose tag starts with @prefix.
    Returns (acked keys, indeterminate keys, records by tag)."""
    by_tag = collections.defaultdict(list)
    for rec in items:
        if isinstance(rec.get("tag"), str) and rec["tag"].startswith(prefix + "-"):
            by_tag[rec["tag"]].append(rec)
    acked = {op.key: op for op in ops if op.outcome == "ok"}
    info = {op.key for op in ops if op.outcome == "info"}
    failed = {op.key for op in ops if op.outcome == "fail"}
    lost = sorted(k for k in acked if k not in by_tag)
    wrong = sorted(k for k in acked if k in by_tag and acked[k].rec_id not in [r["id"] for r in by_tag[k]])
    dup = sorted(k for k, v in by_tag.items() if len(v) > 1)
    ids = [r["id"] for r in items]
    reused = len(ids) - len(set(ids))
    unexpected = sorted(k for k in by_tag if k not in acked)
    stray = sorted(k for k in unexpected if k not in info)
    t.info("%s: acked %d, indeterminate %d (of which stored %d), failed %d, records %d"
           % (what, len(acked), len(info), len([k for k in unexpected if k in info]), len(failed),
              sum(len(v) for v in by_tag.values())))
    t.check(not lost, "%s: lost = 0 (every acknowledged record is stored)" % what,
            "%d lost, e.g. %s" % (len(lost), lost[:10]))
    t.check(not wrong, "%s: every acknowledged id is the stored id of its key" % what, wrong[:10])
    t.check(not dup, "%s: duplicated = 0" % what, "%d keys stored twice, e.g. %s" % (len(dup), dup[:10]))
    t.check(reused == 0, "%s: no id appears twice in the list" % what, reused)
    t.check(not stray, "%s: unexpected records only among indeterminate requests" % what,
            "%d stored keys that were neither acknowledged nor indeterminate: %s"
            % (len(stray), stray[:10]))
    t.check(not (set(by_tag) & failed), "%s: no record for a definite 4xx failure" % what,
            sorted(set(by_tag) & failed)[:10])
    return acked, info, by_tag


def replay(t, port, keys, what, tls=None):
    """Re-sends every key; each must answer 201 (had not committed) or 200
    (had). Returns {key: status}."""
    out = {}
    c = Client(port, tls=tls, timeout=30)
    try:
        for k in sorted(keys):
            r = c.request("POST", "/epochs", [("Idempotency-Key", k)], {"tag": k})
            out[k] = r.status
            t.check(r.status in (200, 201), "%s: replay of key %s answers 200 or 201" % (what, k),
                    r.short())
    finally:
        c.close()
    return out


def wait_until(pred, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            return v
        time.sleep(step)


def readable(sock, timeout=0.0):
    r, _, _ = select.select([sock], [], [], timeout)
    return bool(r)


def gen_cert(t, name):
    """A self-signed certificate for 127.0.0.1 and its key, in the test's
    directory: (cert path, key path)."""
    cert, key = t.path(name + ".crt"), t.path(name + ".key")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        t.fatal("openssl req failed: %s" % p.stderr.decode(errors="replace"))
    return cert, key


def trap_listener():
    """A listening socket that only counts connections: where a test points
    something that must never be contacted (the *_PROXY variables, C13).
    Returns (port, seen, stop): seen grows by one per connection; set stop
    to end it."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    s.settimeout(0.2)
    seen = []
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            try:
                c, _ = s.accept()
                seen.append(1)
                c.close()
            except socket.timeout:
                continue
            except OSError:
                return
        s.close()

    threading.Thread(target=loop, daemon=True).start()
    return s.getsockname()[1], seen, stop


def mask_record_times(text):
    """Record JSON with its times masked (<EPOCH>, <EPOCH_US>, <TIME>): what
    differs between two runs of the same requests."""
    text = re.sub(r'"epoch":\d+', '"epoch":<EPOCH>', text)
    text = re.sub(r'"epoch_us":\d+', '"epoch_us":<EPOCH_US>', text)
    return re.sub(r'"time":"[0-9T:.-]+Z"', '"time":"<TIME>"', text)
