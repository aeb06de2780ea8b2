"""recengine.data.store: the SQLite memory of the app."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from recengine.cli import main
from recengine.data.mind import MindDataset, load_dataset
from recengine.data.store import SCHEMA_VERSION, Store
from recengine.errors import InputError, RecengineError

REPO = Path(__file__).resolve().parent.parent
ENTITIES = (
    '[{"Label": "Paris", "Type": "G", "WikidataId": "Q90", "Confidence": 1.0, '
    '"OccurrenceOffsets": [0], "SurfaceForms": ["Paris"]}]'
)


def news_row(news_id: str, title: str | None = None) -> str:
    title = title if title is not None else f"Title of {news_id}"
    return "\t".join(
        [news_id, "news", "world", title, f"Abstract of {news_id}", f"https://example.org/{news_id}", ENTITIES, "[]"]
    )


def write_split(folder: Path, news: list[str], behaviors: list[str]) -> None:
    folder.mkdir(parents=True)
    (folder / "news.tsv").write_text("".join(line + "\n" for line in news), encoding="utf-8")
    (folder / "behaviors.tsv").write_text("".join(line + "\n" for line in behaviors), encoding="utf-8")


TRAIN_BEHAVIORS = [
    "1\tU1\t11/11/2019 9:00:00 AM\tN1 N2\tN3-1 N4-0",
    "2\tU2\t11/11/2019 10:00:00 AM\tN1\tN3-0 N4-1",
    "3\tU1\t11/12/2019 8:00:00 AM\tN1 N2\tN4-1 N1-0",
]
DEV_BEHAVIORS = [
    # Impression ids restart in dev, as in MIND.
    "1\tU1\t11/13/2019 9:00:00 AM\tN2 N1 N3\tN5-0 N3-1",
    "2\tU3\t11/13/2019 11:00:00 AM\t\tN5-1 N3-1 N4-0",
]


def make_dataset(root: Path, *, n1_title: str = "Title of N1", with_u2: bool = True, extra: bool = False) -> Path:
    """Train N1-N4, dev N3-N5 (N5 new); users U1 (train and dev), U2 (train), U3 (dev only)."""
    train_news = [news_row("N1", n1_title), *(news_row(f"N{i}") for i in (2, 3, 4))]
    dev_news = [news_row(f"N{i}") for i in (3, 4, 5)] + ([news_row("N6")] if extra else [])
    train = [line for line in TRAIN_BEHAVIORS if with_u2 or "\tU2\t" not in line]
    write_split(root / "train", train_news, train)
    write_split(root / "dev", dev_news, DEV_BEHAVIORS)
    return root


def dump(path: Path) -> str:
    """Everything in the database file, schema included, as SQL text; the cache of file digests left out."""
    conn = sqlite3.connect(path)
    try:
        lines = [line for line in conn.iterdump() if "file_digests" not in line]
        return "\n".join(lines) + f"\nuser_version={conn.execute('PRAGMA user_version').fetchone()[0]}"
    finally:
        conn.close()


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "store.db") as s:
        yield s


@pytest.fixture
def toy(tmp_path: Path) -> MindDataset:
    return load_dataset(make_dataset(tmp_path / "toy"))


# --------------------------------------------------------------------------- opening


def test_new_store_is_wal_with_busy_timeout_and_schema_version(tmp_path: Path, store: Store) -> None:
    assert store.datasets() == []
    conn = sqlite3.connect(tmp_path / "store.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
    assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000


def test_opening_twice_keeps_contents(tmp_path: Path, toy: MindDataset) -> None:
    with Store(tmp_path / "s.db") as first:
        first.import_dataset("toy", toy, source="imported")
        first.set_setting("active_dataset", "toy")
    with Store(tmp_path / "s.db") as again:
        assert again.get_setting("active_dataset") == "toy"
        assert again.dataset("toy")["summary"]["articles"] == 5


def test_newer_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store(path).close()
    Store(path).datasets()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with Store(path) as store, pytest.raises(RecengineError, match="newer recengine"):
        store.datasets()


def test_foreign_sqlite_file_and_garbage_are_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "other.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE photos (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(RecengineError, match="not a recengine store"):
        Store(foreign).datasets()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(RecengineError, match="not a database"):
        Store(garbage).datasets()


def test_default_store_lives_in_the_workspace(home: Path) -> None:
    with Store.default() as store:
        store.set_setting("k", 1)
    assert (home / "recengine.db").exists()


def test_store_reopens_after_close(store: Store) -> None:
    store.set_setting("a", [1, 2])
    store.close()
    assert store.get_setting("a") == [1, 2]


# --------------------------------------------------------------------------- import


def test_import_writes_articles_users_histories_and_clicks(store: Store, toy: MindDataset) -> None:
    counts = store.import_dataset("toy", toy, source="generated", preset="tiny", seed=7)
    assert counts["changed"] is True
    assert (counts["articles"], counts["users"], counts["clicks"], counts["impressions"]) == (5, 3, 6, 5)

    assert sorted(store.articles("toy")["news_id"]) == ["N1", "N2", "N3", "N4", "N5"]
    assert set(store.articles("toy")["source"]) == {"mind"}
    assert store.article("toy", "N5")["abstract"] == "Abstract of N5"
    assert store.article("toy", "N1")["title_entities"] == ENTITIES
    assert store.article("toy", "N9") is None

    users = store.users("toy").set_index("user_id")
    assert users.loc["U1"].tolist() == ["2019-11-11T09:00:00", 3, True]
    assert users.loc["U2"].tolist() == ["2019-11-11T10:00:00", 1, True]
    assert users.loc["U3"].tolist() == ["2019-11-13T11:00:00", 1, False]

    conn = store.db.conn
    histories = conn.execute("SELECT user_id, position, news_id FROM histories ORDER BY user_id, position").fetchall()
    # U1's latest impression is in dev; U3 has an empty history.
    assert histories == [("U1", 0, "N2"), ("U1", 1, "N1"), ("U1", 2, "N3"), ("U2", 0, "N1")]
    clicks = conn.execute(
        "SELECT user_id, news_id, time, impression_id, split, source FROM clicks ORDER BY time, news_id"
    ).fetchall()
    assert clicks == [
        ("U1", "N3", "2019-11-11T09:00:00", 1, "train", "impression"),
        ("U2", "N4", "2019-11-11T10:00:00", 2, "train", "impression"),
        ("U1", "N4", "2019-11-12T08:00:00", 3, "train", "impression"),
        ("U1", "N3", "2019-11-13T09:00:00", 1, "dev", "impression"),
        ("U3", "N3", "2019-11-13T11:00:00", 2, "dev", "impression"),
        ("U3", "N5", "2019-11-13T11:00:00", 2, "dev", "impression"),
    ]

    record = store.dataset("toy")
    assert (record["source"], record["preset"], record["seed"]) == ("generated", "tiny", 7)
    assert record["summary"]["splits"] == {"train": 3, "dev": 2}
    assert [d["name"] for d in store.datasets()] == ["toy"]
    assert store.dataset("nope") is None


def test_importing_the_same_folder_twice_changes_nothing(tmp_path: Path, store: Store) -> None:
    folder = make_dataset(tmp_path / "toy")
    store.import_dataset("toy", load_dataset(folder), source="imported")
    before = dump(store.path)
    again = store.import_dataset("toy", load_dataset(folder), source="imported")
    assert again["changed"] is False
    assert again["articles"] == 5
    assert dump(store.path) == before


def test_a_name_that_holds_other_data_is_refused(tmp_path: Path, store: Store) -> None:
    store.import_dataset("toy", load_dataset(make_dataset(tmp_path / "v1")), source="imported")
    store.add_article("toy", {"news_id": "A1", "title": "Added by hand"})
    before = dump(store.path)
    v2 = make_dataset(tmp_path / "v2", n1_title="A new title", with_u2=False, extra=True)
    with pytest.raises(InputError, match="'toy' already holds other data"):
        store.import_dataset("toy", load_dataset(v2), source="imported")
    assert dump(store.path) == before


def test_the_same_data_is_imported_once(tmp_path: Path, store: Store) -> None:
    store.import_dataset("toy", load_dataset(make_dataset(tmp_path / "toy")), source="imported")
    before = dump(store.path)
    with pytest.raises(InputError, match="already in the store as dataset 'toy'"):
        store.import_dataset("copy", load_dataset(make_dataset(tmp_path / "copy")), source="imported")
    assert dump(store.path) == before


class ExplodingSplit:
    """A split whose impressions fail to load: the second half of an import raises."""

    def __init__(self, split):
        self.name, self.path, self.news = split.name, split.path, split.news

    @property
    def behaviors(self):
        raise RuntimeError("injected failure")


def test_failure_in_the_dataset_half_way_leaves_the_store_unchanged(tmp_path: Path, store: Store) -> None:
    store.import_dataset("toy", load_dataset(make_dataset(tmp_path / "v1")), source="imported")
    before = dump(store.path)
    broken = load_dataset(make_dataset(tmp_path / "v2", extra=True, with_u2=False))
    broken.splits["dev"] = ExplodingSplit(broken.splits["dev"])
    with pytest.raises(RuntimeError, match="injected"):
        store.import_dataset("fresh", broken, source="imported")
    assert dump(store.path) == before


def test_failure_while_writing_rolls_the_whole_import_back(tmp_path: Path, store: Store) -> None:
    store.import_dataset("toy", load_dataset(make_dataset(tmp_path / "v1")), source="imported")
    store.add_article("toy", {"news_id": "A1", "title": "Added"})
    # The last table an import writes refuses one row, after the others were already replaced.
    store.db.execute(
        "CREATE TRIGGER fail BEFORE INSERT ON clicks WHEN NEW.news_id = 'N5' "
        "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
    )
    before = dump(store.path)
    changed = load_dataset(make_dataset(tmp_path / "v2", n1_title="Changed", with_u2=False, extra=True))
    with pytest.raises(sqlite3.IntegrityError, match="injected"):
        store.import_dataset("fresh", changed, source="imported")
    assert dump(store.path) == before
    # The resolver hits the same failure and leaves no trace either.
    with pytest.raises(sqlite3.IntegrityError):
        store.dataset_for(changed)
    assert dump(store.path) == before
    store.db.execute("DROP TRIGGER fail")
    assert store.import_dataset("fresh", changed, source="imported")["changed"] is True
    assert store.articles("fresh")["news_id"].tolist() == ["N1", "N2", "N3", "N4", "N5", "N6"]


def test_import_rejects_bad_arguments(store: Store, toy: MindDataset) -> None:
    with pytest.raises(InputError, match="source"):
        store.import_dataset("toy", toy, source="downloaded")
    with pytest.raises(InputError, match="dataset name"):
        store.import_dataset("", toy, source="imported")
    assert store.datasets() == []


def test_delete_dataset_removes_only_its_rows(tmp_path: Path, store: Store, toy: MindDataset) -> None:
    store.import_dataset("toy", toy, source="imported")
    store.import_dataset("keep", load_dataset(make_dataset(tmp_path / "keep", extra=True)), source="imported")
    store.record_click("toy", "U1", "N2")
    store.delete_dataset("toy")
    assert [d["name"] for d in store.datasets()] == ["keep"]
    for table in ("articles", "users", "histories", "clicks"):
        datasets = {row[0] for row in store.db.execute(f"SELECT DISTINCT dataset FROM {table}")}
        assert datasets == {"keep"}, table


def test_mind_sample_imports(mind_sample: Path, store: Store) -> None:
    lines = (mind_sample / "behaviors.tsv").read_text(encoding="utf-8").splitlines()
    clicked = set()
    for line in lines:
        _, user, time, _, items = line.split("\t")
        stamp = datetime.strptime(time, "%m/%d/%Y %I:%M:%S %p").isoformat()
        clicked.update((user, item[:-2], stamp) for item in items.split() if item.endswith("-1"))
    counts = store.import_dataset("sample", load_dataset(mind_sample), source="imported")
    assert counts["articles"] == 2000
    assert counts["impressions"] == 5000
    assert len(store.articles("sample")) == 2000
    assert len(store.users("sample")) == len({line.split("\t")[1] for line in lines})
    stored = set(store.db.execute("SELECT user_id, news_id, time FROM clicks WHERE dataset = 'sample'").fetchall())
    assert stored == clicked


# --------------------------------------------------------------------------- articles


def test_add_article_round_trip(store: Store, toy: MindDataset) -> None:
    store.import_dataset("toy", toy, source="imported")
    store.add_article(
        "toy",
        {"news_id": "A1", "category": "sports", "title": "Local team wins", "title_entities": ENTITIES},
        run_id="run-1",
    )
    article = store.article("toy", "A1")
    assert (article["title"], article["category"], article["abstract"]) == ("Local team wins", "sports", "")
    assert (article["source"], article["added_by_run"]) == ("added", "run-1")
    assert article["title_entities"] == ENTITIES
    assert datetime.fromisoformat(article["added_at"]) <= datetime.now(UTC).replace(tzinfo=None)
    added = store.added_articles("toy")
    assert added["news_id"].tolist() == ["A1"]
    assert store.articles("toy")["news_id"].tolist()[-1] == "A1"
    assert len(store.articles("toy", source="mind")) == 5


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"news_id": "N1", "title": "Exists as a MIND article"}, "already exists"),
        ({"news_id": "A1", "title": "Exists as an added article"}, "already exists"),
        ({"news_id": "A2", "title": ""}, "empty title"),
        ({"news_id": "A2", "title": "   "}, "empty title"),
        ({"news_id": "A2"}, "empty title"),
        ({"news_id": "", "title": "No id"}, "news id"),
        ({"news_id": "A 2", "title": "Space in id"}, "news id"),
        ({"news_id": "A2", "title": "Tab\tinside"}, "tab or line break"),
        ({"news_id": "A2", "title": "Bad entities", "title_entities": "[{"}, "not valid JSON"),
        ({"news_id": "A2", "title": "Unknown field", "body": "text"}, "unknown article fields"),
    ],
)
def test_add_article_rejects_bad_rows_and_writes_nothing(
    store: Store, toy: MindDataset, row: dict, message: str
) -> None:
    store.import_dataset("toy", toy, source="imported")
    store.add_article("toy", {"news_id": "A1", "title": "First"})
    before = dump(store.path)
    with pytest.raises(InputError, match=message):
        store.add_article("toy", row)
    assert dump(store.path) == before


def test_add_article_needs_a_known_dataset(store: Store) -> None:
    with pytest.raises(InputError, match="unknown dataset"):
        store.add_article("nope", {"news_id": "A1", "title": "T"})


# --------------------------------------------------------------------------- users and clicks


def test_user_history_orders_dedupes_and_limits(store: Store, toy: MindDataset) -> None:
    store.import_dataset("toy", toy, source="imported")
    # History N2 N1 N3, then clicks N3 (11/11), N4 (11/12), N3 (11/13): latest occurrence kept.
    assert store.user_history("toy", "U1") == ["N2", "N1", "N4", "N3"]
    assert store.user_history("toy", "U1", limit=2) == ["N4", "N3"]
    assert store.user_history("toy", "U1", limit=0) == []
    assert store.user_history("toy", "U3") == ["N3", "N5"]
    assert store.user_history("toy", "nobody") == []
    with pytest.raises(InputError, match="limit"):
        store.user_history("toy", "U1", limit=-1)

    store.record_click("toy", "U1", "N1", datetime(2019, 11, 14, 8, 0))
    assert store.user_history("toy", "U1") == ["N2", "N4", "N3", "N1"]
    # An aware time is converted to UTC before it is ordered.
    store.record_click("toy", "U1", "N4", datetime(2019, 11, 14, 10, 0, tzinfo=timezone(timedelta(hours=3))))
    assert store.user_history("toy", "U1") == ["N2", "N3", "N4", "N1"]
    store.record_click("toy", "U1", "N2")
    assert store.user_history("toy", "U1", limit=3) == ["N4", "N1", "N2"]


def test_live_click_makes_a_new_user_known(store: Store, toy: MindDataset) -> None:
    store.import_dataset("toy", toy, source="imported")
    assert not store.user_exists("toy", "NEW")
    store.record_click("toy", "NEW", "N5", datetime(2019, 11, 20, 12, 0, 0))
    store.record_click("toy", "NEW", "N5", datetime(2019, 11, 20, 12, 0, 0))  # the same click again
    assert store.user_exists("toy", "NEW")
    assert store.users("toy").set_index("user_id").loc["NEW"].tolist() == ["2019-11-20T12:00:00", 0, False]
    rows = store.db.execute("SELECT source, impression_id FROM clicks WHERE user_id = 'NEW'").fetchall()
    assert rows == [("live", None)]
    assert store.user_exists("toy", "U3")
    assert not store.user_exists("other", "U3")


def test_record_click_rejects_unknown_dataset_article_and_bad_ids(store: Store, toy: MindDataset) -> None:
    store.import_dataset("toy", toy, source="imported")
    with pytest.raises(InputError, match="unknown dataset"):
        store.record_click("nope", "U1", "N1")
    with pytest.raises(InputError, match="unknown article"):
        store.record_click("toy", "U1", "N999")
    with pytest.raises(InputError, match="user id"):
        store.record_click("toy", "", "N1")
    with pytest.raises(InputError, match="datetime"):
        store.record_click("toy", "U1", "N1", "2019-11-20")  # type: ignore[arg-type]


def test_popular_articles(store: Store, toy: MindDataset) -> None:
    store.import_dataset("toy", toy, source="imported")
    # Impression clicks: N3 x3, N4 x2, N5 x1.
    assert store.popular_articles("toy").values.tolist() == [["N3", 3], ["N4", 2], ["N5", 1]]
    store.record_click("toy", "U7", "N5", datetime(2019, 11, 20))
    store.record_click("toy", "U8", "N5", datetime(2019, 11, 20))
    store.record_click("toy", "U8", "N5", datetime(2019, 11, 21))
    assert store.popular_articles("toy", limit=2).values.tolist() == [["N5", 4], ["N3", 3]]
    since = store.popular_articles("toy", since=datetime(2019, 11, 13, 9, 0))
    assert since.values.tolist() == [["N5", 4], ["N3", 2]]
    assert store.popular_articles("toy", since=datetime(2030, 1, 1)).columns.tolist() == ["news_id", "clicks"]


# --------------------------------------------------------------------------- concurrency

CHILD = """
import sys
from datetime import datetime, timedelta
from recengine.data.store import Store
store = Store(sys.argv[1])
store.user_exists("toy", "P1")  # open the connection before the start signal
print("ready", flush=True)
sys.stdin.readline()
for i in range(40):
    store.record_click("toy", "P1", "N3", datetime(2020, 1, 1) + timedelta(seconds=i))
    if i % 8 == 0:
        store.add_article("toy", {"news_id": f"P{i}", "title": f"From the process {i}"})
