"""Run configuration (TOML) as pydantic models; typos fail loudly."""

from __future__ import annotations

import math
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rerankwatch.core.errors import ConfigError
from rerankwatch.core.home import db_or_default
from rerankwatch.core.models import is_alias
from rerankwatch.core.redact import url_credentials
from rerankwatch.core.storage_url import check_url
from rerankwatch.core.store_spec import check_lake, is_lake, shard_dir

PRECISIONS = {"float32": "float32", "fp32": "float32", "float16": "float16", "fp16": "float16",
              "bfloat16": "bfloat16", "bf16": "bfloat16", "int8": "int8"}  # int8: onnx only
DEFAULT_CONFIG = "pkg:rerankwatch/default.toml"


class _Strict(BaseModel):
    # hide_input_in_errors: a ValidationError's text never repeats a value (it may be a secret)
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class SampleSetConfig(_Strict):
    """One sample-set file; ``path`` is relative to the config file or ``pkg:<package>/<file>``."""

    name: str
    path: str


class EnvironmentConfig(_Strict):
    """An isolated engine environment: its own venv with these pip requirements."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    requirements: list[str] = Field(min_length=1)
    uninstall: list[str] = Field(default_factory=list)  # e.g. CUDA extras a package drags in
    env: dict[str, str] = Field(default_factory=dict)  # variables the worker runs with
    # score its engine configs in a child flow run on this Prefect work pool (see RunConfig)
    work_pool: str | None = Field(default=None, min_length=1)
    job_variables: dict[str, Any] = Field(default_factory=dict)  # the pool's job variables


class EngineConfig(_Strict):
    """One engine × model × precision to score with."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    kind: str
    model: str
    precision: str = "float32"
    device: str = "cpu"
    batch_size: int = Field(default=32, ge=1)
    max_length: int | None = Field(default=None, ge=8)
    pooling: Literal["auto", "mean", "cls"] = "auto"
    sets: list[str] | None = None  # None: every configured set
    wraps: str | None = None  # incident replays: the engine kind the fault wraps
    environment: str | None = None  # an [[environments]] name: score in that isolated venv
    # a worker call or an HTTP request; with a work_pool, also the whole child flow run
    timeout_s: float = Field(default=1800.0, gt=0)
    # a Prefect work pool: a child flow run of its `score-engine/<pool>` deployment scores this
    # engine config on a worker of that pool (docs/scaling-out.md); None: the parent's process
    work_pool: str | None = Field(default=None, min_length=1)
    job_variables: dict[str, Any] = Field(default_factory=dict)  # per flow run (image, env, …)
    # http-rerank / http-embed: the server, its API schema (http-rerank), where the key comes
    # from, retries
    url: str | None = None
    api_schema: str | None = None
    api_key_env: str | None = None  # name of the environment variable holding the key
    api_key_secret: str | None = None  # name of a Prefect Secret block holding the key
    retries: int = Field(default=3, ge=0)
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)  # engine extras
    # a pair longer than max_length: "truncate" it, or "error" before scoring; None: the run's
    truncation: Literal["truncate", "error"] | None = None

    @field_validator("precision")
    @classmethod
    def _known_precision(cls, value: str) -> str:
        if value not in PRECISIONS:
            raise ValueError(f"unknown precision {value!r}; use one of {sorted(set(PRECISIONS))}")
        return PRECISIONS[value]

    @model_validator(mode="after")
    def _finite_options(self) -> EngineConfig:
        """No engine option is NaN or infinite (TOML's ``nan``, ``inf``): no option means
        either, and a NaN would reach every score it touches."""
        for key, value in self.options.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"engine {self.name!r}: options.{key} must be a finite "
                                 f"number, got {value!r}")
        return self

    @model_validator(mode="after")
    def _no_credentials(self) -> EngineConfig:
        """The run config is stored: a key belongs in api_key_env or api_key_secret, never in
        the url (or a model URL). Names what looks like a credential, never its value."""
        for field in ("url", "model"):
            found = url_credentials(getattr(self, field))
            if found:
                raise ValueError(f"engine {self.name!r}: {field} holds credentials "
                                 f"({', '.join(found)}); put the key in api_key_env or "
                                 f"api_key_secret, never in the {field} (the run config is "
                                 f"stored)")
        return self


