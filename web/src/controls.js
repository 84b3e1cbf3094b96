// Keyboard and mouse to one action per server tick. Movement keys held together take turns tick by tick (the
// protocol carries one action per tick); jump, attack and interact fire once per key press, before movement.
import { Action } from './net/protocol.js';

const HELD = {
  KeyW: Action.FORWARD,
  ArrowUp: Action.FORWARD,
  KeyS: Action.BACKWARD,
  ArrowDown: Action.BACKWARD,
  KeyA: Action.LEFT,
  KeyD: Action.RIGHT,
  KeyQ: Action.TURN_LEFT,
  ArrowLeft: Action.TURN_LEFT,
  KeyE: Action.TURN_RIGHT, // near a beacon E interacts instead (see Controls.next)
  ArrowRight: Action.TURN_RIGHT,
};
const PRESSED = { Space: Action.JUMP, KeyF: Action.ATTACK, KeyR: Action.INTERACT };

export class Controls {
  constructor(target, turnStepRad) {
    this.held = new Set();
    this.queue = [];
    this.turn = 0; // radians of mouse turn not yet sent
    this.turnStep = turnStepRad;
    this.round = 0;
    this.nearBeacon = false;
    this.enabled = true;
    window.addEventListener('keydown', (ev) => this.down(ev));
    window.addEventListener('keyup', (ev) => this.held.delete(ev.code));
    window.addEventListener('blur', () => this.held.clear());
    target.addEventListener('click', () => target.requestPointerLock?.());
    // On-screen buttons (touch screens): each holds or presses its key while touched.
    for (const button of document.querySelectorAll('#touch [data-code]')) {
      const code = button.dataset.code;
      button.addEventListener('pointerdown', (ev) => {
        ev.preventDefault();
        this.down({ code, repeat: false, target: button, preventDefault() {} });
      });
      const up = () => this.held.delete(code);
      button.addEventListener('pointerup', up);
      button.addEventListener('pointerleave', up);
      button.addEventListener('pointercancel', up);
    }
    document.addEventListener('mousemove', (ev) => {
      if (document.pointerLockElement === target) this.turn -= ev.movementX * 0.004;
    });
  }

  down(ev) {
    if (!this.enabled || ev.target?.tagName === 'INPUT') return;
    if (ev.code in PRESSED) {
      if (!ev.repeat) this.queue.push(PRESSED[ev.code]);
      ev.preventDefault();
    } else if (ev.code === 'KeyE' && this.nearBeacon) {
      if (!ev.repeat) this.queue.push(Action.INTERACT);
    } else if (ev.code in HELD) {
      this.held.add(ev.code);
      ev.preventDefault();
    }
  }

  /** The action for the next tick. */
  next() {
    if (this.queue.length) return this.queue.shift();
    if (Math.abs(this.turn) >= this.turnStep / 2) {
      const left = this.turn > 0;
      this.turn += left ? -this.turnStep : this.turnStep;
      return left ? Action.TURN_LEFT : Action.TURN_RIGHT;
    }
    const actions = [...new Set([...this.held].filter((k) => !(k === 'KeyE' && this.nearBeacon)).map((k) => HELD[k]))];
    if (!actions.length) return Action.NOOP;
    this.round += 1;
    return actions[this.round % actions.length];
  }
}
