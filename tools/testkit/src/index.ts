/**
 * @chat/testkit: the parts every test suite of this repository shares, and nothing of the
 * product. Each module owns one thing:
 * - protocol-client: a bare, validating protocol client and the dev-token fetch;
 * - net: free ports, HTTP/Redis probes, `until` polling;
 * - children: every child process and temp dir started here, released on any exit and
 *   reaped after a SIGKILL of the parent;
 * - redis / redis-sentinel / redis-resp: private redis-server and Sentinel processes and a
 *   one-shot RESP client for probing them.
 */
export { DIR_PREFIX, reapOrphans, releaseDir, trackChild, trackDir, writeOwners } from './children.js';
export { delay, freePort, httpStatus, until } from './net.js';
export { type Closed, clientMsgId, closeAll, fetchToken, ProtocolClient } from './protocol-client.js';
export { type RedisOptions, RedisServer, type RedisState, redisAnswers } from './redis.js';
export { type ClusterNode, type ClusterSetOptions, RedisClusterSet } from './redis-cluster.js';
export { type RespValue, respCommand, respPairs } from './redis-resp.js';
export { RedisSentinelSet, type SentinelSetOptions } from './redis-sentinel.js';
export { TestRedis } from './test-redis.js';
