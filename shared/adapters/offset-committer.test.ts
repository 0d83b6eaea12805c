import { describe, expect, it } from 'vitest';
import { OffsetCommitter, type PartitionOffset } from './offset-committer.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('OffsetCommitter', () => {
  it('commits what was marked in one turn together, the newest offset per partition', async () => {
    const commits: PartitionOffset[][] = [];
    const committer = new OffsetCommitter(async (offsets) => {
      commits.push(offsets);
    });
    committer.mark({ topic: 'rollout.events', partition: 0, offset: '5' });
    committer.mark({ topic: 'rollout.events', partition: 0, offset: '6' });
    committer.mark({ topic: 'rollout.events', partition: 1, offset: '3' });
    await committer.flush();
    expect(commits).toEqual([
      [
        { topic: 'rollout.events', partition: 0, offset: '6' },
        { topic: 'rollout.events', partition: 1, offset: '3' },
      ],
    ]);
  });

  it('gathers marks made while a commit is on its way into the next commit', async () => {
    const commits: PartitionOffset[][] = [];
    let release: () => void = () => {};
    const committer = new OffsetCommitter(async (offsets) => {
      commits.push(offsets);
      if (commits.length === 1) await new Promise<void>((resolve) => (release = resolve));
    });
    committer.mark({ topic: 't', partition: 0, offset: '1' });
    await tick();
    committer.mark({ topic: 't', partition: 0, offset: '2' });
    committer.mark({ topic: 't', partition: 0, offset: '3' });
    await tick();
    expect(commits).toHaveLength(1); // one commit at a time
    release();
    await committer.flush();
    expect(commits).toEqual([
      [{ topic: 't', partition: 0, offset: '1' }],
      [{ topic: 't', partition: 0, offset: '3' }],
    ]);
  });

  it('flush waits for nothing when nothing was marked, and a later mark is committed', async () => {
    const commits: PartitionOffset[][] = [];
    const committer = new OffsetCommitter(async (offsets) => {
      commits.push(offsets);
    });
    await committer.flush();
    expect(commits).toEqual([]);
    committer.mark({ topic: 't', partition: 2, offset: '10' });
    await committer.flush();
    expect(commits).toEqual([[{ topic: 't', partition: 2, offset: '10' }]]);
  });
});
