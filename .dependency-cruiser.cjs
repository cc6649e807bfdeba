/**
 * The import rules of DESIGN.md, checked in `pnpm lint`: no circles between source files, the
 * packages layered web -> client -> protocol, and nothing outside apps/server reaching into its
 * source (other packages talk to the server over the wire or start its built entry point), and
 * test helpers shared through @chat/testkit rather than through the cluster harness.
 */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Import circles make start-up order and ownership unclear.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'protocol-is-the-bottom',
      severity: 'error',
      comment: '@chat/protocol depends on no other package of this repository.',
      from: { path: '^packages/protocol/' },
      to: { path: '^(apps|tools|bench|e2e|charts|scripts)/|^packages/(?!protocol/)' },
    },
    {
      name: 'client-needs-only-protocol',
      severity: 'error',
      comment: '@chat/client runs in browsers and Node: it knows the protocol, nothing else.',
      from: { path: '^packages/client/' },
      to: { path: '^(apps|tools|bench|e2e|charts|scripts)/' },
    },
    {
      name: 'web-uses-client-and-protocol',
      severity: 'error',
      comment: 'The web app talks to the server only through @chat/client and @chat/protocol.',
      from: { path: '^apps/web/' },
      to: { path: '^(apps/server|tools|bench|e2e|charts)/' },
    },
    {
      name: 'server-internals-stay-inside',
      severity: 'error',
      comment: "Nothing outside apps/server imports the server's source files.",
      from: { path: '^(?!apps/server/)' },
      to: { path: '^apps/server/src/' },
    },
    {
      name: 'server-tests-use-the-testkit',
      severity: 'error',
      comment:
        "The server's tests depend on @chat/testkit, not on the cluster harness (which depends on the server).",
      from: { path: '^apps/server/' },
      to: { path: '^(tools/cluster/|@chat/cluster)' },
    },
    {
      name: 'testkit-is-product-free',
      severity: 'error',
      comment: '@chat/testkit knows the protocol only: no server, client, harness or bench code.',
      from: { path: '^tools/testkit/' },
      to: { path: '^(apps|bench|e2e|charts|scripts)/|^tools/(?!testkit/)|^packages/(?!protocol/)' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|dist|coverage|test-results|playwright-report)/|\\.tools/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.base.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
    combinedDependencies: true,
  },
};
