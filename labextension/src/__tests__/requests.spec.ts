import {
  apiUrl,
  encodePath,
  entrypointPath,
  errorMessage,
  errorProblems,
  errorStatus,
  experimentResultsPath,
  jobPath,
  parseErrorBody,
  queryString
} from '../requests';

/** The shape of `ServerConnection.ResponseError` (an Error with the fetch response). */
class FakeResponseError extends Error {
  constructor(
    readonly response: { status: number; statusText: string },
    message?: string,
    readonly problems?: { message: string; place: string }[]
  ) {
    super(message ?? `Invalid response: ${response.status} ${response.statusText}`);
    this.name = 'ResponseError';
  }
}

describe('apiUrl', () => {
  it('joins the base URL, the prefix and the path', () => {
    expect(apiUrl('http://localhost:8888/', 'stack')).toBe(
      'http://localhost:8888/dioptra-lab/api/v1/stack'
    );
  });

  it('respects a base URL with a path and no trailing slash', () => {
    expect(apiUrl('http://h:1/user/ada', '/jobs')).toBe(
      'http://h:1/user/ada/dioptra-lab/api/v1/jobs'
    );
  });

  it('adds the query, lists comma-joined and empty values left out', () => {
    expect(
      apiUrl('http://h/', 'jobs', {
        experiment: 'fgsm sweep',
        status: ['queued', 'running'],
        sweep: '',
        limit: 50,
        offset: undefined
      })
    ).toBe(
      'http://h/dioptra-lab/api/v1/jobs?experiment=fgsm%20sweep&status=queued%2Crunning&limit=50'
    );
  });

  it('leaves out empty lists', () => {
    expect(queryString({ status: [], offset: 0 })).toBe('offset=0');
  });
});

describe('paths', () => {
  it('escapes every segment of an entry point path but keeps the slashes', () => {
    expect(encodePath('examples/my run#1.yaml')).toBe('examples/my%20run%231.yaml');
    expect(entrypointPath('/notebooks/a?b.ipynb')).toBe('entrypoints/notebooks/a%3Fb.ipynb');
  });

  it('escapes job ids and experiment names as one segment', () => {
    expect(jobPath('abc123')).toBe('jobs/abc123');
    expect(jobPath('abc/123', 'cancel')).toBe('jobs/abc%2F123/cancel');
    expect(experimentResultsPath('a/b c')).toBe('experiments/a%2Fb%20c/results');
  });
});

describe('parseErrorBody', () => {
  it('reads the message and problems of the API', () => {
    const body = JSON.stringify({
      message: '2 invalid parameters',
      problems: [
        { message: 'expected a float', place: 'epsilon' },
        { message: 'unknown parameter x' }
      ]
    });
    expect(parseErrorBody(400, 'Bad Request', body)).toEqual({
      message: '2 invalid parameters',
      problems: [
        { message: 'expected a float', place: 'epsilon' },
        { message: 'unknown parameter x', place: '' }
      ]
    });
  });

  it("reads jupyter_server's own errors", () => {
    expect(parseErrorBody(403, 'Forbidden', '{"message": "", "reason": "Forbidden"}').message).toBe(
      'Forbidden'
    );
  });

  it('says the status when the body says nothing useful', () => {
    expect(parseErrorBody(503, '', '<html><body>oops</body></html>').message).toBe(
      'A service of the stack is down (HTTP 503)'
    );
    expect(parseErrorBody(502, 'Bad Gateway', '').message).toBe('Bad Gateway (HTTP 502)');
  });

  it('keeps a short text body', () => {
    expect(parseErrorBody(500, 'x', 'database is locked').message).toBe('database is locked');
  });
});

describe('errorMessage', () => {
  it('gives the message of a ResponseError carrying the server message', () => {
    const error = new FakeResponseError(
      { status: 503, statusText: 'Service Unavailable' },
      'Redis is not running at redis://localhost:6379: start the stack with `dioptra-lab up`',
      []
    );
    expect(errorMessage(error)).toBe(
      'Redis is not running at redis://localhost:6379: start the stack with `dioptra-lab up`'
    );
    expect(errorStatus(error)).toBe(503);
  });

  it('parses a JSON body put in the message', () => {
    const error = new FakeResponseError(
      { status: 404, statusText: 'Not Found' },
      '{"message": "no job abc"}'
    );
    expect(errorMessage(error)).toBe('no job abc');
  });

  it("keeps ResponseError's default message", () => {
    const error = new FakeResponseError({ status: 500, statusText: 'Internal Server Error' });
    expect(errorMessage(error)).toBe('Invalid response: 500 Internal Server Error');
  });

  it('words network errors, plain errors and strings', () => {
    const network = new TypeError('Failed to fetch');
    network.name = 'NetworkError';
    expect(errorMessage(network)).toBe('Cannot reach the Jupyter server: Failed to fetch');
    expect(errorStatus(network)).toBe(0);
    expect(errorMessage(new Error('boom'))).toBe('boom');
    expect(errorMessage('plain')).toBe('plain');
    expect(errorMessage(undefined)).toBe('Unknown error');
  });

  it('gives the problems an error carries', () => {
    const error = new FakeResponseError({ status: 400, statusText: '' }, 'bad', [
      { message: 'm', place: 'p' }
    ]);
    expect(errorProblems(error)).toEqual([{ message: 'm', place: 'p' }]);
    expect(errorProblems(new Error('x'))).toEqual([]);
  });
});
