import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MotionModel } from '../src/net/kinematics.js';
import { Predictor } from '../src/net/prediction.js';
import { close, fixture } from './helpers.js';

const golden = fixture('kinematics.json');
const TOL = 1e-12; // unit vectors after 150 ticks: V8's Math.sin/cos and glibc's may differ in the last bit

test('the JS motion model follows the Python MotionModel tick by tick', () => {
  for (const { config, start, actions, states } of golden.cases) {
    const model = new MotionModel(config);
    const s = structuredClone(start);
    actions.forEach((action, i) => {
      model.step(s, action);
      const want = states[i];
      close(s.pos, want.pos, TOL, `tick ${i} pos`);
      close(s.fwd, want.fwd, TOL, `tick ${i} fwd`);
      close([s.height, s.vz], [want.height, want.vz], 1e-9, `tick ${i} height/vz`);
    });
  }
});

test('prediction and reconciliation match the Python Predictor', () => {
  const { config, steps } = golden.prediction;
  const predictor = new Predictor(config);
  for (const step of steps) {
    if (step.apply) {
      predictor.apply(...step.apply);
    } else {
      const { ack_seq: ackSeq, you } = step.reconcile;
      const correction = predictor.reconcile(ackSeq, you);
      close(correction, step.correction, 1e-9, 'correction');
      if (step.pending !== undefined) assert.equal(predictor.pending.length, step.pending);
    }
    if (step.state) {
      close(predictor.state.pos, step.state.pos, TOL, 'pos');
      close(predictor.state.fwd, step.state.fwd, TOL, 'fwd');
      close([predictor.state.height, predictor.state.vz], [step.state.height, step.state.vz], 1e-9, 'height/vz');
    }
  }
  assert.ok(steps.at(-1).correction > 2.5, 'the knockback shows up as one correction');
  assert.equal(steps.at(-2).correction, 0, 'an exact acknowledgement corrects nothing');
});
