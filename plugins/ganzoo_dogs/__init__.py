"""``dogs``: Stanford Dogs (20,580 photos, 120 breeds), cropped to the annotated dogs.

With the annotations, every annotated dog becomes one training image: its bounding box grown
by ``margin`` on each side, squared around its centre (inside the photo), resized by ganzoo.
Dogs whose box is smaller than ``min_box`` pixels on its short side are skipped (they would
be mostly upscaling blur). Photos without an annotation, or ``crop=center``, give one centre
crop. Labels are the breeds (``Chihuahua``, ``Japanese spaniel``, ...), kept for conditional
models; ``breeds=`` restricts the set. Horizontal flips are on by default (``--set flip=false``).
"""

import ganzoo
from ganzoo import DatasetSpec, Param, hookimpl

ganzoo.require_api("1.1")

BASE_URL = "http://vision.stanford.edu/aditya86/ImageNetDogs/"
ARCHIVES = ("images.tar", "annotation.tar")  # -> Images/ and Annotation/

HOW_TO_GET = (
    f"Get the archives {BASE_URL}images.tar and {BASE_URL}annotation.tar and untar them into "
    "--data-dir (giving Images/ and Annotation/), or add --download to do that; the Kaggle "
    "'Generative Dog Images' copy (all-dogs/ and Annotation/) works too."
)


def load(request):
    from pathlib import Path

    from ganzoo import ImageFile, ImageSet
    from ganzoo_dogs.layout import annotation_index, breed_name, find_layout, list_images, read_boxes, with_margin

    p = request.params
    data_dir = Path(request.data_dir)
    layout = find_layout(data_dir)
    if layout is None:
        raise FileNotFoundError(
            f"no Stanford Dogs under {data_dir} (looked for Images/ or all-dogs/ there and two levels below). {HOW_TO_GET}")
    entries = list_images(layout)
    if not entries:
        raise FileNotFoundError(f"no .jpg files in {layout.images}. {HOW_TO_GET}")
    index = annotation_index(layout.annotations)
    # class ids follow the sorted breed folders (WordNet ids), so they are stable across runs
    breeds = sorted({b for _, b in entries if b} | {b for _, b in index.values()})
    names = [breed_name(b) for b in breeds]
    wanted = None
    if p["breeds"]:
        lookup = {n.lower().replace("_", " "): n for n in names}
        unknown = [b for b in p["breeds"] if b.lower().replace("_", " ") not in lookup]
        if unknown:
            raise ValueError(f"unknown breed(s) {', '.join(unknown)} (e.g. {', '.join(names[:5])})")
        wanted = sorted(names.index(lookup[b.lower().replace("_", " ")]) for b in p["breeds"])
    label_of = {b: i for i, b in enumerate(breeds)}
    by_wnid = {b.split("-")[0]: b for b in breeds}  # Kaggle file names start with the breed's WordNet id

    files, skipped, bad_annotations = [], 0, 0
    for path, breed in entries:
        note = index.get(path.stem)
        breed = breed or (note[1] if note else by_wnid.get(path.stem.split("_")[0]))
        label = label_of.get(breed) if breed else None
        if wanted is not None and label not in wanted:
            continue
        boxes = None
        if p["crop"] == "box" and note is not None:
            try:
                boxes = read_boxes(note[0])
            except ValueError:
                bad_annotations += 1
        if not boxes:
            files.append(ImageFile(str(path), label=label))
            continue
        for box in boxes:
            if min(box[2] - box[0], box[3] - box[1]) < p["min_box"]:
                skipped += 1  # a tiny, distant dog
                continue
            files.append(ImageFile(str(path), box=with_margin(box, p["margin"]), label=label))
    import logging

    log = logging.getLogger("ganzoo")
    if bad_annotations:
        log.warning("dogs: %d unreadable annotation file(s); those photos are centre-cropped", bad_annotations)
    if skipped:
        log.info("dogs: %d dog(s) with a box under min_box=%d pixels left out", skipped, p["min_box"])
    if wanted is not None:  # compact ids 0..k-1 in breed order
        remap = {old: new for new, old in enumerate(wanted)}
        files = [ImageFile(f.path, f.box, remap[f.label]) for f in files]
        names = [names[i] for i in wanted]
    has_labels = any(f.label is not None for f in files)
    return ImageSet(files=files, class_names=names if has_labels else None, skipped=skipped,
                    source_key=f"dogs:{layout.kind}:{layout.images.resolve()}")


def download(data_dir):
    """Fetch and unpack the official archives into ``data_dir`` (resumable; archives deleted once
    unpacked). A part already on disk, unpacked by ganzoo or by hand (either layout), is kept."""
    import logging

    from ganzoo.data.download import extract, fetch
    from ganzoo_dogs.layout import find_layout

    layout = find_layout(data_dir) if data_dir.is_dir() else None
    present = {"images.tar": layout is not None, "annotation.tar": layout is not None and layout.annotations is not None}
    for name in ARCHIVES:
        if present[name] or (data_dir / f".{name}.extracted").exists():
            where = layout.images if name == "images.tar" else layout.annotations
            logging.getLogger("ganzoo").info("dogs: %s is already unpacked (%s); not downloading it", name, where)
            continue
        archive = fetch(BASE_URL + name, data_dir / name)
        extract(archive, data_dir)
        archive.unlink()


@hookimpl
def ganzoo_register_datasets(register):
    register(
        DatasetSpec(
            name="dogs",
            description="Stanford Dogs / Kaggle Generative Dog Images, cropped to the annotated dogs (120 breeds)",
            load=load,
            params={
                "crop": Param("box", "box: one crop per annotated dog; center: one centre crop per photo",
                              choices=("box", "center")),
                "margin": Param(0.1, "grow each box by this fraction of its size on every side", min=0),
                "min_box": Param(32, "skip dogs whose box is shorter than this many pixels", min=0),
                "breeds": Param([], "only these breeds, e.g. Chihuahua,Pug (default: all 120)", type=list),
            },
            needs_data_dir=True,
            how_to_get=HOW_TO_GET,
            download=download,
            defaults={"flip": True},  # a dog facing left is as much a dog: twice the data for free
        )
    )
