import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

/** The built `nltrade` command, as `npx nltrade` runs it. */
export const BIN = path.resolve(import.meta.dirname, '../../bin/nltrade.js');

const run = promisify(execFile);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with `env` added to this process's; `input`, when given, is its standard input (--password-stdin). */
export async function nltrade(args: string[], env: Record<string, string>, input?: string): Promise<CliResult> {
  const pending = run(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, timeout: 60_000 });
  if (input !== undefined) pending.child.stdin?.end(input);
  try {
    const { stdout, stderr } = await pending;
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
