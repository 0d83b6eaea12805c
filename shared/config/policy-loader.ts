import { isNode, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { RolloutError } from '../errors.js';
import { Policy } from './policy.js';

export interface PolicyProblem {
  /** 1-based line in the file, when the field could be located. */
  line?: number;
  /** The field, as a dotted path: `services.checkout.stages.2`. */
  field: string;
  message: string;
}

/** The policy file is unreadable or invalid; `message` lists every problem as file:line: field. */
export class PolicyError extends RolloutError {
  constructor(
    readonly file: string,
    readonly problems: PolicyProblem[],
  ) {
    super(
      'invalid_policy',
      `invalid policy file ${file}:\n` +
        problems
          .map(
            (p) =>
              `  ${file}${p.line ? `:${p.line}` : ''}: ${p.field || '(top level)'}: ${p.message}`,
          )
          .join('\n'),
    );
  }
}

/** Parses and validates the policy file's text. Throws `PolicyError` naming file, line and field. */
export function parsePolicy(text: string, file: string): Policy {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new PolicyError(
      file,
      doc.errors.map((e) => ({
        line: lineCounter.linePos(e.pos[0]).line,
        field: '',
        message: `YAML: ${e.message.split('\n')[0]}`,
      })),
    );
  }
  const result = Policy.safeParse(doc.toJS() ?? {});
  if (result.success) return result.data;
  throw new PolicyError(
    file,
    result.error.issues.map((issue) => ({
      line: lineOf(doc, lineCounter, issue.path),
      field: issue.path.map(String).join('.'),
      message: describeIssue(issue),
    })),
  );
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown field(s) ${issue.keys.join(', ')}`;
  if (issue.code === 'invalid_type' && issue.input === undefined)
    return `is required (${issue.expected})`;
  return issue.message;
}

/** The line of the deepest node of `path` that exists in the document. */
function lineOf(doc: Document, lines: LineCounter, path: PropertyKey[]): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = doc.getIn(path.slice(0, depth) as (string | number)[], true);
    if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
  }
  return undefined;
}
