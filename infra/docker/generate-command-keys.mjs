// The bot's command signing key pair for docker-compose.yml (the `command-keys` service), made
// once and kept: an existing key is never replaced, so a `docker compose up` after a `down` keeps
// the agents' public key matching the bot's private key.
//
//   node generate-command-keys.mjs <signing-dir> <verify-dir>
//
// writes <signing-dir>/command-signing.key (PKCS#8 PEM Ed25519 private key, mode 0600: the bot's
// COMMAND_SIGNING_KEY_FILE) and <verify-dir>/command-verify.pem (its SPKI PEM public key: the
// agents' COMMAND_VERIFY_KEY_FILE), each only if absent. Two folders, so that compose can give
// the agents a volume that holds no private key. KEY_OWNER=uid:gid hands both files to the user the
// bot and agents run as (the images' `node`, 1000:1000); this job runs as root to write them.
// The same pair as `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout` would make; for
// production make and distribute keys as the README's "Security" section says, not with this.
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import {
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';

const SIGNING_FILE = 'command-signing.key';
const VERIFY_FILE = 'command-verify.pem';

function fail(message) {
  process.stderr.write(`command-keys: ${message}\n`);
  process.exit(1);
}

function say(message) {
  process.stdout.write(`command-keys: ${message}\n`);
}

/** Writes `text` to `path` whole or not at all (a job killed midway leaves no half key). */
function writeWhole(path, text, mode) {
  const partial = `${path}.partial`;
  rmSync(partial, { force: true }); // a leftover keeps its mode; a new file gets `mode`
  writeFileSync(partial, text, { mode });
  renameSync(partial, path);
}

function owner() {
  const value = process.env.KEY_OWNER;
  if (value === undefined || value === '') return undefined;
  const match = /^(\d+):(\d+)$/.exec(value);
  if (match === null)
    fail(`KEY_OWNER is ${JSON.stringify(value)}: expected uid:gid, e.g. 1000:1000`);
  return { uid: Number(match[1]), gid: Number(match[2]) };
}

const [signingDir, verifyDir] = process.argv.slice(2);
if (signingDir === undefined || verifyDir === undefined) {
  fail('usage: node generate-command-keys.mjs <signing-dir> <verify-dir>');
}
const user = owner();
const signingFile = join(signingDir, SIGNING_FILE);
const verifyFile = join(verifyDir, VERIFY_FILE);
mkdirSync(signingDir, { recursive: true });
mkdirSync(verifyDir, { recursive: true });

let privateKey;
if (existsSync(signingFile)) {
  try {
    privateKey = createPrivateKey(readFileSync(signingFile, 'utf8'));
  } catch (err) {
    fail(`${signingFile} is not a PEM private key (${err.message}); remove it to make a new pair`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    fail(
      `${signingFile} is a ${privateKey.asymmetricKeyType} key, not Ed25519; remove it to make a new pair`,
    );
  }
  say(`kept the existing signing key ${signingFile}`);
} else if (existsSync(verifyFile)) {
  fail(
    `${verifyFile} exists but its private key ${signingFile} does not: a new pair would not match it; ` +
      'remove both volumes (docker compose down -v) to make a new pair',
  );
} else {
  privateKey = generateKeyPairSync('ed25519').privateKey;
  writeWhole(signingFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), 0o600);
  say(`wrote a new signing key ${signingFile} (mode 0600)`);
}

const publicKey = createPublicKey(privateKey);
if (existsSync(verifyFile)) {
  // Kept as it is (it may hold an older key as well), but it must let the agents verify this key.
  const mine = publicKey.export({ type: 'spki', format: 'der' });
  const held = (
    readFileSync(verifyFile, 'utf8').match(
      /-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g,
    ) ?? []
  ).map((pem) => createPublicKey(pem).export({ type: 'spki', format: 'der' }));
  if (!held.some((der) => der.equals(mine))) {
    fail(
      `${verifyFile} does not hold the public key of ${signingFile}: agents would refuse every command; ` +
        'remove both volumes (docker compose down -v) to make a new pair',
    );
  }
  say(`kept the existing public key ${verifyFile}`);
} else {
  writeWhole(verifyFile, publicKey.export({ type: 'spki', format: 'pem' }), 0o644);
  say(`wrote the public key ${verifyFile}`);
}

if (user !== undefined) {
  chownSync(signingFile, user.uid, user.gid);
  chownSync(verifyFile, user.uid, user.gid);
}
