// A gRPC client of containerd's snapshots service (the service definition the daemon serves,
// from src/runtime/snapshotter/grpc-server.ts), for tests that talk to `ocifs snapshotter`
// directly, as containerd's proxy plugin does: each call resolves with the response or rejects
// with the gRPC status (code and details).
import * as grpc from '@grpc/grpc-js';
import { SNAPSHOTS_SERVICE_DEFINITION } from '../../src/runtime/snapshotter/grpc-server.js';
import type { WireInfo, WireMount } from '../../src/runtime/snapshotter/proto.js';

/** A gRPC error as the client sees it. */
export interface CallError extends Error {
  code: grpc.status;
  details: string;
}

/** The snapshots service, promise-based. */
export interface SnapshotsClient {
  prepare(key: string, parent?: string, labels?: Record<string, string>): Promise<WireMount[]>;
  view(key: string, parent?: string, labels?: Record<string, string>): Promise<WireMount[]>;
  mounts(key: string): Promise<WireMount[]>;
  commit(name: string, key: string, labels?: Record<string, string>): Promise<void>;
  remove(key: string): Promise<void>;
  stat(key: string): Promise<WireInfo>;
  update(info: Partial<WireInfo> & { name: string }, paths?: string[]): Promise<WireInfo>;
  usage(key: string): Promise<{ size: number; inodes: number }>;
  list(filters?: string[]): Promise<WireInfo[]>;
  cleanup(): Promise<void>;
  close(): void;
}

type Raw = Record<string, (req: unknown, cb: (err: CallError | null, res: unknown) => void) => void> & {
  List(req: unknown): grpc.ClientReadableStream<{ info: WireInfo[] }>;
  close(): void;
};

/** Connects to the snapshotter's unix socket. */
export function snapshotsClient(address: string): SnapshotsClient {
  const Ctor = grpc.makeGenericClientConstructor(SNAPSHOTS_SERVICE_DEFINITION, 'Snapshots');
  const c = new Ctor(`unix:${address}`, grpc.credentials.createInsecure()) as unknown as Raw;
  const call = <T>(method: string, req: unknown) =>
    new Promise<T>((resolve, reject) => c[method](req, (err, res) => (err ? reject(err) : resolve(res as T))));
  return {
    prepare: async (key, parent = '', labels = {}) =>
      (await call<{ mounts: WireMount[] }>('Prepare', { key, parent, labels })).mounts,
    view: async (key, parent = '', labels = {}) =>
      (await call<{ mounts: WireMount[] }>('View', { key, parent, labels })).mounts,
    mounts: async (key) => (await call<{ mounts: WireMount[] }>('Mounts', { key })).mounts,
    commit: async (name, key, labels = {}) => {
      await call('Commit', { name, key, labels });
    },
    remove: async (key) => {
      await call('Remove', { key });
    },
    stat: async (key) => (await call<{ info: WireInfo }>('Stat', { key })).info,
    update: async (info, paths = []) =>
      (
        await call<{ info: WireInfo }>('Update', {
          info: { parent: '', kind: 'UNKNOWN', labels: {}, ...info },
          updateMask: { paths },
        })
      ).info,
    usage: (key) => call('Usage', { key }),
    list: (filters = []) =>
      new Promise((resolve, reject) => {
        const out: WireInfo[] = [];
        const s = c.List({ filters });
        s.on('data', (m: { info: WireInfo[] }) => out.push(...m.info));
        s.on('error', reject);
        s.on('end', () => resolve(out));
      }),
    cleanup: async () => {
      await call('Cleanup', {});
    },
    close: () => c.close(),
  };
}
