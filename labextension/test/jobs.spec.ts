import {
  checkJobName,
  defaultJobName,
  describeEndedEarly,
  describeError,
  filterJobs,
  groupName,
  hasRemoteBackend,
  IJob,
  imageFits,
  imageLabel,
  instanceTypeLabel,
  isActive,
  jobNote,
  reconcileWatched
} from '../src/core/jobs';

function job(id: string, status: IJob['status'], createdAt: string): IJob {
  return {
    id,
    name: id,
    path: `${id}.ipynb`,
    status,
    progress: { done: 0, total: 0 },
    parameters: {},
    createdAt,
    startedAt: null,
    finishedAt: null,
    outputPath: null,
    error: null,
    backend: 'local'
  };
}

describe('job helpers', () => {
  it('knows which jobs are active', () => {
    expect(isActive({ status: 'pending' })).toBe(true);
    expect(isActive({ status: 'running' })).toBe(true);
    expect(isActive({ status: 'failed' })).toBe(false);
  });

  it('describes the failing cell from 1', () => {
    expect(
      describeError({
        error: {
          cellIndex: 2,
          ename: 'ZeroDivisionError',
          evalue: 'division by zero'
        }
      })
    ).toBe('Cell 3: ZeroDivisionError: division by zero');
    expect(describeError({ error: null, reason: 'Cancelled by user' })).toBe(
      'Cancelled by user'
    );
    expect(
      describeError({
        error: { cellIndex: null, ename: 'Timeout', evalue: '' }
      })
    ).toBe('Timeout');
  });

  it('says where a job that succeeded through sys.exit(0) ended', () => {
    const early = {
      ...job('e', 'succeeded', '2026-01-01T00:00:00Z'),
      progress: { done: 2, total: 4 },
      endedEarly: { cellIndex: 1, ename: 'SystemExit', evalue: '0' }
    };
    expect(describeEndedEarly(early)).toBe(
      'Ended early at cell 2 (SystemExit: 0); the remaining cells were not run.'
    );
    // sys.exit() has no code
    expect(
      describeEndedEarly({
        status: 'succeeded',
        endedEarly: { cellIndex: 0, ename: 'SystemExit', evalue: '' }
      })
    ).toBe(
      'Ended early at cell 1 (SystemExit); the remaining cells were not run.'
    );
    expect(jobNote(early)).toEqual({
      kind: 'info',
      text: 'Ended early at cell 2 (SystemExit: 0); the remaining cells were not run.'
    });
  });

  it('shows no early-end note for jobs that ran to the end or failed', () => {
    // (as older servers send it: no endedEarly field at all)
    const plain = job('p', 'succeeded', '2026-01-01T00:00:00Z');
    expect(describeEndedEarly(plain)).toBe('');
    expect(jobNote(plain)).toBeNull();
    expect(jobNote({ ...plain, endedEarly: null })).toBeNull();
    const failed = {
      ...job('f', 'failed', '2026-01-01T00:00:00Z'),
      error: { cellIndex: 1, ename: 'SystemExit', evalue: '1' },
      endedEarly: null
    };
    expect(jobNote(failed)).toEqual({
      kind: 'error',
      text: 'Cell 2: SystemExit: 1'
    });
    expect(
      jobNote({ ...plain, status: 'cancelled', reason: 'Cancelled by user' })
    ).toEqual({
      kind: 'error',
      text: 'Cancelled by user'
    });
    expect(jobNote({ ...plain, status: 'running' })).toBeNull();
  });

  it('says why a pending job waits, and nothing when it does not say', () => {
    const waiting = job('w', 'pending', '2026-01-01T00:00:00Z');
    expect(jobNote(waiting)).toBeNull();
    const reason =
      'Waiting for a node with 8 GPUs: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu.';
    expect(jobNote({ ...waiting, reason })).toEqual({
      kind: 'info',
      text: reason
    });
  });

  it('filters by status, newest first', () => {
    const jobs = [
      job('a', 'succeeded', '2026-01-01T00:00:00Z'),
      job('b', 'failed', '2026-01-02T00:00:00Z'),
      job('c', 'succeeded', '2026-01-03T00:00:00Z')
    ];
    expect(filterJobs(jobs, '').map(j => j.id)).toEqual(['c', 'b', 'a']);
    expect(filterJobs(jobs, 'succeeded').map(j => j.id)).toEqual(['c', 'a']);
  });

  it('notifies watched jobs once they are listed as finished', () => {
    const listing = [
      job('a', 'failed', 'x'),
      job('b', 'succeeded', 'x'),
      job('c', 'running', 'x')
    ];
    const watched = new Map([
      ['a', 1],
      ['c', 1]
    ]);
    const result = reconcileWatched(listing, 2, watched, []);
    expect(result.finished.map(j => j.id)).toEqual(['a']);
    expect(result.gone).toEqual([]);
    expect(result.jobs.map(j => j.id)).toEqual(['a', 'b', 'c']);
  });

  it('keeps a just-submitted job that an older listing does not hold yet', () => {
    const fresh = job('new', 'pending', 'x');
    const result = reconcileWatched(
      [job('old', 'succeeded', 'x')],
      3,
      new Map([['new', 4]]),
      [fresh]
    );
    expect(result.jobs.map(j => j.id)).toEqual(['new', 'old']);
    expect(result.gone).toEqual([]);
    expect(result.finished).toEqual([]);
  });

  it('forgets a watched job a newer listing no longer has (deleted)', () => {
    const result = reconcileWatched([], 5, new Map([['gone', 4]]), []);
    expect(result.gone).toEqual(['gone']);
  });

  it('names jobs after the notebook and requires a name', () => {
    expect(defaultJobName('project/g1/train model.ipynb')).toBe('train model');
    expect(checkJobName('  ')).toBe('The job name cannot be empty.');
    expect(checkJobName('ok')).toBeNull();
  });

  it('reads backends and group in either shape', () => {
    expect(hasRemoteBackend({ backends: [{ name: 'local' }] })).toBe(false);
    expect(hasRemoteBackend({ backends: ['local', 'kubernetes'] })).toBe(true);
    expect(groupName({ group: { name: 'phusers', id: '1' } })).toBe('phusers');
    expect(groupName({ group: 'g' })).toBe('g');
    expect(groupName({ group: null })).toBeNull();
  });
});

describe('remote resource choices', () => {
  const cpu = {
    name: 'cpu-1',
    displayName: 'CPU 1',
    cpu: 1,
    memory: '2Gi',
    gpu: 0
  };
  const gpu = {
    name: 'gpu-1',
    displayName: 'GPU 1',
    cpu: 4,
    memory: '16Gi',
    gpu: 1
  };
  const cuda = { name: 'torch', displayName: 'PyTorch', type: 'gpu' };
  const base = { name: 'base', type: 'both' };

  it('labels instance types with CPU / memory / GPU', () => {
    expect(instanceTypeLabel(cpu)).toBe('CPU 1 (cpu-1): 1 CPU / 2Gi / 0 GPU');
    expect(instanceTypeLabel('small')).toBe('small');
  });

  it('labels images with their kind', () => {
    expect(imageLabel(cuda)).toBe('PyTorch (torch), GPU');
    expect(imageLabel(base)).toBe('base, Universal');
    expect(imageLabel('plain')).toBe('plain');
  });

  it('refuses GPU-only images on CPU-only instance types', () => {
    expect(imageFits(cuda, cpu)).toBe(false);
    expect(imageFits(cuda, gpu)).toBe(true);
    expect(imageFits(base, cpu)).toBe(true);
    expect(imageFits(cuda, 'unknown')).toBe(true);
  });
});
