"""The decode budget (issue 29, High 2; Low 8's PNG-chunk cap): one set of structural limits,
`salgan_tf.data.decode_budget`, refused the same way by the host decoder, the SavedModel's graph
and the demo server before any pixel is decoded.

The files are small (64x64 progressive JPEGs whose last scan is repeated, 32x32 PNGs with extra
chunks); the cost they stand for is measured in docs/serve.md ("Decode budget").
"""
import base64
import io
import re
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from salgan_tf import serve_app
from salgan_tf.data import images
from salgan_tf.export import image_header

PREDICT = "/v1/models/salgan:predict"


def _progressive_jpeg(extra_scans):
    """A 64x64 progressive JPEG (libjpeg's standard script: 10 scans) with its last scan
    repeated `extra_scans` times before EOI: still decodable, as a hostile file is."""
    buffer = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(buffer, "JPEG", progressive=True)
    data = buffer.getvalue()
    last_scan = data.rindex(b"\xff\xda")
    end = data.rindex(b"\xff\xd9")
    return data[:end] + data[last_scan:end] * extra_scans + data[end:]


def _chunk(name, payload):
    return struct.pack(">I", len(payload)) + name + payload + struct.pack(
        ">I", zlib.crc32(name + payload))


def _png(before_image=b"", after_image=b"", idat_parts=1, height=32, width=32):
    """A black PNG with chunks inserted before its IDAT and after it (before IEND); its image
    data split into `idat_parts` IDAT chunks."""
    raw = b"".join(b"\0" + bytes(width * 3) for _ in range(height))
    compressed = zlib.compress(raw)
    size = len(compressed)  # parts may be empty when the data is shorter than idat_parts
    parts = [compressed[i * size // idat_parts:(i + 1) * size // idat_parts]
             for i in range(idat_parts)]
    idats = b"".join(_chunk(b"IDAT", part) for part in parts)
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return (b"\x89PNG\r\n\x1a\n" + header + before_image + idats + after_image
            + _chunk(b"IEND", b""))


def _ztxt(count):
    return _chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"x" * 1000)) * count


HOSTILE = {
    "jpeg: 33 scans": (_progressive_jpeg(23), "JPEG has 33 scans, more than the limit of 32"),
    "jpeg: 200 scans": (_progressive_jpeg(190), "JPEG has 200 scans"),
    "png: 9 zTXt after the image data": (_png(after_image=_ztxt(9)),
                                         "PNG has 9 compressed metadata chunks"),
    "png: 9 compressed iTXt": (
        _png(after_image=_chunk(b"iTXt", b"k\0\1\0\0\0" + zlib.compress(b"x")) * 9),
        "PNG has 9 compressed metadata chunks"),
    "png: 2 MB text chunk": (_png(after_image=_chunk(b"tEXt", b"k\0" + bytes(2 << 20))),
                             "PNG metadata chunks hold 2097154 bytes, more than the limit"),
    # The graph's header walk stops at the same 1024 before the budget check runs: its words.
    "png: 1100 chunks before IDAT": (_png(before_image=_chunk(b"teXt", b"") * 1100),
                                     r"1024 .*chunks.* before (its|the) image data"),
}
WITHIN = {
    "jpeg: standard progressive (10 scans)": _progressive_jpeg(0),
    "jpeg: 32 scans": _progressive_jpeg(22),
    "jpeg: baseline": images.encode_rgb(np.zeros((8, 8, 3), np.uint8)),
    "png: 8 zTXt": _png(after_image=_ztxt(8)),
    "png: uncompressed iTXt": _png(after_image=_chunk(b"iTXt", b"k\0\0\0\0\0x") * 9),
    "png: 1000 chunks before IDAT": _png(before_image=_chunk(b"teXt", b"") * 1000),
}


@tf.function(input_signature=[tf.TensorSpec([], tf.string)])
def _graph_header(data):
    """The serving graph's header checks of one item: (upright size, orientation)."""
    return image_header.checked_header(data, tf.constant(0), 25_000_000)


def _graph_refusal(data):
    """The graph's InvalidArgument message for `data`, or None when its header checks pass."""
    try:
        _graph_header(tf.constant(data))
    except tf.errors.InvalidArgumentError as error:
        return error.message
    return None


@pytest.fixture(scope="module")
def server_client(fake_predictor):
    from starlette.testclient import TestClient  # noqa: PLC0415

    with TestClient(serve_app.create_app(fake_predictor()),
                    base_url="http://127.0.0.1:8501") as client:
        yield client


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_files_over_the_decode_budget_are_refused_on_every_path(case, server_client):
    data, words = HOSTILE[case]
    with pytest.raises(images.BadInputError, match=words):
        images.decode_image(data, name="upload")
    message = _graph_refusal(data)
    assert message is not None and re.search(words, message), message
    reply = server_client.post(PREDICT, json={"instances": [
        {"b64": base64.b64encode(data).decode()}]})
    assert reply.status_code == 400 and re.search(words, reply.json()["error"]), reply.text


@pytest.mark.parametrize("case", sorted(WITHIN))
def test_files_within_the_decode_budget_decode_on_every_path(case):
    data = WITHIN[case]
    assert images.decode_image(data).ndim == 3
    assert _graph_refusal(data) is None


def test_the_limits_are_the_documented_ones():
    from salgan_tf.data import decode_budget  # noqa: PLC0415 (a011dc3 had no such module)

    assert (decode_budget.MAX_JPEG_SCANS, decode_budget.MAX_PNG_COMPRESSED_CHUNKS,
            decode_budget.MAX_PNG_ANCILLARY_BYTES) == (32, 8, 1 << 20)
    assert image_header.MAX_HEADER_STEPS == decode_budget.MAX_HEADER_STEPS


def _exif_orientation_6():
    tiff = (b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 1)
            + struct.pack(">HHI", 0x0112, 3, 1) + struct.pack(">H", 6) + b"\0\0" + bytes(4))
    return _chunk(b"eXIf", tiff)


def test_host_and_graph_read_a_png_eXIf_past_the_chunk_cap_alike():
    """An eXIf after 1100 IDAT chunks: the graph's walk stops at MAX_HEADER_STEPS chunks, so the
    host must not read further (it did: the host turned the image, the SavedModel did not)."""
    def sizes(data):
        graph = _graph_header(tf.constant(data))[0]
        return images.image_size(data), tuple(int(n) for n in graph.numpy())

    far = _png(after_image=_exif_orientation_6(), idat_parts=1100, height=24, width=40)
    assert sizes(far) == ((24, 40), (24, 40))  # both as stored
    near = _png(after_image=_exif_orientation_6(), idat_parts=10, height=24, width=40)
    assert sizes(near) == ((40, 24), (40, 24))  # both turned
