/**
 * The jobs the panel shows, refreshed from the server: polled while any job is active (and
 * once on demand otherwise). Emits `finished` for jobs submitted in this session that reached
 * a final state, which drives the notifications.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { PrimeHubClient } from './api';
import { IJob, isActive, reconcileWatched } from './core/jobs';

export class JobsModel {
  private _jobs: IJob[] = [];
  private _total = 0;
  private _error: string | null = null;
  private _loaded = false;
  /** Jobs submitted here: id -> number of the first listing request sent after the submit. */
  private readonly watched = new Map<string, number>();
  private requests = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private inFlight: Promise<void> | null = null;
  private disposed = false;
  private readonly _changed = new Signal<this, void>(this);
  private readonly _finished = new Signal<this, IJob>(this);

  /** Seconds between refreshes while a job is pending or running. */
  refreshInterval = 3;

  constructor(private readonly client: PrimeHubClient) {}

  get jobs(): IJob[] {
    return this._jobs;
  }

  /** How many jobs the server has (the list holds the newest of them). */
  get total(): number {
    return Math.max(this._total, this._jobs.length);
  }

  /** The last refresh's error, shown in the panel (null when it worked). */
  get error(): string | null {
    return this._error;
  }

  get loaded(): boolean {
    return this._loaded;
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get finished(): ISignal<this, IJob> {
    return this._finished;
  }

  /** Remember a job submitted here, so its end is notified; refresh now. */
  watch(job: IJob): void {
    this.watched.set(job.id, this.requests + 1);
    if (!this._jobs.some(j => j.id === job.id)) {
      this._jobs = [job, ...this._jobs];
      this._changed.emit();
    }
    void this.refresh();
  }

  /** Fetch the list now (concurrent calls share one request). */
  refresh(): Promise<void> {
    if (!this.inFlight) {
      this.inFlight = this.load().finally(() => {
        this.inFlight = null;
        this.schedule();
      });
    }
    return this.inFlight;
  }

  private async load(): Promise<void> {
    const requestNumber = ++this.requests;
    try {
      const list = await this.client.list();
      // A listing requested before a submit may not hold that job yet: keep it meanwhile, and
      // notify about a watched job whenever a listing first shows it finished.
      const { jobs, finished, gone } = reconcileWatched(
        list.jobs,
        requestNumber,
        this.watched,
        this._jobs
      );
      this._jobs = jobs;
      this._total = list.total;
      this._error = null;
      this._loaded = true;
      for (const id of gone) {
        this.watched.delete(id); // deleted elsewhere: nothing left to notify about
      }
      this._changed.emit();
      for (const job of finished) {
        this.watched.delete(job.id);
        this._finished.emit(job);
      }
    } catch (err) {
      this._error = err instanceof Error ? err.message : String(err);
      this._changed.emit();
    }
  }

  private schedule(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.disposed) {
      return;
    }
    // Poll only while something can still change; a failed refresh retries more slowly.
    if (this._jobs.some(isActive) || this.watched.size > 0 || this._error) {
      const seconds = this._error ? Math.max(10, this.refreshInterval) : this.refreshInterval;
      this.timer = setTimeout(() => void this.refresh(), seconds * 1000);
    }
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer !== null) {
      clearTimeout(this.timer);
    }
    Signal.clearData(this);
  }
}
