/**
 * Shapes of the PrimeHub REST API (server extension under /primehub/api/) and pure helpers
 * over them. No JupyterLab imports, so jest tests them directly.
 */
import { IProgress } from './format';
import { ParamValue } from './parameters';

export type JobStatus =
  'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export const JOB_STATUSES: JobStatus[] = [
  'pending',
  'running',
  'succeeded',
  'failed',
  'cancelled'
];

/** Where and why a job failed. `cellIndex` counts cells of the submitted notebook from 0. */
export interface IJobError {
  cellIndex: number | null;
  ename: string;
  evalue: string;
}

/**
 * A job that succeeded before its last cell: the cell that ran `sys.exit()` / `sys.exit(0)`
 * (papermill's rule) and its SystemExit (`evalue` "" or "0"). The cells after it did not run.
 */
export type IEndedEarly = IJobError;

/** One job as `GET /primehub/api/jobs/{id}` returns it. */
export interface IJob {
  id: string;
  name: string;
  path: string;
  status: JobStatus;
  progress: IProgress;
  parameters: { [name: string]: ParamValue };
  kernel?: string | null;
  timeout?: number | null;
  deadline?: number | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  outputPath: string | null;
  error: IJobError | null;
  reason?: string | null;
  /** Set when the job succeeded but a cell ended the notebook early (absent: older servers). */
  endedEarly?: IEndedEarly | null;
  backend: string;
  instanceType?: string | null;
  image?: string | null;
}

export interface IJobList {
  jobs: IJob[];
  total: number;
}

/** A choice offered by the server (backend, kernel, instance type, image). */
export interface IChoice {
  name: string;
  displayName?: string;
  description?: string;
  language?: string;
  /** Instance types: limits. */
  cpu?: number | null;
  memory?: string | number | null;
  gpu?: number | null;
  /** Images: cpu | gpu | both. */
  type?: string | null;
}

/** `GET /primehub/api/context`: this server's launch context and what jobs may use. */
export interface IContext {
  user?: string | null;
  group?: { name: string | null; id?: string | null } | string | null;
  instanceType?: string | null;
  image?: string | null;
  backends: (IChoice | string)[];
  defaultBackend?: string;
  groupVolumeRoot?: string | null;
  kernels?: IChoice[];
  /** Choices of the user's group for remote backends, when the server knows them. */
  instanceTypes?: (IChoice | string)[];
  images?: (IChoice | string)[];
  defaults?: { timeout?: number | null; deadline?: number | null };
}

/** `POST /primehub/api/jobs` body. */
export interface IJobRequest {
  path: string;
  name?: string;
  parameters?: { [name: string]: ParamValue };
  kernel?: string;
  timeout?: number;
  deadline?: number;
  backend?: string;
  instanceType?: string;
  image?: string;
}

/** `GET /primehub/api/token`. */
export interface ITokenInfo {
  set: boolean;
  source: 'hub' | 'user' | null;
  hint: string | null;
}

/** `POST /primehub/api/token/test`. */
export interface ITokenTest {
  ok: boolean;
  message: string;
}

/** A job that may still change (pending or running). */
export function isActive(job: Pick<IJob, 'status'>): boolean {
  return job.status === 'pending' || job.status === 'running';
}

/** Normalise a choice given as a name or an object. */
export function toChoice(choice: IChoice | string): IChoice {
  return typeof choice === 'string' ? { name: choice } : choice;
}

/** Backend names offered by the context. */
export function backendNames(context: Pick<IContext, 'backends'>): string[] {
  return (context.backends ?? []).map(b => toChoice(b).name);
}

/** Whether jobs can run remotely (then the dialog offers instance type and image). */
export function hasRemoteBackend(context: Pick<IContext, 'backends'>): boolean {
  return backendNames(context).includes('kubernetes');
}

/** The group name of the context, whichever shape the server sends. */
export function groupName(context: Pick<IContext, 'group'>): string | null {
  const group = context.group;
  if (!group) {
    return null;
  }
  return typeof group === 'string' ? group : (group.name ?? null);
}

/**
 * "Cell 3: ZeroDivisionError: division by zero" — what a failed job shows at a glance.
 * Cells are numbered from 1 for people.
 */
export function describeError(job: Pick<IJob, 'error' | 'reason'>): string {
  const error = job.error;
  if (!error) {
    return job.reason ?? '';
  }
  const what = [error.ename, error.evalue].filter(Boolean).join(': ');
  if (error.cellIndex === null || error.cellIndex === undefined) {
    return what || job.reason || '';
  }
  return `Cell ${error.cellIndex + 1}: ${what}`;
}

/**
 * "Ended early at cell 3 (SystemExit: 0); the remaining cells were not run." — for a job that
 * succeeded through `sys.exit(0)`; "" otherwise. Cells are numbered from 1 for people.
 */
