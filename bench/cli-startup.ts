// CLI start-up time against a bare Node start, measured side by side.
//   node --import tsx bench/cli-startup.ts        (RUNS=20; needs `npm run build`)
// Alternates `node packages/cli/bin/nltrade.js --help` and `node -e 0`, so background load
// hits both, and prints the medians and their ratio (target: ≤ 4×).
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const RUNS = Number(process.env.RUNS ?? 20);
const BIN = path.resolve(import.meta.dirname, '../packages/cli/bin/nltrade.js');
const TARGET = 4;

function time(args: string[]): number {
  const started = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}`);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const bare: number[] = [];
const cli: number[] = [];
time(['-e', '0']);
time([BIN, '--help']);
for (let i = 0; i < RUNS; i++) {
  bare.push(time(['-e', '0']));
  cli.push(time([BIN, '--help']));
}
const ratio = median(cli) / median(bare);
console.log(`node -e 0:          median ${median(bare).toFixed(1)} ms (${RUNS} runs)`);
console.log(`nltrade --help:     median ${median(cli).toFixed(1)} ms`);
console.log(`ratio: ${ratio.toFixed(2)}× (target ≤ ${TARGET}×): ${ratio <= TARGET ? 'met' : 'NOT MET'}`);
// The line scripts/bench.mjs collects (see README, "Benchmarks").
console.log(
  `RESULT ${JSON.stringify({
    name: 'cli-startup',
    metric: 'nltrade --help ÷ node -e 0, median ms',
    value: Number(median(cli).toFixed(1)),
    baseline: Number(median(bare).toFixed(1)),
    ratio: Number(ratio.toFixed(2)),
    target: `<= ${TARGET}`,
    met: ratio <= TARGET,
  })}`,
);
