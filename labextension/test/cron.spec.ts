import {
  checkTimeZone,
  CronError,
  describeCron,
  expressionFor,
  formatRun,
  nextRuns,
  parseCron,
  schedulePreview
} from '../src/core/cron';

const iso = (dates: Date[]): string[] => dates.map(d => d.toISOString());

describe('parseCron', () => {
  it('reads lists, ranges, steps and names like the hub service', () => {
    const spec = parseCron('0,30 9-17/4 * jan-mar mon-fri');
    expect(spec.minutes).toEqual([0, 30]);
    expect(spec.hours).toEqual([9, 13, 17]);
    expect([...spec.months].sort()).toEqual([1, 2, 3]);
    expect([...spec.weekdays].sort()).toEqual([1, 2, 3, 4, 5]);
    expect(parseCron('0 4 * * 7').weekdays).toEqual(new Set([0]));
  });

  it.each([
    ['61 * * * *', 'minute: 61 is out of range 0-59'],
    ['* * * *', "cron: '* * * *' must have 5 fields"],
    ['*/0 * * * *', "minute: step '0' must be a positive number"],
    ['5-1 * * * *', "minute: range '5-1' goes backwards"],
    ['x * * * *', "minute: 'x' is not a number"],
    ['1,,2 * * * *', "minute: empty list item in '1,,2'"]
  ])('refuses %s with the service wording', (expression, message) => {
    expect(() => parseCron(expression)).toThrow(CronError);
    expect(() => parseCron(expression)).toThrow(message);
  });
});

describe('expressionFor', () => {
  it('maps presets and needs a cron for custom', () => {
    expect(expressionFor('daily', null)).toBe('0 4 * * *');
    expect(expressionFor('weekly', null)).toBe('0 4 * * 0');
    expect(expressionFor('monthly', 'ignored')).toBe('0 4 1 * *');
    expect(expressionFor('inactive', null)).toBeNull();
    expect(expressionFor('custom', ' */15  * * * * ')).toBe('*/15 * * * *');
    expect(() => expressionFor('custom', '')).toThrow(
      'a custom recurrence needs a cron expression'
    );
  });
});

describe('nextRuns', () => {
  const after = new Date('2026-03-01T10:02:30Z');

  it('counts in the schedule time zone', () => {
    // 04:00 in Taipei (UTC+8) is 20:00 UTC the day before
    expect(
      iso(nextRuns(parseCron('0 4 * * *'), after, 'Asia/Taipei', 2))
    ).toEqual(['2026-03-01T20:00:00.000Z', '2026-03-02T20:00:00.000Z']);
    expect(iso(nextRuns(parseCron('*/5 * * * *'), after, 'UTC', 2))).toEqual([
      '2026-03-01T10:05:00.000Z',
      '2026-03-01T10:10:00.000Z'
    ]);
  });

  it('is strictly after now', () => {
    const exact = new Date('2026-03-01T10:05:00Z');
    expect(iso(nextRuns(parseCron('*/5 * * * *'), exact, 'UTC', 1))).toEqual([
      '2026-03-01T10:10:00.000Z'
    ]);
  });

  it('matches either day field when both are restricted (classic cron)', () => {
    // the 15th (a Sunday in March 2026) or any Friday
    const runs = nextRuns(parseCron('0 0 15 * fri'), after, 'UTC', 3);
    expect(iso(runs)).toEqual([
      '2026-03-06T00:00:00.000Z',
      '2026-03-13T00:00:00.000Z',
      '2026-03-15T00:00:00.000Z'
    ]);
  });

  it('skips a time a daylight-saving jump skips and runs a repeated hour once', () => {
    // New York: 2026-03-08 02:30 does not exist; 2026-11-01 01:30 happens twice
    const spring = nextRuns(
      parseCron('30 2 * * *'),
      new Date('2026-03-07T06:00:00Z'), // 01:00 EST
      'America/New_York',
      2
    );
    expect(iso(spring)).toEqual([
      '2026-03-07T07:30:00.000Z',
      '2026-03-09T06:30:00.000Z'
    ]);
    const autumn = nextRuns(
      parseCron('30 1 * * *'),
      new Date('2026-10-31T12:00:00Z'),
      'America/New_York',
      2
    );
    expect(iso(autumn)).toEqual([
      '2026-11-01T05:30:00.000Z', // the first 01:30 (EDT)
      '2026-11-02T06:30:00.000Z'
    ]);
  });

  it('says when an expression never runs', () => {
    expect(() => nextRuns(parseCron('0 0 30 2 *'), after, 'UTC')).toThrow(
      "cron: '0 0 30 2 *' never runs"
    );
  });
});

describe('describeCron', () => {
  it.each([
    ['0 4 * * *', 'At 04:00, every day'],
    ['0 4 * * 0', 'At 04:00, on Sunday'],
    ['0 4 1 * *', 'At 04:00, on day 1 of the month'],
    ['*/15 * * * *', 'Every 15 minutes, every day'],
    ['* * * * *', 'Every minute, every day'],
    ['0 * * * *', 'Every hour, every day'],
    ['30 9 * * mon-fri', 'At 09:30, on Monday through Friday'],
    ['0 9,18 * * 1,3', 'At 09:00 and 18:00, on Monday and Wednesday'],
    ['0 0 15 * fri', 'At 00:00, on day 15 of the month or on Friday'],
    ['0 6 1 1,7 *', 'At 06:00, on day 1 of the month, in January and July'],
    ['5 */2 * * *', 'At minute 5 past every 2 hours, every day']
  ])('%s reads "%s"', (expression, text) => {
    expect(describeCron(parseCron(expression))).toBe(text);
  });
});

describe('time zones and the preview', () => {
  it('knows IANA zones and refuses others with the service wording', () => {
    expect(checkTimeZone(' Asia/Taipei ')).toBe('Asia/Taipei');
    expect(() => checkTimeZone('Mars/Base')).toThrow(
      "timezone: unknown time zone 'Mars/Base' (use e.g. 'UTC', 'Asia/Taipei')"
    );
  });

  it('formats a run in the schedule zone', () => {
    expect(
      formatRun(new Date('2026-03-01T20:00:00Z'), 'Asia/Taipei')
    ).toContain('Mar 2, 2026');
    expect(formatRun(new Date('2026-03-01T20:00:00Z'), 'Asia/Taipei')).toMatch(
      /04:00/
    );
  });

  it('gives the description and next runs, or the error to fix', () => {
    const now = new Date('2026-03-01T10:02:30Z');
    const ok = schedulePreview('custom', '0 4 * * *', 'UTC', now, 3);
    expect(ok.error).toBeNull();
    expect(ok.description).toBe('At 04:00, every day');
    expect(ok.runs).toHaveLength(3);
    expect(ok.runs[0]).toMatch(/Mar 2, 2026.*04:00/);
    const bad = schedulePreview('custom', '0 25 * * *', 'UTC', now);
    expect(bad.error).toBe('hour: 25 is out of range 0-23');
    expect(bad.runs).toEqual([]);
    expect(schedulePreview('daily', null, 'Nowhere', now).error).toContain(
      "unknown time zone 'Nowhere'"
    );
  });
});
