/** Entries a running daemon holds across its shards (blocks and memtables), from its status API. */
export async function storedCount(url: string): Promise<number> {
  const s = (await (await fetch(`${url}/api/v1/status`)).json()) as { data: { shards: { entries: number }[] } };
  return s.data.shards.reduce((a, x) => a + x.entries, 0);
}
