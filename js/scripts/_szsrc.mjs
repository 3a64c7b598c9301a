import { build } from "rolldown";
import { gzipSync } from "node:zlib";
for (const input of process.argv.slice(2)) {
const result = await build({ input, write: false, logLevel: "silent", output: { format: "esm", minify: true } });
const code = result.output[0].code;
console.log(input, code.length, gzipSync(code, { level: 9 }).length);
}
