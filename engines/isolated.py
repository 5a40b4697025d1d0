"""An engine scored by a worker process inside an isolated venv (engines/worker.py).

The main process never imports the engine's packages: it sends the config, then pairs as Arrow
IPC files, and gets back scores, the load report and a fingerprint whose package versions were
read inside the venv. A worker that crashes, is killed, or stays silent for ``timeout_s`` ends in
an EngineFailed naming the engine, with the tail of the worker's log.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from rerankwatch.core.config import EngineConfig, EnvironmentConfig
from rerankwatch.core.errors import EngineFailed, PrecisionUnsupportedError
from rerankwatch.core.models import resolve_model
from rerankwatch.core.records import Fingerprint, OnBatch, Pair, ScoreBatch
from rerankwatch.engines.environments import ensure_environment

# what the worker imports from this project: rerankwatch's bottom layer and its engines
SOURCE_PACKAGES = ("rerankwatch.core", "rerankwatch.engines")
LOG_TAIL_LINES = 20
_RAISED_AS = {"PrecisionUnsupportedError": PrecisionUnsupportedError}


class IsolatedEngine:
    """The Engine protocol, proxied to a worker in ``environment``'s venv."""

    def __init__(self, config: EngineConfig, environment: EnvironmentConfig):
        self.config, self.environment = config, environment
        python = ensure_environment(environment)
        self._job = tempfile.TemporaryDirectory(prefix=f"rerankwatch-{config.name}-")
        self.job_dir = Path(self._job.name)
        self._link_sources()
        self._log = (self.job_dir / "worker.log").open("w")
        self.process = subprocess.Popen(
            [str(python), "-m", "rerankwatch.engines.worker"], cwd=self.job_dir, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
            env=self._worker_env(), start_new_session=True)
        self._replies: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read_replies, daemon=True).start()
        self._calls = 0
        loaded = self._request({"op": "load", "config": config.model_dump(mode="json"),
                                "model_ref": resolve_model(config.model)}, "load")
        self.load_warnings: list[str] = loaded["load_warnings"]
        self.activation, self.pooling = loaded["activation"], loaded["pooling"]
        self.max_length = loaded["max_length"]
        fingerprint = loaded["fingerprint"]
        fingerprint["extra"] = {**fingerprint["extra"], "environment": environment.name}
        self._fingerprint = Fingerprint(**fingerprint)
        self.kind = self._fingerprint.kind

    def _link_sources(self) -> None:
        """Expose only the engines and the layer below them to the worker (not this venv's
        site-packages, nor the rest of rerankwatch)."""
        root = self.job_dir / "src" / "rerankwatch"
        root.mkdir(parents=True)
        (root / "__init__.py").write_text('"""rerankwatch engines, in an isolated worker."""\n')
        for package in SOURCE_PACKAGES:
            folder = Path(str(resources.files(package)))
            (root / package.rpartition(".")[2]).symlink_to(folder, True)

    def _worker_env(self) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items()
                     if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
        return {**inherited, **self.environment.env, "PYTHONPATH": str(self.job_dir / "src"),
                "PYTHONNOUSERSITE": "1", "PYTHONUNBUFFERED": "1"}

    def _read_replies(self) -> None:
        for line in self.process.stdout:
            self._replies.put(line)
        self._replies.put(None)  # EOF: the worker exited

    def _fail(self, what: str) -> EngineFailed:
        self.close()
        self._log.flush()
        lines = (self.job_dir / "worker.log").read_text(errors="replace").splitlines()
        tail = "\n".join(lines[-LOG_TAIL_LINES:])
        return EngineFailed(f"engine {self.config.name!r} (environment "
                            f"{self.environment.name!r}): {what}\n{tail}".rstrip())

    def _request(self, message: dict, what: str, on_progress: OnBatch | None = None) -> dict:
        if self.process.poll() is not None:
            raise self._fail(f"worker is not running ({self._exit_reason()})")
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        while True:  # progress lines reset the clock: the timeout bounds silence, not work
            try:
                line = self._replies.get(timeout=self.config.timeout_s)
            except queue.Empty:
                raise self._fail(f"worker silent for {self.config.timeout_s:.0f} s during "
                                 f"{what}; killed") from None
            if line is None:
                self.process.wait()
                raise self._fail(f"worker died during {what} ({self._exit_reason()})")
            reply = json.loads(line)
            if "progress" in reply:
                if on_progress:
                    on_progress(reply["progress"])
                continue
            if not reply["ok"]:
                error = _RAISED_AS.get(reply["type"], EngineFailed)
                raise error(f"engine {self.config.name!r} (environment {self.environment.name!r})"
                            f": {reply['type']}: {reply['error']}")
            return reply

    def _exit_reason(self) -> str:
        code = self.process.returncode
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            return f"killed by {name}" + (", out of memory?" if name == "SIGKILL" else "")
        return f"exit code {code}"

    def fingerprint(self) -> Fingerprint:
        return self._fingerprint

    def score(self, pairs: Sequence[Pair], on_batch: OnBatch | None = None) -> ScoreBatch:
        self._calls += 1
        source = self.job_dir / f"pairs-{self._calls}.arrow"
        target = self.job_dir / f"scores-{self._calls}.arrow"
        table = pa.table({"query": [q for q, _ in pairs], "doc": [d for _, d in pairs]})
        with ipc.new_file(source, table.schema) as writer:
            writer.write_table(table)
        reply = self._request({"op": "score", "input": str(source), "output": str(target)},
                              f"scoring {len(pairs)} pairs", on_batch)
        out = ipc.open_file(target).read_all()
        source.unlink()
        target.unlink()
        ids = {}
        if "token_hash" in out.column_names:  # the worker's engine recorded the ids it fed
            ids = {"input_tokens": out["input_tokens"].to_numpy(),
                   "token_hash": out["token_hash"].to_numpy(),
                   "token_ids": tuple(None if row is None else np.asarray(row, np.int64)
                                      for row in out["token_ids"].to_pylist())}
        return ScoreBatch(out["logits"].to_numpy(), out["scores"].to_numpy(),
                          reply["activation"], out["batch_index"].to_numpy().astype(np.int64),
                          tuple(reply["batch_seconds"]), **ids)

    def id_tokens(self, ids: np.ndarray) -> list[str] | None:
        """The token strings of recorded ids, from the worker's tokenizer."""
        return self._request({"op": "id_tokens", "ids": [int(i) for i in ids]},
                             "reading token strings")["tokens"]

    def close(self) -> None:
        """Stop the worker (politely, then by force) and free its memory."""
        if self.process.poll() is None:
            try:
                self.process.stdin.write('{"op": "exit"}\n')
                self.process.stdin.flush()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
