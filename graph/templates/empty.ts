/** `empty`: an image input wired to the output, to build from. */
import { z } from 'zod';
import type { Graph } from '../model';
import { GraphBuilder } from '../builder';
import { defineTemplate, hw, parseOrThrow, type ImageSize } from './common';

export const EmptyKwargs = z.object({}).strict();

/** An Image input (the block's defaults, or `imageSize`) wired to the output. */
export function emptyGraph(kwargs: unknown = {}, imageSize?: ImageSize): Graph {
  parseOrThrow(EmptyKwargs, kwargs, 'Empty canvas');
  const b = new GraphBuilder();
  const x = b.add('ImageInput', 'x', imageSize === undefined ? {} : hw(imageSize, 'Empty canvas'));
  b.add('Output', 'output', {}, { x });
  return b.build('untitled');
}

export const emptyTemplate = defineTemplate({
  id: 'empty',
  label: 'Empty canvas',
  description: 'An image input wired to the output; build from there.',
  schema: EmptyKwargs,
  defaults: { label: 'Empty', kwargs: {} },
  presets: [],
  build: emptyGraph,
});
