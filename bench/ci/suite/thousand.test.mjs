// 1,000 small tests (each does a little real work), for bench/ci: run through keyhold's
// ci connector and directly, and compare wall time.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';

for (let group = 0; group < 10; ++group) {
  describe(`group ${group}`, () => {
    for (let i = 0; i < 100; ++i) {
      test(`case ${group * 100 + i}`, () => {
        const digest = createHash('sha256').update(`input ${group} ${i}`).digest('hex');
        assert.equal(digest.length, 64);
        if (i % 10 === 0) console.log(`case ${group * 100 + i} digest ${digest}`);
      });
    }
  });
}
