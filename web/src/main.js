// The page: lobby (log in, sign up or guest; list, create and join sessions) and the game (3D view, HUD, controls,
// world-model view, spectating). Networking lives in net/ (written from docs/protocol.md), drawing in scene.js.
import { Api } from './api.js';
import { Controls } from './controls.js';
import { drawMinimap } from './minimap.js';
import { ClientState, Connection } from './net/client.js';
import { spectate as encodeSpectate, spectateView } from './net/protocol.js';
import { WorldView } from './scene.js';

const $ = (id) => document.getElementById(id);
const api = new Api('');
const view = new WorldView($('view'));
const params = new URLSearchParams(location.search);
const WM_FPS = 10;
const PLAYER_HELP = $('help').innerHTML;
const MAX_CATCH_UP = 3; // inputs sent at once when the page fell behind its input clock // world-model frames asked for per second when the view is on
const now = () => performance.now() / 1000;

/** Events per second over a sliding window (frames drawn, snapshots and world-model frames received). */
class Rate {
  constructor(windowS = 2) {
    this.windowS = windowS;
    this.times = [];
  }

  tick(t = now()) {
    this.times.push(t);
    while (this.times.length && this.times[0] < t - this.windowS) this.times.shift();
  }

  hz(t = now()) {
    const recent = this.times.filter((x) => x >= t - this.windowS);
    return recent.length / this.windowS;
  }
}

class Game {
  constructor(sessionId, join, { spectator = false, frames = false } = {}) {
    this.sessionId = sessionId;
    this.spectator = spectator;
    this.camera = { mode: spectator ? 'orbit' : 'first', point: [0, 0, 1], yaw: 0 };
    this.followId = spectator ? 0 : null;
    this.followTries = 0;
    this.snapRate = new Rate();
    this.frameRate = new Rate();
    this.wmRate = new Rate();
    this.framesReceived = 0;
    this.messages = 0;
    this.built = false;
    this.state = new ClientState({
      token: join.ticket,
      spectate: spectator ? spectateView(null, [0, 0, 1]) : null,
      frames: frames ? WM_FPS : 0,
    });
    this.conn = new Connection(join.realtime_url, this.state, {
      onMessage: (msg) => this.onMessage(msg),
      onStatus: (text) => this.status(text),
      onClose: (why) => this.status(`disconnected: ${why}`),
      onRejoin: async () => (await api.join(sessionId)).ticket,
    });
    this.controls = null;
    this.conn.open(false);
    this.inputTimer = null;
    this.pingTimer = setInterval(() => this.conn.ping(), 1000);
    this.hudTimer = setInterval(() => this.hud(), 250);
    this.scheduleInput(now());
    $('wm').hidden = !frames || spectator; // the server draws world-model frames for players only
    $('spectate-bar').hidden = !spectator;
    $('help').innerHTML = spectator
      ? '<b>◀ ▶</b> follow another player · <b>orbit here</b> watches the spot · <b>H</b> help · <b>Esc</b> lobby'
      : PLAYER_HELP;
  }

  status(text) {
    $('status').textContent = text;
  }

  async onMessage(msg) {
    const st = this.state;
    if (msg.type === 'welcome') {
      if (!this.built) {
        this.built = true;
        const biomes = await api.biomes(msg.config.seed, msg.config.num_biomes).catch(() => null);
        view.build(msg.config, msg.layout, biomes);
        const turnStep = msg.config.turn_rate_deg * (Math.PI / 180) / msg.config.tick_rate;
        this.controls = new Controls($('view'), turnStep);
        if (msg.layout.spawn_points?.length) this.camera.point = msg.layout.spawn_points[0];
      }
      if (this.spectator && this.followId !== null) this.conn.send(encodeSpectate(this.followId));
    } else if (msg.type === 'snap') {
      this.snapRate.tick();
    } else if (msg.type === 'events') {
      for (const ev of msg.fresh) this.onEvent(ev);
    } else if (msg.type === 'frame') {
      this.showFrame(msg);
    } else if (msg.type === 'error') {
      if (msg.code === 'bad_target' && this.spectator) this.nextFollow(+1, true);
      else this.status(`server: ${msg.code} ${msg.message}`);
    }
    if (st.welcome && this.spectator && msg.type === 'snap' && this.followId !== null) {
      $('spectate-target').textContent = `following P${this.followId}`;
    }
  }

