import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from './backend-node';
import { InputsError, makeInputs, readInputsFile, toPytorchLayout, type ModelInput } from './inputs';
import { parseSafetensors, writeSafetensors, type TensorToWrite } from '../weights/safetensors';
import { inputRole, INPUT_ROLES, inversePermutation, toPytorchShape, toTfjsShape } from '../blocks/roles';
import { BLOCKS } from '../blocks/registry';
import { runGraph, runGraphSteps } from './interpreter';
import { planGraph } from './interpreter';
import { randomWeights } from './weights';
import { iddpm } from '../graph/templates';
import { IDDPM_SMALL } from '../bench/configs';

const file = (tensors: Record<string, TensorToWrite>) => parseSafetensors(writeSafetensors(tensors), { source: 'io.safetensors' });
const x1 = (shape: number[]): TensorToWrite => ({ dtype: 'F32', shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i) });

describe('input roles (declared once)', () => {
  it('every input block names a role, every role has exactly one input block with its kind', () => {
    for (const r of INPUT_ROLES) {
      const blocks = Object.values(BLOCKS).filter((d) => d.io === r.role);
      expect(blocks.map((b) => b.output?.kind)).toEqual([r.kind]);
    }
    const io = Object.values(BLOCKS).filter((d) => d.io && d.io !== 'output').map((d) => d.io);
    expect(io.sort()).toEqual(INPUT_ROLES.map((r) => r.role).sort());
  });

  it('layout conversion: NCHW [2, 3, 4, 5] is NHWC [2, 4, 5, 3] and back; roles without a layout keep theirs', () => {
    const x = inputRole('x');
    expect(toTfjsShape(x, [2, 3, 4, 5])).toEqual([2, 4, 5, 3]);
    expect(toPytorchShape(x, [2, 4, 5, 3])).toEqual([2, 3, 4, 5]);
    expect(inversePermutation([0, 2, 3, 1])).toEqual([0, 3, 1, 2]);
    expect(toTfjsShape(inputRole('timesteps'), [7])).toEqual([7]);
  });
});

