"""``python -m recengine embed``: embed every article of a dataset through the on-disk cache."""

from __future__ import annotations

import argparse
import json
import sys
import time

DESCRIPTION = """\
Embed the text of every article in a MIND dataset folder (train/ and dev/, or a bare split) and keep
the vectors in the embedding cache, so that training and serving find them. Texts already cached are
not embedded again. Prints one JSON object: articles, embedded, newly_embedded, coverage, dim,
backend, model, fields, seconds. With --only-cached nothing is computed: it reports the coverage the
cache already gives. A coverage below 100% is also written to stderr as a warning.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("embed", help="embed article texts into the cache", description=DESCRIPTION)
    parser.add_argument("--data", required=True, metavar="DIR", help="dataset folder")
    # Names are checked by the library (one-line error listing the valid ones), not by argparse choices.
    parser.add_argument(
        "--embedder", default="minilm", metavar="NAME", help="minilm (default, local), openai or hashing"
    )
    parser.add_argument(
        "--fields", default="title+abstract", metavar="FIELDS", help="title or title+abstract (default)"
    )
    parser.add_argument(
        "--cache", default=None, metavar="DIR", help="cache folder (default: <RECENGINE_HOME>/cache/embeddings)"
    )
    parser.add_argument(
        "--only-cached", action="store_true", help="compute nothing; report what the cache already covers"
    )
    parser.add_argument("--background", action="store_true",
                        help="run as a background job: print its id and return (see `recengine jobs`)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.background:
        from recengine.commands.jobs import start_embedding

        return start_embedding(args)
    from tqdm import tqdm

    from recengine.data.mind import load_dataset
    from recengine.text import EmbeddingCache, coverage_warning, embed_news, get_embedder
    from recengine.text.cache import check_fields

    # Flags are checked before the data is read, so that a typo, a missing key or package is reported at once.
    check_fields(args.fields)
    embedder = get_embedder(args.embedder)
    cache = EmbeddingCache(args.cache)
    dataset = load_dataset(args.data)

    bar: tqdm | None = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, file=sys.stderr, unit="text", desc=f"embedding ({embedder.backend})")
        bar.update(done - bar.n)

    started = time.perf_counter()
    try:
        result = embed_news(
            dataset.news,
            embedder,
            cache=cache,
            fields=args.fields,
            progress=progress,
            missing="skip" if args.only_cached else "embed",
        )
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - started
    report = {
        "data": str(dataset.root),
        "articles": len(result.ids),
        "embedded": int(result.has_vector.sum()),
        "newly_embedded": result.newly_embedded,
        "coverage": result.coverage,
        "dim": result.dim,
        "backend": result.backend,
        "model": result.model,
        "fields": result.fields,
        "seconds": round(seconds, 3),
        "cache": str(cache.path(embedder)),
        "skipped_rows": dataset.report.total_skipped,
    }
    print(json.dumps(report, indent=2))
    warning = coverage_warning(result.coverage)
    if warning:
        print(warning, file=sys.stderr)
    return 0
