// Decoders for radlens's JSON array encodings (see radlens/arrays.py): "rle" boolean masks and
// "npy-zlib-b64" numeric arrays (little-endian, zlib-compressed, base64). Exposes
// window.decodeArray(obj) -> Promise<{shape, data}> where data is a Float32Array (masks: 0/1).
"use strict";
(function () {
  function halfToFloat(h) {
    const s = (h & 0x8000) ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
    if (e === 0) return s * Math.pow(2, -14) * (f / 1024);
    if (e === 31) return f ? NaN : s * Infinity;
    return s * Math.pow(2, e - 15) * (1 + f / 1024);
  }
  async function inflate(b64) {
    const bin = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const stream = new Blob([bin]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }
  const READERS = {
    "<f2": (dv, i) => halfToFloat(dv.getUint16(2 * i, true)),
    "<f4": (dv, i) => dv.getFloat32(4 * i, true),
    "<f8": (dv, i) => dv.getFloat64(8 * i, true),
    "|u1": (dv, i) => dv.getUint8(i),
    "|b1": (dv, i) => dv.getUint8(i),
    "<u2": (dv, i) => dv.getUint16(2 * i, true),
  };
  async function decodeArray(obj) {
    const shape = obj.shape, n = shape.reduce((a, b) => a * b, 1), out = new Float32Array(n);
    if (obj.encoding === "rle") {
      let pos = 0, value = 0;
      for (const c of obj.counts) { out.fill(value, pos, pos + c); pos += c; value = 1 - value; }
      return { shape, data: out };
    }
    if (obj.encoding !== "npy-zlib-b64") throw new Error("unsupported array encoding " + obj.encoding);
    const read = READERS[obj.dtype];
    if (!read) throw new Error("unsupported dtype " + obj.dtype);
    const bytes = await inflate(obj.data), dv = new DataView(bytes.buffer);
    for (let i = 0; i < n; i++) out[i] = read(dv, i);
    return { shape, data: out };
  }
  window.decodeArray = decodeArray;
})();
