"""The nightly suite over a fixed store gives the result rows it gave before the suite was
rebuilt for scale (issue 31): same checks, engines, subjects, statuses, observed values,
thresholds and details.

The store is the scale bench's synthetic one at 3,000 pairs (``bench/suite_scale.py``: four
engine configs, probes, ladders, known-irrelevant docs, an accepted first night), with a second
night scored with other noise so that history, precision and agreement checks see deltas.
The expectation (``data/suite_equivalence.json``) was written by the suite as it was before
(commit 3fbe391): ``python tests/unit/test_suite_equivalence.py --write`` with that commit's
checkout first on PYTHONPATH rewrites it.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
EXPECTED = Path(__file__).parent / "data" / "suite_equivalence.json"
PAIRS = 3000


def _bench():
    spec = importlib.util.spec_from_file_location("suite_scale_bench",
                                                  ROOT / "bench" / "suite_scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def suite_rows(db: Path) -> list[dict]:
    """The nightly suite's result rows over the fixed store, run ids and times made stable."""
    from rerankwatch.checks.base import SuiteInput
    from rerankwatch.checks.suites import run_suite
    from rerankwatch.store import Store

    bench = _bench()
    with Store(db) as store:
        pairs = bench.synthetic_pairs(PAIRS)
        store.add_pairs(pairs)
        first = bench.write_run(store, pairs, 4, seed=0)
        store.accept_run(first, [c[0] for c in bench.CONFIGS], "test", "the first night")
        run_id = bench.write_run(store, pairs, 4, seed=1)
        data = SuiteInput(run_id=run_id, reference=bench.CONFIGS[0][0],
                          **store.suite_frames(run_id))
        report = run_suite(data)
    names = {first: "<accepted run>", run_id: "<run>"}
    rows = []
    for r in report.results:
        detail = json.loads(re.sub("|".join(names), lambda m: names[m.group(0)],
                                   r.detail_json()))
        detail.get("accepted", {}).pop("at", None)
        rows.append({"check": r.check, "engine": r.engine, "other": r.other_engine,
                     "subject": r.subject, "status": r.status, "blocking": r.blocking,
                     "observed": r.observed, "threshold": r.threshold, "detail": detail})
    return rows


IDS = ("set_id", "query_id", "doc_id", "pair_id", "query")


def _untied(a: list, b: list) -> tuple[list, list]:
    """Two lists of worst rows, as compared: a row's ids (which query, which pair) only count
    where its values tie no other row's, since among equals a check may list any (the old
    suite grouped queries in no fixed order)."""
    def values(r):
        return tuple(sorted((k, v) for k, v in r.items() if k not in IDS))
    tied = {values(r) for r in a if sum(values(o) == values(r) for o in a) > 1}
    return ([{k: v for k, v in r.items() if values(r) not in tied or k not in IDS} for r in a],
            [{k: v for k, v in r.items() if values(r) not in tied or k not in IDS} for r in b])


def _same(a, b, path: str = "") -> list[str]:
    """Where ``a`` and ``b`` differ (floats to 1e-9 relative)."""
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(
            isinstance(r, dict) for r in [*a, *b]):
        a, b = _untied(a, b)
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None or not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
            return [f"{path}: {a!r} != {b!r}"]
        return []
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(a)} != {sorted(b)}"]
        return [d for k in a for d in _same(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in _same(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def test_suite_rows_unchanged(tmp_path):
    rows = suite_rows(tmp_path / "fixed.duckdb")
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    assert {r["status"] for r in expected} >= {"passed", "failed"}  # the store tells them apart
    keys = [(r["check"], r["engine"], r["other"], r["subject"]) for r in rows]
    assert keys == [(r["check"], r["engine"], r["other"], r["subject"]) for r in expected]
    differences = [d for i, (got, want) in enumerate(zip(rows, expected, strict=True))
                   for d in _same(got, want, f"{keys[i]}")]
    assert not differences, "\n".join(differences[:20])


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: test_suite_equivalence.py --write")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        found = suite_rows(Path(tmp) / "fixed.duckdb")
    EXPECTED.write_text(json.dumps(found, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(found)} rows to {EXPECTED}")
