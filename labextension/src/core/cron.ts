/**
 * PURE cron for the schedule dialog: the same five-field expressions and presets as the hub's
 * primehub-jobs service (primehub_spawner/jobs/cron.py), a human-readable description, and the
 * next runs in an IANA time zone (wall-clock times: a time skipped by a daylight-saving jump
 * does not run that day, a repeated hour runs once). The service checks again and decides;
 * this only previews.
 */

export const PRESETS: { [recurrence: string]: string } = {
  daily: '0 4 * * *',
  weekly: '0 4 * * 0',
  monthly: '0 4 1 * *'
};
export const RECURRENCES = ['daily', 'weekly', 'monthly', 'custom'] as const;
export type Recurrence = (typeof RECURRENCES)[number] | 'inactive';

const MONTHS = 'jan feb mar apr may jun jul aug sep oct nov dec'.split(' ');
const DAYS = 'sun mon tue wed thu fri sat'.split(' ');
const MONTH_NAMES = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December'
];
const DAY_NAMES = [
  'Sunday',
  'Monday',
  'Tuesday',
  'Wednesday',
  'Thursday',
  'Friday',
  'Saturday'
];
const MAX_YEARS_AHEAD = 5;
const DAY_MS = 86_400_000;

interface IField {
  name: string;
  low: number;
  high: number;
  names: { [name: string]: number };
}

const FIELDS: IField[] = [
  { name: 'minute', low: 0, high: 59, names: {} },
  { name: 'hour', low: 0, high: 23, names: {} },
  { name: 'day of month', low: 1, high: 31, names: {} },
  {
    name: 'month',
    low: 1,
    high: 12,
    names: Object.fromEntries(MONTHS.map((m, i) => [m, i + 1]))
  },
  {
    name: 'day of week',
    low: 0,
    high: 7,
    names: Object.fromEntries(DAYS.map((d, i) => [d, i]))
  }
];

/** An expression or time zone that cannot be used; the message says what to change. */
export class CronError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CronError';
  }
}

/** A parsed expression: the allowed values of each field (weekday 0 = Sunday). */
export interface ICronSpec {
  expression: string;
  minutes: number[];
  hours: number[];
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
  anyDay: boolean;
  anyWeekday: boolean;
}

function parseNumber(text: string, field: IField): number {
  let value = field.names[text.toLowerCase()];
  if (value === undefined) {
    if (!/^\d+$/.test(text)) {
      throw new CronError(`${field.name}: '${text}' is not a number`);
    }
    value = Number(text);
  }
  if (value < field.low || value > field.high) {
    throw new CronError(
      `${field.name}: ${value} is out of range ${field.low}-${field.high}`
    );
  }
  return value;
}

function parseField(text: string, field: IField): Set<number> {
  const values = new Set<number>();
  for (const part of text.split(',')) {
    if (!part) {
      throw new CronError(`${field.name}: empty list item in '${text}'`);
    }
    const [base, stepText] = part.split('/', 2) as [string, string | undefined];
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) === 0) {
        throw new CronError(
          `${field.name}: step '${stepText}' must be a positive number`
        );
      }
      step = Number(stepText);
    }
    let start: number;
    let end: number;
    if (base === '*') {
      start = field.low;
      end = field.high;
    } else if (base.includes('-')) {
      const [a, b] = base.split('-', 2);
      start = parseNumber(a, field);
      end = parseNumber(b, field);
      if (start > end) {
        throw new CronError(`${field.name}: range '${base}' goes backwards`);
      }
    } else {
      start = parseNumber(base, field);
      end = stepText !== undefined ? field.high : start;
    }
    for (let v = start; v <= end; v += step) {
      values.add(v);
    }
  }
  return values;
}

const sorted = (values: Iterable<number>): number[] =>
  [...values].sort((a, b) => a - b);

/** Parse a five-field cron expression or throw a CronError. */
export function parseCron(expression: string): ICronSpec {
  const parts = expression.trim().split(/\s+/).filter(Boolean);
  if (parts.length !== 5) {
    throw new CronError(
      `cron: '${expression}' must have 5 fields (minute hour day-of-month month ` +
        "day-of-week), e.g. '*/15 * * * *'"
    );
  }
  const sets = parts.map((text, i) => parseField(text, FIELDS[i]));
  return {
    expression: parts.join(' '),
    minutes: sorted(sets[0]),
    hours: sorted(sets[1]),
    days: sets[2],
    months: sets[3],
    weekdays: new Set([...sets[4]].map(d => d % 7)),
    anyDay: parts[2] === '*',
    anyWeekday: parts[4] === '*'
  };
}

