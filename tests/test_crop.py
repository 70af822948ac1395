"""salgan_tf.crop: the most-salient box of an aspect ratio, on synthetic maps."""
import numpy as np
import pytest

from salgan_tf import crop


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
