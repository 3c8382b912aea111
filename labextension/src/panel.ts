/**
 * The "Dioptra Lab" side panel: the stack (services with links to their UIs, queues,
 * workers), filters and the jobs list with per-job actions. It refreshes every ~2 s while
 * it is visible and pauses while hidden.
 */
import type { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import type { DioptraClient } from './api';
import { JobAction, JobRow } from './jobrow';
import { errorMessage, errorStatus } from './requests';
import { IJobView, IServiceInfo, IStackStatus, JOB_STATUSES } from './types';
import { el } from './dom';

/** How often the jobs list refreshes while the panel is visible (ms). */
export const REFRESH_MS = 2000;
/** The stack and the experiments refresh every this many job refreshes. */
const STACK_EVERY = 5;

/** What the panel asks of the application. */
export interface IPanelHost {
  /** Run a job action (cancel, rerun, open notebook, MLflow, logs). */
  runAction(action: JobAction, job: IJobView): Promise<void>;
  /** Jobs as the panel saw them (the notifier learns of ended jobs from them). */
  jobsSeen?(jobs: IJobView[]): void;
}

function option(value: string, label: string): HTMLOptionElement {
  const node = document.createElement('option');
  node.value = value;
  node.textContent = label;
  return node;
}

/**
 * The web UI of a service: its `ui`, else the URL of an MLflow server (its UI is at its
 * tracking URL).
 */
export function serviceUi(service: IServiceInfo): string | null {
  if (service.ui) {
    return service.ui;
  }
  if (service.name.toLowerCase() === 'mlflow' && /^https?:\/\//.test(service.url ?? '')) {
    return service.url ?? null;
  }
  return null;
}

/** The side panel. */
export class DioptraPanel extends Widget {
  constructor(
    readonly client: DioptraClient,
    private readonly host: IPanelHost
  ) {
    super();
    this.id = 'dioptra-lab-panel';
    this.addClass('jp-DioptraLab-panel');
    this.node.dataset.test = 'dioptra-lab-panel';
    this.title.caption = 'Dioptra Lab';

    const node = this.node;
    const header = el('div', 'jp-DioptraLab-header');
    header.appendChild(el('h2', 'jp-DioptraLab-title', 'Dioptra Lab'));
    const refresh = el('button', 'jp-DioptraLab-refresh jp-DioptraLab-action', 'Refresh');
    refresh.type = 'button';
    refresh.dataset.action = 'refresh';
    refresh.title = 'Refresh the stack and the jobs now';
    refresh.addEventListener('click', () => void this.refresh(true));
    header.appendChild(refresh);
    node.appendChild(header);

    this._error = el('div', 'jp-DioptraLab-error');
    this._error.setAttribute('role', 'alert');
    this._error.hidden = true;
    node.appendChild(this._error);

    // the stack
    const stack = el('section', 'jp-DioptraLab-stack');
    stack.appendChild(el('h3', 'jp-DioptraLab-section-title', 'Stack'));
    this._stackNote = el('div', 'jp-DioptraLab-stack-problem');
    this._stackNote.hidden = true;
    this._services = el('ul', 'jp-DioptraLab-services');
    this._queues = el('ul', 'jp-DioptraLab-queues');
    this._workers = el('ul', 'jp-DioptraLab-workers');
    stack.append(this._stackNote, this._services, this._queues, this._workers);
    node.appendChild(stack);

    // filters
    const jobs = el('section', 'jp-DioptraLab-jobs-section');
    jobs.appendChild(el('h3', 'jp-DioptraLab-section-title', 'Jobs'));
    const filters = el('div', 'jp-DioptraLab-filters');
    this._experimentFilter = el('select', 'jp-mod-styled jp-DioptraLab-filter-experiment');
    this._experimentFilter.title = 'Show the jobs of one experiment';
    this._experimentFilter.appendChild(option('', 'All experiments'));
    this._statusFilter = el('select', 'jp-mod-styled jp-DioptraLab-filter-status');
    this._statusFilter.title = 'Show the jobs in one state';
    this._statusFilter.appendChild(option('', 'All statuses'));
    this._statusFilter.appendChild(option('queued,running', 'Active'));
    for (const status of JOB_STATUSES) {
      this._statusFilter.appendChild(option(status, status));
    }
    for (const select of [this._experimentFilter, this._statusFilter]) {
      select.addEventListener('change', () => void this.refresh());
    }
    filters.append(this._experimentFilter, this._statusFilter);
    jobs.appendChild(filters);

    this._empty = el('div', 'jp-DioptraLab-jobs-empty', 'Loading…');
    jobs.appendChild(this._empty);
    this._list = el('ul', 'jp-DioptraLab-jobs');
    jobs.appendChild(this._list);
    node.appendChild(jobs);
  }

  /** Whether the panel is refreshing itself (visible). */
  get polling(): boolean {
    return this._timer !== null || this._polling;
  }

  /** The rows of the list, by job id (for tests). */
  get rows(): ReadonlyMap<string, JobRow> {
    return this._rows;
  }

  /**
   * Refresh the jobs now (and the stack every few times, or when `all`). Concurrent calls
   * share one refresh.
   */
  refresh(all = false): Promise<void> {
    if (all) {
      this._count = 0;
    }
    if (!this._pending) {
      this._pending = this._refresh().finally(() => {
        this._pending = null;
      });
    }
    return this._pending;
  }

  dispose(): void {
    this._stop();
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._start();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this.isVisible) {
      this._start();
    }
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._stop();
  }

  protected onBeforeDetach(msg: Message): void {
    this._stop();
    super.onBeforeDetach(msg);
  }

  private _start(): void {
    if (this._polling) {
      return;
    }
    this._polling = true;
    this._count = 0;
    void this._tick();
  }

  private _stop(): void {
    this._polling = false;
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private async _tick(): Promise<void> {
    this._timer = null;
    if (!this._polling || this.isDisposed) {
      return;
    }
    await this.refresh();
    if (this._polling && !this.isDisposed && this._timer === null) {
      this._timer = window.setTimeout(() => void this._tick(), REFRESH_MS);
    }
  }

  private async _refresh(): Promise<void> {
    const withStack = this._count % STACK_EVERY === 0;
    this._count++;
    const tasks: Promise<void>[] = [this._refreshJobs()];
    if (withStack) {
      tasks.push(this._refreshStack(), this._refreshExperiments());
    }
    await Promise.all(tasks);
    this._showError();
  }

  private async _refreshJobs(): Promise<void> {
    const status = this._statusFilter.value;
    try {
      const answer = await this.client.jobs({
        experiment: this._experimentFilter.value || undefined,
        status: status ? status.split(',') : undefined,
        limit: 50
      });
      this._jobsProblem = null;
      this._showJobs(answer.jobs ?? []);
      this.host.jobsSeen?.(answer.jobs ?? []);
    } catch (error) {
      this._jobsProblem = { message: errorMessage(error), status: errorStatus(error) };
      if (!this._rows.size) {
        this._empty.textContent = 'No jobs to show.';
        this._empty.hidden = false;
      }
    }
  }

  private async _refreshStack(): Promise<void> {
    try {
      const stack = await this.client.stack();
      this._stackProblem = null;
      this._showStack(stack);
    } catch (error) {
      this._stackProblem = { message: errorMessage(error), status: errorStatus(error) };
      this._showStack(null);
    }
  }

  private async _refreshExperiments(): Promise<void> {
    try {
      const { experiments } = await this.client.experiments();
      const select = this._experimentFilter;
      const current = select.value;
      const known = Array.from(select.options)
        .slice(1)
        .map(o => o.value);
      const names = [...experiments].sort();
      if (current && !names.includes(current)) {
        names.push(current);
      }
      if (known.join('\n') !== names.join('\n')) {
        while (select.options.length > 1) {
          select.remove(1);
        }
        for (const name of names) {
          select.appendChild(option(name, name));
        }
        select.value = current;
      }
    } catch {
      // the jobs' error says why
    }
  }

  /** The error banner: the stack's or the jobs' problem (a 503 says how to start it). */
  private _showError(): void {
    const problem = this._jobsProblem ?? this._stackProblem;
    const banner = this._error;
    if (!problem) {
      banner.hidden = true;
      banner.textContent = '';
      delete banner.dataset.status;
      return;
    }
    banner.hidden = false;
    banner.dataset.status = String(problem.status);
    banner.textContent = problem.message;
  }

  private _showStack(stack: IStackStatus | null): void {
    const services = this._services;
    const queues = this._queues;
    const workers = this._workers;
    services.textContent = '';
    queues.textContent = '';
    workers.textContent = '';
    if (!stack) {
      this._stackNote.hidden = false;
      this._stackNote.textContent = this._stackProblem
        ? this._stackProblem.message
        : 'stack status unknown';
      return;
    }
    this._stackNote.hidden = !stack.problem;
    this._stackNote.textContent = stack.problem ?? '';

    for (const service of stack.services ?? []) {
      const item = el('li', 'jp-DioptraLab-service');
      item.dataset.service = service.name;
      item.dataset.running = String(service.running);
      const dot = el('span', 'jp-DioptraLab-dot');
      dot.title = service.running ? 'running' : 'stopped';
      item.appendChild(dot);
      item.appendChild(el('span', 'jp-DioptraLab-service-name', service.name));
      item.appendChild(
        el('span', 'jp-DioptraLab-service-state', service.running ? 'up' : 'down')
      );
      const ui = serviceUi(service);
      if (ui) {
        const link = el('a', 'jp-DioptraLab-service-ui', 'open UI');
        link.href = ui;
        link.target = '_blank';
        link.rel = 'noopener noreferrer';
        link.title = `Open the ${service.name} UI in a new tab`;
        item.appendChild(link);
      }
      services.appendChild(item);
    }

    for (const queue of stack.queues ?? []) {
      const item = el('li', 'jp-DioptraLab-queue');
      item.dataset.queue = queue.name;
      item.appendChild(el('span', 'jp-DioptraLab-queue-name', queue.name));
      const counts = el('span', 'jp-DioptraLab-queue-counts');
      const queued = el('span', 'jp-DioptraLab-queue-queued', `${queue.queued} queued`);
      const running = el('span', 'jp-DioptraLab-queue-running', `${queue.running} running`);
      counts.append(queued, running);
      item.appendChild(counts);
      queues.appendChild(item);
    }

    if (!(stack.workers ?? []).length && !stack.problem) {
      workers.appendChild(el('li', 'jp-DioptraLab-worker-none', 'no workers'));
    }
    for (const worker of stack.workers ?? []) {
      const item = el('li', 'jp-DioptraLab-worker');
      item.dataset.worker = worker.name;
      item.dataset.state = worker.state;
      item.appendChild(el('span', 'jp-DioptraLab-worker-name', worker.name));
      item.appendChild(
        el('span', 'jp-DioptraLab-worker-queues', (worker.queues ?? []).join(', '))
      );
      if (worker.gpu) {
        item.appendChild(el('span', 'jp-DioptraLab-worker-gpu', `GPU ${worker.gpu}`));
      }
      item.appendChild(
        el(
          'span',
          'jp-DioptraLab-worker-job',
          worker.current_job ? `job ${worker.current_job.slice(0, 8)}` : worker.state
        )
      );
      workers.appendChild(item);
    }
  }

  private _showJobs(jobs: IJobView[]): void {
    const now = new Date();
    const list = this._list;
    const seen = new Set<string>();
    jobs.forEach((job, index) => {
      seen.add(job.id);
      let row = this._rows.get(job.id);
      if (row) {
        row.update(job, now);
      } else {
        row = new JobRow(job, (action, j, button) => this._onAction(action, j, button));
        this._rows.set(job.id, row);
      }
      const at = list.children[index];
      if (at !== row.node) {
        list.insertBefore(row.node, at ?? null);
      }
    });
    for (const [id, row] of this._rows) {
      if (!seen.has(id)) {
        row.node.remove();
        this._rows.delete(id);
      }
    }
    const filtered = !!(this._experimentFilter.value || this._statusFilter.value);
    this._empty.hidden = jobs.length > 0;
    this._empty.textContent = filtered
      ? 'No jobs match the filters.'
      : 'No jobs yet: submit a notebook or an entry point with “Submit to queue”.';
  }

  private async _onAction(
    action: JobAction,
    job: IJobView,
    button: HTMLButtonElement
  ): Promise<void> {
    button.disabled = true;
    button.classList.add('jp-mod-pending');
    try {
      await this.host.runAction(action, job);
    } finally {
      button.classList.remove('jp-mod-pending');
      button.disabled = false;
      const row = this._rows.get(job.id);
      if (row) {
        row.update(row.job);
      }
    }
    if (action === 'cancel' || action === 'rerun') {
      await this.refresh();
    }
  }

  private _error: HTMLDivElement;
  private _stackNote: HTMLDivElement;
  private _services: HTMLUListElement;
  private _queues: HTMLUListElement;
  private _workers: HTMLUListElement;
  private _experimentFilter: HTMLSelectElement;
  private _statusFilter: HTMLSelectElement;
  private _empty: HTMLDivElement;
  private _list: HTMLUListElement;
  private _rows = new Map<string, JobRow>();
  private _timer: number | null = null;
  private _polling = false;
  private _count = 0;
  private _pending: Promise<void> | null = null;
  private _jobsProblem: { message: string; status: number } | null = null;
  private _stackProblem: { message: string; status: number } | null = null;
}
