"""Batch generation: seeded numpy latents -> a backend (torch or onnxruntime) -> PNG/zip/npy writers.

Importing this package does not import torch; ``open_backend`` imports it only for the
torch backend.
"""

from ganzoo.generate.run import GenerateResult, GenerationStopped, check_request, generate, open_backend

__all__ = ["GenerateResult", "GenerationStopped", "check_request", "generate", "open_backend"]
