/**
 * @module use-poll
 * A value read every `ms` while the component is shown; a failed read keeps the last value and
 * shows the error (a 401 has already signed the user out).
 */
import { useEffect, useState } from 'preact/hooks';

export function usePoll<T>(read: () => Promise<T>, ms: number, deps: unknown[] = []): { value: T | undefined; error: string | undefined; refresh: () => void } {
  const [value, setValue] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        const v = await read();
        if (live) {
          setValue(v);
          setError(undefined);
        }
      } catch (e) {
        if (live) setError(e instanceof Error ? e.message : String(e));
      }
      if (live) timer = setTimeout(run, ms);
    };
    void run();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [...deps, tick]);
  return { value, error, refresh: () => setTick((t) => t + 1) };
}
