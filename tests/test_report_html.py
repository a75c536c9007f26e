"""``report.html``: written by every run and by ``filter-engine report OUT``, self-contained,
its numbers equal to ``report.json``, hostile text escaped, opened in headless Chromium."""

import json
import os
import shutil
import signal
import subprocess
import time
import tracemalloc
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import engine
from engine.execution.report import from_output
from engine.io.writers import Output
from tests.runkit import cli, markers, popen, write_lists, write_shards

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WITH_MODEL = """
[[blocklist]]
name = "bl"
files = ["lists/*.txt"]

[[classifier]]
name = "spam"
model = "spam-hashed"

[drop_if]
null_text = "text.null"
cbrn = "bl.cbrn >= 2"
cyber = "bl.cyber >= 1 and bl.count >= 3"
spam = "spam.score >= 0.9"
"""


class Tagged(HTMLParser):
    """Every ``data-key``/``data-value`` in a page, and every tag and attribute seen."""

    def __init__(self):
        super().__init__()
        self.values: list[tuple[list, object]] = []
        self.tags: set[str] = set()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        attrs = dict(attrs)
        if "data-key" in attrs:
            self.values.append((json.loads(attrs["data-key"]), json.loads(attrs["data-value"])))
        self.urls += [v for k, v in attrs.items() if k in ("src", "href") and v]


def parse(page: Path) -> Tagged:
    parser = Tagged()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def lookup(data, path):
    for key in path:
        data = data[key]
    return data


def assert_page_matches(page: Path, report: dict) -> Tagged:
    parsed = parse(page)
    for path, value in parsed.values:
        assert lookup(report, path) == value, path
    keys = {tuple(path) for path, _ in parsed.values}
    wanted = {("status",), *(("rows", k) for k in report["rows"]),
              *(("removed_by_reason", k) for k in report["removed_by_reason"]),
              *(("removed_by_category", k) for k in report["removed_by_category"]),
              *(("top_terms", k) for k in report["top_terms"]),
              *(("score_histograms", k) for k in report["score_histograms"]),
              *(("filter", "hashes", k, "sha256") for k in report["filter"]["hashes"])}
    assert wanted <= keys, wanted - keys
    assert "script" not in parsed.tags and "iframe" not in parsed.tags
    assert all(u.startswith("data:") for u in parsed.urls), parsed.urls  # nothing to fetch
    return parsed


def setup_run(tmp_path, config_text=WITH_MODEL, **kw):
    write_lists(tmp_path)
    config = tmp_path / "filter.toml"
    config.write_text(config_text)
    write_shards(tmp_path, **kw)
    return config, tmp_path / "data" / "**" / "*.parquet", tmp_path / "out"


def _without_preload() -> dict[str, str]:
    """Chromium is not ours: a sanitizer run's LD_PRELOAD (tests/test_sanitizer_build.py)
    stays in our own processes."""
    return {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}


