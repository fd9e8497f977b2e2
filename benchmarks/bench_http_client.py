"""Cost of making an HTTP client: ``transfer.make_http_client`` (one SSL context per process)
against a plain ``httpx.Client()`` (which builds its SSL context, loading the CA bundle,
every time), measured in the same run.

Run: ``python benchmarks/bench_http_client.py [--clients 200]``. Prints the mean
milliseconds per client for each and their ratio, and ``os.getloadavg()``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import httpx

from kling_widget import transfer


def per_client_ms(make: Callable[[], httpx.Client], n: int) -> float:
    """Mean milliseconds to make and close one client (best of three rounds)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            make().close()
        best = min(best, (time.perf_counter() - start) / n * 1000)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=200)
    n = parser.parse_args().clients
    transfer.make_http_client().close()  # the first call builds the shared context
    ours = per_client_ms(transfer.make_http_client, n)
    plain = per_client_ms(httpx.Client, n)
    print(f"load average: {os.getloadavg()}")
    print(f"httpx.Client():             {plain:.3f} ms per client")
    print(f"transfer.make_http_client(): {ours:.3f} ms per client")
    print(f"ratio (plain / ours):        {plain / ours:.1f}x")


if __name__ == "__main__":
    main()
