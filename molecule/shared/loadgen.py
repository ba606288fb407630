#!/usr/bin/env python3
"""Load generator of the zero-downtime test; runs on the probe (stock Python 3).

Sends a request to https://NAME/ every 1/RATE seconds (the next one at once
when an answer took longer) until STOPFILE exists, each on a new TLS
connection, and writes a JSON summary to OUTPUT: the number of requests, the
failures (anything but HTTP 200, or no answer) and the sequence of releases
seen in the X-App-Release header (consecutive duplicates folded).

Paced, not flat out: a steady stream still lands requests inside every switch
(a gap the test must prove never drops one), while the lab keeps its CPU for
the deploy and for the other lanes of `make test`. Unpaced, the two
generators kept both cores busy for the whole deploy and rollback.

    loadgen.py NAME CAFILE STOPFILE OUTPUT
"""

import http.client
import json
import os
import ssl
import sys
import time

RATE = 10  # requests a second, per web instance: a switch (a second or two) still meets 10 to 20


def main() -> None:
    name, cafile, stopfile, output = sys.argv[1:5]
    context = ssl.create_default_context(cafile=cafile)
    requests, failures, releases = 0, [], []
    started = time.monotonic()
    due = started
    while not os.path.exists(stopfile):
        due += 1 / RATE
        requests += 1
        try:
            connection = http.client.HTTPSConnection(name, 443, context=context, timeout=30)
            connection.request("GET", "/", headers={"User-Agent": "djangostack-loadgen"})
            response = connection.getresponse()
            response.read()
            connection.close()
            release = response.getheader("X-App-Release")
            if response.status != 200:
                failures.append(f"request {requests}: HTTP {response.status} (release {release})")
            elif not releases or releases[-1] != release:
                releases.append(release)
        except (OSError, http.client.HTTPException) as error:
            failures.append(f"request {requests}: {error!r}")
        time.sleep(max(0.0, due - time.monotonic()))
        due = max(due, time.monotonic())
    summary = {
        "requests": requests,
        "failures": failures,
        "releases": releases,
        "seconds": round(time.monotonic() - started, 1),
    }
    with open(output + ".tmp", "w") as handle:
        json.dump(summary, handle)
    os.replace(output + ".tmp", output)


if __name__ == "__main__":
    main()
