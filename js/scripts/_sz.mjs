import { build } from "rolldown";
import { gzipSync } from "node:zlib";
import { writeFileSync } from "node:fs";
const src = process.argv[2];
writeFileSync(new URL("../packages/client/dist/_probe.js", import.meta.url), src);
const result = await build({ input: new URL("../packages/client/dist/_probe.js", import.meta.url).pathname, write: false, logLevel: "silent", output: { format: "esm", minify: true } });
const code = result.output[0].code;
console.log(code.length, gzipSync(code, { level: 9 }).length);
