// The realtime wire protocol, version 1, written from docs/protocol.md (sections 2, 4, 5, 6.2).
//
// Every frame is one MessagePack array whose element 0 is a string tag and whose other elements are the fields in
// declared order. Decoded server messages are plain objects with `type` (the tag) and the fields under the names
// docs/protocol.md and src/mpgenie/net/protocol.py use (snake_case), so a field looked up here can be looked up
// in the document. The golden fixtures (web/test/fixtures/protocol.json, written by the Python code) hold both.
import { Decoder } from '@msgpack/msgpack';

export const PROTOCOL_VERSION = 1;
export const UNIT_SCALE = 32767;
export const HEIGHT_SCALE = 100;
export const FLAG_TELEPORTED = 1;

/** Actions 0..9 (docs/protocol.md section 4, `in`). Values are stable: they are on the wire. */
export const Action = Object.freeze({
  NOOP: 0,
  FORWARD: 1,
  BACKWARD: 2,
  LEFT: 3,
  RIGHT: 4,
  TURN_LEFT: 5,
  TURN_RIGHT: 6,
  JUMP: 7,
  ATTACK: 8,
  INTERACT: 9,
});

export class ProtocolError extends Error {}

// Field names per tag, in wire order; `required` of them have no default (section 5: the server sends every
// field, but a missing trailing field with a default decodes to its default, as msgspec does).
const SERVER = {
  welcome: { fields: ['version', 'player', 'tick_rate', 'tick', 'config', 'resume', 'grace_s', 'resumed', 'layout'], required: 8, defaults: { layout: () => ({}) } },
  snap: { fields: ['tick', 'base', 'ack_seq', 'queued', 'you', 'enter', 'moved', 'turned', 'state', 'leave'], required: 10 },
  events: { fields: ['first', 'events'], required: 2 },
  pong: { fields: ['t', 'tick'], required: 2 },
  error: { fields: ['code', 'message', 'fatal'], required: 2, defaults: { fatal: () => false } },
  bye: { fields: ['reason'], required: 1 },
  frame: { fields: ['tick', 'width', 'height', 'format', 'data'], required: 5 },
  rate: { fields: ['hz', 'saturated'], required: 1, defaults: { saturated: () => false } },
};

const EVENTS = {
  pickup: { fields: ['tick', 'player', 'collectible'], required: 3 },
  beacon: { fields: ['tick', 'beacon', 'players'], required: 3 },
  hazard: { fields: ['tick', 'player', 'hazard'], required: 3 },
  respawn: { fields: ['tick', 'player', 'spawn_point', 'reason'], required: 4 },
  attack: { fields: ['tick', 'attacker', 'target'], required: 3 },
  world: {
    fields: ['tick', 'name', 'scope', 'center', 'radius_m', 'data'],
    required: 3,
    defaults: { center: () => null, radius_m: () => null, data: () => ({}) },
  },
};

const YOU = ['pos', 'fwd', 'height', 'vz', 'score', 'deaths', 'teleported'];

const decoder = new Decoder();

function tagged(value, schemas, what) {
  if (!Array.isArray(value) || value.length === 0 || typeof value[0] !== 'string') {
    throw new ProtocolError(`${what}: not a tagged array`);
  }
  const schema = schemas[value[0]];
  if (schema === undefined) throw new ProtocolError(`${what}: unknown tag ${JSON.stringify(value[0])}`);
  const n = value.length - 1;
  if (n < schema.required || n > schema.fields.length) {
    throw new ProtocolError(`${what} ${value[0]}: ${n} fields, expected ${schema.required}..${schema.fields.length}`);
  }
  const out = { type: value[0] };
  schema.fields.forEach((name, i) => {
    out[name] = i < n ? value[i + 1] : schema.defaults[name]();
  });
  return out;
}

