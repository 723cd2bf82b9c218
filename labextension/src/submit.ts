/**
 * "Submit Notebook as Job": the dialog (job name, parameters, advanced options, remote
 * instance type and image) and the flow around it (read parameters, save, POST, report).
 */
import { Dialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { PrimeHubApiError, PrimeHubClient } from './api';
import { AsyncAcceptDialog } from './asyncDialog';
import {
  browserTimeZone,
  PRESETS,
  Recurrence,
  schedulePreview
} from './core/cron';
import { ISchedule, IScheduleRequest } from './core/schedules';
import {
  backendNames,
  checkJobName,
  defaultJobName,
  hasRemoteBackend,
  IChoice,
  IContext,
  IJob,
  IJobRequest,
  imageFits,
  imageLabel,
  instanceTypeLabel,
  toChoice
} from './core/jobs';
import {
  collectParameters,
  displayValue,
  findParameters,
  ICellLike,
  IParameter,
  ParamValue,
  ParameterValueError,
  parseDuration,
  readValue,
  typeOfValue
} from './core/parameters';

/** What the form needs to know about the notebook and the server. */
export interface ISubmitFormOptions {
  path: string;
  parameters: IParameter[];
  context: IContext;
  /** The notebook's kernel (from its metadata), the default choice. */
  notebookKernel: string | null;
  /** Values of a previous job, for "Re-run". */
  initial?: Partial<IJobRequest>;
  /** The notebook has unsaved changes (they are saved before submitting). */
  dirty: boolean;
  trans: TranslationBundle;
}

let formCounter = 0;

/** How a JSON value is typed back into a parameter field. */
function valueToText(parameter: IParameter, value: ParamValue): string {
  switch (parameter.type) {
    case 'str':
      return typeof value === 'string' ? value : JSON.stringify(value);
    case 'bool':
      return value ? 'True' : 'False';
    default:
      if (value === null) {
        return 'None';
      }
      if (typeof value === 'boolean') {
        return value ? 'True' : 'False';
      }
      return typeof value === 'number' ? String(value) : JSON.stringify(value);
  }
}

function formatSeconds(seconds: number | null | undefined): string {
  return seconds ? String(seconds) : '';
}

/** The body of the submit dialog. `getValue()` returns the job the server created. */
export class SubmitForm extends Widget {
  /** Set by the flow once the server accepted the job. */
  submitted: IJob | null = null;
  private readonly trans: TranslationBundle;
  private readonly uid = `jp-PrimeHub-submit-${++formCounter}`;
  private readonly nameInput: HTMLInputElement;
  private readonly paramInputs = new Map<
    string,
    HTMLInputElement | HTMLTextAreaElement
  >();
  private readonly paramErrors = new Map<string, HTMLElement>();
  private readonly parameters: IParameter[];
  private readonly kernelSelect: HTMLSelectElement;
  private readonly timeoutInput: HTMLInputElement;
  private readonly deadlineInput: HTMLInputElement;
  private readonly backendSelect: HTMLSelectElement | null = null;
  private readonly instanceTypeInput:
    HTMLInputElement | HTMLSelectElement | null = null;
  private readonly imageInput: HTMLInputElement | HTMLSelectElement | null =
    null;
  private readonly remoteSection: HTMLElement | null = null;
  private readonly errorNode: HTMLElement;
  /** Set by the flow once the server created the schedule. */
  scheduled: ISchedule | null = null;
  private readonly scheduleRadio: HTMLInputElement;
  private readonly scheduleSection: HTMLElement;
  private readonly recurrenceSelect: HTMLSelectElement;
  private readonly cronInput: HTMLInputElement;
  private readonly cronRow: HTMLElement;
  private readonly timezoneInput: HTMLInputElement;
  private readonly preview: HTMLElement;

  constructor(private readonly options: ISubmitFormOptions) {
    super();
    this.addClass('jp-PrimeHub-submitForm');
    const trans = (this.trans = options.trans);
    const initial = options.initial ?? {};
    const node = this.node;

    const notebook = document.createElement('p');
    notebook.className = 'jp-PrimeHub-notebookPath';
    notebook.textContent = trans.__('Notebook: %1', options.path);
    node.appendChild(notebook);
    if (options.dirty) {
      const note = document.createElement('p');
      note.className = 'jp-PrimeHub-note';
      note.textContent = trans.__(
        'This notebook has unsaved changes: they are saved before the job is submitted.'
      );
      node.appendChild(note);
    }

    this.nameInput = this.addTextField(
      node,
      'name',
      trans.__('Job name'),
      initial.name ?? defaultJobName(options.path)
    );
    this.nameInput.classList.add('jp-PrimeHub-jobNameInput');
    this.nameInput.addEventListener('input', () => this.checkName());

    // Parameters: the notebook's `parameters` cell, with a previous job's values on re-run.
    this.parameters = [...options.parameters];
    const previous = initial.parameters ?? {};
    for (const [name, value] of Object.entries(previous)) {
      if (!this.parameters.some(p => p.name === name)) {
        const type = typeOfValue(value);
        this.parameters.push({
          name,
          type,
          source: JSON.stringify(value),
          comment: ''
        });
      }
    }
    const fieldset = document.createElement('fieldset');
    fieldset.className = 'jp-PrimeHub-parameters';
    const legend = document.createElement('legend');
    legend.textContent = trans.__('Parameters');
    fieldset.appendChild(legend);
    if (this.parameters.length === 0) {
      const none = document.createElement('p');
      none.className = 'jp-PrimeHub-note';
      none.textContent = trans.__(
        'No cell tagged "parameters" in this notebook. Tag a cell "parameters" to set its values per job.'
      );
      fieldset.appendChild(none);
    }
    for (const parameter of this.parameters) {
      const text =
        parameter.name in previous
          ? valueToText(parameter, previous[parameter.name])
          : parameter.value === undefined
            ? parameter.source
            : displayValue(parameter);
      this.addParameterField(fieldset, parameter, text);
    }
    node.appendChild(fieldset);

    // When: now, or on a schedule (kept by the hub's jobs service, so Kubernetes only).
    const canSchedule = hasRemoteBackend(options.context);
    const when = document.createElement('fieldset');
    when.className = 'jp-PrimeHub-when';
    const whenLegend = document.createElement('legend');
    whenLegend.textContent = trans.__('When');
    when.appendChild(whenLegend);
    const radio = (value: string, label: string): HTMLInputElement => {
      const row = document.createElement('label');
      row.className = 'jp-PrimeHub-radio';
      const input = document.createElement('input');
      input.type = 'radio';
      input.name = `${this.uid}-when`;
      input.value = value;
      row.append(input, label);
      when.appendChild(row);
      return input;
    };
    const nowRadio = radio('now', trans.__('Run now'));
    nowRadio.checked = true;
    this.scheduleRadio = radio('schedule', trans.__('Run on a schedule'));
    this.scheduleRadio.disabled = !canSchedule || !!options.initial;
    if (!canSchedule) {
      const note = document.createElement('p');
      note.className = 'jp-PrimeHub-note jp-PrimeHub-scheduleUnavailable';
      note.textContent = trans.__(
        "Schedules run as Kubernetes jobs through the hub's jobs service, which this server does not use."
      );
      when.appendChild(note);
    }
    this.scheduleSection = document.createElement('div');
    this.scheduleSection.className = 'jp-PrimeHub-scheduleSection';
    this.scheduleSection.hidden = true;
    this.recurrenceSelect = this.addSelect(
      this.scheduleSection,
      'recurrence',
      trans.__('Repeat'),
      [
        { value: 'daily', label: trans.__('Daily at 04:00') },
        { value: 'weekly', label: trans.__('Weekly on Sunday at 04:00') },
        { value: 'monthly', label: trans.__('Monthly on the 1st at 04:00') },
        { value: 'custom', label: trans.__('Custom (cron expression)') }
      ],
      'custom'
    );
    this.cronInput = this.addTextField(
      this.scheduleSection,
      'cron',
      trans.__('Cron expression'),
      PRESETS.daily,
      trans.__(
        'minute hour day-of-month month day-of-week, e.g. */15 * * * * or 30 9 * * mon-fri'
      )
    );
    this.cronInput.classList.add('jp-PrimeHub-cronInput');
    this.cronRow = this.cronInput.parentElement as HTMLElement;
    this.timezoneInput = this.addTextField(
      this.scheduleSection,
      'timezone',
      trans.__('Time zone'),
      browserTimeZone(),
      trans.__('IANA name, e.g. UTC, Asia/Taipei, Europe/Berlin')
    );
    this.timezoneInput.classList.add('jp-PrimeHub-timezoneInput');
    this.preview = document.createElement('div');
    this.preview.className = 'jp-PrimeHub-schedulePreview';
    this.preview.setAttribute('aria-live', 'polite');
    this.scheduleSection.appendChild(this.preview);
    const savedNote = document.createElement('p');
    savedNote.className = 'jp-PrimeHub-note';
    savedNote.textContent = trans.__(
      'Each run uses the notebook as it is saved when the run starts; every run is listed as a job.'
    );
    this.scheduleSection.appendChild(savedNote);
    when.appendChild(this.scheduleSection);
    node.appendChild(when);
    for (const input of [nowRadio, this.scheduleRadio]) {
      input.addEventListener('change', () => this.updateWhen());
    }
    this.recurrenceSelect.addEventListener('change', () =>
      this.updatePreview()
    );
    this.cronInput.addEventListener('input', () => this.updatePreview());
    this.timezoneInput.addEventListener('input', () => this.updatePreview());

    // Advanced: kernel, per-cell timeout, whole-job deadline, backend.
    const advanced = document.createElement('details');
    advanced.className = 'jp-PrimeHub-advanced';
    const summary = document.createElement('summary');
    summary.textContent = trans.__('Advanced');
    advanced.appendChild(summary);
    const kernels: IChoice[] = options.context.kernels ?? [];
    const kernelDefault = initial.kernel ?? options.notebookKernel ?? '';
    const kernelChoices = kernels.map(k => ({
      value: k.name,
      label: k.displayName ? `${k.displayName} (${k.name})` : k.name
    }));
    if (kernelDefault && !kernels.some(k => k.name === kernelDefault)) {
      kernelChoices.unshift({ value: kernelDefault, label: kernelDefault });
    }
    if (!kernelDefault) {
      kernelChoices.unshift({ value: '', label: trans.__('Notebook default') });
    }
    this.kernelSelect = this.addSelect(
      advanced,
      'kernel',
      trans.__('Kernel'),
      kernelChoices,
      kernelDefault
    );
    const defaults = options.context.defaults ?? {};
    this.timeoutInput = this.addTextField(
      advanced,
      'timeout',
      trans.__('Per-cell timeout'),
      formatSeconds(initial.timeout),
      defaults.timeout
        ? trans.__(
            'Seconds or 30m, 2h. Empty: server default (%1 s).',
            defaults.timeout
          )
        : trans.__('Seconds or 30m, 2h. Empty: no limit.')
    );
    this.deadlineInput = this.addTextField(
      advanced,
      'deadline',
      trans.__('Deadline for the whole job'),
      formatSeconds(initial.deadline),
      defaults.deadline
        ? trans.__(
            'Seconds or 30m, 2h, 1d. Empty: server default (%1 s).',
            defaults.deadline
          )
        : trans.__('Seconds or 30m, 2h, 1d. Empty: no limit.')
    );
    const backends = backendNames(options.context);
    if (backends.length > 1) {
      const choices = options.context.backends.map(b => {
        const choice = toChoice(b);
        return {
          value: choice.name,
          label: choice.description
            ? `${choice.name}: ${choice.description}`
            : choice.name
        };
      });
      const backendDefault =
        initial.backend ??
        options.context.defaultBackend ??
        (backends.includes('kubernetes') ? 'kubernetes' : backends[0]);
      this.backendSelect = this.addSelect(
        advanced,
        'backend',
        trans.__('Run on'),
        choices,
        backendDefault
      );
      this.backendSelect.addEventListener('change', () => this.updateRemote());
    }
    node.appendChild(advanced);

    // Remote backend: the group's instance types and images, this server's as defaults.
    if (hasRemoteBackend(options.context)) {
      const remote = document.createElement('fieldset');
      remote.className = 'jp-PrimeHub-remote';
      const remoteLegend = document.createElement('legend');
      remoteLegend.textContent = trans.__('Resources (Kubernetes job)');
      remote.appendChild(remoteLegend);
      this.instanceTypeInput = this.addChoiceField(
        remote,
        'instanceType',
        trans.__('Instance type'),
        options.context.instanceTypes,
        initial.instanceType ?? options.context.instanceType ?? '',
        instanceTypeLabel
      );
      this.imageInput = this.addChoiceField(
        remote,
        'image',
        trans.__('Image'),
        options.context.images,
        initial.image ?? options.context.image ?? '',
        imageLabel
      );
      this.instanceTypeInput.addEventListener('change', () =>
        this.checkImage()
      );
      this.imageInput.addEventListener('change', () => this.checkImage());
      this.checkImage();
      node.appendChild(remote);
      this.remoteSection = remote;
      this.updateRemote();
    }

    this.errorNode = document.createElement('div');
    this.errorNode.className = 'jp-PrimeHub-formError';
    this.errorNode.setAttribute('role', 'alert');
    this.errorNode.hidden = true;
    node.appendChild(this.errorNode);
    // A form-level message is about the last attempt: editing anything makes it stale.
    node.addEventListener('input', () => this.showError(''));
  }

  getValue(): IJob | null {
    return this.submitted;
  }

  /** Whether "Run on a schedule" is chosen. */
  get isSchedule(): boolean {
    return this.scheduleRadio.checked;
  }

  private updateWhen(): void {
    const schedule = this.isSchedule;
    this.scheduleSection.hidden = !schedule;
    if (this.backendSelect) {
      if (schedule) {
        this.backendSelect.value = 'kubernetes';
      }
      this.backendSelect.disabled = schedule;
    }
    this.updateRemote();
    this.updatePreview();
  }

  /** The recurrence in words and its next runs in the chosen zone; returns the problem. */
  private updatePreview(): string | null {
    const recurrence = this.recurrenceSelect.value as Recurrence;
    this.cronRow.hidden = recurrence !== 'custom';
    const zone = this.timezoneInput.value.trim();
    const result = schedulePreview(
      recurrence,
      this.cronInput.value,
      zone,
      new Date()
    );
    const error = result.error;
    const zoneProblem = error && error.startsWith('timezone:') ? error : '';
    this.setFieldError(
      this.timezoneInput,
      this.errorNodeOf(this.timezoneInput),
      zoneProblem
    );
    this.setFieldError(
      this.cronInput,
      this.errorNodeOf(this.cronInput),
      error && !zoneProblem ? error : ''
    );
    const children: HTMLElement[] = [];
    if (!error) {
      const description = document.createElement('p');
      description.className = 'jp-PrimeHub-cronDescription';
      description.textContent = result.description;
      children.push(description);
      const heading = document.createElement('p');
      heading.className = 'jp-PrimeHub-help';
      heading.textContent = this.trans.__('Next runs (%1):', zone);
      children.push(heading);
      const runs = document.createElement('ul');
      runs.className = 'jp-PrimeHub-nextRuns';
      for (const run of result.runs) {
        const item = document.createElement('li');
        item.textContent = run;
        runs.appendChild(item);
      }
      children.push(runs);
    }
    this.preview.replaceChildren(...children);
    return error;
  }

  /** The schedule to create, or null when a field must be fixed first. */
  buildScheduleRequest(): IScheduleRequest | null {
    const problem = this.updatePreview();
    const request = this.buildRequest();
    if (problem) {
      this.showError(this.trans.__('Please fix the highlighted fields.'));
      const bad = problem.startsWith('timezone:')
        ? this.timezoneInput
        : this.cronInput;
      bad.focus();
      return null;
    }
    if (!request) {
      return null;
    }
    const recurrence = this.recurrenceSelect.value as Recurrence;
    const fields: Partial<IJobRequest> = { ...request };
    delete fields.backend; // schedules always run on the Kubernetes backend
    return {
      path: request.path,
      ...fields,
      recurrence,
      ...(recurrence === 'custom' ? { cron: this.cronInput.value.trim() } : {}),
      timezone: this.timezoneInput.value.trim()
    };
  }

  /** Show an error (from validation or the server) in the dialog. */
  showError(message: string): void {
    this.errorNode.textContent = message;
    this.errorNode.hidden = !message;
  }

  private fieldId(key: string): string {
    return `${this.uid}-${key}`;
  }

  private addLabel(
    parent: HTMLElement,
    key: string,
    text: string
  ): HTMLElement {
    const row = document.createElement('div');
    row.className = 'jp-PrimeHub-field';
    const label = document.createElement('label');
    label.htmlFor = this.fieldId(key);
    label.textContent = text;
    row.appendChild(label);
    parent.appendChild(row);
    return row;
  }

  private addHelp(
    row: HTMLElement,
    key: string,
    help: string | undefined
  ): void {
    const error = document.createElement('div');
    error.className = 'jp-PrimeHub-fieldError';
    error.id = this.fieldId(`${key}-error`);
    error.hidden = true;
    row.appendChild(error);
    if (help) {
      const note = document.createElement('div');
      note.className = 'jp-PrimeHub-help';
      note.id = this.fieldId(`${key}-help`);
      note.textContent = help;
      row.appendChild(note);
    }
  }

  private addTextField(
    parent: HTMLElement,
    key: string,
    label: string,
    value: string,
    help?: string
  ): HTMLInputElement {
    const row = this.addLabel(parent, key, label);
    const input = document.createElement('input');
    input.type = 'text';
    input.id = this.fieldId(key);
    input.name = key;
    input.value = value;
    input.className = 'jp-mod-styled jp-PrimeHub-input';
    input.setAttribute(
      'aria-describedby',
      `${this.fieldId(`${key}-error`)} ${help ? this.fieldId(`${key}-help`) : ''}`.trim()
    );
    row.appendChild(input);
    this.addHelp(row, key, help);
    return input;
  }

  private addSelect(
    parent: HTMLElement,
    key: string,
    label: string,
    choices: { value: string; label: string }[],
    selected: string
  ): HTMLSelectElement {
    const row = this.addLabel(parent, key, label);
    const select = document.createElement('select');
    select.id = this.fieldId(key);
    select.name = key;
    select.className = 'jp-mod-styled jp-PrimeHub-input';
    for (const choice of choices) {
      const option = document.createElement('option');
      option.value = choice.value;
      option.textContent = choice.label;
      option.selected = choice.value === selected;
      select.appendChild(option);
    }
    row.appendChild(select);
    this.addHelp(row, key, undefined);
    return select;
  }

  /** A select when the server lists the choices, else a text field with the default. */
  private addChoiceField(
    parent: HTMLElement,
    key: string,
    label: string,
    choices: (IChoice | string)[] | undefined,
    selected: string,
    describe: (choice: IChoice | string) => string
  ): HTMLInputElement | HTMLSelectElement {
    if (choices && choices.length) {
      const options = choices.map(c => ({
        value: toChoice(c).name,
        label: describe(c)
      }));
      if (selected && !options.some(o => o.value === selected)) {
        options.unshift({ value: selected, label: selected });
      }
      return this.addSelect(parent, key, label, options, selected);
    }
    return this.addTextField(
      parent,
      key,
      label,
      selected,
      this.trans.__("Empty: this server's own.")
    );
  }

  private addParameterField(
    parent: HTMLElement,
    parameter: IParameter,
    text: string
  ): void {
    const key = `param-${parameter.name}`;
    const typeLabel =
      parameter.type === 'expression'
        ? this.trans.__('expression')
        : parameter.type;
    const row = this.addLabel(parent, key, `${parameter.name} (${typeLabel})`);
    row.classList.add('jp-PrimeHub-parameter');
    row.dataset.parameter = parameter.name;
    let input: HTMLInputElement | HTMLTextAreaElement;
    if (
      parameter.type === 'list' ||
      parameter.type === 'dict' ||
      text.includes('\n')
    ) {
      input = document.createElement('textarea');
      input.rows = Math.min(6, Math.max(2, text.split('\n').length));
    } else {
      input = document.createElement('input');
      input.type = 'text';
    }
    input.id = this.fieldId(key);
    input.name = parameter.name;
    input.value = text;
    input.className = 'jp-mod-styled jp-PrimeHub-input';
    input.spellcheck = false;
    input.setAttribute('aria-describedby', this.fieldId(`${key}-error`));
    input.addEventListener('input', () => this.checkParameter(parameter));
    row.appendChild(input);
    let help = parameter.comment;
    if (parameter.type === 'str') {
      help = [help, this.trans.__('Text, without quotes.')]
        .filter(Boolean)
        .join(' · ');
    } else if (parameter.type === 'expression') {
      help = [
        help,
        this.trans.__('Kept as written unless you type a literal value.')
      ]
        .filter(Boolean)
        .join(' · ');
    }
    this.addHelp(row, key, help || undefined);
    this.paramInputs.set(parameter.name, input);
    this.paramErrors.set(
      parameter.name,
      row.querySelector('.jp-PrimeHub-fieldError') as HTMLElement
    );
  }

  private setFieldError(
    input: HTMLElement,
    errorNode: HTMLElement | null,
    message: string
  ) {
    if (errorNode) {
      errorNode.textContent = message;
      errorNode.hidden = !message;
    }
    if (message) {
      input.setAttribute('aria-invalid', 'true');
      input.classList.add('jp-PrimeHub-invalid');
    } else {
      input.removeAttribute('aria-invalid');
      input.classList.remove('jp-PrimeHub-invalid');
    }
  }

  private errorNodeOf(input: HTMLElement): HTMLElement | null {
    return this.node.querySelector(`#${CSS.escape(input.id)}-error`);
  }

  private checkName(): string | null {
    const problem = checkJobName(this.nameInput.value);
    this.setFieldError(
      this.nameInput,
      this.errorNodeOf(this.nameInput),
      problem ? this.trans.__(problem) : ''
    );
    return problem;
  }

  private checkParameter(parameter: IParameter): string | null {
    const input = this.paramInputs.get(parameter.name)!;
    let problem: string | null = null;
    const untouchedExpression =
      parameter.type === 'expression' &&
      input.value.trim() === parameter.source.trim();
    if (!untouchedExpression) {
      try {
        readValue(parameter, input.value);
      } catch (err) {
        problem = err instanceof Error ? err.message : String(err);
      }
    }
    this.setFieldError(
      input,
      this.paramErrors.get(parameter.name) ?? null,
      problem ?? ''
    );
    return problem;
  }

  private checkDuration(input: HTMLInputElement): number | null | undefined {
    try {
      const seconds = parseDuration(input.value);
      this.setFieldError(input, this.errorNodeOf(input), '');
      return seconds;
    } catch (err) {
      const message =
        err instanceof ParameterValueError ? err.message : String(err);
      this.setFieldError(input, this.errorNodeOf(input), message);
      return undefined;
    }
  }

  /** The chosen instance type and image as the server described them (if it did). */
  private chosen(
    list: (IChoice | string)[] | undefined,
    name: string | undefined
  ) {
    return (list ?? []).map(toChoice).find(c => c.name === name);
  }

  /**
   * GPU-only images are disabled for instance types without GPU (as in the spawn form);
   * returns the problem with the current pair, if any.
   */
  private checkImage(): string | null {
    const input = this.imageInput;
    if (!input) {
      return null;
    }
    const context = this.options.context;
    const instanceType = this.chosen(
      context.instanceTypes,
      this.instanceTypeInput?.value
    );
    if (input instanceof HTMLSelectElement) {
      for (const option of Array.from(input.options)) {
        option.disabled = !imageFits(
          this.chosen(context.images, option.value),
          instanceType
        );
      }
    }
    const image = this.chosen(context.images, input.value);
    const problem = imageFits(image, instanceType)
      ? null
      : this.trans.__(
          'Image %1 needs an instance type with a GPU.',
          input.value
        );
    this.setFieldError(input, this.errorNodeOf(input), problem ?? '');
    return problem;
  }

  private updateRemote(): void {
    if (!this.remoteSection) {
      return;
    }
    const backend = this.backendSelect?.value ?? 'kubernetes';
    this.remoteSection.hidden = backend !== 'kubernetes';
  }

  /**
   * Validate every field, showing each problem next to its field. Returns the request, or
   * null when something must be fixed first (focus moves to the first bad field).
   */
  buildRequest(): IJobRequest | null {
    const bad: HTMLElement[] = [];
    if (this.checkName()) {
      bad.push(this.nameInput);
    }
    for (const parameter of this.parameters) {
      if (this.checkParameter(parameter)) {
        bad.push(this.paramInputs.get(parameter.name)!);
      }
    }
    if (this.remoteSection && !this.remoteSection.hidden && this.checkImage()) {
      bad.push(this.imageInput!);
    }
    const timeout = this.checkDuration(this.timeoutInput);
    if (timeout === undefined) {
      bad.push(this.timeoutInput);
    }
    const deadline = this.checkDuration(this.deadlineInput);
    if (deadline === undefined) {
      bad.push(this.deadlineInput);
    }
    if (bad.length) {
      this.showError(this.trans.__('Please fix the highlighted fields.'));
      bad[0].focus();
      return null;
    }
    const texts: { [name: string]: string } = {};
    for (const [name, input] of this.paramInputs) {
      texts[name] = input.value;
    }
    // Parameters a previous job set but the notebook does not define are sent as they are.
    const notebookNames = new Set(this.options.parameters.map(p => p.name));
    const parameters = collectParameters(this.parameters, texts);
    for (const parameter of this.parameters) {
      if (
        !notebookNames.has(parameter.name) &&
        !(parameter.name in parameters)
      ) {
        parameters[parameter.name] = readValue(
          parameter,
          texts[parameter.name]
        );
      }
    }
    const request: IJobRequest = {
      path: this.options.path,
      name: this.nameInput.value.trim()
    };
    if (Object.keys(parameters).length) {
      request.parameters = parameters;
    }
    if (this.kernelSelect.value) {
      request.kernel = this.kernelSelect.value;
    }
    if (timeout) {
      request.timeout = timeout;
    }
    if (deadline) {
      request.deadline = deadline;
    }
    const backend = this.backendSelect?.value;
    if (backend) {
      request.backend = backend;
    }
    if (this.remoteSection && !this.remoteSection.hidden) {
      if (this.instanceTypeInput?.value) {
        request.instanceType = this.instanceTypeInput.value;
      }
      if (this.imageInput?.value) {
        request.image = this.imageInput.value;
      }
    }
    this.showError('');
    return request;
  }
}

/** Everything the submit flow needs from the application. */
export interface ISubmitFlowOptions {
  client: PrimeHubClient;
  path: string;
  /** Cells of the notebook as nbformat JSON (from the open widget or the file). */
  cells: ICellLike[];
  notebookKernel: string | null;
  dirty: boolean;
  /** Save the open notebook (called right before the job is sent). */
  save?: () => Promise<void>;
  initial?: Partial<IJobRequest>;
  trans: TranslationBundle;
  /** Called when the dialog created a schedule instead of a job. */
  onScheduled?: (schedule: ISchedule) => void;
}

/**
 * Show the submit dialog; resolves with the created job, or null when the user cancelled.
 * Validation problems and server errors are shown in the dialog, which stays open.
 */
export async function showSubmitDialog(
  options: ISubmitFlowOptions
): Promise<IJob | null> {
  const { client, trans } = options;
  const context = await client.context();
  const form = new SubmitForm({
    path: options.path,
    parameters: findParameters(options.cells),
    context,
    notebookKernel: options.notebookKernel,
    initial: options.initial,
    dirty: options.dirty,
    trans
  });
  const submit = async (): Promise<boolean> => {
    let request: IJobRequest | null;
    let schedule: IScheduleRequest | null = null;
    try {
      if (form.isSchedule) {
        schedule = form.buildScheduleRequest();
        request = schedule ? form.buildRequest() : null;
      } else {
        request = form.buildRequest();
      }
    } catch (err) {
      form.showError(err instanceof Error ? err.message : String(err));
      return false;
    }
    if (!request) {
      return false;
    }
    try {
      if (options.save) {
        await options.save();
      }
    } catch (err) {
      form.showError(
        trans.__(
          'Could not save the notebook: %1',
          err instanceof Error ? err.message : String(err)
        )
      );
      return false;
    }
    try {
      if (schedule) {
        form.scheduled = await client.createSchedule(schedule);
      } else {
        form.submitted = await client.submit(request);
      }
      return true;
    } catch (err) {
      const message =
        err instanceof PrimeHubApiError
          ? err.message
          : err instanceof Error
            ? err.message
            : String(err);
      form.showError(
        schedule
          ? trans.__('The schedule was not created: %1', message)
          : trans.__('The job was not submitted: %1', message)
      );
      return false;
    }
  };
  const dialog = new AsyncAcceptDialog<IJob | null>(
    {
      title: options.initial
        ? trans.__('Re-run Notebook as Job')
        : trans.__('Submit Notebook as Job'),
      body: form,
      buttons: [
        Dialog.cancelButton({ label: trans.__('Cancel') }),
        Dialog.okButton({ label: trans.__('Submit') })
      ],
      focusNodeSelector: '.jp-PrimeHub-jobNameInput'
    },
    submit,
    trans.__('Submitting…')
  );
  dialog.addClass('jp-PrimeHub-submitDialog');
  const result = await dialog.launch();
  if (result.button.accept && form.scheduled) {
    options.onScheduled?.(form.scheduled);
    return null;
  }
  return result.button.accept ? result.value : null;
}
