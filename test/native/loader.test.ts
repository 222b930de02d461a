import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadNativeAddon, tryLoadNativeAddon, type AddonName } from '../../src/native/loader.js';

test('loads the production addon from build/Release', () => {
  const addon = loadNativeAddon();
  assert.equal(typeof addon.preprocess, 'function');
  assert.equal(typeof addon.tensorrt.available, 'boolean');
  assert.equal(loadNativeAddon(), addon, 'cached');
});

test('a missing addon is one actionable INSPECTD_ERR_NATIVE_MISSING listing every path tried', () => {
  const name = 'inspectd_not_built' as AddonName;
  assert.throws(() => loadNativeAddon(name), (err: unknown) => {
    const e = err as { code: string; message: string };
    assert.equal(e.code, 'INSPECTD_ERR_NATIVE_MISSING');
    assert.match(e.message, /build\/Release\/inspectd_not_built\.node \(not found\)/);
    assert.match(e.message, /build\/Debug\/inspectd_not_built\.node \(not found\)/);
    assert.match(e.message, /`npm run build:native` in /);
    return true;
  });
  assert.equal(tryLoadNativeAddon(name), null);
});
