"""``diagnostics``: look inside a trained run on a split: saturation, logit range, calibration, fusion weights.

Scores every candidate of the split (dev articles never seen in training are scored zero-shot, as in evaluation)
and prints the headline numbers as a table, or as JSON with --json: the share of predictions whose sigmoid is
saturated (< 0.01 or > 0.99) and pinned at exactly 0 or 1, raw and calibrated; the logit range; the mean
fusion weight per view for all, warm and never-seen articles.
"""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("diagnostics", help="saturation, logit range and fusion weights of a run",
                                   description=__doc__)
    parser.add_argument("--run", default=None, help="run id or run folder (default: the active run)")
    parser.add_argument("--split", choices=("dev", "train", "test"), default="dev", help="split to score (default: dev)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from recengine.app import experiments, open_workspace, runs
    from recengine.errors import InputError

    workspace, store = open_workspace()
    with store:
        chosen = args.run
        if chosen is None:
            active = runs.active_run(store)
            if active is None:
                raise InputError("no active run in this workspace: give --run RUN (`recengine runs list` shows them)")
            chosen = active["run_id"]
        headline = experiments.diagnostics(workspace, store, chosen, split=args.split)["headline"]
    print(json.dumps(headline, indent=2) if args.json else table(headline))
    return 0


def table(headline: dict) -> str:
    """The headline as two aligned columns (measure, value), then the fusion weights per view."""
    from recengine.textsafe import printable

    def share(value) -> str:
        return "n/a" if value is None else f"{value:.1%}"

    def number(value, digits: int = 3) -> str:
        return "n/a" if value is None else f"{value:.{digits}f}"

    calibration = headline["calibration"] or {}
    rows = [
        ("run", headline["run_id"]),
        ("split", headline["split"]),
        ("candidates", f"{headline['candidates']:,}"),
        ("clicks", f"{headline['clicks']:,} ({share(headline['click_rate'])})"),
        ("saturated (sigmoid < 0.01 or > 0.99)", share(headline["saturated_share"])),
        ("pinned at exactly 0 or 1", share(headline["pinned_share"])),
        ("logit range", f"{number(headline['logit_min'], 2)} .. {number(headline['logit_max'], 2)}"),
        ("logit mean ± std", f"{number(headline['logit_mean'], 2)} ± {number(headline['logit_std'], 2)}"),
        ("saturated after calibration", share(headline["calibrated_saturated_share"])),
        ("calibration", f"p = sigmoid({number(calibration.get('scale'))} x logit + {number(calibration.get('shift'))})"),
        ("text coverage", share(headline["text_coverage"])),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    weights = headline["fusion_weights"]
    if weights:
        lines += ["", "fusion weight per view (mean)", f"{'view':<8}{'all':>8}{'warm':>8}{'new':>8}"]
        lines += [f"{view:<8}" + "".join(f"{number(w.get(c)):>8}" for c in ("all", "warm", "new"))
                  for view, w in weights.items()]
    else:
        lines += ["", f"fusion weights: {headline['fusion_weights_note']}"]
    return printable("\n".join(lines))
