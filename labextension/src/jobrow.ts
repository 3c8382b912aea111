/**
 * One job of the panel's list, updated in place on every refresh so its buttons stay the
 * same DOM nodes (browser tests and users may be clicking them).
 */
import {
  elapsedText,
  expectedEndText,
  failureText,
  jobName,
  progressFraction,
  progressLabel,
  startedText
} from './format';
import type { IJobView } from './types';
import { el } from './dom';

/** What a job row's buttons do. */
export type JobAction = 'cancel' | 'rerun' | 'notebook' | 'mlflow' | 'logs';

export const JOB_ACTIONS: { action: JobAction; label: string; title: string }[] = [
  { action: 'cancel', label: 'Cancel', title: 'Cancel this job' },
  { action: 'rerun', label: 'Rerun', title: 'Run this job again with the same bundle' },
  { action: 'notebook', label: 'Notebook', title: 'Open the executed notebook' },
  { action: 'mlflow', label: 'MLflow', title: 'Open the MLflow run in a new tab' },
  { action: 'logs', label: 'Logs', title: 'Show the logs of this job' }
];

function setText(node: HTMLElement, text: string): void {
  if (node.textContent !== text) {
    node.textContent = text;
  }
  node.hidden = !text;
}

/** The DOM of one job. */
export class JobRow {
  constructor(
    job: IJobView,
    onAction: (action: JobAction, job: IJobView, button: HTMLButtonElement) => void
  ) {
    this.job = job;
    const node = (this.node = el('li', 'jp-DioptraLab-job'));
    node.dataset.jobId = job.id;

    const head = el('div', 'jp-DioptraLab-job-head');
    this._badge = el('span', 'jp-DioptraLab-status-badge');
    this._name = el('span', 'jp-DioptraLab-job-name');
    head.append(this._badge, this._name);
    node.appendChild(head);

    const meta = el('div', 'jp-DioptraLab-job-meta');
    this._experiment = el('span', 'jp-DioptraLab-job-experiment');
    this._queue = el('span', 'jp-DioptraLab-job-queue');
    this._id = el('span', 'jp-DioptraLab-job-id', job.id.slice(0, 8));
    this._id.title = job.id;
    meta.append(this._experiment, this._queue, this._id);
    node.appendChild(meta);

    this._bar = el('div', 'jp-DioptraLab-progress');
    this._bar.setAttribute('role', 'progressbar');
    this._bar.setAttribute('aria-valuemin', '0');
    this._bar.setAttribute('aria-valuemax', '100');
    this._fill = el('div', 'jp-DioptraLab-progress-fill');
    this._bar.appendChild(this._fill);
    node.appendChild(this._bar);
    this._label = el('div', 'jp-DioptraLab-progress-label');
    node.appendChild(this._label);

    const times = el('div', 'jp-DioptraLab-job-times');
    this._started = el('span', 'jp-DioptraLab-job-started');
    this._elapsed = el('span', 'jp-DioptraLab-job-elapsed');
    this._eta = el('span', 'jp-DioptraLab-job-eta');
    times.append(this._started, this._elapsed, this._eta);
    node.appendChild(times);

    this._failure = el('div', 'jp-DioptraLab-job-failure');
    node.appendChild(this._failure);

    const actions = el('div', 'jp-DioptraLab-job-actions');
    for (const { action, label, title } of JOB_ACTIONS) {
      const button = el('button', `jp-DioptraLab-action jp-DioptraLab-action-${action}`, label);
      button.type = 'button';
      button.title = title;
      button.dataset.action = action;
      button.addEventListener('click', event => {
        event.stopPropagation();
        onAction(action, this.job, button);
      });
      this._buttons.set(action, button);
      actions.appendChild(button);
    }
    node.appendChild(actions);
    this.update(job);
  }

  readonly node: HTMLLIElement;
  job: IJobView;

  /** Show the job's latest state; `now` for the relative times. */
  update(job: IJobView, now: Date = new Date()): void {
    this.job = job;
    const node = this.node;
    node.dataset.status = job.status;
    this._badge.textContent = job.status;
    this._badge.dataset.status = job.status;
    this._badge.className = `jp-DioptraLab-status-badge jp-DioptraLab-status-${job.status}`;
    setText(this._name, jobName(job));
    this._name.title = `${jobName(job)} (${job.entrypoint})`;
    setText(this._experiment, job.experiment);
    this._experiment.title = 'experiment';
    setText(this._queue, job.queue ? `queue ${job.queue}` : '');
    this._queue.title = job.worker ? `worker ${job.worker}` : '';

    const percent = Math.round(progressFraction(job) * 100);
    this._fill.style.width = `${percent}%`;
    this._bar.setAttribute('aria-valuenow', String(percent));
    this._bar.dataset.status = job.status;
    setText(this._label, progressLabel(job));

    setText(this._started, startedText(job, now));
    setText(this._elapsed, elapsedText(job, now));
    setText(this._eta, expectedEndText(job, now));
    setText(this._failure, job.status === 'failed' ? failureText(job) : '');

    const active = job.status === 'queued' || job.status === 'running';
    this._buttons.get('cancel')!.hidden = !active;
    this._buttons.get('notebook')!.disabled = job.status === 'queued';
    const mlflow = this._buttons.get('mlflow')!;
    mlflow.disabled = !job.links?.mlflow;
    mlflow.dataset.href = job.links?.mlflow ?? '';
  }

  /** One button of the row. */
  button(action: JobAction): HTMLButtonElement {
    return this._buttons.get(action)!;
  }

  private _badge: HTMLSpanElement;
  private _name: HTMLSpanElement;
  private _experiment: HTMLSpanElement;
  private _queue: HTMLSpanElement;
  private _id: HTMLSpanElement;
  private _bar: HTMLDivElement;
  private _fill: HTMLDivElement;
  private _label: HTMLDivElement;
  private _started: HTMLSpanElement;
  private _elapsed: HTMLSpanElement;
  private _eta: HTMLSpanElement;
  private _failure: HTMLDivElement;
  private _buttons = new Map<JobAction, HTMLButtonElement>();
}
