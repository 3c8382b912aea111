/**
 * "Submit to queue": a dialog whose form is generated from the entry point's parameters,
 * checked by the server as the user types (debounced) and again on submit; the dialog
 * stays open until the jobs are queued.
 */
import { Dialog, showErrorMessage } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import type { DioptraClient } from './api';
import {
  boundsText,
  choiceText,
  defaultExperiment,
  defaultText,
  formValues,
  gridSize,
  IFieldText,
  IFormValues,
  placeProblems
} from './params';
import { errorMessage, errorProblems } from './requests';
import type {
  IEntryPointInfo,
  IParameterInfo,
  IProblemInfo,
  ISubmitAnswer,
  ISubmitRequest
} from './types';
import { el } from './dom';

/** How long the form waits after the last keystroke before asking the server (ms). */
export const VALIDATE_DELAY_MS = 400;

/** The default queue when the stack lists none. */
export const DEFAULT_QUEUE = 'cpu';

interface IField {
  info: IParameterInfo;
  node: HTMLElement;
  input: HTMLInputElement | HTMLSelectElement;
  sweep: HTMLInputElement;
  error: HTMLElement;
}

let fieldCounter = 0;

function option(value: string, label: string = value): HTMLOptionElement {
  const node = document.createElement('option');
  node.value = value;
  node.textContent = label;
  return node;
}

/** The form of one entry point: a field per parameter, experiment and queue. */
export class SubmitForm extends Widget {
  constructor(
    readonly client: DioptraClient,
    readonly entrypoint: IEntryPointInfo,
    options: { queues: string[]; queueProblem?: string; experiment?: string }
  ) {
    super();
    this.addClass('jp-DioptraLab-submitForm');
    const node = this.node;
    node.dataset.entrypoint = entrypoint.path;

    const head = el('div', 'jp-DioptraLab-submit-entrypoint');
    head.appendChild(el('code', 'jp-DioptraLab-submit-path', entrypoint.path));
    head.appendChild(
      el('span', 'jp-DioptraLab-submit-kind', ` (${entrypoint.kind} entry point)`)
    );
    node.appendChild(head);
    if (entrypoint.description) {
      node.appendChild(
        el('div', 'jp-DioptraLab-submit-description', entrypoint.description)
      );
    }

    this._general = el('ul', 'jp-DioptraLab-submit-problems');
    this._general.setAttribute('role', 'alert');
    this._general.hidden = true;
    node.appendChild(this._general);

    const params = el('div', 'jp-DioptraLab-submit-parameters');
    if (!entrypoint.parameters.length) {
      params.appendChild(
        el('div', 'jp-DioptraLab-submit-noparams', 'This entry point has no parameters.')
      );
    } else {
      const legend = el('div', 'jp-DioptraLab-submit-legend');
      legend.append(
        el('span', '', 'parameter'),
        el('span', '', 'value'),
        el('span', '', 'sweep values (comma-separated)')
      );
      params.appendChild(legend);
    }
    for (const info of entrypoint.parameters) {
      const field = this._makeField(info);
      this._fields.set(info.name, field);
      params.appendChild(field.node);
    }
    const middle = el('div', 'jp-DioptraLab-submit-scroll');
    middle.appendChild(params);
    node.appendChild(middle);

    // experiment and queue
    const where = el('div', 'jp-DioptraLab-submit-where');
    const expId = `jp-DioptraLab-experiment-${++fieldCounter}`;
    const expLabel = el('label', 'jp-DioptraLab-field-label', 'experiment');
    expLabel.htmlFor = expId;
    this._experiment = el('input', 'jp-mod-styled jp-DioptraLab-experiment');
    this._experiment.id = expId;
    this._experiment.type = 'text';
    this._experiment.name = 'experiment';
    this._experiment.value = options.experiment ?? defaultExperiment(entrypoint.path);
    this._experiment.dataset.field = 'experiment';
    const queueId = `jp-DioptraLab-queue-${fieldCounter}`;
    const queueLabel = el('label', 'jp-DioptraLab-field-label', 'queue');
    queueLabel.htmlFor = queueId;
    this._queue = el('select', 'jp-mod-styled jp-DioptraLab-queue');
    this._queue.id = queueId;
    this._queue.name = 'queue';
    this._queue.dataset.field = 'queue';
    const queues = options.queues.length ? options.queues : [DEFAULT_QUEUE];
    for (const q of queues) {
      this._queue.appendChild(option(q));
    }
    this._queue.value = queues.includes(DEFAULT_QUEUE) ? DEFAULT_QUEUE : queues[0];
    where.append(expLabel, this._experiment, queueLabel, this._queue);
    node.appendChild(where);
    if (options.queueProblem) {
      node.appendChild(el('div', 'jp-DioptraLab-submit-queue-problem', options.queueProblem));
    }

    this._summary = el('div', 'jp-DioptraLab-submit-summary');
    node.appendChild(this._summary);
    this._status = el('div', 'jp-DioptraLab-submit-status');
    this._status.setAttribute('aria-live', 'polite');
    node.appendChild(this._status);

    node.addEventListener('input', this);
    node.addEventListener('change', this);
    this._updateSummary();
    this.showProblems(entrypoint.problems ?? []);
    this._schedule(0);
  }

