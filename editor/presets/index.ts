/**
 * Trained models the New… dialog offers: a graph document and its weights (`.safetensors`), each
 * served as a file of its own (Vite `?url` assets: fetched when the model is picked, never part of
 * the app's bundle), and the sampling settings the model was trained for.
 *
 * Light on purpose: the dialog imports this list; fetching and checking the files is `./load`,
 * imported when a model is picked.
 */
import type { ScheduleName } from '../../runtime/diffusion';
import digitsGraphUrl from './digits/graph.json?url';
import digitsWeightsUrl from './digits/weights.safetensors?url';

/** How the model was trained to be sampled: the run panel's Sampling fields start from these. */
export interface PresetSampling {
  readonly schedule: ScheduleName;
  /** Diffusion steps of the training schedule (the run panel samples a 1000-step schedule). */
  readonly trainSteps: number;
  /** Sampling steps the panel starts with (a respaced schedule; fewer is faster, coarser). */
  readonly steps: number;
  /** The class label the panel starts with. */
  readonly label: number;
}

export interface TrainedPreset {
  /** Stable id (`data-testid="trained-<id>"` in the dialog). */
  readonly id: string;
  /** What the dialog lists. */
  readonly label: string;
  readonly description: string;
  /** The graph document (graph/document.ts format), as a served URL. */
  readonly graphUrl: string;
  /** The state_dict (`.safetensors`, the graph's weight names), as a served URL. */
  readonly weightsUrl: string;
  /** The run panel's weights label while these weights are used. */
  readonly weightsName: string;
  readonly sampling: PresetSampling;
}

export const TRAINED_PRESETS: readonly TrainedPreset[] = [
  {
    id: 'digits',
    label: 'Digits (trained)',
    description:
      'A small class-conditional iDDPM UNet (1×16×16, 10 classes, 756,289 parameters) trained on handwritten digits. ' +
      'Opens the graph with its trained weights (F16, ~1.5 MB) in the run panel: pick a class and Sample.',
    graphUrl: digitsGraphUrl,
    weightsUrl: digitsWeightsUrl,
    weightsName: 'digits (trained)',
    sampling: { schedule: 'linear', trainSteps: 1000, steps: 100, label: 3 },
  },
];
