/**
 * The wire types of containerd's snapshots service (`containerd.services.snapshots.v1`), written
 * from the field numbers of containerd's `api/services/snapshots/v1/snapshots.proto` and
 * `api/types/mount.proto`, plus the three well-known types they use (Empty, Timestamp,
 * FieldMask). A protobufjs JSON descriptor instead of `.proto` files: nothing to find at run
 * time, so the command works from the esbuild bundle and the npm package alike.
 *
 * @packageDocumentation
 */
import protobuf from 'protobufjs';

const labels = (id: number) => ({ keyType: 'string', type: 'string', id });
const str = (id: number) => ({ type: 'string', id });

const SNAPSHOTS = {
  Kind: { values: { UNKNOWN: 0, VIEW: 1, ACTIVE: 2, COMMITTED: 3 } },
  PrepareSnapshotRequest: { fields: { snapshotter: str(1), key: str(2), parent: str(3), labels: labels(4) } },
  PrepareSnapshotResponse: { fields: { mounts: { rule: 'repeated', type: 'containerd.types.Mount', id: 1 } } },
  ViewSnapshotRequest: { fields: { snapshotter: str(1), key: str(2), parent: str(3), labels: labels(4) } },
  ViewSnapshotResponse: { fields: { mounts: { rule: 'repeated', type: 'containerd.types.Mount', id: 1 } } },
  MountsRequest: { fields: { snapshotter: str(1), key: str(2) } },
  MountsResponse: { fields: { mounts: { rule: 'repeated', type: 'containerd.types.Mount', id: 1 } } },
  RemoveSnapshotRequest: { fields: { snapshotter: str(1), key: str(2) } },
  CommitSnapshotRequest: { fields: { snapshotter: str(1), name: str(2), key: str(3), labels: labels(4) } },
  StatSnapshotRequest: { fields: { snapshotter: str(1), key: str(2) } },
  Info: {
    fields: {
      name: str(1),
      parent: str(2),
      kind: { type: 'Kind', id: 3 },
      createdAt: { type: 'google.protobuf.Timestamp', id: 4 },
      updatedAt: { type: 'google.protobuf.Timestamp', id: 5 },
      labels: labels(6),
    },
  },
  StatSnapshotResponse: { fields: { info: { type: 'Info', id: 1 } } },
  UpdateSnapshotRequest: {
    fields: {
      snapshotter: str(1),
      info: { type: 'Info', id: 2 },
      updateMask: { type: 'google.protobuf.FieldMask', id: 3 },
    },
  },
  UpdateSnapshotResponse: { fields: { info: { type: 'Info', id: 1 } } },
  ListSnapshotsRequest: { fields: { snapshotter: str(1), filters: { rule: 'repeated', type: 'string', id: 2 } } },
  ListSnapshotsResponse: { fields: { info: { rule: 'repeated', type: 'Info', id: 1 } } },
  UsageRequest: { fields: { snapshotter: str(1), key: str(2) } },
  UsageResponse: { fields: { size: { type: 'int64', id: 1 }, inodes: { type: 'int64', id: 2 } } },
  CleanupRequest: { fields: { snapshotter: str(1) } },
};

const DESCRIPTOR = {
  nested: {
    google: {
      nested: {
        protobuf: {
          nested: {
            Empty: { fields: {} },
            Timestamp: { fields: { seconds: { type: 'int64', id: 1 }, nanos: { type: 'int32', id: 2 } } },
            FieldMask: { fields: { paths: { rule: 'repeated', type: 'string', id: 1 } } },
          },
        },
      },
    },
    containerd: {
      nested: {
        types: {
          nested: {
            Mount: {
              fields: {
                type: str(1),
                source: str(2),
                target: str(3),
                options: { rule: 'repeated', type: 'string', id: 4 },
              },
            },
          },
        },
        services: { nested: { snapshots: { nested: { v1: { nested: SNAPSHOTS } } } } },
      },
    },
  },
};

/** The gRPC service name containerd dials. */
export const SNAPSHOTS_SERVICE = 'containerd.services.snapshots.v1.Snapshots';

const root = protobuf.Root.fromJSON(DESCRIPTOR);