  /** The answer of the submission, once the jobs are queued (Dialog's result value). */
  getValue(): ISubmitAnswer | null {
    return this._answer;
  }

  /** The names of the fields, in order. */
  get fieldNames(): string[] {
    return Array.from(this._fields.keys());
  }

  /** The text of every field. */
  texts(): Record<string, IFieldText> {
    const texts: Record<string, IFieldText> = {};
    for (const [name, field] of this._fields) {
      texts[name] = { value: field.input.value, sweep: field.sweep.value };
    }
    return texts;
  }

  /** The parameters and grid the form sends. */
  values(): IFormValues {
    return formValues(this.entrypoint.parameters, this.texts());
  }

  /** The request the form submits. */
  request(): ISubmitRequest {
    const { parameters, grid } = this.values();
    const request: ISubmitRequest = {
      entrypoint: this.entrypoint.path,
      parameters,
      queue: this._queue.value || DEFAULT_QUEUE
    };
    if (Object.keys(grid).length) {
      request.grid = grid;
    }
    const experiment = this._experiment.value.trim();
    if (experiment) {
      request.experiment = experiment;
    }
    return request;
  }

  handleEvent(event: Event): void {
    if (event.type === 'input' || event.type === 'change') {
      this._updateSummary();
      this._schedule(VALIDATE_DELAY_MS);
    }
  }

  /** Show problems next to their fields (the others above the fields). */
  showProblems(problems: IProblemInfo[]): void {
    const { byField, general } = placeProblems(problems, this.fieldNames);
    for (const [name, field] of this._fields) {
      const messages = byField.get(name) ?? [];
      field.error.textContent = messages.join('\n');
      field.error.hidden = messages.length === 0;
      field.node.classList.toggle('jp-DioptraLab-field-invalid', messages.length > 0);
      field.node.dataset.invalid = String(messages.length > 0);
      field.input.setAttribute('aria-invalid', String(messages.length > 0));
    }
    this._general.textContent = '';
    for (const message of general) {
      this._general.appendChild(el('li', 'jp-DioptraLab-submit-problem', message));
    }
    this._general.hidden = general.length === 0;
    this.node.dataset.valid = String(problems.length === 0);
  }

  /** Ask the server whether the values are valid; show its problems. */
  async validate(): Promise<boolean> {
    this._cancelSchedule();
    const seq = ++this._seq;
    const { parameters, grid } = this.values();
    this._setStatus('checking…', 'checking');
    try {
      const answer = await this.client.validate({
        entrypoint: this.entrypoint.path,
        parameters,
        grid: Object.keys(grid).length ? grid : undefined
      });
      if (seq !== this._seq || this.isDisposed) {
        return answer.valid;
      }
      this.showProblems(answer.problems ?? []);
      this._setStatus(
        answer.valid ? 'valid' : 'fix the problems shown before submitting',
        answer.valid ? 'valid' : 'invalid'
      );
      return answer.valid;
    } catch (error) {
      if (seq === this._seq && !this.isDisposed) {
        this.showProblems(errorProblems(error));
        this._setStatus(errorMessage(error), 'error');
      }
      return false;
    }
  }

