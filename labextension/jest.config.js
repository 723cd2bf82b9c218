// Unit tests for the pure logic of the extension (no DOM, no JupyterLab runtime):
// the modules under src/core/ import nothing from @jupyterlab, so plain ts-jest is enough.
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testRegex: '\\.spec\\.ts$',
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
  }
};
