#!/usr/bin/env python3
"""The on-call daemon: `python runner.py [--db PATH] [--bind HOST:PORT] [--once] [--log-level L]`.

Everything lives in `oncall_opt.daemon.main`; see its module docstring.
"""

import sys

from oncall_opt.daemon import main

if __name__ == "__main__":
    sys.exit(main())
