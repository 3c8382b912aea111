import { formatNumber, formatSeconds, formatValue, renderFailure, renderResults } from '../results';
import type { IRunResultJSON } from '../types';

/** What `RunResult.to_json()` gives for a small attack run. */
const PAYLOAD: IRunResultJSON = {
  entrypoint: 'fgsm_sweep',
  parameters: { epsilon: 0.03, epochs: 2, attack: 'fgsm' },
  steps: [
    { name: 'data', task: 'lab_data.load_digits', seconds: 0.0123, cached: false, outputs: {} },
    { name: 'train', task: 'lab_models.train_cnn', seconds: 3.4, cached: false, outputs: {} },
    { name: 'model', task: 'lab_models.load', seconds: null, cached: true, outputs: {} },
    { name: 'attack', task: 'lab_attacks.fgsm', seconds: 1.25, cached: false, outputs: {} }
  ],
  results: {
    accuracy: 0.912345,
    adversarial_accuracy: 0.25,
    samples: 360,
    report: { clean: 0.9123456, adv: [0.1, 0.2] },
    images: { type: 'ndarray', shape: [360, 8, 8], dtype: 'float32' },
    note: 'ok',
    missing: null
  },
  seconds: 4.9,
  flow_run_id: 'f1'
};

describe('formatting', () => {
  it('formats numbers compactly', () => {
    expect(formatNumber(360)).toBe('360');
    expect(formatNumber(0.912345)).toBe('0.9123');
    expect(formatNumber(12.5)).toBe('12.5');
    expect(formatNumber(1234.5678)).toBe('1234.6');
    expect(formatNumber(0.00001234)).toBe('1.234e-5');
    expect(formatNumber(2.5e7)).toBe('25000000');
    expect(formatNumber(2.5e7 + 0.5)).toBe('2.500e+7');
  });

  it('formats times', () => {
    expect(formatSeconds(0.0123)).toBe('0.012s');
    expect(formatSeconds(3.4)).toBe('3.40s');
    expect(formatSeconds(65)).toBe('1m 05s');
    expect(formatSeconds(null)).toBe('–');
  });

  it('shows nested values as compact JSON and arrays by their shape', () => {
    expect(formatValue({ clean: 0.9123456, adv: [0.1, 0.2] })).toBe('{"clean":0.9123,"adv":[0.1,0.2]}');
    expect(formatValue({ type: 'ndarray', shape: [360, 8, 8], dtype: 'float32' })).toBe(
      'ndarray 360×8×8 float32'
    );
    expect(formatValue(true)).toBe('true');
    expect(formatValue('x'.repeat(400))).toHaveLength(300);
  });
});

describe('renderResults', () => {
  const root = renderResults(PAYLOAD);

  it('titles the run with its steps and time', () => {
    expect(root.classList.contains('jp-DioptraLab-results')).toBe(true);
    expect(root.querySelector('.jp-DioptraLab-results-title')!.textContent).toBe(
      'fgsm_sweep: 4 steps in 4.90s'
    );
  });

  it('shows the parameters on one line', () => {
    const line = root.querySelector('.jp-DioptraLab-results-params')!;
    expect(line.textContent).toBe('parameters: epsilon=0.03, epochs=2, attack=fgsm');
    expect(line.querySelector('[data-param="epochs"]')!.textContent).toBe('epochs=2');
  });

  it('tables the steps with their times and a total', () => {
    const rows = Array.from(root.querySelectorAll('.jp-DioptraLab-results-steps tbody tr'));
    expect(rows.map(r => Array.from(r.children).map(c => c.textContent))).toEqual([
      ['data', 'lab_data.load_digits', '0.012s'],
      ['train', 'lab_models.train_cnn', '3.40s'],
      ['model', 'lab_models.load', 'cached'],
      ['attack', 'lab_attacks.fgsm', '1.25s']
    ]);
    expect(rows[2].classList.contains('jp-DioptraLab-results-cached')).toBe(true);
    expect((rows[1] as HTMLElement).dataset.step).toBe('train');
    const total = root.querySelector('.jp-DioptraLab-results-total')!;
    expect(Array.from(total.children).map(c => c.textContent)).toEqual(['total', '', '4.66s']);
  });

  it('tables the results, numbers formatted and nested values as JSON', () => {
    const value = (name: string) =>
      root.querySelector(`[data-result="${name}"] .jp-DioptraLab-results-value`)!;
    expect(value('accuracy').textContent).toBe('0.9123');
    expect(value('accuracy').classList.contains('jp-DioptraLab-results-number')).toBe(true);
    expect((value('accuracy') as HTMLElement).title).toBe('0.912345');
    expect(value('samples').textContent).toBe('360');
    expect(value('report').textContent).toBe('{"clean":0.9123,"adv":[0.1,0.2]}');
    expect(value('report').classList.contains('jp-DioptraLab-results-json')).toBe(true);
    expect(value('images').textContent).toBe('ndarray 360×8×8 float32');
    expect(value('note').textContent).toBe('ok');
    expect(value('missing').textContent).toBe('null');
    expect(root.querySelectorAll('.jp-DioptraLab-results-values tbody tr')).toHaveLength(7);
  });

  it('copes with a run without parameters or results', () => {
    const empty = renderResults({ entrypoint: 'x', steps: [], seconds: 0 });
    expect(empty.querySelector('.jp-DioptraLab-results-params')!.textContent).toBe('no parameters');
    expect(empty.querySelector('.jp-DioptraLab-results-empty')!.textContent).toBe('no results');
    expect(empty.querySelector('.jp-DioptraLab-results-title')!.textContent).toBe(
      'x: 0 steps in 0.000s'
    );
  });

  it('escapes text (no HTML from the payload)', () => {
    const html = renderResults({ entrypoint: '<b>x</b>', results: { '<i>': '<script>' } });
    expect(html.querySelector('b')).toBeNull();
    expect(html.querySelector('script')).toBeNull();
    expect(html.textContent).toContain('<script>');
  });
});

describe('renderFailure', () => {
  it('names the failing step and the error', () => {
    const node = renderFailure({
      reason: 'step failed',
      exception: 'ValueError',
      message: 'eps < 0',
      step: 'attack',
      task: 'lab_attacks.fgsm'
    });
    expect(node.querySelector('strong')!.textContent).toBe(
      "step 'attack' (task lab_attacks.fgsm) failed"
    );
    expect(node.querySelector('.jp-DioptraLab-failure-message')!.textContent).toBe(
      'ValueError: eps < 0'
    );
  });
});

describe('objects JSON cannot hold', () => {
  it('show their repr', () => {
    expect(
      formatValue({ type: 'matplotlib.figure.Figure', repr: '<Figure size 800x300 with 2 Axes>' })
    ).toBe('<Figure size 800x300 with 2 Axes>');
  });
});
