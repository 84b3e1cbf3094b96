// Client-side prediction of the own player and reconciliation on the echoed input sequence (docs/protocol.md
// 10.1), as net/client.py's Predictor does: predict each input when it is sent; on every snapshot restart from the
// server's exact state (`you`) and replay the inputs the server has not applied yet (seq > ack_seq).
import { MotionModel } from './kinematics.js';

export class Predictor {
  constructor(cfg) {
    this.cfg = cfg;
    this.motion = new MotionModel(cfg);
    this.state = { pos: [0, 0, 1], fwd: [1, 0, 0], height: 0, vz: 0 };
    this.pending = []; // [seq, action], oldest first
    this.synced = false;
    this.lastCorrectionM = 0;
  }

  /** Predict one input locally (call when sending it). */
  apply(seq, action) {
    this.pending.push([seq, action]);
    if (this.synced) this.motion.step(this.state, action);
  }

  /** Restart from `you` and replay what the server has not applied; returns the correction in metres. */
  reconcile(ackSeq, you) {
    const before = this.state.pos;
    while (this.pending.length && this.pending[0][0] <= ackSeq) this.pending.shift();
    this.state = { pos: [...you.pos], fwd: [...you.fwd], height: you.height, vz: you.vz };
    for (const [, action] of this.pending) this.motion.step(this.state, action);
    if (!this.synced) {
      this.synced = true;
      this.lastCorrectionM = 0;
      return 0;
    }
    const [dx, dy, dz] = [0, 1, 2].map((i) => this.state.pos[i] - before[i]);
    this.lastCorrectionM = Math.sqrt(dx * dx + dy * dy + dz * dz) * this.cfg.radius; // chord length
    return this.lastCorrectionM;
  }
}
