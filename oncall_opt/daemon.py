"""The daemon: the HTTP API and the periodic jobs, in one process that owns the database.

It wires the parts: settings -> store -> job loop (`engine.jobs.loop.JobLoop`) -> API
(`api.create_app`). `main(argv)` is `runner.py`: settings from the environment (`ONCALL_*`) and
the secrets file, overridden by flags; `--once` runs each job once and exits, otherwise the API
is served with uvicorn and the job loop lives with the app (see `api.app.create_app`). SIGTERM
and SIGINT stop both cleanly and exit 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from typing import NoReturn

from oncall_opt import times
from oncall_opt.engine.clock import SystemClock
from oncall_opt.engine.jobs.loop import JobLoop, jobs_running, make_sender
from oncall_opt.engine.settings import ConfigError, Settings, load_settings
from oncall_opt.engine.slack import SlackWebhook
from oncall_opt.engine.solvejobs import solver_threads_alive
from oncall_opt.engine.store import DatabaseLockedError, Store, redact_url
from oncall_opt.errors import OncallOptError

log = logging.getLogger(__name__)


# ----- runner.py ------------------------------------------------------------------------
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runner.py",
        description="The on-call daemon: HTTP API, auto-assign, escalation, reminders and Slack "
        "delivery, on one DuckDB database. Settings come from ONCALL_* variables and the "
        "secrets file (ONCALL_SECRETS_FILE, default data/secrets.env); flags win.",
    )
    parser.add_argument("--db", metavar="PATH", help="database file (ONCALL_DB)")
    parser.add_argument("--bind", metavar="HOST:PORT", help="API address (ONCALL_BIND)")
    parser.add_argument("--once", action="store_true", help="run each job once and exit")
    parser.add_argument(
        "--tls-cert", metavar="PEM", help="serve HTTPS with this certificate (ONCALL_TLS_CERT)"
    )
    parser.add_argument(
        "--tls-key", metavar="PEM", help="... and this private key (ONCALL_TLS_KEY)"
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="listen on a non-loopback address without an API token (anyone who reaches the "
        "port can read and change everything)",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default=None,
        help="DEBUG, INFO (default), WARNING or ERROR (ONCALL_LOG_LEVEL)",
    )
    return parser


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    # httpx logs every request with its URL at INFO: the webhook URL is masked by slack.py's
    # filter anyway, and one line per Slack post is noise.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    level = args.log_level or os.environ.get("ONCALL_LOG_LEVEL", "INFO").upper()
    if level not in LOG_LEVELS:
        return _fail(f"ONCALL_LOG_LEVEL: expected one of {', '.join(LOG_LEVELS)}")
    _setup_logging(level)
    environ = dict(os.environ)
    if args.db:
        environ["ONCALL_DB"] = args.db
    if args.bind:
        environ["ONCALL_BIND"] = args.bind
    if args.tls_cert:
        environ["ONCALL_TLS_CERT"] = args.tls_cert
    if args.tls_key:
        environ["ONCALL_TLS_KEY"] = args.tls_key
    try:
        settings = load_settings(environ)
        sender = make_sender(settings)
    except ConfigError as exc:
        return _fail(str(exc))
    if not args.once and not args.insecure and (problem := open_to_the_network(settings)):
        return _fail(problem)
    if not args.once and (problem := tls_problem(settings)):
        return _fail(problem)
    where = redact_url(str(settings.db_path))  # a URL's password never reaches the log
    try:
        store = Store(settings.db_path, api_url=settings.api_url)
    except (DatabaseLockedError, OncallOptError) as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot open the database {where}: {exc}")
    log.info(
        "database %s; Slack delivery %s",
        where,
        "on" if sender is not None else "off (no ONCALL_SLACK_WEBHOOK_URL)",
    )
    try:
        if args.once:
            return _once(store, settings, sender)
        if sender is not None:
            sender.close()  # the app's job loop makes its own
        return _serve(store, settings, level)
    finally:
        if not jobs_running():
            store.close()


def open_to_the_network(settings: Settings) -> str | None:
    """Why serving on `settings`' address would be unsafe: listening beyond this machine with
    no API token lets anyone who reaches the port read and change everything."""
    if times.is_loopback(settings.host) or settings.api_token is not None:
        return None
    return (
        f"refusing to listen on {settings.host}:{settings.port} without an API token: anyone "
        "who reaches that port could read and change everything. Set ONCALL_API_TOKEN (in the "
        "environment or the secrets file), listen on 127.0.0.1, or pass --insecure."
    )


def tls_problem(settings: Settings) -> str | None:
    """What is wrong with the TLS settings (both files or neither, readable), or None."""
    cert, key = settings.tls_cert, settings.tls_key
    if not cert and not key:
        return None
    if not (cert and key):
        return "ONCALL_TLS_CERT and ONCALL_TLS_KEY go together: give both (or neither)"
    for name, path in (("ONCALL_TLS_CERT", cert), ("ONCALL_TLS_KEY", key)):
        if not os.path.isfile(path) or not os.access(path, os.R_OK):
            return f"{name}: no readable file at {path}"
    import ssl

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (ssl.SSLError, ValueError) as exc:
        why = exc.reason if isinstance(exc, ssl.SSLError) else exc
        return f"ONCALL_TLS_CERT/ONCALL_TLS_KEY: not a certificate and its key ({why})"
    return None


def run() -> NoReturn:
    """`runner.py`: `main()`, then exit with its code. When a cancelled solve has still not let
    go of HiGHS (a phase that checks for interrupts only now and then), the process ends with
    `os._exit` after flushing the logs: exiting normally while HiGHS runs in a thread would
    abort it (SIGABRT) in the C++ runtime's teardown; nothing of the solve needs saving."""
    code = main()
    if solver_threads_alive():
        log.info("leaving a cancelled solve to the operating system")
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _once(store: Store, settings: Settings, sender: SlackWebhook | None) -> int:
    loop = JobLoop(store, settings, SystemClock(), sender=sender)
    results = loop.run_once()
    if sender is not None:
        sender.close()
    log.info("ran each job once: %s", results)
    return 1 if any(result is None for result in results.values()) else 0


def _serve(store: Store, settings: Settings, level: str) -> int:
    import uvicorn

    from oncall_opt.api import create_app

    app = create_app(store, settings, SystemClock())
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        workers=1,
        lifespan="on",
        log_config=None,  # our logging set-up, one format for every line
        log_level=level.lower(),
        timeout_graceful_shutdown=1,
        ssl_certfile=settings.tls_cert,
        ssl_keyfile=settings.tls_key,
    )
    server = uvicorn.Server(config)
    received: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        # uvicorn handles SIGTERM/SIGINT while it serves, then raises the signal again once it
        # has shut down (lifespan included, which stops the job loop): it ends up here, so the
        # process exits 0 after a clean stop instead of dying of the signal.
        received.append(signum)
        server.should_exit = True

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        log.info("API on %s", settings.api_url)
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not server.started:
        return _fail(f"the API could not start on {settings.host}:{settings.port} (see above)")
    if received:
        log.info("stopped by %s", signal.Signals(received[0]).name)
    return 0
