/**
 * Notifications of the jobs submitted from this Lab: their ids are remembered (in the
 * browser's local storage, so a reload keeps them) and a Lab `Notification` says when each
 * one finished, failed or was cancelled, with a button that opens its executed notebook.
 */
import { Notification } from '@jupyterlab/apputils';

import type { DioptraClient } from './api';
import { failureText, jobName } from './format';
import { errorStatus } from './requests';
import type { IJobView } from './types';

/** How often the watched jobs are polled (ms). */
export const WATCH_POLL_MS = 3000;
const STORAGE_KEY = 'dioptra-lab:watched-jobs';
const MAX_WATCHED = 200;

const DONE = new Set(['finished', 'failed', 'cancelled']);

/** What a notification's buttons do. */
export interface INotifierHost {
  openNotebook(job: IJobView): Promise<void>;
  showLogs(job: IJobView): void;
}

/** Watches the jobs submitted from this Lab until they end. */
export class JobNotifier {
  constructor(
    private readonly client: DioptraClient,
    private readonly host: INotifierHost,
    private readonly storage: Storage | null = safeStorage()
  ) {
    for (const id of this._load()) {
      this._ids.add(id);
    }
    this._schedule();
  }

  /** The ids watched now. */
  get ids(): string[] {
    return Array.from(this._ids);
  }

  /** Watch jobs (just submitted from this Lab). */
  watch(ids: string[]): void {
    for (const id of ids) {
      this._ids.add(id);
    }
    this._save();
    this._schedule();
  }

  /** Stop watching jobs (the user cancelled them: no need to say so). */
  unwatch(ids: string[]): void {
    for (const id of ids) {
      this._forget(id);
    }
  }

  /** Jobs seen elsewhere (the panel's list): notify the watched ones that ended. */
  observe(jobs: IJobView[]): void {
    for (const job of jobs) {
      if (this._ids.has(job.id) && DONE.has(job.status)) {
        this._notify(job);
      }
    }
  }

  dispose(): void {
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
      this._timer = null;
    }
    this._disposed = true;
  }

  private _schedule(delay = WATCH_POLL_MS): void {
    if (this._disposed || this._timer !== null || this._ids.size === 0) {
      return;
    }
    this._timer = window.setTimeout(() => void this._poll(), delay);
  }

  private async _poll(): Promise<void> {
    this._timer = null;
    let delay = WATCH_POLL_MS;
    for (const id of Array.from(this._ids)) {
      try {
        const job = await this.client.job(id);
        if (DONE.has(job.status)) {
          this._notify(job);
        }
      } catch (error) {
        if (errorStatus(error) === 404) {
          this._forget(id);
        } else {
          delay = 4 * WATCH_POLL_MS; // the stack is down or the server is gone: later
          break;
        }
      }
    }
    this._schedule(delay);
  }

  private _notify(job: IJobView): void {
    if (!this._ids.has(job.id)) {
      return;
    }
    this._forget(job.id);
    const name = jobName(job);
    const actions: Notification.IAction[] = [];
    if (job.status !== 'cancelled') {
      actions.push({
        label: 'Open notebook',
        caption: 'Open the executed notebook of this job',
        callback: () => void this.host.openNotebook(job)
      });
    }
    if (job.status === 'failed') {
      actions.push({
        label: 'Show logs',
        caption: 'Show the logs of this job',
        callback: () => this.host.showLogs(job)
      });
    }
    const options: Notification.IOptions<null> = {
      autoClose: job.status === 'finished' ? 15000 : false,
      actions
    };
    const where = job.experiment ? ` (${job.experiment})` : '';
    switch (job.status) {
      case 'finished':
        Notification.success(`Job ${name}${where} finished.`, options);
        break;
      case 'failed':
        Notification.error(
          `Job ${name}${where} failed: ${failureText(job) || 'see its logs'}`,
          options
        );
        break;
      default:
        Notification.warning(`Job ${name}${where} was cancelled.`, options);
    }
  }

  private _forget(id: string): void {
    this._ids.delete(id);
    this._save();
  }

  private _load(): string[] {
    try {
      const data = JSON.parse(this.storage?.getItem(STORAGE_KEY) ?? '[]') as unknown;
      return Array.isArray(data) ? data.filter(x => typeof x === 'string') : [];
    } catch {
      return [];
    }
  }

  private _save(): void {
    try {
      this.storage?.setItem(
        STORAGE_KEY,
        JSON.stringify(Array.from(this._ids).slice(-MAX_WATCHED))
      );
    } catch {
      // storage full or denied: watching still works until a reload
    }
  }

  private _ids = new Set<string>();
  private _timer: number | null = null;
  private _disposed = false;
}

function safeStorage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}
