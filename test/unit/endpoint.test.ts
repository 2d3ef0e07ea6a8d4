/** Each side resolved once at the edge: what the user gave, what the runner dials, a label without credentials. */
import { describe, expect, it } from 'vitest';
import { describeEndpoint, directEndpoint, directEndpoints, forwardedEndpoint } from '../../src/hosts/endpoint.js';

describe('Endpoint', () => {
  it('a direct side dials the URL as given and is labelled without credentials', () => {
    const e = directEndpoint('source', new URL('postgres://app:s3cret@db1.example/app'));
    expect(e.connectUrl.href).toBe(e.given.href);
    expect(e.input).toBe('source-url');
    expect(e.reach).toEqual({ kind: 'direct' });
    expect(e.label).toBe('the source (db1.example:5432)');
    expect(describeEndpoint(e)).toBe('the source (source-url, db1.example:5432)');
    expect(JSON.stringify(e.label + describeEndpoint(e))).not.toMatch(/s3cret|app@/);
  });

  it('a side behind an SSH forward keeps the given URL for servers and dials the local end', () => {
    const direct = directEndpoint('source', new URL('mysql://root:pw@10.0.0.5:3307/db'));
    const f = forwardedEndpoint(direct, 40123, 'bastion:22');
    expect(f.given.href).toBe('mysql://root:pw@10.0.0.5:3307/db');
    expect(f.connectUrl.href).toBe('mysql://root:pw@127.0.0.1:40123/db');
    expect(f.reach).toEqual({ kind: 'ssh-forward', via: 'bastion:22' });
    expect(f.label).toBe('the source (10.0.0.5:3307)');
    expect(describeEndpoint(f)).toBe('the source (source-url, 10.0.0.5:3307 through the SSH connection to bastion:22)');
    // The direct endpoint it came from is not changed.
    expect(direct.connectUrl.port).toBe('3307');
  });

  it('a step without source-url has only a target', () => {
    const both = directEndpoints({ targetUrl: new URL('mariadb://u@[::1]:3306/') });
    expect(both.source).toBeUndefined();
    expect(both.target.label).toBe('the target ([::1]:3306)');
    expect(both.target.input).toBe('target-url');
  });
});
