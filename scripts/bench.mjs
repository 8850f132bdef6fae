#!/usr/bin/env node
// Runs every benchmark in bench/ one after another and prints one table of their results.
//   npm run bench                      every bench/*.ts, in its quick mode (BENCH_QUICK=1)
//   npm run bench -- legacy-api ...    only these (file names without .ts)
//   npm run bench -- --full            each at its own defaults (slower)
// Each script runs as `node --conditions=source --import tsx bench/<name>.ts` in its own
// process group, with BENCH_QUICK=1 (a script that knows it reduces its sizes; one that does
// not runs as usual) and a time limit (BENCH_SCRIPT_TIMEOUT seconds, 300 by default), after
// which it is stopped and reported as timed out. Its output is shown as it runs, prefixed
// with its name; the table is made of the lines it prints as
//   RESULT {"name", "metric", "value", "baseline", "ratio", "target", "met"}
// (see README, "Benchmarks"). A script that fails, times out or prints no RESULT line gets a
// row saying so and the others still run. The exit status is 1 when any script failed or
// any target was not met.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const full = args.includes('--full');
const only = args.filter((a) => !a.startsWith('--')).map((a) => path.basename(a).replace(/\.ts$/, ''));
const timeoutMs = Number(process.env.BENCH_SCRIPT_TIMEOUT ?? 300) * 1000;

const benchDir = path.join(root, 'bench');
const scripts = fs
  .readdirSync(benchDir)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .map((f) => f.slice(0, -3))
  .filter((name) => only.length === 0 || only.includes(name))
  .sort();
if (scripts.length === 0) {
  console.error(`bench: no scripts in bench/${only.length ? ` named ${only.join(', ')}` : ''}`);
  process.exit(1);
}

const started = Date.now();
// cli-startup times the built CLI; a failed build is reported, and the benchmarks of the
// sources still run.
const build = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.mjs'), '--if-stale'], { cwd: root, stdio: 'inherit' });
const buildFailed = build.status !== 0;
if (buildFailed) console.error('bench: the build failed; benchmarks of built code may fail or measure an old build');

/** @type {Set<import('node:child_process').ChildProcess>} */
const running = new Set();
const stopGroup = (child, signal) => {
  try {
    process.kill(-child.pid, signal);
  } catch {}
};
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const child of running) stopGroup(child, 'SIGKILL');
    process.exit(130);
  });
}

/** Runs one script; resolves with its RESULT lines and how it ended. */
function runOne(name) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', path.join('bench', `${name}.ts`)], {
      cwd: root,
      env: { ...process.env, ...(full ? {} : { BENCH_QUICK: '1' }) },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: a timeout stops the servers and load generators it forked too.
      detached: true,
    });
    running.add(child);
    const results = [];
    const malformed = [];
    const relay = (stream, out, collect) => {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) handle(line);
      });
      stream.on('end', () => {
        if (rest) handle(rest);
      });
      function handle(line) {
        out.write(`[${name}] ${line}\n`);
        if (!collect || !line.startsWith('RESULT ')) return;
        try {
          results.push(JSON.parse(line.slice('RESULT '.length)));
        } catch {
          malformed.push(line);
        }
      }
    };
    relay(child.stdout, process.stdout, true);
    relay(child.stderr, process.stderr, false);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      stopGroup(child, 'SIGTERM');
      setTimeout(() => stopGroup(child, 'SIGKILL'), 5000).unref();
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      // Whatever it left behind in its group (a forked server) goes with it.
      stopGroup(child, 'SIGKILL');
      resolve({ name, code, signal, timedOut, results, malformed, seconds: (Date.now() - t0) / 1000 });
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({
        name,
        code: null,
        signal: null,
        timedOut: false,
        error: err.message,
        results,
        malformed,
        seconds: (Date.now() - t0) / 1000,
      });
    });
  });
}

const runs = [];
for (const name of scripts) {
  console.log(`\n=== ${name} ${full ? '' : '(BENCH_QUICK=1) '}===`);
  runs.push(await runOne(name));
}

const fmt = (v) => (v === null || v === undefined ? '' : typeof v === 'number' ? String(v) : String(v));
const rows = [['bench', 'metric', 'value', 'baseline', 'ratio', 'target', 'met', 'time']];
let failed = 0;
let unmet = 0;
for (const run of runs) {
  const time = `${run.seconds.toFixed(0)} s`;
  const problem = run.error
    ? `could not start: ${run.error}`
    : run.timedOut
      ? `TIMED OUT after ${timeoutMs / 1000} s`
      : run.code !== 0
        ? `FAILED (exit ${run.code ?? run.signal})`
        : run.results.length === 0
          ? 'no RESULT line'
          : run.malformed.length > 0
            ? `${run.malformed.length} malformed RESULT line(s)`
            : null;
  if (problem) failed++;
  for (const r of run.results) {
    if (r.met === false) unmet++;
    rows.push([
      fmt(r.name ?? run.name),
      fmt(r.metric),
      fmt(r.value),
      fmt(r.baseline),
      fmt(r.ratio),
      fmt(r.target),
      r.met === true ? 'yes' : r.met === false ? 'NO' : '',
      time,
    ]);
  }
  if (problem) rows.push([run.name, problem, '', '', '', '', 'ERROR', time]);
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
const line = (r) =>
  r
    .map((cell, i) => cell.padEnd(widths[i]))
    .join('  ')
    .trimEnd();
console.log(
  `\n# benchmarks${full ? '' : ' (quick mode)'}, node ${process.version}, ${((Date.now() - started) / 1000).toFixed(0)} s in all`,
);
console.log(line(rows[0]));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const r of rows.slice(1)) console.log(line(r));
const summary = [`${runs.length} script(s)`, `${failed} failed`, `${unmet} target(s) not met`];
if (buildFailed) summary.push('the build failed');
console.log(summary.join(', '));
process.exit(failed > 0 || unmet > 0 ? 1 : 0);