export function describeEndedEarly(
  job: Pick<IJob, 'status' | 'endedEarly'>
): string {
  const ended = job.endedEarly;
  if (job.status !== 'succeeded' || !ended) {
    return '';
  }
  const what = [ended.ename || 'SystemExit', ended.evalue]
    .filter(Boolean)
    .join(': ');
  const where =
    ended.cellIndex === null || ended.cellIndex === undefined
      ? 'Ended early'
      : `Ended early at cell ${ended.cellIndex + 1}`;
  return `${where} (${what}); the remaining cells were not run.`;
}

/**
 * The line under a job in the panel: why it failed or was cancelled, why it still waits (e.g.
 * "Waiting for a node with 8 GPUs: ..." from the hub's jobs service), or that it ended early.
 */
export interface IJobNote {
  kind: 'error' | 'info';
  text: string;
}

export function jobNote(
  job: Pick<IJob, 'status' | 'error' | 'reason' | 'endedEarly'>
): IJobNote | null {
  if (job.status === 'failed' || job.status === 'cancelled') {
    const text = describeError(job);
    return text ? { kind: 'error', text } : null;
  }
  if (job.status === 'pending' && job.reason) {
    return { kind: 'info', text: job.reason };
  }
  const early = describeEndedEarly(job);
  return early ? { kind: 'info', text: early } : null;
}

/** Jobs matching a status filter ('' = all), newest first. */
export function filterJobs(jobs: IJob[], status: JobStatus | ''): IJob[] {
  return jobs
    .filter(job => !status || job.status === status)
    .sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
}

/**
 * Reconcile a fresh listing with the jobs submitted in this session (`watched`: job id ->
 * number of the first listing request sent after the submit).
 * - `finished`: watched jobs the listing shows in a final state (to notify about, once);
 * - `gone`: watched jobs a listing requested after their submit no longer has (deleted);
 * - `jobs`: the listing, plus watched jobs too new to be in it (so they do not flicker away).
 */
export function reconcileWatched(
  listing: IJob[],
  requestNumber: number,
  watched: Map<string, number>,
  known: IJob[]
): { jobs: IJob[]; finished: IJob[]; gone: string[] } {
  const listed = new Map(listing.map(job => [job.id, job]));
  const finished: IJob[] = [];
  const gone: string[] = [];
  const missing: IJob[] = [];
  for (const [id, firstRequest] of watched) {
    const job = listed.get(id);
    if (job) {
      if (!isActive(job)) {
        finished.push(job);
      }
    } else if (requestNumber >= firstRequest) {
      gone.push(id);
    } else {
      const local = known.find(j => j.id === id);
      if (local) {
        missing.push(local);
      }
    }
  }
  return { jobs: [...missing, ...listing], finished, gone };
}

/** The default job name for a notebook path: its file name without `.ipynb`. */
export function defaultJobName(path: string): string {
  const base = path.split('/').pop() ?? path;
  return base.replace(/\.ipynb$/i, '');
}

/** Validate a job name; returns the problem or null. */
export function checkJobName(name: string): string | null {
  if (!name.trim()) {
    return 'The job name cannot be empty.';
  }
  if (name.trim().length > 200) {
    return 'The job name must be at most 200 characters.';
  }
  return null;
}

/** "CPU 1 (cpu-1): 1 CPU / 2Gi / 0 GPU" — an instance type as the spawn form shows it. */
export function instanceTypeLabel(choice: IChoice | string): string {
  const it = toChoice(choice);
  const name =
    it.displayName && it.displayName !== it.name
      ? `${it.displayName} (${it.name})`
      : it.name;
  const parts: string[] = [];
  if (it.cpu !== undefined && it.cpu !== null) {
    parts.push(`${it.cpu} CPU`);
  }
  if (it.memory !== undefined && it.memory !== null) {
    parts.push(String(it.memory));
  }
  if (it.gpu !== undefined && it.gpu !== null) {
    parts.push(`${it.gpu} GPU`);
  }
  return parts.length ? `${name}: ${parts.join(' / ')}` : name;
}

/** "PyTorch (torch), GPU" — an image with its kind (CPU, GPU or Universal). */
export function imageLabel(choice: IChoice | string): string {
  const im = toChoice(choice);
  const name =
    im.displayName && im.displayName !== im.name
      ? `${im.displayName} (${im.name})`
      : im.name;
  const kinds: { [type: string]: string } = {
    cpu: 'CPU',
    gpu: 'GPU',
    both: 'Universal'
  };
  const kind = im.type ? kinds[im.type] : undefined;
  return kind ? `${name}, ${kind}` : name;
}

/** GPU-only images cannot run on an instance type without GPU (PrimeHub's rule). */
export function imageFits(
  image: IChoice | string | undefined,
  instanceType: IChoice | string | undefined
): boolean {
  if (!image || !instanceType) {
    return true;
  }
  const im = toChoice(image);
  const it = toChoice(instanceType);
  return !(
    im.type === 'gpu' &&
    it.gpu !== undefined &&
    it.gpu !== null &&
    it.gpu <= 0
  );
}
