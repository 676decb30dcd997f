"""Metric names and their parsing, without torch (``ganzoo eval`` refuses a typo at once)."""

from __future__ import annotations

from ganzoo.errors import UsageError, closest

DEFAULT_EXTRACTOR = "inception"
METRICS = ("fid", "kid", "mifid", "is", "pr")
DEFAULT_METRICS = ("fid", "kid")


def parse_metrics(text: str | None) -> list[str]:
    """``"fid,kid"`` -> ["fid", "kid"]; unknown names are a usage error with a suggestion."""
    names = [m.strip().lower() for m in (text or ",".join(DEFAULT_METRICS)).split(",") if m.strip()]
    if not names:
        raise UsageError(f"--metrics needs at least one of {', '.join(METRICS)}")
    for name in names:
        if name not in METRICS:
            hint = closest(name, METRICS)
            raise UsageError(f"--metrics: unknown metric {name!r}" + (f"; did you mean {hint!r}?" if hint else "")
                             + f" (choose from {', '.join(METRICS)})")
    return list(dict.fromkeys(names))
