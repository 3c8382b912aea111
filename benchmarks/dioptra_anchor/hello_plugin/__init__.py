"""Dioptra-style copy of tests/fixtures/plugins/hello_plugin (benchmarks/dioptra_anchor.py)."""
