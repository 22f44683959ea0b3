"""How fast this machine is at the moment a figure is measured.

The machine these figures come from is a virtual one whose speed was seen to vary by
up to 1.7x from one hour to the next (another tenant's load, not ours). Each figure is
written with two readings taken just before and after it: an Ed25519 signature
(libsodium, the journal's hottest C call) and a step of a plain Python loop. A figure
taken when both readings were slow is not comparable with one taken when they were
fast.
"""

from __future__ import annotations

import os
import time
from typing import Any


def machine_speed() -> dict[str, Any]:
    import nacl.bindings as sodium

    _public, secret = sodium.crypto_sign_seed_keypair(bytes(32))
    message = bytes(53)
    start = time.perf_counter()
    for _ in range(5_000):
        sodium.crypto_sign(message, secret)
    sign_us = (time.perf_counter() - start) / 5_000 * 1e6
    start = time.perf_counter()
    total = 0
    for i in range(2_000_000):
        total += i & 7
    loop_ns = (time.perf_counter() - start) / 2_000_000 * 1e9
    return {
        "ed25519_sign_us": round(sign_us, 1),
        "python_loop_ns": round(loop_ns, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
