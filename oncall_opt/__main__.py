import sys

from oncall_opt.cli import main

sys.exit(main())
