"""Encoded JPEG/PNG bytes in the serving graph: format, header size, EXIF orientation, checks.

One EXIF rule on every path: the orientation is the one `PIL.ImageOps.exif_transpose` applies
(Pillow at the pinned version), which `salgan_tf.data.images` asks Pillow for on the host, except
for repeated Orientation entries, where Pillow versions differ and the project's rule
(salgan_tf/data/exif.py) holds on both. This module reads the same bytes with TF ops, for TF
Serving, following Pillow's parsers step by step:
- JPEG (JpegImagePlugin): markers are read up to the scan (SOS), not just the first few; junk
  before a 0xFF, 0xFF fill bytes and "FF 00" are skipped; every APP1 "Exif\\0\\0" segment is
  appended to the first (Pillow concatenates them); the last APP1 XMP packet is kept. A header
  Pillow cannot walk (an unknown marker, a truncated segment, no scan) is refused.
- PNG (PngImagePlugin): every chunk before the first IDAT must have a correct CRC, else the file
  is refused; the last eXIf chunk wins, before or after IDAT (exif_transpose loads the image, and
  Pillow reads the chunks after the image data then), its payload prefixed with "Exif\\0\\0";
  a tEXt "exif" chunk holds raw EXIF, a tEXt or uncompressed iTXt "XML:com.adobe.xmp" the XMP.
  An animated PNG is read up to its next frame's fcTL, as Pillow loads only the first frame.
  Not read here (the host reads them): compressed text chunks (zTXt, compressed iTXt) and
  ImageMagick's "Raw profile type exif" text.
- TIFF (Image.Exif, TiffImagePlugin.ImageFileDirectory_v2): leading "Exif\\0\\0" prefixes are
  stripped; IFD0's entries are read until one does not fit (the ones before it count); an entry
  of an unknown type or an empty value is skipped; the first Orientation entry with a value
  wins, later ones are ignored (salgan_tf/data/exif.py); the Orientation value is the tag's FIRST value, whatever its numeric type (SHORT, LONG,
  rationals and floats equal to 1-8 all count; BYTE, ASCII and UNDEFINED never do).
- With no Orientation tag in the EXIF (or no EXIF), the XMP `tiff:Orientation` digit is used.
Where Pillow raises on the EXIF (a bad TIFF header), the image is used as stored (orientation 1).
A walk of more than `MAX_HEADER_STEPS` segments or chunks before the image data is refused.
Every read is bounds-safe; short or truncated bytes fail a check naming the item, never an op.
"""
import tensorflow as tf

from salgan_tf.data import decode_budget
from salgan_tf.data import exif as exif_rule
from salgan_tf.data.images import FORMAT_MAGIC

JPEG_MAGIC, PNG_MAGIC = FORMAT_MAGIC["JPEG"], FORMAT_MAGIC["PNG"]
# (offset, magic bytes, name) of formats clients send by mistake, named in the refusal.
_OTHER_FORMATS = ((0, b"BM", "BMP"), (0, b"GIF8", "GIF"), (8, b"WEBP", "WebP"),
                  (0, b"II*\x00", "TIFF"), (0, b"MM\x00*", "TIFF"))
_HEAD_BYTES = 16  # the sniffing reads this many bytes, zero padded
# Steps of a header walk (a JPEG segment, fill or junk byte; a PNG chunk): a header that needs
# more before the image data is refused, so hostile headers cost at most ~0.5 s (tiny PNG
# chunks, each CRC-checked) and ~0.07 s (JPEG) per image on 2 CPU cores; real photos need < 100.
# After a PNG's image data the walk just ends there (the host reads no chunk past it either).
MAX_HEADER_STEPS = decode_budget.MAX_HEADER_STEPS

# JPEG markers Pillow reads a length-prefixed segment for (JpegImagePlugin.MARKER with a
# handler), and those it passes over (no handler); any other byte after 0xFF stops the walk.
_SEGMENT_MARKERS = [*range(0xC0, 0xC8), *range(0xC9, 0xD0), *range(0xDA, 0xF0), 0xFE]
_BARE_MARKERS = [0xC8, *range(0xD0, 0xDA), *range(0xF0, 0xFE)]
_SOS, _APP1 = 0xDA, 0xE1
_XMP_PREFIX = b"http://ns.adobe.com/xap/1.0/\x00"
_PNG_XMP_KEY = b"XML:com.adobe.xmp\x00"  # a PNG text chunk's keyword for the XMP packet


