// The conformance suite against vfs.
import { graphdriverSuite } from './driver-suite.js';
import { VfsDriver } from './vfs.js';

graphdriverSuite('vfs', async (ctx, base) => ({ driver: await VfsDriver.init(ctx, { root: base }), root: base }), {
  ...(process.getuid?.() !== 0 ? { skip: 'needs root (ownership, devices)' } : {}),
});
