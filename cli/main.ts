/**
 * `unet-studio`: the pipeline without a browser. Every failure the user can cause ends with one
 * clear message and a non-zero exit, never a stack trace (set UNET_STUDIO_DEBUG=1 for one).
 */
import { USAGE, UsageError, type Io } from './common';
import { CodegenError } from '../codegen/errors';

/** Errors whose message is for the user as it stands. */
const USER_ERRORS = new Set(['UsageError', 'DocumentError', 'TemplateError', 'SafetensorsError', 'WeightLoadError', 'GraphError', 'BackendError', 'InputError', 'FileError', 'CodegenError', 'ConversionError']);

const stdio: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
};

export async function main(argv: readonly string[], io: Io = stdio): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'template':
        return (await import('./template')).templateCommand(rest, io);
      case 'check':
        return (await import('./check')).checkCommand(rest, io);
      case 'codegen':
        return await (await import('./codegen')).codegenCommand(rest, io);
      case 'export':
        return await (await import('./codegen')).exportCommand(rest, io);
      case 'convert':
        return await (await import('./convert')).convertCommand(rest, io);
      case 'run':
        return await (await import('./run')).runCommand(rest, io);
      case 'sample':
        return await (await import('./sample')).sampleCommand(rest, io);
      case 'bench':
        return await (await import('../bench/index')).benchCommand(rest, io);
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        // The template and target lines come from the registries (loaded on demand, as the commands are).
        io.out(`${USAGE}\n${(await import('./template')).templateUsage()}\n${(await import('./codegen')).targetsUsage()}`);
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(cmd)}\n\n${USAGE}`);
    }
  } catch (e) {
    // By name (errors from every floor), and every export target's CodegenError subclass.
    if (e instanceof Error && (USER_ERRORS.has(e.name) || e instanceof CodegenError)) {
      io.err(`unet-studio: ${e.message}\n`);
      return e.name === 'UsageError' ? 2 : 1;
    }
    if (process.env.UNET_STUDIO_DEBUG && e instanceof Error) io.err(`${e.stack ?? ''}\n`);
    io.err(`unet-studio: internal error: ${e instanceof Error ? e.message : String(e)} (UNET_STUDIO_DEBUG=1 shows the stack)\n`);
    return 70;
  }
}
