import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { aCommand } from '../../test/support/envelopes.js';
import { canonicalJson, Ed25519CommandSigner, Ed25519CommandVerifier } from './command-signing.js';

function pems(type: 'ed25519' | 'rsa' = 'ed25519') {
  const { privateKey, publicKey } =
    type === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 1024 })
      : generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

describe('command signing', () => {
  const bot = pems();
  const signer = new Ed25519CommandSigner(bot.privatePem);

  it('verifies what the bot signed, whatever order the fields arrive in', () => {
    const signed = signer.sign(aCommand().setWeight(1, 25).build());
    const reordered = JSON.parse(
      JSON.stringify(Object.fromEntries(Object.entries(signed).reverse())),
    ) as typeof signed;
    expect(new Ed25519CommandVerifier(bot.publicPem).refusal(reordered)).toBeUndefined();
  });

  it('refuses a change to any signed field: weight, seq, fence, cluster, rollout', () => {
    const verifier = new Ed25519CommandVerifier(bot.publicPem);
    const signed = signer.sign(aCommand().setWeight(1, 25).build());
    const changes: (typeof signed)[] = [
      { ...signed, payload: { ...signed.payload, weight: 100 } } as typeof signed,
      { ...signed, seq: signed.seq + 1 },
      { ...signed, fence: signed.fence + 1 },
      { ...signed, cluster: 'us-east' },
      { ...signed, rolloutId: 'another' },
    ];
    for (const changed of changes) expect(verifier.refusal(changed)).toMatch(/forged or altered/);
  });

  it('accepts any of several keys (rotation) and refuses unsigned and garbage signatures', () => {
    const next = pems();
    const verifier = new Ed25519CommandVerifier(next.publicPem + bot.publicPem);
    const command = aCommand().build();
    expect(verifier.refusal(signer.sign(command))).toBeUndefined();
    expect(
      verifier.refusal(new Ed25519CommandSigner(next.privatePem).sign(command)),
    ).toBeUndefined();
    expect(verifier.refusal(command)).toMatch(/unsigned command/);
    expect(verifier.refusal({ ...command, sig: 'AAAA' })).toMatch(/forged or altered/);
  });

  it('refuses keys that are not Ed25519 PEM, naming the source', () => {
    expect(() => new Ed25519CommandSigner('not a key', 'COMMAND_SIGNING_KEY_FILE')).toThrow(
      /COMMAND_SIGNING_KEY_FILE is not a PEM private key/,
    );
    expect(() => new Ed25519CommandSigner(pems('rsa').privatePem, 'the key')).toThrow(
      /the key is a rsa key; commands are signed with Ed25519/,
    );
    expect(() => new Ed25519CommandVerifier('', 'COMMAND_VERIFY_KEY_FILE')).toThrow(
      /COMMAND_VERIFY_KEY_FILE holds no PEM public key/,
    );
  });

  it('writes canonical JSON: sorted keys at every level, undefined fields left out', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 'x' }], c: undefined } })).toBe(
      '{"a":{"d":[2,{"y":"x","z":1}]},"b":1}',
    );
  });
});
