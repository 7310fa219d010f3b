# Cards in PNGs, as base64 text chunks: parsed by hand (a card file is untrusted input and only its text chunks
# matter, never the pixels), and a drawn portrait for an exported card that has no picture of its own.

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from collections.abc import Iterable

from PIL import Image, ImageDraw, ImageFont

from personas.mask import Mask, MaskError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CARD_CHUNKS = (b"ccv3", b"chara")  # in order of preference: a V3 chunk wins over the V2/V1 one
Chunk = tuple[bytes, bytes, bytes]  # a PNG chunk: (type, body, the whole chunk as stored)


def png_chunks(data: bytes, where: str) -> list[Chunk]:
    """Every chunk from IHDR to IEND, each checked to lie inside the file.

    Raises:
        MaskError: not a PNG, a chunk running past the end of the file, or no IHDR / IEND.
    """
    if not data.startswith(PNG_SIGNATURE):
        raise MaskError(f"{where} is not a PNG file (no PNG signature)")
    chunks: list[Chunk] = []
    position = len(PNG_SIGNATURE)
    while not chunks or chunks[-1][0] != b"IEND":
        if position + 12 > len(data):
            raise MaskError(f"{where}: PNG file is cut short at byte {position} (no IEND chunk)")
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        end = position + 12 + length
        if end > len(data):
            raise MaskError(
                f"{where}: PNG chunk {kind.decode('latin-1')!r} at byte {position} claims {length} bytes,"
                f" but the file has only {len(data) - position - 12} after its header"
            )
        chunks.append((kind, data[position + 8 : end - 4], data[position:end]))
        if len(chunks) == 1 and kind != b"IHDR":
            raise MaskError(f"{where}: PNG file does not start with an IHDR chunk")
        position = end
    return chunks


def is_card_chunk(chunk: Chunk) -> bool:
    kind, body, _ = chunk
    return kind == b"tEXt" and body.partition(b"\0")[0] in CARD_CHUNKS


def card_chunk(chunks: list[Chunk], where: str) -> tuple[str, bytes]:
    """The keyword and text of the card chunk, `ccv3` preferred over `chara`."""
    found: dict[bytes, Chunk] = {}
    for chunk in chunks:
        if is_card_chunk(chunk):
            found.setdefault(chunk[1].partition(b"\0")[0], chunk)
    for keyword in CARD_CHUNKS:
        if keyword in found:
            kind, body, raw = found[keyword]
            if zlib.crc32(kind + body) != struct.unpack(">I", raw[-4:])[0]:
                raise MaskError(f"{where}: the PNG {keyword.decode()!r} chunk is corrupt (its CRC does not match)")
            return keyword.decode("ascii"), body.partition(b"\0")[2]
    raise MaskError(f"{where}: the PNG holds no character card (no 'ccv3' or 'chara' text chunk)")


def text_chunk(keyword: bytes, text: bytes) -> Chunk:
    body = keyword + b"\0" + text
    raw = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    return b"tEXt", body, raw


def join_chunks(chunks: Iterable[Chunk]) -> bytes:
    return PNG_SIGNATURE + b"".join(chunk[2] for chunk in chunks)


def placeholder(mask: Mask) -> bytes:
    """A 400x600 portrait: the character's initial and name on a colour picked from the name."""
    name = mask.character_name.strip() or mask.name
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    image = Image.new("RGB", (400, 600), tuple(48 + byte % 128 for byte in digest[:3]))
    draw = ImageDraw.Draw(image)
    big, small = ImageFont.load_default(size=220), ImageFont.load_default(size=36)
    if isinstance(big, ImageFont.FreeTypeFont) and isinstance(small, ImageFont.FreeTypeFont):
        draw.text((200, 270), name[:1].upper(), fill="white", font=big, anchor="mm")
        draw.text((200, 520), name[:18], fill="white", font=small, anchor="mm")
    else:  # Pillow built without FreeType has only a small bitmap font
        draw.text((20, 20), name[:40], fill="white", font=big)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
