export * from './postgres.js';
export * from './cleanup.js';
export * from './mariadb.js';
export * from './sshd.js';
export * from './mysql.js';
export * from './wan.js';
export * from './tls.js';
