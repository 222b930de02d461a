/** An edge node in its own process (argv: broker url, state dir), for the NDEATH-by-Will test: the parent SIGKILLs it. */
import { silentLogger } from '../../src/ops/log.js';
import { FakeSource, fakeEdgeNode } from './sparkplug.js';

const [url, dir] = process.argv.slice(2);
// Only the test that spawns it passes arguments: loaded any other way, this is not the child and must not run forever.
if (url === undefined || dir === undefined) process.exit(0);
const source = new FakeSource();
source.camera('cam1');
const edge = fakeEdgeNode(url!, dir!, source, silentLogger(), { clientId: `sp-child-${process.pid}` });
await edge.start();
setInterval(() => undefined, 1000);
