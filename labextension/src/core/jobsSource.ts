/**
 * Where the jobs panel's list comes from: the server's event stream when it is open (a job's
 * start and end show as they happen), and a listing poll as the fallback.
 *
 * - The stream (`openEvents`) is opened at `start()`. Once its `ready` event arrives the list
 *   is fetched once (to catch what changed while no stream was open), then every pushed
 *   change is applied at once. While it is open, the list is still polled every
 *   `fallbackInterval` seconds while jobs are active (a safety net).
 * - When the stream cannot be opened or ends (network, server restart, too many streams), the
 *   list is fetched now and polled every `refreshInterval` seconds while jobs are active, and
 *   the stream is opened again after `reconnectDelay` seconds (doubling up to a minute).
 * - Jobs of backends the server does not push (its `ready` event names the ones it does) are
 *   polled every `refreshInterval` seconds.
 *
 * Pure: no JupyterLab imports (the model wraps it with signals), so jest tests it directly.
 */
import { applyPushed, IPushed, mergePushed, SseParser } from './events';
import { IJob, IJobList, isActive, reconcileWatched } from './jobs';

export interface IJobsSourceOptions {
  /** `GET /primehub/api/jobs`. */
  list(): Promise<IJobList>;
  /**
   * Open `GET /primehub/api/jobs/events`: its text as it arrives. Rejects when the stream
   * cannot be opened; ends (or throws) when it closes. `signal` aborts it.
   */
  openEvents(signal: AbortSignal): Promise<AsyncIterable<string>>;
  /** The list or its error changed. */
  onChange(): void;
  /** A job submitted here (`watch`) reached a final state. */
  onFinished(job: IJob): void;
}

export type StreamState = 'off' | 'connecting' | 'live' | 'down';

export class JobsSource {
  jobs: IJob[] = [];
  total = 0;
  error: string | null = null;
  loaded = false;
  stream: StreamState = 'off';

  /** Seconds between listings while a job is active and changes are not pushed. */
  refreshInterval = 3;
  /** Seconds between listings while a job is active and the stream is open. */
  fallbackInterval = 10;
  /** Seconds before the first attempt to open the stream again. */
  reconnectDelay = 3;

  /** Jobs submitted here: id -> number of the first listing request sent after the submit. */
  private readonly watched = new Map<string, number>();
  /** Pushed changes not yet confirmed by a listing requested after them. */
  private readonly pushed = new Map<string, IPushed>();
  private liveBackends = new Set<string>();
  private requests = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private failures = 0;
  private abort: AbortController | null = null;
  private inFlight: Promise<void> | null = null;
  /** A listing must be requested again after the one in flight (it may be too old). */
  private again = false;
  private disposed = false;

  constructor(private readonly options: IJobsSourceOptions) {}

  /** Open the event stream (once) and fetch the list. */
  start(): Promise<void> {
    if (this.stream === 'off' && !this.disposed) {
      this.connect();
    }
    return this.refresh();
  }

  /** Remember a job submitted here, so its end is notified; refresh now. */
  watch(job: IJob): void {
    this.watched.set(job.id, this.requests + 1);
    if (!this.jobs.some(j => j.id === job.id)) {
      this.jobs = [job, ...this.jobs];
      this.options.onChange();
    }
    void this.refresh();
  }

  /** Fetch the list now (concurrent calls share one request). */
  refresh(): Promise<void> {
    if (!this.inFlight) {
      this.inFlight = this.load().finally(() => {
        this.inFlight = null;
        if (this.again && !this.disposed) {
          this.again = false;
          void this.refresh();
        } else {
          this.schedule();
        }
      });
    }
    return this.inFlight;
  }

