// Tributary's programmatic API.
export { ActorSystem, type ActorSpec, type ActorStats, type ActorSystemOptions } from './actors/system.js';
export { defineBehaviour, transferred, type ActorContext, type ActorRef, type Behaviour, type BehaviourRef } from './actors/behaviour.js';
export type { RuntimeEvent, RuntimeListener } from './actors/events.js';
export { Supervisor, type SupervisorSpec, type Supervisable } from './supervisor/supervisor.js';
export type { Strategy } from './supervisor/strategy.js';
export type { Intensity } from './supervisor/intensity.js';
export type { BackoffPolicy } from './supervisor/backoff.js';
export { SimulatedClock, systemClock, type Clock } from './supervisor/clock.js';
export { BatchBuilder, BatchReader, encodeBatch, type BatchBuilderOptions } from './batch/index.js';
export { Frame, FrameKind, RingReader, RingWriter, Inbox, createRing, type RingHandle } from './mailbox/index.js';
export { Level, LEVEL_NAMES, levelName, parseLevel, tryParseLevel } from './model/level.js';
export type { LogEntry, IdentifiedEntry } from './model/entry.js';
export { newSourceId } from './model/source.js';
export { TributaryError, isTributaryError, type ErrorCode, type SerializedError } from './errors.js';
export { Daemon, type DaemonOptions } from './daemon/daemon.js';
export { Collector, type CollectorOptions, type CollectorStats, type CollectorSourceAccount } from './collector/collector.js';
export { TributaryClient, type ClientOptions, type ClientEntry, type ClientStats } from './client/client.js';
export { Fleet, FleetFileWriter, type FleetOptions, type FleetFileOptions } from './producers/fleet.js';
