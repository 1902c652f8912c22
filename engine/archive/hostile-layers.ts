// Crafted layer stacks for tests of the applier and of every graphdriver: each one
// tries to create or change something outside the layer root (`host`, a directory
// the test made beside it, holding `target/` and `secret`).
import type { FixtureEntry } from './tar-fixtures.js';

export const T_OLD = new Date(1_000_000_000_000);

/**
 * A parent `a` holding `target/` and `file` with every kind of metadata, then `a` replaced by a symlink to `host`, then
 * `after`.
 */
export function swappedParent(host: string, after: FixtureEntry[] = []): FixtureEntry[] {
  return [
    { name: 'a/', type: 'directory', mtime: T_OLD, mode: 0o750, uid: 7, gid: 7, xattrs: { 'user.layer': 'a' } },
    {
      name: 'a/target/',
      type: 'directory',
      mtime: T_OLD,
      mode: 0o700,
      uid: 1234,
      gid: 4321,
      xattrs: { 'user.layer': 'target' },
    },
    {
      name: 'a/file',
      content: 'layer',
      mtime: T_OLD,
      mode: 0o600,
      uid: 1234,
      gid: 4321,
      xattrs: { 'user.layer': 'file' },
    },
    { name: 'a', type: 'symlink', linkname: host },
    ...after,
  ];
}

export interface HostileStack {
  name: string;
  /** The layers, bottom first; all but the last apply cleanly. */
  layers: (host: string) => FixtureEntry[][];
  /**
   * The entry of the last layer that must be refused (INVALID_ARGUMENT naming it; HOST stands for the host dir);
   * absent: the layer applies, confined to the root.
   */
  refused?: string;
}

const out = (host: string): FixtureEntry => ({ name: 'evil', type: 'symlink', linkname: host });

/**
 * Traversal names, symlinks and hard links out, whiteouts, opaque markers and devices through symlinks, metadata
 * through replaced parents.
 */
