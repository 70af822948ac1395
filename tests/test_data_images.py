"""Host-side image/map loading (bad input!) and fixation -> density maps."""
import io
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageOps
from scipy import ndimage

from salgan_tf.data import density
from salgan_tf.data import images


@pytest.fixture
def rgb():
    return np.random.default_rng(0).integers(0, 256, (12, 20, 3), dtype=np.uint8)


def test_rgb_jpeg_and_png_load(tmp_path, rgb):
    Image.fromarray(rgb).save(tmp_path / "a.png")
    np.testing.assert_array_equal(images.load_rgb(tmp_path / "a.png"), rgb)
    loaded, passthrough = images.load_rgb(tmp_path / "a.png", with_passthrough=True)
    assert passthrough == ((tmp_path / "a.png").read_bytes(), "png")


@pytest.mark.parametrize("mode", ["CMYK", "L", "RGBA", "P", "LA"])
def test_other_modes_become_rgb(tmp_path, rgb, mode):
    path = tmp_path / ("a.jpg" if mode in ("CMYK", "L") else "a.png")
    Image.fromarray(rgb).convert(mode).save(path)
    loaded = images.load_rgb(path)
    assert loaded.shape == (12, 20, 3) and loaded.dtype == np.uint8
    assert images.load_rgb(path, with_passthrough=True)[1] is None  # re-encoded, not copied


def test_16_bit_png_image_is_scaled_to_8_bit(tmp_path):
    gray = np.array([[0, 65535, 32896]], np.uint16)
    Image.fromarray(gray).save(tmp_path / "g16.png")
    loaded = images.load_rgb(tmp_path / "g16.png")
    np.testing.assert_array_equal(loaded[0, :, 0], [0, 255, 128])
    assert loaded.shape == (1, 3, 3)


def test_bad_files_name_the_file(tmp_path, rgb):
    with pytest.raises(images.BadInputError, match="nope.jpg: missing file"):
        images.load_rgb(tmp_path / "nope.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(images.BadInputError, match="empty.jpg: empty file"):
        images.load_rgb(tmp_path / "empty.jpg")
    Image.fromarray(rgb).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[:len(data) // 2])
    with pytest.raises(images.BadInputError, match="cut.jpg: cannot decode"):
        images.load_rgb(tmp_path / "cut.jpg")
    (tmp_path / "junk.jpg").write_bytes(b"\xff\xd8\xff garbage" * 10)
    with pytest.raises(images.BadInputError, match="junk.jpg: cannot decode"):
        images.load_rgb(tmp_path / "junk.jpg")


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_like_pillows_exif_transpose(tmp_path, orientation):
    stored = np.random.default_rng(orientation).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "phone.png"
    Image.fromarray(stored).save(path, exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    decoded = images.decode_image(path)
    np.testing.assert_array_equal(decoded, expected)
    assert images.image_size(path) == decoded.shape[:2]
    assert images.image_size(path.read_bytes()) == decoded.shape[:2]
    rgb, passthrough = images.load_rgb(path, with_passthrough=True)
    np.testing.assert_array_equal(rgb, expected)
    # Stored bytes would be decoded sideways by the training pipeline: re-encode instead.
    assert (passthrough is not None) == (orientation == 1)


def _chunk(kind, payload):
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload)))


def test_png_exif_after_the_image_data_is_read_without_decoding_the_pixels():
    # exif_transpose loads a PNG, and Pillow then reads the chunks after IDAT: an eXIf there
    # counts. The host reads them without decoding: an IDAT Pillow cannot inflate still gives
    # the upright size from the header alone (image_size), and decoding names the damage.
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((3, 5, 3), np.uint8)).save(buffer, format="PNG")
    data = buffer.getvalue()
    exif = Image.Exif()
    exif[0x0112] = 6
    with_exif = data[:-12] + _chunk(b"eXIf", exif.tobytes()[6:]) + data[-12:]
    assert images.image_size(with_exif) == (5, 3)
    assert images.decode_image(with_exif).shape == (5, 3, 3)
    idat = with_exif.index(b"IDAT")
    length = struct.unpack(">I", with_exif[idat - 4:idat])[0]
    garbage = b"\x00" * length
    broken = (with_exif[:idat + 4] + garbage
              + struct.pack(">I", zlib.crc32(b"IDAT" + garbage)) + with_exif[idat + 8 + length:])
    with pytest.raises(OSError):  # Pillow's own rule would decode it
        ImageOps.exif_transpose(Image.open(io.BytesIO(broken)))
    assert images.image_size(broken) == (5, 3)
    with pytest.raises(images.BadInputError, match="^image: cannot decode image: PNG data"):
        images.decode_image(broken)


