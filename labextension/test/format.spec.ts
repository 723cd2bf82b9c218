import {
  downloadName,
  formatDuration,
  formatProgress,
  jobDuration,
  progressFraction
} from '../src/core/format';

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [999, '0s'],
    [42_000, '42s'],
    [185_000, '3m 05s'],
    [7_260_000, '2h 01m'],
    [97_200_000, '1d 3h']
  ])('formats %d ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('gives an empty string for negative or invalid durations', () => {
    expect(formatDuration(-1)).toBe('');
    expect(formatDuration(NaN)).toBe('');
  });
});

describe('jobDuration', () => {
  it('measures from start to finish', () => {
    expect(jobDuration('2026-01-01T00:00:00Z', '2026-01-01T00:01:30Z')).toBe(
      '1m 30s'
    );
  });

  it('measures to now while running', () => {
    const now = Date.parse('2026-01-01T00:00:10Z');
    expect(jobDuration('2026-01-01T00:00:00Z', null, now)).toBe('10s');
  });

  it('is empty before the job starts or with bad timestamps', () => {
    expect(jobDuration(null, null)).toBe('');
    expect(jobDuration('yesterday', null)).toBe('');
  });
});

describe('formatProgress', () => {
  it('shows done over total', () => {
    expect(formatProgress({ done: 3, total: 10 })).toBe('3 / 10');
  });

  it('clamps done into [0, total]', () => {
    expect(formatProgress({ done: 12, total: 10 })).toBe('10 / 10');
    expect(formatProgress({ done: -1, total: 4 })).toBe('0 / 4');
  });

  it('is empty when the total is unknown', () => {
    expect(formatProgress({ done: 0, total: 0 })).toBe('');
    expect(formatProgress(null)).toBe('');
  });

  it('gives a bar fraction', () => {
    expect(progressFraction({ done: 1, total: 4 })).toBe(0.25);
    expect(progressFraction({ done: 0, total: 0 })).toBe(0);
  });
});

describe('downloadName', () => {
  it('prefers the UTF-8 name of a non-Latin download', () => {
    const header =
      'attachment; filename="job-0123-artifacts.zip"; filename*=UTF-8\'\'%E8%A8%93%E7%B7%B4-0123-artifacts.zip';
    expect(downloadName(header)).toBe('訓練-0123-artifacts.zip');
  });

  it('falls back to the plain name', () => {
    expect(downloadName('attachment; filename="a-1-artifacts.zip"')).toBe(
      'a-1-artifacts.zip'
    );
    expect(
      downloadName('attachment; filename="x.zip"; filename*=UTF-8\'\'%E8%A8')
    ).toBe('x.zip');
    expect(downloadName('')).toBeNull();
  });
});
