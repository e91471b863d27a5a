/** For the CLI's tests: run `main` in-process and capture what it prints. */
import { expect } from 'vitest';
import { main } from './main';

export async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

/** The user never sees a stack trace. */
export const noStack = (s: string): void => expect(s).not.toMatch(/\n\s+at .+:\d+:\d+/);
