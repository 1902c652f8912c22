// Binary xattr values survive the trip through tar-stream in both directions, and
// the PAX rewriter keeps entry boundaries (long names, sizes) as GNU tar writes them.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { background } from '../trace/context.js';
import { applyLayer } from './apply-layer.js';
import { getXattr, setXattr } from './tar-fs.js';
import { buildTar, tarStream } from './tar-fixtures.js';
import { encodePaxRecords, parsePaxRecords } from './tar-pax.js';
import { needs, root, when } from '../../testkit/needs.js';

const binary = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x80, 0x00, 0x00, 0x00, 0xff, 0xfe, 0x00, 0x7f]);
const hasGnuTar = (() => {
  try {
    return execFileSync('tar', ['--version']).toString().includes('GNU tar');
  } catch {
    return false;
  }
})();

describe('PAX records', () => {
  it('encode and parse round-trip, lengths counting themselves', () => {
    const recs: [string, Buffer][] = [
      ['path', Buffer.from('a'.repeat(95))],
      ['SCHILY.xattr.user.x', binary],
    ];
    const enc = encodePaxRecords(recs);
    expect(enc.toString('latin1').startsWith('105 path=')).toBe(true);
    expect(parsePaxRecords(enc)).toEqual(recs);
  });

  it('refuses a malformed record', () => {
    expect(() => parsePaxRecords(Buffer.from('99 path=x\n'))).toThrow(/malformed PAX record/);
  });
});

needs(root()).describe('binary xattrs through the applier', () => {
  let base: string;
  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), `berth-pax-${process.pid}-`));
  });
  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('applies a raw binary SCHILY.xattr value byte for byte', async () => {
    const tar = await buildTar([{ name: 'f', content: 'x', xattrs: { 'user.bin': binary } }]);
    expect(tar.includes(Buffer.concat([Buffer.from('SCHILY.xattr.user.bin='), binary]))).toBe(true);
    await applyLayer(background(), base, tarStream(tar), { whiteouts: 'delete' });
    expect(getXattr(join(base, 'f'), 'user.bin')).toEqual(binary);
  });

  needs(when(hasGnuTar, 'needs GNU tar (apt package tar)')).it(
    'reads what GNU tar --xattrs writes (binary value, long name) and writes what it reads',
    async () => {
      const src = join(base, 'src');
      const long = `${'d'.repeat(120)}/${'f'.repeat(130)}`;
      await mkdir(join(src, 'd'.repeat(120)), { recursive: true });
      await writeFile(join(src, long), 'long');
      await writeFile(join(src, 'cap'), 'cap');
      setXattr(join(src, 'cap'), 'user.bin', binary);
      const gnu = execFileSync('tar', [
        '--xattrs',
        '--xattrs-include=user.*',
        '--format=pax',
        '-C',
        src,
        '-cf',
        '-',
        '.',
      ]);
      const dst = join(base, 'dst');
      await mkdir(dst);
      await applyLayer(background(), dst, tarStream(gnu), { whiteouts: 'delete' });
      expect(getXattr(join(dst, 'cap'), 'user.bin')).toEqual(binary);
      expect(await readFile(join(dst, long), 'utf8')).toBe('long');

      // Our own writer, read back by GNU tar.
      const ours = await buildTar([{ name: 'g', content: 'g', xattrs: { 'user.bin': binary } }]);
      const out = join(base, 'out');
      await mkdir(out);
      execFileSync('tar', ['--xattrs', '--xattrs-include=user.*', '-C', out, '-xf', '-'], { input: ours });
      expect(getXattr(join(out, 'g'), 'user.bin')).toEqual(binary);
    },
  );
});