/** Decode one server frame (ArrayBuffer or Uint8Array) into `{type, ...fields}`; throws ProtocolError. */
export function decodeServer(data) {
  let value;
  try {
    value = decoder.decode(data instanceof ArrayBuffer ? new Uint8Array(data) : data);
  } catch (err) {
    throw new ProtocolError(`not MessagePack: ${err.message}`);
  }
  const msg = tagged(value, SERVER, 'message');
  if (msg.type === 'snap') {
    if (msg.you !== null) {
      if (!Array.isArray(msg.you) || msg.you.length !== YOU.length) throw new ProtocolError('snap: bad you');
      msg.you = Object.fromEntries(YOU.map((name, i) => [name, msg.you[i]]));
    }
    for (const name of ['enter', 'moved', 'turned', 'state', 'leave']) {
      if (!(msg[name] instanceof Uint8Array)) throw new ProtocolError(`snap: ${name} is not bin`);
    }
  } else if (msg.type === 'events') {
    if (!Array.isArray(msg.events)) throw new ProtocolError('events: not a list');
    msg.events = msg.events.map((ev) => tagged(ev, EVENTS, 'event'));
  }
  return msg;
}

// --- client -> server: a small typed MessagePack writer ----------------------------------------------------------
// Written here rather than with the library's encoder so that every field has its declared type on the wire:
// floats (ping.t, spectate.point) always float64, ints the smallest encoding, exactly the bytes msgspec writes
// (web/test/fixtures/protocol.json holds both). The server would accept ints for floats (section 2), but the
// fixtures can then compare bytes.

class Writer {
  constructor() {
    this.bytes = [];
  }

  raw(...b) {
    this.bytes.push(...b);
  }

  be(value, size) {
    for (let i = size - 1; i >= 0; i -= 1) this.bytes.push(Number((BigInt(value) >> BigInt(8 * i)) & 0xffn));
  }

  int(v) {
    if (!Number.isSafeInteger(v)) throw new ProtocolError(`not an integer: ${v}`);
    if (v >= 0) {
      if (v < 0x80) this.raw(v);
      else if (v < 0x100) this.raw(0xcc, v);
      else if (v < 0x10000) (this.raw(0xcd), this.be(v, 2));
      else if (v < 0x100000000) (this.raw(0xce), this.be(v, 4));
      else (this.raw(0xcf), this.be(v, 8));
    } else if (v >= -32) this.raw(0x100 + v);
    else if (v >= -0x80) this.raw(0xd0, 0x100 + v);
    else if (v >= -0x8000) (this.raw(0xd1), this.be(0x10000 + v, 2));
    else if (v >= -0x80000000) (this.raw(0xd2), this.be(0x100000000 + v, 4));
    else (this.raw(0xd3), this.be(BigInt.asUintN(64, BigInt(v)), 8));
  }

  float(v) {
    if (typeof v !== 'number') throw new ProtocolError(`not a number: ${v}`);
    const dv = new DataView(new ArrayBuffer(8));
    dv.setFloat64(0, v, false);
    this.raw(0xcb, ...new Uint8Array(dv.buffer));
  }

  str(s) {
    const b = new TextEncoder().encode(s);
    if (b.length < 32) this.raw(0xa0 | b.length);
    else if (b.length < 0x100) this.raw(0xd9, b.length);
    else if (b.length < 0x10000) (this.raw(0xda), this.be(b.length, 2));
    else (this.raw(0xdb), this.be(b.length, 4));
    this.raw(...b);
  }

  array(n) {
    if (n < 16) this.raw(0x90 | n);
    else (this.raw(0xdc), this.be(n, 2));
  }

  nil() {
    this.raw(0xc0);
  }

  optional(v, write) {
    if (v === null || v === undefined) this.nil();
    else write(v);
  }

  done() {
    return Uint8Array.from(this.bytes);
  }
}

function writeSpectate(w, view) {
  const [, follow = null, point = null] = view;
  w.array(3);
  w.str('spectate');
  w.optional(follow, (f) => w.int(f));
  w.optional(point, (pt) => {
    w.array(3);
    for (const c of pt) w.float(c);
  });
}

