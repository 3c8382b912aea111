"""Healthcheck: exit 0 when URL answers 2xx. ``http-ok.py URL [ENVVAR]``: ENVVAR holds the
credentials, ``user:password`` (basic auth) or, for a name ending in TOKEN, a Jupyter token."""

import base64
import os
import sys
import urllib.request

url = sys.argv[1]
request = urllib.request.Request(url)
if len(sys.argv) > 2:
    secret = os.environ.get(sys.argv[2], "")
    if sys.argv[2].endswith("TOKEN"):
        request.add_header("Authorization", f"token {secret}")
    else:
        request.add_header("Authorization", "Basic " + base64.b64encode(secret.encode()).decode())
try:
    with urllib.request.urlopen(request, timeout=5) as response:
        sys.exit(0 if 200 <= response.status < 300 else 1)
except Exception as exc:
    print(f"{url}: {exc}", file=sys.stderr)
    sys.exit(1)
