/**
 * The DOM of a run's results (`RunResult.to_json()`): a parameters line, a steps table
 * with times and a total, and a results table. Pure DOM: the MIME renderer (`mime.ts`)
 * puts it in a widget; jest checks it in jsdom.
 */
import type { IRunResultJSON, IStepRecord } from './types';

const MAX_TEXT = 300;

/** A number as a table shows it: integers whole, others with 4 significant decimals. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) {
    return String(value);
  }
  if (Number.isInteger(value)) {
    return Math.abs(value) >= 1e15 ? value.toExponential(3) : String(value);
  }
  const abs = Math.abs(value);
  if (abs >= 1e6 || abs < 1e-4) {
    return value.toExponential(3);
  }
  if (abs >= 1000) {
    return value.toFixed(1);
  }
  // 4 significant digits, trailing zeros dropped: 0.912345 → 0.9123, 12.5 → 12.5
  return String(parseFloat(value.toPrecision(4)));
}

/** Seconds as a time cell shows them: `0.012s`, `3.40s`, `1m 05s`. */
export function formatSeconds(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) {
    return '–';
  }
  if (seconds < 1) {
    return `${seconds.toFixed(3)}s`;
  }
  if (seconds < 60) {
    return `${seconds.toFixed(2)}s`;
  }
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds - m * 60);
  return `${m}m ${s < 10 ? '0' : ''}${s}s`;
}

function shorten(text: string): string {
  return text.length <= MAX_TEXT ? text : `${text.slice(0, MAX_TEXT - 1)}…`;
}

/** A value as a cell shows it: numbers formatted, text as it is, the rest compact JSON. */
export function formatValue(value: unknown): string {
  if (value === null || value === undefined) {
    return 'null';
  }
  if (typeof value === 'number') {
    return formatNumber(value);
  }
  if (typeof value === 'string') {
    return shorten(value);
  }
  if (typeof value === 'boolean') {
    return value ? 'true' : 'false';
  }
  if (typeof value === 'object' && !Array.isArray(value)) {
    const v = value as Record<string, unknown>;
    const keys = Object.keys(v);
    // a summarized array from the kernel: {type, shape, dtype}
    if (Array.isArray(v.shape) && typeof v.type === 'string' && keys.length <= 3) {
      return `${v.type} ${(v.shape as unknown[]).join('×')}${v.dtype ? ` ${v.dtype}` : ''}`;
    }
    // an object JSON cannot hold: {type, repr} (a figure, a model, …)
    if (typeof v.type === 'string' && typeof v.repr === 'string' && keys.length === 2) {
      return shorten(v.repr);
    }
  }
  return shorten(JSON.stringify(value, compactNumbers));
}

function compactNumbers(_key: string, v: unknown): unknown {
  if (typeof v === 'number' && Number.isFinite(v) && !Number.isInteger(v)) {
    return Number(formatNumber(v));
  }
  return v;
}

