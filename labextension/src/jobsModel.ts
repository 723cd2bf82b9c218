/**
 * The jobs the panel shows: pushed by the server's event stream as they change, with a listing
 * poll as the fallback (see core/jobsSource.ts). Emits `finished` for jobs submitted in this
 * session that reached a final state, which drives the notifications.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { PrimeHubClient } from './api';
import { IJob } from './core/jobs';
import { JobsSource, StreamState } from './core/jobsSource';

export class JobsModel {
  private readonly source: JobsSource;
  private readonly _changed = new Signal<this, void>(this);
  private readonly _finished = new Signal<this, IJob>(this);

  constructor(client: PrimeHubClient) {
    this.source = new JobsSource({
      list: () => client.list(),
      openEvents: signal => client.events(signal),
      onChange: () => this._changed.emit(),
      onFinished: job => this._finished.emit(job)
    });
  }

  get jobs(): IJob[] {
    return this.source.jobs;
  }

  /** How many jobs the server has (the list holds the newest of them). */
  get total(): number {
    return Math.max(this.source.total, this.source.jobs.length);
  }

  /** The last refresh's error, shown in the panel (null when it worked). */
  get error(): string | null {
    return this.source.error;
  }

  get loaded(): boolean {
    return this.source.loaded;
  }

  /** Whether changes arrive as they happen ('live') or only by polling. */
  get stream(): StreamState {
    return this.source.stream;
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get finished(): ISignal<this, IJob> {
    return this._finished;
  }

  /** Seconds between refreshes while a job is active and its changes are not pushed. */
  get refreshInterval(): number {
    return this.source.refreshInterval;
  }

  set refreshInterval(seconds: number) {
    this.source.refreshInterval = seconds;
  }

  /** Remember a job submitted here, so its end is notified; refresh now. */
  watch(job: IJob): void {
    this.source.watch(job);
  }

  /** Fetch the list now (the first call also opens the event stream). */
  refresh(): Promise<void> {
    return this.source.start();
  }

  dispose(): void {
    this.source.dispose();
    Signal.clearData(this);
  }
}
