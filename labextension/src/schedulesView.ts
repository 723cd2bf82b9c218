/**
 * The schedules section of the jobs panel: each schedule of the user (kept by the hub's
 * primehub-jobs service) with its recurrence, next run in its time zone, last result, and
 * pause/resume, run now and delete. Every run is a job of the list below it.
 */
import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';

import { PrimeHubClient } from './api';
import { formatRun } from './core/cron';
import {
  describeSchedule,
  ISchedule,
  IScheduleList,
  lastResult
} from './core/schedules';

export class SchedulesView {
  readonly node: HTMLElement;
  private readonly statusLine: HTMLElement;
  private readonly list: HTMLElement;
  private listing: IScheduleList | null = null;
  private error: string | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly client: PrimeHubClient,
    private readonly trans: TranslationBundle,
    /** Called after a run was started (the jobs list shows it). */
    private readonly onRun: () => void
  ) {
    const node = (this.node = document.createElement('section'));
    node.className = 'jp-PrimeHub-schedules';
    const title = document.createElement('h2');
    title.className = 'jp-PrimeHub-schedulesTitle';
    title.textContent = trans.__('Schedules');
    node.appendChild(title);
    this.statusLine = document.createElement('div');
    this.statusLine.className = 'jp-PrimeHub-schedulesStatus';
    this.statusLine.setAttribute('role', 'status');
    node.appendChild(this.statusLine);
    this.list = document.createElement('ul');
    this.list.className = 'jp-PrimeHub-scheduleList';
    this.list.setAttribute('aria-label', trans.__('Schedules'));
    node.appendChild(this.list);
    this.render();
  }

  /** List again now. */
  async refresh(): Promise<void> {
    try {
      this.listing = await this.client.schedules();
      this.error = null;
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
    }
    this.render();
  }

  /** Keep the list fresh while the panel is shown (next runs move, runs end). */
  start(seconds = 15): void {
    this.stop();
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), seconds * 1000);
  }

  stop(): void {
    if (this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private render(): void {
    const trans = this.trans;
    let message = '';
    if (this.error) {
      message = trans.__('Could not load schedules: %1', this.error);
    } else if (!this.listing) {
      message = trans.__('Loading schedules…');
    } else if (!this.listing.available) {
      message =
        this.listing.message ??
        trans.__('Schedules need the hub jobs service (Kubernetes jobs).');
    } else if (!this.listing.schedules.length) {
      message = trans.__(
        'No schedules. Choose "Run on a schedule" when you submit a notebook.'
      );
    }
    if (this.statusLine.textContent !== message) {
      this.statusLine.textContent = message;
    }
    this.statusLine.classList.toggle('jp-PrimeHub-error', !!this.error);
    const schedules = this.listing?.schedules ?? [];
    this.list.replaceChildren(...schedules.map(s => this.renderSchedule(s)));
  }

  private renderSchedule(schedule: ISchedule): HTMLElement {
    const trans = this.trans;
    const item = document.createElement('li');
    item.className = 'jp-PrimeHub-schedule';
    item.dataset.scheduleId = schedule.id;
    item.dataset.paused = String(schedule.paused);

    const top = document.createElement('div');
    top.className = 'jp-PrimeHub-jobTop';
    const badge = document.createElement('span');
    badge.className = 'jp-PrimeHub-badge jp-PrimeHub-scheduleBadge';
    badge.textContent = schedule.paused
      ? trans.__('paused')
      : trans.__('active');
    top.appendChild(badge);
    const name = document.createElement('span');
    name.className = 'jp-PrimeHub-scheduleName';
    name.textContent = schedule.name;
    name.title = schedule.notebookPath ?? schedule.path;
    top.appendChild(name);
    item.appendChild(top);

    const when = document.createElement('div');
    when.className = 'jp-PrimeHub-scheduleWhen';
    when.textContent = describeSchedule(schedule);
    item.appendChild(when);

    const next = document.createElement('div');
    next.className = 'jp-PrimeHub-scheduleNext';
    if (schedule.nextRunAt) {
      let text: string;
      try {
        text = formatRun(new Date(schedule.nextRunAt), schedule.timezone);
      } catch {
        text = new Date(schedule.nextRunAt).toLocaleString();
      }
      next.textContent = trans.__('Next run: %1 (%2)', text, schedule.timezone);
    } else {
      next.textContent = schedule.paused
        ? trans.__('Paused: no next run')
        : trans.__('No next run');
    }
    item.appendChild(next);

    const last = document.createElement('div');
    last.className = 'jp-PrimeHub-scheduleLast';
    last.dataset.status = schedule.lastStatus ?? '';
    last.textContent = [
      lastResult(schedule),
      schedule.runs ? trans.__('runs: %1', schedule.runs) : '',
      schedule.skipped ? trans.__('skipped: %1', schedule.skipped) : ''
    ]
      .filter(Boolean)
      .join(' · ');
    item.appendChild(last);

    const actions = document.createElement('div');
    actions.className = 'jp-PrimeHub-jobActions';
    actions.appendChild(
      this.button(
        schedule,
        schedule.paused ? 'resume' : 'pause',
        schedule.paused ? trans.__('Resume') : trans.__('Pause'),
        () => this.client.pauseSchedule(schedule.id, !schedule.paused)
      )
    );
    actions.appendChild(
      this.button(schedule, 'run', trans.__('Run now'), async () => {
        await this.client.runSchedule(schedule.id);
        this.onRun();
      })
    );
    actions.appendChild(
      this.button(schedule, 'delete', trans.__('Delete'), async () => {
        const answer = await showDialog({
          title: trans.__('Delete schedule'),
          body: trans.__(
            'Delete schedule "%1"? The jobs it ran stay.',
            schedule.name
          ),
          buttons: [
            Dialog.cancelButton({ label: trans.__('Cancel') }),
            Dialog.warnButton({ label: trans.__('Delete') })
          ]
        });
        if (answer.button.accept) {
          await this.client.deleteSchedule(schedule.id);
        }
      })
    );
    item.appendChild(actions);
    return item;
  }

  private button(
    schedule: ISchedule,
    action: string,
    label: string,
    run: () => Promise<unknown>
  ): HTMLElement {
    const button = document.createElement('button');
    button.className = `jp-Button jp-mod-styled jp-PrimeHub-action jp-PrimeHub-action-${action}`;
    button.textContent = label;
    button.title = `${label}: ${schedule.name}`;
    button.setAttribute('aria-label', `${label}: ${schedule.name}`);
    button.dataset.action = action;
    button.addEventListener('click', async event => {
      event.stopPropagation();
      button.disabled = true;
      try {
        await run();
      } catch (err) {
        await showErrorMessage(
          this.trans.__('Schedule "%1"', schedule.name),
          err as Error
        );
      } finally {
        button.disabled = false;
      }
      await this.refresh();
    });
    return button;
  }
}