def check(condition, template, *values):
    """`tf.debugging.Assert` with one readable message: `template` with each `{}` replaced by
    a value (a string tensor as is, a number as its decimal digits)."""
    texts = [value if isinstance(value, tf.Tensor) and value.dtype == tf.string
             else tf.strings.as_string(value) for value in values]
    pieces = template.split("{}")
    message = [pieces[0]]
    for text, piece in zip(texts, pieces[1:]):
        message += [text, piece]
    return tf.debugging.Assert(condition, [tf.strings.join(message)])


# ---------------------------------------------------------------- bytes as int64 vectors

def _as_bytes(data):
    """int64 `[len + 1]` byte values of a string scalar and a zero, read past the end."""
    return tf.concat([tf.cast(tf.io.decode_raw(data, tf.uint8), tf.int64),
                      tf.zeros([1], tf.int64)], 0)


def _size(values):
    """The byte count of an `_as_bytes` vector."""
    return tf.size(values, out_type=tf.int64) - 1


def _at(values, offset, count):
    """int64 `[count]`: `values[offset:offset + count]`, zeros where outside."""
    indices = tf.clip_by_value(offset + tf.range(count, dtype=tf.int64), -1, _size(values))
    return tf.gather(values, tf.where(indices < 0, _size(values), indices))  # the zero


def _uint(values, offset, count, little=False):
    """Unsigned integer of `count` bytes at `offset` (big-endian unless `little`)."""
    weights = tf.constant([256 ** i for i in range(count)], tf.int64)
    weights = tf.where(little, weights, tf.reverse(weights, [0]))
    return tf.reduce_sum(_at(values, offset, count) * weights)


def _equal(values, offset, expected):
    """Whether the bytes at `offset` are `expected` (False past the end)."""
    inside = offset + len(expected) <= _size(values)
    return inside & tf.reduce_all(tf.equal(_at(values, offset, len(expected)), list(expected)))


def _slice(data, offset, length):
    """`data[offset:offset + length]` of a string scalar, cut at its ends (never an error)."""
    size = tf.cast(tf.strings.length(data), tf.int64)
    offset = tf.clip_by_value(tf.cast(offset, tf.int64), 0, size)
    return tf.strings.substr(data, offset, tf.clip_by_value(tf.cast(length, tf.int64), 0,
                                                            size - offset))


# ---------------------------------------------------------------- format sniffing

_HEX_BYTES = [f"{value:02x}" for value in range(256)]


def _head(data):
    """The first `_HEAD_BYTES` bytes of `data`, zero padded: sniffing never reads past the end."""
    return tf.strings.substr(tf.strings.join([tf.strings.substr(data, 0, _HEAD_BYTES),
                                              "\0" * _HEAD_BYTES]), 0, _HEAD_BYTES)


def _hex_head(data, length=8):
    """The first (up to) `length` bytes as ASCII hex, e.g. "42 4d 36 00"."""
    values = tf.cast(tf.io.decode_raw(tf.strings.substr(data, 0, length), tf.uint8), tf.int32)
    return tf.strings.reduce_join(tf.gather(tf.constant(_HEX_BYTES), values), separator=" ")


def _format_name(head):
    """"BMP", "GIF", "WebP", "TIFF" or "unknown" from the padded head's magic bytes."""
    name = tf.constant("unknown")
    for offset, magic, format_name in _OTHER_FORMATS:
        name = tf.where(tf.equal(tf.strings.substr(head, offset, len(magic)), magic),
                        format_name, name)
    return name


def is_jpeg(data):
    """Whether a string scalar starts with the JPEG magic bytes."""
    return tf.equal(tf.strings.substr(_head(data), 0, len(JPEG_MAGIC)), JPEG_MAGIC)


def _is_png(data):
    return tf.equal(tf.strings.substr(_head(data), 0, len(PNG_MAGIC)), PNG_MAGIC)


# ---------------------------------------------------------------- JPEG header walk