class RunConfig(_Strict):
    """A whole run: sample sets, engines and the reference engine."""

    db: str | None = None  # None: $RERANKWATCH_HOME/rerankwatch.duckdb (core/home.py)
    # a DuckLake store's data (db = "ducklake:..."): a path or s3://bucket/prefix, used when
    # the lake is created (core/store_spec.py); None: $RERANKWATCH_DATA_PATH
    data_path: str | None = None
    reference: str
    sample_sets: list[SampleSetConfig] = Field(min_length=1)
    engines: list[EngineConfig] = Field(min_length=1)
    environments: list[EnvironmentConfig] = Field(default_factory=list)
    checks: dict[str, dict] = Field(default_factory=dict)  # per-check threshold overrides
    truncation: Literal["truncate", "error"] = "truncate"  # engines without their own policy
    chunk_pairs: int | None = Field(default=None, ge=1)  # pairs per commit; None: ~5 s of work
    # where pooled engine configs read the run's pairs and write their shards: a path or
    # s3://bucket/prefix (store/shared.py); None: the store's shard folder, <db>.shards
    shards_url: str | None = None
    # where each judged run's HTML report is kept for the team: a folder or s3://bucket/prefix
    # (<reports_url>/<run>.html, report/stored.py); None: <data_path>/reports of a DuckLake
    # store, reports/ next to a DuckDB file
    reports_url: str | None = None
    base_dir: str = "."  # set by load_config: where relative paths resolve

    @field_validator("shards_url", "data_path", "reports_url")
    @classmethod
    def _usable_url(cls, value: str | None) -> str | None:
        if value is not None:
            check_url(value)
        return value

    @field_validator("db")
    @classmethod
    def _usable_db(cls, value: str | None) -> str | None:
        if value is not None and is_lake(value):
            check_lake(value)
        return value

    @model_validator(mode="after")
    def _cross_references(self) -> RunConfig:
        engine_names = [e.name for e in self.engines]
        set_names = [s.name for s in self.sample_sets]
        for label, names in (("engine", engine_names), ("sample set", set_names)):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"duplicate {label} name(s): {', '.join(dupes)}")
        if self.reference not in engine_names:
            raise ValueError(
                f"reference engine {self.reference!r} is not among the engines: {engine_names}"
            )
        env_names = [e.name for e in self.environments]
        for engine in self.engines:
            if engine.environment and engine.environment not in env_names:
                raise ValueError(f"engine {engine.name!r} names unknown environment "
                                 f"{engine.environment!r}; configured: {env_names}")
            unknown = sorted(set(engine.sets or []) - set(set_names))
            if unknown:
                raise ValueError(f"engine {engine.name!r} names unknown sample set(s) {unknown}")
            if engine.url is None and _looks_local(engine.model) and not (
                    Path(engine.model).expanduser().exists()):
                raise ValueError(f"engine {engine.name!r}: model path {engine.model!r} does not "
                                 f"exist (relative to the working directory {Path.cwd()})")
            if engine.kind in ("http-rerank", "http-embed") and not (
                    engine.url or "").startswith(("http://", "https://")):
                raise ValueError(f"engine {engine.name!r}: {engine.kind} needs url = "
                                 f"'http(s)://host[:port]'")
        for engine in self.engines:
            if engine.precision == "int8" and "onnx" not in (engine.kind, engine.wraps):
                raise ValueError(f"engine {engine.name!r}: precision 'int8' (dynamic "
                                 f"quantization) is supported by kind 'onnx' only")
        return self

    @property
    def db_path(self) -> Path | str:
        """The DuckDB file (a relative path is relative to the working directory; none given:
        ``$RERANKWATCH_HOME/rerankwatch.duckdb``), or the DuckLake spec as written."""
        return db_or_default(None, config_db=self.db)

    def engine(self, name: str) -> EngineConfig:
        return next(e for e in self.engines if e.name == name)

    def environment_for(self, engine: EngineConfig) -> EnvironmentConfig | None:
        """The isolated environment an engine scores in (None: this process)."""
        return next((e for e in self.environments if e.name == engine.environment), None)

    def pool_for(self, engine: EngineConfig) -> tuple[str | None, dict[str, Any]]:
        """The work pool that scores an engine config (its own, else its environment's;
        None: this process) and the job variables of its child flow run."""
        environment = self.environment_for(engine)
        pool = engine.work_pool or (environment.work_pool if environment else None)
        variables = {**(environment.job_variables if environment else {}),
                     **engine.job_variables}
        return pool, variables if pool else {}

    @property
    def shared_url(self) -> str:
        """shards_url, else the store's shard folder (``<db>.shards``)."""
        if self.shards_url:
            return self.shards_url if "://" in self.shards_url else str(
                self.resolve_path(self.shards_url).resolve())
        return str(shard_dir(self.db_path).resolve())

    def truncation_for(self, engine: EngineConfig) -> str:
        """The engine's truncation policy, else the run's."""
        return engine.truncation or self.truncation

    def sets_for(self, engine: EngineConfig) -> list[str]:
        return engine.sets or [s.name for s in self.sample_sets]

    def resolve_path(self, path: str) -> Path:
        """Resolve a config-relative or ``pkg:`` path (``pkg:samples/x.jsonl``: a file shipped
        in ``rerankwatch.samples``; ``pkg:rerankwatch/x.toml``: in ``rerankwatch``)."""
        if path.startswith("pkg:"):
            return package_path(path)
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else Path(self.base_dir) / candidate


