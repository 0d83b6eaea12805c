/**
 * The registry this project installs from lacks some platform-specific optional packages (for
 * example msgpackr-extract's darwin and windows builds). npm then leaves them out of
 * package-lock.json, and `npm ci` refuses the lock as out of sync. This adds each missing
 * optional dependency with the os/cpu its name declares, so npm skips it on other platforms and
 * fetches it where it applies. Run after `npm install`: `npm run fix-lock`.
 */
import { readFileSync, writeFileSync } from 'node:fs';

interface LockEntry {
  version?: string;
  optional?: boolean;
  os?: string[];
  cpu?: string[];
  optionalDependencies?: Record<string, string>;
}

const file = 'package-lock.json';
const lock = JSON.parse(readFileSync(file, 'utf8')) as { packages: Record<string, LockEntry> };
const added: string[] = [];
for (const entry of Object.values(lock.packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    if (lock.packages[key]) continue;
    const os = name.match(/(darwin|linux|win32|freebsd|android)/)?.[1];
    const cpu = name.match(/(arm64|x64|arm|ia32)/)?.[1];
    if (!os)
      throw new Error(
        `${name}: missing from the lock and its platform cannot be read from its name`,
      );
    lock.packages[key] = { version, optional: true, os: [os], ...(cpu ? { cpu: [cpu] } : {}) };
    added.push(`${name}@${version}`);
  }
}
if (added.length > 0) {
  writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
  console.log(`added to ${file}: ${added.join(', ')}`);
} else {
  console.log(`${file}: no optional platform packages missing`);
}
