"""PNG and baseline JPEG encoders written out in numpy and the standard library.

They are not opencv's (``cv2.imencode``) on purpose: the bundled data must be byte-identical on
every machine and every release of its libraries, because the leaderboards and learning tables
committed under benchmarks/ and docs/ were trained on it, and the manifests (and the "up to date,
skipped" check) compare file hashes. opencv-python bundles its own libpng/zlib and libjpeg-turbo,
whose output bytes (deflate choices, JPEG rounding and Huffman tables) may change from one wheel
to the next; a change there would silently change every JPEG image and so the training data.
Here the PNGs are stored (uncompressed) deflate blocks, and the JPEG is an integer-DCT baseline
encoder (quality 90, 4:2:0, optimal Huffman tables), so the bytes depend on the pixels alone.
"""
import math
import struct
import zlib

import numpy as np

def _png_chunk(tag, data):
    return struct.pack('>I', len(data)) + tag + data + struct.pack('>I', zlib.crc32(tag + data))


def encode_png(array, palette=None):
    """PNG bytes of an (H, W) gray/palette or (H, W, 3|4) RGB(A) uint8 array.

    The image data are deflate *stored* blocks (no compression), which every PNG decoder reads and
    which, unlike zlib's or zlib-ng's compressors, give the same bytes on every machine.
    """
    array = np.ascontiguousarray(array)
    h, w = array.shape[:2]
    if array.ndim == 2:
        color_type, channels = (3 if palette is not None else 0), 1
    else:
        channels = array.shape[2]
        color_type = {3: 2, 4: 6}[channels]
    rows = array.astype(np.uint8).reshape(h, w * channels)
    raw = np.zeros((h, rows.shape[1] + 1), dtype=np.uint8)  # filter type 0 on every row
    raw[:, 1:] = rows
    data = raw.tobytes()
    stream = [b'\x78\x01']
    for start in range(0, len(data), 65535):
        block = data[start:start + 65535]
        final = 1 if start + 65535 >= len(data) else 0
        stream.append(struct.pack('<BHH', final, len(block), len(block) ^ 0xFFFF) + block)
    stream.append(struct.pack('>I', zlib.adler32(data)))
    out = [b'\x89PNG\r\n\x1a\n',
           _png_chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, color_type, 0, 0, 0))]
    if palette is not None:
        out.append(_png_chunk(b'PLTE', np.asarray(palette, dtype=np.uint8).tobytes()))
    out.append(_png_chunk(b'IDAT', b''.join(stream)))
    out.append(_png_chunk(b'IEND', b''))
    return b''.join(out)


def _zigzag_order():
    cells = [(r, c) for r in range(8) for c in range(8)]
    cells.sort(key=lambda rc: (rc[0] + rc[1], rc[0] if (rc[0] + rc[1]) % 2 else rc[1]))
    return np.array([r * 8 + c for r, c in cells])


_ZIGZAG = _zigzag_order()
_DCT_SHIFT = 12


def _dct_matrix():
    """Orthonormal 8-point DCT-II scaled by 2**12 and rounded: JPEG's FDCT in integers (A.3.3)."""
    t = np.zeros((8, 8), dtype=np.int64)
    for u in range(8):
        alpha = math.sqrt(1 / 8) if u == 0 else 0.5
        for x in range(8):
            v = (1 << _DCT_SHIFT) * alpha * math.cos((2 * x + 1) * u * math.pi / 16)
            assert abs(v - math.floor(v) - 0.5) > 1e-4, 'DCT constant too close to a rounding tie'
            t[u, x] = int(math.floor(v + 0.5))
    return t


_DCT = _dct_matrix()
# ITU-T T.81 Annex K.1 quantisation tables (natural order)
_Q_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.int64)
_Q_CHROMA = np.full(64, 99, dtype=np.int64)
_Q_CHROMA[[0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 24, 25]] = [17, 18, 24, 47, 18, 21, 26, 66, 24, 26,
                                                               56, 47, 66]


