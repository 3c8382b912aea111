/**
 * Pure helpers of the API client: URLs of the REST API and the messages of its errors.
 *
 * Nothing here touches the network or imports JupyterLab at run time, so jest tests it
 * directly; `api.ts` wires it to `ServerConnection.makeRequest`.
 */
import type { IProblemInfo } from './types';

/** The REST API's prefix under the Jupyter server's base URL. */
export const API_PREFIX = 'dioptra-lab/api/v1';

export type QueryValue = string | number | boolean | string[] | null | undefined;

/**
 * Encode a path relative to the API, segment by segment: slashes separate segments,
 * everything else (spaces, `#`, `?`, `%`) is escaped.
 */
export function encodePath(path: string): string {
  return path
    .split('/')
    .filter(segment => segment.length > 0)
    .map(segment => encodeURIComponent(segment))
    .join('/');
}

/** The query string of `query` (without `?`); empty values and empty lists are left out. */
export function queryString(query: Record<string, QueryValue> = {}): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') {
      continue;
    }
    const text = Array.isArray(value) ? value.join(',') : String(value);
    if (Array.isArray(value) && value.length === 0) {
      continue;
    }
    parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(text)}`);
  }
  return parts.join('&');
}

/**
 * The URL of an API endpoint.
 *
 * @param baseUrl - the Jupyter server's base URL (`ServerConnection.ISettings.baseUrl`).
 * @param path - the endpoint under the API prefix; already-encoded segments are
 *   passed through `apiPath` helpers such as {@link jobPath}.
 * @param query - query parameters.
 */
export function apiUrl(
  baseUrl: string,
  path: string,
  query?: Record<string, QueryValue>
): string {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const tail = path.replace(/^\/+/, '');
  const url = `${base}${API_PREFIX}/${tail}`;
  const qs = queryString(query);
  return qs ? `${url}?${qs}` : url;
}

/** `jobs/{id}` plus an optional action, the id escaped. */
export function jobPath(id: string, action?: string): string {
  const head = `jobs/${encodeURIComponent(id)}`;
  return action ? `${head}/${action}` : head;
}

/** `entrypoints/{path}` with every segment of the file path escaped. */
export function entrypointPath(path: string): string {
  return `entrypoints/${encodePath(path)}`;
}

/** `experiments/{name}/results`, the name escaped as one segment. */
export function experimentResultsPath(name: string): string {
  return `experiments/${encodeURIComponent(name)}/results`;
}

/** What an error answer of the API says: its message and its problems. */
export interface IErrorBody {
  message: string;
  problems: IProblemInfo[];
}

const STATUS_WORDS: Record<number, string> = {
  400: 'Bad request',
  401: 'Not authenticated',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Not ready',
  500: 'Server error',
  502: 'Bad gateway',
  503: 'A service of the stack is down',
  504: 'Gateway timeout'
};

/**
 * The message and problems of an error answer.
 *
 * The API answers `{"message": str, "problems": [ProblemInfo]?}`; jupyter_server's own
 * errors (403, 404 of unknown routes) answer `{"message": ..., "reason": ...}` or HTML.
 */
export function parseErrorBody(
  status: number,
  statusText: string,
  body: string
): IErrorBody {
  let message = '';
  let problems: IProblemInfo[] = [];
  const text = body.trim();
  if (text) {
    try {
      const data = JSON.parse(text) as unknown;
      if (data && typeof data === 'object') {
        const record = data as Record<string, unknown>;
        for (const key of ['message', 'reason', 'error']) {
          const value = record[key];
          if (typeof value === 'string' && value.trim()) {
            message = value.trim();
            break;
          }
        }
        if (Array.isArray(record.problems)) {
          problems = record.problems
            .filter(p => p && typeof p === 'object' && 'message' in p)
            .map(p => ({
              message: String((p as IProblemInfo).message),
              place: String((p as IProblemInfo).place ?? '')
            }));
        }
      } else if (typeof data === 'string') {
        message = data;
      }
    } catch {
      // not JSON: an HTML error page says little; a short text says it all
      if (!text.startsWith('<') && text.length <= 500) {
        message = text;
      }
    }
  }
  if (!message) {
    const words = statusText || STATUS_WORDS[status] || 'Request failed';
    message = `${words} (HTTP ${status})`;
  }
  return { message, problems };
}

/** The parts of a `ServerConnection.ResponseError` that {@link errorMessage} reads. */
interface IResponseErrorLike {
  message?: unknown;
  response?: { status?: number; statusText?: string };
  problems?: IProblemInfo[];
}

/**
 * The message to show for anything thrown by the API client: our `ApiError`, a
 * `ServerConnection.ResponseError` (status and message), a `NetworkError`, an `Error` or
 * a string.
 */
export function errorMessage(error: unknown): string {
  if (error === null || error === undefined) {
    return 'Unknown error';
  }
  if (typeof error === 'string') {
    return error;
  }
  if (typeof error === 'object') {
    const err = error as IResponseErrorLike & { name?: string };
    const message = typeof err.message === 'string' ? err.message.trim() : '';
    const status = err.response?.status;
    if (status !== undefined) {
      // ResponseError's default message is "Invalid response: 503 Service Unavailable";
      // its JSON body, when the caller put it there, is a better one.
      if (message.startsWith('{')) {
        return parseErrorBody(status, err.response?.statusText ?? '', message)
          .message;
      }
      return message || parseErrorBody(status, err.response?.statusText ?? '', '').message;
    }
    if (err.name === 'NetworkError' || err.name === 'TypeError') {
      return `Cannot reach the Jupyter server: ${message || 'network error'}`;
    }
    if (message) {
      return message;
    }
  }
  return String(error);
}

/** The problems carried by an error of the API client (empty for other errors). */
export function errorProblems(error: unknown): IProblemInfo[] {
  if (error && typeof error === 'object') {
    const problems = (error as IResponseErrorLike).problems;
    if (Array.isArray(problems)) {
      return problems;
    }
  }
  return [];
}

/** The HTTP status of an error of the API client, or 0 when there was no answer. */
export function errorStatus(error: unknown): number {
  if (error && typeof error === 'object') {
    const status = (error as IResponseErrorLike).response?.status;
    if (typeof status === 'number') {
      return status;
    }
  }
  return 0;
}
