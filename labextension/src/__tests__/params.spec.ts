import {
  boundsText,
  coerceText,
  defaultExperiment,
  defaultText,
  formValues,
  gridSize,
  isSubmittable,
  isYaml,
  placeProblems,
  splitSweep
} from '../params';
import type { IParameterInfo } from '../types';

function param(name: string, kind: string, extra: Partial<IParameterInfo> = {}): IParameterInfo {
  return { name, kind, type: kind, required: false, ...extra };
}

describe('splitSweep', () => {
  it('splits comma-separated values and trims them', () => {
    expect(splitSweep(' 0.1, 0.2 ,0.3,, ')).toEqual(['0.1', '0.2', '0.3']);
    expect(splitSweep('')).toEqual([]);
    expect(splitSweep('fgsm')).toEqual(['fgsm']);
  });

  it('expands numeric ranges start:stop:step, the stop included', () => {
    expect(splitSweep('1:5:2')).toEqual(['1', '3', '5']);
    expect(splitSweep('0:0.3:0.1')).toEqual(['0', '0.1', '0.2', '0.3']);
    expect(splitSweep('10:0:-5')).toEqual(['10', '5', '0']);
  });

  it('reads invalid ranges as one value', () => {
    expect(splitSweep('1:5:0')).toEqual(['1:5:0']);
    expect(splitSweep('5:1:1')).toEqual(['5:1:1']);
    expect(splitSweep('a:b:c')).toEqual(['a:b:c']);
    expect(splitSweep('0:100000:1')).toEqual(['0:100000:1']);
  });
});

describe('coerceText', () => {
  it('reads ints and floats, leaving bad text for the server', () => {
    expect(coerceText('42', param('n', 'int'))).toBe(42);
    expect(coerceText(' -3 ', param('n', 'int'))).toBe(-3);
    expect(coerceText('3.5', param('n', 'int'))).toBe('3.5');
    expect(coerceText('0.03', param('e', 'float'))).toBe(0.03);
    expect(coerceText('1e-3', param('e', 'float'))).toBe(0.001);
    expect(coerceText('.5', param('e', 'float'))).toBe(0.5);
    expect(coerceText('abc', param('e', 'float'))).toBe('abc');
  });

  it('reads booleans the way the CLI does', () => {
    const p = param('b', 'bool');
    expect(coerceText('true', p)).toBe(true);
    expect(coerceText('No', p)).toBe(false);
    expect(coerceText('1', p)).toBe(true);
    expect(coerceText('maybe', p)).toBe('maybe');
  });

  it('keeps strings as they are', () => {
    expect(coerceText(' 12 ', param('s', 'str'))).toBe(' 12 ');
  });

  it('maps choices back to their values', () => {
    const p = param('c', 'choice', { choices: ['fgsm', 'pgd', 3, null] });
    expect(coerceText('pgd', p)).toBe('pgd');
    expect(coerceText('3', p)).toBe(3);
    expect(coerceText('null', p)).toBeNull();
    expect(coerceText('other', p)).toBe('other');
  });

  it('reads JSON for structured kinds, text otherwise', () => {
    expect(coerceText('[1, 2]', param('l', 'list'))).toEqual([1, 2]);
    expect(coerceText('{"a": 1}', param('d', 'dict'))).toEqual({ a: 1 });
    expect(coerceText('0.5', param('x', 'any'))).toBe(0.5);
    expect(coerceText('models:/cnn/1', param('m', 'object'))).toBe('models:/cnn/1');
  });

  it('reads null for nullable parameters and the none kind', () => {
    expect(coerceText('null', param('n', 'int', { nullable: true }))).toBeNull();
    expect(coerceText('~', param('n', 'none'))).toBeNull();
    expect(coerceText('x', param('n', 'none'))).toBe('x');
  });
});