def _quant_table(base, quality):
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality  # IJG quality scaling
    return np.clip((base * scale + 50) // 100, 1, 255)


def _huffman_table(freq):
    """Optimal JPEG Huffman table (ITU-T T.81 Annex K.2) for symbol counts ``freq[0:256]``.

    Returns (bits[1..16], huffval, code[256], length[256]).
    """
    import heapq
    symbols = [s for s in range(256) if freq[s] > 0]
    # a pseudo-symbol with count 1 reserves the all-ones code, which JPEG forbids (K.2)
    heap = [(int(freq[s]), s, [s]) for s in symbols] + [(1, 256, [256])]
    heapq.heapify(heap)
    size = {s: 0 for s in symbols + [256]}
    order = 257
    while len(heap) > 1:
        c1, _, s1 = heapq.heappop(heap)
        c2, _, s2 = heapq.heappop(heap)
        for s in s1 + s2:
            size[s] += 1
        heapq.heappush(heap, (c1 + c2, order, s1 + s2))
        order += 1
    bits = [0] * 64
    for s in size:
        bits[size[s]] += 1
    for i in range(63, 16, -1):  # Figure K.3: limit code lengths to 16 bits
        while bits[i] > 0:
            j = i - 2
            while bits[j] == 0:
                j -= 1
            bits[i] -= 2
            bits[i - 1] += 1
            bits[j + 1] += 2
            bits[j] -= 1
    i = 16
    while bits[i] == 0:
        i -= 1
    bits[i] -= 1  # drop the reserved code
    huffval = sorted(symbols, key=lambda s: (size[s], s))
    code = np.zeros(256, dtype=np.int64)
    length = np.zeros(256, dtype=np.int64)
    c, k = 0, 0
    for n in range(1, 17):  # Annex C: canonical codes
        for _ in range(bits[n]):
            code[huffval[k]], length[huffval[k]] = c, n
            c += 1
            k += 1
        c <<= 1
    return bits[1:17], huffval, code, length


def _magnitude_category(v):
    a = np.abs(v)
    return (a[:, None] >= (1 << np.arange(16))[None, :]).sum(axis=1)


def _pack_bits(values, lengths):
    """Concatenate (value, bit length) pairs MSB-first, pad with ones, stuff 0x00 after each 0xFF."""
    j = np.arange(16)[None, :]
    shift = np.clip(lengths[:, None] - 1 - j, 0, None)
    bits = ((values[:, None] >> shift) & 1).astype(np.uint8)
    bits = bits[j < lengths[:, None]]
    pad = (-len(bits)) % 8
    bits = np.concatenate([bits, np.ones(pad, dtype=np.uint8)])
    data = np.packbits(bits)
    ff = np.nonzero(data == 0xFF)[0]
    return np.insert(data, ff + 1, 0).tobytes()


def encode_jpeg(rgb, quality=90):
    """Baseline JFIF JPEG (4:2:0) of an (H, W, 3) uint8 array, in integer arithmetic throughout."""
    h, w = rgb.shape[:2]
    ph, pw = (-h) % 16, (-w) % 16
    px = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode='edge').astype(np.int64)
    r, g, b = px[..., 0], px[..., 1], px[..., 2]
    # JFIF colour conversion with libjpeg's 16-bit fixed-point constants
    y = (19595 * r + 38470 * g + 7471 * b + 32768) >> 16
    cb = (-11059 * r - 21709 * g + 32768 * b + (128 << 16) + 32767) >> 16
    cr = (32768 * r - 27439 * g - 5329 * b + (128 << 16) + 32767) >> 16

    def subsample(p):
        return (p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2] + 2) >> 2

    cb, cr = subsample(np.clip(cb, 0, 255)), subsample(np.clip(cr, 0, 255))
    mh, mw = (h + ph) // 16, (w + pw) // 16
    y_blocks = y.reshape(mh, 2, 8, mw, 2, 8).transpose(0, 3, 1, 4, 2, 5).reshape(mh * mw, 4, 8, 8)
    c_blocks = [c.reshape(mh, 8, mw, 8).transpose(0, 2, 1, 3).reshape(mh * mw, 1, 8, 8) for c in (cb, cr)]
    blocks = np.concatenate([y_blocks] + c_blocks, axis=1).reshape(-1, 8, 8) - 128  # MCU scan order
    comp = np.tile(np.array([0, 0, 0, 0, 1, 2]), mh * mw)

    q_luma, q_chroma = _quant_table(_Q_LUMA, quality), _quant_table(_Q_CHROMA, quality)
    coef = _DCT[None] @ blocks @ _DCT.T[None]  # = FDCT * 2**24, exact
    divisor = np.where((comp == 0)[:, None], q_luma[None], q_chroma[None]).reshape(-1, 8, 8)
    divisor = divisor << (2 * _DCT_SHIFT)
    quant = np.sign(coef) * ((2 * np.abs(coef) + divisor) // (2 * divisor))
    zz = quant.reshape(-1, 64)[:, _ZIGZAG]

    # DC differences per component
    dc = zz[:, 0].copy()
    for c in range(3):
        idx = np.nonzero(comp == c)[0]
        dc[idx] = np.diff(zz[idx, 0], prepend=0)
    n_blocks = len(zz)
    # events: (block, sort key, table, symbol, extra value, extra length)
    ev_block, ev_key, ev_table, ev_sym, ev_val, ev_len = [], [], [], [], [], []

    def add(block, key, table, sym, val, length):
        ev_block.append(block), ev_key.append(key), ev_table.append(table)
        ev_sym.append(sym), ev_val.append(val), ev_len.append(length)

    blocks_idx = np.arange(n_blocks)
    dc_size = _magnitude_category(dc)
    add(blocks_idx, np.zeros(n_blocks, np.int64), np.where(comp == 0, 0, 1), dc_size,
        np.where(dc < 0, dc + (1 << dc_size) - 1, dc), dc_size)
    ac_table = np.where(comp == 0, 2, 3)
    nz_block, nz_pos = np.nonzero(zz[:, 1:])
    nz_pos = nz_pos + 1
    if len(nz_block):
        prev = np.concatenate([[0], nz_pos[:-1]])
        prev[np.concatenate([[True], nz_block[1:] != nz_block[:-1]])] = 0
        run = nz_pos - prev - 1
        zrl = run // 16
        rep = np.repeat(np.arange(len(nz_block)), zrl)
        if len(rep):
            add(nz_block[rep], 2 * nz_pos[rep] - 1, ac_table[nz_block[rep]], np.full(len(rep), 0xF0),
                np.zeros(len(rep), np.int64), np.zeros(len(rep), np.int64))
        v = zz[nz_block, nz_pos]
        size = _magnitude_category(v)
        add(nz_block, 2 * nz_pos, ac_table[nz_block], ((run % 16) << 4) | size,
            np.where(v < 0, v + (1 << size) - 1, v), size)
    eob = np.nonzero(zz[:, 63] == 0)[0]
    add(eob, np.full(len(eob), 200), ac_table[eob], np.zeros(len(eob), np.int64),
        np.zeros(len(eob), np.int64), np.zeros(len(eob), np.int64))

    cat = [np.concatenate(a).astype(np.int64) for a in (ev_block, ev_key, ev_table, ev_sym, ev_val, ev_len)]
    order = np.lexsort((cat[1], cat[0]))
    table, sym, val, vlen = (a[order] for a in cat[2:])
    tables = [_huffman_table(np.bincount(sym[table == t], minlength=256)) for t in range(4)]
    codes = np.stack([t[2] for t in tables])
    lengths = np.stack([t[3] for t in tables])
    values = np.empty(2 * len(sym), np.int64)
    bit_lengths = np.empty(2 * len(sym), np.int64)
    values[0::2], bit_lengths[0::2] = codes[table, sym], lengths[table, sym]
    values[1::2], bit_lengths[1::2] = val, vlen
    scan = _pack_bits(values, bit_lengths)

    def segment(marker, payload):
        return struct.pack('>BBH', 0xFF, marker, len(payload) + 2) + payload

    out = [b'\xff\xd8', segment(0xE0, b'JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00')]
    out.append(segment(0xDB, bytes([0]) + bytes(q_luma[_ZIGZAG].tolist())
                       + bytes([1]) + bytes(q_chroma[_ZIGZAG].tolist())))
    out.append(segment(0xC0, struct.pack('>BHHB', 8, h, w, 3) + bytes([1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1])))
    dht = b''
    for t, tc_th in zip(tables, (0x00, 0x01, 0x10, 0x11)):
        dht += bytes([tc_th]) + bytes(t[0]) + bytes(t[1])
    out.append(segment(0xC4, dht))
    out.append(segment(0xDA, bytes([3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0])))
    out.append(scan)
    out.append(b'\xff\xd9')
    return b''.join(out)

