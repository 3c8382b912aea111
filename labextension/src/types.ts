/**
 * The JSON shapes of the dioptra_lab REST API v1 (`/dioptra-lab/api/v1/`).
 *
 * They mirror `dioptra_lab/models.py`'s `to_json()` and the REST contract; keep the
 * names of the fields exactly as the server writes them.
 */

/** One problem of an entry point or of parameter values, with its place. */
export interface IProblemInfo {
  message: string;
  place?: string;
}

/** One input of a task or parameter of an entry point, as a form shows it. */
export interface IParameterInfo {
  name: string;
  /** The type as written, bounds included (e.g. `float[0, 1]`). */
  type: string;
  /** `int`, `float`, `bool`, `str`, `none`, `choice`, `list`, `tuple`, `dict`, `record`,
   * `union`, `object` or `any`. */
  kind: string;
  required: boolean;
  default?: unknown;
  description?: string;
  minimum?: number | null;
  maximum?: number | null;
  exclusive_minimum?: boolean;
  exclusive_maximum?: boolean;
  choices?: unknown[] | null;
  nullable?: boolean;
}

export interface IOutputInfo {
  name: string;
  type: string;
}

export interface ITaskInfo {
  name: string;
  qualname: string;
  plugin: string;
  description: string;
  doc: string;
  inputs: IParameterInfo[];
  outputs: IOutputInfo[];
  retries: number;
  cache: boolean;
}

export interface IBrokenPluginInfo {
  module: string;
  location: string;
  reason: string;
}

export interface IStepInfo {
  name: string;
  task: string;
  dependencies: string[];
  parameters: string[];
}

/** `GET entrypoints/{path}`: an entry point with its parameter schema. */
export interface IEntryPointInfo {
  name: string;
  source: string;
  kind: string;
  description: string;
  parameters: IParameterInfo[];
  steps: IStepInfo[];
  problems: IProblemInfo[];
  path: string;
}

/** One entry-point file of `GET entrypoints`. */
export interface IEntryPointFile {
  path: string;
  name: string;
  kind: 'yaml' | 'notebook' | string;
}

export type JobStatus = 'queued' | 'running' | 'finished' | 'failed' | 'cancelled';

export const JOB_STATUSES: JobStatus[] = [
  'queued',
  'running',
  'finished',
  'failed',
  'cancelled'
];

/** Where a running job is: step `index` of `total`. */
export interface IProgress {
  step: string;
  task: string;
  index: number;
  total: number;
  /** started, finished, cached, retrying or failed */
  state: string;
  seconds?: number | null;
}

/** Why a job failed. */
export interface IFailure {
  reason: string;
  exception?: string;
  message?: string;
  step?: string | null;
  task?: string | null;
  cell?: number | null;
}

/** `JobInfo.to_json()` plus the REST view's fields. */
export interface IJobView {
  id: string;
  status: JobStatus;
  experiment: string;
  entrypoint: string;
  queue: string;
  run_name?: string;
  sweep?: string | null;
  parameters?: Record<string, string>;
  /** Unix seconds. */
  submitted?: number | null;
  ended?: number | null;
  attempt?: number;
  worker?: string | null;
  progress?: IProgress | null;
  failure?: IFailure | null;
  rerun_of?: string | null;
  started?: number | null;
  expected_end?: number | null;
  links?: { mlflow?: string | null };
}

export interface IJobList {
  jobs: IJobView[];
  offset: number;
  limit: number;
}

export interface ISubmitRequest {
  entrypoint: string;
  parameters: Record<string, unknown>;
  grid?: Record<string, unknown[]>;
  experiment?: string;
  queue?: string;
  timeout?: number;
  retries?: number;
}

export interface ISubmitAnswer {
  jobs: IJobView[];
  sweep: string | null;
}

export interface IValidateRequest {
  entrypoint: string;
  parameters?: Record<string, unknown>;
  grid?: Record<string, unknown[]>;
}

export interface IValidateAnswer {
  valid: boolean;
  problems: IProblemInfo[];
}

export interface ILogChunk {
  text: string;
  offset: number;
  done: boolean;
}

export interface IServiceInfo {
  name: string;
  running: boolean;
  pid?: number | null;
  url?: string | null;
  ui?: string | null;
}

export interface IQueueInfo {
  name: string;
  queued: number;
  running: number;
  failed: number;
  finished: number;
}

export interface IWorkerInfo {
  name: string;
  state: string;
  queues: string[];
  current_job?: string | null;
  gpu?: string | null;
}

export interface IStackStatus {
  home: string;
  services: IServiceInfo[];
  queues: IQueueInfo[];
  workers: IWorkerInfo[];
  problem?: string | null;
}

export interface IDashboardInfo {
  name: string;
  path: string;
  url: string;
}

/** Query of `GET jobs`. */
export interface IJobQuery {
  experiment?: string;
  status?: string[];
  sweep?: string;
  limit?: number;
  offset?: number;
}

/** One step of `RunResult.to_json()`. */
export interface IStepRecord {
  name: string;
  task: string;
  seconds?: number | null;
  cached?: boolean;
  outputs?: Record<string, unknown>;
}

/** `RunResult.to_json()`: the payload of `application/vnd.dioptra-lab.results+json`. */
export interface IRunResultJSON {
  entrypoint: string;
  parameters?: Record<string, unknown>;
  steps?: IStepRecord[];
  results?: Record<string, unknown>;
  seconds?: number | null;
  flow_run_id?: string | null;
}

/** The MIME type of the results a run displays. */
export const RESULTS_MIME = 'application/vnd.dioptra-lab.results+json';
/** The MIME type of the failure report a failed run displays. */
export const FAILURE_MIME = 'application/vnd.dioptra-lab.failure+json';