def _jpeg_walk(data, values):
    """Pillow's JPEG header walk -> (walk succeeded, EXIF bytes, XMP bytes)."""
    size = _size(values)
    segment_markers = tf.constant(_SEGMENT_MARKERS, tf.int64)
    bare_markers = tf.constant(_BARE_MARKERS, tf.int64)

    def next_byte(position):  # Pillow's `fp.read(1)`: -1 at the end (then `s[0]` fails)
        return tf.where(position < size, _uint(values, position, 1), tf.constant(-1, tf.int64)), position + 1

    def segment(position, marker, exif, xmp):
        """Reads the length-prefixed segment after `marker`; (ok, position after, exif, xmp)."""
        start = position + 2
        length = tf.maximum(_uint(values, position, 2) - 2, 0)
        ok = start + length <= size
        is_app1 = tf.equal(marker, _APP1) & ok
        new_exif = is_app1 & _equal(values, start, exif_rule.EXIF_PREFIX)
        exif = tf.where(new_exif, tf.strings.join([
            exif, _slice(data, tf.where(tf.strings.length(exif) > 0, start + 6, start),
                         tf.where(tf.strings.length(exif) > 0, length - 6, length))]), exif)
        new_xmp = is_app1 & _equal(values, start, _XMP_PREFIX)
        xmp = tf.where(new_xmp, _slice(data, start + len(_XMP_PREFIX),
                                       length - len(_XMP_PREFIX)), xmp)
        return ok, start + length, exif, xmp

    def step(position, current, done, ok, exif, xmp):
        marker = _uint(values, position, 1)
        has_marker = tf.equal(current, 0xFF) & (position < size)
        is_segment = has_marker & tf.reduce_any(tf.equal(marker, segment_markers))
        segment_ok, after, exif, xmp = segment(position + 1, marker, exif, xmp)
        is_scan = is_segment & tf.equal(marker, _SOS)
        # Where the next `fp.read(1)` happens: after a segment, a bare marker, "FF 00", junk.
        resume = tf.where(is_segment, after, tf.where(tf.equal(current, 0xFF), position + 1,
                                                      position))
        read, read_position = next_byte(resume)
        is_known = (is_segment | (has_marker & (tf.reduce_any(tf.equal(marker, bare_markers))
                                                | tf.equal(marker, 0x00))))
        fill = has_marker & tf.equal(marker, 0xFF)  # "FF FF": the second FF starts the marker
        failed = ((current < 0) | (tf.equal(current, 0xFF) & (position >= size))
                  | (has_marker & ~is_known & ~fill) | (is_segment & ~segment_ok))
        current = tf.where(fill, current, read)
        position = tf.where(fill, position + 1, read_position)
        return (position, current, failed | is_scan, ~failed, exif, xmp)

    # Pillow reads the 3 magic bytes, then starts the walk from "FF" (the third byte).
    _, _, done, ok, exif, xmp = tf.while_loop(
        lambda position, current, done, ok, exif, xmp: ~done, step,
        (tf.constant(3, tf.int64), tf.constant(0xFF, tf.int64), tf.constant(False),
         tf.constant(True), tf.constant(""), tf.constant("")),
        maximum_iterations=MAX_HEADER_STEPS)
    return ok & done, exif, xmp


# ---------------------------------------------------------------- PNG chunk walk

def _crc_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xEDB88320 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()  # PNG's CRC-32 (ISO 3309): one register step per byte value
_CRC_POWERS = 32  # L^(2^j) for j < 32: enough for any row length (C < 2^32)


def _crc_step_powers():
    """`[32, 32, 32]` 0/1: row i of matrix j holds the bits of L^(2^j)(1 << i), where
    L(s) = table[s & 0xFF] ^ (s >> 8) is the CRC register's step over a zero byte (linear)."""
    columns = [_CRC_TABLE[(1 << i) & 0xFF] ^ ((1 << i) >> 8) for i in range(32)]
    powers = []
    for _ in range(_CRC_POWERS):
        powers.append([[(column >> bit) & 1 for bit in range(32)] for column in columns])
        columns = [_apply_bits(columns, column) for column in columns]  # L^(2k) = L^k(L^k)
    return powers


def _apply_bits(columns, value):
    result = 0
    for i in range(32):
        if (value >> i) & 1:
            result ^= columns[i]
    return result


def _bits(words):
    """float32 `[..., 32]` 0/1 bits of int64 words."""
    return tf.cast(tf.bitwise.bitwise_and(
        tf.bitwise.right_shift(words[..., None], tf.range(32, dtype=tf.int64)), 1), tf.float32)


