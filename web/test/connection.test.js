import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decode, encode } from '@msgpack/msgpack';
import { ClientState, Connection } from '../src/net/client.js';
import { fixture, unhex } from './helpers.js';

const golden = fixture('protocol.json');
const welcomeBytes = unhex(golden.server[0].hex); // a real welcome (player 0, resume token fixed by the fixture)
const welcome = golden.server[0].decoded;
const TOKEN = welcome.resume;
const resumedBytes = encode(['welcome', ...Object.keys(welcome).slice(1).map((k) => (k === 'resumed' ? true : welcome[k]))]);
const eventsBytes = unhex(golden.server.find((s) => s.decoded.type === 'events').hex); // events numbered 7..13
const encodeError = (code) => encode(['error', code, 'for the test', true]);

/** A stand-in for the browser's WebSocket: records what the page sends, lets the test deliver and close. */
class FakeSocket {
  static all = [];

  constructor(url) {
    this.url = url;
    this.sent = [];
    this.readyState = 0;
    FakeSocket.all.push(this);
    queueMicrotask(() => {
      this.readyState = 1;
      this.onopen?.();
    });
  }

  send(bytes) {
    this.sent.push(decode(bytes));
  }

  deliver(bytes) {
    this.onmessage?.({ data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) });
  }

  close() {
    this.readyState = 3;
    queueMicrotask(() => this.onclose?.());
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0));
const wait = (ms) => new Promise((r) => setTimeout(r, ms));

function connect(onRejoin = null) {
  FakeSocket.all = [];
  const state = new ClientState({ token: 'TICKET' });
  const statuses = [];
  const conn = new Connection('ws://test/ws', state, { WebSocketImpl: FakeSocket, onRejoin, onStatus: (s) => statuses.push(s) });
  conn.open(false);
  return { state, conn, statuses };
}

test('a dropped connection resumes the same player with its token and last event', async () => {
  const { state, conn } = connect();
  await tick();
  const [first] = FakeSocket.all;
  assert.deepEqual(first.sent[0], ['hello', 1, 'TICKET', null, 0, null, 0]);
  first.deliver(welcomeBytes);
  first.deliver(eventsBytes);
  assert.equal(state.lastEvent, 13);
  first.close(); // the network dropped it
  await wait(400); // first retry after 250 ms
  const second = FakeSocket.all[1];
  assert.ok(second, 'reconnected');
  assert.deepEqual(second.sent[0], ['hello', 1, 'TICKET', TOKEN, 13, null, 0]);
  second.deliver(resumedBytes);
  assert.equal(conn.resumes, 1);
  conn.leave();
  await wait(400);
  assert.equal(FakeSocket.all.length, 2, 'no reconnection after leave');
  assert.deepEqual(second.sent.at(-1), ['leave']);
});

test('resume_failed and server_full join again with a fresh ticket from the API', async () => {
  let asked = 0;
  const { conn } = connect(async () => `FRESH${++asked}`);
  await tick();
  const [first] = FakeSocket.all;
  first.deliver(welcomeBytes);
  first.close();
  await wait(400);
  FakeSocket.all[1].deliver(encodeError('resume_failed'));
  FakeSocket.all[1].close();
  await wait(700);
  assert.equal(asked, 1);
  assert.equal(FakeSocket.all[2].sent[0][2], 'FRESH1'); // a takeover by ticket: the same player comes back
  FakeSocket.all[2].deliver(encodeError('server_full'));
  FakeSocket.all[2].close();
  await wait(1200);
  assert.equal(asked, 2);
  assert.equal(FakeSocket.all[3].sent[0][2], 'FRESH2');
  conn.leave();
});

test('a fatal error other than those ends the connection for good', async () => {
  const { conn } = connect(async () => 'never');
  await tick();
  const [first] = FakeSocket.all;
  first.deliver(encodeError('auth_failed'));
  first.close();
  await wait(400);
  assert.equal(FakeSocket.all.length, 1);
  assert.equal(conn.finished, true);
});
