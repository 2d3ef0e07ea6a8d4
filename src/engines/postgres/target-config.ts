/**
 * The target's own configuration across a seed. Where postgresql.conf and pg_hba.conf live in the
 * data directory (plain initdb, RHEL, Docker layouts), pg_basebackup brings the source's: its port,
 * listen_addresses and hba would replace the target's, and the server might not even start. So the
 * target's configuration files are read before the copy and written back into it. The copy's
 * postgresql.auto.conf stays the source's (its ALTER SYSTEM settings, e.g. shared_preload_libraries
 * that the database's extensions need), except the settings that say how this host is reached,
 * which stay the target's.
 */
import * as path from 'node:path';
import type { Host, OsUser } from '../../hosts/host.js';
import { rows, type PgClient } from './connect.js';

const AUTO_CONF = 'postgresql.auto.conf';

/** Settings that belong to the host, not to the database: in postgresql.auto.conf they stay the target's. */
export const HOST_SETTINGS = ['port', 'listen_addresses', 'unix_socket_directories', 'unix_socket_group', 'unix_socket_permissions', 'hba_file', 'ident_file'];

export interface TargetConfig {
  /** The target's configuration files inside its data directory: path relative to it, and text. */
  files: { rel: string; text: string }[];
  /** The lines of the target's postgresql.auto.conf that set a host setting. */
  autoHostLines: string[];
}

const settingOf = (line: string) => /^\s*([A-Za-z_][\w.]*)\s*=?/.exec(line)?.[1]?.toLowerCase();
const isHostLine = (line: string) => !line.trim().startsWith('#') && HOST_SETTINGS.includes(settingOf(line) ?? '');

/** The files the target server reads its configuration from (every file that sets something, hba, ident). */
async function configFiles(tgt: PgClient): Promise<string[]> {
  const named = await rows<{ f: string }>(
    tgt,
    "SELECT current_setting(n) AS f FROM unnest(ARRAY['config_file', 'hba_file', 'ident_file']) AS n WHERE current_setting(n) <> ''",
  );
  // pg_file_settings adds included files; it needs a superuser (or pg_read_all_settings).
  const included = await rows<{ f: string }>(tgt, 'SELECT DISTINCT sourcefile AS f FROM pg_file_settings WHERE sourcefile IS NOT NULL').catch(() => []);
  return [...new Set([...named, ...included].map((r) => path.resolve(r.f)))];
}

/** Reads the target's own configuration before the copy replaces its data directory. */
export async function saveTargetConfig(host: Host, tgt: PgClient, dataDir: string): Promise<TargetConfig> {
  const inside = (await configFiles(tgt)).filter((f) => f.startsWith(dataDir + '/') && path.basename(f) !== AUTO_CONF);
  const files: TargetConfig['files'] = [];
  for (const f of inside) if (await host.exists(f)) files.push({ rel: path.relative(dataDir, f), text: await host.readFile(f) });
  const auto = path.join(dataDir, AUTO_CONF);
  const autoText = (await host.exists(auto)) ? await host.readFile(auto) : '';
  return { files, autoHostLines: autoText.split('\n').filter(isHostLine) };
}

/** The copy's postgresql.auto.conf with the target's own host settings instead of the source's. */
export function mergedAutoConf(copied: string, target: TargetConfig): string {
  const kept = copied.split('\n').filter((l) => !isHostLine(l));
  while (kept.length && kept[kept.length - 1] === '') kept.pop();
  const lines = target.autoHostLines.length ? ["# The target's own host settings, kept by zdm seed-replica:", ...target.autoHostLines] : [];
  return [...kept, ...lines].join('\n') + '\n';
}

/** Puts the target's configuration into the fresh copy; returns the files it wrote back. */
export async function restoreTargetConfig(host: Host, dataDir: string, saved: TargetConfig, owner: OsUser): Promise<string[]> {
  for (const f of saved.files) await host.writeFile(path.join(dataDir, f.rel), f.text, { mode: 0o600, owner });
  const auto = path.join(dataDir, AUTO_CONF);
  const copied = (await host.exists(auto)) ? await host.readFile(auto) : '';
  await host.writeFile(auto, mergedAutoConf(copied, saved), { mode: 0o600, owner });
  return saved.files.map((f) => f.rel);
}