const CLIENT = {
  hello: (w, [version, token = '', resume = null, lastEvent = 0, spectate = null, frames = 0]) => {
    w.int(version);
    w.str(token);
    w.optional(resume, (r) => w.str(r));
    w.int(lastEvent);
    w.optional(spectate, (s) => writeSpectate(w, s));
    w.int(frames);
    return 7;
  },
  in: (w, fields) => (fields.forEach((v) => w.int(v)), 5),
  ack: (w, [tick]) => (w.int(tick), 2),
  ping: (w, [t]) => (w.float(t), 2),
  leave: () => 1,
};

/**
 * Encode a client message given in its array form (docs/protocol.md section 4), e.g. `['in', seq, tick, action,
 * ack]` or `['spectate', follow, point]`. Every field is written, defaults included, as the Python client does.
 */
export function encode(message) {
  const [tag, ...fields] = message;
  if (tag === 'spectate') {
    const w = new Writer();
    writeSpectate(w, message);
    return w.done();
  }
  const write = CLIENT[tag];
  if (write === undefined) throw new ProtocolError(`unknown client message ${JSON.stringify(tag)}`);
  const body = new Writer();
  const n = write(body, fields);
  const w = new Writer();
  w.array(n);
  w.str(tag);
  w.raw(...body.bytes);
  return w.done();
}

export const hello = (token, resume = null, lastEvent = 0, spectate = null, frames = 0) =>
  encode(['hello', PROTOCOL_VERSION, token, resume, lastEvent, spectate, frames]);
export const input = (seq, tick, action, ack) => encode(['in', seq, tick, action, ack]);
export const ack = (tick) => encode(['ack', tick]);
export const ping = (t) => encode(['ping', t]);
export const leave = () => encode(['leave']);
/** `['spectate', follow, point]`: follow a player id, or watch a point (any finite non-zero 3-vector). */
export const spectateView = (follow, point = null) => ['spectate', follow, point];
export const spectate = (follow, point = null) => encode(spectateView(follow, point));

// --- packed entity records (section 6.2), little-endian -------------------------------------------------------

export const RECORD_SIZE = { enter: 24, moved: 12, turned: 10, state: 10, leave: 4 };

function view(bytes, name) {
  if (bytes.byteLength % RECORD_SIZE[name]) {
    throw new ProtocolError(`${bytes.byteLength} bytes is not a whole number of ${RECORD_SIZE[name]}-byte ${name} records`);
  }
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const vec = (dv, at) => [dv.getInt16(at, true), dv.getInt16(at + 2, true), dv.getInt16(at + 4, true)];

/** The records of one snapshot field as objects with quantized values (ints), as the wire carries them. */
export function records(bytes, name) {
  const dv = view(bytes, name);
  const size = RECORD_SIZE[name];
  const out = [];
  for (let at = 0; at < bytes.byteLength; at += size) {
    const id = dv.getUint32(at, true);
    if (name === 'enter') {
      out.push({
        id,
        pos: vec(dv, at + 4),
        fwd: vec(dv, at + 10),
        height: dv.getUint16(at + 16, true),
        action: dv.getUint8(at + 18),
        flags: dv.getUint8(at + 19),
        score: dv.getInt32(at + 20, true),
      });
    } else if (name === 'moved') {
      out.push({ id, pos: vec(dv, at + 4), height: dv.getUint16(at + 10, true) });
    } else if (name === 'turned') {
      out.push({ id, fwd: vec(dv, at + 4) });
    } else if (name === 'state') {
      out.push({ id, action: dv.getUint8(at + 4), flags: dv.getUint8(at + 5), score: dv.getInt32(at + 6, true) });
    } else {
      out.push(id);
    }
  }
  return out;
}

/** A quantized unit vector back to a unit vector: `q / 32767`, renormalized (as `protocol.dequantize_unit`). */
export function dequantizeUnit(q) {
  const x = q[0] / UNIT_SCALE;
  const y = q[1] / UNIT_SCALE;
  const z = q[2] / UNIT_SCALE;
  const n = Math.sqrt(x * x + y * y + z * z);
  return n > 0 ? [x / n, y / n, z / n] : [x, y, z];
}
