import sys

from oncall_opt.roster.cli import main

sys.exit(main())
