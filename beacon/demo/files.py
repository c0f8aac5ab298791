"""Small, valid binary attachments for the demo mailbox, built byte-for-byte the same every run.

Compressed data is avoided on purpose: deflate output may differ between zlib builds
(zlib vs zlib-ng), which would make the committed mbox differ from a rebuild. PNG pixel
data therefore uses *stored* deflate blocks and the PDF has an uncompressed content stream.
"""

from __future__ import annotations

import struct
import zlib


def _stored_zlib(data: bytes) -> bytes:
    """A zlib stream holding ``data`` in uncompressed ("stored") deflate blocks."""
    out = bytearray(b"\x78\x01")
    chunks = [data[i : i + 65535] for i in range(0, len(data), 65535)] or [b""]
    for n, chunk in enumerate(chunks):
        final = 1 if n == len(chunks) - 1 else 0
        out += struct.pack("<BHH", final, len(chunk), len(chunk) ^ 0xFFFF) + chunk
    out += struct.pack(">I", zlib.adler32(data))
    return bytes(out)


def _png_chunk(tag: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))


def sunset_png(width: int = 32, height: int = 20) -> bytes:
    """A tiny RGB picture: an orange evening sky over a blue river (a "holiday photo")."""
    rows = bytearray()
    horizon = height * 3 // 5
    for y in range(height):
        rows.append(0)  # PNG filter type "None" for this row
        for x in range(width):
            if y < horizon:
                t = y / max(horizon - 1, 1)
                pixel = (250 - int(60 * t), 170 - int(90 * t), 80 + int(60 * t))
            else:
                shimmer = 25 if (x + y) % 7 == 0 else 0
                pixel = (30 + shimmer, 70 + shimmer, 120 + int(40 * (y - horizon) / height))
            rows += bytes(pixel)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", _stored_zlib(bytes(rows)))
        + _png_chunk(b"IEND", b"")
    )


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def simple_pdf(lines: list[str]) -> bytes:
    """A one-page PDF 1.4 showing ``lines`` in Helvetica, with a correct xref table."""
    ops = ["BT", "/F1 11 Tf", "14 TL", "72 760 Td"]
    for line in lines:
        ops.append(f"({_pdf_escape(line)}) Tj T*")
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref_at,
    )
    return bytes(out)
