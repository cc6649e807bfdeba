import { helm } from './helm.js';

/** Makes sure a Helm binary is there (fetched once by scripts/helm.sh) before any test file runs. */
export default function setup(): void {
  const version = helm(['version', '--short']);
  if (version.code !== 0) throw new Error(`scripts/helm.sh version failed:\n${version.stderr}`);
  process.stdout.write(`helm ${version.stdout.trim()}\n`);
}
