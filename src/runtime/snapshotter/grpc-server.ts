/**
 * containerd's snapshots service over gRPC (`@grpc/grpc-js`) on a unix socket: the proxy
 * plugin protocol (`[proxy_plugins.NAME] type = "snapshot"`). Each call is decoded with the
 * hand-written wire types, handed to the {@link Snapshotter}, and its errors are answered with
 * the status codes containerd maps back to its error classes.
 *
 * @packageDocumentation
 */
import * as grpc from '@grpc/grpc-js';
import { debuglog } from 'node:util';
import { SnapshotError, type SnapshotErrorClass } from './errors.js';
import { SNAPSHOTS_SERVICE, wire, type WireType } from './proto.js';
import type { Snapshotter } from './snapshotter.js';

const debug = debuglog('ocifs:snapshotter');

const STATUS: Record<SnapshotErrorClass, grpc.status> = {
  'not-found': grpc.status.NOT_FOUND,
  'already-exists': grpc.status.ALREADY_EXISTS,
  'failed-precondition': grpc.status.FAILED_PRECONDITION,
  'invalid-argument': grpc.status.INVALID_ARGUMENT,
};

/** The gRPC status of an error: its class for a {@link SnapshotError}, UNKNOWN for anything else. */
export function grpcStatusOf(err: unknown): { code: grpc.status; details: string } {
  if (err instanceof SnapshotError) return { code: STATUS[err.errorClass], details: err.message };
  return { code: grpc.status.UNKNOWN, details: (err as Error)?.message ?? String(err) };
}

function method<Req, Res>(
  name: string,
  req: WireType<Req>,
  res: WireType<Res>,
  responseStream = false,
): grpc.MethodDefinition<Req, Res> {
  return {
    path: `/${SNAPSHOTS_SERVICE}/${name}`,
    requestStream: false,
    responseStream,
    requestSerialize: (v: Req) => req.encode(v),
    requestDeserialize: (b: Buffer) => req.decode(b),
    responseSerialize: (v: Res) => res.encode(v),
    responseDeserialize: (b: Buffer) => res.decode(b),
  };
}

const SERVICE = {
  Prepare: method('Prepare', wire.PrepareSnapshotRequest, wire.PrepareSnapshotResponse),
  View: method('View', wire.ViewSnapshotRequest, wire.ViewSnapshotResponse),
  Mounts: method('Mounts', wire.MountsRequest, wire.MountsResponse),
  Commit: method('Commit', wire.CommitSnapshotRequest, wire.Empty),
  Remove: method('Remove', wire.RemoveSnapshotRequest, wire.Empty),
  Stat: method('Stat', wire.StatSnapshotRequest, wire.StatSnapshotResponse),
  Update: method('Update', wire.UpdateSnapshotRequest, wire.UpdateSnapshotResponse),
  List: method('List', wire.ListSnapshotsRequest, wire.ListSnapshotsResponse, true),
  Usage: method('Usage', wire.UsageRequest, wire.UsageResponse),
  Cleanup: method('Cleanup', wire.CleanupRequest, wire.Empty),
} satisfies grpc.ServiceDefinition;

/** Infos per List message: containerd's own server batches them too. */
const LIST_BATCH = 100;

type Unary<Req> = (call: grpc.ServerUnaryCall<Req, unknown>, cb: grpc.sendUnaryData<unknown>) => void;

function unary<Req>(name: string, work: (req: Req) => unknown /* a reply or a promise of one */): Unary<Req> {
  return (call, cb) => {
    Promise.resolve()
      .then(() => work(call.request))
      .then(
        (res) => cb(null, res),
        (err: unknown) => {
          const s = grpcStatusOf(err);
          debug('%s %j: %s', name, call.request, s.details);
          cb({ code: s.code, details: s.details });
        },
      );
  };
}

function implementation(sn: Snapshotter): grpc.UntypedServiceImplementation {
  return {
    Prepare: unary<{ key: string; parent: string; labels: Record<string, string> }>('Prepare', async (r) => ({
      mounts: await sn.prepare(r.key, r.parent, r.labels),
    })),
    View: unary<{ key: string; parent: string; labels: Record<string, string> }>('View', async (r) => ({
      mounts: await sn.view(r.key, r.parent, r.labels),
    })),
    Mounts: unary<{ key: string }>('Mounts', (r) => ({ mounts: sn.mounts(r.key) })),
    Commit: unary<{ name: string; key: string; labels: Record<string, string> }>('Commit', async (r) => {
      await sn.commit(r.name, r.key, r.labels);
      return {};
    }),
    Remove: unary<{ key: string }>('Remove', async (r) => {
      await sn.remove(r.key);
      return {};
    }),
    Stat: unary<{ key: string }>('Stat', (r) => ({ info: sn.stat(r.key) })),
    Update: unary<{ info: Parameters<Snapshotter['update']>[0]; updateMask?: { paths: string[] } | null }>(
      'Update',
      async (r) => ({
        info: await sn.update(r.info, r.updateMask?.paths ?? []),
      }),
    ),
    List: (call: grpc.ServerWritableStream<{ filters: string[] }, unknown>) => {
      try {
        const infos = sn.list(call.request.filters);
        for (let i = 0; i < infos.length; i += LIST_BATCH) call.write({ info: infos.slice(i, i + LIST_BATCH) });
        call.end();
      } catch (err) {
        const s = grpcStatusOf(err);
        call.emit('error', { code: s.code, details: s.details });
      }
    },
    Usage: unary<{ key: string }>('Usage', (r) => sn.usage(r.key)),
    Cleanup: unary<Record<string, never>>('Cleanup', async () => {
      await sn.cleanup();
      return {};
    }),
  };
}

/** Serves `sn` on the unix socket `address`; resolves with the server once it listens. */
export async function serveSnapshots(sn: Snapshotter, address: string): Promise<grpc.Server> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 16 << 20 });
  server.addService(SERVICE, implementation(sn));
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(`unix:${address}`, grpc.ServerCredentials.createInsecure(), (err) =>
      err ? reject(err) : resolve(),
    );
  });
  return server;
}

/** The service definition (for a client in tests). */
export const SNAPSHOTS_SERVICE_DEFINITION = SERVICE;
