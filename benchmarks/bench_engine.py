"""``python -m benchmarks.bench_engine``: runs :mod:`coreset_cli.bench.engine`.

The code lives in the installed package so that ``coreset-engine bench`` works from a wheel;
importing this module gives that module itself (private names included).
"""

import sys

from coreset_cli.bench import engine

if __name__ == "__main__":
    engine.main()
else:
    sys.modules[__name__] = engine
