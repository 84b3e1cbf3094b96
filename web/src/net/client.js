// The client side of the realtime protocol: ClientState (no I/O: feed it frames, ask it for frames to send, as
// net/client.py's ClientState) and Connection (a browser WebSocket around it, with resume after a drop).
import { Interpolator } from './interpolation.js';
import { Predictor } from './prediction.js';
import * as p from './protocol.js';
import { EMPTY_TABLE, applyDelta } from './snapshots.js';

export const TABLE_HISTORY = 32;
export const PACE_AFTER = 10;

export class ClientState {
  constructor({ token = '', spectate = null, frames = 0, interpDelayS = 0.1 } = {}) {
    this.token = token;
    this.spectate = spectate; // ['spectate', follow, point] or null
    this.frames = frames;
    this.interpDelayS = interpDelayS;
    this.welcome = null;
    this.cfg = null;
    this.predictor = null;
    this.interpolator = null;
    this.tables = new Map();
    this.tick = 0; // newest applied snapshot tick (the ack), 0 while resynchronizing
    this.serverRate = 0;
    this.snapshot = null;
    this.seq = 0;
    this.ackSeq = 0;
    this.lastEvent = 0;
    this.eventGaps = 0;
    this.resyncs = 0;
    this.backlogged = 0;
    this.skippedInputs = 0;
    this.maxCorrectionM = 0;
    this.errors = [];
    this.goodbye = null;
    this.frame = null;
  }

  get player() {
    return this.welcome === null ? -1 : this.welcome.player;
  }

  hello(resume = false) {
    const token = resume && this.welcome !== null && this.welcome.resume ? this.welcome.resume : null;
    return p.hello(this.token, token, this.lastEvent, this.spectate, this.frames);
  }

  /** Encode the next input and predict it. */
  input(action, now) {
    this.seq += 1;
    if (this.predictor !== null) this.predictor.apply(this.seq, action);
    let clientTick = this.tick + 1;
    if (this.interpolator !== null) clientTick = Math.max(clientTick, Math.floor(this.interpolator.serverTick(now)) + 1);
    return p.input(this.seq, clientTick, action, this.tick);
  }

  /** Like input(), but skips one input after PACE_AFTER snapshots in a row reported a server-side backlog. */
  pacedInput(action, now) {
    if (this.backlogged >= PACE_AFTER) {
      this.backlogged = 0;
      this.skippedInputs += 1;
      return null;
    }
    return this.input(action, now);
  }

  ack() {
    return p.ack(this.tick);
  }

  /** Decode and apply one server frame; returns the decoded message (and the new events, for `events`). */
  handle(data, now) {
    const msg = p.decodeServer(data);
    if (msg.type === 'snap') this.onSnapshot(msg, now);
    else if (msg.type === 'events') msg.fresh = this.onEvents(msg);
    else if (msg.type === 'welcome') this.onWelcome(msg, now);
    else if (msg.type === 'error') this.errors.push(msg);
    else if (msg.type === 'bye') this.goodbye = msg.reason;
    else if (msg.type === 'frame') this.frame = msg;
    else if (msg.type === 'rate') {
      this.serverRate = msg.hz;
      if (this.interpolator !== null) this.interpolator.setRate(msg.hz, now);
    }
    return msg;
  }

  get inputInterval() {
    return this.serverRate > 0 ? 1 / this.serverRate : 0.05;
  }

  onWelcome(msg, now) {
    const first = this.welcome === null;
    this.welcome = msg;
    this.tables.clear(); // a new connection starts from a full snapshot
    this.tick = 0;
    this.serverRate = msg.tick_rate;
    if (first) this.cfg = msg.config;
    if (first || !msg.resumed) {
      this.lastEvent = 0;
      this.ackSeq = 0;
      this.predictor = msg.player >= 0 ? new Predictor(this.cfg) : null;
      this.interpolator = new Interpolator(msg.tick_rate, this.interpDelayS);
    }
    this.interpolator.hint(msg.tick, now);
  }

  onSnapshot(snap, now) {
    const base = snap.base === 0 ? EMPTY_TABLE : this.tables.get(snap.base);
    let table = null;
    if (base !== undefined) {
      try {
        table = applyDelta(base, snap);
      } catch (err) {
        if (!(err instanceof p.ProtocolError)) throw err;
      }
    }
    if (table === null) {
      // Lost the baseline (or a corrupt delta): acknowledge 0 until a full snapshot arrives (6.4).
      this.resyncs += 1;
      this.tables.clear();
      this.tick = 0;
    } else {
      this.tables.set(snap.tick, table);
      for (const t of this.tables.keys()) if (t <= snap.tick - TABLE_HISTORY) this.tables.delete(t);
      this.interpolator?.push(snap.tick, table, now);
      this.tick = Math.max(this.tick, snap.tick);
    }
    this.snapshot = snap;
    this.backlogged = snap.queued > 0 ? this.backlogged + 1 : 0;
    this.ackSeq = Math.max(this.ackSeq, snap.ack_seq);
    if (this.predictor !== null && snap.you !== null) {
      this.maxCorrectionM = Math.max(this.maxCorrectionM, this.predictor.reconcile(snap.ack_seq, snap.you));
    }
  }

  /** Events not processed before, in order (a resume may re-send some). */
  onEvents(msg) {
    if (msg.first > this.lastEvent + 1) this.eventGaps += 1;
    const fresh = [];
    msg.events.forEach((ev, k) => {
      const number = msg.first + k;
      if (number <= this.lastEvent) return;
      fresh.push(ev);
      this.lastEvent = number;
    });
    return fresh;
  }

