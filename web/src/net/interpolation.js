// Remote entities drawn `delay` behind the server (default 100 ms), between the two buffered snapshots around that
// time (docs/protocol.md 10.2), as net/client.py's Interpolator does.
import { FLAG_TELEPORTED, HEIGHT_SCALE, dequantizeUnit } from './protocol.js';

const normalize = (v) => {
  const n = Math.hypot(v[0], v[1], v[2]);
  return n > 1e-12 ? [v[0] / n, v[1] / n, v[2] / n] : v;
};

const entity = (r) => ({ id: r.id, pos: dequantizeUnit(r.pos), fwd: dequantizeUnit(r.fwd), height: r.height / HEIGHT_SCALE, score: r.score, action: r.action });

export class Interpolator {
  constructor(tickRate, delayS = 0.1, capacity = 16) {
    this.tickRate = tickRate;
    this.delayTicks = delayS * tickRate;
    this.capacity = capacity;
    this.frames = []; // [tick, table]
    this.offset = null; // server tick - now * rate, from the least-delayed arrival
  }

  push(tick, table, now) {
    if (this.frames.length && tick <= this.frames[this.frames.length - 1][0]) return;
    this.frames.push([tick, table]);
    if (this.frames.length > this.capacity) this.frames.shift();
    const estimate = tick - now * this.tickRate;
    if (this.offset === null || estimate > this.offset) this.offset = estimate;
    else this.offset -= 0.01 * (this.offset - estimate);
  }

  setRate(hz, now) {
    if (hz <= 0 || hz === this.tickRate) return;
    if (this.offset !== null) this.offset += now * (this.tickRate - hz);
    this.tickRate = hz;
  }

  hint(tick, now) {
    if (this.offset === null) this.offset = tick - now * this.tickRate;
  }

  serverTick(now) {
    return this.offset === null ? 0 : now * this.tickRate + this.offset;
  }

  /** `{tick, entities: [{id, pos, fwd, height, score, action}]}` (ids ascending) for local time `now` (seconds). */
  sample(now) {
    if (!this.frames.length) return { tick: 0, entities: [] };
    const t = this.serverTick(now) - this.delayTicks;
    const older = this.frames.filter((f) => f[0] <= t);
    const newer = this.frames.filter((f) => f[0] > t);
    if (!older.length || !newer.length) {
      const [tick, table] = older.length ? older[older.length - 1] : newer[0];
      return { tick, entities: [...table.values()].sort((a, b) => a.id - b.id).map(entity) };
    }
    const [t0, a] = older[older.length - 1];
    const [t1, b] = newer[0];
    const u = (t - t0) / (t1 - t0);
    const ids = [...a.keys()].filter((id) => b.has(id)).sort((x, y) => x - y);
    const entities = ids.map((id) => {
      const ra = a.get(id);
      const rb = b.get(id);
      const w = rb.flags & FLAG_TELEPORTED ? 1 : u;
      const mix = (qa, qb) => {
        const va = dequantizeUnit(qa);
        const vb = dequantizeUnit(qb);
        return normalize([0, 1, 2].map((i) => va[i] * (1 - w) + vb[i] * w));
      };
      return {
        id,
        pos: mix(ra.pos, rb.pos),
        fwd: mix(ra.fwd, rb.fwd),
        height: (ra.height * (1 - w) + rb.height * w) / HEIGHT_SCALE,
        score: rb.score,
        action: rb.action,
      };
    });
    return { tick: t, entities };
  }
}