  /** Validate, then submit; true once the jobs are queued. */
  async submit(): Promise<boolean> {
    if (!(await this.validate())) {
      return false;
    }
    this._setStatus('submitting…', 'submitting');
    try {
      this._answer = await this.client.submit(this.request());
      const count = this._answer.jobs.length;
      this._setStatus(`queued ${count} job${count === 1 ? '' : 's'}`, 'submitted');
      return true;
    } catch (error) {
      this.showProblems(errorProblems(error));
      this._setStatus(errorMessage(error), 'error');
      return false;
    }
  }

  dispose(): void {
    this._cancelSchedule();
    super.dispose();
  }

  private _makeField(info: IParameterInfo): IField {
    const id = `jp-DioptraLab-param-${++fieldCounter}`;
    const node = el('div', 'jp-DioptraLab-field');
    node.dataset.param = info.name;
    node.dataset.kind = info.kind;

    const label = el('label', 'jp-DioptraLab-field-label');
    label.htmlFor = id;
    label.appendChild(el('span', 'jp-DioptraLab-field-name', info.name));
    if (info.required) {
      const star = el('span', 'jp-DioptraLab-field-required', '*');
      star.title = 'required';
      label.appendChild(star);
    }
    label.appendChild(el('span', 'jp-DioptraLab-field-type', info.type));
    node.appendChild(label);

    let input: HTMLInputElement | HTMLSelectElement;
    const initial = defaultText(info);
    if (info.kind === 'bool' || (info.choices && info.choices.length)) {
      const select = el('select', 'jp-mod-styled jp-DioptraLab-field-input');
      const choices =
        info.kind === 'bool' && !(info.choices && info.choices.length)
          ? [true, false]
          : info.choices ?? [];
      const texts = choices.map(choiceText);
      if (!info.required || !texts.includes(initial)) {
        select.appendChild(option('', info.required ? '(choose)' : '(default)'));
      }
      for (const text of texts) {
        select.appendChild(option(text));
      }
      select.value = texts.includes(initial) ? initial : '';
      input = select;
    } else {
      const text = el('input', 'jp-mod-styled jp-DioptraLab-field-input');
      text.type = 'text';
      text.value = initial;
      text.spellcheck = false;
      if (info.kind === 'int' || info.kind === 'float') {
        text.inputMode = info.kind === 'int' ? 'numeric' : 'decimal';
      }
      text.placeholder = info.required ? 'required' : info.nullable ? 'null' : '';
      input = text;
    }
    input.id = id;
    input.name = info.name;
    input.dataset.param = info.name;
    input.setAttribute('aria-required', String(info.required));
    node.appendChild(input);

    const sweep = el('input', 'jp-mod-styled jp-DioptraLab-field-sweep');
    sweep.type = 'text';
    sweep.name = `${info.name}__sweep`;
    sweep.dataset.param = info.name;
    sweep.placeholder = info.kind === 'int' || info.kind === 'float' ? 'e.g. 1, 2, 3 or 0:1:0.25' : 'v1, v2';
    sweep.title = `Values of ${info.name} to sweep over (comma-separated): one job per combination`;
    sweep.spellcheck = false;
    node.appendChild(sweep);

    const helpParts = [info.description ?? '', boundsText(info)].filter(Boolean);
    const help = el('div', 'jp-DioptraLab-field-help', helpParts.join(' · '));
    help.hidden = helpParts.length === 0;
    node.appendChild(help);

    const error = el('div', 'jp-DioptraLab-field-error');
    error.setAttribute('role', 'alert');
    error.dataset.param = info.name;
    error.hidden = true;
    node.appendChild(error);
    return { info, node, input, sweep, error };
  }

