/**
 * The Jobs panel (left sidebar): every job with status, progress, times and actions.
 * Rendered with plain DOM from the JobsModel; focus is kept across refreshes so keyboard
 * users are not thrown out of the list every few seconds.
 */
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { formatProgress, jobDuration, progressFraction } from './core/format';
import {
  describeEndedEarly,
  filterJobs,
  IJob,
  isActive,
  JOB_STATUSES,
  jobNote,
  JobStatus
} from './core/jobs';
import { JobsModel } from './jobsModel';
import { SchedulesView } from './schedulesView';

/** What the buttons of a job row do (implemented by the plugin). */
export interface IJobActions {
  openOutput(job: IJob): Promise<void>;
  viewLog(job: IJob): void;
  cancel(job: IJob): Promise<void>;
  rerun(job: IJob): Promise<void>;
  remove(job: IJob): Promise<void>;
  downloadArtifacts(job: IJob): Promise<void>;
}

function formatTime(iso: string | null): string {
  if (!iso) {
    return '';
  }
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    return '';
  }
  const today = new Date();
  const sameDay = date.toDateString() === today.toDateString();
  return sameDay
    ? date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
    : date.toLocaleString(undefined, {
        month: 'short',
        day: 'numeric',
        hour: '2-digit',
        minute: '2-digit'
      });
}

