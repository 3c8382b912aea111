"""A plugin whose import never returns: the import is stopped after the time limit."""

import time

while True:
    time.sleep(0.2)
