// Shared helpers of the JS tests: the golden fixtures (written by tests/web/golden.py from the Python code).
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';

export const fixture = (name) => JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8'));
export const hex = (bytes) => Buffer.from(bytes).toString('hex');
export const unhex = (text) => new Uint8Array(Buffer.from(text, 'hex'));

/** Decoded values as the fixtures write them: bin as {"$bin": hex}. */
export function plain(value) {
  if (value instanceof Uint8Array) return { $bin: hex(value) };
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

/** Vectors equal within `tol` (floating point: V8's Math.cos/sin may differ from C's libm in the last bit). */
export function close(actual, expected, tol, what) {
  if (Array.isArray(expected)) {
    assert.equal(actual.length, expected.length, `${what}: length`);
    expected.forEach((e, i) => close(actual[i], e, tol, `${what}[${i}]`));
    return;
  }
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected}`);
}

/** A fixture table (list of records) as the Map the JS client keeps. */
export const tableOf = (rows) => new Map(rows.map((r) => [r.id, r]));
