/**
 * The client of the dioptra_lab REST API, over `ServerConnection.makeRequest` (which
 * adds the token and XSRF headers and respects the server's base URL).
 */
import { ServerConnection } from '@jupyterlab/services';

import {
  apiUrl,
  entrypointPath,
  experimentResultsPath,
  jobPath,
  parseErrorBody,
  QueryValue
} from './requests';
import type {
  IDashboardInfo,
  IEntryPointFile,
  IEntryPointInfo,
  IJobList,
  IJobQuery,
  IJobView,
  ILogChunk,
  IProblemInfo,
  IStackStatus,
  ISubmitAnswer,
  ISubmitRequest,
  ITaskInfo,
  IBrokenPluginInfo,
  IValidateAnswer,
  IValidateRequest
} from './types';

/** An error answer of the API: its status, message (the server's words) and problems. */
export class ApiError extends ServerConnection.ResponseError {
  constructor(
    response: Response,
    message: string,
    readonly problems: IProblemInfo[] = []
  ) {
    super(response, message);
    this.name = 'ApiError';
  }

  /** The HTTP status. */
  get status(): number {
    return this.response.status;
  }
}

interface IRequestOptions {
  method?: 'GET' | 'POST' | 'DELETE';
  body?: unknown;
  query?: Record<string, QueryValue>;
}

/** The REST API of one Jupyter server. */
export class DioptraClient {
  constructor(settings?: ServerConnection.ISettings) {
    this.settings = settings ?? ServerConnection.makeSettings();
  }

  readonly settings: ServerConnection.ISettings;

  /** The URL of an endpoint (for links and tests). */
  url(path: string, query?: Record<string, QueryValue>): string {
    return apiUrl(this.settings.baseUrl, path, query);
  }

  /** Send one request; the JSON answer, or an {@link ApiError} with the server's message. */
  async request<T>(path: string, options: IRequestOptions = {}): Promise<T> {
    const init: RequestInit = { method: options.method ?? 'GET' };
    if (options.body !== undefined) {
      init.body = JSON.stringify(options.body);
      init.headers = { 'Content-Type': 'application/json' };
    }
    const response = await ServerConnection.makeRequest(
      this.url(path, options.query),
      init,
      this.settings
    );
    const text = await response.text();
    if (!response.ok) {
      const { message, problems } = parseErrorBody(
        response.status,
        response.statusText,
        text
      );
      throw new ApiError(response, message, problems);
    }
    if (!text) {
      return undefined as T;
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      return text as unknown as T;
    }
  }

  tasks(): Promise<{ tasks: ITaskInfo[]; broken: IBrokenPluginInfo[] }> {
    return this.request('tasks');
  }

  entrypoints(): Promise<{ entrypoints: IEntryPointFile[] }> {
    return this.request('entrypoints');
  }

  entrypoint(path: string): Promise<IEntryPointInfo> {
    return this.request(entrypointPath(path));
  }

  validate(body: IValidateRequest): Promise<IValidateAnswer> {
    return this.request('validate', { method: 'POST', body });
  }

  submit(body: ISubmitRequest): Promise<ISubmitAnswer> {
    return this.request('jobs', { method: 'POST', body });
  }

  jobs(query: IJobQuery = {}): Promise<IJobList> {
    return this.request('jobs', {
      query: {
        experiment: query.experiment,
        status: query.status,
        sweep: query.sweep,
        limit: query.limit,
        offset: query.offset
      }
    });
  }

  job(id: string): Promise<IJobView> {
    return this.request(jobPath(id));
  }

  cancel(id: string): Promise<IJobView> {
    return this.request(jobPath(id, 'cancel'), { method: 'POST' });
  }

  rerun(id: string): Promise<IJobView> {
    return this.request(jobPath(id, 'rerun'), { method: 'POST' });
  }

  logs(id: string, offset = 0): Promise<ILogChunk> {
    return this.request(jobPath(id, 'logs'), { query: { offset } });
  }

  /** Save the executed notebook of a job under the server's root; its path. */
  saveNotebook(id: string): Promise<{ path: string }> {
    return this.request(jobPath(id, 'notebook'), { method: 'POST' });
  }

  experiments(): Promise<{ experiments: string[] }> {
    return this.request('experiments');
  }

  results(experiment: string): Promise<unknown> {
    return this.request(experimentResultsPath(experiment), {
      query: { format: 'json' }
    });
  }

  stack(): Promise<IStackStatus> {
    return this.request('stack');
  }

  dashboards(): Promise<{ dashboards: IDashboardInfo[] }> {
    return this.request('dashboards');
  }
}
