/**
 * Pure logic of the submit form: text of the fields → typed parameter values and the
 * sweep grid, problems → the fields they belong to.
 *
 * The server checks values strictly (an `int` parameter wants a JSON integer), so text is
 * coerced here by the parameter's kind; text that does not fit is sent as it is and the
 * server's problem says why.
 */
import type { IParameterInfo, IProblemInfo } from './types';

/** Most values a range sweep (`start:stop:step`) may expand to. */
export const MAX_SWEEP = 1000;

const TRUE = new Set(['true', 'yes', 'y', 'on', '1']);
const FALSE = new Set(['false', 'no', 'n', 'off', '0']);
const NONE = new Set(['none', 'null', '~', '']);

const INT_RE = /^[+-]?\d+$/;
const FLOAT_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** The text of one field and of its sweep box. */
export interface IFieldText {
  value: string;
  sweep: string;
}

/** What the form sends: the values not swept and the grid of swept ones. */
export interface IFormValues {
  parameters: Record<string, unknown>;
  grid: Record<string, unknown[]>;
}

/**
 * The values of a sweep box: `0.1, 0.2` → `["0.1", "0.2"]`; a numeric range
 * `start:stop:step` → every value (the stop included when a step lands on it), as the
 * command line's `--sweep` reads it. Text that is no valid range is one value.
 */
export function splitSweep(text: string): string[] {
  const parts = text.split(':');
  if (parts.length === 3 && parts.every(p => FLOAT_RE.test(p.trim()))) {
    const [start, stop, step] = parts.map(p => parseFloat(p));
    const span = (stop - start) / step;
    if (step === 0 || span < 0 || span >= MAX_SWEEP) {
      return [text.trim()];
    }
    const count = Math.floor(span + 1e-9) + 1;
    const whole = parts.every(p => INT_RE.test(p.trim()));
    const values: string[] = [];
    for (let i = 0; i < count; i++) {
      const v = start + i * step;
      values.push(whole ? String(Math.round(v)) : String(parseFloat(v.toFixed(12))));
    }
    return values;
  }
  return text
    .split(',')
    .map(v => v.trim())
    .filter(v => v.length > 0);
}

/** The text a field starts with: the parameter's default. */
export function defaultText(info: IParameterInfo): string {
  const value = info.default;
  if (value === null || value === undefined) {
    return '';
  }
  if (typeof value === 'boolean') {
    return value ? 'true' : 'false';
  }
  if (typeof value === 'object') {
    return JSON.stringify(value);
  }
  return String(value);
}

/** The text a choice shows in its select (and is matched against). */
export function choiceText(choice: unknown): string {
  if (choice === null || choice === undefined) {
    return 'null';
  }
  if (typeof choice === 'object') {
    return JSON.stringify(choice);
  }
  return String(choice);
}

