"""The decode budget: structural limits a JPEG or PNG must meet before any pixel is decoded.

A file's decoding cost is not bounded by its size or pixel count alone (issue 29): each scan of
a progressive JPEG makes libjpeg revisit every block of its component (a 42-byte luma
refinement scan costs ~25 ms of CPU at 25 MP), and each compressed PNG text chunk is inflated
by Pillow and libpng up to their own output caps (200 chunks of 1 kB that each inflate to 1 MB
cost ~1 s on either). One set of limits, here, is checked on every path: the host decoder
(`salgan_tf.data.images`, used by predict, the demo server and the converter) calls
`refusal`; the SavedModel's graph walks the same structure with TF ops
(`salgan_tf.export.image_header`) against the same constants. docs/serve.md and
docs/export.md state them and the worst cost measured within them.

The walks, identical on both paths:
- JPEG: from byte 2, markers are found as 0xFF followed by a byte that is neither 0x00 (a
  stuffed byte), 0xFF (fill) nor 0xD0-0xD7 (restart); a marker with a length field is jumped
  over (so an embedded EXIF thumbnail is not counted), SOI/TEM are bare, EOI ends the walk.
  Every SOS counts as a scan.
- PNG: chunks from byte 8 until IEND, the end of the bytes or a chunk that does not fit. All are
  counted; ancillary ones (first letter lower case: tEXt, iCCP, eXIf, an APNG's fdAT ...) add
  their data length; zTXt, iCCP and iTXt with its compression flag set count as compressed.
"""
import numpy as np

# Scans of one JPEG. libjpeg's standard progressive script (`jpeg_simple_progression`) writes
# 10 for YCbCr, 6 for gray, 18 for CMYK; a baseline JPEG has 1 (3 if not interleaved). 32
# leaves room for other encoders' scripts; libjpeg-turbo's own tools offer a limit
# (`-maxscans`) and NVIDIA nvImageCodec defaults to 256, which would allow ~6 s per image here.
MAX_JPEG_SCANS = 32
# Markers of one JPEG up to EOI (segments, scans, tables between scans).
MAX_JPEG_MARKERS = 1024
# Steps of a header walk before the image data (a JPEG segment, fill or junk byte; a PNG
# chunk): the SavedModel's EXIF walk stops there (image_header), and a PNG with more chunks
# before its first IDAT is refused on every path. Real photos need < 100.
MAX_HEADER_STEPS = 1024
# Chunks of one PNG up to IEND, IDAT included: 8 kB IDAT chunks (libpng's default) of a
# 32 MB file are 4,096.
MAX_PNG_CHUNKS = 8192
# Data bytes of a PNG's ancillary chunks together (metadata: ICC profile, EXIF, XMP, text).
MAX_PNG_ANCILLARY_BYTES = 1 << 20
# zTXt, iCCP and compressed iTXt chunks of one PNG (ICC profile, XMP, ImageMagick's raw
# profiles need a few).
MAX_PNG_COMPRESSED_CHUNKS = 8

# An iTXt keyword is 1-79 bytes: its terminating 0 is looked for in this many.
ITXT_KEYWORD_WINDOW = 80
BARE_JPEG_MARKERS = (0x01, 0xD8)
SOS, EOI = 0xDA, 0xD9
_COMPRESSED_PNG_CHUNKS = (b"zTXt", b"iCCP")


def jpeg_counts(data):
    """`(scans, markers, complete)` of JPEG bytes; `complete` is False when the walk stopped at
    `MAX_JPEG_MARKERS` before EOI or the end of the bytes."""
    values = np.frombuffer(data, np.uint8)
    after = values[1:]
    is_marker = (values[:-1] == 0xFF) & (after != 0x00) & (after != 0xFF)
    is_marker &= (after < 0xD0) | (after > 0xD7)
    candidates = np.flatnonzero(is_marker)
    scans = markers = 0
    position = 2
    while markers < MAX_JPEG_MARKERS:
        index = np.searchsorted(candidates, position)
        if index == len(candidates):
            return scans, markers, True
        at = int(candidates[index])
        marker = int(values[at + 1])
        markers += 1
        if marker == EOI:
            return scans, markers, True
        scans += marker == SOS
        if marker in BARE_JPEG_MARKERS:
            position = at + 2
        else:
            position = at + 2 + (_byte(values, at + 2) << 8 | _byte(values, at + 3))
    return scans, markers, False


def _byte(values, index):
    """`values[index]`, 0 past the end (as the graph's reads)."""
    return int(values[index]) if index < len(values) else 0


def png_counts(data):
    """`(chunks before the first IDAT, chunks, ancillary data bytes, compressed chunks)`."""
    before_image = chunks = ancillary = compressed = 0
    position, seen_image = 8, False
    while position + 8 <= len(data) and chunks <= MAX_PNG_CHUNKS:
        length = int.from_bytes(data[position:position + 4], "big")
        name = data[position + 4:position + 8]
        chunks += 1
        seen_image |= name == b"IDAT"
        before_image += not seen_image
        if name[0] & 0x20:  # ancillary: the first letter is lower case
            ancillary += length
            compressed += name in _COMPRESSED_PNG_CHUNKS or (
                name == b"iTXt" and _itxt_compressed(data, position + 8, length))
        if name == b"IEND":
            break
        position += 12 + length
    return before_image, chunks, ancillary, compressed


def _itxt_compressed(data, start, length):
    """Whether an iTXt chunk's compression flag (the byte after the 0 ending its keyword, in
    the first `ITXT_KEYWORD_WINDOW` bytes) is set."""
    end = data.find(b"\0", start, start + min(length, ITXT_KEYWORD_WINDOW))
    return 0 <= end < start + length - 1 and end + 1 < len(data) and data[end + 1] == 1


def refusal(data, kind):
    """Why `data` of `kind` ("JPEG" or "PNG") exceeds the decode budget, or None."""
    if kind == "JPEG":
        scans, markers, complete = jpeg_counts(data)
        if not complete:
            return (f"JPEG has more than {MAX_JPEG_MARKERS} markers (MAX_JPEG_MARKERS, the "
                    "decode budget)")
        if scans > MAX_JPEG_SCANS:
            return (f"JPEG has {scans} scans, more than the limit of {MAX_JPEG_SCANS} "
                    "(MAX_JPEG_SCANS, the decode budget)")
        return None
    if kind != "PNG":
        return None
    before_image, chunks, ancillary, compressed = png_counts(data)
    if before_image >= MAX_HEADER_STEPS or chunks > MAX_PNG_CHUNKS:
        return (f"PNG has {MAX_HEADER_STEPS} or more chunks before its image data, or more "
                f"than {MAX_PNG_CHUNKS} in all (MAX_HEADER_STEPS, MAX_PNG_CHUNKS: the decode "
                "budget)")
    if ancillary > MAX_PNG_ANCILLARY_BYTES:
        return (f"PNG metadata chunks hold {ancillary} bytes, more than the limit of "
                f"{MAX_PNG_ANCILLARY_BYTES} (MAX_PNG_ANCILLARY_BYTES, the decode budget)")
    if compressed > MAX_PNG_COMPRESSED_CHUNKS:
        return (f"PNG has {compressed} compressed metadata chunks (zTXt, iCCP, iTXt), more "
                f"than the limit of {MAX_PNG_COMPRESSED_CHUNKS} (MAX_PNG_COMPRESSED_CHUNKS, the "
                "decode budget)")
    return None
