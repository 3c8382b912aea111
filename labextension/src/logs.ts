/**
 * The logs of one job in a main-area tab: polls `GET jobs/{id}/logs?offset=` and appends
 * what is new until the job is done.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import type { DioptraClient } from './api';
import { errorMessage, errorStatus } from './requests';

/** How often the logs are polled while the job runs (ms). */
export const LOGS_POLL_MS = 1000;

/** The text of a job's logs, followed. */
export class LogsView extends Widget {
  constructor(
    private readonly client: DioptraClient,
    readonly jobId: string
  ) {
    super();
    this.addClass('jp-DioptraLab-logs');
    this.node.dataset.jobId = jobId;
    this._status = document.createElement('div');
    this._status.className = 'jp-DioptraLab-logs-status';
    this._status.textContent = 'loading…';
    this._text = document.createElement('pre');
    this._text.className = 'jp-DioptraLab-logs-text';
    this.node.append(this._status, this._text);
    void this._poll();
  }

  /** Whether the job has ended and every line was read. */
  get done(): boolean {
    return this._done;
  }

  /** The text read so far. */
  get text(): string {
    return this._text.textContent ?? '';
  }

  dispose(): void {
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
      this._timer = null;
    }
    super.dispose();
  }

  private async _poll(): Promise<void> {
    this._timer = null;
    if (this.isDisposed) {
      return;
    }
    let delay = LOGS_POLL_MS;
    try {
      const chunk = await this.client.logs(this.jobId, this._offset);
      if (this.isDisposed) {
        return;
      }
      if (chunk.text) {
        const atBottom =
          this.node.scrollTop + this.node.clientHeight >= this.node.scrollHeight - 20;
        this._text.appendChild(document.createTextNode(chunk.text));
        if (atBottom) {
          this.node.scrollTop = this.node.scrollHeight;
        }
      }
      this._offset = chunk.offset;
      this._done = chunk.done;
      this.node.dataset.done = String(chunk.done);
      this._status.classList.remove('jp-DioptraLab-logs-problem');
      this._status.textContent = chunk.done
        ? 'the job has ended: these are all its logs'
        : 'following the logs…';
      if (chunk.done) {
        return;
      }
    } catch (error) {
      if (this.isDisposed) {
        return;
      }
      this._status.classList.add('jp-DioptraLab-logs-problem');
      this._status.textContent = errorMessage(error);
      if (errorStatus(error) === 404) {
        return; // an unknown job never gets logs
      }
      delay = 5 * LOGS_POLL_MS;
    }
    this._timer = window.setTimeout(() => void this._poll(), delay);
  }

  private _offset = 0;
  private _done = false;
  private _timer: number | null = null;
  private _status: HTMLDivElement;
  private _text: HTMLPreElement;
}

/** A main-area tab with the logs of a job. */
export function createLogsWidget(
  client: DioptraClient,
  jobId: string,
  label?: string
): MainAreaWidget<LogsView> {
  const content = new LogsView(client, jobId);
  const widget = new MainAreaWidget({ content });
  widget.id = `dioptra-lab-logs-${jobId}`;
  widget.addClass('jp-DioptraLab-logsWidget');
  widget.title.label = `Logs: ${label ?? jobId.slice(0, 8)}`;
  widget.title.caption = `Logs of job ${jobId}`;
  widget.title.closable = true;
  return widget;
}
