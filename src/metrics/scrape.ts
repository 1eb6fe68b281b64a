/**
 * Wraps an async read so that every metric collected in one scrape shares
 * one call: the first collector to ask starts it, the others of the same
 * scrape get the same answer, and the next scrape asks again.
 */
export function oncePerScrape<T>(read: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () =>
    (pending ??= read().finally(() => {
      // prom-client collects a scrape's metrics concurrently: forget the answer once they have all had it.
      setImmediate(() => (pending = undefined));
    }));
}
