"""benchmarks.bench_passes: every pass is measured and the section is written."""

from coreset_cli.bench import passes


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
    text = out.read_text()
    assert text.startswith("# Benchmarks\n\nkept\n")
    assert "<!-- section: passes -->" in text and "| pilot factor |" in text
    passes.main(["--rows", "30000", "--build-rows", "0", "--repeats", "1", "--markdown", str(out)])
    assert out.read_text().count("<!-- section: passes -->") == 1  # replaced, not appended
