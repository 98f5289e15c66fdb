/**
 * @module image-save
 * An image as an OCI image layout in a tar stream (`oci-layout`, `index.json`, `blobs/sha256/…`),
 * the format `image import`, skopeo (`oci-archive:`) and podman read. The index names the image
 * by its references (`org.opencontainers.image.ref.name` and containerd's full-name annotation).
 * Entries are written in a fixed order with fixed times, so saving twice gives the same bytes.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { ImageRecord } from '../store/store.js';
import { TarWriter } from './build/tar-writer.js';
import type { ContentStore } from './content-store.js';
import { MediaType } from './manifest.js';

export function saveImage(content: ContentStore, image: ImageRecord, references: string[]): Readable {
  const tar = new TarWriter();
  const manifestBytes = content.read(image.id);
  const first = references[0];
  const annotations = first ? { 'io.containerd.image.name': first, 'org.opencontainers.image.ref.name': first.slice(first.lastIndexOf(':') + 1) } : undefined;
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [
        { mediaType: MediaType.OciManifest, digest: image.id, size: manifestBytes.length, ...(annotations && !first!.includes('@') ? { annotations } : {}) },
      ],
    }),
  );
  const layout = Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const file = (name: string, body: Buffer) => tar.entry({ name, type: 'file', size: body.length, mode: 0o644, uid: 0, gid: 0, mtime: 0 }, body);
  const dir = (name: string) => tar.entry({ name, type: 'directory', size: 0, mode: 0o755, uid: 0, gid: 0, mtime: 0 });
  const blobs = [...new Set([image.id, image.configDigest, ...image.layers.map((l) => l.digest)])];
  void (async () => {
    await file('oci-layout', layout);
    await file('index.json', index);
    await dir('blobs');
    await dir('blobs/sha256');
    for (const d of blobs) {
      const size = content.size(d);
      await tar.entry({ name: `blobs/sha256/${d.slice(7)}`, type: 'file', size, mode: 0o644, uid: 0, gid: 0, mtime: 0 }, createReadStream(content.path(d)));
    }
    await tar.finish();
  })().catch((e: unknown) => tar.stream.destroy(e as Error));
  return tar.stream;
}
