/**
 * How big a document UNet Studio opens, in one place for the editor, the CLI and the tests.
 * The largest published UNets have about 100 blocks (guided-diffusion 512×512: 97) and the largest
 * graph a template accepts a few thousand, so:
 * - from `WARN_BLOCKS` on, a document opens with a warning (the canvas draws only what is in view;
 *   checking, code generation and runs take long);
 * - over `MAX_BLOCKS` blocks, `MAX_EDGES` edges or `MAX_DOCUMENT_BYTES` of text it is refused with
 *   a message naming the limit, before it is read any further, and what was open stays open.
 * A document at the limit opens, checks and draws with the page answering within a second.
 */

/** From this many blocks on, a document opens with a warning. */
export const WARN_BLOCKS = 5_000;
/** Documents with more blocks are refused. */
export const MAX_BLOCKS = 10_000;
/** Documents with more edges are refused (UNets have fewer than two per block). */
export const MAX_EDGES = 4 * MAX_BLOCKS;
/** Documents with more groups are refused (a group holds at least one block or group). */
export const MAX_GROUPS = MAX_BLOCKS;
/** Document files (JSON text) larger than this are refused unread: 64 MiB. */
export const MAX_DOCUMENT_BYTES = 64 * 1024 * 1024;

const fmt = new Intl.NumberFormat('en-US');
const mib = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(bytes < 10 * 1024 * 1024 ? 1 : 0)} MiB`;

/** Why a document of this size is refused (naming the limit), or null when it may be opened. */
export function documentSizeProblem(
  size: { readonly blocks?: number; readonly edges?: number; readonly groups?: number; readonly bytes?: number },
  source = 'the graph file',
): string | null {
  if (size.bytes !== undefined && size.bytes > MAX_DOCUMENT_BYTES) {
    return `${source} is ${mib(size.bytes)} (${fmt.format(size.bytes)} bytes); UNet Studio opens documents of at most ${mib(MAX_DOCUMENT_BYTES)} (a UNet of ${fmt.format(MAX_BLOCKS)} blocks takes about 6 MiB)`;
  }
  if (size.blocks !== undefined && size.blocks > MAX_BLOCKS) {
    return `${source} has ${fmt.format(size.blocks)} blocks; UNet Studio opens graphs of at most ${fmt.format(MAX_BLOCKS)} blocks (the largest published UNets have about 100)`;
  }
  if (size.edges !== undefined && size.edges > MAX_EDGES) {
    return `${source} has ${fmt.format(size.edges)} connections; UNet Studio opens graphs of at most ${fmt.format(MAX_EDGES)} connections`;
  }
  if (size.groups !== undefined && size.groups > MAX_GROUPS) {
    return `${source} has ${fmt.format(size.groups)} groups; UNet Studio opens graphs of at most ${fmt.format(MAX_GROUPS)} groups`;
  }
  return null;
}

/** The warning a large (but allowed) graph opens with, or null below `WARN_BLOCKS`. */
export function documentSizeWarning(blocks: number): string | null {
  if (blocks < WARN_BLOCKS) return null;
  return (
    `This graph has ${fmt.format(blocks)} blocks, far more than any published UNet (about 100): ` +
    `the canvas draws only what is in view, without the minimap and edge labels, and checking, ` +
    `code generation and runs will be slow. ` +
    `Graphs of more than ${fmt.format(MAX_BLOCKS)} blocks are not opened.`
  );
}