export const hostileStacks: HostileStack[] = [
  { name: 'a ../ file name', refused: '../secret', layers: () => [[{ name: '../secret', content: 'pwned' }]] },
  {
    name: 'a name climbing out through a directory',
    refused: 'd/../../secret',
    layers: () => [
      [
        { name: 'd/', type: 'directory' },
        { name: 'd/../../secret', content: 'pwned' },
      ],
    ],
  },
  {
    name: 'an absolute name into the host dir',
    refused: 'HOST/secret',
    layers: (h) => [[{ name: `${h}/secret`, content: 'pwned' }]],
  },
  { name: 'a ../ whiteout', refused: '../.wh.secret', layers: () => [[{ name: '../.wh.secret' }]] },
  {
    name: 'a ../ device',
    refused: '../null',
    layers: () => [[{ name: '../null', type: 'character-device', devmajor: 1, devminor: 3 }]],
  },
  {
    name: 'an absolute symlink out, then a file through it',
    refused: 'evil/secret',
    layers: (h) => [[out(h), { name: 'evil/secret', content: 'pwned' }]],
  },
  {
    name: 'a relative symlink out, then a directory through it',
    refused: 'evil/sub/',
    layers: () => [
      [
        { name: 'evil', type: 'symlink', linkname: '../../../../../../../../..' },
        { name: 'evil/sub/', type: 'directory' },
      ],
    ],
  },
  {
    name: 'a symlink out in a lower layer, then a file through it',
    refused: 'evil/secret',
    layers: (h) => [[out(h)], [{ name: 'evil/secret', content: 'pwned' }]],
  },
  {
    name: 'a symlink out in a lower layer, then a directory through it',
    refused: 'evil/target/',
    layers: (h) => [[out(h)], [{ name: 'evil/target/', type: 'directory', mode: 0o777, mtime: T_OLD }]],
  },
  {
    name: 'a symlink chain in a lower layer, then a file through it',
    refused: 'evil2/secret',
    layers: (h) => [
      [out(h), { name: 'evil2', type: 'symlink', linkname: 'evil' }],
      [{ name: 'evil2/secret', content: 'pwned' }],
    ],
  },
  { name: 'a hard link to ../', refused: 'h', layers: () => [[{ name: 'h', type: 'link', linkname: '../secret' }]] },
  {
    name: 'a hard link to an absolute path',
    refused: 'h',
    layers: (h) => [[{ name: 'h', type: 'link', linkname: `${h}/secret` }]],
  },
  {
    name: 'a hard link through a lower symlink',
    refused: 'h',
    layers: (h) => [[out(h)], [{ name: 'h', type: 'link', linkname: 'evil/secret' }]],
  },
  {
    name: 'a hard link through a symlink of the same layer',
    refused: 'h',
    layers: (h) => [[out(h), { name: 'h', type: 'link', linkname: 'evil/secret' }]],
  },
  {
    name: 'a whiteout through a lower symlink',
    refused: 'evil/.wh.secret',
    layers: (h) => [[out(h)], [{ name: 'evil/.wh.secret' }]],
  },
  {
    name: 'an opaque marker through a lower symlink',
    refused: 'evil/.wh..wh..opq',
    layers: (h) => [[out(h)], [{ name: 'evil/.wh..wh..opq' }]],
  },
  {
    name: 'an opaque marker through a symlink of the same layer',
    refused: 'evil/.wh..wh..opq',
    layers: (h) => [[out(h), { name: 'evil/.wh..wh..opq' }]],
  },
  {
    name: 'a device through a lower symlink',
    refused: 'evil/null',
    layers: (h) => [[out(h)], [{ name: 'evil/null', type: 'character-device', devmajor: 1, devminor: 3 }]],
  },
  {
    name: 'a fifo through a symlink',
    refused: 'evil/fifo',
    layers: (h) => [[out(h), { name: 'evil/fifo', type: 'fifo' }]],
  },
  { name: 'a whiteout of a symlink out', layers: (h) => [[out(h)], [{ name: '.wh.evil' }]] },
  {
    name: 'a whiteout of a directory holding a symlink out',
    layers: (h) => [
      [
        { name: 'd/', type: 'directory' },
        { name: 'd/evil', type: 'symlink', linkname: h },
      ],
      [{ name: '.wh.d' }],
    ],
  },
  {
    name: 'an opaque marker over a directory holding a symlink out',
    layers: (h) => [
      [
        { name: 'd/', type: 'directory' },
        { name: 'd/evil', type: 'symlink', linkname: h },
      ],
      [{ name: 'd/', type: 'directory' }, { name: 'd/.wh..wh..opq' }],
    ],
  },
  {
    name: 'a hard link to a symlink out',
    layers: (h) => [
      [out(h)],
      [
        { name: 'h', type: 'link', linkname: 'evil' },
        { name: 'h2', type: 'link', linkname: 'evil' },
      ],
    ],
  },
  {
    name: 'a file replacing a symlink out',
    layers: (h) => [
      [{ name: 'evil', type: 'symlink', linkname: `${h}/secret` }],
      [{ name: 'evil', content: 'mine', mode: 0o777, uid: 5 }],
    ],
  },
  { name: 'metadata of directories whose parent became a symlink out', layers: (h) => [swappedParent(h)] },
  {
    name: 'metadata of lower directories whose parent became a symlink out',
    layers: (h) => [
      [
        { name: 'a/', type: 'directory' },
        { name: 'a/target/', type: 'directory' },
      ],
      [
        { name: 'a/', type: 'directory', mtime: T_OLD },
        { name: 'a/target/', type: 'directory', mtime: T_OLD, mode: 0o700, uid: 5 },
        { name: 'a', type: 'symlink', linkname: h },
      ],
    ],
  },
  {
    name: 'a file written through a parent that became a symlink out',
    refused: 'a/new',
    layers: (h) => [swappedParent(h, [{ name: 'a/new', content: 'pwned' }])],
  },
  {
    name: 'a directory entry again through a parent that became a symlink out',
    refused: 'a/target/',
    layers: (h) => [swappedParent(h, [{ name: 'a/target/', type: 'directory', mode: 0o777, uid: 99, mtime: T_OLD }])],
  },
];