def chromium_console(page: Path, shot: Path) -> list[str]:
    """Open ``page`` in headless Chromium, screenshot it, return its console messages."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it (apt-get install "
                        "chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={shot.parent / 'chromium-profile'}", f"--screenshot={shot}",
         "--window-size=1280,2000", "--enable-logging=stderr", "--v=0", page.as_uri()],
        capture_output=True, text=True, timeout=180, env=_without_preload())
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]


def test_run_writes_report_html_whose_numbers_equal_report_json(tmp_path):
    config, glob, out = setup_run(tmp_path, count=3, rows=1200)
    proc = cli("run", glob, "-o", out, "-c", config, "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["score_histograms"]["spam"] and report["timeline"]
    assert sum(shards for _, shards, _, _ in report["timeline"]["done"]) == 3
    parsed = assert_page_matches(out / "report.html", report)
    assert {"svg", "mark", "rect"} <= parsed.tags
    page = (out / "report.html").read_text()
    assert "&gt;= 0.9</text>" in page  # the spam threshold drawn on its histogram
    for reason in report["removed_by_reason"]:
        assert f"<h3>{reason}</h3>" in page
    before = page
    (out / "report.html").unlink()
    again = cli("report", out)
    assert again.returncode == 0, again.stderr
    assert_page_matches(out / "report.html", report)
    assert len((out / "report.html").read_text()) == len(before)


def test_report_html_opens_in_headless_chromium_without_console_errors(tmp_path):
    config, glob, out = setup_run(tmp_path, count=2, rows=800)
    assert cli("run", glob, "-o", out, "-c", config).returncode == 0
    shot = tmp_path / "report.png"
    assert chromium_console(out / "report.html", shot) == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_the_console_check_sees_errors_when_a_page_has_them(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><body><script>console.error('boom');nope();</script>")
    lines = chromium_console(page, tmp_path / "bad.png")
    assert any("boom" in line for line in lines)
    assert any("nope is not defined" in line for line in lines)


def test_hostile_text_is_escaped_and_a_huge_row_costs_a_window(tmp_path):
    write_lists(tmp_path)
    hostile = [
        '<script>alert("x")</script> anthrax sarin',
        "quote \" and ' & <b>bold</b> </div></body> anthrax sarin",
        "nul\x00char \x07 anthrax sarin \x00",
        "river " * 400_000 + "anthrax <img src=x onerror=alert(1)> sarin" + " river" * 400_000,
        "exploit ransomware payload <!-- comment --> ]]>",
        None,
    ]
    (tmp_path / "data").mkdir()
    pq.write_table(pa.table({"text": hostile}), tmp_path / "data" / "h.parquet")
    out = tmp_path / "out"
    result = engine.run(str(tmp_path / "data" / "h.parquet"), str(out),
                        str(tmp_path / "filter.toml"), workers=1)
    assert result.report["rows"]["removed"] == 6
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower() and "<img" not in page and "<b>bold" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "&lt;/div&gt;&lt;/body&gt;" in page and "&lt;!-- comment --&gt;" in page
    assert "\x00" not in page and "\x07" not in page and "nul\u2400char \u2407" in page
    assert "<mark>anthrax</mark>" in page and "bytes in all)" in page
    assert len(page) < 200_000  # the 4.8 MB row is shown as a window
    assert_page_matches(out / "report.html", result.report)
    if CHROMIUM:
        assert chromium_console(out / "report.html", tmp_path / "h.png") == []


def test_many_small_shards_and_report_out_rebuilds_the_same_numbers(tmp_path):
    config, glob, out = setup_run(tmp_path, config_text=WITH_MODEL.replace(
        'spam = "spam.score >= 0.9"\n', ""), count=120, rows=6, row_group=6)
    proc = cli("run", glob, "-o", out, "-c", config, "--workers", "2", timeout=600)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["shards"]["done"] == 120
    assert_page_matches(out / "report.html", report)
    rebuilt = from_output(Output(str(out)), report, None)
    for key in ("rows", "removed_by_reason", "removed_by_category", "top_terms",
                "accounting", "score_histograms"):
        assert rebuilt[key] == report[key], key


def _fake_output(root: Path, count: int, marker: dict) -> None:
    done = root / "_done"
    done.mkdir(parents=True)
    for i in range(count):
        m = dict(marker, shard=f"part-{i:06d}.parquet", outputs={})
        (done / f"part-{i:06d}.parquet.json").write_text(json.dumps(m))


def _peak(root: Path) -> int:
    tracemalloc.start()
    try:
        from_output(Output(str(root)), None, None)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_report_from_markers_takes_bounded_memory(tmp_path):
    config, glob, out = setup_run(tmp_path, config_text=WITH_MODEL, count=1, rows=400)
    assert cli("run", glob, "-o", out, "-c", config).returncode == 0
    (marker,) = markers(out).values()
    _fake_output(tmp_path / "small", 1_000, marker)
    _fake_output(tmp_path / "large", 10_000, marker)
    small, large = _peak(tmp_path / "small"), _peak(tmp_path / "large")
    held = len(json.dumps(marker)) * 10_000  # what keeping every marker would cost, at least
    assert large - small < held / 4, (small, large, held)
    report = from_output(Output(str(tmp_path / "large")), None, None)
    assert report["rows"]["in"] == 10_000 * marker["rows_in"]
    assert report["status"] == "partial" and report["shards"]["done"] == 10_000


def test_report_out_builds_a_partial_page_for_a_killed_run(tmp_path):
    config, glob, out = setup_run(tmp_path, count=4, rows=400)
    proc = popen("run", glob, "-o", out, "-c", config, "--workers", "1",
                 ENGINE_TESTING=1, ENGINE_FAULT="slow:batch:*")
    deadline = time.monotonic() + 120
    while not list((out / "_done").rglob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert not (out / "report.json").exists()
    rebuilt = cli("report", out)
    assert rebuilt.returncode == 0, rebuilt.stderr
    found = markers(out)
    parsed = parse(out / "report.html")
    values = {tuple(k): v for k, v in parsed.values}
    assert values[("status",)] == "partial"
    assert values[("rows", "in")] == sum(m["rows_in"] for m in found.values())
    assert values[("shards", "done")] == len(found) < 4
