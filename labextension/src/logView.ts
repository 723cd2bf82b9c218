/**
 * A job's log in the main area: read in chunks from the server, followed live while the job
 * is pending or running, kept scrolled to the end unless the user scrolled up.
 */
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { PrimeHubClient } from './api';
import { IJob, isActive } from './core/jobs';

export class JobLogView extends Widget {
  private readonly pre: HTMLPreElement;
  private readonly statusLine: HTMLElement;
  private offset = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;

  constructor(
    private readonly client: PrimeHubClient,
    private job: IJob,
    private readonly trans: TranslationBundle,
    private readonly intervalSeconds = 2
  ) {
    super();
    this.addClass('jp-PrimeHub-logView');
    this.statusLine = document.createElement('div');
    this.statusLine.className = 'jp-PrimeHub-logStatus';
    this.statusLine.setAttribute('role', 'status');
    this.pre = document.createElement('pre');
    this.pre.className = 'jp-PrimeHub-log';
    this.pre.tabIndex = 0; // scrollable with the keyboard
    this.pre.setAttribute('aria-label', trans.__('Log of job %1', job.name));
    this.node.appendChild(this.statusLine);
    this.node.appendChild(this.pre);
    void this.poll();
  }

  private updateStatus(): void {
    this.statusLine.textContent = isActive(this.job)
      ? this.trans.__(
          'Job %1 is %2; the log updates live.',
          this.job.name,
          this.job.status
        )
      : this.trans.__('Job %1 %2.', this.job.name, this.job.status);
  }

  private async poll(): Promise<void> {
    if (this.stopped) {
      return;
    }
    try {
      const atEnd =
        this.pre.scrollTop + this.pre.clientHeight >= this.pre.scrollHeight - 8;
      // Read the job first: a log read after a final status is complete.
      this.job = await this.client.get(this.job.id);
      for (;;) {
        const chunk = await this.client.log(this.job.id, this.offset);
        if (!chunk.text || chunk.nextOffset <= this.offset) {
          break;
        }
        this.pre.appendChild(document.createTextNode(chunk.text));
        this.offset = chunk.nextOffset;
      }
      if (!this.pre.textContent) {
        this.pre.textContent = '';
      }
      if (atEnd) {
        this.pre.scrollTop = this.pre.scrollHeight;
      }
      this.updateStatus();
    } catch (err) {
      this.statusLine.textContent = this.trans.__(
        'Could not read the log: %1',
        err instanceof Error ? err.message : String(err)
      );
    }
    if (isActive(this.job) && !this.stopped) {
      this.timer = setTimeout(
        () => void this.poll(),
        this.intervalSeconds * 1000
      );
    }
  }

  dispose(): void {
    this.stopped = true;
    if (this.timer !== null) {
      clearTimeout(this.timer);
    }
    super.dispose();
  }
}
