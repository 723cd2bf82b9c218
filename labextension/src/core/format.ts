/**
 * Pure formatting helpers for the jobs panel (no JupyterLab imports, so jest tests them as is).
 */

/** A job's progress as the REST API reports it. */
export interface IProgress {
  done: number;
  total: number;
}

/**
 * Format a duration given in milliseconds: "0s", "42s", "3m 05s", "2h 01m", "1d 3h".
 * Negative or non-finite values (clock skew, missing timestamps) give "".
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) {
    return '';
  }
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) {
    return `${seconds}s`;
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    return `${minutes}m ${String(seconds % 60).padStart(2, '0')}s`;
  }
  const hours = Math.floor(minutes / 60);
  if (hours < 24) {
    return `${hours}h ${String(minutes % 60).padStart(2, '0')}m`;
  }
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/**
 * The duration of a job from its ISO timestamps: start (or creation) to finish, or to `now`
 * while it still runs. Missing or unparsable timestamps give "".
 */
export function jobDuration(
  startedAt: string | null | undefined,
  finishedAt: string | null | undefined,
  now: number = Date.now()
): string {
  if (!startedAt) {
    return '';
  }
  const start = Date.parse(startedAt);
  const end = finishedAt ? Date.parse(finishedAt) : now;
  if (Number.isNaN(start) || Number.isNaN(end)) {
    return '';
  }
  return formatDuration(end - start);
}

/** "3 / 10 cells" style progress text; "" when the total is not known yet. */
export function formatProgress(progress: IProgress | null | undefined): string {
  if (!progress || !Number.isFinite(progress.total) || progress.total <= 0) {
    return '';
  }
  const done = Math.min(Math.max(0, Math.floor(progress.done)), progress.total);
  return `${done} / ${progress.total}`;
}

/** Progress as a fraction in [0, 1] for a progress bar; 0 when unknown. */
export function progressFraction(
  progress: IProgress | null | undefined
): number {
  if (!progress || !Number.isFinite(progress.total) || progress.total <= 0) {
    return 0;
  }
  return Math.min(1, Math.max(0, progress.done / progress.total));
}

/** The file name of a Content-Disposition: the UTF-8 ``filename*`` (RFC 5987) when present,
 * else the plain ``filename``. */
export function downloadName(disposition: string): string | null {
  const star = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
  if (star) {
    try {
      return decodeURIComponent(star[1].trim());
    } catch {
      // a malformed escape: fall back to the plain name
    }
  }
  const plain = /filename="?([^";]+)"?/.exec(disposition);
  return plain ? plain[1] : null;
}
