#!/usr/bin/env python3
"""The on-call daemon: `python runner.py [--db PATH] [--bind HOST:PORT] [--once] [--log-level L]`.

Everything lives in `oncall_opt.daemon.main`; see its module docstring.
"""

from oncall_opt.daemon import run

if __name__ == "__main__":
    run()
