export * from './postgres.js';
export * from './cleanup.js';
export * from './mariadb.js';
export * from './sshd.js';
export * from './tls.js';
