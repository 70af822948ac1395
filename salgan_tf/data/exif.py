"""The project's EXIF Orientation rule where Pillow versions differ: which IFD0 entry counts.

A TIFF directory may name a tag once (TIFF 6.0, section 2), yet files with two Orientation
entries exist, and Pillow changed its answer: earlier releases let the last entry win, 13.0
keeps the first (and skips a value larger than the block where earlier ones stopped). The rule here, the same on the host (`salgan_tf.data.images`) and in the SavedModel's
graph (`salgan_tf.export.image_header`), and written in docs/conventions.md:
- IFD0's entries are read in file order until one does not fit the EXIF block (an entry past its
  end, or a value over 4 bytes whose offset + size runs past it): that entry and the ones after
  it do not count. An entry of an unknown field type or of count 0 holds no value and is skipped.
- The FIRST Orientation entry that holds a value wins; later ones are ignored (as Chromium's
  decoder and Pillow 13 read it). With none, the XMP `tiff:Orientation` digit is used.
The host applies it by emptying (count 0) every other Orientation entry before Pillow reads the
block, so any Pillow version sees at most one; Pillow still reads that entry's value.
"""
import re
import struct

ORIENTATION_TAG = 0x0112
EXIF_PREFIX = b"Exif\x00\x00"
# TIFF headers Pillow reads as classic TIFF. It takes "MM\0+" (big-endian BigTIFF) for classic
# too (it looks for 43 at byte 2), and raises on "II+\0".
TIFF_PREFIXES = (b"MM\x00*", b"II*\x00", b"MM*\x00", b"II\x00*", b"MM\x00+")
# TIFF field types Pillow loads, and their unit size in bytes (others hold no value here).
TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8,
              13: 4, 16: 8}
XMP_ORIENTATION = r'tiff:Orientation(?:="|>)([0-9])'  # Image.getexif's XMP pattern
_ENTRY = 12  # bytes of a classic TIFF directory entry: tag, type, count, value or offset


def tiff_start(exif):
    """Offset of the TIFF header after the leading "Exif\\0\\0" prefixes (all are stripped)."""
    start = 0
    while exif.startswith(EXIF_PREFIX, start):
        start += len(EXIF_PREFIX)
    return start


def _orientation_entries(exif):
    """(offsets of IFD0's Orientation entries, offset of the one that counts or None)."""
    start = tiff_start(exif)
    if not exif.startswith(TIFF_PREFIXES, start) or start + 8 > len(exif):
        return [], None
    order = "<" if exif.startswith(b"II", start) else ">"
    ifd = start + struct.unpack_from(order + "I", exif, start + 4)[0]
    if ifd + 2 > len(exif):
        return [], None
    count = struct.unpack_from(order + "H", exif, ifd)[0]
    found, chosen, walking = [], None, True
    for entry in range(ifd + 2, min(ifd + 2 + _ENTRY * count, len(exif) - _ENTRY + 1), _ENTRY):
        tag, kind, number, offset = struct.unpack_from(order + "HHII", exif, entry)
        length = number * TYPE_SIZES.get(kind, 0)
        if length > 4 and start + offset + length > len(exif):
            walking = False
        if tag != ORIENTATION_TAG:
            continue
        found.append(entry)
        if walking and chosen is None and length > 0:
            chosen = entry
    return found, chosen


def first_orientation_only(exif):
    """EXIF bytes in which only the Orientation entry that counts (module docstring) keeps its
    value: every other one gets count 0, which every Pillow version skips. Unchanged when there
    is nothing to drop (or the block is no TIFF, which Pillow refuses by itself)."""
    found, chosen = _orientation_entries(exif)
    dropped = [entry for entry in found if entry != chosen]
    if not dropped:
        return exif
    order = "<" if exif.startswith(b"II", tiff_start(exif)) else ">"
    edited = bytearray(exif)
    for entry in dropped:
        struct.pack_into(order + "I", edited, entry + 4, 0)
    return bytes(edited)


def xmp_orientation(info):
    """The XMP `tiff:Orientation` digit of a PIL image's `info` (a PNG's text chunk, a JPEG's
    XMP segment), or None; Image.getexif's fallback when the EXIF has no Orientation."""
    packet = info.get("XML:com.adobe.xmp") or info.get("xmp")
    if not packet:
        return None
    if isinstance(packet, str):
        packet = packet.encode("utf-8", "surrogateescape")
    match = re.search(XMP_ORIENTATION.encode(), packet)
    return int(match[1]) if match else None
