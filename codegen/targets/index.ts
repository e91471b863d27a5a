/**
 * The export targets, in the order of the code panel's tabs and `--help`. A new target is a folder
 * `codegen/targets/<id>/` whose index exports an `ExportTarget`, plus its line below.
 */
import { tfjsTarget } from './tfjs';
import { pytorchTarget } from './pytorch';
import { diffusersTarget } from './diffusers';
import { onnxTarget } from './onnx';
import type { ExportTarget } from './types';

export const TARGETS: readonly ExportTarget[] = [tfjsTarget, pytorchTarget, diffusersTarget, onnxTarget];

/** The CLI's default and the runtime panel's: the module the app itself runs. */
export const DEFAULT_TARGET = 'tfjs';

export function targetById(id: string): ExportTarget | undefined {
  return TARGETS.find((t) => t.id === id);
}

export type { ExportDiagnostic, ExportEnv, ExportFile, ExportFiles, ExportOptions, ExportTarget, InputRole, TargetLanguage } from './types';
