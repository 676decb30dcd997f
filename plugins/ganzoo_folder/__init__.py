"""``folder``: any folder of images, searched recursively; optional labels from subfolders.

Files are chosen by extension (JPEG, PNG, BMP, GIF, TIFF, WebP, PPM/PGM/PBM, any case);
hidden files and folders (``.DS_Store``, ``._photo.jpg``, ``.git/``) are left out. ganzoo
decodes, converts (RGBA, grayscale, CMYK, palette, 16-bit), centre-crops, resizes and caches
them; files that turn out not to be images are skipped and counted.
"""

import ganzoo
from ganzoo import IMAGE_EXTENSIONS, DatasetSpec, Param, find_images, hookimpl

ganzoo.require_api("1.4")  # 1.4: ganzoo.find_images, the walker ganzoo eval uses too


def load(request):
    import os

    from ganzoo import ImageFile, ImageSet

    root = request.data_dir
    if not root.is_dir():
        raise FileNotFoundError(f"no folder {root} (--data-dir must be a folder of images)")
    paths = find_images(root)
    if not paths:
        raise FileNotFoundError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) under {root}")
    if not request.params["labels"]:
        return ImageSet(files=[ImageFile(p) for p in paths], source_key=f"folder:{root.resolve()}")
    classes = sorted({os.path.relpath(p, root).split(os.sep)[0] for p in paths if os.sep in os.path.relpath(p, root)})
    if not classes:
        raise FileNotFoundError(f"labels=true needs one subfolder per class under {root}, found only loose files")
    index = {name: i for i, name in enumerate(classes)}
    files, loose = [], 0
    for p in paths:
        parts = os.path.relpath(p, root).split(os.sep)
        if len(parts) == 1:
            loose += 1  # a file beside the class folders belongs to no class
            continue
        files.append(ImageFile(p, label=index[parts[0]]))
    return ImageSet(files=files, class_names=classes, skipped=loose, source_key=f"folder:{root.resolve()}:labels")


@hookimpl
def ganzoo_register_datasets(register):
    register(
        DatasetSpec(
            name="folder",
            description="Any folder of images (recursive); optional labels from subfolders",
            load=load,
            params={"labels": Param(False, "class labels from the first-level subfolders")},
            needs_data_dir=True,
            how_to_get="Point --data-dir at a folder of images (JPEG, PNG, ...; subfolders are searched).",
        )
    )
