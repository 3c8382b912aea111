import {
  elapsedText,
  expectedEndText,
  failureText,
  formatClock,
  formatDuration,
  jobName,
  progressFraction,
  progressLabel,
  startedText
} from '../format';
import type { IJobView } from '../types';

/** Unix seconds of a local time. */
function at(y: number, mo: number, d: number, h: number, mi: number, s = 0): number {
  return new Date(y, mo - 1, d, h, mi, s).getTime() / 1000;
}

function job(extra: Partial<IJobView>): IJobView {
  return {
    id: 'a1b2c3d4e5f6',
    status: 'running',
    experiment: 'fgsm',
    entrypoint: 'examples/fgsm_sweep.yaml',
    queue: 'cpu',
    ...extra
  };
}

const NOW = new Date(2025, 4, 17, 14, 30, 0);

describe('formatDuration', () => {
  it('words seconds, minutes, hours and days', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(44.6)).toBe('45s');
    expect(formatDuration(65)).toBe('1m 05s');
    expect(formatDuration(3 * 3600 + 2 * 60 + 5)).toBe('3h 02m');
    expect(formatDuration(26 * 3600)).toBe('1d 2h');
    expect(formatDuration(-5)).toBe('0s');
    expect(formatDuration(NaN)).toBe('0s');
  });
});

describe('formatClock', () => {
  it('shows the time of today with seconds', () => {
    expect(formatClock(at(2025, 5, 17, 9, 5, 7), NOW)).toBe('09:05:07');
  });

  it('shows the day of other days this year', () => {
    expect(formatClock(at(2025, 1, 3, 14, 32), NOW)).toBe('Jan 3 14:32');
  });

  it('shows the date of other years', () => {
    expect(formatClock(at(2023, 12, 31, 23, 59), NOW)).toBe('2023-12-31 23:59');
  });
});

describe('job times', () => {
  it('says when the job started, or was submitted', () => {
    expect(startedText(job({ started: at(2025, 5, 17, 14, 0) }), NOW)).toBe('started 14:00:00');
    expect(startedText(job({ status: 'queued', submitted: at(2025, 5, 17, 13, 0) }), NOW)).toBe(
      'submitted 13:00:00'
    );
    expect(startedText(job({}), NOW)).toBe('');
  });

  it('says how long a job has run or took', () => {
    expect(elapsedText(job({ started: at(2025, 5, 17, 14, 28, 30) }), NOW)).toBe(
      'running for 1m 30s'
    );
    expect(
      elapsedText(
        job({ status: 'finished', started: at(2025, 5, 17, 14, 0), ended: at(2025, 5, 17, 14, 3, 20) }),
        NOW
      )
    ).toBe('took 3m 20s');
    expect(elapsedText(job({ status: 'queued' }), NOW)).toBe('');
  });

  it('says when a running job is expected to end', () => {
    expect(expectedEndText(job({ expected_end: at(2025, 5, 17, 14, 32, 10) }), NOW)).toBe(
      'ends ~14:32:10 (in 2m 10s)'
    );
    expect(expectedEndText(job({ expected_end: at(2025, 5, 17, 14, 29) }), NOW)).toBe('ending now');
    expect(expectedEndText(job({ expected_end: null }), NOW)).toBe('');
    expect(
      expectedEndText(job({ status: 'finished', expected_end: at(2025, 5, 17, 15, 0) }), NOW)
    ).toBe('');
  });
});

describe('progress', () => {
  const progress = { step: 'train', task: 'lab_models.train', index: 2, total: 4, state: 'started' };

  it('counts the steps done', () => {
    expect(progressFraction(job({ progress }))).toBe(0.25);
    expect(progressFraction(job({ progress: { ...progress, state: 'finished' } }))).toBe(0.5);
    expect(progressFraction(job({ status: 'finished', progress }))).toBe(1);
    expect(progressFraction(job({ status: 'queued' }))).toBe(0);
  });

  it('labels the step being run', () => {
    expect(progressLabel(job({ progress }))).toBe('step 2/4: train');
    expect(progressLabel(job({ progress: { ...progress, state: 'retrying' } }))).toBe(
      'step 2/4: train (retrying)'
    );
    expect(progressLabel(job({ status: 'queued' }))).toBe('waiting for a worker');
  });
});

describe('failureText', () => {
  it('names the failing step, the exception and its message', () => {
    expect(
      failureText(
        job({
          status: 'failed',
          failure: {
            reason: 'step failed',
            exception: 'ValueError',
            message: 'bad eps',
            step: 'attack',
            task: 'lab_attacks.fgsm'
          }
        })
      )
    ).toBe("step 'attack' (task lab_attacks.fgsm) failed: ValueError: bad eps");
  });

  it('falls back to the cell, then the reason', () => {
    expect(failureText(job({ failure: { reason: 'r', exception: 'KeyError', cell: 3 } }))).toBe(
      'cell 3 failed: KeyError'
    );
    expect(failureText(job({ failure: { reason: 'timed out after 60s' } }))).toBe(
      'timed out after 60s'
    );
    expect(failureText(job({}))).toBe('');
  });
});

describe('jobName', () => {
  it('prefers the run name, else the file name', () => {
    expect(jobName(job({ run_name: 'fgsm-0.03' }))).toBe('fgsm-0.03');
    expect(jobName(job({}))).toBe('fgsm_sweep.yaml');
  });
});