def _crc32(values, start, end):
    """PNG CRC-32 of `values[start:end]` (at least 4 bytes), in about 2 * sqrt(length) steps.

    The bytes are cut into R rows of C ~ sqrt(length): one table step per column runs on all
    rows at once (each from a zero register), then the rows are chained by the linear map L^C
    (the register after C more bytes). The initial 0xFFFFFFFF is folded into the first 4 bytes.
    """
    length = tf.maximum(end - start, 4)  # (an unused call may pass an empty range)
    message = _at(values, start, length)
    message = tf.bitwise.bitwise_xor(message, tf.pad(tf.fill([4], tf.constant(0xFF, tf.int64)),
                                                     [[0, length - 4]]))
    columns = tf.cast(tf.math.ceil(tf.sqrt(tf.cast(length, tf.float64))), tf.int64)
    rows = (length + columns - 1) // columns
    # Leading zero bytes leave a zero register unchanged.
    grid = tf.reshape(tf.pad(message, [[rows * columns - length, 0]]), [rows, columns])
    table = tf.constant(_CRC_TABLE, tf.int64)

    def column_step(column, registers):
        index = tf.bitwise.bitwise_and(tf.bitwise.bitwise_xor(registers, grid[:, column]), 0xFF)
        return column + 1, tf.bitwise.bitwise_xor(tf.gather(table, index),
                                                  tf.bitwise.right_shift(registers, 8))

    _, registers = tf.while_loop(lambda column, _: column < columns, column_step,
                                 (tf.constant(0, tf.int64), tf.zeros([rows], tf.int64)))
    powers = tf.constant(_crc_step_powers(), tf.float32)

    def power_step(bit, chain):  # L^columns, from the binary digits of `columns`
        use = tf.bitwise.bitwise_and(tf.bitwise.right_shift(columns, bit), 1) > 0
        return bit + 1, tf.where(use, tf.math.floormod(tf.matmul(chain, powers[bit]), 2.0),
                                 chain)

    _, chain = tf.while_loop(
        lambda bit, _: (rows > 1) & (tf.bitwise.right_shift(columns, bit) > 0), power_step,
        (tf.constant(0, tf.int64), tf.eye(32)))
    row_bits = _bits(registers)

    def row_step(row, state):
        return row + 1, tf.math.floormod(tf.matmul(state, chain) + row_bits[row][None], 2.0)

    _, state = tf.while_loop(lambda row, _: row < rows, row_step,
                             (tf.constant(0, tf.int64), tf.zeros([1, 32])))
    crc = tf.reduce_sum(tf.cast(state[0], tf.int64) * (2 ** tf.range(32, dtype=tf.int64)))
    return tf.bitwise.bitwise_xor(crc, 0xFFFFFFFF)


def _is_chunk_name(values, offset):
    """Pillow's `is_cid`: four word characters [A-Za-z0-9_]."""
    name = _at(values, offset, 4)
    return tf.reduce_all(((name >= 48) & (name <= 57)) | ((name >= 65) & (name <= 90))
                         | ((name >= 97) & (name <= 122)) | tf.equal(name, 95))


def _png_walk(data, values):
    """Pillow's PNG chunk reading (open, then `load_end` after the image data) ->
    (every chunk before the image data whole and with a correct CRC, EXIF bytes)."""
    size = _size(values)

    def step(position, after_image, done, ok, exif, xmp, frames, framed):
        length = _uint(values, position, 4)
        name = position + 4
        end = name + 4 + length  # where the CRC starts
        readable = (name + 4 <= size) & _is_chunk_name(values, name)
        is_image = _equal(values, name, b"IDAT")
        # Before the image data Pillow reads each chunk and its CRC; after it, the data alone.
        whole = readable & (tf.where(after_image, end, end + 4) <= size)
        checks_crc = whole & ~after_image & ~is_image
        crc_ok = ~checks_crc | tf.equal(_crc32(values, name, tf.where(checks_crc, end, name)),
                                        _uint(values, end, 4))
        exif = tf.where(whole & _equal(values, name, b"eXIf"), tf.strings.join(
            [exif_rule.EXIF_PREFIX, _slice(data, name + 4, length)]), exif)
        exif, xmp = _png_text(data, values, name, length, whole, exif, xmp)
        frames, framed, next_frame = _png_animation(values, name, length, whole & ~after_image,
                                                    after_image, frames, framed)
        # A broken chunk before the image data refuses the file; after it, Pillow stops there.
        failed = ~after_image & ((~is_image & (~whole | ~crc_ok)) | ~readable
                                 | (whole & _equal(values, name, b"acTL") & (length < 8)))
        stop = ~whole | _equal(values, name, b"IEND") | failed | next_frame
        return (end + 4, after_image | is_image, stop, ok & ~failed, exif, xmp, frames, framed)

    results = tf.while_loop(
        lambda position, after_image, done, *_: ~done, step,
        (tf.constant(len(PNG_MAGIC), tf.int64), tf.constant(False), tf.constant(False),
         tf.constant(True), tf.constant(""), tf.constant(""), tf.constant(0, tf.int64),
         tf.constant(False)),
        maximum_iterations=MAX_HEADER_STEPS)
    _, after_image, _, ok, exif, xmp, _, _ = results
    return ok & after_image, exif, xmp


