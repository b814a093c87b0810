"""benchmarks.bench_passes: every pass is measured and the section is written."""

import os

from coreset_cli.bench import passes
from coreset_engine import _build


def test_passes_and_section(tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("# Benchmarks\n\nkept\n")
    results = passes.main(["--rows", "30000", "--build-rows", "40000", "--repeats", "1",
                           "--markdown", str(out)])  # fmt: skip
    assert len(results) == 2
    for record in results.values():
        seconds = record["cpu_s_per_million"]
        assert set(passes.PASSES) <= set(seconds)
        assert all(seconds[p] >= 0 for p in passes.PASSES)
        assert seconds["whole leaf"] > 0 and record["build"]["rows"] == 40_000
        assert seconds[f"whole leaf, sketch_size={passes.SKETCH_COLUMNS}"] > 0
        assert seconds[passes.MERGE] > 0  # two 15,000-row leaves merged into 20,000 rows
        # (a 30,000-row leaf is too small for two phases: the rows exist, the timing is the
        # same path; the default 1,000,000-row leaf is two-phase)
        assert seconds[passes.PLAIN_TWO_PHASES] > 0 and seconds[passes.PLAIN_ONE_PHASE] > 0
    settings = _build.BuildSettings(passes.CORESET_ROWS, "sensitivity", True, None, 0, 2)
    assert _build.first_phase_rows(settings, 1_000_000) is not None
    assert _build.FIRST_PHASE_RATIO == 12  # put back after the one-phase row
    text = out.read_text()
    assert text.startswith("# Benchmarks\n\nkept\n")
    assert "<!-- section: passes -->" in text and "| pilot factor |" in text
    assert f"| {passes.MERGE} |" in text
    build = next(iter(results.values()))["build"]
    ceiling = os.cpu_count() * build["rows"] / build["cpu"] / 1e6
    assert f"(projection): M rows/s | {ceiling:.2f} |" in text
    passes.main(["--rows", "30000", "--build-rows", "0", "--repeats", "1", "--markdown", str(out)])
    assert out.read_text().count("<!-- section: passes -->") == 1  # replaced, not appended
