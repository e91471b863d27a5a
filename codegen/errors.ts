/**
 * The error every export target throws for a problem the user can act on (an invalid graph, a
 * block a target cannot express): its message is shown as it stands, by the CLI and the code panel.
 */
export class CodegenError extends Error {
  override name = 'CodegenError';
}
