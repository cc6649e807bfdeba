export * from './close-codes.js';
export * from './codec.js';
export * from './frames.js';
export * from './handshake.js';
export * from './ids.js';
export * from './names.js';
