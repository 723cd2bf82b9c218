/**
 * Client of the PrimeHub server extension. Every request goes through
 * ServerConnection.makeRequest, so the server's auth and XSRF protection apply as for any
 * JupyterLab request.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import {
  IContext,
  IJob,
  IJobList,
  IJobRequest,
  ITokenInfo,
  ITokenTest,
  JobStatus
} from './core/jobs';
import { downloadName } from './core/format';
import { ISchedule, IScheduleList, IScheduleRequest } from './core/schedules';

/** An error answered by the server (or the network), with a message fit for the user. */
export class PrimeHubApiError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
    this.name = 'PrimeHubApiError';
  }
}

/** A chunk of a job's log and where the next read resumes. */
export interface ILogChunk {
  text: string;
  nextOffset: number;
}

/** Typed access to /primehub/api/. */
export class PrimeHubClient {
  constructor(
    private readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {}

  private url(...parts: string[]): string {
    return URLExt.join(this.settings.baseUrl, 'primehub', 'api', ...parts);
  }

  private async request(
    url: string,
    init: RequestInit = {}
  ): Promise<Response> {
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this.settings);
    } catch (err) {
      throw new PrimeHubApiError(
        `Cannot reach the server: ${err instanceof Error ? err.message : String(err)}`,
        0
      );
    }
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`;
      const text = await response.text();
      try {
        const body = JSON.parse(text);
        if (body && typeof body.message === 'string' && body.message) {
          message = body.message;
        }
      } catch {
        if (response.status === 404 && !text.includes('{')) {
          message =
            'The PrimeHub server extension is not enabled on this server (no /primehub/api).';
        }
      }
      throw new PrimeHubApiError(message, response.status);
    }
    return response;
  }

  private async json<T>(url: string, init: RequestInit = {}): Promise<T> {
    const response = await this.request(url, init);
    if (response.status === 204) {
      return undefined as T;
    }
    return (await response.json()) as T;
  }

  private send<T>(url: string, method: string, body?: unknown): Promise<T> {
    return this.json<T>(url, {
      method,
      body: body === undefined ? undefined : JSON.stringify(body),
      headers:
        body === undefined ? undefined : { 'Content-Type': 'application/json' }
    });
  }

  context(): Promise<IContext> {
    return this.json<IContext>(this.url('context'));
  }

  submit(request: IJobRequest): Promise<IJob> {
    return this.send<IJob>(this.url('jobs'), 'POST', request);
  }

  list(status: JobStatus | '' = '', limit = 200): Promise<IJobList> {
    const query = URLExt.objectToQueryString({
      limit: String(limit),
      ...(status ? { status } : {})
    });
    return this.json<IJobList>(this.url('jobs') + query);
  }

  /**
   * The job event stream (`GET /primehub/api/jobs/events`, server-sent events) as text chunks.
   * Sent like every other request (the server's auth applies); `signal` closes it.
   */
  async events(signal: AbortSignal): Promise<AsyncIterable<string>> {
    const response = await this.request(this.url('jobs', 'events'), {
      signal,
      headers: { Accept: 'text/event-stream' }
    });
    const body = response.body;
    if (!body) {
      throw new PrimeHubApiError(
        'The server answered the event stream without a body.',
        0
      );
    }
    return readText(body);
  }

  get(id: string): Promise<IJob> {
    return this.json<IJob>(this.url('jobs', encodeURIComponent(id)));
  }

  cancel(id: string): Promise<IJob> {
    return this.send<IJob>(
      this.url('jobs', encodeURIComponent(id), 'cancel'),
      'POST'
    );
  }

  async remove(id: string): Promise<void> {
    await this.request(this.url('jobs', encodeURIComponent(id)), {
      method: 'DELETE'
    });
  }

  async log(id: string, offset = 0): Promise<ILogChunk> {
    const response = await this.request(
      this.url('jobs', encodeURIComponent(id), 'log') +
        URLExt.objectToQueryString({ offset: String(offset) })
    );
    const text = await response.text();
    const header = Number(response.headers.get('X-Log-Offset'));
    // Without the header (an older server) the whole log came back: the offset is its size.
    const nextOffset =
      Number.isFinite(header) && header > 0
        ? header
        : offset + new Blob([text]).size;
    return { text, nextOffset };
  }

  /** The artifacts zip as a Blob plus the file name the server suggests. */
  async artifacts(id: string): Promise<{ blob: Blob; filename: string }> {
    const response = await this.request(
      this.url('jobs', encodeURIComponent(id), 'artifacts')
    );
    const disposition = response.headers.get('Content-Disposition') ?? '';
    return {
      blob: await response.blob(),
      filename: downloadName(disposition) ?? `${id}-artifacts.zip`
    };
  }

  schedules(): Promise<IScheduleList> {
    return this.json<IScheduleList>(this.url('schedules'));
  }

  createSchedule(request: IScheduleRequest): Promise<ISchedule> {
    return this.send<ISchedule>(this.url('schedules'), 'POST', request);
  }

  /** Pause (the recurrence is kept, no next run) or resume a schedule. */
  pauseSchedule(id: string, paused: boolean): Promise<ISchedule> {
    return this.send<ISchedule>(
      this.url('schedules', encodeURIComponent(id)),
      'PATCH',
      { paused }
    );
  }

  /** Run a schedule now; resolves with the job of the run. */
  runSchedule(id: string): Promise<IJob> {
    return this.send<IJob>(
      this.url('schedules', encodeURIComponent(id), 'run'),
      'POST'
    );
  }

  async deleteSchedule(id: string): Promise<void> {
    await this.request(this.url('schedules', encodeURIComponent(id)), {
      method: 'DELETE'
    });
  }

  tokenInfo(): Promise<ITokenInfo> {
    return this.json<ITokenInfo>(this.url('token'));
  }

  saveToken(token: string): Promise<ITokenInfo> {
    return this.send<ITokenInfo>(this.url('token'), 'PUT', { token });
  }

  clearToken(): Promise<ITokenInfo> {
    return this.send<ITokenInfo>(this.url('token'), 'DELETE');
  }

  testToken(): Promise<ITokenTest> {
    return this.send<ITokenTest>(this.url('token', 'test'), 'POST');
  }
}

/** A response body as text chunks, decoded as they arrive. */
async function* readText(
  body: ReadableStream<Uint8Array>
): AsyncIterable<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        return;
      }
      yield decoder.decode(value, { stream: true });
    }
  } finally {
    reader.releaseLock();
  }
}
