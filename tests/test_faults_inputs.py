"""Images given in memory (issue 29): pixel values, PIL images against their files, RGBA
overlays, a map of the wrong size, a huge array. One check for every input kind
(salgan_tf/image_input.py), and the same value rules in the SavedModel's `predict_tensor`."""
import tracemalloc

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import salgan_tf
from salgan_tf import heatmap
from salgan_tf import inference
from salgan_tf.data import images


def _model(fake_predictor):
    return salgan_tf.Model(fake_predictor())


def test_pixel_values_are_finite_and_0_to_255_for_every_input_kind(fake_predictor, util):
    """A float image in [0, 1] got the black image's map, uint16 and 1e30 were taken, one NaN
    made the whole map NaN: each is refused in one line, by the API and by predict_tensor."""
    model = _model(fake_predictor)
    rgb = util.random_rgb(12, 16, seed=3)
    expected = model.predict(rgb)
    for accepted in (rgb.astype(np.int64), rgb.astype(np.float32), tf.constant(rgb),
                     np.dstack([rgb, np.full((12, 16), 7, np.uint8)])):  # RGBA: alpha dropped
        np.testing.assert_allclose(model.predict(accepted), expected, atol=1e-6)
    assert model.predict(np.zeros((12, 16, 3), np.float32)).shape == (12, 16)  # black either way
    scaled = rgb / 255.0
    nan = rgb.astype(np.float32)
    nan[3, 4, 1] = np.nan
    cases = [
        (scaled, r"^image 0: float values all in \[0, 1\] \(max 1\) look like an image scaled to "
                 r"\[0, 1\]; the model takes 0-255: multiply by 255 \(a 0-255 image this dark: "
                 r"pass it as uint8\)$"),
        (rgb.astype(np.uint16) * 257, r"^image 0: pixel values must be finite and in 0-255 \(RGB, "
                                      r"as 8-bit images\), got min \d+ and max 65535; a 16-bit "
                                      r"image\? pass `image >> 8`, as 16-bit files are read$"),
        (np.full((12, 16), 1e30), r"got min 1e\+30 and max 1e\+30$"),
        (nan, r"got min nan and max nan$"),
        (tf.constant(rgb - 300.0), r"got min -300\.0 and max -\d+\.0$"),
    ]
    for image, message in cases:
        with pytest.raises(inference.InputError, match=message):
            model.predict(image)
    with pytest.raises(ValueError, match=r"^image: float values all in \[0, 1\]"):
        model.overlay(scaled)
    with pytest.raises(ValueError, match=r"^image: pixel values must be finite"):
        salgan_tf.read_image(nan)
    # The SavedModel's tensor signature, in its graph: the first bad image is named.
    predict = util.loaded(util.exported_model()[2]).signatures["predict_tensor"]
    batch = np.stack([rgb, rgb, rgb]).astype(np.float32)
    assert predict(images=tf.constant(batch))["saliency"].shape == (3, 12, 16, 1)
    for index, bad, message in ((1, scaled, r"images\[1\]: float values all in \[0, 1\] \(max 1\) "
                                             r"look like an image scaled to \[0, 1\]; "
                                             r"predict_tensor takes RGB 0-255: multiply by 255"),
                                (2, nan, r"images\[2\]: pixel values must be finite and in 0-255 "
                                         r"\(RGB, as 8-bit images\), got min nan and max nan"),
                                (0, np.full((12, 16, 3), 1e30), r"images\[0\]: .* max 1e\+30")):
        given = batch.copy()
        given[index] = bad
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            predict(images=tf.constant(given))


def test_a_pil_image_follows_the_rules_of_its_file(fake_predictor, tmp_path):
    """A phone photo stored sideways came back sideways as a PIL image (upright from its path),
    and a 16-bit PNG as a PIL image was clipped to 255 (its path keeps the high byte)."""
    model = _model(fake_predictor)
    stored = np.zeros((20, 30, 3), np.uint8)
    stored[:5, :10] = 250  # a bright top-left corner: where it lands tells the orientation
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to view"
    Image.fromarray(stored).save(tmp_path / "phone.png", exif=exif.tobytes())
    sixteen = np.linspace(0, 65535, 20 * 30).reshape(20, 30).astype(np.uint16)
    Image.fromarray(sixteen).save(tmp_path / "deep.png")
    for name, shape in (("phone.png", (30, 20, 3)), ("deep.png", (20, 30, 3))):
        from_path = salgan_tf.read_image(tmp_path / name)
        with Image.open(tmp_path / name) as opened:
            assert from_path.shape == shape, name
            np.testing.assert_array_equal(salgan_tf.read_image(opened), from_path, err_msg=name)
        with Image.open(tmp_path / name) as opened:
            np.testing.assert_array_equal(model.predict(opened), model.predict(tmp_path / name))
    np.testing.assert_array_equal(salgan_tf.read_image(tmp_path / "deep.png")[..., 0],
                                  (sixteen >> 8).astype(np.uint8))
    # In memory (no file): the same 16-bit rule; an image without EXIF is taken as it is.
    np.testing.assert_array_equal(salgan_tf.read_image(Image.fromarray(sixteen)),
                                  images.decode_image(str(tmp_path / "deep.png")))
    np.testing.assert_array_equal(salgan_tf.read_image(Image.fromarray(stored)), stored)


def test_overlay_takes_rgba_a_map_must_fit_and_a_huge_array_costs_no_copy(fake_predictor, util):
    """`overlay` crashed on RGBA while `predict` took it; `crop(saliency=...)` of another size
    returned a box; a 2-D array over the pixel limit was copied to 3 channels before refusal."""
    model = _model(fake_predictor)
    rgb = util.random_rgb(18, 24, seed=4)
    rgba = np.dstack([rgb, np.full((18, 24), 128, np.uint8)])
    np.testing.assert_array_equal(model.overlay(rgba), model.overlay(rgb))
    saliency = model.predict(rgb)
    assert model.crop(rgb, "1:1", saliency=saliency[..., None]) == model.crop(rgb, "1:1")
    for call in (model.crop, model.overlay):
        with pytest.raises(ValueError, match=r"^saliency: a map of shape \(24, 18\) for an image "
                                             r"of 18x24 \(HxW\); give the image's own map"):
            call(rgb, saliency=saliency.T)
    with pytest.raises(ValueError, match=r"^overlay: expected an \[H, W, 3\] RGB image"):
        heatmap.overlay(rgba, saliency)
    limited = fake_predictor()
    limited.max_pixels = 1_000_000
    huge = np.zeros((2000, 2000), np.uint8)  # 4 MB, 4 MP: four times the limit
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="larger than the limit of 1000000 pixels"):
            salgan_tf.Model(limited).predict(huge)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, f"{peak} bytes allocated before the pixel limit refused the image"

