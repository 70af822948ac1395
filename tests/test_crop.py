"""salgan_tf.crop: the most-salient box of an aspect ratio, on synthetic maps."""
import numpy as np
import pytest

from salgan_tf import crop

LOCAL = "http://127.0.0.1:8501"  # the demo server answers loopback Host names only
RAW_BODY = {"Content-Type": "application/octet-stream"}  # the page route's body


def _blob(size, centre, sigma=2.0):
    rows, cols = np.mgrid[:size[0], :size[1]]
    return np.exp(-((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2) / (2 * sigma**2))


def _brute_force(saliency, size):
    """Every position's mass by direct summation: what the integral image must reproduce."""
    height, width = size
    return np.array([[saliency[top:top + height, left:left + width].sum()
                      for left in range(saliency.shape[1] - width + 1)]
                     for top in range(saliency.shape[0] - height + 1)])


def test_window_masses_equal_direct_sums():
    saliency = np.random.default_rng(0).random((32, 48))
    for size in [(1, 1), (9, 16), (32, 48), (32, 5), (3, 48)]:
        np.testing.assert_allclose(crop.window_masses(saliency, size),
                                   _brute_force(saliency, size), rtol=1e-12, atol=1e-9)


def test_box_size_is_the_largest_box_of_the_aspect_that_fits():
    assert crop.box_size((32, 48), "1:1") == (32, 32)
    assert crop.box_size((32, 48), "16:9") == (27, 48)   # 48 / (16/9) = 27
    assert crop.box_size((32, 48), "9:16") == (32, 18)   # 32 * 9/16 = 18
    assert crop.box_size((32, 48), 1.5) == (32, 48)      # the image's own aspect: no crop
    assert crop.box_size((32, 48), "16:9", scale=0.5) == (14, 24)  # 13.5 rounds to even
    assert crop.box_size((2, 1000), "1:100") == (2, 1)   # at least 1 px


@pytest.mark.parametrize("aspect", ["0:1", "16:0", "-1:2", "wide", "", "nan", 0, -2.0])
def test_bad_aspect_is_refused(aspect):
    with pytest.raises(ValueError, match="aspect"):
        crop.parse_aspect(aspect)


def test_bad_map_and_scale_are_refused():
    with pytest.raises(ValueError, match="non-negative"):
        crop.best_box(-np.ones((4, 4)), "1:1")
    with pytest.raises(ValueError, match=r"\[H, W\]"):
        crop.best_box(np.ones((2, 4, 4)), "1:1")
    with pytest.raises(ValueError, match="scale"):
        crop.best_box(np.ones((4, 4)), "1:1", scale=1.5)


def test_single_blob_is_inside_and_centred_as_far_as_it_can_be():
    saliency = _blob((32, 48), (20, 10))
    box = crop.best_box(saliency, "1:1", scale=0.5)  # 16 x 16
    assert (box.height, box.width) == (16, 16)
    # The blob's centre (20, 10) sits between the box's two middle rows/cols: top 12 and 13 (left
    # 2 and 3) hold the same mass; the tie goes to the box nearer the image centre (15.5, 23.5).
    assert (box.top, box.left) == (12, 3)


def test_two_blobs_the_box_takes_the_heavier():
    saliency = _blob((32, 48), (16, 8)) + 2.0 * _blob((32, 48), (16, 40))
    box = crop.best_box(saliency, "1:1", scale=0.5)
    assert box.left <= 40 < box.left + box.width and not box.left <= 8 < box.left + box.width


def test_two_equal_blobs_one_box_holds_both_when_it_can():
    saliency = _blob((32, 48), (16, 10), 1.0) + _blob((32, 48), (16, 30), 1.0)
    box = crop.best_box(saliency, "1:1")  # 32 x 32: both blobs fit
    # Lefts 4 and 5 centre the pair (midpoint column 20) equally; 5 is nearer the image centre.
    assert box.left == 5


def test_blob_at_the_border_pushes_the_box_to_the_border():
    saliency = _blob((32, 48), (0, 47))
    assert crop.best_box(saliency, "1:1", scale=0.5) == crop.Box(0, 32, 16, 16)
    assert crop.best_box(saliency, "16:9") == crop.Box(0, 0, 27, 48)  # full width: top row kept


def test_aspect_wider_than_the_image_keeps_full_width():
    saliency = _blob((48, 32), (40, 16))  # portrait image, landscape crop
    box = crop.best_box(saliency, "16:9")
    assert (box.height, box.width, box.left) == (18, 32, 0)
    assert box.top <= 40 < box.top + box.height and box.top + box.height >= 44


def test_aspect_taller_than_the_image_keeps_full_height():
    saliency = _blob((32, 48), (10, 5))  # landscape image, portrait crop
    box = crop.best_box(saliency, "9:16")
    assert (box.top, box.height, box.width) == (0, 32, 18)
    assert box.left == 0


def test_ties_pick_the_box_nearest_the_centre_then_top_left():
    # A constant map: every position ties; the centre wins, rounding up and left (= center_box).
    for size, aspect in [((32, 48), "1:1"), ((33, 48), "16:9"), ((31, 47), "9:16")]:
        assert crop.best_box(np.ones(size), aspect) == crop.center_box(size, aspect)
    assert crop.best_box(np.ones((32, 48)), "1:1") == crop.Box(0, 8, 32, 32)
    assert crop.best_box(np.ones((32, 49)), "1:1") == crop.Box(0, 8, 32, 32)  # 8 and 9 tie: left
    # Two single pixels equally far from the centre, each alone fits: top-left wins the tie.
    saliency = np.zeros((32, 48))
    saliency[0, 0] = saliency[31, 47] = 1.0
    assert crop.best_box(saliency, "1:1", scale=0.25) == crop.Box(0, 0, 8, 8)
    # An all-zero map is a tie everywhere too.
    assert crop.best_box(np.zeros((32, 48)), "16:9") == crop.center_box((32, 48), "16:9")


def test_box_cut_and_dict():
    image = np.arange(32 * 48 * 3).reshape(32, 48, 3)
    box = crop.Box(2, 3, 4, 5)
    np.testing.assert_array_equal(box.cut(image), image[2:6, 3:8])
    assert box.to_dict() == {"top": 2, "left": 3, "height": 4, "width": 5}


# --------------------------------------------------------------------------- predict --crop


def _bright_corner_image(height, width, corner_rows, corner_cols):
    """Dark image with one bright rectangle: `brightness_network` makes it the salient part."""
    image = np.full((height, width, 3), 20, np.uint8)
    image[corner_rows, corner_cols] = 250
    return image


def test_predict_files_writes_the_most_salient_crop_and_its_box(fake_predictor, tmp_path):
    import json

    from PIL import Image

    from salgan_tf import predict_lib

    (tmp_path / "in").mkdir()
    image = _bright_corner_image(60, 120, slice(10, 30), slice(90, 115))  # bright at the right
    Image.fromarray(image).save(tmp_path / "in" / "wide.png")
    Image.fromarray(image).save(tmp_path / "in" / "photo.jpg", quality=98)
    predictor = fake_predictor()
    root, paths = predict_lib.find_images(tmp_path / "in")
    report = predict_lib.predict_files(predictor, paths, str(tmp_path / "out"), root=root,
                                       crop_aspect="1:1")
    assert not report.failed
    boxes = json.loads((tmp_path / "out" / "crops" / "boxes.json").read_text())
    assert sorted(boxes) == ["photo.jpg", "wide.png"]
    expected = crop.best_box(predictor.predict(image), "1:1")
    assert boxes["wide.png"] == expected.to_dict()
    assert (expected.height, expected.width) == (60, 60)
    assert expected.left <= 90 and expected.left + 60 >= 115  # holds all of the bright part
    with Image.open(tmp_path / "out" / "crops" / "wide.png") as cropped:
        np.testing.assert_array_equal(np.asarray(cropped), expected.cut(image))  # PNG: lossless
    with Image.open(tmp_path / "out" / "crops" / "photo.jpg") as cropped:
        assert cropped.format == "JPEG" and cropped.size == (60, 60)
    # The centre crop would cut the bright part in half; the box keeps all of it.
    centre = crop.center_box((60, 120), "1:1")
    saliency = predictor.predict(image)
    assert expected.cut(saliency).sum() > centre.cut(saliency).sum() * 1.2


def test_predict_files_refuses_a_bad_aspect_before_writing(fake_predictor, tmp_path):
    from PIL import Image

    from salgan_tf import predict_lib

    (tmp_path / "in").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "in" / "a.png")
    with pytest.raises(ValueError, match="aspect '16-9'"):
        predict_lib.predict_files(fake_predictor(), [str(tmp_path / "in" / "a.png")],
                                  str(tmp_path / "out"), crop_aspect="16-9")
    assert not (tmp_path / "out").exists()