  /** Follow the next (or previous) player id; ids the server refuses (bad_target) are skipped, a few at a time. */
  nextFollow(step, refused = false) {
    this.followTries = refused ? this.followTries + 1 : 0;
    if (this.followTries > 64) {
      this.followId = null;
      this.camera.mode = 'orbit';
      $('spectate-target').textContent = 'nobody to follow: orbiting';
      return;
    }
    this.followId = Math.max(0, (this.followId ?? 0) + step);
    this.camera.mode = 'follow';
    this.conn.send(encodeSpectate(this.followId));
  }

  orbitHere() {
    const target = this.followed();
    const point = target ? target.pos : this.camera.point;
    this.followId = null;
    this.camera = { mode: 'orbit', point, yaw: 0 };
    this.conn.send(encodeSpectate(null, point));
    $('spectate-target').textContent = 'orbiting a point';
  }

  followed() {
    if (this.followId === null || !this.state.interpolator) return null;
    return this.state.interpolator.sample(now()).entities.find((e) => e.id === this.followId) ?? null;
  }

  name(id) {
    return id === this.state.player ? 'You' : `P${id}`;
  }

  onEvent(ev) {
    const cfg = this.state.cfg;
    const mine = [ev.player, ev.attacker, ev.target, ...(ev.players || [])].includes(this.state.player);
    let text;
    if (ev.type === 'pickup') {
      view.pickup(ev.collectible, ev.tick + cfg.collectible_respawn_ticks);
      text = `${this.name(ev.player)} picked up a snowflake ✦`;
    } else if (ev.type === 'beacon') {
      view.light(ev.beacon, ev.tick + cfg.beacon_cooldown_ticks);
      text = `Beacon ${ev.beacon} lit by ${ev.players.map((id) => this.name(id)).join(' + ')}!`;
    } else if (ev.type === 'hazard') {
      text = `${this.name(ev.player)} fell into a crevasse`;
    } else if (ev.type === 'respawn') {
      text = ev.reason === 'join' ? `${this.name(ev.player)} joined` : `${this.name(ev.player)} respawned (${ev.reason})`;
    } else if (ev.type === 'attack') {
      text = `${this.name(ev.attacker)} hit ${this.name(ev.target)}`;
    } else {
      const detail = Object.entries(ev.data || {}).map(([k, v]) => `${k} ${v}`).join(', ');
      text = `World event: ${ev.name}${detail ? ` (${detail})` : ''}`;
    }
    this.message(text, mine);
  }

  message(text, mine = false) {
    this.messages += 1;
    const li = document.createElement('li');
    li.textContent = text;
    if (mine) li.className = 'mine';
    const list = $('messages');
    list.append(li);
    while (list.children.length > 6) list.firstChild.remove();
    setTimeout(() => (li.style.opacity = '0'), 5000);
    setTimeout(() => li.remove(), 5800);
  }

  showFrame(msg) {
    this.framesReceived += 1;
    this.wmRate.tick();
    const img = $('wm-frame');
    const old = img.src;
    img.src = URL.createObjectURL(new Blob([msg.data], { type: 'image/jpeg' }));
    if (old.startsWith('blob:')) URL.revokeObjectURL(old);
    $('wm-info').textContent = `tick ${msg.tick} · ${msg.width}×${msg.height} ${msg.format}`;
  }

  /** Ask for world-model frames or stop them: a new hello carries `frames`, so reconnect (a resume). */
  toggleWorldModel() {
    const on = this.state.frames === 0;
    this.state.frames = on ? WM_FPS : 0;
    $('wm').hidden = !on;
    this.conn.drop();
  }

  /** One input per server tick. A page busy drawing fires its timer late: the inputs of the ticks it missed go
   * out together (at most MAX_CATCH_UP; the server buffers a few per player and applies one per tick). */
  scheduleInput(due) {
    this.inputTimer = setTimeout(() => {
      let next = due;
      for (let k = 0; k < MAX_CATCH_UP && next <= now(); k += 1) {
        this.sendInput();
        next += this.state.inputInterval;
      }
      this.scheduleInput(Math.max(next, now() - this.state.inputInterval)); // never a burst after a long stall
    }, Math.max(0, (due - now()) * 1000));
  }

