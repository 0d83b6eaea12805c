import { parsePolicy, PolicyError } from '../../shared/config/policy-loader.js';

/** The `PolicyError` parsing `text` (as `policy.yaml`) throws; fails the test if it parses. */
export function policyRefusal(text: string): PolicyError {
  try {
    parsePolicy(text, 'policy.yaml');
  } catch (err) {
    if (err instanceof PolicyError) return err;
    throw err;
  }
  throw new Error('expected the policy to be refused');
}

/** The 1-based number of the first line of `text` holding `needle`. */
export function lineOf(text: string, needle: string): number {
  return text.split('\n').findIndex((l) => l.includes(needle)) + 1;
}
