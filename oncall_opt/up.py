"""One command for the whole system: `python -m oncall_opt.up`.

Starts the daemon (`runner.py`: the API, the jobs, the DuckDB file, by default
`data/oncall.duckdb`) and the Streamlit console (`app_streamlit.py`, headless, no usage
statistics) as child processes, seeds a demo team on first run (when the database has no users:
the team of `data/input.json` with their days, the roster of `output.json` published, their
earlier rotation and four weeks of incidents, see `oncall_opt.demo`), prints
the addresses, and keeps both running: when one exits or dies on its own, it says so and starts
it again after 1 s, then 2, 4, ... at most 30 s (from 1 s again once it stayed up a minute); the
other one keeps running (the console shows that the daemon is down meanwhile). On Ctrl-C or
SIGTERM it stops both cleanly (console first, then the daemon) and exits 0.

    python -m oncall_opt.up [--db PATH] [--api HOST:PORT] [--port N] [--address HOST]
                            [--no-seed] [--roster PATH] [--insecure] [--verbose]
                            [--restart-delay SECONDS] [--restart-max SECONDS]
                            [--tls-cert PEM --tls-key PEM [--tls-ca PEM]]

With a certificate and key the daemon serves HTTPS, and the console and `up` talk to it over
HTTPS (`--tls-ca`: the CA that signed a certificate the system does not trust already).

Environment: ONCALL_DB and ONCALL_BIND as for `runner.py` (flags win); every other ONCALL_*
setting (Slack webhook, API token, ...) reaches the daemon as it is. With an API token the
console asks everyone to sign in, and a one-time sign-in link for the first admin is printed.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from oncall_opt import secretsfile, times
from oncall_opt.client import FIRST_ADMIN, ApiError, Client, trust

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app_streamlit.py"  # in a checkout; else the packaged copy of its wiring
PACKAGED_APP = Path(__file__).resolve().parent / "streamlit_app.py"
RUNNER = ROOT / "runner.py"
DEFAULT_API = "127.0.0.1:8080"
DEFAULT_PORT = 8501


# ----- processes ---------------------------------------------------------------------------------
def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def daemon_command(
    db: str, bind: str, verbose: bool, insecure: bool = False, tls: tuple[str, str] | None = None
) -> list[str]:
    flags = ["--db", db, "--bind", bind, "--log-level", "INFO" if verbose else "WARNING"]
    if insecure:
        flags.append("--insecure")
    if tls is not None:
        flags += ["--tls-cert", tls[0], "--tls-key", tls[1]]
    if RUNNER.is_file():
        return [sys.executable, str(RUNNER), *flags]
    code = "from oncall_opt.daemon import run; run()"
    return [sys.executable, "-c", code, *flags]


def app_command(address: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(APP if APP.is_file() else PACKAGED_APP),
        "--server.address", address,
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--client.showErrorDetails", "none",
        "--client.toolbarMode", "minimal",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip


def wait_until(
    check: Callable[[], bool],
    proc: subprocess.Popen,
    timeout: float,
    stopping: threading.Event | None = None,
) -> bool:
    """Poll `check` until it is true, `proc` exits, `stopping` is set or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None or (stopping is not None and stopping.is_set()):
            return False
        try:
            if check():
                return True
        except (httpx.HTTPError, OSError, ApiError):
            pass
        time.sleep(0.2)
    return False


