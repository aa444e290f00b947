// A minimal client of the Kubernetes CRI image service (`runtime.v1.ImageService`), what the
// kubelet calls on containerd's socket: PullImage and ImageStatus, with the wire types written
// from the field numbers of k8s.io/cri-api's api.proto (ImageSpec, PullImageRequest/Response,
// ImageStatusRequest/Response, Image).
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

const DESCRIPTOR = {
  nested: {
    runtime: {
      nested: {
        v1: {
          nested: {
            ImageSpec: {
              fields: { image: { type: 'string', id: 1 }, annotations: { keyType: 'string', type: 'string', id: 2 } },
            },
            PullImageRequest: { fields: { image: { type: 'ImageSpec', id: 1 } } },
            PullImageResponse: { fields: { imageRef: { type: 'string', id: 1 } } },
            ImageStatusRequest: { fields: { image: { type: 'ImageSpec', id: 1 }, verbose: { type: 'bool', id: 2 } } },
            Image: {
              fields: {
                id: { type: 'string', id: 1 },
                repoTags: { rule: 'repeated', type: 'string', id: 2 },
                repoDigests: { rule: 'repeated', type: 'string', id: 3 },
                size: { type: 'uint64', id: 4 },
              },
            },
            ImageStatusResponse: { fields: { image: { type: 'Image', id: 1 } } },
          },
        },
      },
    },
  },
};
const root = protobuf.Root.fromJSON(DESCRIPTOR);

function method(name: string, req: string, res: string): grpc.MethodDefinition<object, object> {
  const Req = root.lookupType(`runtime.v1.${req}`);
  const Res = root.lookupType(`runtime.v1.${res}`);
  return {
    path: `/runtime.v1.ImageService/${name}`,
    requestStream: false,
    responseStream: false,
    requestSerialize: (v: object) => Buffer.from(Req.encode(Req.fromObject(v)).finish()),
    requestDeserialize: (b: Buffer) => Req.toObject(Req.decode(b)),
    responseSerialize: (v: object) => Buffer.from(Res.encode(Res.fromObject(v)).finish()),
    responseDeserialize: (b: Buffer) => Res.toObject(Res.decode(b), { longs: Number, defaults: true }),
  };
}

const SERVICE = {
  PullImage: method('PullImage', 'PullImageRequest', 'PullImageResponse'),
  ImageStatus: method('ImageStatus', 'ImageStatusRequest', 'ImageStatusResponse'),
};

/** The CRI image service on containerd's socket. */
export interface CriImageClient {
  /** Pulls an image as the kubelet does; resolves with the image ref (its config digest). */
  pullImage(image: string): Promise<string>;
  /** The image's status (undefined fields when containerd does not know it). */
  imageStatus(image: string): Promise<{ id: string; repoTags: string[]; size: number }>;
  close(): void;
}

/** Connects to containerd's gRPC socket. */
export function criImageClient(address: string): CriImageClient {
  const Ctor = grpc.makeGenericClientConstructor(SERVICE, 'ImageService');
  const c = new Ctor(`unix:${address}`, grpc.credentials.createInsecure()) as unknown as Record<
    string,
    (req: object, md: grpc.Metadata, opts: object, cb: (err: Error | null, res: any) => void) => void
  > & { close(): void };
  const call = (m: string, req: object) =>
    new Promise<any>((resolve, reject) =>
      c[m](req, new grpc.Metadata(), { deadline: Date.now() + 300_000 }, (err, res) =>
        err ? reject(err) : resolve(res),
      ),
    );
  return {
    pullImage: async (image) => (await call('PullImage', { image: { image } })).imageRef,
    imageStatus: async (image) =>
      (await call('ImageStatus', { image: { image } })).image ?? { id: '', repoTags: [], size: 0 },
    close: () => c.close(),
  };
}
