"""daemon.routes_sqlite: every route and error of the HTTP API (curl + raw
sockets) against a SQLite store. See routes_common.py."""
import sys
import os

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import routes_common  # noqa: E402

if __name__ == "__main__":
    harness.Test("daemon.routes_sqlite").run(lambda t: routes_common.main(t, "sqlite"))