def _png_animation(values, name, length, before_image, after_image, frames, framed):
    """An APNG's state -> (acTL frame count or 0, an fcTL came before IDAT, this chunk is the
    next frame's fcTL of an animated PNG, where Pillow's `load_end` stops)."""
    count = _uint(values, name + 4, 4)
    is_control = before_image & _equal(values, name, b"acTL") & (length >= 8)
    # A second acTL cancels the animation; a count of 0 or over 2**31 is ignored.
    frames = tf.where(is_control & (frames > 0), tf.zeros_like(frames), tf.where(
        is_control & (count > 0) & (count <= 0x80000000), count, frames))
    framed = framed | (before_image & _equal(values, name, b"fcTL"))
    # Pillow counts the IDAT image as a frame of its own when no fcTL precedes it.
    animated = (frames > 1) | ((frames > 0) & ~framed)
    return frames, framed, after_image & animated & _equal(values, name, b"fcTL")


def _png_text(data, values, name, length, whole, exif, xmp):
    """(exif, xmp) after a chunk: a tEXt "exif" holds raw EXIF; a tEXt or uncompressed iTXt
    "XML:com.adobe.xmp" the XMP packet (the last one wins, as Pillow's `info` keys)."""
    start = name + 4
    is_text = whole & _equal(values, name, b"tEXt")
    is_itxt = whole & _equal(values, name, b"iTXt")
    exif = tf.where(is_text & _equal(values, start, b"exif\x00"),
                    _slice(data, start + 5, length - 5), exif)
    key = len(_PNG_XMP_KEY)
    rest = _slice(data, start + key, length - key)
    # iTXt after its key: compression flag, method, language\0, translated keyword\0, text.
    parts = tf.strings.split(_slice(rest, 2, length), "\0", maxsplit=2)
    itxt_value = tf.gather(tf.concat([parts, [""] * 3], 0), 2)
    uncompressed = tf.equal(_uint(values, start + key, 1), 0) & (tf.size(parts) == 3)
    is_xmp = _equal(values, start, _PNG_XMP_KEY)
    xmp = tf.where(is_text & is_xmp, rest, xmp)
    return exif, tf.where(is_itxt & is_xmp & uncompressed, itxt_value, xmp)


# ---------------------------------------------------------------- TIFF / EXIF orientation

def _tiff_start(values):
    """Offset after the leading "Exif\\0\\0" prefixes (Image.Exif.load strips them all)."""
    prefix = exif_rule.EXIF_PREFIX
    return tf.while_loop(lambda start: _equal(values, start, prefix),
                         lambda start: start + len(prefix), (tf.constant(0, tf.int64),))[0]


def _orientation_field(values, start, little):
    """IFD0's first Orientation entry with a value -> (found, field type, offset of it)."""
    size = _size(values)
    ifd = start + _uint(values, start + 4, 4, little)
    entries = tf.where(ifd + 2 <= size, _uint(values, ifd, 2, little), 0)
    type_sizes = tf.constant([exif_rule.TYPE_SIZES.get(kind, 0) for kind in range(17)],
                             tf.int64)

    def step(index, more, found, kind, offset):
        entry = ifd + 2 + 12 * index
        fits = entry + 12 <= size
        tag = _uint(values, entry, 2, little)
        field_type = _uint(values, entry + 2, 2, little)
        unit = tf.gather(type_sizes, tf.where(field_type <= 16, field_type, 0))
        length = _uint(values, entry + 4, 4, little) * unit
        # A value over 4 bytes lies at an offset; one that does not fit ends the IFD (OSError).
        value_at = tf.where(length > 4, start + _uint(values, entry + 8, 4, little), entry + 8)
        fits = fits & ((length <= 4) | (value_at + length <= size))
        loaded = fits & (length > 0) & tf.equal(tag, exif_rule.ORIENTATION_TAG) & ~found
        return (index + 1, fits, found | loaded, tf.where(loaded, field_type, kind),
                tf.where(loaded, value_at, offset))

    zero = tf.constant(0, tf.int64)
    _, _, found, kind, offset = tf.while_loop(
        lambda index, more, found, kind, offset: more & (index < entries), step,
        (zero, tf.constant(True), tf.constant(False), zero, zero))
    return found, kind, offset


def _signed(value, count):
    """Two's complement of a `count`-byte unsigned value."""
    return tf.where(value >= 2 ** (8 * count - 1), value - 2 ** (8 * count), value)


