"""``python -m benchmarks.bench_models``: runs :mod:`coreset_cli.bench.models`.

The code lives in the installed package; importing this module gives that module itself.
"""

import sys

from coreset_cli.bench import models

if __name__ == "__main__":
    models.main()
else:
    sys.modules[__name__] = models
