"""``python -m benchmarks.bench_passes``: runs :mod:`coreset_cli.bench.passes` (CPU-seconds per
million rows of every pass of a leaf).

The code lives in the installed package so that it works from a wheel; importing this module
gives that module itself.
"""

import sys

from coreset_cli.bench import passes

if __name__ == "__main__":
    passes.main()
else:
    sys.modules[__name__] = passes