def _first_value(values, kind, offset, little):
    """float64 first value of a field of type `kind` at `offset` as Pillow reads it; -1 for a
    value that is no number (BYTE, ASCII, UNDEFINED) or cannot be 1-8."""
    def read(count, skip=0):
        return _uint(values, offset + skip, count, little)

    is_signed = tf.equal(kind, 10)
    numerator = tf.cast(tf.where(is_signed, _signed(read(4), 4), read(4)), tf.float64)
    denominator = tf.cast(tf.where(is_signed, _signed(read(4, 4), 4), read(4, 4)), tf.float64)
    # IFDRational(n, d) equals k when d != 0 and n == k * d (0/0 is NaN).
    ratio = tf.round(numerator / tf.where(tf.equal(denominator, 0.0), tf.ones_like(denominator), denominator))
    rational = tf.where(~tf.equal(denominator, 0.0) & tf.equal(ratio * denominator, numerator),
                        ratio, -tf.ones_like(ratio))
    low, high = tf.where(little, read(4), read(4, 4)), tf.where(little, read(4, 4), read(4))
    integers = {3: read(2), 4: read(4), 6: _signed(read(1), 1), 8: _signed(read(2), 2),
                9: _signed(read(4), 4), 13: read(4), 16: tf.where(tf.equal(high, 0), low, -tf.ones_like(low))}
    numbers = {field_type: tf.cast(value, tf.float64) for field_type, value in integers.items()}
    numbers.update({
        5: rational, 10: rational,
        11: tf.cast(tf.bitcast(tf.cast(read(4), tf.uint32), tf.float32), tf.float64),
        12: tf.bitcast(read(8), tf.float64)})
    value = tf.constant(-1.0, tf.float64)
    for field_type, number in numbers.items():
        value = tf.where(tf.equal(kind, field_type), number, value)
    return value


def _xmp_orientation(xmp):
    """The first XMP `tiff:Orientation` digit (float64), or -1 (Image.getexif's XMP rule)."""
    pattern = r"(?s).*?" + exif_rule.XMP_ORIENTATION + r".*"
    found = tf.strings.regex_full_match(xmp, pattern)
    digit = tf.strings.regex_replace(xmp, "^" + pattern + "$", r"\1", replace_global=False)
    return tf.where(found, tf.strings.to_number(tf.where(found, digit, "0"), tf.float64),
                    tf.constant(-1.0, tf.float64))


def _exif_orientation(exif, xmp):
    """int32 orientation 1-8 from the EXIF bytes (Pillow's `info["exif"]`) and XMP packet."""
    values = _as_bytes(exif)
    start = _tiff_start(values)
    size = _size(values)
    little = _equal(values, start, b"II")
    header_ok = start + 8 <= size
    header_ok &= tf.reduce_any([_equal(values, start, prefix)
                                for prefix in exif_rule.TIFF_PREFIXES])
    # Pillow raises on a bad header (no XMP then); it reads no tags from empty EXIF.
    raised = (start < size) & ~header_ok
    found, kind, offset = _orientation_field(values, start, little)
    found &= header_ok
    value = tf.where(found, _first_value(values, kind, offset, little),
                     tf.where(raised, tf.constant(-1.0, tf.float64), _xmp_orientation(xmp)))
    is_orientation = (value >= 1.0) & (value <= 8.0) & tf.equal(value, tf.round(value))
    return tf.cast(tf.where(is_orientation, value, tf.ones_like(value)), tf.int32)


def upright(image, orientation):
    """`[H, W, C]` as stored -> as shown, for EXIF orientation 1-8 (exif_transpose's table)."""
    def turned():  # rows become columns
        return tf.transpose(image, [1, 0, 2])

    return tf.switch_case(orientation - 1, [
        lambda: image,
        lambda: tf.reverse(image, [1]),
        lambda: tf.reverse(image, [0, 1]),
        lambda: tf.reverse(image, [0]),
        turned,
        lambda: tf.reverse(turned(), [1]),  # 6: 90 degrees clockwise
        lambda: tf.reverse(turned(), [0, 1]),
        lambda: tf.reverse(turned(), [0]),  # 8: 90 degrees counter-clockwise
    ])


def _png_size(values):
    """(H, W) int64 from a PNG's IHDR chunk (bytes 16-23, big-endian width then height)."""
    return tf.stack([_uint(values, 20, 4), _uint(values, 16, 4)])


