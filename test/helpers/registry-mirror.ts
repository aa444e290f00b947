// A second distribution registry running as a pull-through cache (mirror) of a first one.
import { startRegistry, type TestRegistry } from './registry.js';

export interface MirrorOptions {
  /** Credentials the mirror uses towards the upstream (proxy.username/password). */
  username?: string;
  password?: string;
  /** Extra YAML for the mirror (e.g. its own auth section). */
  extraConfig?: string;
  readyStatus?: number;
}

/** Starts a registry with `proxy: {remoteurl: upstreamUrl}`; stop() it in an after hook. */
export async function startMirror(upstreamUrl: string, options: MirrorOptions = {}): Promise<TestRegistry> {
  const creds =
    options.username !== undefined ? `, username: ${options.username}, password: ${options.password ?? ''}` : '';
  return startRegistry({
    extraConfig: `proxy: {remoteurl: "${upstreamUrl}"${creds}}\n${options.extraConfig ?? ''}`,
    ...(options.readyStatus !== undefined ? { readyStatus: options.readyStatus } : {}),
  });
}
