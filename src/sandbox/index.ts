export * from './postgres.js';
export * from './cleanup.js';
