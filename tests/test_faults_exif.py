"""One EXIF rule on every path (issues 23, 29): Pillow's `ImageOps.exif_transpose`, except where
Pillow versions differ (repeated Orientation entries): the project's rule, salgan_tf/data/exif.py.

A corpus of small JPEGs and PNGs (5x3, so a quarter turn shows in the shape) is generated here,
covering each way the old in-graph parser and the host decoder differed: orientations 1-8, many
segments or chunks before the EXIF, fill and junk bytes before a marker, the TIFF field's type
and count, duplicated tags, segments and chunks, an "Exif\\0\\0"-prefixed PNG payload, bad CRCs,
corrupt EXIF, XMP, and inputs of 1-7 bytes. Each file goes through three paths: Pillow itself,
the host decoder (`salgan_tf.data.images`, used by predict and the demo server) and the
SavedModel's graph (`salgan_tf.export.image_header`, and once through an exported SavedModel);
they must agree on the orientation, and on refusing the file. Pillow is the reference only at the
pinned version (setup.cfg) and only where the rule is Pillow's: the cases of `RULE` are checked
against the answers written there (host and graph), never against the installed Pillow.
"""
import io
import struct
import warnings
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageOps

from salgan_tf.data import images

HEIGHT, WIDTH = 3, 5
REFUSED = "refused"
# Each EXIF orientation as a numpy view of the stored [H, W, C] array (EXIF 2.3 table).
TRANSFORMS = {
    1: lambda a: a, 2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1),
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1], 8: lambda a: np.rot90(a, 1)}


# --------------------------------------------------------------------------- corpus

def tiff(entries, little=False, header=None, ifd_offset=8):
    """A TIFF block (the EXIF payload): IFD0 with `entries` = [(tag, type, count, value bytes)];
    values over 4 bytes are stored after the IFD."""
    order = "<" if little else ">"
    head = header if header is not None else (b"II*\x00" if little else b"MM\x00*")
    head += struct.pack(order + "I", ifd_offset)
    head += b"\x00" * (ifd_offset - len(head))
    extra_at = ifd_offset + 2 + 12 * len(entries) + 4
    table, extra = b"", b""
    for tag, kind, count, value in entries:
        if len(value) > 4:
            field = struct.pack(order + "I", extra_at + len(extra))
            extra += value
        else:
            field = value.ljust(4, b"\x00")
        table += struct.pack(order + "HHI", tag, kind, count) + field
    return head + struct.pack(order + "H", len(entries)) + table + b"\x00" * 4 + extra


def short(value, little=False, kind=3):
    """An Orientation entry of one SHORT (or SSHORT with kind=8)."""
    return (0x0112, kind, 1, struct.pack("<H" if little else ">H", value))


def base_image(fmt, seed=0):
    pixels = np.random.default_rng(seed).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def jpeg(*segments, tail=b""):
    """A JPEG with `segments` (bytes, markers included) right after SOI; `tail` before SOS."""
    data = base_image("JPEG")
    return data[:2] + b"".join(segments) + data[2:]


def segment(marker, payload):
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def app1_exif(block, prefix=b"Exif\x00\x00"):
    return segment(0xE1, prefix + block)


def chunk(kind, payload, crc=None):
    crc = zlib.crc32(kind + payload) if crc is None else crc
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png(before=(), after=()):
    """A PNG with the chunks `before` after IHDR and `after` between IDAT and IEND."""
    data = base_image("PNG")
    ihdr_end, iend = 8 + 25, len(data) - 12
    return data[:ihdr_end] + b"".join(before) + data[ihdr_end:iend] + b"".join(after) + data[iend:]


def apng(chunk_before, name, nth):
    """A 3-frame animated PNG (Pillow's writer) with `chunk_before` inserted before the `nth`
    (0-based) chunk called `name`."""
    frames = [Image.fromarray(np.random.default_rng(seed).integers(
        0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)) for seed in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="PNG", save_all=True, append_images=frames[1:])
    data = buffer.getvalue()
    position, found = 8, []
    while position < len(data):
        if data[position + 4:position + 8] == name:
            found.append(position)
        position += 12 + struct.unpack(">I", data[position:position + 4])[0]
    return data[:found[nth]] + chunk_before + data[found[nth]:]


def xmp(value, form='tiff:Orientation="{}"'):
    packet = f'<x:xmpmeta><rdf:Description {form.format(value)}/></x:xmpmeta>'.encode()
    return segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + packet)


