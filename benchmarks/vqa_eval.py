"""Grounded question answering (`radlens ask`) on the VQA-RAD and SLAKE chest questions.

Reads every image of each set once with the bundled models, answers each of its development
questions from the reading (`radlens.tasks.ask`), and prints, per set and per question type:
accuracy on closed and on open questions (open: exact match after normalisation; an
unanswered question counts as wrong), coverage (share answered rather than "cannot answer"),
selective accuracy (accuracy on the answered ones), each with a 95% bootstrap CI resampled by
image, next to the majority-answer baseline (fitted on the same questions, so optimistic). It
checks the goal (closed selective accuracy >= 0.85 at coverage >= 0.50) and times `ask` per
question against the reading itself (target: <= 20 ms beyond the reading), as wall-clock time and
as the asking thread's CPU time (on a busy machine the wall clock also counts the time the process
waits for a CPU). The same questions
are also scored under the operating-call policy (yes / no from the call alone, see
`radlens.tasks.ask.answer.POLICIES`), to show what the card's rule-out and stated thresholds
trade in coverage for accuracy.

    .venv/bin/python benchmarks/vqa_eval.py [--data DIR] [--sets vqa-rad,slake-cxr]
        [--limit-images N] [--cache DIR] [--json]

Data: ``--data``, else ``RADLENS_DATA``, else ``../shared/data``. ``--cache DIR`` keeps each
reading as JSON so later runs (e.g. after editing the question rules) skip the models.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from radlens.errors import RadlensError
from radlens.paths import data_root
from radlens.schema import Interpretation
from radlens.schema_json import from_json, to_json
from radlens.tasks.ask import answer
from radlens.tasks.ask.benchmark import SETS, VqaItem, load_questions, score

GOAL_SELECTIVE, GOAL_COVERAGE, GOAL_MS = 0.85, 0.50, 20.0


def _readings(images: list[Path], cache: Path | None, threads: int
              ) -> tuple[dict[Path, Interpretation | str], float, int]:
    """image -> reading (or the error text), seconds spent reading, images read now."""
    out: dict[Path, Interpretation | str] = {}
    todo = []
    for im in images:
        hit = cache / (im.parent.name + "__" + im.name + ".json") if cache else None
        if hit is not None and hit.is_file():
            out[im] = from_json(hit.read_text("utf-8"), Interpretation, hit.parent)
        else:
            todo.append(im)
    seconds = 0.0
    if todo:
        import radlens
        from radlens.models.classifier import set_threads

        set_threads(threads)
        reader = radlens.Reader()
        reader.read(todo[0])  # warm-up: first-call costs are not the reading's
        t0 = time.perf_counter()
        for im, res in zip(todo, reader.read(todo, progress=True), strict=True):
            if isinstance(res, Interpretation):
                out[im] = res
                if cache is not None:
                    name = im.parent.name + "__" + im.name + ".json"
                    (cache / name).write_text(to_json(res, array_dir=cache), "utf-8")
            else:
                out[im] = res.message
        seconds = time.perf_counter() - t0
    return out, seconds, len(todo)


def run_set(root: Path, name: str, limit: int | None, cache: Path | None, threads: int,
            n_boot: int) -> dict[str, Any]:
    """Evaluate one set; returns its scores, timing and counts."""
    items = load_questions(root, name)
    images = list(dict.fromkeys(it.image for it in items))
    if limit is not None:
        images = images[:limit]
        keep = set(images)
        items = [it for it in items if it.image in keep]
    set_cache = None
    if cache is not None:
        set_cache = cache / name
        set_cache.mkdir(parents=True, exist_ok=True)
    readings, read_s, n_read = _readings(images, set_cache, threads)
    answers, answered, per_q_ms, per_q_cpu_ms = [], [], [], []
    failed = sum(1 for r in readings.values() if isinstance(r, str))
    by_intent: dict[str, int] = defaultdict(int)
    first = next((r for r in readings.values() if isinstance(r, Interpretation)), None)
    if first is not None:
        answer(first, "is there a pleural effusion?")  # rules compiled once, outside timing
    for it in tqdm(items, desc=f"ask {name}", unit="q", dynamic_ncols=True):
        r = readings[it.image]
        if isinstance(r, str):
            answers.append(f"cannot answer: the image could not be read ({r})")
            answered.append(False)
            continue
        t0, c0 = time.perf_counter(), time.thread_time()
        a = answer(r, it.question)
        per_q_ms.append(1000 * (time.perf_counter() - t0))
        per_q_cpu_ms.append(1000 * (time.thread_time() - c0))
        answers.append(a.answer)
        answered.append(a.answered)
        by_intent[a.intent] += 1
    result = score(items, answers, answered, n_boot=n_boot)
    # the same questions under the operating-call policy, for comparison (not timed)
    plain = [answer(r, it.question, policy="call") if isinstance(r, Interpretation) else None
             for it, r in ((it, readings[it.image]) for it in items)]
    call = score(items, [a.answer if a else "" for a in plain],
                 [bool(a and a.answered) for a in plain], n_boot=n_boot)
    result["policy_call"] = {k: {m: call[k][m] for m in ("accuracy", "coverage",
                                                           "selective_accuracy")}
                             for k in ("closed", "open")}
    ms = np.array(per_q_ms) if per_q_ms else np.zeros(1)
    cpu = np.array(per_q_cpu_ms) if per_q_cpu_ms else np.zeros(1)
    result["timing"] = {
        "ask_ms_median": round(float(np.median(ms)), 3),
        "ask_ms_p95": round(float(np.percentile(ms, 95)), 3),
        "ask_ms_max": round(float(ms.max()), 3),
        "ask_cpu_ms_median": round(float(np.median(cpu)), 3),
        "ask_cpu_ms_p95": round(float(np.percentile(cpu, 95)), 3),
        "ask_cpu_ms_max": round(float(cpu.max()), 3),
        "read_s_per_image": round(read_s / n_read, 3) if n_read else None,
        "images_read_now": n_read,
    }
    result["n_questions"], result["n_images"], result["images_failed"] = (
        len(items), len(images), failed)
    result["intents"] = dict(sorted(by_intent.items()))
    result["examples"] = _examples(items, answers, answered)
    return result


def _examples(items: list[VqaItem], answers: list[str], answered: list[bool],
              k: int = 3) -> list[dict[str, str]]:
    """A few answered mistakes, for looking at what goes wrong."""
    from radlens.tasks.ask.benchmark import correct

    out = []
    for it, a, d in zip(items, answers, answered, strict=True):
        if d and not correct(a, d, it.answer) and len(out) < k:
            out.append({"question": it.question, "answer": a, "reference": it.answer})
    return out


def _fmt(e: dict[str, Any]) -> str:
    if e["value"] is None:
        return "   -              "
    return f"{e['value']:.3f} [{e['ci_low']:.3f}, {e['ci_high']:.3f}]"


def _print(name: str, res: dict[str, Any]) -> None:
    t = res["timing"]
    print(f"\n== {name}: {res['n_questions']} questions on {res['n_images']} images "
          f"({res['images_failed']} unreadable) ==")
    print(f"{'group':<22}{'n':>5}  {'accuracy':<24}{'coverage':<24}{'selective acc.':<24}"
          f"{'majority baseline':<24}")
    for kind in ("closed", "open"):
        blocks = [(kind.upper(), res[kind])] + [(f"  {t_}", b) for t_, b in
                                                 res[kind]["by_type"].items()]
        for label, b in blocks:
            print(f"{label:<22}{b['accuracy']['n']:>5}  {_fmt(b['accuracy']):<24}"
                  f"{_fmt(b['coverage']):<24}{_fmt(b['selective_accuracy']):<24}"
                  f"{_fmt(b['majority_accuracy']):<24}")
    for kind in ("closed", "open"):
        b = res["policy_call"][kind]
        print(f"{kind} under the operating-call policy (yes/no from the call alone): accuracy "
              f"{_fmt(b['accuracy'])}, coverage {_fmt(b['coverage'])}, selective "
              f"{_fmt(b['selective_accuracy'])}")
    read = t["read_s_per_image"]
    print(f"ask per question, wall clock: median {t['ask_ms_median']:.2f} ms, p95 "
          f"{t['ask_ms_p95']:.2f} ms, max {t['ask_ms_max']:.2f} ms; CPU time of the asking "
          f"thread: median {t['ask_cpu_ms_median']:.2f} ms, p95 {t['ask_cpu_ms_p95']:.2f} ms, "
          f"max {t['ask_cpu_ms_max']:.2f} ms; reading "
          + (f"{read:.2f} s per image" if read is not None else "from cache"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=None, help="data folder (default RADLENS_DATA or "
                    "../shared/data)")
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--limit-images", type=int, default=None, metavar="N",
                    help="only the first N images of each set (a quick run)")
    ap.add_argument("--cache", type=Path, default=None, metavar="DIR",
                    help="keep readings as JSON here and reuse them")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--boot", type=int, default=1000, help="bootstrap resamples")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    root = data_root(args.data)
    results: dict[str, Any] = {}
    t0 = time.time()
    for name in [s for s in args.sets.split(",") if s]:
        try:
            results[name] = run_set(root, name, args.limit_images, args.cache, args.threads,
                                    args.boot)
        except RadlensError as exc:
            print(f"vqa_eval: {name}: {exc}", file=sys.stderr)
            return 2
    goal = {}
    for name, res in results.items():
        c = res["closed"]
        sel, cov = c["selective_accuracy"]["value"], c["coverage"]["value"]
        goal[name] = {
            "closed_selective>=0.85_at_coverage>=0.50": bool(
                sel is not None and cov is not None and sel >= GOAL_SELECTIVE
                and cov >= GOAL_COVERAGE),
            "ask_p95_ms<=20": res["timing"]["ask_ms_p95"] <= GOAL_MS,
            "ask_cpu_p95_ms<=20": res["timing"]["ask_cpu_ms_p95"] <= GOAL_MS,
        }
    out = {"sets": results, "goal": goal, "seconds": round(time.time() - t0, 1),
           "data": str(root), "limit_images": args.limit_images}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    for name, res in results.items():
        _print(name, res)
        ok = goal[name]
        print(f"goal closed selective >= {GOAL_SELECTIVE} at coverage >= {GOAL_COVERAGE}: "
              f"{'met' if ok['closed_selective>=0.85_at_coverage>=0.50'] else 'NOT met'}; "
              f"ask p95 <= {GOAL_MS:.0f} ms: wall clock "
              f"{'met' if ok['ask_p95_ms<=20'] else 'NOT met'}, CPU time "
              f"{'met' if ok['ask_cpu_p95_ms<=20'] else 'NOT met'}")
    print(f"\n{out['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
