// Delta snapshots, client side (docs/protocol.md 6.4): rebuild a snapshot's entity table from its baseline's.
//
// A table is a Map from entity id to `{id, pos, fwd, height, action, flags, score}` with the quantized values of
// the wire (pos/fwd: int16 triples, height: centimetres). Tables are never changed after they are built: a delta
// copies its baseline, so older tables stay valid baselines for later deltas.
import { ProtocolError, records } from './protocol.js';

export const EMPTY_TABLE = new Map();

/** Apply `snap` (a decoded `snap` message) to `base` (the table of tick `snap.base`, EMPTY_TABLE for a full one). */
export function applyDelta(base, snap) {
  const table = new Map(base);
  for (const id of records(snap.leave, 'leave')) table.delete(id);
  for (const r of records(snap.enter, 'enter')) table.set(r.id, r);
  const patch = (name, fields) => {
    for (const r of records(snap[name], name)) {
      const old = table.get(r.id);
      if (old === undefined) throw new ProtocolError(`${name} record for entity ${r.id}, which is not in the table`);
      const next = { ...old };
      for (const f of fields) next[f] = r[f];
      table.set(r.id, next);
    }
  };
  patch('moved', ['pos', 'height']);
  patch('turned', ['fwd']);
  patch('state', ['action', 'flags', 'score']);
  return table;
}
