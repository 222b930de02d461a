/** The outbox's entry types, shared by the segment-log store (outbox.ts) and the previous file-per-event store. */
export type OutboxKind = 'reject' | 'verdict' | 'state';

/** Decisions a PLC acts on: evicted for size only after every other kind, and logged as errors when dropped. */
export function isDecision(kind: OutboxKind): boolean {
  return kind === 'reject' || kind === 'verdict';
}

/** The message body, published as its JSON. */
export type OutboxPayload = Readonly<Record<string, unknown>>;

export interface OutboxAppend {
  /** Idempotency key (a reject's `key`); named in drop logs. */
  key?: string;
  kind: OutboxKind;
  topic: string;
  /** Acknowledged QoS: the entry is removed only once the broker has it. */
  qos: 1 | 2;
  retain: boolean;
  /** Taken as is (not copied): the caller builds it for the outbox and does not change it afterwards. */
  payload: OutboxPayload;
  /** Wall-clock ms when the event happened (a reject: frame capture): age bound and delivery delay. */
  captureWall: number;
  /** Wall-clock ms after which a delivery is late: published marked expired (never dropped for it). */
  expiresWall?: number;
}

export interface OutboxEntry extends Readonly<OutboxAppend> {
  /** File stem: the zero-padded sequence. */
  readonly id: string;
  readonly seq: number;
  /** Size counted against maxBytes: the entry's file. */
  readonly bytes: number;
}

export type DropReason = 'age' | 'size';

/** The stored fields of an append, without undefined optionals (so a file and its entry carry the same keys). */
export function fields(input: OutboxAppend): OutboxAppend {
  return {
    ...(input.key !== undefined ? { key: input.key } : {}),
    kind: input.kind,
    topic: input.topic,
    qos: input.qos,
    retain: input.retain,
    payload: input.payload,
    captureWall: input.captureWall,
    ...(input.expiresWall !== undefined ? { expiresWall: input.expiresWall } : {}),
  };
}

export function isPayload(v: unknown): v is OutboxPayload {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export const isKind = (v: unknown): v is OutboxKind => v === 'reject' || v === 'verdict' || v === 'state';

/** The event fields of a stored object, checked (throws on a missing or mistyped field). */
export function parseFields(raw: Record<string, unknown>): OutboxAppend {
  if (
    (raw.key !== undefined && typeof raw.key !== 'string') ||
    !isKind(raw.kind) ||
    typeof raw.topic !== 'string' ||
    (raw.qos !== 1 && raw.qos !== 2) ||
    typeof raw.retain !== 'boolean' ||
    !isPayload(raw.payload) ||
    typeof raw.captureWall !== 'number' ||
    (raw.expiresWall !== undefined && typeof raw.expiresWall !== 'number')
  ) {
    throw new Error('entry fields missing or of the wrong type');
  }
  return {
    ...(typeof raw.key === 'string' ? { key: raw.key } : {}),
    kind: raw.kind,
    topic: raw.topic,
    qos: raw.qos,
    retain: raw.retain,
    payload: raw.payload,
    captureWall: raw.captureWall,
    ...(typeof raw.expiresWall === 'number' ? { expiresWall: raw.expiresWall } : {}),
  };
}
