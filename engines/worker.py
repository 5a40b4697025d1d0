"""Worker process: loads one engine inside an isolated venv and scores what it is sent.

Protocol (engines/isolated.py is the other side): one JSON request per line on stdin, JSON
replies and progress lines on the original stdout (library output goes to stderr). Pairs come in
and scores go out as Arrow IPC files in the job folder; no pickles cross Python environments.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import IO


def _reply(channel: IO[str], **message) -> None:
    channel.write(json.dumps(message) + "\n")
    channel.flush()


def _serve(channel: IO[str]) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.ipc as ipc

    from rerankwatch.core.config import EngineConfig
    from rerankwatch.engines import engine_class

    engine = None
    for line in sys.stdin:
        request = json.loads(line)
        op = request["op"]
        try:
            if op == "exit":
                return
            if op == "load":
                config = EngineConfig.model_validate(request["config"])
                engine = engine_class(config.kind)(config, model_ref=request["model_ref"])
                _reply(channel, ok=True, fingerprint=json.loads(engine.fingerprint().to_json()),
                       load_warnings=engine.load_warnings, activation=engine.activation,
                       pooling=engine.pooling, max_length=int(engine.max_length))
            elif op == "score":
                table = ipc.open_file(request["input"]).read_all()
                pairs = list(zip(table["query"].to_pylist(), table["doc"].to_pylist(),
                                 strict=True))
                batch = engine.score(pairs, on_batch=lambda n: _reply(channel, progress=n))
                columns = {"logits": np.asarray(batch.logits, dtype=np.float64),
                           "scores": np.asarray(batch.scores, dtype=np.float64),
                           "batch_index": np.asarray(batch.batch_index, dtype=np.int64)}
                if batch.token_hash is not None:  # the ids the model saw (token snapshots)
                    columns |= {"input_tokens": np.asarray(batch.input_tokens, np.int64),
                                "token_hash": np.asarray(batch.token_hash, np.uint64),
                                "token_ids": pa.array(
                                    [None if ids is None else np.asarray(ids, np.int32)
                                     for ids in batch.token_ids], pa.list_(pa.int32()))}
                out = pa.table(columns)
                with ipc.new_file(request["output"], out.schema) as writer:
                    writer.write_table(out)
                _reply(channel, ok=True, activation=batch.activation,
                       batch_seconds=list(batch.batch_seconds))
            elif op == "id_tokens":  # token strings of recorded ids: the tokenizer is here
                _reply(channel, ok=True, tokens=engine.id_tokens(np.asarray(request["ids"])))
            else:
                _reply(channel, ok=False, error=f"unknown op {op!r}", type="ValueError")
        except Exception as exc:  # reported to the parent, which raises it there
            traceback.print_exc()
            _reply(channel, ok=False, error=str(exc), type=type(exc).__name__)


def main() -> None:
    channel = os.fdopen(os.dup(1), "w")  # the protocol keeps the real stdout ...
    os.dup2(2, 1)  # ... and whatever the libraries print goes to stderr (the worker log)
    _serve(channel)


if __name__ == "__main__":  # vLLM spawns processes: the guard is required
    main()
