"""A plugin whose import calls sys.exit: it must not end the process that discovers plugins."""

import sys

sys.exit(3)