describe('inputs files', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('reads x, timesteps (int64) and y by name or alias, as float32', () => {
    const f = file({
      sample: x1([2, 1, 2, 2]),
      timestep: { dtype: 'I64', shape: [2], data: new BigInt64Array([3n, 517n]) },
      class_labels: { dtype: 'I32', shape: [2], data: new Int32Array([1, 9]) },
      unrelated: x1([5]),
    });
    const r = readInputsFile(f, 'io.safetensors');
    expect(r.batch).toBe(2);
    expect(Array.from(r.inputs.x!.data)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(r.inputs.x!.shape).toEqual([2, 1, 2, 2]);
    expect(Array.from(r.inputs.timesteps!.data)).toEqual([3, 517]);
    expect(Array.from(r.inputs.y!.data)).toEqual([1, 9]);
  });

  it('names what is wrong: no x, wrong rank, batches that differ', () => {
    expect(() => readInputsFile(file({ t: x1([2]) }), 'a.safetensors')).toThrow('a.safetensors has no tensor "x" (the input image, NCHW); it has: t');
    expect(() => readInputsFile(file({ x: x1([3, 4, 4]) }), 'b')).toThrow('b: "x" must be NCHW (4 dimensions), got shape [3, 4, 4]');
    expect(() => readInputsFile(file({ x: x1([2, 1, 2, 2]), timesteps: x1([2, 1]) }), 'c')).toThrow('c: "timesteps" must be [batch] (one per sample), got shape [2, 1]');
    expect(() => readInputsFile(file({ x: x1([2, 1, 2, 2]), y: x1([3]) }), 'd')).toThrow(InputsError);
    expect(() => readInputsFile(file({ x: x1([2, 1, 2, 2]), y: x1([3]) }), 'd')).toThrow('d: "y" has a batch of 3, "x" one of 2');
  });

  it('makes the tensors a forward takes: the file in tfjs layout, values, samples tiled, seeded noise; frees all on error', () => {
    const model: ModelInput[] = [
      { role: inputRole('x'), dims: [1, 2, 2] },
      { role: inputRole('timesteps'), dims: [] },
      { role: inputRole('y'), dims: [] },
    ];
    const before = tf.memory().numTensors;
    const fromFile = makeInputs(model, { file: readInputsFile(file({ x: x1([2, 1, 2, 2]) }), 'f'), batch: 1, noiseSeed: 0, values: { timesteps: 5 } });
    // NCHW [2,1,2,2] with values 0..7 is NHWC [2,2,2,1] with the same order (one channel).
    expect(fromFile.x!.shape).toEqual([2, 2, 2, 1]);
    expect(Array.from(fromFile.x!.dataSync())).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(Array.from(fromFile.timesteps!.dataSync())).toEqual([5, 5]); // the file's batch wins
    expect(fromFile.y).toBeUndefined(); // a value role not given is left for the forward to name
    tf.dispose(Object.values(fromFile));

    const rgb: ModelInput[] = [{ role: inputRole('x'), dims: [3, 1, 2] }];
    const tiled = makeInputs(rgb, { batch: 2, noiseSeed: 0, samples: { x: Float32Array.from([1, 2, 3, 4, 5, 6]) } });
    // C=3, H=1, W=2 planes [1,2] [3,4] [5,6] → NHWC pixels (1,3,5) (2,4,6), twice.
    expect(Array.from(tiled.x!.dataSync())).toEqual([1, 3, 5, 2, 4, 6, 1, 3, 5, 2, 4, 6]);
    const back = toPytorchLayout(tiled.x!);
    expect(back.shape).toEqual([2, 3, 1, 2]);
    expect(Array.from(back.dataSync()).slice(0, 6)).toEqual([1, 2, 3, 4, 5, 6]);
    tf.dispose([back, ...Object.values(tiled)]);

    const a = makeInputs(rgb, { batch: 2, noiseSeed: 7 });
    const b = makeInputs(rgb, { batch: 2, noiseSeed: 7 });
    const c = makeInputs(rgb, { batch: 2, noiseSeed: 8 });
    expect(Array.from(a.x!.dataSync())).toEqual(Array.from(b.x!.dataSync()));
    expect(Array.from(a.x!.dataSync())).not.toEqual(Array.from(c.x!.dataSync()));
    expect(makeInputs(rgb, { batch: 2, noiseSeed: 7, noNoise: true }).x).toBeUndefined();
    tf.dispose([...Object.values(a), ...Object.values(b), ...Object.values(c)]);

    const wrong = readInputsFile(file({ x: x1([1, 2, 2, 2]), timesteps: x1([1]) }), 'g');
    expect(() => makeInputs(model, { file: wrong, batch: 1, noiseSeed: 0 })).toThrow("the inputs file's x is 2×2×2 per sample, the graph takes 1×2×2");
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('the interpreter feeds roles from the table', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('casts int timesteps on entry (same output as float), and a profiler-style stepwise run abandoned midway frees what it made', () => {
    const plan = planGraph(iddpm(IDDPM_SMALL, 8));
    const w = randomWeights(plan, 1);
    const x = tf.randomNormal([1, 8, 8, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const tf32 = tf.tensor1d([517], 'float32');
    const ti32 = tf.tensor1d([517], 'int32');
    const before = tf.memory().numTensors;
    const a = runGraph(plan, w, { x, timesteps: tf32 }).out;
    const b = runGraph(plan, w, { x, timesteps: ti32 }).out;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([a, b]);
    expect(tf.memory().numTensors).toBe(before);

    const steps = runGraphSteps(plan, w, { x, timesteps: tf32 });
    const seen: number[] = [];
    for (let s = steps.next(); !s.done && seen.length < 10; s = steps.next()) seen.push(s.value.index);
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(tf.memory().numTensors).toBeGreaterThan(before);
    steps.return(undefined as never);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, tf32, ti32, ...w.values()]);
  });
});

describe('input roles in forward order', () => {
  it('no required role comes after an optional one (a Python signature cannot have a default before a non-default)', () => {
    const firstOptional = INPUT_ROLES.findIndex((r) => r.pytorch.optional);
    expect(firstOptional).toBeGreaterThan(0);
    expect(INPUT_ROLES.slice(firstOptional).filter((r) => !r.pytorch.optional).map((r) => r.role)).toEqual([]);
  });
});
