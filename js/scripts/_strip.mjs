import { parseAst } from "rolldown/parseAst";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
const code = readFileSync(process.argv[2], "utf8");
const min = +process.argv[3];
const ast = parseAst(code);
const spans = [];
(function walk(n) {
  if (!n || typeof n !== "object") return;
  if (Array.isArray(n)) return n.forEach(walk);
  if ((n.type === "TemplateLiteral" || (n.type === "Literal" && typeof n.value === "string")) && n.end-n.start>=min) { spans.push([n.start,n.end]); return; }
  for (const k in n) if (k !== "parent") walk(n[k]);
})(ast);
let out = code; spans.sort((a,b)=>b[0]-a[0]); for (const [a,b] of spans) out = out.slice(0,a)+"`m`"+out.slice(b);
console.log(min, out.length, gzipSync(out,{level:9}).length, gzipSync(code,{level:9}).length);