def corpus():
    """{name: bytes} covering orientations 1-8 and every class of issue 23."""
    cases = {}
    for orientation in range(1, 9):
        cases[f"jpeg orientation {orientation}"] = jpeg(app1_exif(tiff([short(orientation)])))
        cases[f"png orientation {orientation}"] = png([chunk(b"eXIf", tiff(
            [short(orientation, True)], little=True))])
    six = tiff([short(6)])
    # Segment/chunk search stopping after a fixed count.
    cases["jpeg 70 COM + 70 APP2 before the EXIF"] = jpeg(
        *[segment(0xFE, b"comment")] * 70, *[segment(0xE2, b"data")] * 70, app1_exif(six))
    cases["png 70 tEXt before eXIf"] = png([chunk(b"tEXt", b"k%d\x00v" % i) for i in range(70)]
                                           + [chunk(b"eXIf", six)])
    # Fill and junk bytes before a marker.
    cases["jpeg fill bytes before APP1"] = jpeg(b"\xff\xff\xff" + app1_exif(six))
    cases["jpeg junk bytes before APP1"] = jpeg(segment(0xFE, b"c") + b"\x12\x34" + app1_exif(six))
    cases["jpeg FF 00 before APP1"] = jpeg(segment(0xFE, b"c") + b"\xff\x00" + app1_exif(six))
    cases["jpeg unknown marker"] = jpeg(b"\xff\x05" + app1_exif(six))
    # TIFF field type and count.
    for name, kind, value in [("LONG", 4, struct.pack(">I", 6)), ("SLONG", 9, struct.pack(">i", 6)),
                              ("SSHORT", 8, struct.pack(">h", 6)), ("SBYTE", 6, b"\x06"),
                              ("BYTE", 1, b"\x06"), ("ASCII", 2, b"6\x00"),
                              ("UNDEFINED", 7, b"\x06"), ("invalid type 99", 99, b"\x00\x06"),
                              ("RATIONAL 12/2", 5, struct.pack(">II", 12, 2)),
                              ("SRATIONAL -6/-1", 10, struct.pack(">ii", -6, -1)),
                              ("RATIONAL 6/0", 5, struct.pack(">II", 6, 0)),
                              ("RATIONAL 13/2", 5, struct.pack(">II", 13, 2)),
                              ("FLOAT 6.0", 11, struct.pack(">f", 6.0)),
                              ("FLOAT 6.5", 11, struct.pack(">f", 6.5)),
                              ("DOUBLE 8.0", 12, struct.pack(">d", 8.0)),
                              ("LONG8", 16, struct.pack(">Q", 6))]:
            count = 1 if kind != 2 else 2
            for fmt in ("jpeg", "png"):
                block = tiff([(0x0112, kind, count, value)])
                cases[f"{fmt} orientation as {name}"] = (
                    jpeg(app1_exif(block)) if fmt == "jpeg" else png([chunk(b"eXIf", block)]))
    cases["jpeg SHORT count 0"] = jpeg(app1_exif(tiff([(0x0112, 3, 0, b"\x00\x06")])))
    cases["jpeg SHORT count 0 then 8"] = jpeg(app1_exif(tiff([(0x0112, 3, 0, b"\x00\x06"),
                                                              short(8)])))
    cases["jpeg SHORT count 2 (6, 3)"] = jpeg(app1_exif(tiff([(0x0112, 3, 2, b"\x00\x06\x00\x03")])))
    cases["png SHORT count 3 at an offset"] = png([chunk(b"eXIf", tiff(
        [(0x0112, 3, 3, b"\x00\x05\x00\x06\x00\x07")]))])
    cases["jpeg little-endian"] = jpeg(app1_exif(tiff([short(5, True)], little=True)))
    cases["jpeg swapped magic MM*\\0"] = jpeg(app1_exif(tiff([short(6)], header=b"MM*\x00")))
    # Duplicates: tags, segments, chunks.
    cases["jpeg two Orientation tags (6, 8)"] = jpeg(app1_exif(tiff([short(6), short(8)])))
    cases["png two Orientation tags (6, 8)"] = png([chunk(b"eXIf", tiff([short(6), short(8)]))])
    cases["jpeg two APP1 Exif (6, 8)"] = jpeg(app1_exif(six), app1_exif(tiff([short(8)])))
    cases["png two eXIf (6, 8)"] = png([chunk(b"eXIf", six), chunk(b"eXIf", tiff([short(8)]))])
    cases["jpeg three Orientation tags (3, 6, 8)"] = jpeg(app1_exif(tiff([short(3), short(6),
                                                                          short(8)])))
    cases["png Orientation of unknown type, then 8"] = png([chunk(b"eXIf", tiff(
        [(0x0112, 99, 1, b"\x00\x06"), short(8)]))])
    cases["jpeg a value larger than the EXIF, then Orientation 6"] = jpeg(app1_exif(tiff(
        [(0x010E, 2, 100000, b"x" * 8), short(6)])))
    cases["png eXIf before and after IDAT (6, 8)"] = png([chunk(b"eXIf", six)],
                                                          [chunk(b"eXIf", tiff([short(8)]))])
    cases["png eXIf after IDAT only"] = png(after=[chunk(b"eXIf", six)])
    # An animated PNG: Pillow reads up to the next frame's fcTL only.
    cases["apng eXIf right after IDAT"] = apng(chunk(b"eXIf", six), b"fcTL", 1)
    cases["apng eXIf after the next frame's fcTL"] = apng(chunk(b"eXIf", six), b"fdAT", 0)
    cases["apng eXIf before IDAT"] = apng(chunk(b"eXIf", six), b"IDAT", 0)
    # "Exif\0\0" prefixes.
    cases["png eXIf payload with Exif prefix"] = png([chunk(b"eXIf", b"Exif\x00\x00" + six)])
    cases["jpeg APP1 with a doubled Exif prefix"] = jpeg(app1_exif(b"Exif\x00\x00" + six))
    # Bad CRCs (Pillow refuses the file at open).
    cases["png eXIf bad CRC"] = png([chunk(b"eXIf", six, crc=0)])
    cases["png tEXt bad CRC"] = png([chunk(b"tEXt", b"a\x00b", crc=1)])
    cases["png eXIf bad CRC after IDAT"] = png(after=[chunk(b"eXIf", six, crc=0)])
    # Corrupt EXIF: used as stored, or only the entries read before the damage.
    cases["jpeg bad TIFF header"] = jpeg(app1_exif(b"XX" + six[2:]))
    cases["jpeg BigTIFF header, big-endian"] = jpeg(app1_exif(b"MM\x00+" + six[4:]))
    cases["jpeg BigTIFF header, little-endian"] = jpeg(app1_exif(
        b"II+\x00" + tiff([short(6, True)], little=True)[4:]))
    cases["jpeg EXIF of 5 bytes"] = jpeg(app1_exif(six[:5]))
    cases["jpeg IFD offset past the end"] = jpeg(app1_exif(tiff([short(6)], ifd_offset=4000)))
    cases["jpeg truncated IFD"] = jpeg(app1_exif(six[:8 + 2 + 6]))
    cases["png value offset past the end stops the IFD"] = png([chunk(b"eXIf", tiff(
        [short(6), (0x010E, 2, 100000, b"x" * 8), short(8)]))])
    cases["jpeg empty Exif segment"] = jpeg(app1_exif(b""))
    # XMP (used when the EXIF has no Orientation tag).
    cases["jpeg XMP attribute 6"] = jpeg(xmp(6))
    cases["jpeg XMP element 8"] = jpeg(xmp(8, "<tiff:Orientation>{}</tiff:Orientation>"))
    cases["jpeg EXIF 3 and XMP 6"] = jpeg(app1_exif(tiff([short(3)])), xmp(6))
    cases["png tEXt exif 6"] = png([chunk(b"tEXt", b"exif\x00" + six)])
    packet = b'<x:xmpmeta><rdf:Description tiff:Orientation="6"/></x:xmpmeta>'
    cases["png tEXt XMP 6"] = png([chunk(b"tEXt", b"XML:com.adobe.xmp\x00" + packet)])
    cases["png iTXt XMP 6"] = png([chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + packet)])
    cases["png iTXt XMP 6 after IDAT"] = png(after=[chunk(
        b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00en\x00\x00" + packet)])
    cases["png eXIf 3 and iTXt XMP 6"] = png([chunk(b"eXIf", tiff([short(3)])), chunk(
        b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + packet)])
    cases["jpeg EXIF without Orientation and XMP 6"] = jpeg(
        app1_exif(tiff([(0x010F, 2, 4, b"cam\x00")])), xmp(6))
    # Truncated headers.
    cases["jpeg truncated inside APP1"] = jpeg(app1_exif(six))[:30]
    cases["png truncated inside eXIf"] = png([chunk(b"eXIf", six)])[:45]
    for length in range(1, 8):
        cases[f"{length} bytes of JPEG magic"] = (b"\xff\xd8\xff\xe1\x00\x10\xab")[:length]
        cases[f"{length} non-ASCII bytes"] = bytes([0xE9] * length)
    return cases


# Where Pillow versions differ, the project's rule (salgan_tf/data/exif.py) decides: the first
# Orientation entry with a value wins (earlier Pillow releases took the last), and an entry that does not fit
# the EXIF block ends IFD0 (Pillow 13 skips one larger than the block and reads on).
RULE = {"jpeg two Orientation tags (6, 8)": 6, "png two Orientation tags (6, 8)": 6,
        "jpeg three Orientation tags (3, 6, 8)": 3, "jpeg SHORT count 0 then 8": 8,
        "png Orientation of unknown type, then 8": 8,
        "png value offset past the end stops the IFD": 6,
        "jpeg a value larger than the EXIF, then Orientation 6": 1}


# --------------------------------------------------------------------------- the three paths

def which_transform(upright, stored):
    """The orientation whose transform turns `stored` into `upright` (5x3 random pixels: one)."""
    matches = [k for k, transform in TRANSFORMS.items()
               if transform(stored).shape == upright.shape
               and np.array_equal(transform(stored), upright)]
    assert len(matches) == 1, matches
    return matches[0]


def pillow_orientation(data):
    """Pillow's answer: the transform exif_transpose applies; REFUSED when Pillow cannot open or
    load the image. Where exif_transpose raises on the EXIF alone the image counts as upright."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception:  # noqa: BLE001 (any failure of Pillow's reader is a refusal)
        return REFUSED
    stored = np.asarray(image.convert("RGB"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            upright = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
        except Exception:  # noqa: BLE001
            return 1
    return which_transform(upright, stored)


def _stored_pixels(data):
    """TF's pixels as stored (no orientation), the decoder of both our paths."""
    decode = tf.io.decode_jpeg if data[:3] == b"\xff\xd8\xff" else tf.io.decode_png
    return decode(data, channels=3).numpy()


def host_orientation(data):
    try:
        upright = images.decode_image(data, formats=images.SERVING_FORMATS)
        size = images.image_size(data, formats=images.SERVING_FORMATS)
    except images.BadInputError:
        return REFUSED
    assert size == upright.shape[:2]
    return which_transform(upright, _stored_pixels(data))


@tf.function(input_signature=[tf.TensorSpec([], tf.string)])
def _graph_decode(data):
    """The serving graph's header checks and decoding of one item (`images[3]`)."""
    from salgan_tf.export import image_header  # imported here: the old code had no such module

    size, orientation = image_header.checked_header(data, tf.constant(3), 10 ** 6)
    return size, orientation, image_header.decode_upright(data, orientation)


def graph_orientation(data):
    try:
        size, orientation, upright = _graph_decode(tf.constant(data))
    except tf.errors.InvalidArgumentError as error:
        assert "images[3]:" in error.message, error.message
        return REFUSED
    assert tuple(size.numpy()) == upright.shape[:2]
    found = which_transform(upright.numpy(), _stored_pixels(data))
    assert found == int(orientation)
    return found


def disagreements(cases):
    """{case: (pillow, host, graph)} where the three paths differ."""
    answers = {name: (pillow_orientation(data), host_orientation(data), graph_orientation(data))
               for name, data in cases.items()}
    return {name: answer for name, answer in answers.items() if len(set(answer)) > 1}


# --------------------------------------------------------------------------- tests

def test_the_corpus_covers_every_class_and_pillow_rotates_it():
    cases = corpus()
    answers = {name: pillow_orientation(data) for name, data in cases.items()}
    assert {answers[f"jpeg orientation {k}"] for k in range(1, 9)} == set(range(1, 9))
    assert {answers[f"png orientation {k}"] for k in range(1, 9)} == set(range(1, 9))
    # The classes differ from the naive reading (Pillow's rule at the pinned version; the cases
    # of RULE, where Pillow versions differ, are not asked of Pillow).
    assert answers["jpeg two APP1 Exif (6, 8)"] == 6
    assert answers["png two eXIf (6, 8)"] == 8
    assert answers["jpeg orientation as LONG"] == 6 and answers["jpeg orientation as BYTE"] == 1
    assert answers["jpeg orientation as RATIONAL 12/2"] == 6
    assert answers["png eXIf payload with Exif prefix"] == 6
    assert answers["png eXIf bad CRC"] == REFUSED
    assert answers["jpeg XMP attribute 6"] == 6


def test_host_decoder_and_saved_model_graph_agree_with_pillow_on_the_whole_corpus():
    cases = corpus()
    assert len(cases) > 100
    assert disagreements({name: data for name, data in cases.items() if name not in RULE}) == {}


@pytest.mark.parametrize("name", sorted(RULE))
def test_host_and_graph_follow_the_stated_rule_where_pillow_versions_differ(name):
    data = corpus()[name]
    assert (host_orientation(data), graph_orientation(data)) == (RULE[name], RULE[name]), name


@pytest.mark.parametrize("name", [
    "jpeg 70 COM + 70 APP2 before the EXIF", "png 70 tEXt before eXIf",
    "jpeg fill bytes before APP1", "jpeg junk bytes before APP1",
    "jpeg orientation as LONG", "png orientation as invalid type 99", "jpeg SHORT count 0 then 8",
    "png two eXIf (6, 8)",
    "png eXIf payload with Exif prefix", "png eXIf bad CRC"])
def test_each_class_of_issue_23_agrees(name):
    data = corpus()[name]
    answer = (pillow_orientation(data), host_orientation(data), graph_orientation(data))
    assert len(set(answer)) == 1, f"{name}: Pillow, host, graph = {answer}"


def test_host_names_a_broken_png_as_such_not_as_another_format():
    with pytest.raises(images.BadInputError,
                       match=r"^photo\.png: cannot decode image: PNG header is truncated or "
                             r"corrupt \(broken PNG file"):
        images.decode_image(corpus()["png eXIf bad CRC"], name="photo.png")


@pytest.mark.parametrize("length", range(1, 8))
@pytest.mark.parametrize("head", [b"\xff\xd8\xff\xe1\x00\x10\xab", bytes([0xE9] * 7),
                                  b"RIFF\x00\x00\x00"])
def test_short_inputs_get_invalid_argument_naming_the_item(util, head, length):
    serve = util.loaded(util.exported_model()[2]).signatures["serving_default"]
    good = base_image("PNG")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"images\[1\]:") as caught:
        serve(images=tf.constant([good, head[:length]]))
    assert "out of range" not in caught.value.message


def test_exported_saved_model_gives_the_host_shapes_on_the_corpus(util):
    serve = util.loaded(util.exported_model()[2]).signatures["serving_default"]
    for name, data in corpus().items():
        try:
            expected = images.decode_image(data, formats=images.SERVING_FORMATS).shape[:2]
        except images.BadInputError:
            expected = REFUSED
        try:
            served = serve(images=tf.constant([data]))
            got = (int(served["height"][0]), int(served["width"][0]))
        except tf.errors.InvalidArgumentError as error:
            assert "images[0]:" in error.message, (name, error.message)
            got = REFUSED
        assert got == expected, name


def test_graph_header_walk_is_bounded_and_refuses_past_its_cap():
    # Each walk step is a TF loop iteration: without a cap, a 1.5 MB PNG of 100k tiny chunks cost
    # minutes of CPU. Up to the cap, far more items than a real file holds, the rule is Pillow's;
    # past it the graph refuses the file by name, and so does the host's decode budget
    # (salgan_tf/data/decode_budget.py) for segments and chunks; junk bytes between markers are
    # the one kind the host (Pillow) still reads past the cap.
    from salgan_tf.export.image_header import MAX_HEADER_STEPS

    six = tiff([short(6)])
    inside = png([chunk(b"tEXt", b"k\x00v")] * (MAX_HEADER_STEPS - 10) + [chunk(b"eXIf", six)])
    assert graph_orientation(inside) == host_orientation(inside) == 6
    for beyond, host in [
            (png([chunk(b"tEXt", b"k\x00v")] * MAX_HEADER_STEPS + [chunk(b"eXIf", six)]), REFUSED),
            (jpeg(*[segment(0xFE, b"c")] * MAX_HEADER_STEPS, app1_exif(six)), REFUSED),
            (jpeg(segment(0xFE, b"c") + b"\x12" * MAX_HEADER_STEPS + app1_exif(six)), 6)]:
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"images\[3\]: (PNG|JPEG) header .* more than 1024 segments"):
            _graph_decode(tf.constant(beyond))
        assert host_orientation(beyond) == host
