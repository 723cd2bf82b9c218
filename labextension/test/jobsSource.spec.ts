import { applyPushed, mergePushed, SseParser } from '../src/core/events';
import { IJob, IJobList } from '../src/core/jobs';
import { JobsSource } from '../src/core/jobsSource';

function job(id: string, status: IJob['status'], backend = 'local'): IJob {
  return {
    id,
    name: id,
    path: `${id}.ipynb`,
    status,
    progress: { done: 0, total: 2 },
    parameters: {},
    createdAt: '2026-01-01T00:00:00Z',
    startedAt: null,
    finishedAt: null,
    outputPath: null,
    error: null,
    backend
  };
}

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** An event stream the test writes to, ends or breaks. */
class FakeStream implements AsyncIterable<string> {
  private queue: string[] = [];
  private ended: Error | true | null = null;
  private wake: (() => void) | null = null;

  push(text: string): void {
    this.queue.push(text);
    this.wake?.();
  }

  end(error?: Error): void {
    this.ended = error ?? true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<string> {
    for (;;) {
      if (this.queue.length) {
        yield this.queue.shift() as string;
      } else if (this.ended === true) {
        return;
      } else if (this.ended) {
        throw this.ended;
      } else {
        await new Promise<void>(resolve => (this.wake = resolve));
        this.wake = null;
      }
    }
  }
}

/** Lets pending promise callbacks run (fake timers do not advance them). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await Promise.resolve();
  }
}

function setup(listing: () => IJobList) {
  const streams: FakeStream[] = [];
  let refuse: Error | null = null;
  const list = jest.fn(async () => listing());
  const finished: IJob[] = [];
  const source = new JobsSource({
    list,
    openEvents: async () => {
      if (refuse) {
        throw refuse;
      }
      const stream = new FakeStream();
      streams.push(stream);
      return stream;
    },
    onChange: () => undefined,
    onFinished: j => finished.push(j)
  });
  return {
    source,
    list,
    streams,
    finished,
    refuseWith: (error: Error | null) => (refuse = error)
  };
}

describe('SseParser', () => {
  it('parses events split across chunks and skips comments', () => {
    const parser = new SseParser();
    expect(parser.push('retry: 3000\nevent: ready\nda')).toEqual([]);
    expect(parser.push('ta: {"live":["local"]}\n\n: keep-alive\n\n')).toEqual([
      { event: 'ready', data: '{"live":["local"]}' }
    ]);
    expect(
      parser.push('event: job\r\ndata: {"id":"a"}\r\n\r\ndata: x\ndata: y\n\n')
    ).toEqual([
      { event: 'job', data: '{"id":"a"}' },
      { event: 'message', data: 'x\ny' }
    ]);
  });
});

describe('merging pushed changes', () => {
  it('keeps changes newer than the listing and drops older ones', () => {
    const pushed = new Map([
      ['a', { at: 2, job: job('a', 'succeeded') }],
      ['b', { at: 1, job: job('b', 'failed') }],
      ['c', { at: 2, job: null }],
      ['d', { at: 3, job: job('d', 'pending') }]
    ]);
    const listing = [
      job('a', 'running'),
      job('b', 'running'),
      job('c', 'running')
    ];
    const merged = mergePushed(listing, 2, pushed);
    expect(merged.map(j => [j.id, j.status])).toEqual([
      ['d', 'pending'],
      ['a', 'succeeded'],
      ['b', 'running']
    ]);
    expect([...pushed.keys()]).toEqual(['a', 'c', 'd']);
  });

  it('replaces, adds and removes one job', () => {
    const jobs = [job('a', 'running')];
    expect(applyPushed(jobs, 'a', job('a', 'succeeded'))[0].status).toBe(
      'succeeded'
    );
    expect(applyPushed(jobs, 'b', job('b', 'pending')).map(j => j.id)).toEqual([
      'b',
      'a'
    ]);
    expect(applyPushed(jobs, 'a', null)).toEqual([]);
  });
});

describe('JobsSource', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('applies pushed events: a job ends without another listing', async () => {
    const jobs = [job('a', 'running')];
    const t = setup(() => ({ jobs, total: jobs.length }));
    await t.source.start();
    t.source.watch(job('a', 'running'));
    await settle();
    t.streams[0].push(sse('ready', { live: ['local'] }));
    await settle();
    expect(t.source.stream).toBe('live');
    const calls = t.list.mock.calls.length;

    const done = { ...job('a', 'succeeded'), progress: { done: 2, total: 2 } };
    t.streams[0].push(sse('job', done));
    await settle();
    expect(t.source.jobs[0].status).toBe('succeeded');
    expect(t.finished.map(j => j.id)).toEqual(['a']);
    t.streams[0].push(
      sse('job', job('b', 'pending')) + sse('deleted', { id: 'a' })
    );
    await settle();
    expect(t.source.jobs.map(j => [j.id, j.status])).toEqual([
      ['b', 'pending']
    ]);
    expect(t.list.mock.calls.length).toBe(calls); // no listing was needed

    t.source.dispose();
  });

  it('does not let a listing sent before a push bring back the older state', async () => {
    let answer: (list: IJobList) => void = () => undefined;
    const t = setup(() => ({ jobs: [], total: 0 }));
    t.list.mockImplementation(
      () => new Promise<IJobList>(resolve => (answer = resolve))
    );
    const started = t.source.start(); // the listing is on its way
    await settle();
    t.streams[0].push(sse('job', job('a', 'succeeded')));
    await settle();
    answer({ jobs: [job('a', 'running')], total: 1 }); // answered from before the push
    await started;
    expect(t.source.jobs.map(j => [j.id, j.status])).toEqual([
      ['a', 'succeeded']
    ]);
    expect(t.source.total).toBe(1);
    t.source.dispose();
  });

  it('polls slowly while the stream is live and fast when it fails, then reconnects', async () => {
    const jobs = [job('a', 'running')];
    const t = setup(() => ({ jobs, total: 1 }));
    t.source.refreshInterval = 3;
    t.source.fallbackInterval = 10;
    await t.source.start();
    t.streams[0].push(sse('ready', { live: ['local'] }));
    await settle();
    const live = t.list.mock.calls.length;
    jest.advanceTimersByTime(9_000);
    await settle();
    expect(t.list.mock.calls.length).toBe(live); // the fallback poll waits 10 s
    jest.advanceTimersByTime(1_000);
    await settle();
    expect(t.list.mock.calls.length).toBe(live + 1);

    // the stream breaks: a listing now, then every 3 s, and the stream is opened again
    t.refuseWith(new Error('429 Too many open job event streams'));
    t.streams[0].end(new Error('network'));
    await settle();
    expect(t.source.stream).toBe('down');
    const down = t.list.mock.calls.length;
    expect(down).toBe(live + 2);
    jest.advanceTimersByTime(3_000);
    await settle();
    expect(t.list.mock.calls.length).toBe(down + 1); // polled at refreshInterval
    expect(t.streams.length).toBe(1); // reconnect refused: still polling
    expect(t.source.stream).toBe('down');

    t.refuseWith(null);
    jest.advanceTimersByTime(6_000); // the second attempt waits twice as long
    await settle();
    expect(t.streams.length).toBe(2);
    t.streams[1].push(sse('ready', { live: ['local'] }));
    await settle();
    expect(t.source.stream).toBe('live');
    t.source.dispose();
  });

  it('keeps polling fast for jobs of backends the server does not push', async () => {
    const jobs = [job('k', 'running', 'kubernetes')];
    const t = setup(() => ({ jobs, total: 1 }));
    await t.source.start();
    t.streams[0].push(sse('ready', { live: ['local'] }));
    await settle();
    const before = t.list.mock.calls.length;
    jest.advanceTimersByTime(3_000);
    await settle();
    expect(t.list.mock.calls.length).toBe(before + 1);
    t.source.dispose();
  });

  it('stops polling when nothing is active and the stream is closed on dispose', async () => {
    const jobs = [job('a', 'succeeded')];
    const t = setup(() => ({ jobs, total: 1 }));
    await t.source.start();
    t.streams[0].push(sse('ready', { live: ['local'] }));
    await settle();
    const before = t.list.mock.calls.length;
    jest.advanceTimersByTime(60_000);
    await settle();
    expect(t.list.mock.calls.length).toBe(before);
    t.source.dispose();
    t.streams[0].end();
    await settle();
    jest.advanceTimersByTime(60_000);
    await settle();
    expect(t.streams.length).toBe(1); // no reconnect after dispose
  });
});
