/**
 * Server-sent events of the jobs API (`GET /primehub/api/jobs/events`): a parser of the
 * `text/event-stream` format and how a pushed change merges with a listing. Pure: no
 * JupyterLab imports, so jest tests them directly.
 */
import { IJob } from './jobs';

/** One event: its name (`event:` field, "message" without one) and its data lines joined. */
export interface ISseEvent {
  event: string;
  data: string;
}

/**
 * Incremental parser: feed it text as it arrives, get the complete events. Comment lines
 * (`: keep-alive`) and `id:`/`retry:` fields are skipped.
 */
export class SseParser {
  private buffer = '';

  push(chunk: string): ISseEvent[] {
    this.buffer += chunk.replace(/\r\n?/g, '\n');
    const events: ISseEvent[] = [];
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (!line || line.startsWith(':')) {
          continue;
        }
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) {
          value = value.slice(1);
        }
        if (field === 'event') {
          event = value;
        } else if (field === 'data') {
          data.push(value);
        }
      }
      if (data.length) {
        events.push({ event, data: data.join('\n') });
      }
    }
    return events;
  }
}

/** A job change the server pushed: the job as it is now, or `null` for a deleted job. */
export interface IPushed {
  /** How many listing requests had been sent when the change arrived. */
  at: number;
  job: IJob | null;
}

/**
 * A listing merged with the changes pushed after it was requested. Listing request N is sent
 * as the request counter becomes N, so a change that arrived while the counter was N or more
 * is at least as new as that listing's answer and wins over it; older changes are in the
 * listing already and are dropped from `pushed`.
 */
export function mergePushed(
  listing: IJob[],
  requestNumber: number,
  pushed: Map<string, IPushed>
): IJob[] {
  const newer = new Map<string, IJob | null>();
  for (const [id, change] of pushed) {
    if (change.at >= requestNumber) {
      newer.set(id, change.job);
    } else {
      pushed.delete(id);
    }
  }
  if (!newer.size) {
    return listing;
  }
  const merged: IJob[] = [];
  for (const job of listing) {
    if (!newer.has(job.id)) {
      merged.push(job);
    } else {
      const fresh = newer.get(job.id);
      newer.delete(job.id);
      if (fresh) {
        merged.push(fresh);
      }
    }
  }
  const added = [...newer.values()].filter((job): job is IJob => job !== null);
  return [...added, ...merged];
}

/** The list after one pushed change: the job replaced (or added first), or removed. */
export function applyPushed(
  jobs: IJob[],
  id: string,
  job: IJob | null
): IJob[] {
  const index = jobs.findIndex(j => j.id === id);
  if (job === null) {
    return index < 0 ? jobs : jobs.filter(j => j.id !== id);
  }
  if (index < 0) {
    return [job, ...jobs];
  }
  const copy = jobs.slice();
  copy[index] = job;
  return copy;
}
