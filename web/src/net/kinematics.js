// One tick of own-player motion: a line-by-line port of mpgenie.world.kinematics.step_kinematics (the Numba kernel
// the server runs; docs/protocol.md 10.1). The per-action constants are computed in the same order as
// MotionModel's tables so that the same IEEE doubles come out; web/test/fixtures/kinematics.json (written by the
// Python MotionModel) holds the two together.
import { Action } from './protocol.js';

export class MotionModel {
  constructor(cfg) {
    this.cfg = cfg;
    const dt = 1.0 / cfg.tick_rate;
    const turnStep = cfg.turn_rate_deg * (Math.PI / 180.0) * dt; // math.radians(deg) * dt
    const perTick = dt / cfg.radius;
    this.turn = new Float64Array(10);
    this.turn[Action.TURN_LEFT] = turnStep;
    this.turn[Action.TURN_RIGHT] = -turnStep;
    this.along = new Float64Array(10);
    this.along[Action.FORWARD] = cfg.walk_speed * perTick;
    this.along[Action.BACKWARD] = -cfg.backward_speed * perTick;
    this.side = new Float64Array(10);
    this.side[Action.RIGHT] = cfg.strafe_speed * perTick;
    this.side[Action.LEFT] = -cfg.strafe_speed * perTick;
    this.jumpSpeed = cfg.jump_speed;
    this.gravityDt = cfg.gravity * dt;
    this.dt = dt;
  }

  /** Advance `s` = {pos: [x,y,z], fwd: [x,y,z], height, vz} one tick with `action`, in place. */
  step(s, action) {
    let [px, py, pz] = s.pos;
    let [hx, hy, hz] = s.fwd;
    let moved = false;
    const turn = this.turn[action] ?? 0;
    if (turn !== 0) {
      const c = Math.cos(turn);
      const sn = Math.sin(turn);
      const cx = py * hz - pz * hy;
      const cy = pz * hx - px * hz;
      const cz = px * hy - py * hx;
      [hx, hy, hz] = [hx * c + cx * sn, hy * c + cy * sn, hz * c + cz * sn];
      moved = true;
    }
    const along = this.along[action] ?? 0;
    const side = this.side[action] ?? 0;
    if (along !== 0 || side !== 0) {
      let dx, dy, dz, angle;
      if (side !== 0) {
        [dx, dy, dz] = [hy * pz - hz * py, hz * px - hx * pz, hx * py - hy * px]; // right = h x p
        angle = side;
      } else {
        [dx, dy, dz] = [hx, hy, hz];
        angle = along;
      }
      const c = Math.cos(angle);
      const sn = Math.sin(angle);
      const [npx, npy, npz] = [px * c + dx * sn, py * c + dy * sn, pz * c + dz * sn];
      const [ndx, ndy, ndz] = [dx * c - px * sn, dy * c - py * sn, dz * c - pz * sn];
      const k = hx * dx + hy * dy + hz * dz; // parallel transport of the heading
      [hx, hy, hz] = [hx + k * (ndx - dx), hy + k * (ndy - dy), hz + k * (ndz - dz)];
      [px, py, pz] = [npx, npy, npz];
      moved = true;
    }
    if (moved) {
      let n = Math.sqrt(px * px + py * py + pz * pz);
      [px, py, pz] = [px / n, py / n, pz / n];
      const d = hx * px + hy * py + hz * pz;
      [hx, hy, hz] = [hx - d * px, hy - d * py, hz - d * pz];
      n = Math.sqrt(hx * hx + hy * hy + hz * hz);
      s.pos = [px, py, pz];
      s.fwd = [hx / n, hy / n, hz / n];
    }
    if (action === Action.JUMP && s.height <= 0) s.vz = this.jumpSpeed;
    if (s.height > 0 || s.vz > 0) {
      const v = s.vz - this.gravityDt;
      const h = s.height + v * this.dt;
      if (h <= 0) {
        s.vz = 0;
        s.height = 0;
      } else {
        s.vz = v;
        s.height = h;
      }
    }
    return s;
  }
}
