"""``cifar10``: CIFAR-10 (60,000 32x32 photos, 10 classes) from the python-version batches.

``--set split=train|test|all``, ``--set classes=dog,cat`` (by name; labels become 0..k-1 in
the order given) and ``--set subset=2500`` (a random subset, drawn with ``subset_seed``)
combine freely. Reading is done here, not by ``torchvision.datasets.CIFAR10``, because
torchvision refuses any batch whose md5 differs from the official one, which includes every
batch a test writes; see ``ganzoo_cifar10.batches`` for how corruption is still caught.
"""

import ganzoo
from ganzoo import DatasetSpec, Param, hookimpl

ganzoo.require_api("1.1")

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"  # the official archive (the one torchvision checks)
SIZE = 170498071
HOW_TO_GET = (f"Download {URL} and untar it into --data-dir (giving cifar-10-batches-py/), "
              "or add --download to do that.")


def load(request):
    import numpy as np

    from ganzoo import ImageSet
    from ganzoo_cifar10.batches import find_batches, read_split

    p = request.params
    folder = find_batches(request.data_dir)
    images, labels, stamp = read_split(folder, p["split"])  # (N, 32, 32, 3) uint8, (N,) int64
    names = list(CLASSES)
    if p["classes"]:
        chosen = [CLASSES.index(c) for c in dict.fromkeys(p["classes"])]
        keep = np.isin(labels, chosen)
        new_id = np.full(len(CLASSES), -1, dtype=np.int64)
        new_id[chosen] = np.arange(len(chosen))  # labels 0..k-1 in the order the user gave
        images, labels = images[keep], new_id[labels[keep]]
        names = [CLASSES[c] for c in chosen]
    if p["subset"]:
        if p["subset"] < 0:
            raise ValueError(f"subset={p['subset']}: must be a positive number of images")
        if p["subset"] < len(images):
            pick = np.sort(np.random.default_rng(p["subset_seed"]).choice(len(images), p["subset"], replace=False))
            images, labels = images[pick], labels[pick]
    key = f"cifar10:{folder.resolve()}:{stamp}:{p['split']}:{','.join(names)}:{p['subset']}:{p['subset_seed']}"
    return ImageSet(images=images, labels=np.asarray(labels, dtype=np.int64), class_names=names, source_key=key)


def download(data_dir):
    from ganzoo.data.download import extract, fetch

    # every batch already there, unpacked by ganzoo, torchvision or by hand: nothing to fetch
    files = ("batches.meta", "test_batch", *(f"data_batch_{i}" for i in range(1, 6)))
    if any(all((folder / f).exists() for f in files) for folder in (data_dir / "cifar-10-batches-py", data_dir)):
        return
    archive = fetch(URL, data_dir / "cifar-10-python.tar.gz", size=SIZE, md5=MD5)
    extract(archive, data_dir)


@hookimpl
def ganzoo_register_datasets(register):
    register(
        DatasetSpec(
            name="cifar10",
            description="CIFAR-10 python batches: train/test/all, some classes, a random subset",
            load=load,
            params={
                "split": Param("train", "which batches", choices=("train", "test", "all")),
                "classes": Param([], "only these classes, e.g. dog,cat (default: all ten)", type=list, choices=CLASSES),
                "subset": Param(0, "a random subset of this many images (0: all)", min=0),
                "subset_seed": Param(0, "seed of the random subset"),
            },
            needs_data_dir=True,
            how_to_get=HOW_TO_GET,
            download=download,
        )
    )
