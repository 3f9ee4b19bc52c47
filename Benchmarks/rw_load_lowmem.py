#!/usr/bin/env python3
"""rw_load.py (../shared/bench) with a small per-series random generator, for millions of series.

rw_load.py keeps one `random.Random` (~2.9 KB of Mersenne Twister state) per series: 4 M series need
~16 GB in the generator alone. This wrapper swaps in a splitmix64 generator (~100 bytes) with the
methods rw_load uses; everything else (labels, request layout, sharding, timing, cache) is
rw_load's own. Values differ from rw_load's, deterministically; every peer gets the same bodies.
Same command-line options as rw_load.py.
"""
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "bench"))
sys.path.insert(0, os.environ.get("RW_LOAD_DIR", ""))
import rw_load  # noqa: E402

M = (1 << 64) - 1


class SmallRandom:
    __slots__ = ("s",)

    def __init__(self, seed=0):
        self.s = (seed * 0x9E3779B97F4A7C15 + 1) & M

    def _next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & M
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
        return z ^ (z >> 31)

    def random(self):
        return (self._next() >> 11) * (1.0 / (1 << 53))

    def uniform(self, a, b):
        return a + (b - a) * self.random()

    def randint(self, a, b):
        return a + self._next() % (b - a + 1)

    def gauss(self, mu, sigma):
        u1 = max(self.random(), 1e-300)
        return mu + sigma * math.sqrt(-2.0 * math.log(u1)) * math.cos(2 * math.pi * self.random())

    def lognormvariate(self, mu, sigma):
        return math.exp(self.gauss(mu, sigma))


class _RandomModule:
    Random = SmallRandom

    def __getattr__(self, name):
        import random
        return getattr(random, name)


rw_load.random = _RandomModule()
rw_load.VERSION = str(getattr(rw_load, "VERSION", "")) + "+smallrandom"   # its own cache entries

if __name__ == "__main__":
    sys.exit(rw_load.main())
