// Test fixture for container-jobs.test.ts: a process that opens an engine, starts
// a container (sleep, bridge network) and then waits to be SIGKILLed, so the test
// can check what the next engine on the same root recovers.
// Usage: node --import tsx crash-child.ts '<EngineConfig as JSON>'
import { background } from '../trace/context.js';
import { createEngine, type EngineConfig } from './builtins.js';
import { TEST_IMAGE } from './test-engine.js';

const config = JSON.parse(process.argv[2]!) as EngineConfig;
const ctx = background();
const { engine } = await createEngine(ctx, config);
const { Id: id } = await engine.job(ctx, 'create', {
  name: 'survivor',
  config: { Image: TEST_IMAGE, Cmd: ['/bin/sleep'], HostConfig: { RestartPolicy: { Name: 'unless-stopped' } } },
});
await engine.job(ctx, 'start', { id });
const { State } = await engine.job(ctx, 'inspect', { id });
process.stdout.write(`started ${id} ${State.Pid}\n`);
await new Promise<void>(() => {}); // until killed
