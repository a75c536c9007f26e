"""``report.html``: the run report as one self-contained page a person would rather read.

It is drawn from ``report.json``'s data (built from the markers, see
``engine.execution.report``) and a few removed rows read back (``engine.execution.samples``):
totals and the accounting check, throughput over time, removals by reason and category, the
top matched terms, score histograms with their drop thresholds, samples with the matched
spans marked, and the content hashes of the lists and models. Plots are inline SVG drawn
here; the page has no script and loads nothing, so it opens offline and prints as it shows.
Every number taken from ``report.json`` carries ``data-key`` (its path there, a JSON list
of keys) and ``data-value`` (its exact value, JSON), so a test or a script can check the
page against the data.
All text from the data (documents, terms, reasons, paths) is HTML-escaped, with control
characters shown as their Unicode pictures.
"""

from __future__ import annotations

import html
import json
import re

from engine.execution import samples as sampling

NAME = "report.html"
SHARDS = ("total", "input_files", "done", "processed_now", "resumed_skipped", "unreadable",
          "failed", "pending")
SPEED = {"text_mb_s": "text MB/s", "text_mb_s_per_worker": "text MB/s per worker",
         "input_mb_s": "input MB/s", "worker_busy_s": "worker busy s",
         "text_mb_s_per_busy_core": "text MB/s per busy core"}

