import { describe, expect, it } from 'vitest';
import {
  BenchUsageError,
  DEFAULT_SETTINGS,
  DEFAULT_SIZES,
  parseScaleArgs,
  parseSizes,
} from '../../bench/scale/options.js';
import { scalePolicyYaml, serviceName } from '../../bench/scale/policy.js';
import {
  histogramQuantile,
  parseMachineCpu,
  parseProcStat,
  parsePrometheus,
  histogramOf,
  commandCalls,
  parseInfo,
} from '../../bench/scale/readings.js';
import { slopeOf } from '../../bench/scale/report.js';
import { slopePer1000, type SoakSample } from '../../bench/scale/soak-run.js';
import { parsePolicy } from '../../shared/config/policy-loader.js';

describe('scale bench command line', () => {
  it('is not a scale run without --scale or --soak', () => {
    expect(parseScaleArgs(['--json'])).toBeUndefined();
  });

  it('defaults to (100,10), (300,10), (1000,10) with the example policy’s production timings', () => {
    const options = parseScaleArgs(['--scale', '--json']);
    expect(options).toEqual({
      mode: 'scale',
      sizes: DEFAULT_SIZES,
      replicas: [1],
      settings: DEFAULT_SETTINGS,
    });
    expect(DEFAULT_SETTINGS).toMatchObject({
      stages: [5, 50, 100],
      bakeMs: 30_000,
      gateIntervalMs: 5_000,
      samplingIntervalMs: 5_000,
    });
  });

  it('reads sizes, timings, stages and replicas', () => {
    const options = parseScaleArgs([
      '--scale',
      '--sizes',
      '100x10,300x10',
      '--bake',
      '10s',
      '--gate-interval',
      '2s',
      '--sampling',
      '500ms',
      '--stages',
      '1,25,100',
      '--replicas',
      '1,2',
    ]);
    expect(options).toMatchObject({
      sizes: [
        { rollouts: 100, clusters: 10 },
        { rollouts: 300, clusters: 10 },
      ],
      replicas: [1, 2],
      settings: {
        bakeMs: 10_000,
        gateIntervalMs: 2_000,
        samplingIntervalMs: 500,
        stages: [1, 25, 100],
      },
    });
  });

  it('refuses bad input with the flag, what it got and what would be right', () => {
    const refusals: [string[], RegExp][] = [
      [['--scale', '--sizes', '100by10'], /--sizes: got "100by10"; want .*ROLLOUTSxCLUSTERS/],
      [['--scale', '--sizes', '0x10'], /--sizes: got "0x10"/],
      [['--scale', '--sizes', '10x101'], /clusters ≤ 100/],
      [['--scale', '--sizes'], /--sizes: got nothing/],
      [['--scale', '--bake', 'soon'], /--bake: got "soon"; want a positive duration/],
      [['--scale', '--bake', '0s'], /--bake: got "0s"/],
      [['--scale', '--stages', '50,5,100'], /--stages: .*increasing weights that end at 100/],
      [['--scale', '--stages', '5,50'], /--stages/],
      [['--scale', '--replicas', '0'], /--replicas: got "0"; want a whole number from 1 to 4/],
      [['--scale', '--sizez', '3x2'], /flag: got "--sizez"; want one of .*--sizes/],
      [['--scale', '--soak'], /one of them per run/],
      [['--soak', '--soak-rollouts', '-5'], /--soak-rollouts: got "-5"/],
      [['--soak', '--sizes', '3x2'], /flag: got "--sizes"/],
    ];
    for (const [argv, message] of refusals) {
      expect(() => parseScaleArgs(argv), argv.join(' ')).toThrow(BenchUsageError);
      expect(() => parseScaleArgs(argv), argv.join(' ')).toThrow(message);
    }
  });

  it('reads a soak with short rollouts by default', () => {
    expect(parseScaleArgs(['--soak', '--soak-rollouts', '3000'])).toMatchObject({
      mode: 'soak',
      rollouts: 3000,
      concurrency: 10,
      clusters: 2,
      settings: { bakeMs: 1_000 },
    });
  });

  it('parses sizes separated by commas and spaces', () => {
    expect(parseSizes('3x2, 5x1')).toEqual([
      { rollouts: 3, clusters: 2 },
      { rollouts: 5, clusters: 1 },
    ]);
  });
});

