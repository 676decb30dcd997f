"""One ``ganzoo eval``: SOURCE's images and the real ones through an extractor, then the metrics.

Order of work: everything that can be refused (metrics, the extractor, its weights) is checked
before torch is imported (``preflight``), the image counts before any feature is extracted;
the real features come from the cache when they exist.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ganzoo.errors import UsageError
from ganzoo.eval.names import DEFAULT_EXTRACTOR

if TYPE_CHECKING:  # torch is imported only once the request has passed the checks below
    from ganzoo.eval.extractor import Extractor

log = logging.getLogger("ganzoo")

EVAL_LOG = "eval.jsonl"  # in a run directory: one JSON object per `ganzoo eval` of that run

# (key in the result, what the table calls it, format)
ROWS = (
    ("fid", "FID", "{:.4f}"),
    ("kid", "KID", "{:.6f}"),
    ("mifid", "MiFID", "{:.4f}"),
    ("is", "IS", "{:.4f}"),
    ("precision", "precision", "{:.4f}"),
    ("recall", "recall", "{:.4f}"),
)
STD_OF = {"kid": "kid_std", "is": "is_std"}


@dataclass
class EvalResult:
    source: str
    real: str
    extractor: "Extractor"
    values: dict[str, float]
    num_fake: int
    num_real: int
    image_size: int
    seconds: float
    real_from_cache: bool
    metrics: list[str] = field(default_factory=list)
    run_dir: Path | None = None  # SOURCE, when it is a run directory

    def as_json(self) -> dict:
        return {
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "source": self.source, "real": self.real, "image_size": self.image_size,
            "num_generated": self.num_fake, "num_real": self.num_real,
            "extractor": self.extractor.name, "extractor_label": self.extractor.label,
            "extractor_weights_sha256": self.extractor.weights_sha256,
            "metrics": {k: round(v, 8) for k, v in self.values.items()},
            "real_statistics_cached": self.real_from_cache, "seconds": round(self.seconds, 2),
        }

    def table(self) -> str:
        """One line per figure, each naming the extractor that produced it."""
        label = self.extractor.label
        rows = []
        for key, title, fmt in ROWS:
            if key not in self.values:
                continue
            text = fmt.format(self.values[key])
            if key in STD_OF:
                text += " ± " + fmt.format(self.values[STD_OF[key]])
            if key == "mifid":
                d = self.values["mifid_distance"]
                text += f" (d={d:.3f}{', penalised' if d < 0.1 else ''})"
            rows.append((title, text))
        width = max([24, *(len(text) for _, text in rows)])  # the value column fits its longest entry
        lines = [f"{'metric':<10} {'value':<{width}} extractor"]
        lines += [f"{title:<10} {text:<{width}} {label}" for title, text in rows]
        return "\n".join(lines)


def preflight(registry, metrics: str | None, extractor: str, weights, batch_size: int) -> tuple[list[str], str | None]:
    """Everything that can be refused before torch loads, in about a second: the metrics, the
    batch size, the extractor's name and logits, and its weights file (the one-line message
    saying what to fetch). Returns the metrics and the weights path to use."""
    from ganzoo.eval.names import parse_metrics

    wanted = parse_metrics(metrics)
    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    spec = registry.extractor(extractor)
    if "is" in wanted and not spec.has_logits:
        raise UsageError(f"--metrics is: extractor {spec.name!r} gives no class logits, which the Inception Score "
                         "needs; leave out 'is' or use an extractor that has them (inception)")
    if spec.weights_file is None:
        if weights:
            raise UsageError(f"--inception-weights: extractor {spec.name!r} loads no weights file")
        return wanted, None
    return wanted, str(spec.weights_file(str(weights) if weights else None))


def evaluate(source: str | Path, real: str, *, registry=None, metrics: str | None = None, num: int | None = None,
             batch_size: int = 64, seed: int = 0, extractor: str = DEFAULT_EXTRACTOR,
             weights: str | Path | None = None, data_dir: str | None = None, cache_dir: str | None = None,
             device: str = "auto", progress: bool = True) -> EvalResult:
    from ganzoo.plugins import load_registry

    registry = registry or load_registry()
    wanted, weights_path = preflight(registry, metrics, extractor, weights, batch_size)

    from ganzoo.device import resolve_device
    from ganzoo.eval.extractor import array_batches, open_extractor
    from ganzoo.eval.metrics import check_counts, compute
    from ganzoo.eval.real import load_real
    from ganzoo.eval.sources import open_source
    from ganzoo.eval.stats import real_features

    started = time.perf_counter()
    dev = resolve_device(device)
    ext = open_extractor(registry, extractor, weights_path, dev)
    src = open_source(source, num=num, seed=seed, device=device, batch_size=batch_size, progress=progress)
    reals = load_real(registry, real, src.image_size, data_dir=data_dir, cache_dir=cache_dir,
                      source_config=src.config, progress=progress)
    check_counts(wanted, len(reals.images), src.count)
    real_set, _entry, cached = real_features(
        ext, reals.key, src.image_size,
        lambda: ext.features(array_batches(reals.images, batch_size), len(reals.images), progress, "real features"),
        reals.describe, reals.cache_dir)
    fake_set = ext.features(src.batches(batch_size), src.count, progress, "generated features")
    if fake_set.logits is None and "is" in wanted:  # pragma: no cover - guarded above
        raise UsageError("the extractor returned no logits")
    dim = real_set.features.shape[1]
    if len(fake_set) < dim and ("fid" in wanted or "mifid" in wanted):
        log.warning("FID from %d images of %d features is biased upwards and noisy; compare figures made "
                    "with the same --num only (10,000+ is usual)", len(fake_set), dim)
    values = compute(wanted, real_set, fake_set)
    return EvalResult(str(source), reals.describe, ext, values, len(fake_set), len(real_set), src.image_size,
                      time.perf_counter() - started, cached, wanted, src.run_dir)


def append_eval_log(run_dir: Path, result: EvalResult) -> Path:
    """Append the result to RUN/eval.jsonl (one line, flushed and fsynced)."""
    import os

    path = Path(run_dir) / EVAL_LOG
    with open(path, "a") as f:
        f.write(json.dumps(result.as_json()) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return path
