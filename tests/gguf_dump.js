// gguf_dump.js FILE — an independent GGUF reader for tests: prints one line
// per metadata key ("K key type value", arrays as JSON) and per tensor
// ("T name ne0,ne1,.. ggml_type"), in file order. Only for small test files
// (the whole file is read); knows nothing of agentmem's own reader.
'use strict';
const fs = require('fs');
const b = fs.readFileSync(process.argv[2]);
let o = 0;
const u32 = () => { const v = b.readUInt32LE(o); o += 4; return v; };
const u64 = () => { const v = b.readBigUInt64LE(o); o += 8; return Number(v); };
const str = () => { const n = u64(); const s = b.toString('utf8', o, o + n); o += n; return s; };
const scalar = {
  0: () => b.readUInt8(o++), 1: () => b.readInt8(o++),
  2: () => { const v = b.readUInt16LE(o); o += 2; return v; }, 3: () => { const v = b.readInt16LE(o); o += 2; return v; },
  4: u32, 5: () => { const v = b.readInt32LE(o); o += 4; return v; },
  6: () => { const v = b.readFloatLE(o); o += 4; return v; }, 7: () => b.readUInt8(o++) !== 0,
  8: str, 10: u64, 11: () => { const v = Number(b.readBigInt64LE(o)); o += 8; return v; },
  12: () => { const v = b.readDoubleLE(o); o += 8; return v; },
};
const value = (t) => {
  if (t === 9) { const et = u32(), n = u64(); const a = []; for (let i = 0; i < n; i++) a.push(value(et)); return a; }
  if (!scalar[t]) throw new Error('bad type ' + t);
  return scalar[t]();
};
if (b.toString('latin1', 0, 4) !== 'GGUF') throw new Error('not GGUF');
o = 4; u32();
const nt = u64(), nk = u64();
const out = [];
for (let i = 0; i < nk; i++) { const k = str(), t = u32(); out.push(`K ${k} ${t} ${JSON.stringify(value(t))}`); }
for (let i = 0; i < nt; i++) {
  const name = str(), nd = u32(); const ne = []; for (let d = 0; d < nd; d++) ne.push(u64());
  const t = u32(); u64();
  out.push(`T ${name} ${ne.join(',')} ${t}`);
}
console.log(out.join('\n'));