  sendInput() {
    const st = this.state;
    if (!this.conn.connected || st.snapshot === null || st.player < 0 || this.controls === null) return;
    this.lastAction = this.controls.next();
    this.conn.send(st.pacedInput(this.lastAction, now()));
  }

  own() {
    const pr = this.state.predictor;
    if (!pr || !pr.synced) return null;
    return { id: this.state.player, ...pr.state };
  }

  frame() {
    this.frameRate.tick();
    const st = this.state;
    if (!st.interpolator || !this.built) return;
    const t = now();
    const others = st.interpolator.sample(t).entities;
    let own = this.own();
    let camera = this.camera;
    if (this.spectator) {
      const target = this.followId === null ? null : others.find((e) => e.id === this.followId);
      own = target ?? null;
      camera = target ? { mode: 'follow' } : { ...this.camera, mode: 'orbit' };
    }
    view.render(st.snapshot ? st.snapshot.tick : 0, own, others, camera, t);
    const centre = own ?? (camera.mode === 'orbit' ? { pos: camera.point, fwd: tangent(camera.point) } : null);
    drawMinimap($('minimap'), {
      pos: centre?.pos,
      fwd: centre?.fwd,
      others,
      layout: st.welcome?.layout ?? {},
      ownId: st.player,
      radius: st.cfg.radius,
      renderDistance: st.cfg.render_distance,
    });
    this.beaconPrompt(own);
  }

  beaconPrompt(own) {
    const cfg = this.state.cfg;
    const beacons = this.state.welcome?.layout?.beacons ?? [];
    let near = false;
    if (own && !this.spectator) {
      near = beacons.some((b) => Math.hypot(b[0] - own.pos[0], b[1] - own.pos[1], b[2] - own.pos[2]) * cfg.radius < cfg.beacon_radius);
    }
    if (this.controls) this.controls.nearBeacon = near;
    $('prompt').hidden = !near;
    $('prompt').textContent = `E: interact with the beacon (lights with ${cfg?.beacon_min_players ?? 2} players at once)`;
  }

  hud() {
    const st = this.state;
    const you = st.snapshot?.you;
    $('hud-score').textContent = you ? you.score : '–';
    $('hud-view').textContent = st.entities().size;
    $('hud-ping').textContent = this.conn.pingMs === null ? '–' : `${Math.round(this.conn.pingMs)} ms`;
    $('hud-tick').textContent = `${this.snapRate.hz().toFixed(1)} Hz`;
    $('hud-fps').textContent = this.frameRate.hz().toFixed(0);
    $('wm-fps').textContent = `${this.wmRate.hz().toFixed(1)} fps`;
  }

  info() {
    const st = this.state;
    return {
      mode: this.spectator ? 'spectate' : 'play',
      camera: this.camera.mode,
      player: st.player,
      tick: st.tick,
      connected: this.conn.connected,
      pos: this.own()?.pos ?? null,
      entities: [...st.entities().keys()],
      drawn: [...view.players.keys()],
      followId: this.followId,
      pingMs: this.conn.pingMs,
      tickHz: this.snapRate.hz(),
      fps: this.frameRate.hz(),
      framesReceived: this.framesReceived,
      worldModelFps: this.wmRate.hz(),
      resumes: this.conn.resumes,
      seq: st.seq,
      lastAction: this.lastAction ?? null,
      held: this.controls ? [...this.controls.held] : [],
      ackSeq: st.ackSeq,
      maxCorrectionM: st.maxCorrectionM,
      messages: this.messages,
      hud: Object.fromEntries(['hud-score', 'hud-view', 'hud-ping', 'hud-tick', 'hud-fps'].map((id) => [id, $(id).textContent])),
    };
  }

  stop() {
    clearTimeout(this.inputTimer);
    clearInterval(this.pingTimer);
    clearInterval(this.hudTimer);
    if (this.controls) this.controls.enabled = false;
    this.conn.leave();
  }
}

