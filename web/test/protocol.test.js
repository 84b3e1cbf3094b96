import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProtocolError, decodeServer, encode, hello, input, ping, records } from '../src/net/protocol.js';
import { fixture, hex, plain, unhex } from './helpers.js';

const golden = fixture('protocol.json');

test('client messages encode to the exact bytes the Python protocol writes', () => {
  for (const { message, hex: expected } of golden.client) {
    assert.equal(hex(encode(message)), expected, JSON.stringify(message));
  }
});

test('the message helpers write every field, as the reference client does', () => {
  assert.equal(hex(hello('JWT')), golden.client[0].hex);
  assert.equal(hex(input(42, 108, 1, 107)), '95a269 6e2a6c016b'.replace(' ', ''));
  assert.equal(hex(ping(12.5)), '92a470696e67cb4029000000000000');
});

test('server messages decode to the values the Python protocol decodes', () => {
  for (const { hex: data, decoded } of golden.server) {
    assert.deepEqual(plain(decodeServer(unhex(data))), decoded, decoded.type);
  }
});

test('a trailing field with a default may be missing; a missing required one or an extra one is refused', () => {
  // ["error", "x", "y"] (fatal omitted), ["rate", 19.5] (saturated omitted)
  assert.equal(decodeServer(unhex('93a56572726f72a178a179')).fatal, false);
  assert.equal(decodeServer(unhex('92a472617465cb4033800000000000')).saturated, false);
  assert.throws(() => decodeServer(unhex('91a3627965')), ProtocolError); // ["bye"]
  assert.throws(() => decodeServer(unhex('93a3627965a178a179')), ProtocolError); // ["bye", "x", "y"]
  assert.throws(() => decodeServer(unhex('92a3666f6f01')), ProtocolError); // ["foo", 1]
  assert.throws(() => decodeServer(unhex('c1')), ProtocolError); // not MessagePack
});

test('packed records: whole records only, little-endian', () => {
  const [enter] = records(unhex('01000000ad8db5dd3b2ec5cadb17118e000000010000000'.concat('0')), 'enter');
  assert.deepEqual(enter, { id: 1, pos: [-29267, -8779, 11835], fwd: [-13627, 6107, -29167], height: 0, action: 0, flags: 1, score: 0 });
  assert.throws(() => records(new Uint8Array(11), 'moved'), ProtocolError);
});
