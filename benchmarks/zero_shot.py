"""Zero-shot vs incremental update vs full retrain on articles published after training.

A thin wrapper over :func:`recengine.app.experiments.zero_shot_compare` (also ``python -m recengine
zero-shot-compare``): day 6 (dev) is cut at noon; the base model trains on days 1-5 and scores day-6 articles
zero-shot; the incremental update folds day 6's morning clicks into a copy of it; the full retrain trains from
scratch on days 1-5 plus the morning. All three are judged on the afternoon's impressions, on every article
published on day 6, and split into articles seen in the morning and articles still unseen by every model.

Prints one JSON object: AUC/MRR/nDCG per method and slice beside random and oracle, times, and the ratios
incremental/retrain of time and of quality. The result is also recorded in the workspace's store
($RECENGINE_HOME, default ./data), where the dashboard's New articles page shows it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from recengine.app import experiments, open_workspace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="demo", help="synthetic preset to generate (default: demo)")
    parser.add_argument("--data", type=Path, default=None, help="use this dataset instead of generating the preset")
    parser.add_argument("--embedder", default="minilm")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--update-epochs", type=int, default=2)
    parser.add_argument("--full-epochs", type=int, default=1)
    parser.add_argument("--lr-decay", type=float, default=0.3)
    args = parser.parse_args()

    workspace, store = open_workspace()
    with store:
        record = experiments.zero_shot_compare(
            workspace, store, args.data, preset=None if args.data else args.preset, embedder=args.embedder,
            epochs=args.epochs, update_epochs=args.update_epochs, full_epochs=args.full_epochs,
            lr_decay=args.lr_decay,
        )
    json.dump(record["result"], sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