describe('formValues', () => {
  const params = [
    param('epsilon', 'float', { required: true }),
    param('epochs', 'int', { default: 3 }),
    param('attack', 'choice', { choices: ['fgsm', 'pgd'] }),
    param('name', 'str'),
    param('targeted', 'bool')
  ];

  it('types the values and sends sweeps as the grid', () => {
    const values = formValues(params, {
      epsilon: { value: '0.1', sweep: '0.01, 0.03, 0.1' },
      epochs: { value: '5', sweep: '' },
      attack: { value: 'pgd', sweep: '' },
      name: { value: 'run a', sweep: '' },
      targeted: { value: 'false', sweep: '' }
    });
    expect(values).toEqual({
      parameters: { epochs: 5, attack: 'pgd', name: 'run a', targeted: false },
      grid: { epsilon: [0.01, 0.03, 0.1] }
    });
    expect(gridSize(values.grid)).toBe(3);
  });

  it('leaves empty fields out so the server fills defaults', () => {
    expect(
      formValues(params, {
        epsilon: { value: ' ', sweep: '' },
        epochs: { value: '', sweep: '' },
        attack: { value: '', sweep: 'fgsm,pgd' },
        name: { value: '', sweep: '' },
        targeted: { value: '', sweep: '' }
      })
    ).toEqual({ parameters: {}, grid: { attack: ['fgsm', 'pgd'] } });
  });

  it('counts the jobs of a grid', () => {
    expect(gridSize({})).toBe(1);
    expect(gridSize({ a: [1, 2], b: [1, 2, 3] })).toBe(6);
  });
});

describe('placeProblems', () => {
  const names = ['epsilon', 'epochs'];

  it('puts problems next to the field their place names', () => {
    const placed = placeProblems(
      [
        { message: 'must be > 0', place: 'epsilon' },
        { message: 'expected an integer', place: 'parameters.epochs' },
        { message: 'expected a float', place: 'grid.epsilon' }
      ],
      names
    );
    expect(placed.byField.get('epsilon')).toEqual(['must be > 0', 'expected a float']);
    expect(placed.byField.get('epochs')).toEqual(['expected an integer']);
    expect(placed.general).toEqual([]);
  });

  it("finds the parameter in the message when there is no place", () => {
    const placed = placeProblems(
      [
        { message: "parameter 'epochs': expected an integer, got 'x'", place: '' },
        { message: "parameter 'epsilon' is required (type float); pass a value" }
      ],
      names
    );
    expect(placed.byField.get('epochs')).toHaveLength(1);
    expect(placed.byField.get('epsilon')).toHaveLength(1);
  });

  it('keeps the entry point problems and unknown parameters general', () => {
    const placed = placeProblems(
      [
        { message: "unknown parameter 'foo'; known parameters: epochs, epsilon", place: '' },
        { message: 'unknown task', place: 'graph.train.task' }
      ],
      names
    );
    expect(placed.byField.size).toBe(0);
    expect(placed.general).toEqual([
      "unknown parameter 'foo'; known parameters: epochs, epsilon",
      'graph.train.task: unknown task'
    ]);
  });
});

describe('field helpers', () => {
  it('shows defaults as text', () => {
    expect(defaultText(param('a', 'int', { default: 3 }))).toBe('3');
    expect(defaultText(param('a', 'bool', { default: false }))).toBe('false');
    expect(defaultText(param('a', 'list', { default: [1, 2] }))).toBe('[1,2]');
    expect(defaultText(param('a', 'str', { default: null }))).toBe('');
  });

  it('words bounds with their exclusivity', () => {
    expect(boundsText(param('e', 'float', { minimum: 0, exclusive_minimum: true, maximum: 1 }))).toBe(
      '> 0 and ≤ 1'
    );
    expect(boundsText(param('n', 'int', { minimum: 1 }))).toBe('≥ 1');
    expect(boundsText(param('n', 'int'))).toBe('');
  });

  it('names the default experiment after the file', () => {
    expect(defaultExperiment('examples/fgsm_sweep.yaml')).toBe('fgsm_sweep');
    expect(defaultExperiment('nb/Attack v2.ipynb')).toBe('Attack v2');
  });

  it('knows which files can be submitted', () => {
    expect(isSubmittable('a/b.ipynb')).toBe(true);
    expect(isSubmittable('a/b.YML')).toBe(true);
    expect(isSubmittable('a/b.py')).toBe(false);
    expect(isYaml('x.yaml')).toBe(true);
    expect(isYaml('x.ipynb')).toBe(false);
  });
});