  private _updateSummary(): void {
    const { grid } = this.values();
    const count = gridSize(grid);
    const swept = Object.keys(grid);
    this._summary.dataset.jobs = String(count);
    this._summary.textContent = swept.length
      ? `sweep over ${swept.join(', ')}: ${count} job${count === 1 ? '' : 's'}`
      : '1 job';
  }

  private _setStatus(text: string, state: string): void {
    this._status.textContent = text;
    this._status.dataset.state = state;
  }

  private _schedule(delay: number): void {
    this._cancelSchedule();
    this._timer = window.setTimeout(() => {
      this._timer = null;
      void this.validate();
    }, delay);
  }

  private _cancelSchedule(): void {
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private _fields = new Map<string, IField>();
  private _experiment: HTMLInputElement;
  private _queue: HTMLSelectElement;
  private _general: HTMLUListElement;
  private _summary: HTMLDivElement;
  private _status: HTMLDivElement;
  private _timer: number | null = null;
  private _seq = 0;
  private _answer: ISubmitAnswer | null = null;
}

/** The index of the Submit button among the dialog's buttons. */
const SUBMIT_INDEX = 1;

/** A dialog that stays open until its form's jobs are queued (or it is cancelled). */
export class SubmitDialog extends Dialog<ISubmitAnswer | null> {
  constructor(readonly form: SubmitForm) {
    super({
      title: 'Submit to queue',
      body: form,
      buttons: [
        Dialog.cancelButton({ className: 'jp-DioptraLab-submitCancel' }),
        Dialog.okButton({ label: 'Submit', className: 'jp-DioptraLab-submitOk' })
      ],
      defaultButton: SUBMIT_INDEX,
      focusNodeSelector: '.jp-DioptraLab-field-input, .jp-DioptraLab-experiment'
    });
    this.addClass('jp-DioptraLab-submitDialog');
  }

  resolve(index?: number): void {
    const i = index ?? SUBMIT_INDEX;
    if (i !== SUBMIT_INDEX || this._accepted) {
      super.resolve(i);
      return;
    }
    if (this._busy) {
      return;
    }
    void this._submit();
  }

  private async _submit(): Promise<void> {
    this._busy = true;
    const button = this.node.querySelector<HTMLButtonElement>('.jp-DioptraLab-submitOk');
    if (button) {
      button.disabled = true;
    }
    try {
      if (await this.form.submit()) {
        this._accepted = true;
        super.resolve(SUBMIT_INDEX);
      }
    } finally {
      this._busy = false;
      if (button && !this.isDisposed) {
        button.disabled = false;
      }
    }
  }

  private _accepted = false;
  private _busy = false;
}

/**
 * Open the submit dialog of an entry point file; the queued jobs, or null when cancelled
 * or when the file is no entry point (the server's message is shown).
 */
export async function submitEntryPoint(
  client: DioptraClient,
  path: string
): Promise<ISubmitAnswer | null> {
  let entrypoint: IEntryPointInfo;
  try {
    entrypoint = await client.entrypoint(path);
    entrypoint = { ...entrypoint, path: entrypoint.path || path };
  } catch (error) {
    await showErrorMessage(`Cannot submit ${path}`, { message: errorMessage(error) });
    return null;
  }
  let queues: string[] = [];
  let queueProblem: string | undefined;
  try {
    const stack = await client.stack();
    // the queues Redis knows (they exist once a job was queued) and those workers serve
    const names = (stack.queues ?? []).map(q => q.name);
    for (const worker of stack.workers ?? []) {
      names.push(...(worker.queues ?? []));
    }
    queues = [...new Set(names)].sort();
    if (stack.problem) {
      queueProblem = stack.problem;
    }
  } catch (error) {
    queueProblem = errorMessage(error);
  }
  const form = new SubmitForm(client, entrypoint, { queues, queueProblem });
  const dialog = new SubmitDialog(form);
  const result = await dialog.launch();
  return result.button.accept ? result.value : null;
}
