/**
 * A model's inputs, for every role in `INPUT_ROLES`: read from an inputs `.safetensors` (the CLI's
 * `run --inputs`, the run panel's inputs file) and turned into the tfjs tensors a forward takes
 * (layout converted as the role says), or made up where a file does not give them (noise from a
 * seed, or one value per sample). The one place that knows how a file's tensors become a model's.
 */
import * as tf from '@tensorflow/tfjs';
import { INPUT_ROLES, inversePermutation, toTfjsShape, type InputRole, type InputRoleDef } from '../blocks/roles';
import { toFloat32, type SafetensorsFile } from '../weights/safetensors';
import { noiseRng, normals } from '../weights/rng';

/** One input as files and PyTorch hold it: its layout, batch first, float32 values. */
export interface HostTensor {
  readonly data: Float32Array;
  readonly shape: readonly number[];
}

export type HostInputs = Readonly<Partial<Record<InputRole, HostTensor>>>;

/** The inputs a file gave, by role, and their common batch size. */
export interface InputsFile {
  readonly inputs: HostInputs;
  readonly batch: number;
}

/** A file's inputs do not fit: the message names the tensor and the shape it should have. */
export class InputsError extends Error {
  override name = 'InputsError';
}

const describeRank = (r: InputRoleDef) =>
  r.pytorchLayout ? `${r.pytorchLayout} (${r.rank} dimensions)` : r.rank === 1 ? '[batch] (one per sample)' : `${r.rank} dimensions, batch first`;

/**
 * Reads each role's tensor (by its name, or one of its aliases) from an inputs file, checking its
 * rank and that every input has the same batch. The image `x` must be there (it sets the batch);
 * the others are optional here, a model that needs one says so when it runs. Any number type is
 * read as float32 (timesteps are often int64). Only the inputs' own tensors are read.
 */
export function readInputsFile(file: SafetensorsFile, source: string): InputsFile {
  const found = new Map<InputRole, { name: string; shape: readonly number[] }>();
  for (const r of INPUT_ROLES) {
    const name = [r.role, ...r.aliases].find((n) => file.tensors.has(n));
    if (name !== undefined) found.set(r.role, { name, shape: file.tensors.get(name)!.shape });
  }
  const first = INPUT_ROLES[0];
  const head = found.get(first.role);
  if (!head) {
    const has = [...file.tensors.keys()].slice(0, 12).join(', ') || 'nothing';
    throw new InputsError(`${source} has no tensor "${first.role}" (the input image, ${first.pytorchLayout}); it has: ${has}`);
  }
  const batch = head.shape[0];
  const inputs: Partial<Record<InputRole, HostTensor>> = {};
  for (const r of INPUT_ROLES) {
    const f = found.get(r.role);
    if (!f) continue;
    if (f.shape.length !== r.rank) {
      throw new InputsError(`${source}: "${f.name}" must be ${describeRank(r)}, got shape [${f.shape.join(', ')}]`);
    }
    if (f.shape[0] !== batch) {
      throw new InputsError(`${source}: "${f.name}" has a batch of ${f.shape[0]}, "${head.name}" one of ${batch}; give every input the same batch`);
    }
    inputs[r.role] = { data: toFloat32(file.tensors.get(f.name)!), shape: [...f.shape] };
  }
  return { inputs, batch };
}

/** One of the model's inputs: its role and its per-sample shape in PyTorch's layout (the graph's shape). */
export interface ModelInput {
  readonly role: InputRoleDef<InputRole>;
  readonly dims: readonly number[];
}

export interface MakeInputsOptions {
  /** Inputs from a file: used where given (their batch wins). */
  readonly file?: InputsFile;
  /** Batch when no file sets it. */
  readonly batch: number;
  /** Seed of the noise for `noise` roles not given otherwise (the same seed, the same values). */
  readonly noiseSeed: number;
  /** One sample in PyTorch's layout, repeated over the batch (an image for x). */
  readonly samples?: Readonly<Partial<Record<InputRole, Float32Array>>>;
  /** One value for every sample, for `value` roles (the timestep, the class label). */
  readonly values?: Readonly<Partial<Record<InputRole, number>>>;
  /** Only what the file, samples and values give: no noise (the CLI runs exactly its inputs file). */
  readonly noNoise?: boolean;
}

/**
 * The tfjs tensors for a forward, by role, in the module's layout. An input that is neither in the
 * file, nor given as a sample or value, is noise for `noise` roles and left out for `value` roles
 * (the forward then names it). The caller disposes them.
 */
export function makeInputs(model: readonly ModelInput[], opts: MakeInputsOptions): Partial<Record<InputRole, tf.Tensor>> {
  const batch = opts.file?.batch ?? opts.batch;
  const rng = noiseRng(opts.noiseSeed);
  const out: Partial<Record<InputRole, tf.Tensor>> = {};
  try {
    for (const { role, dims } of model) {
      const pt = [batch, ...dims];
      const given = opts.file?.inputs[role.role];
      if (given) {
        const per = given.shape.slice(1);
        if (per.join('×') !== dims.join('×')) {
          throw new InputsError(`the inputs file's ${role.role} is ${per.join('×') || 'a scalar'} per sample, the graph takes ${dims.join('×') || 'a scalar'}`);
        }
        out[role.role] = toTfjs(role, tf.tensor(given.data, [...given.shape], 'float32'));
        continue;
      }
      const sample = opts.samples?.[role.role];
      if (sample) {
        out[role.role] = tf.tidy(() => toTfjs(role, tf.tile(tf.tensor(sample, [1, ...dims], 'float32'), [batch, ...dims.map(() => 1)])));
        continue;
      }
      const value = opts.values?.[role.role];
      if (value !== undefined) {
        out[role.role] = tf.fill(toTfjsShape(role, pt), value, 'float32');
        continue;
      }
      // Noise is drawn in the module's layout, one stream for all noise inputs in role order.
      if (role.fallback === 'noise' && !opts.noNoise) {
        const shape = toTfjsShape(role, pt);
        out[role.role] = tf.tensor(normals(rng, shape.reduce((a, b) => a * b, 1)), shape, 'float32');
      }
    }
  } catch (e) {
    tf.dispose(Object.values(out));
    throw e;
  }
  return out;
}

/** A tensor in PyTorch's layout → the module's (the argument is disposed when a new one is made). */
function toTfjs(role: InputRoleDef, t: tf.Tensor): tf.Tensor {
  if (!role.toTfjs) return t;
  const perm = [...role.toTfjs];
  const moved = tf.transpose(t, perm);
  t.dispose();
  return moved;
}

/** The module's layout → PyTorch's, for outputs written to files (the Output is a feature map like x). */
export function toPytorchLayout(t: tf.Tensor, role: InputRoleDef = INPUT_ROLES[0]): tf.Tensor {
  return role.toTfjs ? tf.transpose(t, inversePermutation(role.toTfjs)) : tf.clone(t);
}
