// render.mjs - renders one template with the reference interpreter (@huggingface/jinja 0.5.11)
// exactly as tests/data/chat-templates/README.md describes, to compare new shapes with kaiwu.
//
//   cd tests/tools && npm install && node render.mjs TEMPLATE.jinja CONTEXT.json > out.txt
//
// CONTEXT.json is the full variable object (messages, add_generation_prompt, tools, ...).
// Prints the rendering with no added newline; on an error prints "ERROR: <message>" on stderr
// and exits with status 1. Freeze the clock (e.g. with faketime) for templates that call
// strftime_now. Not used by `make test` (which needs neither node nor network).
import { readFileSync } from "node:fs";
import { Template } from "@huggingface/jinja";

const [templatePath, contextPath] = process.argv.slice(2);
if (!templatePath || !contextPath) {
  console.error("usage: node render.mjs TEMPLATE.jinja CONTEXT.json");
  process.exit(2);
}
const source = readFileSync(templatePath, "utf8");
const context = JSON.parse(readFileSync(contextPath, "utf8"));
try {
  process.stdout.write(new Template(source).render(context));
} catch (err) {
  console.error(`ERROR: ${err.message}`);
  process.exit(1);
}
