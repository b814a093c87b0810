"""bench_report --compare: two engine.json runs side by side."""

import json

from coreset_cli.bench import report


def _run(command, ratio):
    stats = {"median": ratio, "q1": ratio - 0.001, "q3": ratio + 0.001, "values": [ratio]}
    row = {"size": 1000, "method": "sensitivity", "one_shot": {"loss_ratio": stats},
           "tree": {"loss_ratio": stats}}  # fmt: skip
    return {"meta": {"command": command, "date": "today", "seeds": 5},
            "datasets": {"skin": {"results": [row]}, "a9a": {"results": []}}}  # fmt: skip


def test_compare_prints_and_writes_a_section(tmp_path, capsys):
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    before.write_text(json.dumps(_run("old command", 1.0123)))
    after.write_text(json.dumps(_run("new command", 1.0045)))
    out = tmp_path / "BENCHMARKS.md"
    report.main([str(after), "--compare", str(before), "--section-file", str(out),
                 "--section", "quality", "--title", "Before and after"])  # fmt: skip
    printed = capsys.readouterr().out
    assert "| skin | 1,000 | sensitivity | 1.0123 [1.0113, 1.0133] | 1.0045 [1.0035, 1.0055] |" in (
        printed
    )
    assert "`old command`" in printed and "`new command`" in printed
    text = out.read_text()
    assert text.startswith("<!-- section: quality -->\n## Before and after")


def test_the_engine_report_keeps_the_sections_other_benchmarks_own(tmp_path):
    """Rewriting BENCHMARKS.md keeps every section another benchmark wrote, whole (a bug once
    kept only their names)."""
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Old engine tables\n\nstale\n")
    report.write_section(path, "dask", "## Dask\n\n| a | b |\n")
    report.write_section(path, "refit", "## Refit\n\nline one\nline two\n")
    text = report.with_sections("# New engine tables\n", path.read_text())
    assert text.startswith("# New engine tables\n\n<!-- section: dask -->\n## Dask")
    assert "stale" not in text and text.count("<!-- section: dask -->") == 1
    assert "line one\nline two\n<!-- end of section: refit -->\n" in text
