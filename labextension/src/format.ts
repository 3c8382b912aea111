/**
 * Pure formatting of jobs for the panel: times, durations, progress and expected end.
 * Times from the API are Unix seconds; `now` is passed in so tests are deterministic.
 */
import type { IJobView, IProgress } from './types';

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** `1m 05s`, `45s`, `2h 03m`, `3d 4h`; negative durations read as 0s. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) {
    seconds = 0;
  }
  const s = Math.round(seconds);
  if (s < 60) {
    return `${s}s`;
  }
  const minutes = Math.floor(s / 60);
  if (minutes < 60) {
    return `${minutes}m ${pad(s % 60)}s`;
  }
  const hours = Math.floor(minutes / 60);
  if (hours < 24) {
    return `${hours}h ${pad(minutes % 60)}m`;
  }
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/**
 * A clock time of a Unix time: `14:32:10` on the day of `now`, `Jan 3 14:32` on other
 * days of the same year, `2023-12-31 14:32` otherwise. Local time.
 */
export function formatClock(unixSeconds: number, now: Date = new Date()): string {
  const d = new Date(unixSeconds * 1000);
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (
    d.getFullYear() === now.getFullYear() &&
    d.getMonth() === now.getMonth() &&
    d.getDate() === now.getDate()
  ) {
    return `${time}:${pad(d.getSeconds())}`;
  }
  if (d.getFullYear() === now.getFullYear()) {
    const month = d.toLocaleString('en', { month: 'short' });
    return `${month} ${d.getDate()} ${time}`;
  }
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

/** `started 14:32:10` (or submitted, before a worker took it). */
export function startedText(job: IJobView, now: Date = new Date()): string {
  if (job.started) {
    return `started ${formatClock(job.started, now)}`;
  }
  if (job.submitted) {
    return `submitted ${formatClock(job.submitted, now)}`;
  }
  return '';
}

/** How long a running job has run, or how long a finished job took (empty if unknown). */
export function elapsedText(job: IJobView, now: Date = new Date()): string {
  const start = job.started ?? job.submitted ?? null;
  if (start === null || start === undefined) {
    return '';
  }
  if (job.status === 'running') {
    return `running for ${formatDuration(now.getTime() / 1000 - start)}`;
  }
  if (job.ended) {
    return `took ${formatDuration(job.ended - start)}`;
  }
  return '';
}

/**
 * While running: `ends ~14:35:00 (in 2m 10s)`; `ending now` once the expected end has
 * passed; empty before the first step ended or when the job is not running.
 */
export function expectedEndText(job: IJobView, now: Date = new Date()): string {
  if (job.status !== 'running' || !job.expected_end) {
    return '';
  }
  const left = job.expected_end - now.getTime() / 1000;
  if (left <= 0) {
    return 'ending now';
  }
  return `ends ~${formatClock(job.expected_end, now)} (in ${formatDuration(left)})`;
}

/** The fraction (0..1) of a job that is done, from its status and progress. */
export function progressFraction(job: IJobView): number {
  if (job.status === 'finished') {
    return 1;
  }
  const p = job.progress;
  if (!p || !p.total) {
    return 0;
  }
  const done = p.state === 'started' || p.state === 'retrying' ? p.index - 1 : p.index;
  return Math.max(0, Math.min(1, done / p.total));
}

/** `step 2/5: train` (the step being run), or a word for jobs without progress. */
export function progressLabel(job: IJobView): string {
  const p: IProgress | null | undefined = job.progress;
  if (p && p.total) {
    const name = p.step ? `: ${p.step}` : '';
    const state = p.state && p.state !== 'started' ? ` (${p.state})` : '';
    return `step ${p.index}/${p.total}${name}${state}`;
  }
  switch (job.status) {
    case 'queued':
      return 'waiting for a worker';
    case 'running':
      return 'starting';
    case 'finished':
      return 'done';
    case 'failed':
      return 'failed';
    case 'cancelled':
      return 'cancelled';
    default:
      return '';
  }
}

/** One line of why a job failed (the failing step or cell, the exception, its message). */
export function failureText(job: IJobView): string {
  const f = job.failure;
  if (!f) {
    return '';
  }
  const error = f.message
    ? `${f.exception ? `${f.exception}: ` : ''}${f.message}`
    : f.exception ?? '';
  if (f.step || (f.cell !== null && f.cell !== undefined)) {
    const where = f.step
      ? `step '${f.step}'${f.task ? ` (task ${f.task})` : ''}`
      : `cell ${f.cell}`;
    return `${where} failed: ${error}`;
  }
  return error && !f.reason.includes(error) ? `${f.reason} (${error})` : f.reason;
}

/** The name a job shows: its run name, else its entry point's file name. */
export function jobName(job: IJobView): string {
  if (job.run_name) {
    return job.run_name;
  }
  const base = job.entrypoint.split('/').pop() ?? job.entrypoint;
  return base || job.id.slice(0, 8);
}
