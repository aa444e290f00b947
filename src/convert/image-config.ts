/**
 * The config of a converted image: the source config as it is, with `rootfs.diff_ids` of the
 * new layers and, for a flattened image, the history's entries marked as empty layers and one
 * entry for the flattened layer (tools check that non-empty history entries match the layers).
 *
 * @packageDocumentation
 */
import { ConvertError } from './errors.js';

/** Rewrites a config document for new layers. */
export function convertedConfig(source: Uint8Array, diffIds: string[], flattenedBy?: string): Uint8Array {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(Buffer.from(source).toString('utf8')) as Record<string, unknown>;
  } catch (cause) {
    throw new ConvertError('the image config is not JSON', { cause });
  }
  doc.rootfs = { type: 'layers', diff_ids: diffIds };
  if (flattenedBy !== undefined) {
    const history = Array.isArray(doc.history) ? (doc.history as Record<string, unknown>[]) : [];
    doc.history = [
      ...history.map((h) => ({ ...h, empty_layer: true })),
      { created_by: flattenedBy, comment: 'the layers above, flattened' },
    ];
  }
  return Buffer.from(JSON.stringify(doc));
}
