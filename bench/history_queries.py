"""History at scale: the standard views over a year of nightly runs, one typical query each.

Run from the repo root: ``python bench/history_queries.py [--runs 365] [--pairs 25000]``.
A DuckDB file is created through our schema (``Store`` migrations) and filled with SQL: every
night one ``nightly`` run scores ``--pairs`` pairs with 4 engine configs (100 k main score rows
a night by default: 36.5 M over 365 nights), plus its repeat/reload probes, check results and a
verdict, and the per-run agreement summary finish_run writes; every 7th night also has an
upgrade-gate run. One engine changes fingerprint half-way.
Each view gets the query a user typically runs (listed in QUERIES), timed best of ``--repeat``
after one warm-up; the target is ≤ 2 s each on 2 CPU cores. ``--readme`` also times every SQL
example in README.md and docs/ (each statement of their ```sql blocks), to the same target.

``--backend ducklake``: the same history, copied into a DuckLake store (a SQLite catalog,
Parquet data in the temporary directory) with ``rerankwatch store copy``'s code, and every
query read from the lake.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rerankwatch.store import Store, open_store  # noqa: E402

TARGET_S = 2.0
DOCS_PER_QUERY = 10
ENGINES = ["st-fp32", "hf-fp32", "st-fp16", "st-bf16"]  # the first is the reference
CHECKS = ["engine_agreement", "finite", "saturation", "monotonic_relevance", "determinism"]

SETUP = """
insert into sample_pairs by name
select substr(md5('pair' || i), 1, 20) as pair_id, 'hist' as set_id,
       'q' || (i // {docs}) as query_id, 'question ' || (i // {docs}) as query,
       'q' || (i // {docs}) || '-d' || (i % {docs}) as doc_id, 'passage ' || i as doc,
       greatest(0, 3 - (i % {docs}) // 3)::double as label,
       case when i % {docs} = {docs} - 1 then ['known_irrelevant'] else [] end as tags,
       'en' as lang, null as ladder, null as ladder_rank,
       i % {docs} = {docs} - 1 as known_irrelevant, 'bench' as source_file
from range({pairs}) as t(i);

insert into engines by name
select substr(md5(name || version), 1, 16) as engine_id, 'st-cross' as kind, 'bench/ce' as model,
       repeat('0', 64) as weights_sha256, dtype, 'cpu' as device, 'n/a' as pooling,
       512 as max_length, 'sigmoid' as activation, '{{}}'::json as versions,
       '{{}}'::json as fingerprint
from (values ('st-fp32', 'float32', 1), ('hf-fp32', 'float32', 1), ('st-fp16', 'float16', 1),
             ('st-bf16', 'bfloat16', 1), ('st-bf16', 'bfloat16', 2)) as e(name, dtype, version);

create temp table bench_runs as
select n, strftime(day, '%Y%m%dT020000') || '-' || substr(md5('run' || n), 1, 6) as run_id,
       day + interval 2 hour as started_at
from (select n, timestamptz '2025-01-01 00:00:00+00' + n * interval 1 day as day
      from range({runs}) as t(n));

insert into runs by name
select run_id, 'nightly' as flow_name, started_at, started_at + interval 1 hour as finished_at,
       'succeeded' as status, '{{"reference": "st-fp32"}}'::json as config
from bench_runs
union all
select run_id || '-gate', 'upgrade-gate', started_at + interval 3 hour,
       started_at + interval 4 hour, 'succeeded', '{{"reference": "st-fp32"}}'::json
from bench_runs where n % 7 = 6;

create temp table bench_engines as
select r.n, r.run_id, r.started_at, name, e.k,
       substr(md5(name || case when name = 'st-bf16' and r.n >= {runs} // 2 then 2 else 1 end),
              1, 16) as engine_id
from bench_runs as r, (select unnest({engines}) as name, generate_subscripts({engines}, 1) as k) e;

insert into run_engines by name
select run_id, name as engine_name, engine_id, 'succeeded' as status, {pairs} as pairs,
       60.0 as score_seconds, [] as load_warnings, started_at + interval 30 minute as recorded_at
from bench_engines;

insert into check_results by name
select e.run_id, c.check_name, e.name as engine_name,
       case when c.check_name = 'engine_agreement' then 'st-fp32' end as other_engine_name,
       'values' as subject,
       case when hash(e.run_id, c.check_name, e.name) % 40 = 0 then 'failed' else 'passed' end
           as status,
       true as blocking, (hash(e.run_id, c.check_name) % 1000) / 1e5 as observed,
       0.01 as threshold, '{{}}'::json as detail, e.started_at + interval 50 minute as recorded_at
from bench_engines as e, (select unnest({checks}) as check_name) as c;

insert into verdicts by name
select run_id, 'nightly' as suite, 'PASS' as verdict, 'st-fp32' as reference,
       ['hf-fp32', 'st-bf16', 'st-fp16'] as candidates, [] as failing_checks,
       started_at + interval 55 minute as decided_at
from bench_runs
union all
select run_id || '-gate', 'gate', case when n % 3 = 0 then 'BLOCKED' else 'PASS' end,
       'st-fp32', ['st-bf16'], case when n % 3 = 0 then ['engine_agreement'] else [] end,
       started_at + interval 4 hour
from bench_runs where n % 7 = 6;
"""

# one night: its main scores (engine after engine, as the store writes them) and its probes
NIGHT = """
insert into scores by name
select e.run_id, e.name as engine_name, e.engine_id, p.pair_id, 'main' as variant,
       p.base + 0.002 * e.k + (hash(e.n, p.i) % 1000) / 1e6 as logit,
       1 / (1 + exp(-(p.base + 0.002 * e.k + (hash(e.n, p.i) % 1000) / 1e6))) as score,
       'sigmoid' as activation, p.i // 32 as batch_index, 2.0 as latency_ms,
       e.started_at + interval 10 minute as scored_at
from bench_engines as e,
     (select i, substr(md5('pair' || i), 1, 20) as pair_id, (hash(i) % 8000) / 1000.0 - 4 as base
      from range({pairs}) as t(i)) as p
where e.n = $night
order by e.k, p.i;

insert into scores by name
select e.run_id, e.name as engine_name, e.engine_id, substr(md5('pair' || i), 1, 20) as pair_id,
       v.variant, 0.5 as logit, 0.62 as score, 'sigmoid' as activation, 0 as batch_index,
       2.0 as latency_ms, e.started_at + interval 20 minute as scored_at
from bench_engines as e, range(16) as t(i), (values ('repeat'), ('reload')) as v(variant)
where e.n = $night;
"""

# view -> (the typical question, its query); $latest is the latest nightly run
QUERIES = {
    "latest_scores": (
        "today's highest-scored known-irrelevant pairs (README example)",
        "select engine_name, dtype, query_id, doc_id, score from latest_scores "
        "where known_irrelevant order by score desc limit 10"),
    "score_drift": (
        "latest run, one engine: pairs that moved most since its previous run",
        "select pair_id, query_id, doc_id, score, previous_score, delta_prev, "
        "fingerprint_changed, delta_reference from score_drift "
        "where run_id = $latest and engine_name = 'st-bf16' "
        "order by abs(delta_prev) desc nulls last limit 20"),
    "engine_agreement_history": (
        "one engine's agreement trend, night by night (README example)",
        "select night, run_id, reference, max_abs_delta, p99_abs_delta "
        "from engine_agreement_history where engine_name = 'st-fp16' order by night"),
    "check_history": (
        "checks that started failing (README example)",
        "select started_at, check_name, engine_name, subject, observed, threshold "
        "from check_history where status = 'failed' and previous_status = 'passed'"),
    "upgrade_decisions": (
        "every blocked upgrade and why (README example)",
        "select decided_at, baseline, candidate, failing_checks from upgrade_decisions "
        "where verdict = 'BLOCKED' order by decided_at desc"),
    "v_run_scores": (
        "mean score per engine and precision in the latest run (README example)",
        "select engine_name, dtype, avg(score) from v_run_scores "
        "where run_id = $latest group by all"),
    "v_probe_scores": (
        "the latest run's probes",
        "select engine_name, variant, count(*), max(score) from v_probe_scores "
        "where run_id = $latest group by all"),
    "v_run_engine_status": (
        "the latest run's engine configs",
        "select engine_name, status, dtype, pairs from v_run_engine_status "
        "where run_id = $latest"),
}


def build(path: Path, runs: int, pairs: int) -> None:
    """A year of history, generated in DuckDB (one insert per night, as nightly runs append)."""
    with Store(path) as store:
        con = store.con
        con.execute(SETUP.format(docs=DOCS_PER_QUERY, pairs=pairs, runs=runs,
                                 engines=ENGINES, checks=CHECKS))
        night = NIGHT.format(pairs=pairs)
        run_ids = con.sql("select run_id from bench_runs order by n").fetchall()
        for n, (run_id,) in enumerate(run_ids):
            for statement in night.split(";")[:-1]:
                con.execute(statement, {"night": n})
            store.summarize_run(run_id)  # what finish_run does when a nightly run ends
        con.execute("checkpoint")


def readme_examples() -> dict[str, str]:
    """Every statement of the ```sql blocks of README.md and the docs (docs/**/*.md), named by
    the comment above it."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    text = "\n".join(page.read_text(encoding="utf-8") for page in pages)
    examples: dict[str, str] = {}
    for block in re.findall(r"```sql\n(.*?)```", text, flags=re.DOTALL):
        for statement in block.split(";"):
            lines = [line for line in statement.strip().splitlines() if line.strip()]
            code = " ".join(line for line in lines if not line.lstrip().startswith("--"))
            if not code.strip():
                continue
            notes = [line.strip(" -") for line in lines if line.lstrip().startswith("--")]
            name = f"README: {notes[0] if notes else code[:40]}"[:70]
            examples[name] = code
    return examples


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=365, help="nightly runs (default 365)")
    parser.add_argument("--pairs", type=int, default=25_000,
                        help="pairs per run, each scored by 4 engines (default 25000)")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per query; best kept")
    parser.add_argument("--db", help="keep the store here instead of a temp dir (reused if set)")
    parser.add_argument("--only", nargs="+", choices=list(QUERIES), default=list(QUERIES))
    parser.add_argument("--readme", action="store_true",
                        help="also time every SQL example in README.md and docs/")
    parser.add_argument("--backend", choices=["duckdb", "ducklake"], default="duckdb")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.db or Path(tmp) / "history.duckdb")
        if not path.is_file():
            started = time.perf_counter()
            build(path, args.runs, args.pairs)
            print(f"  setup: {time.perf_counter() - started:.0f}s", file=sys.stderr)
        with Store(path):
            pass  # migrates: the views are the current ones
        target: str | Path = path
        if args.backend == "ducklake":
            from rerankwatch.store.copy import copy_store

            target = f"ducklake:sqlite:{tmp}/lake.sqlite"
            started = time.perf_counter()
            copy_store(path, target, data_path=f"{tmp}/lake-data")
            print(f"  copied into the lake: {time.perf_counter() - started:.0f}s",
                  file=sys.stderr)
        queries = {view: QUERIES[view][1] for view in args.only}
        if args.readme:
            queries |= readme_examples()
        with open_store(target, mode="read") as store:
            rows = store.sql("select count(*) as n from scores where variant = 'main'")["n"][0]
            latest = store.sql("select run_id from runs where flow_name = 'nightly' "
                               "order by started_at desc limit 1")["run_id"][0]
            seconds = {}
            for view, query in queries.items():
                params = {"latest": latest} if "$latest" in query else {}
                store.sql(query, **params)  # warm-up: DuckDB's buffer pool
                best = float("inf")
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    store.sql(query, **params)
                    best = min(best, time.perf_counter() - started)
                seconds[view] = best
        worst = max(seconds, key=seconds.get)
        detail = ", ".join(f"{view} {s:.2f}s" for view, s in seconds.items())
        missed = [view for view, s in seconds.items() if s > TARGET_S]
        print(f"history_queries[{args.backend}]: seconds={seconds[worst]:.2f} (target ≤ "
              f"{TARGET_S:g} per query; slowest {worst}; over target: {missed or 'none'}) "
              f"[{rows:,} main score rows; {detail}]", flush=True)


if __name__ == "__main__":
    main()