_CONTROL = {c: 0x2400 + c for c in range(32) if chr(c) not in "\n\t"} | {0x7F: 0x2421}
_THRESHOLD = re.compile(r"\b([A-Za-z_]\w*)\.score\s*(>=|>|<=|<)\s*([0-9]*\.?[0-9]+)")

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1f24;
margin:0 auto;max-width:1180px;padding:16px 24px;background:#fff}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid
#d0d7de;padding-bottom:4px}h3{font-size:14px;margin:16px 0 6px}
.meta{color:#57606a;font-size:12.5px;word-break:break-all}
table{border-collapse:collapse;margin:4px 0}td,th{padding:3px 10px;border-bottom:1px solid
#eaeef2;text-align:left;vertical-align:top}td.n,th.n{text-align:right;font-variant-numeric:
tabular-nums}.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:12px 28px}
.grid3{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:12px 28px}
.sample{border:1px solid #d0d7de;border-radius:6px;padding:8px 10px;margin:8px 0;
break-inside:avoid}.doc{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px;
white-space:pre-wrap;word-break:break-word;background:#f6f8fa;padding:6px;margin-top:4px}
mark{background:#ffd33d;color:#000;padding:0 1px;border-radius:2px}
code{font-size:12px;word-break:break-all}svg{max-width:100%;height:auto}
svg text{font:11px system-ui,sans-serif;fill:#24292f}
@media print{body{max-width:none;padding:0}h2{break-after:avoid}.grid,.grid3{display:block}}
"""


def esc(value: object) -> str:
    """HTML-escaped text, control characters (NUL...) shown as their pictures."""
    return html.escape(str(value).translate(_CONTROL), quote=True)


def tag(*path: str, value: object) -> str:
    """``data-key``/``data-value`` attributes naming ``value``'s place in ``report.json``."""
    return (f'data-key="{esc(json.dumps(list(path), ensure_ascii=False))}" '
            f'data-value="{esc(json.dumps(value, ensure_ascii=False))}"')


def num(value: object, *path: str) -> str:
    """A number from the report, tagged with its path in ``report.json``."""
    shown = "–" if value is None else (f"{value:,}" if isinstance(value, int) else
                                       f"{value:,.2f}" if isinstance(value, float) else
                                       esc(value))
    return f"<span {tag(*path, value=value)}>{shown}</span>"


# -- plots -----------------------------------------------------------------------------
def bars(items: list[tuple[str, int]], key: str, width: int = 560) -> str:
    """Horizontal bars with labels and values (inline SVG)."""
    if not items:
        return '<p class="meta">none</p>'
    top = max(v for _, v in items) or 1
    row, label_w = 20, 200
    h = row * len(items) + 4
    parts = [f'<svg viewBox="0 0 {width} {h}" width="{width}" height="{h}" role="img">']
    for i, (label, value) in enumerate(items):
        y = i * row + 2
        w = max(1.0, (width - label_w - 90) * value / top)
        shown = label if len(label) <= 30 else label[:29] + "…"
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{esc(shown)}'
                     f'<title>{esc(label)}</title></text>'
                     f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row - 6}" '
                     f'fill="#0969da"/><text x="{label_w + w + 4:.1f}" y="{y + 13}" '
                     f"{tag(key, label, value=value)}>{value:,}</text>")
    parts.append("</svg>")
    return "".join(parts)


def histogram(counts: list[int], thresholds: list[tuple[str, float]], width: int = 480,
              height: int = 180) -> str:
    """A score histogram over [0, 1] with each drop threshold as a dashed line."""
    left, bottom, top_pad = 44, 26, 10
    pw, ph = width - left - 10, height - bottom - top_pad
    peak = max([0, *counts]) or 1
    parts = [f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             'role="img">',
             f'<line x1="{left}" y1="{top_pad + ph}" x2="{left + pw}" y2="{top_pad + ph}" '
             'stroke="#57606a"/>',
             f'<text x="4" y="{top_pad + 8}">{peak:,}</text>']
    n = max(len(counts), 1)
    for i, c in enumerate(counts):
        h = ph * c / peak
        parts.append(f'<rect x="{left + pw * i / n + 1:.1f}" y="{top_pad + ph - h:.1f}" '
                     f'width="{pw / n - 2:.1f}" height="{h:.1f}" fill="#8250df">'
                     f'<title>{i / n:.1f}–{(i + 1) / n:.1f}: {c:,}</title></rect>')
    for t in range(6):
        x = left + pw * t / 5
        parts.append(f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle">{t / 5:.1f}'
                     "</text>")
    for op, value in thresholds:
        x = left + pw * min(max(value, 0.0), 1.0)
        parts.append(f'<line x1="{x:.1f}" y1="{top_pad}" x2="{x:.1f}" y2="{top_pad + ph}" '
                     'stroke="#cf222e" stroke-width="2" stroke-dasharray="5,3"/>'
                     f'<text x="{x + 3:.1f}" y="{top_pad + 10}" fill="#cf222e">'
                     f'{esc(op)} {value:g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def timeline(data: dict | None, width: int = 760, height: int = 200) -> str:
    """Text MB/s finished per time bin over the run's wall time (bars), from the start of
    the run (worker start-up included); ``data`` is ``report.Timeline.data()``."""
    if not data or not data.get("done"):
        return ('<p class="meta">no timing recorded (no shard was processed by the run '
                'that wrote this report)</p>')
    left, bottom, top_pad = 56, 28, 10
    pw, ph = width - left - 12, height - bottom - top_pad
    bins, bin_s = data["bins"], data["bin_s"] or 1e-9
    end = bins * bin_s
    rates = [text / 1e6 / bin_s for _, _, _, text in data["done"]]
    peak = max(rates) or 1
    bw = pw / bins
    parts = [f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             'role="img">',
             f'<line x1="{left}" y1="{top_pad + ph}" x2="{left + pw}" y2="{top_pad + ph}" '
             'stroke="#57606a"/>',
             f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{top_pad + ph}" '
             'stroke="#57606a"/>']
    for (i, shards, rows, _), r in zip(data["done"], rates, strict=True):
        h = ph * r / peak
        parts.append(f'<rect x="{left + bw * i:.1f}" y="{top_pad + ph - h:.1f}" '
                     f'width="{max(bw - 1, 0.5):.1f}" height="{h:.1f}" fill="#1a7f37">'
                     f'<title>{(i + 1) * bin_s:,.1f} s: {r:,.2f} MB/s, {shards:,} shards, '
                     f'{rows:,} rows</title></rect>')
    parts += [f'<text x="4" y="{top_pad + 8}">{peak:,.1f}</text>',
              f'<text x="4" y="{top_pad + 22}">MB/s</text>',
              f'<text x="{left}" y="{height - 8}">0 s</text>',
              f'<text x="{left + pw}" y="{height - 8}" text-anchor="end">{end:,.1f} s</text>',
              "</svg>"]
    total = sum(shards for _, shards, _, _ in data["done"])
    return "".join(parts) + (f'<p class="meta">{total:,} shards finished by this invocation, '
                             f"in {bins} bins of {bin_s:,.2f} s</p>")


# -- sections --------------------------------------------------------------------------
def thresholds(report: dict) -> dict[str, list[tuple[str, float]]]:
    """``classifier -> [(op, value)]`` read from the drop rules' text."""
    found: dict[str, list[tuple[str, float]]] = {}
    for _, text in (report.get("filter") or {}).get("drop_if") or []:
        for name, op, value in _THRESHOLD.findall(str(text)):
            if (op, float(value)) not in found.get(name, []):
                found.setdefault(name, []).append((op, float(value)))
    return found


def _ordered(data: dict, first) -> list[str]:
    """``data``'s keys, those of ``first`` first in its order (``report.json`` is written
    with sorted keys)."""
    return [k for k in first if k in data] + sorted(data.keys() - set(first))


def _totals(report: dict) -> str:
    r, s, acct = report["rows"], report["shards"], report["accounting"]
    check = ('<span class="ok">OK</span>' if acct["ok"] else
             '<span class="bad">MISMATCH</span> in ' +
             ", ".join(esc(m) for m in acct["mismatched_shards"][:20]))
    rows = [("rows in", "in"), ("kept", "kept"), ("removed", "removed"),
            ("unreadable", "unreadable")]
    pct = 100 * r["removed"] / r["in"] if r["in"] else 0.0
    cells = "".join(f"<tr><th>{label}</th><td class=n>{num(r[k], 'rows', k)}</td></tr>"
                    for label, k in rows)
    shard_cells = "".join(f"<tr><th>{k.replace('_', ' ')}</th><td class=n>"
                          f"{num(s[k], 'shards', k)}</td></tr>" for k in _ordered(s, SHARDS))
    t = report.get("throughput") or {}
    speed = "".join(f"<tr><th>{SPEED.get(k, k)}</th><td class=n>"
                    f"{num(t[k], 'throughput', k)}</td></tr>" for k in _ordered(t, SPEED))
    return (f'<div class="grid3"><div><h3>Rows</h3><table>{cells}</table>'
            f'<p>removed: {pct:.3f} % of rows in</p>'
            f'<p>accounting check ({esc(acct["rule"])}): {check} over '
            f'{num(acct["checked_shards"], "accounting", "checked_shards")} shards</p></div>'
            f'<div><h3>Shards</h3><table>{shard_cells}</table></div>'
            f'<div><h3>Speed</h3><table><tr><th>wall time s</th><td class=n>'
            f'{num(report.get("time_s"), "time_s")}</td></tr><tr><th>workers</th><td class=n>'
            f'{num(report.get("workers"), "workers")}</td></tr>{speed}</table></div></div>')


def sample_block(s: dict) -> str:
    doc = "".join(f"<mark>{esc(text)}</mark>" if hit else esc(text)
                  for text, hit in s["pieces"]) or '<span class="meta">(no text)</span>'
    cats = ", ".join(esc(c) for c in s["categories"]) or "–"
    by = ", ".join(f"{esc(d['stage'])} <code>{esc(d['sha256'][:16])}</code>"
                   for d in s["decided_by"]) or "–"
    return (f'<div class="sample"><div class="meta">shard <b>{esc(s["shard"])}</b> row '
            f'<b>{esc(s["row"])}</b> · rule <code>{esc(s["rule"])}</code> · categories '
            f"{cats} · decided by {by}</div><div class=doc>{doc}</div></div>")


def _hashes(report: dict) -> str:
    hashes = (report.get("filter") or {}).get("hashes") or {}
    if not hashes:
        return '<p class="meta">no blocklists or models</p>'
    rows = "".join(
        f"<tr><td>{esc(name)}</td><td>{esc(h['kind'])}</td><td><code "
        f"{tag('filter', 'hashes', name, 'sha256', value=h['sha256'])}>"
        f"{esc(h['sha256'])}</code></td><td class=meta>" +
        "<br>".join(f"{esc(f)} {esc(d[:12])}" for f, d in sorted(h["files"].items())[:12]) +
        "</td></tr>" for name, h in sorted(hashes.items()))
    return ("<table><tr><th>stage</th><th>kind</th><th>sha256 (content)</th><th>files</th>"
            f"</tr>{rows}</table>")


def render(report: dict, found: dict[str, list[dict]], title: str = "filter-engine run report"
           ) -> str:
    """The whole page for ``report`` (``report.json``'s data) and its samples."""
    filt = report.get("filter") or {}
    annotate = filt.get("mode") == "annotate"
    removed = "flagged" if annotate else "removed"
    lines = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{esc(title)}: {num(report['status'], 'status')}</h1>",
        f'<p class="meta">config {esc(filt.get("config"))} · mode {esc(filt.get("mode"))} · '
        f'filter fingerprint <code>{esc(filt.get("fingerprint"))}</code> · exit code '
        f'{num(report.get("exit_code"), "exit_code")}</p>',
        "<h2>Totals and the accounting check</h2>", _totals(report),
        "<h2>Throughput over time</h2>", timeline(report.get("timeline")),
        f'<div class="grid"><div><h2>{removed.capitalize()} by reason</h2>',
        bars(list(report["removed_by_reason"].items()), "removed_by_reason"),
        f"</div><div><h2>{removed.capitalize()} by category</h2>",
        bars(list(report["removed_by_category"].items()), "removed_by_category"),
        "</div></div>",
        f"<h2>Top matched terms (in {removed} rows)</h2>",
        bars(list(report["top_terms"].items()), "top_terms"),
        "<h2>Score histograms</h2>",
    ]
    limits = thresholds(report)
    hists = report.get("score_histograms") or {}
    if not hists:
        lines.append('<p class="meta">no classifier in this filter</p>')
    lines.append('<div class="grid">')
    for name, counts in sorted(hists.items()):
        lines.append(f"<div><h3>{esc(name)} (rows scored: "
                     f"{sum(counts):,})</h3>"
                     f"{histogram(counts, limits.get(name, []))}<p class=meta>rows per bin of "
                     f"{1 / max(len(counts), 1):g}: <span "
                     f"{tag('score_histograms', name, value=counts)}>"
                     f"{', '.join(f'{c:,}' for c in counts)}</span></p></div>")
    lines.append("</div>")
    lines.append(f"<h2>Samples of {removed} documents, by reason</h2>")
    if not any(found.values()):
        lines.append('<p class="meta">none</p>')
    for reason, picked in found.items():
        lines.append(f"<h3>{esc(reason)}</h3>" + "".join(sample_block(s) for s in picked))
    lines += ["<h2>Lists and models that decided (content hashes)</h2>", _hashes(report)]
    problems = [f"unreadable shard {esc(q['shard'])}: {esc(q['error'])}"
                for q in report.get("quarantined") or []][:50]
    problems += [f"FAILED shard {esc(f['shard'])}: {esc(f['errors'][-1] if f['errors'] else '')}"
                 for f in report.get("failed") or []][:50]
    if problems:
        lines.append("<h2>Problems</h2><ul>" + "".join(f"<li>{p}</li>" for p in problems)
                     + "</ul>")
    lines.append("</body></html>\n")
    return "\n".join(lines)


def write(out, report: dict) -> None:
    """Write ``report.html`` beside ``report.json`` (samples read back from the outputs)."""
    page = render(report, sampling.collect(out, report))
    out.write_bytes(NAME, page.encode("utf-8"), "report")
