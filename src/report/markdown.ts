/** Small Markdown builders for job summaries and reports. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const esc = (v: string | number) => String(v).replace(/\|/g, '\\|').replace(/\n/g, ' ');
  return (
    [`| ${headers.map(esc).join(' | ')} |`, `| ${headers.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n') +
    '\n'
  );
}

export function heading(text: string, level = 3): string {
  return `${'#'.repeat(level)} ${text}\n\n`;
}
