/**
 * `npm run bench -- --scale` and `--soak`: runs the sizes (or the soak), prints the table (or with
 * `--json` one JSON object and nothing else) and writes the JSON to bench/results/scale.json (or
 * soak.json). Each size runs on a stack of its own, so one size's leftovers never weigh on the next.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { ScaleOptions, SoakOptions } from './options.js';
import { scaleTable, slopeOf, soakTable, type ScaleReport } from './report.js';
import { runScaleSize, type ScaleSizeResult } from './scale-run.js';
import { runSoak, type SoakResult } from './soak-run.js';

const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

export async function runScaleBench(
  options: ScaleOptions,
  log: (line: string) => void,
): Promise<ScaleReport> {
  const sizes: ScaleSizeResult[] = [];
  for (const replicas of options.replicas)
    for (const size of options.sizes)
      sizes.push(await runScaleSize(size, replicas, options.settings, log));
  const slope = slopeOf(sizes);
  return {
    generatedAt: new Date().toISOString(),
    machine: {
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryMb: Math.round(totalmem() / 1024 / 1024),
      loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
    },
    settings: options.settings,
    sizes,
    ...(slope && { slope }),
  };
}

/** Runs `options`, prints the result, and writes it to bench/results/. */
export async function scaleMain(
  options: ScaleOptions | SoakOptions,
  json: boolean,
  log: (line: string) => void,
): Promise<void> {
  let result: ScaleReport | SoakResult;
  let text: string;
  if (options.mode === 'scale') {
    const report = await runScaleBench(options, log);
    result = report;
    text = scaleTable(report);
  } else {
    const soak = await runSoak(options, log);
    result = soak;
    text = soakTable(soak);
  }
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeFile(`${RESULTS_DIR}${options.mode}.json`, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(json ? `${JSON.stringify(result)}\n` : `${text}\n`);
}
