// schema_check.mjs - the independent check of issue 17's acceptance test: every sample that
// schema_samples wrote (JSONL) must parse as JSON and validate under ajv (JSON Schema 2020-12,
// ajv-formats in "full" mode, both pinned in package.json), and kaiwu must have called it
// "satisfied" with finish "stop". An incomplete or invalid sample is a failure, never a skip.
// Then kaiwu's own validator (the mutants' "kaiwu" verdicts) is compared with ajv on altered
// replies, which are mostly invalid.
//   node schema_check.mjs SAMPLES.jsonl EXPECTED_PER_SCHEMA
// Prints one line per schema, "FAIL ..." lines (at most 20 per kind), and "N passed, N failed"
// (one check per sample, one per schema's count, one per mutant).
import fs from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const [file, expectArg] = process.argv.slice(2);
if (!file || !expectArg) {
    console.error('usage: node schema_check.mjs SAMPLES.jsonl EXPECTED_PER_SCHEMA');
    process.exit(2);
}
const expected = Number(expectArg);
const ajv = new Ajv2020({ strict: false, allErrors: false });
addFormats(ajv);

let passed = 0, failed = 0;
const shown = {};
function fail(kind, msg) {
    failed++;
    shown[kind] = (shown[kind] || 0) + 1;
    if (shown[kind] <= 20) console.log(`FAIL ${kind}: ${msg}`);
}

const validators = new Map();
function validatorFor(path) {
    if (!validators.has(path)) {
        const schema = JSON.parse(fs.readFileSync(path, 'utf8'));
        validators.set(path, ajv.compile(schema));
    }
    return validators.get(path);
}

const perSchema = new Map();
let mutantsAgree = 0, mutantsInvalid = 0;
const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0);
for (const line of lines) {
    const s = JSON.parse(line);
    const stat = perSchema.get(s.schema) || { n: 0, ok: 0, tokens: 0 };
    perSchema.set(s.schema, stat);
    stat.n++;
    stat.tokens += s.tokens;
    const validate = validatorFor(s.schema);
    const where = `${s.schema} seed ${s.seed}`;
    let value, parsed = false;
    if (typeof s.text === 'string') {
        try {
            value = JSON.parse(s.text);
            parsed = true;
        } catch (e) {
            /* reported below */
        }
    }
    const valid = parsed && validate(value);
    if (valid && s.constraint === 'satisfied' && s.finish === 'stop') {
        passed++;
        stat.ok++;
    } else if (!valid && s.constraint === 'satisfied') {
        fail('ajv-rejects', `${where}: kaiwu says satisfied, ajv says ${parsed ? ajv.errorsText(validate.errors) : 'not JSON'}: ${JSON.stringify(s.text)}`);
    } else if (valid) {
        fail('verdict', `${where}: ajv accepts, kaiwu says ${s.constraint} (${s.why}), finish ${s.finish}: ${JSON.stringify(s.text)}`);
    } else {
        fail('sample', `${where}: ${s.constraint} (${s.why}), finish ${s.finish}, ${s.tokens} tokens: ${JSON.stringify(s.text)}`);
    }
    for (const m of s.mutants || []) {
        const mv = validate(JSON.parse(m.text)) ? 'valid' : 'invalid';
        if (mv === 'invalid') mutantsInvalid++;
        if (mv === m.kaiwu) {
            passed++;
            mutantsAgree++;
        } else {
            fail('validators-disagree', `${where}: ${m.text}: kaiwu ${m.kaiwu}, ajv ${mv}${mv === 'invalid' ? ' (' + ajv.errorsText(validate.errors) + ')' : ''}`);
        }
    }
}
for (const [path, st] of perSchema) {
    console.log(`${path}: ${st.ok}/${st.n} valid under ajv, ${(st.tokens / Math.max(st.n, 1)).toFixed(1)} tokens per sample`);
    if (st.n === expected) passed++;
    else fail('count', `${path}: ${st.n} samples, expected ${expected}`);
}
if (perSchema.size === 0) fail('count', `${file} holds no samples`);
console.log(`validators agree on ${mutantsAgree} mutants (${mutantsInvalid} of them invalid under ajv)`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
