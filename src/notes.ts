/**
 * What a step reports besides its outputs: notes with a level, so that a warning is logged as a
 * warning and stands out in the job summary without matching text prefixes.
 */
import type { Log } from './log.js';
import { heading, table } from './report/markdown.js';

export interface Note {
  level: 'info' | 'warning';
  text: string;
}

export const info = (text: string): Note => ({ level: 'info', text });
export const warning = (text: string): Note => ({ level: 'warning', text });

/** The same notes with their text reworded (rollback puts the engine's words into the user's). */
export const reword = (notes: Note[], words: (t: string) => string): Note[] => notes.map((n) => ({ ...n, text: words(n.text) }));

export function logNotes(log: Log, notes: Note[]): void {
  for (const n of notes) (n.level === 'warning' ? log.warn : log.info).call(log, n.text);
}

/** Markdown list: warnings marked so, first. */
export function notesMarkdown(notes: Note[]): string {
  const ordered = [...notes.filter((n) => n.level === 'warning'), ...notes.filter((n) => n.level !== 'warning')];
  return ordered.map((n) => `- ${n.level === 'warning' ? '**WARNING:** ' : ''}${n.text}`).join('\n') + (ordered.length ? '\n' : '');
}

/** The job summary of a switch (cutover, rollback): a headline, the timeline, the notes. */
export function switchSummary(title: string, headline: string, timeline: string[][], notes: Note[]): string {
  return heading(title) + `${headline}\n\n` + (timeline.length ? table(['time', 'event'], timeline) : '') + (notes.length ? '\n' + notesMarkdown(notes) : '');
}