  dispose(): void {
    this.disposed = true;
    this.clearTimer();
    if (this.reconnectTimer !== null) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
    }
    this.abort?.abort();
    this.abort = null;
  }

  // -- the listing --------------------------------------------------------------------------
  private async load(): Promise<void> {
    const requestNumber = ++this.requests;
    try {
      const list = await this.options.list();
      if (this.disposed) {
        return;
      }
      const listing = mergePushed(list.jobs, requestNumber, this.pushed);
      // A listing requested before a submit may not hold that job yet: keep it meanwhile, and
      // notify about a watched job whenever a listing first shows it finished.
      const { jobs, finished, gone } = reconcileWatched(
        listing,
        requestNumber,
        this.watched,
        this.jobs
      );
      this.jobs = jobs;
      this.total = list.total + (listing.length - list.jobs.length);
      this.error = null;
      this.loaded = true;
      for (const id of gone) {
        this.watched.delete(id); // deleted elsewhere: nothing left to notify about
      }
      this.options.onChange();
      this.notify(finished);
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
      this.options.onChange();
    }
  }

  private notify(finished: IJob[]): void {
    for (const job of finished) {
      this.watched.delete(job.id);
      this.options.onFinished(job);
    }
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /** Whether every change of this job reaches us through the open stream. */
  private pushedLive(job: IJob): boolean {
    return this.stream === 'live' && this.liveBackends.has(job.backend);
  }

  private schedule(): void {
    this.clearTimer();
    if (this.disposed) {
      return;
    }
    const active = this.jobs.filter(isActive);
    // Poll only while something can still change; a failed refresh retries more slowly.
    if (!active.length && this.watched.size === 0 && !this.error) {
      return;
    }
    let seconds = this.refreshInterval;
    if (this.error) {
      seconds = Math.max(10, this.refreshInterval);
    } else if (
      this.stream === 'live' &&
      active.every(job => this.pushedLive(job))
    ) {
      seconds = Math.max(this.fallbackInterval, this.refreshInterval);
    }
    this.timer = setTimeout(() => void this.refresh(), seconds * 1000);
  }

  // -- the event stream ---------------------------------------------------------------------
  private connect(): void {
    this.reconnectTimer = null;
    if (this.disposed) {
      return;
    }
    const abort = new AbortController();
    this.abort = abort;
    this.stream = 'connecting';
    void this.read(abort).then(
      () => this.streamEnded(abort),
      () => this.streamEnded(abort)
    );
  }

  private async read(abort: AbortController): Promise<void> {
    const chunks = await this.options.openEvents(abort.signal);
    const parser = new SseParser();
    for await (const chunk of chunks) {
      if (abort.signal.aborted) {
        return;
      }
      for (const event of parser.push(chunk)) {
        this.handle(event.event, event.data);
      }
    }
  }

  private handle(name: string, data: string): void {
    let body: any;
    try {
      body = JSON.parse(data);
    } catch {
      return; // not ours: ignore it rather than end the stream
    }
    if (name === 'ready') {
      this.stream = 'live';
      this.failures = 0;
      this.liveBackends = new Set(Array.isArray(body?.live) ? body.live : []);
      // What changed while no stream was open: a listing requested from now on.
      this.again = this.inFlight !== null;
      void this.refresh();
    } else if (name === 'job' && body && typeof body.id === 'string') {
      this.apply(body.id, body as IJob);
    } else if (name === 'deleted' && body && typeof body.id === 'string') {
      this.apply(body.id, null);
    }
  }

  private apply(id: string, job: IJob | null): void {
    this.pushed.set(id, { at: this.requests, job });
    const before = this.jobs.length;
    this.jobs = applyPushed(this.jobs, id, job);
    this.total = Math.max(0, this.total + (this.jobs.length - before));
    this.loaded = true;
    if (job === null) {
      this.watched.delete(id);
    }
    this.options.onChange();
    if (job && !isActive(job) && this.watched.has(id)) {
      this.notify([job]);
    }
    if (!this.inFlight) {
      this.schedule(); // e.g. the last active job ended: no more polling
    }
  }

  private streamEnded(abort: AbortController): void {
    if (this.abort !== abort || this.disposed) {
      return; // disposed, or an older stream
    }
    this.abort = null;
    this.stream = 'down';
    const delay = Math.min(60, this.reconnectDelay * 2 ** this.failures);
    this.failures += 1;
    this.reconnectTimer = setTimeout(() => this.connect(), delay * 1000);
    void this.refresh(); // now, and polled at refreshInterval until the stream is back
  }
}