def package_path(path: str) -> Path:
    """A ``pkg:`` path as a file: ``pkg:samples/x.jsonl`` is shipped in ``rerankwatch.samples``,
    ``pkg:rerankwatch/x.toml`` in ``rerankwatch``."""
    package, _, rel = path.removeprefix("pkg:").partition("/")
    if package != "rerankwatch" and not package.startswith("rerankwatch."):
        package = f"rerankwatch.{package}"
    return Path(str(resources.files(package).joinpath(rel)))


def _looks_local(model: str) -> bool:
    """A filesystem path, not a hub id (``name`` or ``org/name``) nor ``embedded:``/``fixture:``.

    Hub ids are not checked here (that needs the network): an engine whose hub model cannot be
    loaded fails at load, named, before it scores a pair.
    """
    if is_alias(model):
        return False
    return model.startswith(("/", ".", "~")) or model.count("/") > 1


def parse_config(path: str | Path | None = None) -> RunConfig:
    """Read a TOML run config (the packaged default when ``path`` is None) and validate its
    structure and cross-references; ``rerankwatch.pipeline.load_config`` also holds it to the
    engine and check registries."""
    source = DEFAULT_CONFIG if path is None else str(path)
    try:
        resolved = RunConfig.model_construct(base_dir=".").resolve_path(source)
        data = tomllib.loads(resolved.read_text(encoding="utf-8"))
    except ModuleNotFoundError as exc:
        raise ConfigError(f"{source}: no installed package {exc.name!r}") from None
    except (FileNotFoundError, IsADirectoryError):
        raise ConfigError(f"config file not found: {source}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{resolved}: not UTF-8 (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{resolved}: invalid TOML: {exc}") from None
    data.setdefault("base_dir", str(resolved.parent))
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{resolved}: {validation_problems(exc)}") from None


def validation_problems(exc: ValidationError) -> str:
    """A pydantic error as one line: ``field.path: message; …``."""
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: "
                     f"{err['msg'].removeprefix('Value error, ')}" for err in exc.errors())
