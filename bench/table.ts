/** Prints bench/results.json as the Markdown table docs/performance.md shows; "servers" is the durability each figure was measured with. */
import { readFileSync } from 'node:fs';

const r = JSON.parse(readFileSync('bench/results.json', 'utf8'));
console.log(
  `Measured ${r.at.slice(0, 10)} on ${r.machine.cpus} CPUs, ${(r.machine.memoryBytes / 1024 ** 3).toFixed(0)} GB RAM, Node ${r.machine.node}; ${r.settings.trials} cutovers per row, seed ${r.settings.seedMb} MB, dump ${r.settings.bigMb} MB; ${Math.round(r.seconds)} s in all.\n`,
);
console.log('| figure | value | target | met | servers | detail |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const f of r.figures) {
  console.log(
    `| ${f.section}: ${f.name} | ${f.value} ${f.unit} | ${f.target ?? ''} | ${f.target ? (f.met ? 'yes' : '**no**') : ''} | ${(f.durability ?? '').replace(/ \(.*/, '')} | ${(f.detail ?? '').replace(/\|/g, '/')} |`,
  );
}