function el<K extends keyof HTMLElementTagNameMap>(
  doc: Document,
  tag: K,
  className?: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = doc.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

function row(doc: Document, cells: string[], header = false): HTMLTableRowElement {
  const tr = el(doc, 'tr');
  for (const cell of cells) {
    tr.appendChild(el(doc, header ? 'th' : 'td', undefined, cell));
  }
  return tr;
}

function stepTime(step: IStepRecord): string {
  return step.cached ? 'cached' : formatSeconds(step.seconds);
}

/** The whole view of a run's results. */
export function renderResults(
  payload: IRunResultJSON,
  doc: Document = document
): HTMLElement {
  const root = el(doc, 'div', 'jp-DioptraLab-results');
  root.dataset.entrypoint = payload.entrypoint ?? '';
  const steps = payload.steps ?? [];

  const title = el(doc, 'div', 'jp-DioptraLab-results-title');
  title.appendChild(el(doc, 'strong', undefined, payload.entrypoint || 'run'));
  title.appendChild(
    doc.createTextNode(
      `: ${steps.length} step${steps.length === 1 ? '' : 's'} in ${formatSeconds(payload.seconds)}`
    )
  );
  root.appendChild(title);

  // parameters: one line of name=value
  const params = Object.entries(payload.parameters ?? {});
  const paramLine = el(doc, 'div', 'jp-DioptraLab-results-params');
  if (params.length) {
    paramLine.appendChild(el(doc, 'span', 'jp-DioptraLab-results-label', 'parameters: '));
    params.forEach(([name, value], i) => {
      const item = el(doc, 'code', 'jp-DioptraLab-results-param');
      item.dataset.param = name;
      item.textContent = `${name}=${formatValue(value)}`;
      paramLine.appendChild(item);
      if (i < params.length - 1) {
        paramLine.appendChild(doc.createTextNode(', '));
      }
    });
  } else {
    paramLine.textContent = 'no parameters';
  }
  root.appendChild(paramLine);

  // steps with their times and the total
  const stepsTable = el(doc, 'table', 'jp-DioptraLab-results-steps');
  const stepsHead = el(doc, 'thead');
  stepsHead.appendChild(row(doc, ['step', 'task', 'time'], true));
  stepsTable.appendChild(stepsHead);
  const stepsBody = el(doc, 'tbody');
  let total = 0;
  for (const step of steps) {
    const tr = row(doc, [step.name, step.task, stepTime(step)]);
    tr.dataset.step = step.name;
    if (step.cached) {
      tr.classList.add('jp-DioptraLab-results-cached');
    }
    (tr.children[1] as HTMLElement).classList.add('jp-DioptraLab-results-task');
    stepsBody.appendChild(tr);
    if (!step.cached && typeof step.seconds === 'number') {
      total += step.seconds;
    }
  }
  stepsTable.appendChild(stepsBody);
  const foot = el(doc, 'tfoot');
  const totalRow = row(doc, ['total', '', formatSeconds(total)]);
  totalRow.className = 'jp-DioptraLab-results-total';
  foot.appendChild(totalRow);
  stepsTable.appendChild(foot);
  root.appendChild(stepsTable);

  // results
  const results = Object.entries(payload.results ?? {});
  root.appendChild(el(doc, 'div', 'jp-DioptraLab-results-heading', 'Results'));
  if (results.length) {
    const table = el(doc, 'table', 'jp-DioptraLab-results-values');
    const head = el(doc, 'thead');
    head.appendChild(row(doc, ['name', 'value'], true));
    table.appendChild(head);
    const body = el(doc, 'tbody');
    for (const [name, value] of results) {
      const tr = el(doc, 'tr');
      tr.dataset.result = name;
      tr.appendChild(el(doc, 'td', undefined, name));
      const cell = el(doc, 'td', 'jp-DioptraLab-results-value', formatValue(value));
      if (typeof value === 'number') {
        cell.classList.add('jp-DioptraLab-results-number');
        cell.title = String(value);
      } else if (value !== null && typeof value === 'object') {
        cell.classList.add('jp-DioptraLab-results-json');
        cell.title = JSON.stringify(value);
      }
      tr.appendChild(cell);
      body.appendChild(tr);
    }
    table.appendChild(body);
    root.appendChild(table);
  } else {
    root.appendChild(el(doc, 'div', 'jp-DioptraLab-results-empty', 'no results'));
  }
  return root;
}

/** A failure report (`application/vnd.dioptra-lab.failure+json`). */
export function renderFailure(
  payload: Record<string, unknown>,
  doc: Document = document
): HTMLElement {
  const root = el(doc, 'div', 'jp-DioptraLab-failure');
  const where = payload.step
    ? `step '${payload.step}'${payload.task ? ` (task ${payload.task})` : ''} failed`
    : payload.cell !== undefined && payload.cell !== null
      ? `cell ${payload.cell} failed`
      : String(payload.reason ?? 'failed');
  root.appendChild(el(doc, 'strong', undefined, where));
  const error = [payload.exception, payload.message].filter(Boolean).join(': ');
  if (error) {
    root.appendChild(el(doc, 'pre', 'jp-DioptraLab-failure-message', error));
  }
  return root;
}