  /** The newest applied snapshot's entity table. */
  entities() {
    return this.tables.get(this.tick) ?? EMPTY_TABLE;
  }
}

const RETRY_MS = [250, 500, 1000, 2000, 4000];
// Fatal errors after which a fresh ticket may well succeed: the resume token is gone (join anew), or the server is
// full or saturated for now ("retry later", docs/protocol.md section 9).
const RETRY_WITH_TICKET = new Set(['resume_failed', 'server_full']);

/**
 * A WebSocket connection to the realtime server. Resumes the same player after a dropped connection (within the
 * welcome's `grace_s`, hello with the resume token and `last_event`, 3.4); `onRejoin` (async, returns a fresh
 * ticket) is asked when the resume token is refused, so the page can join anew through the API.
 * Listeners: onMessage(msg), onStatus(text), onClose(reason).
 */
export class Connection {
  constructor(url, state, { onMessage = () => {}, onStatus = () => {}, onClose = () => {}, onRejoin = null, WebSocketImpl = globalThis.WebSocket } = {}) {
    this.url = url;
    this.state = state;
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.onClose = onClose;
    this.onRejoin = onRejoin;
    this.WebSocketImpl = WebSocketImpl;
    this.ws = null;
    this.finished = false; // left, kicked, or a fatal error: no resume
    this.retries = 0;
    this.droppedAt = 0;
    this.pings = new Map();
    this.pingMs = null;
    this.resumes = 0;
    this.needsTicket = false;
  }

  open(resume = false) {
    const ws = new this.WebSocketImpl(this.url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => {
      ws.send(this.state.hello(resume));
      this.onStatus(resume ? 'resuming' : 'joining');
    };
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onclose = () => {
      if (ws === this.ws) this.dropped();
    };
  }

  receive(data) {
    const now = performance.now() / 1000;
    let msg;
    try {
      msg = this.state.handle(data, now);
    } catch (err) {
      if (err instanceof p.ProtocolError) {
        this.onStatus(`protocol error: ${err.message}`);
        return;
      }
      throw err;
    }
    if (msg.type === 'welcome') {
      this.retries = 0;
      if (msg.resumed) this.resumes += 1;
      this.onStatus(msg.resumed ? 'resumed' : 'joined');
    } else if (msg.type === 'snap' && this.state.player < 0) {
      this.send(this.state.ack()); // spectators have no inputs to carry their acks
    } else if (msg.type === 'pong') {
      const sent = this.pings.get(msg.t);
      if (sent !== undefined) {
        this.pings.delete(msg.t);
        this.pingMs = performance.now() - sent;
      }
    } else if (msg.type === 'error' && msg.fatal && !RETRY_WITH_TICKET.has(msg.code)) {
      this.finished = true;
    } else if (msg.type === 'bye' && msg.reason !== 'slow') {
      this.finished = true;
    }
    if (msg.type === 'error' && RETRY_WITH_TICKET.has(msg.code)) this.needsTicket = true; // rejoin when it closes
    this.onMessage(msg);
  }

  send(bytes) {
    if (bytes !== null && this.ws !== null && this.ws.readyState === 1) this.ws.send(bytes);
  }

  ping() {
    const t = performance.now() / 1000 + 0.5 * Math.random() * 1e-6; // unique, and never integer-valued
    this.pings.set(t, performance.now());
    if (this.pings.size > 8) this.pings.delete(this.pings.keys().next().value);
    this.send(p.ping(t));
  }

  get connected() {
    return this.ws !== null && this.ws.readyState === 1 && this.state.welcome !== null;
  }

  dropped() {
    if (this.finished) {
      this.onClose(this.state.goodbye ?? this.state.errors.at(-1)?.code ?? 'closed');
      return;
    }
    const welcome = this.state.welcome;
    if (this.needsTicket) {
      this.needsTicket = false;
      const wait = RETRY_MS[Math.min(this.retries, RETRY_MS.length - 1)];
      this.retries += 1;
      this.onStatus(`${this.state.errors.at(-1)?.code ?? 'refused'}: joining again in ${wait} ms`);
      setTimeout(() => this.rejoin(), wait);
      return;
    }
    if (welcome === null) {
      this.onClose('connection refused');
      return;
    }
    if (!this.droppedAt) this.droppedAt = performance.now();
    const spectator = welcome.player < 0;
    const withinGrace = performance.now() - this.droppedAt < welcome.grace_s * 1000;
    if (!spectator && !withinGrace) {
      this.rejoin();
      return;
    }
    const wait = RETRY_MS[Math.min(this.retries, RETRY_MS.length - 1)];
    this.retries += 1;
    this.onStatus(`connection lost: retrying in ${wait} ms`);
    setTimeout(() => {
      if (spectator) this.rejoin();
      else this.open(true);
    }, wait);
  }

  /** Join anew with a fresh ticket (a spectator after a drop, or a player whose resume token is gone). */
  async rejoin() {
    if (this.onRejoin === null) {
      this.finished = true;
      this.onClose('resume failed');
      return;
    }
    try {
      this.state.token = await this.onRejoin();
    } catch (err) {
      this.onStatus(`rejoin failed: ${err.message}`);
      setTimeout(() => this.rejoin(), 2000);
      return;
    }
    this.droppedAt = 0;
    this.open(false);
  }

  /** Cut the connection as a network failure would (the server keeps the player for a resume). */
  drop() {
    this.ws?.close();
  }

  leave() {
    this.finished = true;
    this.send(p.leave());
    this.ws?.close(1000);
  }
}
