import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClientState } from '../src/net/client.js';
import { decodeServer } from '../src/net/protocol.js';
import { EMPTY_TABLE, applyDelta } from '../src/net/snapshots.js';
import { fixture, unhex } from './helpers.js';

const { session } = fixture('protocol.json');
const sorted = (table) => [...table.values()].sort((a, b) => a.id - b.id);

test('delta snapshots of a real session rebuild the tables the Python client rebuilds', () => {
  const tables = new Map();
  for (const { hex, tick, table } of session.snapshots) {
    const snap = decodeServer(unhex(hex));
    assert.equal(snap.tick, tick);
    const next = applyDelta(snap.base === 0 ? EMPTY_TABLE : tables.get(snap.base), snap);
    tables.set(snap.tick, next);
    assert.deepEqual(sorted(next), table, `tick ${tick}`);
  }
});

test('ClientState applies them, acks the newest tick, and resyncs on an unknown baseline', () => {
  const state = new ClientState();
  state.onWelcome({ player: 0, tick_rate: 20, tick: 0, config: session.config, resumed: false, resume: 'x', grace_s: 30 }, 0);
  for (const { hex, tick, table } of session.snapshots) {
    state.handle(unhex(hex), tick * 0.05);
    assert.equal(state.tick, tick);
    assert.deepEqual(sorted(state.entities()), table);
  }
  const last = session.snapshots.at(-1);
  const snap = decodeServer(unhex(last.hex));
  assert.ok(snap.base > 0, 'the last snapshot is a delta');
  state.tables.clear();
  state.handle(unhex(last.hex), 99);
  assert.equal(state.resyncs, 1);
  assert.equal(state.tick, 0, 'acks 0 until a full snapshot comes');
});

test('a patch of an entity that is not in the baseline is a protocol error', () => {
  const delta = session.snapshots.map(({ hex }) => decodeServer(unhex(hex))).find((s) => s.moved.length > 0 && s.base > 0);
  assert.throws(() => applyDelta(EMPTY_TABLE, delta), /not in the table/);
});
