"""A plugin whose import raises: its tasks are unavailable, and the error says why."""

raise RuntimeError("boom at import time")
