/** Loads spec/conformance/<kind>/*.json, shared with the Python tests. */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const conformanceDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../../spec/conformance");

export interface VectorFile<V> {
  file: string;
  description: string;
  vectors: V[];
}

export function loadVectors<V>(kind: string): VectorFile<V>[] {
  const dir = path.join(conformanceDir, kind);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith(".json"))
    .sort()
    .map((name) => {
      const parsed = JSON.parse(readFileSync(path.join(dir, name), "utf8")) as { description: string; vectors: V[] };
      return { file: name, description: parsed.description, vectors: parsed.vectors };
    });
}
