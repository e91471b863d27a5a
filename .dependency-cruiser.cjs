/**
 * The floors of UNet Studio and who may import whom (README, "Layout"), checked by
 * dependency-cruiser in `npm test` and `npm run deps`. From the bottom:
 *
 *   weights/   tfjs-core only: what a generated module copies besides the kernels
 *   blocks/    weights/, tfjs-core
 *   graph/     blocks/, weights/
 *   codegen/   graph/ and below (never runtime/)
 *   runtime/   graph/ and below (never codegen/)
 *   editor/, cli/   connect codegen and runtime
 *
 * Type-only imports count for every rule (`tsPreCompilationDeps`), cycles included: the code has
 * no cycle, through types or not.
 */
const APP_FOLDERS = '(weights|blocks|graph|codegen|runtime|editor|cli|test|bench)';
const isTest = '\\.test\\.tsx?$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycles, type-only imports included.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'react-only-in-editor',
      severity: 'error',
      comment: 'React, react-dom and @xyflow are the editor’s: nothing below editor/ may import them.',
      from: { pathNot: '^editor/' },
      to: { path: '^node_modules/(react|react-dom|@xyflow|@types/react|@types/react-dom)/' },
    },
    {
      name: 'weights-imports-only-tfjs-core',
      severity: 'error',
      comment: 'weights/ is the lowest floor (generated modules copy it): it imports @tensorflow/tfjs-core and itself only.',
      from: { path: '^weights/', pathNot: isTest },
      to: { pathNot: '^(weights/|node_modules/@tensorflow/tfjs-core/)' },
    },
    {
      name: 'weights-tests-stay-in-weights',
      severity: 'error',
      comment: 'weights/ tests import no other app folder.',
      from: { path: `^weights/.*${isTest}` },
      to: { path: `^${APP_FOLDERS}/`, pathNot: '^weights/' },
    },
    {
      name: 'blocks-below-graph',
      severity: 'error',
      comment: 'blocks/ imports no graph/, codegen/, runtime/, editor/ or cli/ (weights/ and tfjs-core only).',
      from: { path: '^blocks/' },
      to: { path: '^(graph|codegen|runtime|editor|cli|test|bench)/' },
    },
    {
      name: 'graph-below-codegen-and-runtime',
      severity: 'error',
      comment: 'graph/ imports no codegen/, runtime/, editor/ or cli/.',
      from: { path: '^graph/' },
      to: { path: '^(codegen|runtime|editor|cli)/' },
    },
    {
      name: 'codegen-not-runtime',
      severity: 'error',
      comment: 'codegen/ does not import runtime/ (the editor and the CLI connect them); its tests may, to compare the two.',
      from: { path: '^codegen/', pathNot: isTest },
      to: { path: '^runtime/' },
    },
    {
      name: 'runtime-not-codegen',
      severity: 'error',
      comment: 'runtime/ does not import codegen/ (the editor and the CLI connect them); its tests may, to run a generated module.',
      from: { path: '^runtime/', pathNot: isTest },
      to: { path: '^codegen/' },
    },
    {
      name: 'codegen-and-runtime-not-up',
      severity: 'error',
      comment: 'codegen/ and runtime/ import no editor/ or cli/.',
      from: { path: '^(codegen|runtime)/' },
      to: { path: '^(editor|cli)/' },
    },
    {
      name: 'nothing-imports-cli',
      severity: 'error',
      comment: 'cli/ is the top floor: only cli/ itself (and its tests) import it.',
      from: { pathNot: '^cli/' },
      to: { path: '^cli/' },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: '^node_modules/' },
    exclude: { path: '^dist/' },
    enhancedResolveOptions: {
      extensions: ['.ts', '.tsx', '.js', '.mjs', '.json'],
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
  },
};