def checked_header(data, index, max_pixels):
    """(JPEG/PNG bytes, request item index) -> (int64 upright (H, W) from the header, int32 EXIF
    orientation), after every item check; nothing is decoded.

    Bad bytes fail with an InvalidArgument naming `images[index]`. Messages hold only ASCII: the
    first bytes are shown in hex (raw bytes in an Assert message made Python raise
    UnicodeDecodeError instead).
    """
    item = tf.strings.format("images[{}]:", index)
    checks = [check(tf.strings.length(data) > 0, "{} image bytes are empty", item)]
    jpeg, png = is_jpeg(data), _is_png(data)
    with tf.control_dependencies(checks):
        checks.append(check(
            jpeg | png,
            "{} bytes are neither JPEG nor PNG (the formats this model decodes); they look "
            "like {} data; first bytes (hex): {}", item, _format_name(_head(data)),
            _hex_head(data)))
    with tf.control_dependencies(checks):
        values = _as_bytes(data)
        header_ok, exif, xmp = tf.cond(jpeg, lambda: _jpeg_walk(data, values),
                                       lambda: _png_walk(data, values))
        checks.append(check(jpeg | (_size(values) >= 24),
                            "{} PNG bytes too short to hold an IHDR header", item))
    # A JPEG's size needs a header libjpeg can walk; a PNG's IHDR is read first, so a PNG
    # bomb's header alone is refused for its size.
    with tf.control_dependencies(checks):
        checks.append(_check_header(header_ok | ~jpeg, item, "JPEG"))
    with tf.control_dependencies(checks):
        size = tf.cond(jpeg, lambda: tf.cast(tf.io.extract_jpeg_shape(data)[:2], tf.int64),
                       lambda: _png_size(values))
        orientation = _exif_orientation(exif, xmp)
        # Orientations 5-8 turn the image by 90 degrees: height and width swap.
        size = tf.where(orientation >= 5, tf.reverse(size, [0]), size)
        pixels = size[0] * size[1]
        checks.append(check(
            (pixels > 0) & (pixels <= max_pixels),
            "{} image of {} x {} (HxW) is empty or larger than the limit of {} pixels "
            "(max_pixels)", item, size[0], size[1], max_pixels))
    with tf.control_dependencies(checks):
        checks.append(_check_header(header_ok, item, "PNG"))
    with tf.control_dependencies(checks):  # last, so the header checks name their own faults
        checks.append(_budget_check(values, jpeg, item))
    with tf.control_dependencies(checks):
        return tf.identity(size), tf.identity(orientation)


def _check_header(condition, item, format_name):
    return check(condition, "{} {} header is truncated or corrupt (a segment or chunk runs past "
                 "the end, a marker is unknown, a chunk's CRC is wrong, or more than {} segments "
                 "or chunks come before the image data)", item, format_name, MAX_HEADER_STEPS)


def decode_upright(data, orientation):
    """Checked JPEG/PNG bytes and their orientation (from `checked_header`, whose checks run
    first) -> uint8 `[H, W, 3]` as shown."""
    with tf.control_dependencies([orientation]):
        data = tf.identity(data)
    image = tf.cond(is_jpeg(data), lambda: tf.io.decode_jpeg(data, channels=3),
                    lambda: tf.io.decode_png(data, channels=3))
    return upright(tf.ensure_shape(image, [None, None, 3]), orientation)


# ---------------------------------------------------------------- decode budget

def _jpeg_budget(values):
    """`salgan_tf.data.decode_budget.jpeg_counts` in TF ops -> (scans, walk complete)."""
    size = _size(values)
    first, after = values[:-1], values[1:]
    is_marker = (tf.equal(first, 0xFF) & ~tf.equal(after, 0x00) & ~tf.equal(after, 0xFF)
                 & ((after < 0xD0) | (after > 0xD7)))
    # Sorted marker offsets, then `size` as an end sentinel.
    candidates = tf.concat([tf.where(is_marker)[:, 0], [size]], 0)
    bare = tf.constant(decode_budget.BARE_JPEG_MARKERS, tf.int64)

    def step(position, scans, markers, done):
        at = tf.gather(candidates, tf.searchsorted(candidates, position[None])[0])
        found = at < size
        marker = _uint(values, at + 1, 1)
        is_end = ~found | tf.equal(marker, decode_budget.EOI)
        counted = found & ~is_end
        scans += tf.cast(counted & tf.equal(marker, decode_budget.SOS), tf.int64)
        length = tf.where(tf.reduce_any(tf.equal(marker, bare)), tf.constant(0, tf.int64),
                          _uint(values, at + 2, 2))
        return at + 2 + length, scans, markers + tf.cast(found, tf.int64), is_end

    zero = tf.constant(0, tf.int64)
    _, scans, _, done = tf.while_loop(
        lambda position, scans, markers, done: ~done & (markers < decode_budget.MAX_JPEG_MARKERS),
        step, (tf.constant(2, tf.int64), zero, zero, tf.constant(False)))
    return scans, done


