import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { Command } from '../contracts/commands.js';
import { RolloutError } from '../errors.js';

/**
 * Commands signed by the bot (Ed25519): the bot holds the private key, agents only public keys,
 * so credentials that can produce to a command topic (an agent's, a leaked client's) still cannot
 * move traffic. What is signed is a domain tag and the canonical JSON of the command as its
 * contract reads it, without `sig`: fields the contract does not know are dropped by validation
 * before anything is checked or applied, so they can neither break a signature nor sneak past it.
 * Ed25519 signing is deterministic: no random input, the same command always has the same `sig`.
 */

/** Keeps a signature over a command from verifying anywhere else, now or in later formats. */
const DOMAIN = 'rollout-chatops/command/v1\n';

/** Adds the bot's signature to commands before they are published. */
export interface CommandSigner {
  sign(command: Command): Command;
}

/** Checks a consumed command's signature: undefined when it verifies, else why not. */
export interface CommandVerifier {
  refusal(command: Command): string | undefined;
}

export class Ed25519CommandSigner implements CommandSigner {
  private readonly key: KeyObject;

  /** `privateKeyPem`: a PKCS#8 PEM Ed25519 private key (`openssl genpkey -algorithm ed25519`). */
  constructor(privateKeyPem: string, source = 'the signing key') {
    this.key = readKey(() => createPrivateKey(privateKeyPem), 'private', source);
  }

  sign(command: Command): Command {
    const signature = sign(null, signedBytes(command), this.key);
    return { ...command, sig: signature.toString('base64') };
  }
}

export class Ed25519CommandVerifier implements CommandVerifier {
  private readonly keys: KeyObject[];

  /**
   * `publicKeysPem`: one or more SPKI PEM Ed25519 public keys, one after another. During a key
   * rotation agents hold the old and the new key; a command verifying with any of them passes.
   */
  constructor(publicKeysPem: string, source = 'the verify key file') {
    const blocks = publicKeysPem.match(
      /-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g,
    );
    if (blocks === null) {
      throw new RolloutError(
        'invalid_config',
        `${source} holds no PEM public key (-----BEGIN PUBLIC KEY-----); write it with: openssl pkey -in command-signing.key -pubout`,
      );
    }
    this.keys = blocks.map((pem) => readKey(() => createPublicKey(pem), 'public', source));
  }

  refusal(command: Command): string | undefined {
    if (command.sig === undefined) {
      return 'unsigned command: this agent obeys only commands signed by the bot (COMMAND_VERIFY_KEY_FILE)';
    }
    const signature = Buffer.from(command.sig, 'base64');
    const bytes = signedBytes(command);
    const valid = this.keys.some((key) => {
      try {
        return verify(null, bytes, key, signature);
      } catch {
        return false; // a signature of the wrong length is simply not valid
      }
    });
    return valid
      ? undefined
      : `forged or altered command: its signature does not verify with any of the ${this.keys.length} public key(s) in COMMAND_VERIFY_KEY_FILE`;
  }
}

/** What is signed: the domain tag and the command's canonical JSON without `sig`. */
export function signedBytes(command: Command): Buffer {
  const { sig: _sig, ...unsigned } = command;
  return Buffer.from(DOMAIN + canonicalJson(unsigned), 'utf8');
}

/**
 * JSON with object keys sorted at every level and no whitespace, so the bot and an agent (or two
 * versions of either) turn the same command into the same bytes whatever order fields came in.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function readKey(read: () => KeyObject, kind: 'private' | 'public', source: string): KeyObject {
  let key: KeyObject;
  try {
    key = read();
  } catch (err) {
    throw new RolloutError(
      'invalid_config',
      `${source} is not a PEM ${kind} key (${(err as Error).message})`,
    );
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new RolloutError(
      'invalid_config',
      `${source} is a ${key.asymmetricKeyType ?? 'unknown'} key; commands are signed with Ed25519 (openssl genpkey -algorithm ed25519)`,
    );
  }
  return key;
}