export class JobsPanel extends Widget {
  private readonly list: HTMLElement;
  private readonly statusLine: HTMLElement;
  private readonly filter: HTMLSelectElement;
  private durationTimer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly model: JobsModel,
    private readonly actions: IJobActions,
    private readonly trans: TranslationBundle,
    private readonly schedules: SchedulesView | null = null
  ) {
    super();
    this.id = 'primehub-jobs-panel';
    this.addClass('jp-PrimeHub-jobsPanel');
    this.title.caption = trans.__('PrimeHub Jobs');

    const header = document.createElement('div');
    header.className = 'jp-PrimeHub-jobsHeader';
    const title = document.createElement('h2');
    title.textContent = trans.__('Jobs');
    header.appendChild(title);

    const filterLabel = document.createElement('label');
    filterLabel.className = 'jp-PrimeHub-filter';
    filterLabel.textContent = trans.__('Status');
    this.filter = document.createElement('select');
    this.filter.className = 'jp-mod-styled';
    this.filter.setAttribute('aria-label', trans.__('Filter jobs by status'));
    const labels: { [key: string]: string } = {
      '': trans.__('All'),
      pending: trans.__('Pending'),
      running: trans.__('Running'),
      succeeded: trans.__('Succeeded'),
      failed: trans.__('Failed'),
      cancelled: trans.__('Cancelled')
    };
    for (const value of ['', ...JOB_STATUSES]) {
      const option = document.createElement('option');
      option.value = value;
      option.textContent = labels[value];
      this.filter.appendChild(option);
    }
    this.filter.addEventListener('change', () => this.render());
    filterLabel.appendChild(this.filter);
    header.appendChild(filterLabel);

    const refresh = document.createElement('button');
    refresh.className = 'jp-Button jp-mod-styled jp-PrimeHub-refresh';
    refresh.textContent = trans.__('Refresh');
    refresh.addEventListener('click', () => void this.model.refresh());
    header.appendChild(refresh);
    this.node.appendChild(header);

    if (schedules) {
      this.node.appendChild(schedules.node);
    }

    this.statusLine = document.createElement('div');
    this.statusLine.className = 'jp-PrimeHub-jobsStatus';
    this.statusLine.setAttribute('role', 'status');
    this.node.appendChild(this.statusLine);

    this.list = document.createElement('ul');
    this.list.className = 'jp-PrimeHub-jobList';
    this.list.setAttribute('aria-label', trans.__('Jobs'));
    this.node.appendChild(this.list);

    model.changed.connect(this.render, this);
    this.render();
  }

  /** Show only jobs with this status ('' = all). */
  setFilter(status: JobStatus | ''): void {
    this.filter.value = status;
    this.render();
  }

  protected onAfterShow(): void {
    void this.model.refresh();
    this.schedules?.start();
    // Running durations tick between refreshes.
    this.durationTimer = setInterval(() => {
      if (this.model.jobs.some(isActive)) {
        this.render();
      }
    }, 1000);
  }

  protected onAfterHide(): void {
    this.schedules?.stop();
    if (this.durationTimer !== null) {
      clearInterval(this.durationTimer);
      this.durationTimer = null;
    }
  }

  dispose(): void {
    this.onAfterHide();
    super.dispose();
  }

  private render(): void {
    const trans = this.trans;
    const active = document.activeElement as HTMLElement | null;
    const focusKey =
      active && this.node.contains(active)
        ? active.dataset.focusKey
        : undefined;

    const status = this.filter.value as JobStatus | '';
    const jobs = filterJobs(this.model.jobs, status);
    let message: string;
    if (this.model.error) {
      message = trans.__('Could not load jobs: %1', this.model.error);
    } else if (!this.model.loaded) {
      message = trans.__('Loading jobs…');
    } else if (jobs.length === 0) {
      message = status
        ? trans.__('No %1 jobs.', status)
        : trans.__(
            'No jobs yet. Use PrimeHub > Submit Notebook as Job… on a notebook.'
          );
    } else if (this.model.total > this.model.jobs.length) {
      message = trans.__(
        'Showing the newest %1 of %2 jobs.',
        this.model.jobs.length,
        this.model.total
      );
    } else {
      message = '';
    }
    // A live region: only touch it when the text changes, so it is not re-announced every second.
    if (this.statusLine.textContent !== message) {
      this.statusLine.textContent = message;
    }
    this.statusLine.classList.toggle('jp-PrimeHub-error', !!this.model.error);

    this.list.replaceChildren(...jobs.map(job => this.renderJob(job)));
    if (focusKey) {
      const target = this.node.querySelector<HTMLElement>(
        `[data-focus-key="${CSS.escape(focusKey)}"]`
      );
      target?.focus();
    }
  }

  private button(
    job: IJob,
    action: string,
    label: string,
    run: () => void
  ): HTMLElement {
    const button = document.createElement('button');
    button.className = `jp-Button jp-mod-styled jp-PrimeHub-action jp-PrimeHub-action-${action}`;
    button.textContent = label;
    button.title = `${label}: ${job.name}`;
    button.setAttribute('aria-label', `${label}: ${job.name}`);
    button.dataset.action = action;
    button.dataset.focusKey = `${job.id}:${action}`;
    button.addEventListener('click', event => {
      event.stopPropagation();
      run();
    });
    return button;
  }

  private renderJob(job: IJob): HTMLElement {
    const trans = this.trans;
    const item = document.createElement('li');
    item.className = `jp-PrimeHub-job jp-PrimeHub-status-${job.status}`;
    item.dataset.jobId = job.id;
    item.dataset.status = job.status;

    const top = document.createElement('div');
    top.className = 'jp-PrimeHub-jobTop';
    const badge = document.createElement('span');
    badge.className = 'jp-PrimeHub-badge';
    badge.textContent = trans.__(job.status);
    top.appendChild(badge);
    if (describeEndedEarly(job)) {
      item.classList.add('jp-PrimeHub-endedEarly');
      const early = document.createElement('span');
      early.className = 'jp-PrimeHub-badge jp-PrimeHub-earlyBadge';
      early.textContent = trans.__('ended early');
      top.appendChild(early);
    }
    const name = document.createElement('span');
    name.className = 'jp-PrimeHub-jobName';
    name.textContent = job.name;
    name.title = job.name;
    top.appendChild(name);
    item.appendChild(top);

    const notebook = document.createElement('div');
    notebook.className = 'jp-PrimeHub-jobNotebook';
    notebook.textContent = job.path;
    notebook.title = job.path;
    item.appendChild(notebook);

    const progressText = formatProgress(job.progress);
    const meta = document.createElement('div');
    meta.className = 'jp-PrimeHub-jobMeta';
    if (progressText) {
      const bar = document.createElement('progress');
      bar.className = 'jp-PrimeHub-progressBar';
      bar.max = 1;
      bar.value = progressFraction(job.progress);
      bar.setAttribute('aria-label', trans.__('Cells done'));
      meta.appendChild(bar);
      const cells = document.createElement('span');
      cells.className = 'jp-PrimeHub-progress';
      cells.textContent = trans.__('%1 cells', progressText);
      meta.appendChild(cells);
    }
    const created = document.createElement('span');
    created.className = 'jp-PrimeHub-created';
    created.textContent = formatTime(job.createdAt);
    created.title = trans.__(
      'Created %1',
      new Date(job.createdAt).toLocaleString()
    );
    meta.appendChild(created);
    const duration = jobDuration(job.startedAt, job.finishedAt);
    if (duration) {
      const span = document.createElement('span');
      span.className = 'jp-PrimeHub-duration';
      span.textContent = duration;
      span.title = trans.__('Duration');
      meta.appendChild(span);
    }
    if (job.backend && job.backend !== 'local') {
      const backend = document.createElement('span');
      backend.className = 'jp-PrimeHub-backend';
      backend.textContent = [job.backend, job.instanceType]
        .filter(Boolean)
        .join(' · ');
      meta.appendChild(backend);
    }
    item.appendChild(meta);

    const params = Object.entries(job.parameters ?? {});
    if (params.length) {
      const paramLine = document.createElement('div');
      paramLine.className = 'jp-PrimeHub-jobParams';
      paramLine.textContent = params
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(', ');
      item.appendChild(paramLine);
    }

    const note = jobNote(job);
    if (note) {
      const line = document.createElement('div');
      line.className =
        note.kind === 'error' ? 'jp-PrimeHub-jobError' : 'jp-PrimeHub-jobNote';
      line.textContent = note.text;
      line.title = note.text;
      item.appendChild(line);
    }

    const actions = document.createElement('div');
    actions.className = 'jp-PrimeHub-jobActions';
    const a = this.actions;
    if (job.outputPath && !isActive(job)) {
      actions.appendChild(
        this.button(
          job,
          'output',
          trans.__('Open output'),
          () => void a.openOutput(job)
        )
      );
    }
    actions.appendChild(
      this.button(job, 'log', trans.__('Log'), () => a.viewLog(job))
    );
    if (isActive(job)) {
      actions.appendChild(
        this.button(job, 'cancel', trans.__('Cancel'), () => void a.cancel(job))
      );
    } else {
      actions.appendChild(
        this.button(job, 'rerun', trans.__('Re-run'), () => void a.rerun(job))
      );
      actions.appendChild(
        this.button(
          job,
          'artifacts',
          trans.__('Artifacts'),
          () => void a.downloadArtifacts(job)
        )
      );
      actions.appendChild(
        this.button(job, 'delete', trans.__('Delete'), () => void a.remove(job))
      );
    }
    item.appendChild(actions);
    return item;
  }
}
