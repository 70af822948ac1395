"""From decoded arrays to the fields of one record (resizing and encoding on the way).

This module is TensorFlow-free on purpose: the converter's worker processes import it (and the
readers, images, density) and start in a second instead of loading TensorFlow; only
`build_record` serializes, importing the schema when called.
"""
import numpy as np

from salgan_tf.data import images


def prepare_fields(*, name, rgb, saliency, fixation_rows=(), fixation_cols=(),
                   fixation_observers=None, resize=None, image_format="jpeg", jpeg_quality=95,
                   map_bit_depth=8, dataset="", passthrough=None):
    """Resizes and encodes one example; returns the keyword arguments of `serialize_example`.

    Args:
      name: image id.
      rgb: `uint8 [H, W, 3]` original image.
      saliency: `[H, W]` ground-truth density map at the original size (any non-negative scale;
        stored scaled to its max).
      fixation_rows, fixation_cols, fixation_observers: 0-based, original grid (kept as is: the
        schema always stores fixations in the original grid).
      resize: optional `(height, width)` to pre-resize the stored image and map to (stretch).
      image_format: `"jpeg"` or `"png"`; jpeg_quality: 1-100; map_bit_depth: 8 or 16.
      dataset: source dataset name.
      passthrough: optional `(encoded_bytes, format)` of the original file, stored as is when
        the image is not resized (no second JPEG compression).

    Raises:
      images.BadInputError: when the map and image sizes differ.
    """
    rgb = np.asarray(rgb, np.uint8)
    saliency = np.asarray(saliency, np.float64)
    if saliency.ndim == 3 and saliency.shape[-1] == 1:
        saliency = saliency[..., 0]
    original_size = tuple(rgb.shape[:2])
    if tuple(saliency.shape) != original_size:
        raise images.BadInputError(f"{name}: map is {saliency.shape[0]}x{saliency.shape[1]} but "
                                   f"the image is {original_size[0]}x{original_size[1]} (HxW)")
    size = tuple(int(s) for s in resize) if resize else original_size
    stored_rgb = images.resize_rgb(rgb, size)
    stored_map = images.resize_gray(saliency, size)
    if passthrough is not None and size == original_size:
        encoded, image_format = passthrough
    else:
        encoded = images.encode_rgb(stored_rgb, image_format, jpeg_quality)
    return dict(
        image=encoded, image_format=image_format, name=name, dataset=dataset,
        height=size[0], width=size[1],
        original_height=original_size[0], original_width=original_size[1],
        map_png=images.encode_map_png(stored_map, map_bit_depth), map_bit_depth=map_bit_depth,
        fixation_rows=np.asarray(fixation_rows, np.int64),
        fixation_cols=np.asarray(fixation_cols, np.int64),
        fixation_observers=(None if fixation_observers is None
                            else np.asarray(fixation_observers, np.int64)))


def build_record(**kwargs):
    """`prepare_fields` + `schema.serialize_example`; returns `(serialized_bytes, stored_size)`."""
    from salgan_tf.data import schema  # imports TensorFlow; see the module docstring
    fields = prepare_fields(**kwargs)
    return schema.serialize_example(**fields), (fields["height"], fields["width"])
