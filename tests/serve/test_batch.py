"""Batch runs: listing, sharding, the store, failures and retries, export, and the CLI."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from radlens.cli.main import main
from radlens.errors import DataError, InputError
from radlens.schema import Interpretation
from radlens.schema_json import from_json
from radlens.serve.batch import BatchItem, list_items, run_batch, select_shard, shard_of
from radlens.serve.export import export
from radlens.serve.store import ResultStore
from tests.serve.conftest import write_png
from tests.serve.tasks import crash_on_marked, hang_on_marked


def test_folder_listing_is_recursive_sorted_and_skips_hidden(image_folder: Path) -> None:
    keys = [it.key for it in list_items(image_folder)]
    assert keys == ["img0.png", "img1.png", "img2.png", "sub/broken.png", "sub/deep0.png",
                    "sub/deep1.png"]
    assert "notes.txt" in [it.key for it in list_items(image_folder, all_files=True)]
    assert all(Path(it.path).is_absolute() for it in list_items(image_folder))


def test_csv_listing(tmp_path: Path, image_folder: Path) -> None:
    with_header = tmp_path / "list.csv"
    with_header.write_text("id,path\n1,images/img0.png\n2,images/img0.png\n3,"
                           f"{image_folder / 'img1.png'}\n")
    items = list_items(with_header)
    assert [it.key for it in items] == ["images/img0.png", str(image_folder / "img1.png")]
    assert Path(items[0].path) == image_folder / "img0.png"
    bare = tmp_path / "bare.csv"
    bare.write_text("images/img2.png\n")
    assert [it.key for it in list_items(bare)] == ["images/img2.png"]
    with pytest.raises(DataError, match="empty"):
        (tmp_path / "empty.csv").write_text("")
        list_items(tmp_path / "empty.csv")
    with pytest.raises(InputError, match=r"folder or a \.csv"):
        list_items(image_folder / "img0.png")


def test_shards_partition_the_items() -> None:
    items = [BatchItem(f"k{i}", f"/p/{i}") for i in range(200)]
    shards = [select_shard(items, i, 3) for i in range(3)]
    keys = [it.key for s in shards for it in s]
    assert sorted(keys) == sorted(it.key for it in items)  # disjoint and complete
    assert all(25 < len(s) < 100 for s in shards)
    assert shard_of("k7", 3) == shard_of("k7", 3)
    with pytest.raises(DataError):
        select_shard(items, 3, 3)


def test_run_records_results_and_failures_then_resumes(image_folder: Path,
                                                        tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite"
    items = list_items(image_folder)
    with ResultStore(db) as store:
        first = run_batch(items, store, workers=0, progress=False)
        assert (first.done, first.failed, first.skipped) == (5, 1, 0)
        failed = list(store.items("failed"))
        assert [f.key for f in failed] == ["sub/broken.png"]
        assert failed[0].error_type == "UnsupportedFormatError"
        assert "broken.png" in (failed[0].error or "")
        for row in store.items("done"):
            interp = from_json(row.result or "", Interpretation)
            assert interp.image.width == 256
        again = run_batch(items, store, workers=0, progress=False)
        assert (again.done, again.failed, again.skipped) == (0, 0, 6)
        # fix the broken file, then --retry-failed picks it up
        write_png(image_folder / "sub" / "broken.png", np.full((256, 256), 0.5))
        retry = run_batch(items, store, workers=0, progress=False, retry_failed=True)
        assert retry.skipped == 5 and retry.done + retry.failed == 1
        row = next(r for r in store.items() if r.key == "sub/broken.png")
        assert row.attempts == 2
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT count(*), count(DISTINCT key) FROM items").fetchone() == (6, 6)


def test_store_refuses_another_model(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "r.sqlite") as store:
        run_batch([], store, workers=0, model="model-a", progress=False)
        with pytest.raises(DataError, match="model-a"):
            run_batch([], store, workers=0, model="model-b", progress=False)


def test_not_a_store(tmp_path: Path) -> None:
    bogus = tmp_path / "x.sqlite"
    bogus.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(DataError, match="not a radlens result store"):
        ResultStore(bogus)
    with pytest.raises(InputError, match="no such result store"):
        ResultStore(tmp_path / "missing.sqlite", readonly=True)


def test_worker_crash_blames_only_the_culprit(tmp_path: Path) -> None:
    items = [BatchItem(f"ok{i}", f"/x/{i}") for i in range(6)] + [BatchItem("crash", "/x/c")]
    with ResultStore(tmp_path / "r.sqlite") as store:
        summary = run_batch(items, store, workers=2, progress=False, task=crash_on_marked)
        assert (summary.done, summary.failed) == (6, 1)
        bad = next(store.items("failed"))
        assert bad.key == "crash" and bad.error_type == "WorkerDied"


def test_hung_item_times_out_and_only_it_fails(tmp_path: Path) -> None:
    items = [BatchItem(f"ok{i}", f"/x/{i}") for i in range(3)] + [BatchItem("hang", "/x/h")] + \
        [BatchItem(f"ok{i}", f"/x/{i}") for i in range(3, 6)]
    t0 = time.perf_counter()
    with ResultStore(tmp_path / "r.sqlite") as store:
        summary = run_batch(items, store, workers=2, progress=False, task=hang_on_marked,
                            item_timeout=3.0)
        assert (summary.done, summary.failed) == (6, 1)
        bad = next(store.items("failed"))
        assert bad.key == "hang" and bad.error_type == "TimedOut"
        assert "/x/h" in bad.error and "3 s" in bad.error
    assert time.perf_counter() - t0 < 120


def test_export_csv_and_jsonl(image_folder: Path, tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite"
    with ResultStore(db) as store:
        run_batch(list_items(image_folder), store, workers=0, progress=False)
    n = export([db], tmp_path / "out.csv")
    rows = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert n == 6 and len(rows) == 6
    assert {r["status"] for r in rows} == {"done", "failed"}
    assert export([db], tmp_path / "out.jsonl") == 6
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert {("interpretation" in x, "error" in x) for x in lines} == {(True, False),
                                                                       (False, True)}
    buf = io.StringIO()
    assert export([db], None, "jsonl", status="failed", stdout=buf) == 1


def test_cli_batch_and_export(image_folder: Path, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "r.sqlite"
    argv = ["batch", str(image_folder), "--store", str(db), "-j", "0", "--no-progress"]
    assert main([*argv, "--json"]) == 1  # one file failed
    summary = json.loads(capsys.readouterr().out)
    assert (summary["done"], summary["failed"], summary["items"]) == (5, 1, 6)
    assert main([*argv, "--shard-index", "0", "--shard-count", "2", "--json"]) in (0, 1)
    assert json.loads(capsys.readouterr().out)["done"] == 0
    assert main(["batch", "export", str(db), "--format", "csv", "--status", "done"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 6 and out.startswith("key,path,status")
    assert main(["batch", str(tmp_path / "nope"), "--store", str(db)]) == 2
    assert "nope: no such folder or CSV file" in capsys.readouterr().err


def test_non_utf8_file_names_round_trip_and_resume(tmp_path: Path, chest_like: np.ndarray) -> None:
    import os

    root = tmp_path / "names"
    root.mkdir()
    good = tmp_path / "good.png"
    write_png(good, chest_like)
    raw_root = os.fsencode(root)
    for name in (b"caf\xe9.png", b"\xff\xfe-film.png", b"plain.png"):  # Latin-1, junk, ASCII
        with open(raw_root + b"/" + name, "wb") as fh:
            fh.write(good.read_bytes())
    with open(raw_root + b"/bad\xe9.png", "wb") as fh:
        fh.write(b"not a png")
    items = list_items(root)
    assert len(items) == 4
    db = tmp_path / "n.sqlite"
    with ResultStore(db) as store:
        first = run_batch(items, store, workers=0, progress=False)
        assert (first.done, first.failed) == (3, 1)
        stored = {it.key: it for it in store.items()}
        assert set(stored) == {it.key for it in items}  # exactly the listed names, bytes intact
        for it in items:
            assert os.fsencode(stored[it.key].path) == os.fsencode(it.path)
        bad = next(it for it in stored.values() if it.status == "failed")
        assert os.fsencode(bad.key) == b"bad\xe9.png"
        again = run_batch(items, store, workers=0, progress=False)
        assert (again.done, again.failed, again.skipped) == (0, 0, 4)
    assert len({shard_of(it.key, 3) for it in items}) >= 1


def test_second_batch_process_on_a_store_is_refused(tmp_path: Path, image_folder: Path) -> None:
    import threading

    db = tmp_path / "lock.sqlite"
    items = [BatchItem(f"hang-{i}", str(image_folder / "img0.png")) for i in range(2)]
    started = threading.Event()

    def slow(key: str, path: str, model: str | None, explain: bool
             ) -> tuple[str, str, str, str, str, float]:
        started.set()
        time.sleep(0.5)
        return key, path, "done", '{"findings": []}', "", 0.5

    def first_run() -> None:
        with ResultStore(db) as first:  # SQLite connections stay in their thread
            run_batch(items, first, workers=0, progress=False, task=slow)

    runner = threading.Thread(target=first_run)
    runner.start()
    assert started.wait(10)
    with ResultStore(db) as second, pytest.raises(DataError) as info:
        run_batch(items, second, workers=0, progress=False, task=slow)
    assert "another batch run" in info.value.reason and info.value.source == str(db)
    runner.join(10)
    with ResultStore(db) as later:  # the lock went with the run
        assert later.counts() == {"done": 2}
        assert run_batch(items, later, workers=0, progress=False, task=slow).skipped == 2


def test_decode_deadline_fails_only_the_slow_file_and_names_it(tmp_path: Path,
                                                              chest_like: np.ndarray) -> None:
    from PIL import Image as PILImage

    root = tmp_path / "in"
    for i in range(2):
        write_png(root / f"ok{i}.png", np.roll(chest_like, i))
    from radlens.io import load_image

    row = np.linspace(0, 255, 9000).astype(np.uint8)  # 81 M pixels in a small file
    PILImage.fromarray(np.tile(row, (9000, 1))).save(root / "slow.png", compress_level=9)
    # the limit is set from this machine's own decode times, so that a fast machine (where
    # the big file decodes quickly) still sees the big file stopped and the small ones pass
    t0 = time.perf_counter()
    load_image(root / "ok0.png")
    t_ok = time.perf_counter() - t0
    t0 = time.perf_counter()
    load_image(root / "slow.png")
    t_slow = time.perf_counter() - t0
    limit = round(min(0.5, t_slow / 4), 3)
    if limit < 20 * t_ok:
        pytest.skip(f"the big file decodes too fast here ({t_slow:.3f} s) to set a limit")
    with ResultStore(tmp_path / "d.sqlite") as store:
        summary = run_batch(list_items(root), store, workers=0, progress=False,
                            decode_timeout=limit)
        assert (summary.done, summary.failed) == (2, 1)
        failed = next(store.items("failed"))
    assert failed.key == "slow.png" and failed.error_type == "DecodeTimeoutError"
    assert f"slow.png: decode took longer than {limit:g} s" in (failed.error or "")


def test_export_of_non_utf8_names_is_lossless(tmp_path: Path, chest_like: np.ndarray,
                                              capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    import os

    root = tmp_path / "names"
    root.mkdir()
    write_png(tmp_path / "good.png", chest_like)
    raw_root = os.fsencode(root)
    for name in (b"caf\xe9.png", b"\xff-film.png"):
        with open(raw_root + b"/" + name, "wb") as fh:
            fh.write((tmp_path / "good.png").read_bytes())
    with open(raw_root + b"/bad\xe9.png", "wb") as fh:
        fh.write(b"not a png")
    db = tmp_path / "n.sqlite"
    with ResultStore(db) as store:
        run_batch(list_items(root), store, workers=0, progress=False)
    assert export([db], tmp_path / "out.csv") == 3
    raw = (tmp_path / "out.csv").read_bytes()  # the names' own bytes, as on disk
    for name in (b"caf\xe9.png", b"\xff-film.png", b"bad\xe9.png"):
        assert name in raw
    with (tmp_path / "out.csv").open(newline="", encoding="utf-8",
                                      errors="surrogateescape") as fh:
        keys = {os.fsencode(r["key"]) for r in csv.DictReader(fh)}
    assert keys == {b"caf\xe9.png", b"\xff-film.png", b"bad\xe9.png"}
    assert export([db], tmp_path / "out.jsonl") == 3  # JSON: valid UTF-8, names escaped
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text("utf-8").splitlines()]
    assert {os.fsencode(x["key"]) for x in lines} == keys
    # the export CSV feeds a batch run again: the paths lead to the same files
    paths = tmp_path / "paths.csv"
    with paths.open("w", newline="", encoding="utf-8", errors="surrogateescape") as fh:
        csv.writer(fh).writerows([["path"], *([str(root / os.fsdecode(k))] for k in keys)])
    assert {os.fsencode(it.path) for it in list_items(paths)} == {
        raw_root + b"/" + k for k in keys}
    assert main(["batch", "export", str(db), "--format", "csv"]) == 0  # to stdout
    out = capsysbinary.readouterr().out
    assert b"caf\xe9.png" in out and out.startswith(b"key,path,status")
    assert main(["batch", "export", str(db), "--format", "jsonl"]) == 0
    assert len(capsysbinary.readouterr().out.decode("utf-8").splitlines()) == 3