/** The cron expression of a recurrence (null for 'inactive'). */
export function expressionFor(
  recurrence: Recurrence,
  cron: string | null | undefined
): string | null {
  if (recurrence === 'inactive') {
    return null;
  }
  if (recurrence === 'custom') {
    if (!cron || !cron.trim()) {
      throw new CronError('cron: a custom recurrence needs a cron expression');
    }
    return parseCron(cron).expression;
  }
  const preset = PRESETS[recurrence];
  if (!preset) {
    throw new CronError(
      `recurrence: '${recurrence}' is not one of inactive, ${RECURRENCES.join(', ')}`
    );
  }
  return preset;
}

/** Throws a CronError unless `name` is an IANA time zone this browser knows. */
export function checkTimeZone(name: string): string {
  const zone = name.trim();
  try {
    if (!zone) {
      throw new RangeError('empty');
    }
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    throw new CronError(
      `timezone: unknown time zone '${name}' (use e.g. 'UTC', 'Asia/Taipei')`
    );
  }
  return zone;
}

const partsFormats = new Map<string, Intl.DateTimeFormat>();

/** The wall-clock time of an instant in a zone, as a UTC millisecond count. */
function wallClock(instant: number, timeZone: string): number {
  let format = partsFormats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric'
    });
    partsFormats.set(timeZone, format);
  }
  const get: { [type: string]: number } = {};
  for (const part of format.formatToParts(new Date(instant))) {
    get[part.type] = Number(part.value);
  }
  return Date.UTC(get.year, get.month - 1, get.day, get.hour, get.minute);
}

/** The first instant with this wall-clock time in the zone, or null if a jump skips it. */
function instantOf(wall: number, timeZone: string): number | null {
  const offsets = new Set(
    [wall - DAY_MS, wall, wall + DAY_MS].map(
      t => wallClock(t, timeZone) - Math.floor(t / 60_000) * 60_000
    )
  );
  const found = [...offsets]
    .map(offset => wall - offset)
    .filter(t => wallClock(t, timeZone) === wall)
    .sort((a, b) => a - b);
  return found.length ? found[0] : null;
}

function matchesDay(spec: ICronSpec, day: Date): boolean {
  if (!spec.months.has(day.getUTCMonth() + 1)) {
    return false;
  }
  const inMonth = spec.days.has(day.getUTCDate());
  const inWeek = spec.weekdays.has(day.getUTCDay());
  if (spec.anyDay && spec.anyWeekday) {
    return true;
  }
  if (spec.anyDay) {
    return inWeek;
  }
  if (spec.anyWeekday) {
    return inMonth;
  }
  return inMonth || inWeek;
}

/** The next `count` runs strictly after `after`, in `timeZone`. */
export function nextRuns(
  spec: ICronSpec,
  after: Date,
  timeZone: string,
  count = 5
): Date[] {
  const runs: Date[] = [];
  const afterMs = after.getTime();
  const start = wallClock(afterMs, timeZone); // minutes precision
  let day = Math.floor(start / DAY_MS) * DAY_MS;
  const lastDay = day + 366 * MAX_YEARS_AHEAD * DAY_MS;
  const times: number[] = [];
  for (const h of spec.hours) {
    for (const m of spec.minutes) {
      times.push((h * 60 + m) * 60_000);
    }
  }
  for (; day <= lastDay && runs.length < count; day += DAY_MS) {
    if (!matchesDay(spec, new Date(day))) {
      continue;
    }
    for (const t of times) {
      const wall = day + t;
      if (wall <= start) {
        continue;
      }
      const instant = instantOf(wall, timeZone);
      if (instant !== null && instant > afterMs) {
        runs.push(new Date(instant));
        if (runs.length === count) {
          break;
        }
      }
    }
  }
  if (!runs.length) {
    throw new CronError(
      `cron: '${spec.expression}' never runs (e.g. February 30)`
    );
  }
  return runs;
}

