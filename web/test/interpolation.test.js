import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Interpolator } from '../src/net/interpolation.js';
import { close, fixture, tableOf } from './helpers.js';

const golden = fixture('interpolation.json');

test('remote entities are drawn 100 ms behind, as the Python Interpolator draws them', () => {
  const interp = new Interpolator(golden.tick_rate, golden.delay_s);
  let pushed = 0;
  for (const sample of golden.samples) {
    while (pushed < sample.after) {
      const { tick, now, table } = golden.pushed[pushed];
      interp.push(tick, tableOf(table), now);
      pushed += 1;
    }
    const view = interp.sample(sample.now);
    close(view.tick, sample.tick, 1e-9, 'tick');
    assert.deepEqual(view.entities.map((e) => e.id), sample.ids);
    close(view.entities.map((e) => e.pos), sample.pos, 1e-12, 'pos');
    close(view.entities.map((e) => e.fwd), sample.fwd, 1e-12, 'fwd');
    close(view.entities.map((e) => e.height), sample.height, 1e-12, 'height');
  }
  assert.ok(golden.samples.some((s) => s.ids.length >= 2), 'the fixture has entities to interpolate');
});
