"""Two nightlies on one store at the same moment, many times over: the shared local shard
folder must not let one run's ingest take (or lose) the other's shards. The plain-Python
steps a flow's tasks take, in two processes, each run with its own engine config."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from rerankwatch.engines.fixtures import tiny_cross_encoder_path
from rerankwatch.pipeline import scoring
from rerankwatch.pipeline.config import load_config
from rerankwatch.pipeline.run import PLAIN, score_all
from rerankwatch.store import open_store
from tests.support.configs import TINY_CE, UNTRAINED

PAIRS = 15  # of the golden set: 3 chunks of 5 per engine, and the probes


def two_configs(db: str, golden: Path, folder: Path, data_path: str | None = None) -> list:
    """Configs A (st-cross) and B (hf-seqcls) of the tiny cross-encoder on one store, in
    chunks of 5 pairs (many shards, many ingests)."""
    configs = []
    for name, kind in (("eA", "st-cross"), ("eB", "hf-seqcls")):
        path = folder / f"{name}.toml"
        data = f'data_path = "{data_path}"\n' if data_path else ""
        path.write_text(
            f'db = "{db}"\n{data}reference = "{name}"\nchunk_pairs = 5\n\n'
            f'[[sample_sets]]\nname = "golden_en"\npath = "{golden}"\n\n'
            f'[[engines]]\nname = "{name}"\nkind = "{kind}"\nmodel = "{TINY_CE}"\n'
            f'batch_size = 5\n{UNTRAINED}')
        configs.append(load_config(path))
    return configs


def _nightlies(config, pairs, start, rounds: int, out) -> None:
    """One process: ``rounds`` runs of ``config``, each begun when the other process begins
    its own (force: scored afresh, never copied); puts every engine failure on ``out``."""
    failed = []
    for number in range(rounds):
        start.wait(timeout=300)
        try:
            session = scoring.begin_run(config, pairs, "nightly")
            failures = score_all(session, pairs, PLAIN, force=True)
            scoring.end_run(session, failures)
        except Exception as exc:  # noqa: BLE001 - a failure of the run itself counts too
            failures = {"run": f"{type(exc).__name__}: {exc}"}
        failed += [f"round {number}: {name}: {error}" for name, error in failures.items()]
    out.put(failed)


def race(configs: list, rounds: int) -> list[str]:
    """Both configs' nightlies at once, in two processes (as two scheduled nightlies run),
    ``rounds`` times; returns every engine failure, as 'round N: engine: error'."""
    pairs = scoring.load_pairs(configs[0]).head(PAIRS)
    tiny_cross_encoder_path()  # built once, before two processes would both build it
    with open_store(configs[0].db_path, data_path=configs[0].data_path):
        pass  # the store exists (created and migrated) before the nightlies start
    context = multiprocessing.get_context("spawn")
    start, out = context.Barrier(len(configs)), context.Queue()
    workers = [context.Process(target=_nightlies, args=(config, pairs, start, rounds, out))
               for config in configs]
    for worker in workers:
        worker.start()
    try:
        failed = [item for _ in workers for item in out.get(timeout=60 + 120 * rounds)]
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
    return failed
