"""The loss-curve PNG of a run, redrawn from metrics.jsonl (with a FID panel when the run is
evaluated during training, ``eval_every``).

matplotlib is imported here only, with the Agg backend (no display needed), and the file is
written atomically so a viewer never sees half a PNG.
"""

from __future__ import annotations

from pathlib import Path

from ganzoo.fileio import atomic_path

# (metric, panel): losses on the left, D's view of real and fake on the right.
_PANELS = (
    ("Losses", ("loss_d", "loss_g", "gp", "r1")),
    ("Discriminator", ("d_real", "d_fake", "d_accuracy")),
)


def plot_losses(records: list[dict], path: str | Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure  # no pyplot: no global figure state to leak

    panels = list(_PANELS)
    scored = [r for r in records if "fid" in r]
    if scored:  # eval_every: FID over the steps, titled with the extractor that made it
        panels.append((f"FID ({scored[-1].get('eval_extractor', '?')})", ("fid",)))
    fig = Figure(figsize=(5 * len(panels), 3.6), dpi=100)
    for i, (name, keys) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for key in keys:
            points = [(r["step"], r[key]) for r in records if key in r]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, label=key, linewidth=1)
        ax.set_xlabel("step")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(loc="best", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
