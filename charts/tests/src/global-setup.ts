import type { TestProject } from 'vitest/node';
import { helm, scenarioArgs, scenarioNames, template } from './helm.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `helm template` output of every scenario, rendered once for all test files. */
    renders: Record<string, string>;
  }
}

/**
 * Makes sure a Helm binary is there (fetched once by scripts/helm.sh), then renders every
 * scenario once: the test files share these renders instead of each running Helm again.
 */
export default function setup(project: TestProject): void {
  const version = helm(['version', '--short']);
  if (version.code !== 0) throw new Error(`scripts/helm.sh version failed:\n${version.stderr}`);
  process.stdout.write(`helm ${version.stdout.trim()}\n`);
  const renders: Record<string, string> = {};
  for (const name of scenarioNames) {
    const run = template({ scenario: name });
    if (run.code !== 0) {
      throw new Error(`helm template (${scenarioArgs(name).join(' ')}) failed:\n${run.stderr}`);
    }
    renders[name] = run.stdout;
  }
  project.provide('renders', renders);
}
