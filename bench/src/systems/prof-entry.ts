/**
 * Server entry for the profile run: starts the V8 sampling profiler in-process (NODE_OPTIONS
 * may not carry --cpu-prof) on the first SIGUSR2 and writes the profile to
 * $PROF_DIR/<pid>.cpuprofile on the second, so only the measured window is sampled.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = process.env.PROF_DIR ?? '.';
const entry = process.env.PROF_SERVER_ENTRY ?? '';
const session = new Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.setSamplingInterval', { interval: 500 });
let running = false;
process.on('SIGUSR2', () => {
  if (!running) {
    running = true;
    session.post('Profiler.start');
    return;
  }
  running = false;
  session.post('Profiler.stop', (err, res) => {
    if (!err) writeFileSync(join(dir, `${process.pid}.cpuprofile`), JSON.stringify(res.profile));
  });
});
await import(pathToFileURL(entry).href);
