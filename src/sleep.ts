/** A pause in a polling loop. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
