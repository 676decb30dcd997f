"""Evaluation: FID, KID, MiFID, Inception Score and precision/recall of a generator or of
images, with a feature extractor that is a plugin (``ganzoo_register_extractors``).

    extractor.py  a registered ExtractorSpec made ready: weights found and hashed, label, batches -> features
    sources.py    SOURCE (run, checkpoint, .onnx, folder, .zip, .npy) -> uint8 image batches
    real.py       --real (dataset name or folder) -> uint8 images through the training data path
    stats.py      the real-statistics cache (features, mu, sigma), keyed like the image cache
    metrics.py    the metrics from feature sets (torch-fidelity's math; MiFID's memorization term)
    job.py        one `ganzoo eval`: the above in order, the table, JSON and RUN/eval.jsonl
    training.py   eval_every during training: FID/KID of the EMA generator, best.pt

Importing this package imports nothing heavy; the modules import torch when used.
"""
