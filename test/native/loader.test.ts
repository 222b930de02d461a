import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadNativeAddon, tryLoadNativeAddon, type AddonName } from '../../src/native/loader.js';

// The production addon's exports: nothing test-only (the datagram receiver lives in inspectd_test_native).
const PRODUCTION_EXPORTS = ['letterboxGeometry', 'preprocess', 'preprocessSync', 'sdNotify', 'tensorrt'];

test('loads the production addon from build/Release', () => {
  const addon = loadNativeAddon();
  assert.equal(typeof addon.preprocess, 'function');
  assert.equal(typeof addon.tensorrt.available, 'boolean');
  assert.equal(loadNativeAddon(), addon, 'cached');
});

test('the production addon exports only production code', () => {
  assert.deepEqual(Object.keys(loadNativeAddon()).sort(), PRODUCTION_EXPORTS);
});

test('the test-only datagram receiver is its own addon, inspectd_test_native', () => {
  const t = loadNativeAddon('inspectd_test_native');
  assert.deepEqual(Object.keys(t).sort(), ['dgramBind', 'dgramClose', 'dgramRecv']);
  assert.equal(loadNativeAddon('inspectd_test_native'), t, 'cached per name');
});

test('a missing addon is one actionable INSPECTD_ERR_NATIVE_MISSING listing every path tried', () => {
  const name = 'inspectd_not_built' as AddonName;
  assert.throws(
    () => loadNativeAddon(name),
    (err: unknown) => {
      const e = err as { code: string; message: string };
      assert.equal(e.code, 'INSPECTD_ERR_NATIVE_MISSING');
      assert.match(e.message, /build\/Release\/inspectd_not_built\.node \(not found\)/);
      assert.match(e.message, /build\/Debug\/inspectd_not_built\.node \(not found\)/);
      assert.match(e.message, /`npm run build:native` in /);
      return true;
    },
  );
  assert.equal(tryLoadNativeAddon(name), null);
});
