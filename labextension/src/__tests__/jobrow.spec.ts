import { JobRow } from '../jobrow';
import type { IJobView } from '../types';

const RUNNING: IJobView = {
  id: '0123456789abcdef',
  status: 'running',
  experiment: 'fgsm',
  entrypoint: 'examples/fgsm.yaml',
  queue: 'gpu',
  run_name: 'fgsm-eps-0.03',
  progress: { step: 'attack', task: 'lab_attacks.fgsm', index: 3, total: 4, state: 'started' },
  started: Date.now() / 1000 - 30,
  expected_end: Date.now() / 1000 + 60,
  links: { mlflow: null }
};

describe('JobRow', () => {
  it('carries the attributes browser tests select on', () => {
    const row = new JobRow(RUNNING, () => undefined);
    const node = row.node;
    expect(node.classList.contains('jp-DioptraLab-job')).toBe(true);
    expect(node.dataset.jobId).toBe(RUNNING.id);
    expect(node.dataset.status).toBe('running');
    expect(node.querySelector('.jp-DioptraLab-status-badge')!.textContent).toBe('running');
    expect(node.querySelector('.jp-DioptraLab-job-name')!.textContent).toBe('fgsm-eps-0.03');
    expect(node.querySelector('.jp-DioptraLab-job-experiment')!.textContent).toBe('fgsm');
    expect(node.querySelector('.jp-DioptraLab-progress-label')!.textContent).toBe(
      'step 3/4: attack'
    );
    expect(node.querySelector('.jp-DioptraLab-progress')!.getAttribute('aria-valuenow')).toBe('50');
    expect(node.querySelector('.jp-DioptraLab-job-eta')!.textContent).toMatch(/^ends ~/);
    expect(row.button('cancel').hidden).toBe(false);
    expect(row.button('mlflow').disabled).toBe(true);
  });

  it('updates in place, keeping its buttons', () => {
    const row = new JobRow(RUNNING, () => undefined);
    const cancel = row.button('cancel');
    row.update({
      ...RUNNING,
      status: 'finished',
      ended: Date.now() / 1000,
      links: { mlflow: 'http://127.0.0.1:5000/#/experiments/1/runs/0123' }
    });
    expect(row.node.dataset.status).toBe('finished');
    expect(row.button('cancel')).toBe(cancel);
    expect(cancel.hidden).toBe(true);
    expect(row.button('mlflow').disabled).toBe(false);
    expect(row.node.querySelector('.jp-DioptraLab-job-eta')!.textContent).toBe('');
    expect(row.node.querySelector('.jp-DioptraLab-progress')!.getAttribute('aria-valuenow')).toBe(
      '100'
    );
  });

  it('calls back with the action and the latest job', () => {
    const calls: string[] = [];
    const row = new JobRow(RUNNING, (action, job) => calls.push(`${action}:${job.status}`));
    row.update({ ...RUNNING, status: 'failed', failure: { reason: 'boom' } });
    row.node.querySelector<HTMLButtonElement>('[data-action="logs"]')!.click();
    row.node.querySelector<HTMLButtonElement>('[data-action="rerun"]')!.click();
    expect(calls).toEqual(['logs:failed', 'rerun:failed']);
    expect(row.node.querySelector('.jp-DioptraLab-job-failure')!.textContent).toBe('boom');
  });
});