const two = (n: number): string => String(n).padStart(2, '0');

function list(words: string[]): string {
  if (words.length <= 2) {
    return words.join(' and ');
  }
  return `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`;
}

/** A run of consecutive numbers (at least 3) reads as "a through b". */
function names(values: number[], name: (v: number) => string): string {
  const consecutive = values.every(
    (v, i) => i === 0 || v === values[i - 1] + 1
  );
  if (values.length >= 3 && consecutive) {
    return `${name(values[0])} through ${name(values[values.length - 1])}`;
  }
  return list(values.map(name));
}

/** An evenly spaced set from 0 ("every n"), or 0 when it is not one. */
function everyStep(values: number[], size: number): number {
  if (values.length < 2 || values[0] !== 0) {
    return 0;
  }
  const step = values[1] - values[0];
  const even = values.every((v, i) => v === i * step);
  return even && values.length === Math.ceil(size / step) ? step : 0;
}

/** A human-readable description: "At 04:00, every day", "Every 15 minutes, on Monday". */
export function describeCron(spec: ICronSpec): string {
  const { minutes, hours } = spec;
  let time: string;
  const allHours = hours.length === 24;
  const minuteStep = everyStep(minutes, 60);
  if (allHours && minutes.length === 60) {
    time = 'Every minute';
  } else if (allHours && minuteStep) {
    time = `Every ${minuteStep} minutes`;
  } else if (allHours && minutes.length === 1) {
    time =
      minutes[0] === 0 ? 'Every hour' : `Every hour at :${two(minutes[0])}`;
  } else if (minutes.length * hours.length <= 6) {
    const times: string[] = [];
    for (const h of hours) {
      for (const m of minutes) {
        times.push(`${two(h)}:${two(m)}`);
      }
    }
    time = `At ${list(times)}`;
  } else {
    const hourStep = everyStep(hours, 24);
    const minutePart =
      minutes.length === 60
        ? 'Every minute'
        : minuteStep
          ? `Every ${minuteStep} minutes`
          : `At minute ${list(minutes.map(String))}`;
    const hourPart = hourStep
      ? `every ${hourStep} hours`
      : `hours ${names(hours, two)}`;
    time = `${minutePart} past ${hourPart}`;
  }
  let day: string;
  const weekdays = sorted(spec.weekdays);
  const days = sorted(spec.days);
  const onWeekdays = `on ${names(weekdays, d => DAY_NAMES[d])}`;
  const onDays = `on day ${list(days.map(String))} of the month`;
  if (spec.anyDay && spec.anyWeekday) {
    day = 'every day';
  } else if (spec.anyDay) {
    day = onWeekdays;
  } else if (spec.anyWeekday) {
    day = onDays;
  } else {
    day = `${onDays} or ${onWeekdays}`;
  }
  const months = sorted(spec.months);
  const inMonths =
    months.length === 12
      ? ''
      : `, in ${names(months, m => MONTH_NAMES[m - 1])}`;
  return `${time}, ${day}${inMonths}`;
}

/** A run as the user reads it in the schedule's zone: "Sun, Mar 1, 2026, 04:00". */
export function formatRun(date: Date, timeZone: string): string {
  return new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    weekday: 'short',
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit'
  }).format(date);
}

/** What the dialog shows under the recurrence: the description and the next runs, or why not. */
export interface ISchedulePreview {
  expression: string | null;
  description: string;
  runs: string[];
  error: string | null;
}

export function schedulePreview(
  recurrence: Recurrence,
  cron: string | null | undefined,
  timeZone: string,
  now: Date,
  count = 5
): ISchedulePreview {
  try {
    const zone = checkTimeZone(timeZone);
    const expression = expressionFor(recurrence, cron);
    if (expression === null) {
      return {
        expression,
        description: 'Never (inactive)',
        runs: [],
        error: null
      };
    }
    const spec = parseCron(expression);
    return {
      expression,
      description: describeCron(spec),
      runs: nextRuns(spec, now, zone, count).map(d => formatRun(d, zone)),
      error: null
    };
  } catch (err) {
    return {
      expression: null,
      description: '',
      runs: [],
      error: err instanceof Error ? err.message : String(err)
    };
  }
}

/** The browser's time zone (the dialog's default), 'UTC' if it has none. */
export function browserTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}
