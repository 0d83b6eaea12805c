import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Ed25519CommandSigner,
  Ed25519CommandVerifier,
} from '../../shared/messaging/command-signing.js';

export interface SigningKeys {
  /** PKCS#8 PEM file of the bot's private key (`COMMAND_SIGNING_KEY_FILE`), mode 0600. */
  privateKeyFile: string;
  /** SPKI PEM file of the public key (`COMMAND_VERIFY_KEY_FILE`). */
  publicKeyFile: string;
  signer: Ed25519CommandSigner;
  verifier: Ed25519CommandVerifier;
}

/** A fresh command signing key pair in `dir`, as an operator would make one with openssl. */
export async function writeSigningKeys(dir: string): Promise<SigningKeys> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const privateKeyFile = join(dir, 'command-signing.key');
  const publicKeyFile = join(dir, 'command-verify.pem');
  await writeFile(privateKeyFile, privatePem, { mode: 0o600 });
  await writeFile(publicKeyFile, publicPem);
  return {
    privateKeyFile,
    publicKeyFile,
    signer: new Ed25519CommandSigner(privatePem),
    verifier: new Ed25519CommandVerifier(publicPem),
  };
}