def _png_budget(values):
    """`salgan_tf.data.decode_budget.png_counts` in TF ops -> (chunks before the first IDAT,
    chunks, ancillary data bytes, compressed chunks)."""
    size = _size(values)
    window = decode_budget.ITXT_KEYWORD_WINDOW

    def step(position, before, chunks, ancillary, compressed, seen_image, done):
        length = _uint(values, position, 4)
        name = position + 4
        seen_image |= _equal(values, name, b"IDAT")
        is_ancillary = tf.bitwise.bitwise_and(_uint(values, name, 1), 0x20) > 0
        # iTXt: the first 0 within the keyword window ends the keyword; then the flag byte.
        start = name + 4
        limit = tf.minimum(length, window)
        zeros = tf.where(tf.equal(_at(values, start, window), 0)
                         & (tf.range(window, dtype=tf.int64) < limit))[:, 0]
        keyword_end = start + tf.reduce_min(tf.concat([zeros, [window]], 0))
        itxt_compressed = ((keyword_end < start + limit) & (keyword_end + 1 < start + length)
                           & (keyword_end + 1 < size)
                           & tf.equal(_uint(values, keyword_end + 1, 1), 1))
        is_compressed = (_equal(values, name, b"zTXt") | _equal(values, name, b"iCCP")
                         | (_equal(values, name, b"iTXt") & itxt_compressed))
        return (position + 12 + length, before + tf.cast(~seen_image, tf.int64), chunks + 1,
                ancillary + tf.where(is_ancillary, length, 0),
                compressed + tf.cast(is_ancillary & is_compressed, tf.int64), seen_image,
                _equal(values, name, b"IEND"))

    zero = tf.constant(0, tf.int64)
    _, before, chunks, ancillary, compressed, _, _ = tf.while_loop(
        lambda position, before, chunks, ancillary, compressed, seen_image, done:
            ~done & (position + 8 <= size) & (chunks <= decode_budget.MAX_PNG_CHUNKS),
        step, (tf.constant(len(PNG_MAGIC), tf.int64), zero, zero, zero, zero,
               tf.constant(False), tf.constant(False)))
    return before, chunks, ancillary, compressed


def _budget_check(values, jpeg, item):
    """The Assert of the decode budget (`salgan_tf.data.decode_budget`, the host's limits and
    words) for a JPEG or PNG's bytes."""
    budget = decode_budget
    scans, complete = tf.cond(jpeg, lambda: _jpeg_budget(values),
                              lambda: (tf.constant(0, tf.int64), tf.constant(True)))
    before, chunks, ancillary, compressed = tf.cond(
        jpeg, lambda: tuple(tf.constant(0, tf.int64) for _ in range(4)),
        lambda: _png_budget(values))
    reasons = [
        (~complete, f"JPEG has more than {budget.MAX_JPEG_MARKERS} markers (MAX_JPEG_MARKERS, "
                    "the decode budget)"),
        (scans > budget.MAX_JPEG_SCANS, ["JPEG has ", scans, f" scans, more than the limit of "
                                         f"{budget.MAX_JPEG_SCANS} (MAX_JPEG_SCANS, the decode "
                                         "budget)"]),
        ((before >= budget.MAX_HEADER_STEPS) | (chunks > budget.MAX_PNG_CHUNKS),
         f"PNG has {budget.MAX_HEADER_STEPS} or more chunks before its image data, or more than "
         f"{budget.MAX_PNG_CHUNKS} in all (MAX_HEADER_STEPS, MAX_PNG_CHUNKS: the decode budget)"),
        (ancillary > budget.MAX_PNG_ANCILLARY_BYTES,
         ["PNG metadata chunks hold ", ancillary, " bytes, more than the limit of "
          f"{budget.MAX_PNG_ANCILLARY_BYTES} (MAX_PNG_ANCILLARY_BYTES, the decode budget)"]),
        (compressed > budget.MAX_PNG_COMPRESSED_CHUNKS,
         ["PNG has ", compressed, " compressed metadata chunks (zTXt, iCCP, iTXt), more than the "
          f"limit of {budget.MAX_PNG_COMPRESSED_CHUNKS} (MAX_PNG_COMPRESSED_CHUNKS, the decode "
          "budget)"]),
    ]
    message, refused = tf.constant(""), tf.constant(False)
    for condition, words in reversed(reasons):  # the first reason that holds is named
        words = words if isinstance(words, list) else [words]
        text = tf.strings.join([word if isinstance(word, str) else tf.strings.as_string(word)
                                for word in words])
        message = tf.where(condition, text, message)
        refused |= condition
    return check(~refused, "{} {}", item, message)
