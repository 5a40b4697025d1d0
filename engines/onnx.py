"""`onnx`: ONNX Runtime on a cross-encoder exported once with torch.onnx (dynamo) into the cache.

The export is keyed by the sha256 of the source weights and config.json and by the export
settings (exporter, opset, torch and transformers versions), so it runs once per machine.
``precision = "int8"`` scores with onnxruntime's dynamic quantization of that export (int8
weights, activations quantized per batch at run time), also cached.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
import uuid
from importlib import metadata
from pathlib import Path

import numpy as np

from rerankwatch.core.errors import PrecisionUnsupportedError, RerankwatchError
from rerankwatch.core.models import cache_dir
from rerankwatch.engines.base import (
    DEFAULT_MAX_LENGTH,
    TRACKED_PACKAGES,
    BatchedEngine,
    Fingerprint,
    file_sha256,
    local_model_dir,
    weights_sha256,
)
from rerankwatch.engines.heads import head_to_scores

LOG = logging.getLogger("rerankwatch.engines")

OPSET = 20
EXPORTER = "torch.onnx-dynamo"
QUANTIZATION = {"float32": "none", "int8": "dynamic-int8"}
MODEL_FILE = "model.onnx"
META_FILE = "meta.json"
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}



def _build_once(folder: Path, build) -> dict:
    """Run ``build(tmp_folder) -> meta`` unless ``folder`` exists; never leave half a model."""
    if not (folder / META_FILE).is_file():
        tmp = folder.with_name(f"{folder.name}.partial-{uuid.uuid4().hex[:8]}")
        tmp.mkdir(parents=True)
        try:
            meta = build(tmp)
            meta["onnx_sha256"] = file_sha256(tmp / MODEL_FILE)
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
            tmp.rename(folder)
        except OSError:
            if not (folder / META_FILE).is_file():  # not a concurrent build that won the race
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return json.loads((folder / META_FILE).read_text())


def export_settings() -> dict[str, str]:
    """What besides the weights shapes the exported graph."""
    return {"exporter": EXPORTER, "opset": str(OPSET), "torch": metadata.version("torch"),
            "transformers": metadata.version("transformers")}


def export_cross_encoder(model_dir: Path, folder: Path) -> dict:
    """Export a sequence-classification model to ``folder/model.onnx`` (dynamic batch and
    sequence axes; the logits only). The legacy TorchScript exporter mis-traces the attention
    mask of transformers 5 models, so this uses the dynamo exporter (needs onnxscript)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32)
    names = list(tokenizer.model_input_names)

    class LogitsOnly(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            return self.model(**dict(zip(names, inputs, strict=True))).logits

    # two pairs of different lengths: batch and sequence must not specialise to 1
    example = tokenizer(["an example query", "q"], ["a document with a few more words", "d"],
                        padding=True, return_tensors="pt")
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    program = torch.onnx.export(
        LogitsOnly().eval(), tuple(example[n] for n in names), input_names=names,
        output_names=["logits"], dynamic_shapes=(tuple({0: batch, 1: sequence} for _ in names),),
        opset_version=OPSET, dynamo=True, verbose=False)
    program.save(str(folder / MODEL_FILE))
    return {"source": str(model_dir), **export_settings()}


def quantize_int8(source: Path, folder: Path) -> dict:
    """onnxruntime dynamic quantization (QInt8 weights, its default operator set)."""
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic

    external = any(p.is_file() and p.name not in (MODEL_FILE, META_FILE)
                   for p in source.iterdir())  # weights in a side file (models over 2 GB)
    quantize_dynamic(source / MODEL_FILE, folder / MODEL_FILE, weight_type=QuantType.QInt8,
                     use_external_data_format=external)
    return {"quantization": QUANTIZATION["int8"], "onnxruntime": onnxruntime.__version__}


class OnnxEngine(BatchedEngine):
    kind = "onnx"
    packages = (*TRACKED_PACKAGES, "onnxruntime", "onnx")
    activation = "sigmoid"

    def _load(self) -> None:
        import onnxruntime
        from transformers import AutoConfig, AutoTokenizer

        precision = self.config.precision
        if precision not in QUANTIZATION:
            raise PrecisionUnsupportedError(
                f"engine {self.config.name!r}: the onnx engine runs float32 or int8 (dynamic "
                f"quantization), not {precision}")
        model_dir = local_model_dir(self.model_ref)
        if model_dir is None:
            raise RerankwatchError(f"engine {self.config.name!r}: no local files for model "
                                   f"{self.config.model!r} to export to ONNX")
        self.source_sha256 = weights_sha256(model_dir)
        config_file = model_dir / "config.json"  # same weights, other architecture: new export
        settings = {"weights_sha256": self.source_sha256, **export_settings(),
                    "config_sha256": file_sha256(config_file) if config_file.is_file() else ""}
        key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
        folder = cache_dir() / "onnx" / f"{self.source_sha256[:16]}-{key}"
        if not (folder / META_FILE).is_file():
            LOG.warning("exporting %s to ONNX into %s (once per machine) ...", model_dir, folder)
        self.meta = _build_once(folder, lambda tmp: export_cross_encoder(model_dir, tmp))
        if precision == "int8":
            quantized = folder.with_name(f"{folder.name}-int8-ort{onnxruntime.__version__}")
            self.meta = _build_once(quantized, lambda tmp: quantize_int8(folder, tmp))
            folder = quantized

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        positions = getattr(AutoConfig.from_pretrained(model_dir), "max_position_embeddings",
                            DEFAULT_MAX_LENGTH)
        self.max_length = self.config.max_length or min(
            self.tokenizer.model_max_length, positions, DEFAULT_MAX_LENGTH)
        device, _, index = self.config.device.partition(":")
        provider = PROVIDERS.get(device)
        if provider not in onnxruntime.get_available_providers():
            raise RerankwatchError(
                f"engine {self.config.name!r}: onnxruntime has no provider for device "
                f"{self.config.device!r} (available: {onnxruntime.get_available_providers()})")
        options = {"device_id": int(index)} if index else {}
        self.session = onnxruntime.InferenceSession(str(folder / MODEL_FILE),
                                                    providers=[(provider, options)])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.onnxruntime_version = onnxruntime.__version__

    def _score_batch(self, queries: list[str], docs: list[str]) -> tuple[np.ndarray, np.ndarray]:
        features = self.tokenizer(queries, docs, padding=True, truncation=True,
                                  max_length=self.max_length, return_tensors="np")
        self._saw(features["input_ids"], features["attention_mask"])
        feed = {name: features[name].astype(np.int64) for name in self.input_names}
        (logits,) = self.session.run(["logits"], feed)
        return head_to_scores(logits, self.activation)

    def fingerprint(self) -> Fingerprint:
        return dataclasses.replace(super().fingerprint(), extra={
            "exporter": f"{EXPORTER} opset {OPSET}",
            "quantization": QUANTIZATION[self.config.precision],
            "onnxruntime": self.onnxruntime_version,
            "onnx_sha256": self.meta["onnx_sha256"],
        })
