"""The data path: from a dataset plugin's ImageSet to uint8 pixels to training batches.

``load_images`` turns whatever a dataset returns into one uint8 array (N, S, S, 3) at the
training resolution, through a cache of preprocessed images (``ganzoo.data.cache``);
``BatchFeed`` keeps that array on the training device and serves (augmented) batches.
``ganzoo.data.download`` is the resumable, checked downloader dataset plugins may use.
"""

from ganzoo.data.feed import BatchFeed
from ganzoo.data.loading import LoadedImages, load_images

__all__ = ["BatchFeed", "LoadedImages", "load_images"]
