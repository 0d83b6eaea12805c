/** Types of mrkdwn.js (plain JavaScript, served to the console page as it is). */

export type MrkdwnNode =
  | { t: 'text'; v: string }
  | { t: 'br' }
  | { t: 'b' | 'i' | 's' | 'quote'; c: MrkdwnNode[] }
  | { t: 'code' | 'pre'; v: string }
  | { t: 'user' | 'group' | 'channel'; id: string; label?: string }
  | { t: 'date'; ts: number; format: string; fallback: string }
  | { t: 'special'; v: string }
  | { t: 'link'; url: string; label: string };

export interface MrkdwnNames {
  person?(id: string): string;
  group?(id: string): string;
  channel?(id: string): string;
  time?(ms: number, format: string): string;
}

export function decodeEntities(text: string): string;
export function emojify(text: string): string;
export function parseMrkdwn(text: string): MrkdwnNode[];
export function parseInline(text: string): MrkdwnNode[];
export function renderMrkdwn(text: string, doc: Document, names?: MrkdwnNames): DocumentFragment;
