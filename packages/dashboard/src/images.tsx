/**
 * @module images
 * The local images and the warm pools.
 */
import type { Image, PoolStatus } from '@airlock/protocol';
import { formatBytes, json } from './api.js';
import { usePoll } from './use-poll.js';

export function ImagesPage() {
  const images = usePoll(() => json<{ images: Image[] }>('GET', '/v1/images'), 10_000);
  const pools = usePoll(() => json<{ pools: PoolStatus[] }>('GET', '/v1/pools'), 5000);
  return (
    <section>
      <h1>Images</h1>
      {images.error && <p class="error">{images.error}</p>}
      <table>
        <thead>
          <tr>
            <th>Reference</th>
            <th>Id</th>
            <th>Size</th>
            <th>In use</th>
          </tr>
        </thead>
        <tbody>
          <tr>
            <td>default (built in)</td>
            <td />
            <td />
            <td />
          </tr>
          {(images.value?.images ?? []).map((i) => (
            <tr>
              <td>{i.references.join(', ') || i.repository}</td>
              <td>{i.id.slice(0, 19)}</td>
              <td>{formatBytes(i.size)}</td>
              <td>{i.inUse ? 'yes' : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h1>Warm pools</h1>
      {(pools.value?.pools ?? []).length === 0 ? (
        <p>No warm pools (start the server with --pool runtime:size).</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Runtime</th>
              <th>Image</th>
              <th>Ready</th>
              <th>Hits</th>
              <th>Misses</th>
            </tr>
          </thead>
          <tbody>
            {pools.value!.pools.map((p) => (
              <tr>
                <td>{p.runtime}</td>
                <td>{p.image}</td>
                <td>
                  {p.ready}/{p.size}
                </td>
                <td>{p.hits}</td>
                <td>{p.misses}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
