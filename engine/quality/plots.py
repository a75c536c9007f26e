"""The evaluation's PNGs: removal by reason, and a PR curve per classifier stage.

Drawn with matplotlib, as ``filter-engine eval MODEL --png`` already is (the PR curve is
that command's own drawing, ``Evaluation.write_pr_png``); matplotlib is in the ``train``
extra and is imported only here, when a plot is asked for.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.errors import fail
from engine.quality.filter_eval import FilterEvaluation
from engine.train.evaluate import Evaluation


def write_plots(evaluation: FilterEvaluation, outdir: str | Path) -> list[Path]:
    """``removal_by_reason.png`` and ``pr_<stage>.png`` per classifier that saw both
    classes; returns the paths written.

    Raises:
        UsageError (E005): matplotlib is not installed.
    """
    outdir = Path(outdir)
    written = [removal_by_reason(evaluation.result, outdir / "removal_by_reason.png")]
    found = evaluation.trace
    for stage in evaluation.result["stages"]:
        if stage["kind"] != "classifier" or not stage.get("pr"):
            continue
        scores = found.scores[stage["name"]]
        scored = ~np.isnan(scores) & ~found.unreadable
        figures = {"model": f"stage {stage['name']}", "score_label": "not benign",
                   **{k: stage["pr"][k] for k in ("at_card_threshold", "best_f1", "roc_auc")}}
        curve = Evaluation(figures, evaluation.positive[scored],
                           scores[scored].astype(np.float64))
        written.append(curve.write_pr_png(outdir / f"pr_{stage['name']}.png"))
    return written


def removal_by_reason(result: dict, path: Path) -> Path:
    """A horizontal bar per reason: rows it removed, benign and hazard stacked."""
    plt = _pyplot()
    benign = result["benign_labels"]
    reasons = [r for r in result["reasons"] if r["removed"]] or result["reasons"]
    names = [r["reason"] for r in reasons]
    good = np.array([sum(r["removed_by_label"].get(b, 0) for b in benign) for r in reasons])
    bad = np.array([r["removed"] for r in reasons]) - good
    fig, ax = plt.subplots(figsize=(7, 1.8 + 0.4 * len(names)), dpi=100)
    y = np.arange(len(names))
    ax.barh(y, bad, color="#c0392b", label="hazard-labelled")
    ax.barh(y, good, left=bad, color="#7f8c8d", label=f"{', '.join(benign)} (false positives)")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel("rows removed (first rule that held)")
    ax.set_title(f"removal by reason: {result['removed']:,} of {result['rows']:,} rows")
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise fail("E005", feature="the evaluation's plots", package="matplotlib",
                   install="'filter-engine[train]'") from err
    return plt
