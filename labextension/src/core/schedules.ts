/**
 * PURE: schedules as the server extension shows them (forwarded from the hub's primehub-jobs
 * service) and what the jobs panel says about each.
 */
import { describeCron, expressionFor, parseCron, Recurrence } from './cron';

/** A schedule (`GET /primehub/api/schedules`). */
export interface ISchedule {
  id: string;
  user: string;
  group: string;
  name: string;
  path: string;
  /** Where the notebook is in this server (null when it is not reachable from here). */
  notebookPath: string | null;
  instanceType: string | null;
  image: string | null;
  parameters?: { [name: string]: unknown };
  recurrence: Recurrence;
  cron: string | null;
  timezone: string;
  nextRunAt: string | null;
  lastJobId: string | null;
  lastRunAt: string | null;
  lastMessage: string | null;
  /** The state of the last run as this server knows it (null: none or not seen yet). */
  lastStatus: string | null;
  paused: boolean;
  runs: number;
  skipped: number;
}

export interface IScheduleList {
  /** False when this server has no hub jobs service (schedules need it). */
  available: boolean;
  message?: string;
  schedules: ISchedule[];
}

/** What the dialog sends (`POST /primehub/api/schedules`). */
export interface IScheduleRequest {
  path: string;
  name?: string;
  instanceType?: string;
  image?: string;
  parameters?: { [name: string]: unknown };
  kernel?: string;
  timeout?: number;
  deadline?: number;
  recurrence: Recurrence;
  cron?: string;
  timezone: string;
}

/** "At 04:00, every day (Asia/Taipei)"; the raw expression if it cannot be read. */
export function describeSchedule(schedule: ISchedule): string {
  try {
    const expression = expressionFor(schedule.recurrence, schedule.cron);
    if (expression === null) {
      return 'Inactive';
    }
    return `${describeCron(parseCron(expression))} (${schedule.timezone})`;
  } catch {
    return `${schedule.cron ?? schedule.recurrence} (${schedule.timezone})`;
  }
}

/** The last run's result in words: its state, or why it was skipped or refused. */
export function lastResult(schedule: ISchedule): string {
  if (schedule.lastMessage) {
    return schedule.lastMessage;
  }
  if (!schedule.lastJobId) {
    return 'No run yet';
  }
  return `Last run: ${schedule.lastStatus ?? 'started'}`;
}
