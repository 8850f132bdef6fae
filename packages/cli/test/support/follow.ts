import { execFile } from 'node:child_process';
import { BIN, type CliResult } from './bin.ts';

/** A long-running `nltrade` command (such as `invoice watch`), followed while it runs. */
export interface Followed {
  /** The first line it prints on standard output; rejects if it exits before printing one. */
  firstLine: Promise<string>;
  /** Its exit code and whole output, once it has exited. */
  done: Promise<CliResult>;
  /** Ends it if it still runs, so a failing test leaves no process behind. */
  kill(): void;
}

/** Starts the CLI with `env` added to this process's, as `nltrade()` does, without waiting for it to end. */
export function follow(args: string[], env: Record<string, string>): Followed {
  let exited = false;
  let resolveDone!: (r: CliResult) => void;
  const done = new Promise<CliResult>((resolve) => {
    resolveDone = resolve;
  });
  const child = execFile(
    process.execPath,
    [BIN, ...args],
    { env: { ...process.env, ...env }, timeout: 60_000, encoding: 'utf8' },
    (err, stdout, stderr) => {
      exited = true;
      resolveDone({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    },
  );
  const firstLine = new Promise<string>((resolve, reject) => {
    let seen = '';
    child.stdout?.on('data', (chunk: string | Buffer) => {
      seen += String(chunk);
      const end = seen.indexOf('\n');
      if (end >= 0) resolve(seen.slice(0, end));
    });
    void done.then((r) => reject(new Error(`nltrade ${args.join(' ')} exited (${r.code}) before printing a line: ${r.stderr}`)));
  });
  // Callers that only await `done` must not see an unhandled rejection.
  firstLine.catch(() => {});
  return {
    firstLine,
    done,
    kill: () => {
      if (!exited) child.kill();
    },
  };
}