function parseJSONish(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * The typed value of a field's text for a parameter.
 *
 * - `int`: an integer, `float`: a number, `bool`: true/false (yes/no, on/off, 1/0),
 *   `none`: null, `str`: the text as it is, `choice`: the choice whose text it is;
 * - other kinds (`list`, `dict`, `tuple`, `record`, `union`, `object`, `any`): JSON when
 *   the text parses as JSON, else the text;
 * - a nullable parameter reads `null`/`none`/`~` as null;
 * - text that does not fit is returned unchanged, for the server to report.
 */
export function coerceText(text: string, info: IParameterInfo): unknown {
  const t = text.trim();
  if (info.nullable && NONE.has(t.toLowerCase()) && info.kind !== 'str') {
    return null;
  }
  switch (info.kind) {
    case 'int':
      return INT_RE.test(t) ? parseInt(t, 10) : text;
    case 'float':
      return FLOAT_RE.test(t) ? parseFloat(t) : text;
    case 'bool': {
      const lower = t.toLowerCase();
      if (TRUE.has(lower)) {
        return true;
      }
      if (FALSE.has(lower)) {
        return false;
      }
      return text;
    }
    case 'none':
      return NONE.has(t.toLowerCase()) ? null : text;
    case 'str':
      return text;
    case 'choice': {
      const found = (info.choices ?? []).find(c => choiceText(c) === t);
      if (found !== undefined) {
        return found;
      }
      return (info.choices ?? []).length ? parseJSONish(t) : text;
    }
    default:
      return parseJSONish(t);
  }
}

/**
 * The request values of the form: a field whose sweep box has values goes to the grid
 * (each value coerced), the others to the parameters; empty fields are left out, so the
 * server fills defaults (and says so when a required one is missing).
 */
export function formValues(
  params: IParameterInfo[],
  texts: Record<string, IFieldText>
): IFormValues {
  const parameters: Record<string, unknown> = {};
  const grid: Record<string, unknown[]> = {};
  for (const info of params) {
    const field = texts[info.name];
    if (!field) {
      continue;
    }
    const sweep = splitSweep(field.sweep ?? '');
    if (sweep.length > 0) {
      grid[info.name] = sweep.map(v => coerceText(v, info));
      continue;
    }
    const empty = info.kind === 'str' ? field.value === '' : field.value.trim() === '';
    if (empty) {
      continue;
    }
    parameters[info.name] = coerceText(field.value, info);
  }
  return { parameters, grid };
}

/** The number of jobs a grid makes (the product of its lengths; 1 without sweeps). */
export function gridSize(grid: Record<string, unknown[]>): number {
  return Object.values(grid).reduce((n, values) => n * Math.max(values.length, 1), 1);
}

/** Words describing a parameter's bounds: `≥ 0`, `> 0 and ≤ 1`. */
export function boundsText(info: IParameterInfo): string {
  const parts: string[] = [];
  if (info.minimum !== null && info.minimum !== undefined) {
    parts.push(`${info.exclusive_minimum ? '>' : '≥'} ${info.minimum}`);
  }
  if (info.maximum !== null && info.maximum !== undefined) {
    parts.push(`${info.exclusive_maximum ? '<' : '≤'} ${info.maximum}`);
  }
  return parts.join(' and ');
}

/** Problems split by the field they belong to, the rest in `general`. */
export interface IPlacedProblems {
  byField: Map<string, string[]>;
  general: string[];
}

function fieldOfPlace(place: string, names: Set<string>): string | null {
  if (!place) {
    return null;
  }
  if (names.has(place)) {
    return place;
  }
  // `parameters.epsilon`, `grid.epsilon`, `parameters.epsilon.default`, …
  const parts = place.split(/[.[\]\s:]+/).filter(Boolean);
  for (const prefix of ['parameters', 'parameter', 'grid', 'sweep']) {
    const i = parts.indexOf(prefix);
    if (i >= 0 && i + 1 < parts.length && names.has(parts[i + 1])) {
      return parts[i + 1];
    }
  }
  return null;
}

const MESSAGE_PARAM_RE = /parameter\s+['"`]([^'"`]+)['"`]/;

/**
 * Place problems next to their fields: by `place` (the parameter's name, or a dotted
 * place under `parameters`/`grid`), else by a message naming `parameter 'name'`.
 * Problems of unknown parameters and of the entry point itself stay general.
 */
export function placeProblems(
  problems: IProblemInfo[],
  fieldNames: string[]
): IPlacedProblems {
  const names = new Set(fieldNames);
  const byField = new Map<string, string[]>();
  const general: string[] = [];
  for (const problem of problems) {
    let field = fieldOfPlace(problem.place ?? '', names);
    if (field === null && !problem.message.startsWith('unknown parameter')) {
      const match = MESSAGE_PARAM_RE.exec(problem.message);
      if (match && names.has(match[1])) {
        field = match[1];
      }
    }
    if (field === null) {
      general.push(problem.place ? `${problem.place}: ${problem.message}` : problem.message);
      continue;
    }
    const list = byField.get(field) ?? [];
    if (!list.includes(problem.message)) {
      list.push(problem.message);
    }
    byField.set(field, list);
  }
  return { byField, general };
}

/** The default experiment of a file: its name without folders and extension. */
export function defaultExperiment(path: string): string {
  const base = path.split('/').pop() ?? path;
  const dot = base.lastIndexOf('.');
  return (dot > 0 ? base.slice(0, dot) : base) || 'default';
}

/** Whether a file is an entry point the submit button applies to. */
export function isSubmittable(path: string): boolean {
  return /\.(ipynb|ya?ml)$/i.test(path);
}

/** Whether a file is a YAML entry point (the file editor's button shows only for these). */
export function isYaml(path: string): boolean {
  return /\.ya?ml$/i.test(path);
}
