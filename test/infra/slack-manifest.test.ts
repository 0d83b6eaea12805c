import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { SLASH_COMMAND } from '../../bot/slack/bolt-handlers.js';
import { EVENTS_PATH } from '../../bot/slack/surface.js';

/** The parts of Slack's app manifest schema the bot depends on, with Slack's length limits. */
const SlashCommand = z.strictObject({
  command: z.string().regex(/^\/[a-z0-9_-]{1,31}$/),
  url: z.url({ protocol: /^https$/ }).optional(),
  description: z.string().min(1).max(2000),
  usage_hint: z.string().max(1000).optional(),
  should_escape: z.boolean(),
});

const Manifest = z.strictObject({
  display_information: z.strictObject({
    name: z.string().min(1).max(35),
    description: z.string().max(140),
    background_color: z.string().regex(/^#[0-9a-f]{6}$/i),
  }),
  features: z.strictObject({
    bot_user: z.strictObject({
      display_name: z.string().min(1).max(80),
      always_online: z.boolean(),
    }),
    slash_commands: z.array(SlashCommand).min(1),
  }),
  oauth_config: z.strictObject({
    scopes: z.strictObject({ bot: z.array(z.string()) }),
  }),
  settings: z.strictObject({
    interactivity: z.strictObject({
      is_enabled: z.boolean(),
      request_url: z.url({ protocol: /^https$/ }).optional(),
    }),
    org_deploy_enabled: z.boolean(),
    socket_mode_enabled: z.boolean(),
    token_rotation_enabled: z.boolean(),
  }),
});

const SCOPES = ['commands', 'chat:write', 'chat:write.public', 'users:read', 'usergroups:read'];

async function manifest(file: string) {
  const text = await readFile(new URL(`../../infra/slack/${file}`, import.meta.url), 'utf8');
  return Manifest.parse(parse(text));
}

describe('Slack app manifests', () => {
  it('HTTP mode: /rollout and interactivity both post to the bot’s events endpoint over HTTPS', async () => {
    const m = await manifest('manifest.yaml');
    expect(m.settings.socket_mode_enabled).toBe(false);
    const [command] = m.features.slash_commands;
    expect(command?.command).toBe(SLASH_COMMAND);
    expect(new URL(command!.url!).pathname).toBe(EVENTS_PATH);
    expect(m.settings.interactivity.is_enabled).toBe(true);
    expect(m.settings.interactivity.request_url).toBe(command!.url);
    expect([...m.oauth_config.scopes.bot].sort()).toEqual([...SCOPES].sort());
  });

  it('Socket Mode: the same app without URLs', async () => {
    const m = await manifest('manifest.socket-mode.yaml');
    const http = await manifest('manifest.yaml');
    expect(m.settings.socket_mode_enabled).toBe(true);
    expect(m.settings.interactivity).toEqual({ is_enabled: true });
    expect(m.features.slash_commands.map((c) => c.url)).toEqual([undefined]);
    expect(m.features.slash_commands.map((c) => c.command)).toEqual([SLASH_COMMAND]);
    expect(m.oauth_config).toEqual(http.oauth_config);
    expect(m.display_information).toEqual(http.display_information);
  });
});
