import { rows, type MyConn } from './connect.js';

/** The privileges the connection's own account holds (information_schema shows one's own). */
export async function ownPrivileges(c: MyConn): Promise<Set<string>> {
  const r = await rows<{ p: string }>(
    c,
    "SELECT PRIVILEGE_TYPE AS p FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')",
  );
  return new Set(r.map((x) => x.p.toUpperCase()));
}