store.close()
"""


def test_concurrent_threads_and_a_process_all_write(store: Store, toy: MindDataset) -> None:
    store.import_dataset("toy", toy, source="imported")
    base = datetime(2020, 1, 1)
    threads_n, clicks_n = 6, 40
    barrier = threading.Barrier(threads_n + 1)
    errors: list[BaseException] = []

    def clicker(k: int) -> None:
        try:
            barrier.wait()
            for i in range(clicks_n):
                store.record_click("toy", f"T{k}", "N4", base + timedelta(seconds=i))
                if k % 2 == 0 and i % 4 == 0:
                    store.add_article("toy", {"news_id": f"T{k}-{i}", "title": f"Thread {k} article {i}"})
                store.user_history("toy", f"T{k}")
        except BaseException as exc:  # reported below; a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=clicker, args=(k,)) for k in range(threads_n)]
    for thread in threads:
        thread.start()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(store.path)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Start everyone together once the child has paid for its imports.
    assert child.stdout.readline().strip() == "ready", child.stderr.read()
    barrier.wait()
    child.stdin.write("go\n")
    child.stdin.flush()
    for thread in threads:
        thread.join()
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == 0, stderr
    assert errors == []

    for k in range(threads_n):
        assert len(store.user_history("toy", f"T{k}")) == 1
        n = store.db.execute("SELECT COUNT(*) FROM clicks WHERE user_id = ?", (f"T{k}",)).fetchone()[0]
        assert n == clicks_n
    assert store.db.execute("SELECT COUNT(*) FROM clicks WHERE user_id = 'P1'").fetchone()[0] == 40
    added = set(store.added_articles("toy")["news_id"])
    expected = {f"T{k}-{i}" for k in range(0, threads_n, 2) for i in range(0, clicks_n, 4)}
    assert added == expected | {f"P{i}" for i in range(0, 40, 8)}
    assert {f"T{k}" for k in range(threads_n)} | {"P1"} <= set(store.users("toy")["user_id"])


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts open files through /proc")
def test_finished_threads_do_not_keep_connections_open(store: Store) -> None:
    def open_files() -> int:
        fds = Path("/proc/self/fd")
        count = 0
        for fd in fds.iterdir():
            try:
                count += str(store.path) in str(fd.readlink())
            except OSError:  # closed while listing
                pass
        return count

    store.set_setting("warm", True)
    baseline = open_files()
    for k in range(30):
        thread = threading.Thread(target=store.set_setting, args=(f"thread-{k}", k))
        thread.start()
        thread.join()
    assert open_files() <= baseline + 3  # at most one more connection's files
    assert store.get_setting("thread-29") == 29


# --------------------------------------------------------------------------- runs


def metrics_block(auc: float) -> dict:
    return {"auc": auc, "mrr": auc / 2, "ndcg@5": auc / 3, "ndcg@10": auc / 4, "impressions": 100, "skipped": 2}


def test_run_and_metrics_round_trip(store: Store) -> None:
    metrics = {
        "model": metrics_block(0.7),
        "random": metrics_block(0.5),
        "oracle": metrics_block(0.9),
        "slices": {"warm": metrics_block(0.72), "new_articles": metrics_block(0.6), "cold_users": metrics_block(0.66)},
    }
    config = {"fusion": "attention", "temperature": 0.1, "views": ["id", "text"]}
    store.register_run("r1", dataset="toy", path="/runs/r1", mode="full", parent=None, config=config, metrics=metrics)
    run = store.run("r1")
    assert (run["dataset"], run["path"], run["mode"], run["parent"], run["status"]) == (
        "toy", "/runs/r1", "full", None, "complete"
    )
    assert run["config"] == config
    assert run["metrics"] == metrics

    long = store.run_metrics("r1")
    assert len(long) == 6 * 6  # model overall and 3 slices, random, oracle; 6 metrics each
    values = {(r.scorer, r.slice, r.metric): r.value for r in long.itertuples()}
    assert values[("model", "all", "auc")] == 0.7
    assert values[("model", "warm", "auc")] == 0.72
    assert values[("model", "cold_users", "ndcg@10")] == pytest.approx(0.66 / 4)
    assert values[("random", "all", "mrr")] == 0.25
    assert values[("oracle", "all", "impressions")] == 100
    assert not any(s != "all" for (scorer, s, _) in values if scorer != "model")

    # Re-registering updates the run and keeps its metrics and creation time.
    created = run["created_at"]
    store.register_run("r1", dataset="toy", path="/runs/r1", mode="full", parent=None, config=config,
                       metrics=None, status="archived")
    assert store.run("r1")["status"] == "archived"
    assert store.run("r1")["created_at"] == created
    assert store.run("r1")["metrics"] == metrics

    # New metrics replace the old rows; no oracle, a slice without impressions.
    store.set_run_metrics("r1", {"model": metrics_block(0.8), "random": metrics_block(0.5), "oracle": None,
                                 "slices": {"warm": metrics_block(0.81), "cold_users": None}})
    long = store.run_metrics("r1")
    assert sorted(set(zip(long.scorer, long.slice))) == [("model", "all"), ("model", "warm"), ("random", "all")]
    assert store.run("r1")["metrics"]["oracle"] is None

    store.register_run("r2", dataset="toy", path="/runs/r2", mode="incremental", parent="r1", config={})
    store.register_run("r3", dataset="other", path="/runs/r3", mode="full", parent=None, config={})
    assert [r["run_id"] for r in store.runs("toy")] == ["r2", "r1"]
    assert {r["run_id"] for r in store.runs()} == {"r1", "r2", "r3"}
    assert store.run("r2")["parent"] == "r1"
    assert store.run("r2")["metrics"] is None
    assert set(store.run_metrics(dataset="toy")["run_id"]) == {"r1"}

    store.delete_run("r1")
    assert store.run("r1") is None
    assert store.run_metrics("r1").empty


def test_run_validation(store: Store) -> None:
    with pytest.raises(InputError, match="mode"):
        store.register_run("r", dataset="d", path="p", mode="partial", parent=None, config={})
    with pytest.raises(InputError, match="JSON"):
        store.register_run("r", dataset="d", path="p", mode="full", parent=None, config={"f": object()})
    with pytest.raises(InputError, match="slice name"):
        store.register_run("r", dataset="d", path="p", mode="full", parent=None, config={},
                           metrics={"model": {}, "random": {}, "slices": {"week end": {}}})
    with pytest.raises(InputError, match="cannot be named 'all'"):
        store.register_run("r", dataset="d", path="p", mode="full", parent=None, config={},
                           metrics={"model": {}, "random": {}, "slices": {"all": {}}})
    with pytest.raises(InputError, match="finite"):
        store.register_run("r", dataset="d", path="p", mode="full", parent=None, config={},
                           metrics={"model": {"auc": float("inf")}, "random": {}})
    with pytest.raises(InputError, match="number"):
        store.register_run("r", dataset="d", path="p", mode="full", parent=None, config={},
                           metrics={"model": {"auc": "high"}, "random": {}})
    assert store.runs() == []
    with pytest.raises(InputError, match="unknown run"):
        store.set_run_metrics("r", {"model": {}, "random": {}})


# --------------------------------------------------------------------------- comparisons and settings


def evaluation(auc: float, **slices: float) -> dict:
    """An evaluation dict as runs and grid cells have it: model overall and per slice, random and oracle."""
    return {"model": metrics_block(auc), "random": metrics_block(0.5), "oracle": metrics_block(0.9),
            "slices": {name: metrics_block(value) for name, value in slices.items()}}


def cell(fusion: str, temperature: float, **optional) -> dict:
    return {"fusion": fusion, "temperature": temperature, "loss": "bce", "seed": 1, **optional}


def test_comparison_round_trip(store: Store) -> None:
    grid = {"fusion": ["concat", "attention"], "temperature": [0.1, 0.5], "seeds": [1]}
    cid = store.start_comparison("toy", grid)
    other = store.start_comparison("other", {})
    store.add_comparison_cell(cid, 1, cell("concat", 0.1), evaluation(0.61, warm=0.7))
    store.add_comparison_cell(cid, 2, cell("attention", 0.5, run_id="r7", best_epoch=3, seconds=1.5),
                              evaluation(0.64, warm=0.72, new_articles=0.6))
    # The same cell again replaces the earlier one, values included (its slice is gone).
    store.add_comparison_cell(cid, 1, cell("concat", 0.1), evaluation(0.62))

    listed = store.comparisons("toy")
    assert [(c["id"], c["status"], c["grid"], c["results"]) for c in listed] == [(cid, "running", grid, 2)]
    store.finish_comparison(cid)
    assert store.comparisons("toy")[0]["status"] == "complete"
    assert [c["id"] for c in store.comparisons()] == [other, cid]

    cells = store.comparison_cells(cid)
    assert cells.columns.tolist() == ["cell", "fusion", "temperature", "loss", "seed", "run_id", "best_epoch",
                                      "seconds"]
    assert cells["fusion"].tolist() == ["concat", "attention"]
    assert cells["run_id"].isna().tolist() == [True, False]
    assert cells.iloc[1][["run_id", "best_epoch", "seconds"]].tolist() == ["r7", 3, 1.5]

    values = store.comparison_metrics(cid)
    assert values.columns.tolist() == ["cell", "scorer", "slice", "metric", "value"]
    by_key = {(r.cell, r.scorer, r.slice, r.metric): r.value for r in values.itertuples()}
    assert len(by_key) == len(values) == 3 * 6 + 5 * 6  # cell 1: model, random, oracle; cell 2: and two slices
    assert by_key[(1, "model", "all", "auc")] == 0.62
    assert by_key[(2, "model", "new_articles", "ndcg@5")] == pytest.approx(0.6 / 3)
    assert by_key[(2, "oracle", "all", "auc")] == 0.9
    assert not [key for key in by_key if key[0] == 1 and key[2] == "warm"]
    assert store.comparison_metrics(other).empty and store.comparison_cells(other).empty
    with pytest.raises(InputError, match="unknown comparison"):
        store.finish_comparison(999)


def test_comparison_values_keep_any_metric_and_slice_name_and_nan_as_null(store: Store) -> None:
    cid = store.start_comparison("toy", {})
    metrics = evaluation(0.6, weekend=0.55)
    metrics["model"]["recall@20"] = 0.4  # a metric and a slice the store has never heard of
    metrics["model"]["mrr"] = float("nan")  # undefined here: stored as NULL
    store.add_comparison_cell(cid, 0, cell("gate", 0.2), metrics)
    values = store.comparison_metrics(cid).set_index(["scorer", "slice", "metric"])["value"]
    assert values[("model", "all", "recall@20")] == 0.4
    assert values[("model", "weekend", "auc")] == 0.55
    assert np.isnan(values[("model", "all", "mrr")])
    (stored,) = store.db.execute("SELECT value FROM comparison_metrics WHERE metric = 'mrr' AND slice = 'all' "
                                 "AND scorer = 'model'").fetchone()
    assert stored is None


@pytest.mark.parametrize("comparison, number, settings, metrics, message", [
    (None, 1, {"fusion": "gate"}, evaluation(0.6), "lacks temperature, loss, seed"),
    (None, 1, cell("gate", 0.1, epochs=3), evaluation(0.6), "unknown comparison cell settings epochs"),
    (None, 1, cell("two words", 0.1), evaluation(0.6), "fusion"),
    (None, 1, cell("gate", float("nan")), evaluation(0.6), "temperature must be a number"),
    (None, 1, {**cell("gate", 0.1), "seed": -1}, evaluation(0.6), "seed must be a whole number"),
    (None, 1.5, cell("gate", 0.1), evaluation(0.6), "cell number"),
    (None, 1, cell("gate", 0.1), {**evaluation(0.6), "slices": {"new articles": {}}}, "slice name"),
    (None, 1, cell("gate", 0.1), {**evaluation(0.6), "random": {"auc": float("-inf")}}, "finite"),
    (None, 1, cell("gate", 0.1), {**evaluation(0.6), "model": {"": 0.6}}, "metric name"),
    (999, 1, cell("gate", 0.1), evaluation(0.6), "unknown comparison 999"),
])
def test_bad_comparison_cells_are_refused_and_write_nothing(
    store: Store, comparison: int | None, number: object, settings: dict, metrics: dict, message: str
) -> None:
    cid = store.start_comparison("toy", {}) if comparison is None else comparison
    with pytest.raises(InputError, match=message):
        store.add_comparison_cell(cid, number, settings, metrics)
    assert store.comparison_cells(cid).empty and store.comparison_metrics(cid).empty


# The comparison table of schema version 2: one wide row per cell, the rest of its values in JSON.
V2_COMPARISON_RESULTS = """
CREATE TABLE comparison_results (
    id INTEGER PRIMARY KEY,
    comparison_id INTEGER NOT NULL,
    fusion TEXT NOT NULL,
    temperature REAL NOT NULL,
    loss TEXT NOT NULL,
    seed INTEGER NOT NULL,
    run_id TEXT,
    auc REAL,
    mrr REAL,
    ndcg5 REAL,
    ndcg10 REAL,
    random_auc REAL,
    oracle_auc REAL,
    extra TEXT NOT NULL,
    UNIQUE (comparison_id, fusion, temperature, loss, seed)
);
"""


def make_v2_store(path: Path) -> None:
    """A store as schema version 2 wrote it: two comparisons, wide rows (one with no oracle, an empty slice)."""
    with Store(path) as store:
        store.datasets()  # creates the file in the current schema; its comparison tables are replaced below
    conn = sqlite3.connect(path)
    conn.executescript(f"DROP TABLE comparison_cells; DROP TABLE comparison_metrics; {V2_COMPARISON_RESULTS}")
    conn.executemany("INSERT INTO comparisons (id, dataset, created_at, grid, status) VALUES (?, 'toy', "
                     "'2026-01-01T00:00:00', '{}', 'complete')", [(1,), (2,)])
    extra = {"warm_auc": 0.66, "new_articles_auc": None, "cold_users_auc": 0.58, "best_epoch": 2, "seconds": 3.5}
    conn.executemany(
        "INSERT INTO comparison_results (id, comparison_id, fusion, temperature, loss, seed, run_id, auc, mrr, "
        "ndcg5, ndcg10, random_auc, oracle_auc, extra) VALUES (?, ?, ?, ?, 'listwise', 0, ?, ?, 0.3, 0.31, 0.4, "
        "0.5, ?, ?)",
        [(10, 2, "gate", 0.1, "r-gate", 0.61, 0.8, json.dumps(extra)),
         (11, 1, "concat", 0.5, None, 0.6, None, "{}"),
         (12, 2, "attention", 0.1, "r-att", 0.64, 0.8, json.dumps({**extra, "warm_auc": 0.7}))],
    )
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()


def test_a_version_2_store_keeps_its_comparisons_in_the_long_layout(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    make_v2_store(path)
    with Store(path) as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert "comparison_results" not in store.db.table_names()
        assert [(c["id"], c["results"]) for c in store.comparisons()] == [(2, 2), (1, 1)]
        cells = store.comparison_cells(2)
        assert cells[["cell", "fusion", "run_id", "best_epoch", "seconds"]].values.tolist() == [
            [1, "gate", "r-gate", 2, 3.5], [2, "attention", "r-att", 2, 3.5]
        ]
        values = store.comparison_metrics(2)
        by_key = {(r.cell, r.scorer, r.slice, r.metric): r.value for r in values.itertuples()}
        assert by_key == {
            **{(c, "model", "all", m): v for c in (1, 2) for m, v in (("mrr", 0.3), ("ndcg@5", 0.31),
                                                                      ("ndcg@10", 0.4))},
            (1, "model", "all", "auc"): 0.61, (2, "model", "all", "auc"): 0.64,
            **{(c, scorer, "all", "auc"): v for c in (1, 2) for scorer, v in (("random", 0.5), ("oracle", 0.8))},
            (1, "model", "warm", "auc"): 0.66, (2, "model", "warm", "auc"): 0.7,
            **{(c, "model", "cold_users", "auc"): 0.58 for c in (1, 2)},
        }
        # No oracle and no extra: only the model's and random's values, and no best epoch.
        assert store.comparison_cells(1)[["cell", "fusion", "best_epoch"]].values.tolist() == [[1, "concat", None]]
        assert set(store.comparison_metrics(1)["scorer"]) == {"model", "random"}
        # The upgraded store takes new cells.
        store.add_comparison_cell(1, 2, cell("gate", 0.5), evaluation(0.63))
        assert store.comparison_cells(1)["cell"].tolist() == [1, 2]


def test_settings_round_trip(store: Store) -> None:
    assert store.get_setting("active_run") is None
    assert store.get_setting("active_run", "none") == "none"
    store.set_setting("active_run", "r1")
    store.set_setting("active_run", "r2")
    store.set_setting("ui", {"theme": "dark", "k": [1, 2]})
    assert store.get_setting("active_run") == "r2"
    assert store.get_setting("ui") == {"theme": "dark", "k": [1, 2]}
    with pytest.raises(InputError, match="JSON"):
        store.set_setting("bad", {1, 2})


# --------------------------------------------------------------------------- damage and faults


def test_damaged_pages_are_reported_before_anything_is_written(tmp_path: Path, toy: MindDataset, capsys) -> None:
    path = tmp_path / "s.db"
    with Store(path) as store:
        store.import_dataset("toy", toy, source="imported")
        for i in range(300):  # a file of many pages, so its middle third is table pages
            store.set_setting(f"key{i}", "x" * 1000)
    data = bytearray(path.read_bytes())
    third = len(data) // 3
    data[third : 2 * third] = b"\xa5" * third
    for name in ("damaged.db", "damaged-cli.db"):  # new files: this process has not checked them yet
        (tmp_path / name).write_bytes(bytes(data))

    with pytest.raises(RecengineError, match=r"damaged\.db: the store file is damaged .*quick_check: ") as caught:
        Store(tmp_path / "damaged.db").set_setting("after", 1)
    assert "\n" not in str(caught.value) and "Move it aside" in str(caught.value)
    assert (tmp_path / "damaged.db").read_bytes() == bytes(data)

    cli = tmp_path / "damaged-cli.db"
    assert main(["recommend", "--run", str(tmp_path / "no-run"), "--user", "U1", "--store", str(cli)]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"error: {cli}: the store file is damaged")
    assert cli.read_bytes() == bytes(data)


def test_a_read_only_store_fails_in_one_line_naming_it(store: Store, toy: MindDataset) -> None:
    store.import_dataset("toy", toy, source="imported")
    store.db.execute("PRAGMA query_only = ON")  # what a read-only file or mount answers
    with pytest.raises(RecengineError, match=f"^{store.path}: the store cannot be written .*readonly"):
        store.record_click("toy", "U1", "N1")


def test_an_immutable_store_file_fails_in_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store(path) as store:
        store.set_setting("kept", 1)
    # Root ignores permission bits but not the immutable flag.
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("this file system cannot make a file immutable")
    try:
        with Store(path) as store:
            assert store.get_setting("kept") == 1
            with pytest.raises(RecengineError, match=f"^{path}: the store cannot be written"):
                store.set_setting("new", 2)
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_full_disk_fails_in_one_line_and_leaves_the_store_as_it_was(store: Store, tiny_data: Path) -> None:
    store.set_setting("before", 1)
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")  # what a full disk answers
    before = dump(store.path)
    with pytest.raises(RecengineError, match=f"^{store.path}: the store cannot grow: the disk is full"):
        store.import_dataset("tiny", load_dataset(tiny_data), source="generated")
    assert dump(store.path) == before
    assert store.datasets() == []


def test_a_store_that_cannot_be_created_fails_in_one_line_naming_it(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    path = blocker / "recengine.db"
    with pytest.raises(RecengineError, match=f"^{path}: cannot create the store's folder"):
        Store(path).datasets()
    assert main(["recommend", "--run", str(tmp_path / "no-run"), "--user", "U1", "--store", str(path)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(f"error: {path}: cannot create")
    folder = tmp_path / "a folder"
    folder.mkdir()
    with pytest.raises(RecengineError, match=f"^{folder}: cannot open the store"):
        Store(folder).datasets()


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf"])
def test_a_bad_store_timeout_is_refused(store: Store, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("RECENGINE_STORE_TIMEOUT", value)
    with pytest.raises(InputError, match="RECENGINE_STORE_TIMEOUT must be a number of seconds"):
        store.datasets()