def test_cli_crop_writes_crops_beside_the_maps(util, tmp_path):
    import json
    import subprocess
    import sys

    from PIL import Image

    from salgan_tf import inference

    _, run_dir, _ = util.exported_model()
    (tmp_path / "in").mkdir()
    image = util.random_rgb(45, 80, seed=4)
    Image.fromarray(image).save(tmp_path / "in" / "noise.png")
    command = [sys.executable, "-m", "salgan_tf.predict", f"--model={run_dir}",
               f"--input={tmp_path / 'in'}"]
    result = subprocess.run(command + [f"--output={tmp_path / 'out'}", "--crop=9:16"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "noise.png").is_file()  # the map, as without --crop
    box = json.loads((tmp_path / "out" / "crops" / "boxes.json").read_text())["noise.png"]
    expected = crop.best_box(inference.load_predictor(run_dir).predict(image), "9:16")
    assert box == expected.to_dict() and (box["height"], box["width"]) == (45, 25)
    with Image.open(tmp_path / "out" / "crops" / "noise.png") as cropped:
        np.testing.assert_array_equal(np.asarray(cropped), expected.cut(image))

    refused = subprocess.run(command + [f"--output={tmp_path / 'out2'}", "--crop=wide"],
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode == 1 and "error: aspect 'wide'" in refused.stderr
    assert refused.stderr.strip().splitlines()[-1].startswith("error: aspect 'wide'")
    assert not (tmp_path / "out2").exists()


# --------------------------------------------------------------------------- the demo server


def test_serve_page_route_returns_the_boxes_of_every_aspect(fake_predictor, util):
    import json

    from starlette.testclient import TestClient

    from salgan_tf import serve_app
    from salgan_tf.data import images

    predictor = fake_predictor()
    image = _bright_corner_image(50, 90, slice(30, 48), slice(2, 20))  # bright at bottom left
    data = util.encode(image)
    with TestClient(serve_app.create_app(predictor), base_url=LOCAL) as client:
        response = client.post("/api/saliency.png?filename=corner.png", content=data,
                               headers=RAW_BODY)
        page = client.get("/").text
    assert response.status_code == 200, response.text
    boxes = json.loads(response.headers["x-crop-boxes"])
    assert sorted(boxes) == sorted(serve_app.CROP_ASPECTS)
    saliency = predictor.predict(images.decode_image(data))
    for aspect, box in boxes.items():
        assert box == crop.best_box(saliency, aspect).to_dict(), aspect
    assert boxes["1:1"]["left"] == 0 and boxes["16:9"]["top"] + boxes["16:9"]["height"] == 50
    assert '"crop_aspects"' in page  # the page learns the aspects it offers from the server