describe('scale bench policy', () => {
  it('is a valid policy: every service on every cluster, with the run’s timings and retention', () => {
    const policy = parsePolicy(scalePolicyYaml(12, 3, DEFAULT_SETTINGS), 'scale.yaml');
    expect(Object.keys(policy.clusters)).toEqual(['c01', 'c02', 'c03']);
    expect(Object.keys(policy.services)).toHaveLength(12);
    expect(policy.services[serviceName(11)]!.clusters).toEqual(['c01', 'c02', 'c03']);
    expect(policy.retention).toEqual({ finishedRollouts: 20_000, samples: 20_000 });
  });
});

describe('scale bench readings', () => {
  it('reads CPU seconds and RSS from /proc/<pid>/stat, a name with spaces included', () => {
    const fields = Array.from({ length: 50 }, () => '0');
    fields[11] = '250'; // utime (field 14)
    fields[12] = '50'; // stime
    fields[21] = '1000'; // rss pages (field 24)
    const reading = parseProcStat(`123 (node (tsx) x) ${fields.join(' ')}`);
    expect(reading).toEqual({ cpuSeconds: 3, rssBytes: 4_096_000 });
    expect(() => parseProcStat('garbage')).toThrow(/not a \/proc/);
  });

  it('reads the machine’s busy and total CPU time from /proc/stat (idle and iowait not busy)', () => {
    const stat = 'cpu  100 20 30 400 50 5 5 0 0 0\ncpu0 50 10 15 200 25 2 3 0 0 0\nintr 1 2\n';
    expect(parseMachineCpu(stat)).toEqual({ busySeconds: 1.6, totalSeconds: 6.1 });
    expect(() => parseMachineCpu('cpu0 1 2 3')).toThrow(/not a \/proc\/stat/);
    expect(() => parseMachineCpu('cpu  1 2 x 4 5 6 7 8')).toThrow(/not a \/proc\/stat/);
  });

  it('reads this process’s own /proc entry', async () => {
    const { readProcess } = await import('../../bench/scale/readings.js');
    const reading = await readProcess(process.pid);
    expect(reading.rssBytes).toBeGreaterThan(10 * 1024 * 1024);
    expect(reading.cpuSeconds).toBeGreaterThan(0);
  });

  it('turns a Prometheus histogram into quantiles, interpolated within buckets', () => {
    const samples = parsePrometheus(
      [
        '# HELP lag seconds',
        'lag_bucket{le="0.1",replica="a"} 50',
        'lag_bucket{le="1",replica="a"} 90',
        'lag_bucket{le="+Inf",replica="a"} 100',
        'lag_bucket{le="0.1",replica="b"} 50',
        'lag_bucket{le="1",replica="b"} 90',
        'lag_bucket{le="+Inf",replica="b"} 100',
        'lag_count 200',
      ].join('\n'),
    );
    const h = histogramOf(samples, 'lag');
    expect(h.counts).toEqual([100, 180, 200]);
    expect(histogramQuantile(h, 0.5)).toBeCloseTo(0.1);
    expect(histogramQuantile(h, 0.7)).toBeCloseTo(0.1 + 0.9 * (40 / 80));
    // In the +Inf bucket: the last finite bound, a lower bound of the truth.
    expect(histogramQuantile(h, 0.99)).toBe(1);
    expect(histogramQuantile({ bounds: [], counts: [] }, 0.5)).toBeNaN();
  });

  it('reads Redis INFO commandstats', () => {
    const info = parseInfo(
      '# Commandstats\r\ncmdstat_get:calls=12,usec=30\r\ncmdstat_evalsha:calls=3,usec=9\r\n',
    );
    expect(commandCalls(info)).toEqual({ get: 12, evalsha: 3 });
  });

  it('says the soak’s slope per 1,000 rollouts, skipping the warm-up tenth', () => {
    const samples: SoakSample[] = [0, 100, 200, 300, 400, 500].map((rollouts) => ({
      rollouts,
      seconds: rollouts,
      botRssMb: rollouts === 0 ? 50 : 100 + rollouts / 100,
      redisUsedMb: 2,
      redisKeys: 10,
    }));
    expect(slopePer1000(samples, (x) => x.botRssMb)).toBeCloseTo(10);
    expect(slopePer1000(samples, (x) => x.redisUsedMb)).toBe(0);
    expect(slopePer1000(samples.slice(0, 1), (x) => x.redisKeys)).toBeNaN();
  });

  it('has no cost slope with one size', () => {
    expect(slopeOf([])).toBeUndefined();
  });
});
