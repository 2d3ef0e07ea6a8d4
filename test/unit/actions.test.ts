/** Every action.yml matches the one input definition: nothing missing, misnamed, undocumented or stale. */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { generateActions, generateReference, envName } from '../../scripts/gen-actions.js';
import { INPUTS, OUTPUTS, STEPS, inputsFor, outputsFor } from '../../src/inputs.js';

interface ActionYml {
  name: string;
  description: string;
  inputs: Record<string, { description?: string; required?: boolean; default?: string }>;
  outputs: Record<string, { description?: string; value?: string }>;
  runs: { using: string; main?: string; steps?: { id?: string; shell?: string; env?: Record<string, string>; run?: string }[] };
}

const read = (path: string) => parse(readFileSync(path, 'utf8')) as ActionYml;

describe('action metadata', () => {
  it('is exactly what the generator makes from src/inputs.ts (run `npm run gen` after changing inputs)', () => {
    for (const [path, text] of Object.entries(generateActions())) expect(readFileSync(path, 'utf8'), path).toBe(text);
  });

  for (const step of STEPS) {
    it(`actions/${step}/action.yml declares, documents and passes on every input and output of ${step}`, () => {
      const a = read(`actions/${step}/action.yml`);
      const expected = inputsFor(step)
        .map((d) => d.name)
        .sort();
      expect(Object.keys(a.inputs).sort()).toEqual(expected);
      for (const d of inputsFor(step)) {
        const i = a.inputs[d.name];
        expect(i.description, d.name).toBeTruthy();
        expect(i.required ?? false, `${d.name} required`).toBe(Boolean(d.requiredFor?.includes(step)));
        expect(i.default ?? '', `${d.name} default`).toBe(d.actionDefault ?? d.default ?? '');
      }
      expect(a.runs.using).toBe('composite');
      const run = a.runs.steps!.find((s) => s.id === 'run')!;
      expect(run.shell).toBe('bash');
      expect(run.env!.INPUT_STEP).toBe(step);
      for (const d of inputsFor(step)) expect(run.env![envName(d.name)], d.name).toBe(`\${{ inputs.${d.name} }}`);
      expect(Object.keys(run.env!).length).toBe(inputsFor(step).length + 1);
      expect(Object.keys(a.outputs).sort()).toEqual(
        outputsFor(step)
          .map((o) => o.name)
          .sort(),
      );
      for (const o of outputsFor(step)) {
        expect(a.outputs[o.name].description, o.name).toBeTruthy();
        expect(a.outputs[o.name].value).toBe(`\${{ steps.run.outputs.${o.name} }}`);
      }
      expect(run.run).toContain('$GITHUB_ACTION_PATH/../../dist/index.js');
    });
  }

  it('the root action runs the bundle with a step input and every input and output', () => {
    const a = read('action.yml');
    expect(a.runs).toEqual({ using: 'node24', main: 'dist/index.js' });
    expect(a.inputs.step.required).toBe(true);
    expect(Object.keys(a.inputs).sort()).toEqual(['step', ...INPUTS.map((i) => i.name)].sort());
    expect(Object.keys(a.outputs).sort()).toEqual([...new Set(OUTPUTS.map((o) => o.name))].sort());
    for (const i of Object.values(a.inputs)) expect(i.description).toBeTruthy();
  });

  it('the reference under docs/reference/ is the generated one (run `npm run gen` after changing inputs)', () => {
    const pages = generateReference();
    for (const [path, text] of Object.entries(pages)) expect(readFileSync(path, 'utf8'), path).toBe(text);
    for (const step of STEPS) {
      const page = pages[`docs/reference/${step}.md`];
      for (const d of inputsFor(step)) expect(page, `${step}: ${d.name}`).toContain(`| \`${d.name}\` |`);
      for (const o of outputsFor(step)) expect(page, `${step}: ${o.name}`).toContain(`| \`${o.name}\` |`);
    }
  });

  it('no page under docs/reference/ is left over from a step or file the generator no longer makes', () => {
    const made = Object.keys(generateReference());
    for (const f of readdirSync('docs/reference')) expect(made, f).toContain(`docs/reference/${f}`);
  });

  it('maps input names the way @actions/core reads them', () => {
    expect(envName('source-url')).toBe('INPUT_SOURCE-URL');
  });
});