def stop(proc: subprocess.Popen | None, name: str, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        print(f"{name} did not stop within {timeout:g} s; killing it", file=sys.stderr)
        proc.kill()
        proc.wait()


# ----- keeping the children running -------------------------------------------------------------
@dataclass(frozen=True)
class Backoff:
    """How long to wait before starting again a child that exited on its own: `first` seconds,
    doubled after each exit in a row, at most `cap`; a child that stayed up `reset_after`
    seconds starts from `first` again."""

    first: float = 1.0
    cap: float = 30.0
    reset_after: float = 60.0

    def delay(self, exits: int) -> float:
        """The wait after the `exits`-th exit in a row (1, 2, ...)."""
        return min(self.cap, self.first * 2 ** min(max(exits - 1, 0), 62))


def how_it_ended(code: int) -> str:
    """`exited (code 0)`, or `exited (killed by SIGKILL)` for a signal (Popen's negative code)."""
    if code >= 0:
        return f"exited (code {code})"
    try:
        return f"exited (killed by {signal.Signals(-code).name})"
    except ValueError:
        return f"exited (killed by signal {-code})"


class Supervised:
    """A child process kept running. `tend()`, called every half second or so, notices that the
    child exited, says so, starts it again once its back-off has passed, and says when it
    answers (`ready`) again. `up` stops the child itself (`stop`); that is never tended."""

    def __init__(
        self,
        name: str,
        start: Callable[[], subprocess.Popen],
        backoff: Backoff,
        ready: Callable[[], bool] | None = None,
        say: Callable[[str], object] = print,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.name = name
        self._start, self._ready, self._say, self._clock = start, ready, say, clock
        self.backoff = backoff
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.exits = 0  # in a row: without staying up backoff.reset_after in between
        self.restart_at: float | None = None
        self.restarts = 0
        self._awaiting_ready = False

    def launch(self) -> subprocess.Popen:
        self.proc = self._start()
        self.started_at = self._clock()
        return self.proc

    def tend(self) -> None:
        assert self.proc is not None, "launch() first"
        now = self._clock()
        if self.restart_at is not None:  # down, waiting out the back-off
            if now >= self.restart_at:
                self.restart_at = None
                self.restarts += 1
                self.launch()
                self._say(f"starting {self.name} again (pid {self.proc.pid})")
                self._awaiting_ready = self._ready is not None
            return
        code = self.proc.poll()
        if code is None:
            if self._awaiting_ready and self._is_ready():
                self._awaiting_ready = False
                self._say(f"{self.name} is running again")
            return
        self._awaiting_ready = False
        if now - self.started_at >= self.backoff.reset_after:
            self.exits = 0
        self.exits += 1
        wait = self.backoff.delay(self.exits)
        self.restart_at = now + wait
        self._say(f"{self.name} {how_it_ended(code)}; restarting it in {wait:g} s")

    def _is_ready(self) -> bool:
        assert self._ready is not None
        try:
            return self._ready()
        except (httpx.HTTPError, OSError, ApiError):
            return False


def _answers(url: str, verify: ssl.SSLContext | bool = True) -> Callable[[], bool]:
    return lambda: httpx.get(url, timeout=0.5, verify=verify).is_success


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m oncall_opt.up",
        description="Start the on-call daemon and the Streamlit console together; Ctrl-C stops "
        "both. The first run seeds a demo team.",
    )
    parser.add_argument(
        "--db",
        default=os.environ.get("ONCALL_DB") or "data/oncall.duckdb",
        help="DuckDB file (default: ONCALL_DB or data/oncall.duckdb)",
    )
    parser.add_argument(
        "--api",
        default=os.environ.get("ONCALL_BIND") or DEFAULT_API,
        metavar="HOST:PORT",
        help=f"the daemon's address (default: ONCALL_BIND or {DEFAULT_API})",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="the console's port")
    parser.add_argument(
        "--address", default="127.0.0.1", help="the console's address (0.0.0.0: all)"
    )
    parser.add_argument("--no-seed", action="store_true", help="do not seed a demo team")
    parser.add_argument(
        "--roster",
        default="output.json",
        metavar="PATH",
        help="the bundled team's roster that the first run publishes (default: output.json, "
        "what the quick start's first command writes; solved again when it is missing)",
    )
    parser.add_argument(
        "--no-auth",
        action="store_true",
        help="no sign-in: a single-user trial on this machine (anyone who reaches the console "
        "acts as anyone; every page says so). Default: the first start makes an API token, "
        "keeps it in the secrets file beside the database, and prints a sign-in link",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback address for the console or the daemon without an API token "
        "(then nobody signs in: anyone who reaches them can act as the team)",
    )
    parser.add_argument("--verbose", action="store_true", help="the daemon logs at INFO")
    parser.add_argument(
        "--tls-cert",
        default=os.environ.get("ONCALL_TLS_CERT"),
        metavar="PEM",
        help="the daemon serves HTTPS with this certificate (default: ONCALL_TLS_CERT)",
    )
    parser.add_argument(
        "--tls-key",
        default=os.environ.get("ONCALL_TLS_KEY"),
        metavar="PEM",
        help="... and this private key (default: ONCALL_TLS_KEY)",
    )
    parser.add_argument(
        "--tls-ca",
        default=os.environ.get("ONCALL_API_CA"),
        metavar="PEM",
        help="the CA that signed the certificate, when the system does not trust it already "
        "(default: ONCALL_API_CA)",
    )
    parser.add_argument(
        "--restart-delay",
        type=float,
        default=Backoff.first,
        metavar="SECONDS",
        help="when the daemon or the console exits on its own, start it again after this long, "
        "doubled each time it exits again (default: %(default)g)",
    )
    parser.add_argument(
        "--restart-max",
        type=float,
        default=Backoff.cap,
        metavar="SECONDS",
        help="the longest wait before starting it again (default: %(default)g)",
    )
    return parser


class SecretsFileError(Exception):
    """The secrets file is not one to put a token in (a link, someone else's file)."""


def make_token(path: Path) -> str:
    """A new API token, added to the secrets file at `path`, which is made readable by its
    owner only (also when it existed already). A symbolic link or a file someone else owns is
    refused: the token is an admin's credential."""
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise SecretsFileError(f"cannot write {path} ({exc.strerror}; a symbolic link?)") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
        os.close(fd)
        raise SecretsFileError(f"{path} is not a regular file of yours: not writing a token there")
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as file:
        file.write(f"# made by python -m oncall_opt.up: the API token (a secret)\n"
                   f"ONCALL_API_TOKEN={token}\n")  # fmt: skip
    return token


def seed_if_new(db: str, roster: Path) -> bool:
    """On a database with nobody in it, seed the demo (`oncall_opt.demo`) before the daemon
    opens it: history keeps its own times there. Returns whether it did."""
    from oncall_opt import demo
    from oncall_opt.engine.store import Store

    store = Store(db)
    try:
        if store.row("SELECT id FROM users LIMIT 1") is not None:
            return False
        print("first run: seeding the bundled team (data/input.json)", flush=True)
        demo.seed(store, output_path=roster, say=lambda line: print(f"  {line}", flush=True))
        return True
    finally:
        store.close()


def first_admin_link(api: Client, console_url: str) -> str:
    """A one-time sign-in link for the first admin, or how to make one when there is none."""
    admins = [u for u in api.list_users() if u["Role"] == "admin"]
    if not admins:
        return (
            'nobody is an admin yet: make someone one (PUT /users/{id} {"Role": "admin"} '
            "with the API token), then run `oncall-opt login-link <their Slack handle>`"
        )
    link = api.login_link(admins[0]["Id"])
    return f"{console_url}/?login={link['Code']}  (@{admins[0]['SlackHandle']}, once, 15 min)"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not 0 < args.restart_delay <= args.restart_max:
        print("error: expected 0 < --restart-delay <= --restart-max", file=sys.stderr)
        return 2
    backoff = Backoff(args.restart_delay, args.restart_max)
    try:
        api_host, api_port = times.parse_host_port(args.api)
    except ValueError:
        print(f"error: --api: expected HOST:PORT, got {args.api!r}", file=sys.stderr)
        return 2
    if bool(args.tls_cert) != bool(args.tls_key):
        print("error: --tls-cert and --tls-key go together (HTTPS needs both)", file=sys.stderr)
        return 2
    tls = (args.tls_cert, args.tls_key) if args.tls_cert else None
    try:
        verify = trust(args.tls_ca)
    except (OSError, ssl.SSLError) as exc:
        print(f"error: --tls-ca: cannot read a CA certificate from {args.tls_ca} "
              f"({type(exc).__name__})", file=sys.stderr)  # fmt: skip
        return 2
    # The daemon's secrets file: the one named, else data/secrets.env where there is one (the
    # daemon's own default), else one beside the database.
    named = os.environ.get("ONCALL_SECRETS_FILE")
    default = secretsfile.DEFAULT_SECRETS
    secrets_file = Path(named) if named else (
        default if default.is_file() else Path(args.db).expanduser().parent / "secrets.env"
    )  # fmt: skip
    token = secretsfile.api_token({**os.environ, "ONCALL_SECRETS_FILE": str(secrets_file)})
    if args.no_auth and token is not None:
        print(
            "error: --no-auth, but there is an API token (ONCALL_API_TOKEN, or in "
            f"{secrets_file}): leave out --no-auth to sign in, or remove the token",
            file=sys.stderr,
        )
        return 2
    if not args.insecure and not times.is_loopback(args.address) and args.no_auth:
        print(
            f"error: refusing to serve the console on {args.address} without sign-in "
            "(--no-auth): anyone who reaches it could act as the team. Leave out --no-auth "
            "(everyone then signs in), use 127.0.0.1, or pass --insecure.",
            file=sys.stderr,
        )
        return 2
    for host, port, what in ((api_host, api_port, "--api"), (args.address, args.port, "--port")):
        if not port_free(host, port):
            print(
                f"error: {host}:{port} is already in use (is the system already running?). "
                f"Stop what holds it, or choose another with {what}.",
                file=sys.stderr,
            )
            return 1
    Path(args.db).expanduser().parent.mkdir(parents=True, exist_ok=True)
    made_token = False
    if token is None and not args.no_auth:
        try:
            token, made_token = make_token(secrets_file), True
        except SecretsFileError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    api_url = times.url_of(api_host, api_port)
    if tls is not None:
        api_url = "https://" + api_url.removeprefix("http://")
    app_url = times.url_of(args.address, args.port)
    env = {**os.environ, "ONCALL_API_URL": api_url, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    if args.tls_ca:
        env["ONCALL_API_CA"] = str(Path(args.tls_ca).resolve())
    if secrets_file.is_file():
        env["ONCALL_SECRETS_FILE"] = str(secrets_file.resolve())
    if made_token:
        print(f"first start: made the API token, kept in {secrets_file} (the daemon, the "
              "console and the CLI read it there); everyone signs in", flush=True)  # fmt: skip

    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    def say(line: str) -> None:
        print(line, flush=True)

    # Own sessions: Ctrl-C reaches this process only, which stops the children in order.
    daemon = Supervised(
        "the daemon",
        lambda: subprocess.Popen(
            daemon_command(args.db, args.api, args.verbose, args.insecure, tls),
            env=env,
            start_new_session=True,
        ),
        backoff,
        ready=_answers(f"{api_url}/healthz", verify),
        say=say,
    )
    app = Supervised(
        "the console",
        lambda: subprocess.Popen(
            app_command(args.address, args.port), env=env, start_new_session=True
        ),
        backoff,
        ready=_answers(f"{app_url}/_stcore/health"),
        say=say,
    )
    first_run = False
    if not args.no_seed:
        try:
            first_run = seed_if_new(args.db, Path(args.roster))
        except Exception as exc:  # a locked database, a roster that cannot be read, ...
            print(f"error: cannot seed the demo in {args.db}: {exc}", file=sys.stderr)
            return 1
    try:
        daemon_proc = daemon.launch()
        if args.verbose:
            say(f"the daemon: pid {daemon_proc.pid}")
        sign_in = None
        with Client(api_url, token=token, verify=verify) as api:
            if not wait_until(lambda: api.list_users() is not None, daemon_proc, 30, stopping):
                if stopping.is_set():
                    return 0
                print(f"error: the daemon did not start on {args.api} (see above)", file=sys.stderr)
                return 1
            # Nobody yet (--no-seed on a new database): the link makes the first admin.
            if token is not None and not api.list_users() and not stopping.is_set():
                first_run = True
                api.create_user(*FIRST_ADMIN.values(), role="admin")
            # Once, on the first run (a new token or a new database): logs are read by many.
            if (made_token or first_run) and not stopping.is_set():
                sign_in = first_admin_link(api, times.url_of(args.address, args.port))
            elif token is not None:
                sign_in = "oncall-opt login-link <your Slack handle> (a one-time link)"
        if stopping.is_set():
            return 0
        app_proc = app.launch()
        if args.verbose:
            say(f"the console: pid {app_proc.pid}")
        health = f"{app_url}/_stcore/health"
        if not wait_until(lambda: httpx.get(health, timeout=2).is_success, app_proc, 60, stopping):
            if stopping.is_set():
                return 0
            print("error: the console did not start (see above)", file=sys.stderr)
            return 1
        print(
            f"\n  On-call console  {app_url}\n"
            f"  Daemon API       {api_url}   (OpenAPI docs: {api_url}/docs)\n"
            f"  Database         {args.db}\n"
            + (f"  Sign in          {sign_in}\n" if sign_in else "")
            + "\n  Ctrl-C stops both.\n",
            flush=True,
        )
        # From here on, either one exiting on its own is started again; the other keeps running.
        while not stopping.wait(0.5):
            daemon.tend()
            app.tend()
        print("stopping the console and the daemon...", flush=True)
        return 0
    finally:
        stop(app.proc, "the console")
        stop(daemon.proc, "the daemon")
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