/** A message type of the service: encode a plain object, decode to a plain object. */
export interface WireType<T> {
  encode(value: T): Buffer;
  decode(bytes: Buffer): T;
}

function wireType<T>(name: string): WireType<T> {
  const type = root.lookupType(name);
  return {
    encode: (value) => Buffer.from(type.encode(type.fromObject(value as Record<string, unknown>)).finish()),
    // defaults: absent proto3 fields read as '' / [] / {} / 0, as Go's generated code sees them.
    decode: (bytes) => type.toObject(type.decode(bytes), { longs: Number, enums: String, defaults: true }) as T,
  };
}

/** A containerd mount: what the runtime passes to mount(2). */
export interface WireMount {
  type: string;
  source: string;
  target?: string;
  options: string[];
}

/** `google.protobuf.Timestamp`. */
export interface WireTimestamp {
  seconds: number;
  nanos: number;
}

/** Snapshot kinds as the wire names them. */
export type WireKind = 'UNKNOWN' | 'VIEW' | 'ACTIVE' | 'COMMITTED';

/** `Info`. */
export interface WireInfo {
  name: string;
  parent: string;
  kind: WireKind;
  createdAt?: WireTimestamp;
  updatedAt?: WireTimestamp;
  labels: Record<string, string>;
}

/** Requests and responses, by their proto names. */
export interface Wire {
  PrepareSnapshotRequest: { key: string; parent: string; labels: Record<string, string> };
  MountsResponse: { mounts: WireMount[] };
  MountsRequest: { key: string };
  CommitSnapshotRequest: { name: string; key: string; labels: Record<string, string> };
  StatSnapshotResponse: { info: WireInfo };
  UpdateSnapshotRequest: { info: WireInfo; updateMask?: { paths: string[] } | null };
  ListSnapshotsRequest: { filters: string[] };
  ListSnapshotsResponse: { info: WireInfo[] };
  UsageResponse: { size: number; inodes: number };
  Empty: Record<string, never>;
}

const v1 = (name: string) => `containerd.services.snapshots.v1.${name}`;

/** The codecs of every message the service exchanges. */
export const wire = {
  PrepareSnapshotRequest: wireType<Wire['PrepareSnapshotRequest']>(v1('PrepareSnapshotRequest')),
  ViewSnapshotRequest: wireType<Wire['PrepareSnapshotRequest']>(v1('ViewSnapshotRequest')),
  PrepareSnapshotResponse: wireType<Wire['MountsResponse']>(v1('PrepareSnapshotResponse')),
  ViewSnapshotResponse: wireType<Wire['MountsResponse']>(v1('ViewSnapshotResponse')),
  MountsRequest: wireType<Wire['MountsRequest']>(v1('MountsRequest')),
  MountsResponse: wireType<Wire['MountsResponse']>(v1('MountsResponse')),
  RemoveSnapshotRequest: wireType<Wire['MountsRequest']>(v1('RemoveSnapshotRequest')),
  CommitSnapshotRequest: wireType<Wire['CommitSnapshotRequest']>(v1('CommitSnapshotRequest')),
  StatSnapshotRequest: wireType<Wire['MountsRequest']>(v1('StatSnapshotRequest')),
  StatSnapshotResponse: wireType<Wire['StatSnapshotResponse']>(v1('StatSnapshotResponse')),
  UpdateSnapshotRequest: wireType<Wire['UpdateSnapshotRequest']>(v1('UpdateSnapshotRequest')),
  UpdateSnapshotResponse: wireType<Wire['StatSnapshotResponse']>(v1('UpdateSnapshotResponse')),
  ListSnapshotsRequest: wireType<Wire['ListSnapshotsRequest']>(v1('ListSnapshotsRequest')),
  ListSnapshotsResponse: wireType<Wire['ListSnapshotsResponse']>(v1('ListSnapshotsResponse')),
  UsageRequest: wireType<Wire['MountsRequest']>(v1('UsageRequest')),
  UsageResponse: wireType<Wire['UsageResponse']>(v1('UsageResponse')),
  CleanupRequest: wireType<Record<string, never>>(v1('CleanupRequest')),
  Empty: wireType<Wire['Empty']>('google.protobuf.Empty'),
};
