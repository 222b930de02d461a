/**
 * Child-process entry of the background TensorRT build (buildEngineInBackground in trt-build.ts): runs the
 * build and reports it as `inspectd build-engine` does. argv[2] is the build request as JSON.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../errors.js';
import { parseTrtBuildRequest, runTrtBuild, type TrtBuildRequest } from './trt-build.js';

if (path.resolve(process.argv[1] ?? '') !== fileURLToPath(import.meta.url)) {
  throw new Error('trt-build-child.js runs only as the child process started by buildEngineInBackground');
}
let request: TrtBuildRequest | undefined;
try {
  request = parseTrtBuildRequest(process.argv[2]);
} catch (err) {
  process.stderr.write(`${errorMessage(err)}\n`);
  process.exitCode = 2;
}
if (request) {
  process.exitCode = await runTrtBuild(request, {
    stdout: (t) => void process.stdout.write(t),
    stderr: (t) => void process.stderr.write(t),
  });
}