def test_jpeg_and_png_pixels_are_tensorflows(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    for fmt in ("JPEG", "PNG"):
        buffer = io.BytesIO()
        Image.fromarray(rgb).save(buffer, format=fmt, quality=95)
        data = buffer.getvalue()
        np.testing.assert_array_equal(images.decode_image(data),
                                      tf.io.decode_image(data, channels=3).numpy())


def test_decoder_limits_and_formats():
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(buffer, format="BMP")
    bmp = buffer.getvalue()
    assert images.decode_image(bmp, max_pixels=600).shape == (20, 30, 3)
    with pytest.raises(images.BadInputError, match="^x.bmp: image of 20x30 .*limit of 599"):
        images.decode_image(bmp, name="x.bmp", max_pixels=599)
    with pytest.raises(images.BadInputError, match="^item: is a BMP image; only JPEG and PNG"):
        images.decode_image(bmp, name="item", formats=images.SERVING_FORMATS)
    with pytest.raises(images.BadInputError, match="not a JPEG or PNG image.*starting 00 ff"):
        images.decode_image(b"\x00\xff" * 20)


def test_saliency_map_png_is_value_times_255():
    saliency = np.array([[0.0, 0.5, 1.0, 1.7, -0.2, 0.1]])
    png = Image.open(io.BytesIO(images.encode_map_png(saliency, scale_to_max=False)))
    assert png.mode == "L"
    np.testing.assert_array_equal(np.asarray(png), [[0, 128, 255, 255, 0, 26]])


def test_map_loading_and_size_check(tmp_path):
    Image.fromarray(np.array([[0, 65535]], np.uint16)).save(tmp_path / "m16.png")
    np.testing.assert_allclose(images.load_map(tmp_path / "m16.png"), [[0.0, 1.0]])
    Image.fromarray(np.array([[0, 255, 51]], np.uint8)).save(tmp_path / "m8.png")
    np.testing.assert_allclose(images.load_map(tmp_path / "m8.png"), [[0.0, 1.0, 0.2]])
    with pytest.raises(images.BadInputError, match=r"m8.png: map is 1x3 .*img.jpg is 2x3"):
        images.check_same_size(images.load_map(tmp_path / "m8.png"), (2, 3),
                               tmp_path / "m8.png", tmp_path / "img.jpg")


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_map_png_round_trip_scales_to_max(bit_depth):
    saliency = np.array([[0.0, 0.1, 0.2], [0.05, 0.0, 0.15]])
    decoded = images.decode_png_map(images.encode_map_png(saliency, bit_depth))
    full = 2 ** bit_depth - 1
    np.testing.assert_allclose(decoded, saliency / 0.2, atol=0.5 / full + 1e-9)
    zeros = images.decode_png_map(images.encode_map_png(np.zeros((2, 2)), bit_depth))
    np.testing.assert_array_equal(zeros, 0.0)


# --------------------------------------------------------------------------- density maps

@pytest.mark.parametrize("num_points", [3, 400])  # matrix path and filter path
def test_density_map_equals_gaussian_filter_of_binary_map(num_points):
    rng = np.random.default_rng(num_points)
    size, sigma = (40, 56), 3.0
    rows = rng.integers(0, size[0], num_points)
    cols = rng.integers(0, size[1], num_points)
    got = density.density_map(rows, cols, size, sigma)
    binary = np.zeros(size)
    binary[rows, cols] = 1.0  # duplicates count once, like the datasets' own code
    expected = ndimage.gaussian_filter(binary, sigma, mode="constant")
    np.testing.assert_allclose(got, expected / expected.max(), atol=2e-3)
    assert got.max() == pytest.approx(1.0) and got.min() >= 0.0


def test_salicon_maps_reflect_at_the_border_like_salicon_api():
    rows, cols = np.array([0, 5, 30]), np.array([0, 40, 2])
    got = density.density_map(rows, cols, (32, 48), 4.0, density.border_mode_for("salicon2015"))
    binary = np.zeros((32, 48))
    binary[rows, cols] = 1.0
    expected = ndimage.gaussian_filter(binary, 4.0)  # salicon-api: default mode "reflect"
    np.testing.assert_allclose(got, expected / expected.max(), atol=1e-5)
    assert density.border_mode_for("osie") == "constant"
    with pytest.raises(ValueError, match="mode"):
        density.density_map(rows, cols, (32, 48), 4.0, "wrap")


def test_density_map_peaks_at_a_single_fixation_and_handles_none():
    got = density.density_map([5], [7], (10, 12), 2.0)
    assert np.unravel_index(np.argmax(got), got.shape) == (5, 7)
    assert got[5, 9] == pytest.approx(np.exp(-0.5))  # 2 px = 1 sigma away
    np.testing.assert_array_equal(density.density_map([], [], (4, 5), 2.0), 0.0)


def test_sigma_per_dataset():
    assert density.sigma_for("osie", (600, 800)) == 24.0
    assert density.sigma_for("salicon2015", (480, 640)) == 19.0
    assert density.sigma_for("sun500", (2736, 3648)) == pytest.approx(0.03 * 3648)


def test_unique_pixels_and_scaling():
    rows, cols = density.unique_pixels([1, 1, 2], [3, 3, 0], (4, 5))
    np.testing.assert_array_equal(rows, [1, 2])
    np.testing.assert_array_equal(cols, [3, 0])
    r, c = density.scale_fixations([0, 599], [0, 799], (600, 800), (192, 256))
    np.testing.assert_array_equal(r, [0, 191])
    np.testing.assert_array_equal(c, [0, 255])