function tangent(p) {
  const ref = Math.abs(p[2]) < 0.9 ? [0, 0, 1] : [1, 0, 0];
  const d = ref[0] * p[0] + ref[1] * p[1] + ref[2] * p[2];
  const t = [ref[0] - d * p[0], ref[1] - d * p[1], ref[2] - d * p[2]];
  const n = Math.hypot(...t);
  return t.map((x) => x / n);
}

// --- lobby ---------------------------------------------------------------------------------------------------

let game = null;

function lobbyStatus(text) {
  $('lobby-status').textContent = text;
}

async function signedIn() {
  const me = await api.me();
  $('whoami').textContent = `signed in as ${me.username} (${me.role})`;
  $('auth').hidden = true;
  $('sessions').hidden = false;
  await listSessions();
}

async function listSessions() {
  const page = await api.sessions();
  const list = $('session-list');
  list.replaceChildren();
  if (!page.items.length) list.innerHTML = '<li><span class="meta">no sessions yet: create one below</span></li>';
  for (const s of page.items.filter((x) => x.status !== 'completed')) {
    const li = document.createElement('li');
    li.dataset.session = s.id;
    li.innerHTML = `<span class="name"></span><span class="meta">${s.player_count}/${s.max_players} · ${s.status}</span>`;
    li.querySelector('.name').textContent = s.name;
    const play = document.createElement('button');
    play.textContent = 'Play';
    play.className = 'small play';
    play.onclick = () => start(s.id, false);
    const watch = document.createElement('button');
    watch.textContent = 'Spectate';
    watch.className = 'small secondary spectate';
    watch.onclick = () => start(s.id, true);
    li.append(play, watch);
    list.append(li);
  }
}

async function start(sessionId, spectator) {
  try {
    const join = await api.join(sessionId);
    game?.stop();
    game = new Game(sessionId, join, { spectator, frames: $('want-frames').checked });
    $('lobby').hidden = true;
    $('hud').hidden = false;
  } catch (err) {
    lobbyStatus(err.message);
  }
}

function backToLobby() {
  game?.stop();
  game = null;
  $('hud').hidden = true;
  $('lobby').hidden = false;
  listSessions().catch((err) => lobbyStatus(err.message));
}

const guarded = (fn) => async (ev) => {
  ev?.preventDefault();
  lobbyStatus('');
  try {
    await fn();
  } catch (err) {
    lobbyStatus(err.message);
  }
};

$('login-form').onsubmit = guarded(async () => {
  await api.login($('username').value, $('password').value);
  await signedIn();
});
$('register').onclick = guarded(async () => {
  await api.register($('username').value, $('password').value);
  await signedIn();
});
$('guest').onclick = guarded(async () => {
  await api.guest();
  await signedIn();
});
$('refresh').onclick = guarded(listSessions);
$('create-form').onsubmit = guarded(async () => {
  await api.createSession($('session-name').value || 'snowball', Number($('session-seats').value) || 16);
  await listSessions();
});
$('spec-next').onclick = () => game?.nextFollow(+1);
$('spec-prev').onclick = () => game?.nextFollow(-1);
$('spec-orbit').onclick = () => game?.orbitHere();

window.addEventListener('keydown', (ev) => {
  if (!game || ev.target?.tagName === 'INPUT') return;
  if (ev.code === 'KeyT' && !game.spectator) game.camera.mode = game.camera.mode === 'third' ? 'first' : 'third';
  else if (ev.code === 'KeyV') game.toggleWorldModel();
  else if (ev.code === 'KeyH') $('help').hidden = !$('help').hidden;
  else if (ev.code === 'Escape') backToLobby();
});

function loop() {
  game?.frame();
  requestAnimationFrame(loop);
}
requestAnimationFrame(loop);

// For the browser tests and the curious: the page's state, as numbers.
window.mpgenie = {
  info: () => game?.info() ?? null,
  drop: () => game?.conn.drop(),
  start,
};

// ?guest=1 enters as a guest, ?session=ID joins it at once (`make demo` prints such a link); &spectate=1 watches.
(async () => {
  if (params.get('guest') === '1') {
    await guarded(async () => {
      await api.guest();
      await signedIn();
    })();
    if (params.get('frames') === '1') $('want-frames').checked = true;
    const session = params.get('session');
    if (session && api.tokens) await start(session, params.get('spectate') === '1');
  }
})();
