"""What ``coreset-engine bench`` runs: :mod:`.engine` measures coreset quality and cost,
:mod:`.report` turns its JSON into plots and ``BENCHMARKS.md``.

Installed with the command line so that ``bench`` works from a wheel; a source checkout's
``python -m benchmarks.bench_engine`` and ``python -m benchmarks.bench_report`` run these
modules.
"""
