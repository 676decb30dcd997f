"""``shapes``: a procedural, deterministic, offline dataset of coloured shapes.

Each image is one filled circle, square or triangle of random size, position, rotation and
(palette) colour on a plain dark background; the label is the shape (``kinds`` order: circle 0,
square 1, triangle 2 by default), for class-conditional models; ``--set labels=false`` hands
out the images alone. The same parameters always give the same images, at any image size,
with nothing to download.
"""

import ganzoo
from ganzoo import DatasetSpec, Param, hookimpl

ganzoo.require_api("1.1")

KINDS = ("circle", "square", "triangle")


def load(request):
    from ganzoo_shapes.render import render_shapes

    p = request.params
    shapes = render_shapes(count=p["count"], image_size=request.image_size, kinds=p["kinds"], seed=p["seed"])
    if not p.get("labels", True):
        shapes.labels, shapes.class_names = None, None
    return shapes


@hookimpl
def ganzoo_register_datasets(register):
    register(
        DatasetSpec(
            name="shapes",
            description="Procedural coloured circles, squares and triangles (offline, any size)",
            load=load,
            params={
                "count": Param(8192, "number of images", min=1),
                "kinds": Param(list(KINDS), "shapes to draw", type=list, choices=KINDS),
                "seed": Param(0, "seed of the procedure (the same seed gives the same images)"),
                "labels": Param(True, "label each image with its shape (for conditional models)"),
            },
        )
    )
