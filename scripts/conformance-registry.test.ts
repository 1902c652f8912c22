import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseJunit, registrySummaryLines, startRegistry, suiteEnv, summarizeSpecs } from './conformance-registry.js';

const junit = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="5" disabled="0" errors="0" failures="1" time="0.9">
  <testsuite name="conformance tests" package="/tmp/dspec" tests="5" skipped="1" failures="1">
    <testcase name="OCI Distribution Conformance Tests Pull Setup Populate registry with test blob" classname="conformance tests" status="passed" time="0.1">
      <system-err>&gt; Enter [It] Populate</system-err>
    </testcase>
    <testcase name="OCI Distribution Conformance Tests Pull Pull manifests HEAD request to manifest[0] path (digest) should yield 200 response" classname="conformance tests" status="failed" time="0.01">
      <failure message="Expected&#xA;    &lt;int&gt;: 404&#xA;to equal&#xA;    &lt;int&gt;: 200" type="failed">trace</failure>
    </testcase>
    <testcase name="OCI Distribution Conformance Tests Pull Setup Get tag name from environment" classname="conformance tests" status="skipped" time="0">
      <skipped message="skipped - you have skipped this test."></skipped>
    </testcase>
    <testcase name="OCI Distribution Conformance Tests Content Discovery Test content discovery endpoints (listing tags) GET number of tags should be limitable by &amp;n= param" classname="conformance tests" status="passed" time="0.01"></testcase>
    <testcase name="html custom reporter" classname="conformance tests" status="passed" time="0"></testcase>
  </testsuite>
</testsuites>
`;

describe('distribution-spec conformance report', () => {
  it('reads the specs of a Ginkgo JUnit report, leaving out report nodes', () => {
    const specs = parseJunit(junit);
    expect(specs.map((s) => s.status)).toEqual(['passed', 'failed', 'skipped', 'passed']);
    expect(specs[1]!.message).toBe('Expected <int>: 404 to equal <int>: 200');
    expect(specs[3]!.name).toMatch(/limitable by &n= param$/);
  });

  it('sums passed, failed and skipped specs and lists the failing ones with their message', () => {
    const s = summarizeSpecs('berth-registry', parseJunit(junit));
    expect(s).toMatchObject({ specs: 4, passed: 2, failed: 1, skipped: 1 });
    const lines = registrySummaryLines(s);
    expect(lines).toContain('2 of 3 specs run passed; 1 failed, 1 skipped (4 specs)');
    expect(lines.some((l) => /HEAD request to manifest\[0\].*: Expected <int>: 404/.test(l))).toBe(true);
  });

  it('asks for all four workflows, and sets OCI_AUTOMATIC_CROSSMOUNT only when told', () => {
    const env = suiteEnv('http://127.0.0.1:1', '/r');
    for (const k of ['OCI_TEST_PULL', 'OCI_TEST_PUSH', 'OCI_TEST_CONTENT_DISCOVERY', 'OCI_TEST_CONTENT_MANAGEMENT']) {
      expect(env[k], k).toBe('1');
    }
    expect(env.OCI_AUTOMATIC_CROSSMOUNT).toBeUndefined();
    expect(suiteEnv('http://127.0.0.1:1', '/r', false).OCI_AUTOMATIC_CROSSMOUNT).toBe('false');
  });

  it('starts berth-registry on 127.0.0.1 with a fresh root, and stopping it removes the root', async () => {
    const reg = await startRegistry();
    try {
      expect(reg.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const res = await fetch(`${reg.url}/v2/`);
      expect(res.status).toBe(200);
      expect(existsSync(reg.root)).toBe(true);
    } finally {
      await reg.stop();
    }
    expect(existsSync(reg.root)).toBe(false);
    await expect(fetch(`${reg.url}/v2/`)).rejects.toThrow();
  }, 120_000);
});
